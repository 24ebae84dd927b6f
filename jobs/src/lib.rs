//! dfstore's pipeline library: the DMC Retail lake (raw → trusted → analytic)
//! run as SQL plans on DataFusion, embedded or on a Ballista cluster.
//!
//! # Layers
//!
//! Each module belongs to one layer, and a module imports only from its own
//! layer or the layers below it, never from one above (the test
//! `tests/layering.rs` reads every `use crate::…` and checks it):
//!
//! | layer | modules | what it knows |
//! |---|---|---|
//! | 6 | [`cli`] | flags, one function per subcommand, what they print |
//! | 5 | [`nightly`] | the nightly flow: ingest → run → load, retried, locked, notified |
//! | 4 | [`ingest`], [`pipeline`], [`catalog`], [`query`], [`warehouse`], [`serve`], [`emr`] | the jobs: extraction, the run, the crawl, ad-hoc SQL, the warehouse load, BI access, EMR clusters |
//! | 3 | [`engine`], [`postgres`], [`generate`] | the DataFusion session (embedded or cluster), PostgreSQL, generated data |
//! | 2 | [`lake`], [`project`] | storage: raw extractions, Delta tables, run manifests; the project's models |
//! | 1 | [`contract`], [`error`] | the spec's names and types, and the error type |
//!
//! Below them all is `dfstore-core`, what the scheduler and the executors
//! share with this library.

// Long tests read as one story; the 80-line limit is for the library.
#![cfg_attr(test, allow(clippy::too_many_lines))]

/// The lake catalog: crawls of every table and what changed between them.
pub mod catalog;
/// The `dfstore` command line.
pub mod cli;
/// The spec's vocabulary: source tables, layers, months, extraction ids.
pub mod contract;
/// `dfstore emr`: dfstore clusters on Amazon EMR.
pub mod emr;
/// The DataFusion session of a lake, embedded or on a cluster.
pub mod engine;
/// The library's error type.
pub mod error;
/// The deterministic data generator (spec section 5).
pub mod generate;
/// `dfstore ingest`: PostgreSQL into raw, verified.
pub mod ingest;
/// The lake's storage: raw extractions, Delta tables, run manifests.
pub mod lake;
/// `dfstore nightly`: ingest → run → load under a lock, retried, notified.
pub mod nightly;
/// `dfstore run`: the pipeline.
pub mod pipeline;
/// PostgreSQL: connections, column types, the demo source database.
pub mod postgres;
/// A project: the SQL models a run builds, found at run time.
pub mod project;
/// `dfstore sql`: queries over the lake.
pub mod query;
/// `dfstore serve`: a PostgreSQL-protocol endpoint and a dashboard.
#[cfg(feature = "serve")]
pub mod serve;

/// `dfstore load`: the report into PostgreSQL or Redshift, reconciled.
pub mod warehouse;

pub use error::{Error, Result};
