//! The lake catalog (the AWS Glue crawler's job for this lake): every table
//! of every layer with its schema, partitions, rows, files and last change,
//! recorded by `dfstore catalog crawl` under `_catalog/crawls/` and compared
//! with the previous crawl; `dfstore catalog show` prints the newest crawl.

/// Reading the lake's tables and recording a crawl.
pub mod crawler;
/// What changed between two crawls.
pub mod diff;
/// The crawl document and where crawls are kept.
pub mod document;
/// Registering the published tables in the AWS Glue Data Catalog.
#[cfg(feature = "aws")]
pub mod glue;

pub use crawler::crawl;
pub use document::{CatalogTable, Crawl, latest};
