//! What every dfstore binary shares: the CLI (`dfstore`), `dfstore-scheduler`
//! and `dfstore-executor` must all resolve a lake URL to the same object store
//! and log the same way, so that a plan built by the client reads and writes
//! the same bytes on every node. This crate holds exactly that and nothing
//! more, so the scheduler and executor do not depend on the pipeline library.

/// Where a lake lives (`file://`, a local folder, or `s3://`) and its object store.
pub mod lake_url;
/// Tracing set-up shared by every binary.
pub mod logging;

pub use lake_url::{LakeUrl, LakeUrlError, S3Settings};
