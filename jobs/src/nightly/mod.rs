//! `dfstore nightly`: the whole nightly flow on one machine, as the Step
//! Functions state machine runs it on EMR: ingest (incremental, or full the
//! first time) → run → load into the warehouse (when configured), each step
//! retried with backoff when it fails for a passing reason (a refused or
//! dropped connection, throttling, a lost executor) and never when the data
//! is wrong (a broken rule, drift, a changed file), under a lock so that two
//! nightly runs never overlap on one lake, with a notification on failure
//! and on success, and one manifest under `logs/nightly/` linking the step
//! manifests.

/// The metrics put into CloudWatch.
#[cfg(feature = "aws")]
pub mod cloudwatch;
/// The flow and its manifest.
pub mod flow;
/// The lake's lock: one nightly run at a time.
pub mod lock;
/// The night's numbers as a Prometheus text file.
pub mod metrics;
/// Notifications: a webhook, a command.
pub mod notify;
/// Which failures are retried, and how.
pub mod retry;

pub use flow::{NightlyManifest, NightlyOptions, nightly};
