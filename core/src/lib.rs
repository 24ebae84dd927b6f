//! What every dfstore binary shares: the CLI (`dfstore`), `dfstore-scheduler`
//! and `dfstore-executor` must all resolve a lake URL to the same object store
//! and log the same way, so that a plan built by the client reads and writes
//! the same bytes on every node. This crate holds exactly that and nothing
//! more, so the scheduler and executor do not depend on the pipeline library:
//! lake URLs and object stores, the `pii_hash` and `count_distinct_offsets`
//! functions every node must evaluate alike, the codec of the plan nodes dfstore adds, logging, and
//! what the scheduler's and executor's flags share. The nodes' own wiring
//! lives in `dfstore-scheduler` and `dfstore-executor`, so that this crate
//! is built with one feature set whichever binary asks for it.

/// Task-attempt commits: only the attempts a job answered are read.
pub mod attempt;
/// The AWS SDK's credential and region chain for S3 lakes.
pub mod aws_chain;
/// The codec of the plan nodes dfstore adds.
pub mod codec;
/// One query's rows written by several writes in the task that computes them.
pub mod feed;
/// `count_distinct_offsets(offset)`, the reconciliation's exact count of
/// distinct integer keys.
pub mod key_count;
/// Where a lake lives (`file://`, a local folder, or `s3://`) and its object store.
pub mod lake_url;
/// Tracing set-up shared by every binary.
pub mod logging;
/// What the scheduler's and the executor's flags share.
pub mod node;
/// Writing each partition where it is computed, and the codec that ships it.
pub mod parallel_sink;
/// The keyed personal-data hash, `pii_hash(text)`.
pub mod pii;
/// Object stores for any lake URL a node meets, built on first use.
pub mod registry;

pub use codec::LakeCodec;
pub use feed::{FedExec, FedTable, FeedExec};
pub use lake_url::{LakeUrl, LakeUrlError, S3Settings};
pub use parallel_sink::ParallelSinkExec;
pub use registry::LakeStoreRegistry;
