//! The flag groups several subcommands share: the lake, the engine, the
//! metrics, the output format.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use dfstore_core::{LakeUrl, S3Settings};

use crate::cli::args::parse_lake;
use crate::engine::cluster::Scheduler;
use crate::engine::{self, EngineConfig};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::nightly::metrics::Sinks;

/// Where the lake is.
#[derive(Debug, Args)]
pub struct LakeArgs {
    /// The lake: a folder, file:///path or s3://bucket/prefix [default: ./lake].
    #[arg(long, value_name = "URL", env = "DFSTORE_LAKE", default_value = "./lake", value_parser = parse_lake, hide_default_value = true)]
    pub lake: LakeUrl,
    /// S3 server-side encryption sent on every write: AES256 (SSE-S3) or aws:kms (SSE-KMS) [default: none].
    #[arg(long, value_name = "MODE", env = "DFSTORE_S3_SSE", value_parser = ["AES256", "aws:kms"])]
    pub s3_sse: Option<String>,
    /// KMS key id for --s3-sse aws:kms [default: the bucket's key].
    #[arg(long, value_name = "KEY_ID", env = "DFSTORE_S3_SSE_KMS_KEY_ID")]
    pub s3_sse_kms_key_id: Option<String>,
}

impl LakeArgs {
    /// Opens the lake.
    pub fn open(&self) -> Result<Lake> {
        let s3 = S3Settings {
            sse: self.s3_sse.clone(),
            sse_kms_key_id: self.s3_sse_kms_key_id.clone(),
        };
        Lake::open(self.lake.clone(), &s3)
    }
}

/// Engine settings.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Memory the engine may use before spilling to disk, e.g. 512MiB, 2GiB (KiB, MiB, GiB: powers of 1024; KB, MB, GB: of 1000) [default: 1GiB].
    #[arg(long, value_name = "SIZE", env = "DFSTORE_MEMORY_LIMIT", value_parser = engine::parse_memory)]
    pub memory_limit: Option<u64>,
    /// Partitions per plan (parallelism); on a cluster, the fewest a plan gets [default: the number of cores].
    #[arg(long, value_name = "N", env = "DFSTORE_TARGET_PARTITIONS", value_parser = clap::value_parser!(u16).range(1..))]
    pub target_partitions: Option<u16>,
    /// On a cluster: a plan that shuffles (joins, aggregates) gets a partition for every SIZE of files it reads, e.g. 32MiB, 128MiB [default: 64MiB].
    #[arg(long, value_name = "SIZE", env = "DFSTORE_PARTITION_SIZE", value_parser = engine::parse_memory)]
    pub partition_size: Option<u64>,
    /// Run on a dfstore cluster instead of in-process: the scheduler's address, df://HOST:PORT [default: the embedded engine].
    #[arg(long, value_name = "URL", env = "DFSTORE_SCHEDULER")]
    pub scheduler: Option<Scheduler>,
    /// On a cluster: the longest one job (a model's build, a write, a query) may run before it is cancelled and the command fails, e.g. 10m, 2h; 0 for no limit [default: 30m].
    #[arg(long, value_name = "DURATION", env = "DFSTORE_JOB_TIMEOUT", value_parser = parse_duration)]
    pub job_timeout: Option<Duration>,
}

impl From<&EngineArgs> for EngineConfig {
    fn from(args: &EngineArgs) -> Self {
        let mut config = EngineConfig::default();
        if let Some(m) = args.memory_limit {
            config.memory_limit = m;
        }
        if let Some(p) = args.target_partitions {
            config.target_partitions = usize::from(p);
        }
        if let Some(bytes) = args.partition_size {
            config.partition_bytes = bytes;
        }
        config.scheduler = args.scheduler.clone();
        if let Some(limit) = args.job_timeout {
            config.job_timeout = (!limit.is_zero()).then_some(limit);
        }
        config
    }
}

/// Parses a duration such as `500ms`, `30s`, `1h30m` or `0`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    crate::ingest::extraction::parse_overlap(text)?
        .to_std()
        .map_err(|_| format!("`{text}` is not a duration; use e.g. 30s, 5m or 0"))
}

/// Where a command's metrics go.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Write the metrics (Prometheus text: rows, rejections per rule, seconds, reconciliation, warehouse rows) to this file, e.g. for node_exporter's textfile collector [default: none; nightly keeps logs/nightly/ID.prom in the lake].
    #[arg(long, value_name = "PATH", env = "DFSTORE_METRICS_FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Also put the metrics into this CloudWatch namespace (PutMetricData, on the AWS credential chain; dimensions Lake, Table, Rule, Step), e.g. dfstore, which the template's alarms read [default: none].
    #[arg(long, value_name = "NAMESPACE", env = "DFSTORE_CLOUDWATCH_NAMESPACE")]
    pub cloudwatch_namespace: Option<String>,
}

impl MetricsArgs {
    /// The sinks these flags ask for; CloudWatch needs the `aws` feature.
    pub fn sinks(&self) -> Result<Sinks> {
        if self.cloudwatch_namespace.is_some() {
            Error::require_feature(cfg!(feature = "aws"), "--cloudwatch-namespace", "aws")?;
        }
        Ok(Sinks {
            file: self.metrics_file.clone(),
            cloudwatch: self.cloudwatch_namespace.clone(),
        })
    }
}

/// How a command prints what it did or found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Aligned text, for people.
    #[default]
    Text,
    /// One JSON document, for programs (printed even with --quiet).
    Json,
}

/// `--format`.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// How to print the result.
    #[arg(long, value_enum, value_name = "FORMAT", env = "DFSTORE_FORMAT", default_value_t = Format::Text)]
    pub format: Format,
}

/// `dfstore tables` and `dfstore runs`.
#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// The output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// A share between 0 and 1.
pub(crate) fn parse_share(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is no share: give a number from 0 to 1, e.g. 0.5"
        )),
    }
}
