//! `dfstore emr`: its flags and what it prints.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::cli::args::parse_duration;
#[cfg(feature = "aws")]
use crate::cli::render::{print, say};
#[cfg(feature = "aws")]
use crate::emr::spec::ClusterSpec;
use crate::emr::spec::SpecFlags;
#[cfg(feature = "aws")]
use crate::emr::{self, Submitted};
use crate::error::{Error, Result};

/// `dfstore emr …`.
#[derive(Debug, Subcommand)]
pub enum EmrCommand {
    /// Create a cluster: the bootstrap installs dfstore and starts the scheduler on the primary and executors on the other nodes; prints the cluster id and the df:// address.
    Up(Box<UpArgs>),
    /// Run a dfstore command on the cluster's primary as an EMR step, against its scheduler, and follow it to its end: `dfstore emr submit --cluster j-… -- run --lake s3://…`.
    Submit(SubmitArgs),
    /// The cluster's state, address and steps.
    Status(ClusterArgs),
    /// Terminate the cluster.
    Down(ClusterArgs),
}

/// Which cluster.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The cluster id, j-… [default: $DFSTORE_EMR_CLUSTER].
    #[arg(long, value_name = "ID", env = "DFSTORE_EMR_CLUSTER")]
    pub cluster: String,
}

/// `dfstore emr up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// A TOML file of the settings below (kebab-case keys, e.g. core-count = 4); flags override it [default: none].
    #[arg(long, value_name = "PATH", env = "DFSTORE_EMR_CONFIG")]
    pub config: Option<PathBuf>,
    /// The cluster's settings.
    #[command(flatten)]
    pub spec: SpecFlags,
    /// How long to wait for the cluster to be ready, e.g. 20m; 0 returns at once [default: 30m].
    #[arg(long, value_name = "DURATION", default_value = "30m", hide_default_value = true, value_parser = parse_duration)]
    pub wait: Duration,
}

/// `dfstore emr submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Which cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// How long to follow the step, e.g. 2h; 0 returns once it is added [default: 6h].
    #[arg(long, value_name = "DURATION", default_value = "6h", hide_default_value = true, value_parser = parse_duration)]
    pub wait: Duration,
    /// The dfstore command to run, after `--`.
    #[arg(last = true, required = true, value_name = "DFSTORE_ARGS")]
    pub args: Vec<String>,
}

/// Runs `dfstore emr …`: an error naming the feature in a build without `aws`.
#[cfg(not(feature = "aws"))]
#[allow(clippy::unused_async)]
pub async fn run(_command: EmrCommand) -> Result<()> {
    Err(Error::not_built("dfstore emr", "aws"))
}

/// Runs `dfstore emr …`.
#[cfg(feature = "aws")]
pub async fn run(command: EmrCommand) -> Result<()> {
    match command {
        EmrCommand::Up(args) => up(*args).await,
        EmrCommand::Submit(args) => submit(args).await,
        EmrCommand::Status(args) => status(&args.cluster).await,
        EmrCommand::Down(args) => {
            let state = emr::down(&args.cluster).await?;
            say(&format!("cluster {} is {state}\n", args.cluster));
            Ok(())
        }
    }
}

#[cfg(feature = "aws")]
async fn up(args: UpArgs) -> Result<()> {
    let file = match &args.config {
        Some(path) => SpecFlags::from_file(path)?,
        None => SpecFlags::default(),
    };
    let spec = ClusterSpec::try_from(file.overridden_by(args.spec))?;
    let wait = (!args.wait.is_zero()).then_some(args.wait);
    let started = emr::up(&spec, wait).await?;
    // Printed whatever --quiet says: scripts read the id from it.
    print(&format!("{}\n", started.cluster_id))?;
    say(&format!(
        "cluster {} ({}) is {}: {} × {} core node(s) on {}, logs in {}\n",
        started.cluster_id,
        spec.name,
        started.state,
        spec.core_count,
        spec.core_type,
        spec.release,
        spec.log_uri
    ));
    if let Some(scheduler) = &started.scheduler {
        say(&format!("scheduler {scheduler} (from inside the VPC)\n"));
    }
    say(&format!(
        "next: dfstore emr submit --cluster {} -- run --lake s3://…\n",
        started.cluster_id
    ));
    Ok(())
}

#[cfg(feature = "aws")]
async fn submit(args: SubmitArgs) -> Result<()> {
    let follow = (!args.wait.is_zero()).then_some(args.wait);
    let cluster = args.cluster.cluster.clone();
    let step = emr::submit(&cluster, &args.args, follow, |state| {
        say(&format!("step {state}\n"));
    })
    .await?;
    print(&format!("{}\n", step.step_id))?;
    if let Some(logs) = &step.logs {
        say(&format!("logs: {logs}\n"));
    }
    outcome(&cluster, &step, follow)
}

#[cfg(feature = "aws")]
/// The exit of `submit`: success only for a completed step (or one added
/// without following it).
fn outcome(cluster: &str, step: &Submitted, follow: Option<Duration>) -> Result<()> {
    match follow {
        None => Ok(()),
        Some(_) if step.succeeded() => Ok(()),
        Some(limit) => {
            let ended = ["FAILED", "CANCELLED", "INTERRUPTED"].contains(&step.state.as_str());
            Err(Error::Aws {
                service: "EMR".into(),
                what: format!("step {} on cluster {cluster}", step.step_id),
                reason: if ended {
                    format!(
                        "{}{}",
                        step.state,
                        step.failure
                            .as_ref()
                            .map(|f| format!(": {f}"))
                            .unwrap_or_default()
                    )
                } else {
                    format!("still {} after {}s", step.state, limit.as_secs())
                },
                fix: format!(
                    "read its stderr under {}; `dfstore emr status --cluster {cluster}` follows it",
                    step.logs.as_deref().unwrap_or("the cluster's log URI")
                ),
            })
        }
    }
}

#[cfg(feature = "aws")]
async fn status(cluster: &str) -> Result<()> {
    let view = emr::status(cluster).await?;
    let mut text = format!("cluster {} ({}) is {}", view.id, view.name, view.state);
    if let Some(reason) = &view.reason {
        text.push_str(&format!(": {reason}"));
    }
    text.push('\n');
    if let Some(scheduler) = view.scheduler() {
        text.push_str(&format!("scheduler {scheduler}\n"));
    }
    if let Some(logs) = &view.log_uri {
        text.push_str(&format!("logs {logs}\n"));
    }
    for (id, name, state) in &view.steps {
        text.push_str(&format!("{id}  {state:<11} {name}\n"));
    }
    print(&text)
}
