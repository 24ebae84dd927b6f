//! `dfstore emr`: a dfstore cluster on Amazon EMR, from this machine, on the
//! AWS credential chain (and `AWS_ENDPOINT_URL`). `up` creates a cluster
//! whose bootstrap action (`deploy/aws/bootstrap.sh`) installs the binaries
//! and starts the scheduler on the primary and executors on the core and
//! task nodes; `submit` runs a dfstore command on the primary as an EMR
//! step, against that scheduler, and follows it; `status` and `down`.

/// The EMR API calls (the `aws` feature).
#[cfg(feature = "aws")]
mod cluster;
/// What a cluster is made of: defaults, the config file, the flags.
pub mod spec;

#[cfg(feature = "aws")]
pub use cluster::{
    ClusterView, INSTALLED, SCHEDULER_PORT, Started, Submitted, down, status, step_args, submit, up,
};
