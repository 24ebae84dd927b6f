//! The EMR API: create, follow and terminate clusters, add steps.

use std::time::{Duration, Instant};

use aws_sdk_emr::Client;
use aws_sdk_emr::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_emr::types::{
    ActionOnFailure, AutoTerminationPolicy, BootstrapActionConfig, ClusterState,
    HadoopJarStepConfig, InstanceGroupConfig, InstanceRoleType, JobFlowInstancesConfig, MarketType,
    ScriptBootstrapActionConfig, StepConfig, StepState, Tag,
};

use crate::emr::spec::ClusterSpec;
use crate::error::{Error, Result};

/// The scheduler's port on the primary, as the bootstrap starts it.
pub const SCHEDULER_PORT: u16 = 50050;

/// Where dfstore is installed on every node.
pub const INSTALLED: &str = "/usr/local/bin/dfstore";

async fn client() -> Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&config)
}

/// An AWS error as one line: what failed, what AWS said, and the fix for
/// the failures people meet first (roles, subnets, quotas, unknown ids).
fn aws_error<E>(what: String, e: &aws_sdk_emr::error::SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let reason = e
        .as_service_error()
        .and_then(ProvideErrorMetadata::message)
        .map_or_else(|| DisplayErrorContext(e).to_string(), str::to_string);
    let lower = reason.to_lowercase();
    let fix = if lower.contains("role") || lower.contains("instance profile") {
        "create EMR's default roles (`aws emr create-default-roles`) or name yours with \
         --service-role and --instance-profile; deploy/aws/iam/ has least-privilege policies"
    } else if lower.contains("subnet") || lower.contains("vpc") {
        "the account has no default VPC subnet here: pass --subnet subnet-… (a subnet with a \
         route to S3)"
    } else if lower.contains("limit") || lower.contains("quota") || lower.contains("capacity") {
        "a service quota is reached: choose fewer or smaller instances (--core-count, \
         --core-type) or ask AWS for a higher quota"
    } else if lower.contains("not valid")
        || lower.contains("not found")
        || lower.contains("does not exist")
    {
        "check the id with `dfstore emr status` or the EMR console; a terminated cluster \
         cannot take steps"
    } else {
        "check the credentials, the region and the role's permissions (deploy/aws/iam/)"
    };
    Error::Aws {
        service: "EMR".into(),
        what,
        reason,
        fix: fix.into(),
    }
}

/// What `up` made.
#[derive(Debug, Clone)]
pub struct Started {
    /// `j-…`.
    pub cluster_id: String,
    /// The cluster's state when `up` returned.
    pub state: String,
    /// `df://PRIMARY:50050`, once the primary has an address.
    pub scheduler: Option<String>,
}

/// Creates the cluster of `spec`; with `wait`, returns once it is ready
/// (WAITING or RUNNING: bootstrap done, scheduler started) or has failed.
pub async fn up(spec: &ClusterSpec, wait: Option<Duration>) -> Result<Started> {
    let emr = client().await;
    let mut groups = vec![
        group(InstanceRoleType::Master, &spec.primary_type, 1, false),
        group(
            InstanceRoleType::Core,
            &spec.core_type,
            spec.core_count,
            false,
        ),
    ];
    if spec.task_count > 0 {
        groups.push(group(
            InstanceRoleType::Task,
            &spec.task_type,
            spec.task_count,
            spec.task_spot,
        ));
    }
    let instances = JobFlowInstancesConfig::builder()
        .set_instance_groups(Some(groups))
        .set_ec2_subnet_id(spec.subnet.clone())
        .keep_job_flow_alive_when_no_steps(true)
        .build();
    let mut script = ScriptBootstrapActionConfig::builder()
        .path(&spec.bootstrap)
        .args("--binaries")
        .args(&spec.binaries)
        .args("--scheduler-port")
        .args(SCHEDULER_PORT.to_string());
    if let Some(secret) = &spec.pii_key_secret {
        script = script.args("--pii-key-secret").args(secret);
    }
    let bootstrap = BootstrapActionConfig::builder()
        .name("install dfstore")
        .script_bootstrap_action(script.build())
        .build();
    let mut request = emr
        .run_job_flow()
        .name(&spec.name)
        .release_label(&spec.release)
        .log_uri(&spec.log_uri)
        .instances(instances)
        .bootstrap_actions(bootstrap)
        .service_role(&spec.service_role)
        .job_flow_role(&spec.instance_profile)
        .auto_termination_policy(
            AutoTerminationPolicy::builder()
                .idle_timeout(spec.idle_timeout.as_secs() as i64)
                .build(),
        )
        .visible_to_all_users(true);
    for (key, value) in &spec.tags {
        request = request.tags(Tag::builder().key(key).value(value).build());
    }
    let flow = request
        .send()
        .await
        .map_err(|e| aws_error(format!("creating cluster {}", spec.name), &e))?;
    let cluster_id = flow.job_flow_id().unwrap_or_default().to_string();
    tracing::info!(cluster = %cluster_id, "cluster requested");
    match wait {
        None => Ok(Started {
            state: describe(&emr, &cluster_id).await?.state,
            cluster_id,
            scheduler: None,
        }),
        Some(limit) => wait_ready(&emr, &cluster_id, limit).await,
    }
}

