//! The lake's storage: a root and its object store, the raw extractions and
//! their manifests, the Delta tables of the published layers and the
//! snapshots they are read through, the partitioned Parquet writer, schema
//! drift of raw files, and the run manifests kept under `logs/`.

/// Publishing and opening Delta tables; the commit protocol.
pub mod delta;
/// The SHA-256 of raw files, written and checked.
pub mod digest;
/// Schema drift of raw extractions against the reference schema.
pub mod drift;
/// Footers and readers of the lake's Parquet files.
pub mod parquet_file;
/// Parquet files partitioned by a column, written by the embedded engine.
pub mod partitioned;
/// The raw layer: extractions and their manifests.
pub mod raw;
/// Run manifests: lineage of published versions.
pub mod runs;
/// Reading one Delta table version through its file list.
pub mod snapshot;
/// A lake root and its object store.
pub mod store;

pub use store::Lake;
