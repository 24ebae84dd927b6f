//! Support shared by the integration tests of `dfstore-jobs`.

/// Running the `dfstore` binary in a temporary lake.
pub mod cli;
/// A real scheduler and executors on loopback ports.
pub mod cluster;
/// Independent re-implementation of the spec's rules: what the pipeline must produce.
pub mod oracle;
/// A database of one test on the PostgreSQL that deploy/local/test.sh starts.
pub mod postgres;
/// Hand-made raw lakes: typed rows written as published extractions.
pub mod rawlake;
/// moto's S3 server on loopback.
pub mod s3;
/// `dfstore serve` and its clients.
pub mod serve;
