//! A cluster's make-up: dfstore's defaults, then a TOML file
//! (`--config`, e.g. `deploy/aws/emr.toml`), then the flags, each
//! overriding the one before. The defaults are the state machine's: EMR
//! 7.5 on Graviton (m7g), one primary and two core nodes, an hour idle
//! before EMR ends the cluster on its own.

use std::path::Path;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The settings of a cluster, as flags and as the keys of the config file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpecFlags {
    /// The cluster's name [default: dfstore].
    #[arg(long)]
    pub name: Option<String>,
    /// The EMR release [default: emr-7.5.0].
    #[arg(long, value_name = "LABEL")]
    pub release: Option<String>,
    /// The primary node's instance type (it runs the scheduler) [default: m7g.xlarge].
    #[arg(long, value_name = "TYPE")]
    pub primary_type: Option<String>,
    /// The core nodes' instance type (they run the executors) [default: m7g.2xlarge].
    #[arg(long, value_name = "TYPE")]
    pub core_type: Option<String>,
    /// How many core nodes [default: 2].
    #[arg(long, value_name = "N")]
    pub core_count: Option<u16>,
    /// The task nodes' instance type [default: the core type].
    #[arg(long, value_name = "TYPE")]
    pub task_type: Option<String>,
    /// How many task nodes (more executors, no HDFS) [default: 0].
    #[arg(long, value_name = "N")]
    pub task_count: Option<u16>,
    /// Run the task nodes on Spot capacity [default: on demand].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub task_spot: Option<bool>,
    /// The subnet to start in [default: the account's default VPC].
    #[arg(long, value_name = "SUBNET_ID")]
    pub subnet: Option<String>,
    /// EMR's service role [default: EMR_DefaultRole].
    #[arg(long, value_name = "ROLE")]
    pub service_role: Option<String>,
    /// The nodes' instance profile [default: EMR_EC2_DefaultRole].
    #[arg(long, value_name = "PROFILE")]
    pub instance_profile: Option<String>,
    /// Where EMR writes the cluster's logs, s3://… (required).
    #[arg(long, value_name = "S3_URI")]
    pub log_uri: Option<String>,
    /// The S3 prefix `deploy/aws/package.sh` uploaded the binaries to, for the nodes' architecture (required).
    #[arg(long, value_name = "S3_URI")]
    pub binaries: Option<String>,
    /// The bootstrap script [default: bootstrap.sh under --binaries, where package.sh puts it].
    #[arg(long, value_name = "S3_URI")]
    pub bootstrap: Option<String>,
    /// Idle time after which EMR terminates the cluster by itself, e.g. 30m, 2h [default: 1h].
    #[arg(long, value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Secrets Manager secret (ARN) of the personal-data key, which the bootstrap puts on every node for `run` [default: none].
    #[arg(long, value_name = "ARN")]
    pub pii_key_secret: Option<String>,
    /// A tag, KEY=VALUE (repeatable) [default: dfstore=cluster].
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    #[serde(default)]
    pub tags: Vec<String>,
}

impl SpecFlags {
    /// The settings of a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::InvalidArgument {
            flag: "--config".into(),
            reason: format!("{}: {reason}", path.display()),
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        toml::from_str(&text).map_err(|e| bad(e.message().to_string()))
    }

    /// These settings, with `over`'s wherever it has one.
    pub fn overridden_by(self, over: SpecFlags) -> SpecFlags {
        SpecFlags {
            name: over.name.or(self.name),
            release: over.release.or(self.release),
            primary_type: over.primary_type.or(self.primary_type),
            core_type: over.core_type.or(self.core_type),
            core_count: over.core_count.or(self.core_count),
            task_type: over.task_type.or(self.task_type),
            task_count: over.task_count.or(self.task_count),
            task_spot: over.task_spot.or(self.task_spot),
            subnet: over.subnet.or(self.subnet),
            service_role: over.service_role.or(self.service_role),
            instance_profile: over.instance_profile.or(self.instance_profile),
            log_uri: over.log_uri.or(self.log_uri),
            binaries: over.binaries.or(self.binaries),
            bootstrap: over.bootstrap.or(self.bootstrap),
            idle_timeout: over.idle_timeout.or(self.idle_timeout),
            pii_key_secret: over.pii_key_secret.or(self.pii_key_secret),
            tags: if over.tags.is_empty() {
                self.tags
            } else {
                over.tags
            },
        }
    }
}

/// A cluster to create, every setting decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    /// Its name.
    pub name: String,
    /// The EMR release label.
    pub release: String,
    /// The primary's instance type.
    pub primary_type: String,
    /// The core nodes' instance type.
    pub core_type: String,
    /// How many core nodes.
    pub core_count: u16,
    /// The task nodes' instance type.
    pub task_type: String,
    /// How many task nodes.
    pub task_count: u16,
    /// Task nodes on Spot.
    pub task_spot: bool,
    /// The subnet, if not the default VPC's.
    pub subnet: Option<String>,
    /// EMR's service role.
    pub service_role: String,
    /// The nodes' instance profile.
    pub instance_profile: String,
    /// The log URI.
    pub log_uri: String,
    /// The binaries' S3 prefix.
    pub binaries: String,
    /// The bootstrap script's S3 URI.
    pub bootstrap: String,
    /// Idle time before EMR ends the cluster.
    pub idle_timeout: Duration,
    /// The personal-data key's secret.
    pub pii_key_secret: Option<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

