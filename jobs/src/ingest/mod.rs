//! `dfstore ingest`: the source PostgreSQL extracted into the raw layer,
//! in full or incrementally, verified before it is published.
//!
//! # Protocol
//!
//! 1. A control connection opens a `REPEATABLE READ, READ ONLY` transaction
//!    and exports its snapshot (`pg_export_snapshot()`); the snapshot's
//!    `now()` (rounded up to the second) names the extraction.
//! 2. Each table is extracted on its own connection that imports that
//!    snapshot, so every table is read as of the same instant, several at
//!    once; a large table is read in ranges of its integer key on as many
//!    connections (up to `--parallel`). Rows stream out with binary
//!    `COPY (SELECT …) TO STDOUT` into Arrow batches and Parquet files
//!    under `raw/<table>/extraido=<id>/`; no table is ever held in memory.
//! 3. On the same snapshot, on one more connection and while the rows
//!    stream, PostgreSQL computes the row count, the content checksum
//!    ([`crate::ingest::checksum`]) and the greatest `actualizado_en` of the
//!    extracted rows; dfstore reads the Parquet files back and computes the
//!    same checksum. Any difference fails the extraction.
//! 4. Only when every table matches is the extraction's manifest written
//!    (which publishes it, see [`crate::lake::raw`]), with per table its rows,
//!    checksum, files and watermark. A failure removes the extraction's
//!    files and publishes nothing.
//!
//! An incremental extraction takes the rows whose `actualizado_en` is later
//! than the table's watermark (the greatest `actualizado_en` of its latest
//! published extraction) minus a safety overlap, which catches rows that
//! committed late with an earlier stamp. Rows the overlap extracts twice
//! are harmless: trusted keeps one version per key. The watermark lives in
//! the manifest, so it advances exactly when an extraction is published.
/// The content checksum of extracted rows, on both sides.
pub mod checksum;
/// One extraction: what to extract, the snapshot, the manifest that publishes it.
pub mod extraction;
/// One table of an extraction: key ranges, binary COPY into Parquet, its checksum.
pub mod table;
/// Reading published extractions back against their manifests.
pub mod verify;

pub use extraction::{
    DEFAULT_CHUNK_ROWS, DEFAULT_OVERLAP, DEFAULT_PARALLEL, IngestOptions, IngestSummary, LoadKind,
    TableIngest, ingest, parse_overlap,
};
pub use verify::{Verified, verify};