fn group(role: InstanceRoleType, kind: &str, count: u16, spot: bool) -> InstanceGroupConfig {
    InstanceGroupConfig::builder()
        .name(format!("dfstore {}", role.as_str().to_lowercase()))
        .instance_role(role)
        .instance_type(kind)
        .instance_count(i32::from(count))
        .market(if spot {
            MarketType::Spot
        } else {
            MarketType::OnDemand
        })
        .build()
}

/// A cluster as `status` shows it.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// `j-…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// STARTING, BOOTSTRAPPING, RUNNING, WAITING, TERMINATING, TERMINATED…
    pub state: String,
    /// Why it is in that state, when EMR says.
    pub reason: Option<String>,
    /// The primary's DNS name, once it has one.
    pub primary: Option<String>,
    /// The log URI.
    pub log_uri: Option<String>,
    /// Steps, newest first: (id, name, state).
    pub steps: Vec<(String, String, String)>,
}

impl ClusterView {
    /// `df://PRIMARY:50050`.
    pub fn scheduler(&self) -> Option<String> {
        self.primary
            .as_ref()
            .map(|p| format!("df://{p}:{SCHEDULER_PORT}"))
    }
}

async fn describe(emr: &Client, cluster_id: &str) -> Result<ClusterView> {
    let described = emr
        .describe_cluster()
        .cluster_id(cluster_id)
        .send()
        .await
        .map_err(|e| aws_error(format!("describing cluster {cluster_id}"), &e))?;
    let cluster = described.cluster().ok_or_else(|| Error::Aws {
        service: "EMR".into(),
        what: format!("describing cluster {cluster_id}"),
        reason: "no cluster in the answer".into(),
        fix: "check the id with the EMR console".into(),
    })?;
    let status = cluster.status();
    Ok(ClusterView {
        id: cluster_id.to_string(),
        name: cluster.name().unwrap_or_default().to_string(),
        state: status
            .and_then(|s| s.state())
            .map_or_else(|| "UNKNOWN".into(), |s| s.as_str().to_string()),
        reason: status
            .and_then(|s| s.state_change_reason())
            .and_then(|r| r.message())
            .map(str::to_string),
        primary: cluster.master_public_dns_name().map(str::to_string),
        log_uri: cluster.log_uri().map(str::to_string),
        steps: Vec::new(),
    })
}

async fn wait_ready(emr: &Client, cluster_id: &str, limit: Duration) -> Result<Started> {
    let started = Instant::now();
    loop {
        let view = describe(emr, cluster_id).await?;
        let state = ClusterState::from(view.state.as_str());
        match state {
            ClusterState::Waiting | ClusterState::Running => {
                return Ok(Started {
                    cluster_id: cluster_id.to_string(),
                    scheduler: view.scheduler(),
                    state: view.state,
                });
            }
            ClusterState::Terminated
            | ClusterState::TerminatedWithErrors
            | ClusterState::Terminating => {
                return Err(Error::Aws {
                    service: "EMR".into(),
                    what: format!("starting cluster {cluster_id}"),
                    reason: format!(
                        "it is {}{}",
                        view.state,
                        view.reason.map(|r| format!(": {r}")).unwrap_or_default()
                    ),
                    fix: "read the bootstrap's log under the log URI \
                          (node/<instance>/bootstrap-actions/) and `dfstore emr status`"
                        .into(),
                });
            }
            _ if started.elapsed() >= limit => {
                return Err(Error::Aws {
                    service: "EMR".into(),
                    what: format!("starting cluster {cluster_id}"),
                    reason: format!("still {} after {}s", view.state, limit.as_secs()),
                    fix: format!(
                        "follow it with `dfstore emr status --cluster {cluster_id}`, or \
                         wait longer with --wait"
                    ),
                });
            }
            _ => tokio::time::sleep(poll_interval(limit)).await,
        }
    }
}

/// Polls often for short limits (tests, moto), every 15 s for real waits.
fn poll_interval(limit: Duration) -> Duration {
    (limit / 20).clamp(Duration::from_millis(200), Duration::from_secs(15))
}

/// The cluster and its steps.
pub async fn status(cluster_id: &str) -> Result<ClusterView> {
    let emr = client().await;
    let mut view = describe(&emr, cluster_id).await?;
    let steps = emr
        .list_steps()
        .cluster_id(cluster_id)
        .send()
        .await
        .map_err(|e| aws_error(format!("listing the steps of {cluster_id}"), &e))?;
    view.steps = steps
        .steps()
        .iter()
        .map(|s| {
            (
                s.id().unwrap_or_default().to_string(),
                s.name().unwrap_or_default().to_string(),
                s.status()
                    .and_then(|st| st.state())
                    .map_or_else(|| "UNKNOWN".into(), |st| st.as_str().to_string()),
            )
        })
        .collect();
    Ok(view)
}