fn s3_uri(flag: &str, value: Option<String>) -> Result<String> {
    match value {
        Some(v) if v.starts_with("s3://") && v.len() > 5 => Ok(v.trim_end_matches('/').to_string()),
        Some(v) => Err(Error::InvalidArgument {
            flag: flag.into(),
            reason: format!("{v:?} is not an s3:// URI"),
        }),
        None => Err(Error::InvalidArgument {
            flag: flag.into(),
            reason: "is required (give the flag or set it in the --config file)".into(),
        }),
    }
}

impl TryFrom<SpecFlags> for ClusterSpec {
    type Error = Error;

    fn try_from(flags: SpecFlags) -> Result<Self> {
        let core_type = flags.core_type.unwrap_or_else(|| "m7g.2xlarge".into());
        let binaries = s3_uri("--binaries", flags.binaries)?;
        let bootstrap = match flags.bootstrap {
            Some(b) => s3_uri("--bootstrap", Some(b))?,
            None => format!("{binaries}/bootstrap.sh"),
        };
        let idle = flags.idle_timeout.unwrap_or_else(|| "1h".into());
        let idle_timeout = crate::ingest::extraction::parse_overlap(&idle)
            .ok()
            .and_then(|d| d.to_std().ok())
            .filter(|d| (Duration::from_secs(60)..=Duration::from_secs(7 * 24 * 3600)).contains(d))
            .ok_or_else(|| Error::InvalidArgument {
                flag: "--idle-timeout".into(),
                reason: format!("{idle:?}: give a duration between 1m and 7d, e.g. 30m or 2h"),
            })?;
        let tags = if flags.tags.is_empty() {
            vec![("dfstore".to_string(), "cluster".to_string())]
        } else {
            flags
                .tags
                .iter()
                .map(|t| {
                    t.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .ok_or_else(|| Error::InvalidArgument {
                            flag: "--tag".into(),
                            reason: format!("{t:?}: write KEY=VALUE"),
                        })
                })
                .collect::<Result<_>>()?
        };
        Ok(ClusterSpec {
            name: flags.name.unwrap_or_else(|| "dfstore".into()),
            release: flags.release.unwrap_or_else(|| "emr-7.5.0".into()),
            primary_type: flags.primary_type.unwrap_or_else(|| "m7g.xlarge".into()),
            task_type: flags.task_type.unwrap_or_else(|| core_type.clone()),
            core_type,
            core_count: flags.core_count.unwrap_or(2).max(1),
            task_count: flags.task_count.unwrap_or(0),
            task_spot: flags.task_spot.unwrap_or(false),
            subnet: flags.subnet,
            service_role: flags
                .service_role
                .unwrap_or_else(|| "EMR_DefaultRole".into()),
            instance_profile: flags
                .instance_profile
                .unwrap_or_else(|| "EMR_EC2_DefaultRole".into()),
            log_uri: s3_uri("--log-uri", flags.log_uri)?,
            binaries,
            bootstrap,
            idle_timeout,
            pii_key_secret: flags.pii_key_secret,
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let file: SpecFlags = toml::from_str(
            "core-count = 4\ncore-type = \"r7g.2xlarge\"\nlog-uri = \"s3://logs/emr\"\nbinaries = \"s3://dist/dfstore/0.1.0/aarch64\"\n",
        )
        .unwrap();
        let flags = SpecFlags {
            core_count: Some(3),
            tags: vec!["team=data".into()],
            ..SpecFlags::default()
        };
        let spec = ClusterSpec::try_from(file.overridden_by(flags)).unwrap();
        assert_eq!(spec.core_count, 3);
        assert_eq!(spec.core_type, "r7g.2xlarge");
        assert_eq!(spec.task_type, "r7g.2xlarge");
        assert_eq!(spec.release, "emr-7.5.0");
        assert_eq!(
            spec.bootstrap,
            "s3://dist/dfstore/0.1.0/aarch64/bootstrap.sh"
        );
        assert_eq!(spec.idle_timeout, Duration::from_secs(3600));
        assert_eq!(spec.tags, [("team".to_string(), "data".to_string())]);
    }

    #[test]
    fn missing_or_wrong_locations_name_the_flag() {
        let e = ClusterSpec::try_from(SpecFlags::default()).unwrap_err();
        assert!(e.to_string().contains("--binaries"), "{e}");
        let unknown = toml::from_str::<SpecFlags>("cores = 3\n");
        assert!(unknown.is_err());
    }
}
