//! dfstore's pipeline library: the DMC Retail lake (raw → trusted → analytic)
//! run as SQL plans on DataFusion, embedded or on a Ballista cluster.

/// The lake catalog: crawls of every table and what changed between them.
pub mod catalog;
/// The content checksum of extracted rows, on both sides.
pub mod checksum;
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
/// `dfstore ingest`: PostgreSQL into raw, verified.
pub mod ingest;
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
/// Parquet files partitioned by a column, written by the embedded engine.
pub mod partitioned;
/// Personal-data hashing and its key.
pub mod pii;
/// `dfstore run`: the pipeline.
pub mod pipeline;
/// The source PostgreSQL: URL, password, connection.
pub mod postgres;
/// TLS to the source PostgreSQL (`sslmode`, `sslrootcert`).
pub mod postgres_tls;
/// `dfstore sql`: queries over the lake.
pub mod query;
/// The raw layer: extractions and their manifests.
pub mod raw;
/// Reading one Delta table version through its file list.
pub mod snapshot;
/// The source model: tables, keys, Arrow types.
pub mod source;
/// Source columns, their Arrow types and value conversions.
pub mod source_columns;
/// The demo's source database: `source init`, `source apply-changes`.
pub mod source_db;
/// The human summary of a run.
pub mod summary;
/// Registering lake tables in a session.
pub mod tables;

pub use error::{Error, Result};