/// Terminates the cluster; returns its state right after.
pub async fn down(cluster_id: &str) -> Result<String> {
    let emr = client().await;
    emr.terminate_job_flows()
        .job_flow_ids(cluster_id)
        .send()
        .await
        .map_err(|e| aws_error(format!("terminating cluster {cluster_id}"), &e))?;
    Ok(describe(&emr, cluster_id).await?.state)
}

/// A step submitted, and where it ended.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// `s-…`.
    pub step_id: String,
    /// Its last state seen.
    pub state: String,
    /// Where EMR writes its stdout and stderr.
    pub logs: Option<String>,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

impl Submitted {
    /// Whether it completed.
    pub fn succeeded(&self) -> bool {
        self.state == StepState::Completed.as_str()
    }
}

/// The step's command line: dfstore with `args`, against the cluster's own
/// scheduler unless `args` name one, in `region` (the cluster's): a
/// command-runner step does not inherit the region the bootstrap gives the
/// daemons, and a lake outside us-east-1 needs it.
pub fn step_args(args: &[String], region: Option<&str>) -> Vec<String> {
    let mut command = vec![
        "env".to_string(),
        format!("DFSTORE_SCHEDULER=df://127.0.0.1:{SCHEDULER_PORT}"),
    ];
    if let Some(region) = region {
        command.push(format!("AWS_REGION={region}"));
        command.push(format!("AWS_DEFAULT_REGION={region}"));
    }
    command.push(INSTALLED.to_string());
    command.extend(args.iter().cloned());
    command
}

/// Adds `args` as a step of `cluster_id`; with `follow`, polls it until it
/// ends or the limit passes, calling `seen` at each change of state.
pub async fn submit(
    cluster_id: &str,
    args: &[String],
    follow: Option<Duration>,
    mut seen: impl FnMut(&str),
) -> Result<Submitted> {
    let emr = client().await;
    let name = format!("dfstore {}", args.first().map_or("", String::as_str));
    let step = StepConfig::builder()
        .name(name)
        .action_on_failure(ActionOnFailure::Continue)
        .hadoop_jar_step(
            HadoopJarStepConfig::builder()
                .jar("command-runner.jar")
                .set_args(Some(step_args(
                    args,
                    emr.config().region().map(|r| r.as_ref()),
                )))
                .build(),
        )
        .build();
    let added = emr
        .add_job_flow_steps()
        .job_flow_id(cluster_id)
        .steps(step)
        .send()
        .await
        .map_err(|e| aws_error(format!("adding a step to cluster {cluster_id}"), &e))?;
    let step_id = added.step_ids().first().cloned().unwrap_or_default();
    let log_uri = describe(&emr, cluster_id).await?.log_uri;
    let logs =
        log_uri.map(|u| format!("{}/{cluster_id}/steps/{step_id}/", u.trim_end_matches('/')));
    let mut submitted = Submitted {
        step_id,
        state: String::new(),
        logs,
        failure: None,
    };
    let started = Instant::now();
    loop {
        let described = emr
            .describe_step()
            .cluster_id(cluster_id)
            .step_id(&submitted.step_id)
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("following step {} of {cluster_id}", submitted.step_id),
                    &e,
                )
            })?;
        let status = described.step().and_then(|s| s.status());
        let state = status
            .and_then(|s| s.state())
            .map_or("UNKNOWN", |s| s.as_str());
        if state != submitted.state {
            submitted.state = state.to_string();
            seen(state);
        }
        submitted.failure = status.and_then(|s| s.failure_details()).map(|f| {
            [f.reason(), f.message(), f.log_file()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ")
        });
        let ended = matches!(
            StepState::from(state),
            StepState::Completed
                | StepState::Failed
                | StepState::Cancelled
                | StepState::Interrupted
        );
        match follow {
            Some(limit) if !ended && started.elapsed() < limit => {
                tokio::time::sleep(poll_interval(limit)).await;
            }
            _ => return Ok(submitted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_runs_dfstore_on_the_cluster_s_scheduler_in_its_region() {
        let args = vec![
            "run".to_string(),
            "--lake".to_string(),
            "s3://b/l".to_string(),
        ];
        assert_eq!(
            step_args(&args, Some("sa-east-1")),
            [
                "env",
                "DFSTORE_SCHEDULER=df://127.0.0.1:50050",
                "AWS_REGION=sa-east-1",
                "AWS_DEFAULT_REGION=sa-east-1",
                INSTALLED,
                "run",
                "--lake",
                "s3://b/l"
            ]
        );
        assert_eq!(step_args(&args, None)[2], INSTALLED);
    }
}
