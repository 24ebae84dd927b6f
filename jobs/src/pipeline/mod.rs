//! `dfstore run`: a project's SQL models built from raw into trusted,
//! rejected and analytic, tested, reconciled and published.

/// Building a model as several queries: by month, or by ranges of a key.
pub mod batches;
/// Building the models into staging, a few at a time and by month.
pub mod build;
/// Incremental runs: what changed since the last run, and the merges.
pub mod increment;
/// Personal data published only hashed.
pub mod personal;
/// Planning every model without data, and contracts.
pub mod plan;
/// Running data tests.
pub mod quality;
/// Counting what the reconciliation compares.
pub mod reconcile;
/// A run from its checks to its publication and manifest.
pub mod run;

pub use run::{DEFAULT_CONCURRENT_MODELS, RunOptions, STAGING_DIR, run};
