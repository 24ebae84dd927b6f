//! dfstore's pipeline library: the DMC Retail lake (raw → trusted → analytic)
//! run as SQL plans on DataFusion, embedded or on a Ballista cluster.

/// The lake catalog: crawls of every table and what changed between them.
pub mod catalog;
/// The `dfstore` command line.
pub mod cli;
/// Running the same plans on a Ballista cluster.
pub mod cluster;
/// Publishing and reading Delta tables; the commit protocol.
pub mod delta;
/// Schema drift of raw extractions against the reference schema.
pub mod drift;
/// The DataFusion session for a lake.
pub mod engine;
/// The library's error type.
pub mod error;
/// The deterministic data generator (spec section 5).
pub mod generate;
/// `dfstore tables` and `dfstore runs`.
pub mod inventory;
/// A lake root and its object store.
pub mod lake;
/// Layers and table names.
pub mod layer;
/// Run manifests: lineage of published versions.
pub mod manifest;
/// The SQL models under `sql/`.
pub mod model;
/// Personal-data hashing and its key.
pub mod pii;
/// `dfstore run`: the pipeline.
pub mod pipeline;
/// `dfstore sql`: queries over the lake.
pub mod query;
/// The raw layer: extractions and their manifests.
pub mod raw;
/// Reading one Delta table version through its file list.
pub mod snapshot;
/// The source model: tables, keys, Arrow types.
pub mod source;
/// The human summary of a run.
pub mod summary;
/// Registering lake tables in a session.
pub mod tables;

pub use error::{Error, Result};
