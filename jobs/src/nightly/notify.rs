//! Telling someone how the night went: the nightly manifest as JSON, POSTed
//! to a webhook (a chat or incident tool's incoming URL), piped to a command
//! (`mail`, a pager script), published to an SNS topic, or all three. A failed notification is recorded in
//! the manifest and logged; it never changes the run's outcome. A webhook's
//! URL often carries a token, so only its host is ever printed.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::nightly::flow::NightlyManifest;

/// Where notifications go.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    /// A URL the manifest is POSTed to as JSON.
    pub webhook: Option<String>,
    /// A shell command run with the manifest on its standard input and
    /// `DFSTORE_NIGHTLY_OUTCOME`, `DFSTORE_NIGHTLY_ID` in its environment.
    pub command: Option<String>,
    /// An SNS topic's ARN the manifest is published to.
    pub sns_topic: Option<String>,
}

impl Notifier {
    /// Sends `manifest` everywhere configured; returns what failed, as text.
    pub async fn send(&self, manifest: &NightlyManifest) -> Vec<String> {
        let mut failed = Vec::new();
        let body = match serde_json::to_vec_pretty(manifest) {
            Ok(body) => body,
            Err(e) => return vec![format!("serialising the manifest: {e}")],
        };
        if let Some(url) = &self.webhook {
            let host = host_of(url);
            match post(url, body.clone()).await {
                Ok(()) => info!(webhook = %host, outcome = ?manifest.outcome, "notified"),
                Err(e) => {
                    warn!(webhook = %host, error = %e, "notification failed");
                    failed.push(format!("webhook {host}: {e}"));
                }
            }
        }
        if let Some(command) = &self.command {
            match run(command, manifest, &body).await {
                Ok(()) => info!(command = %command, outcome = ?manifest.outcome, "notified"),
                Err(e) => {
                    warn!(command = %command, error = %e, "notification failed");
                    failed.push(format!("command `{command}`: {e}"));
                }
            }
        }
        if let Some(topic) = &self.sns_topic {
            match publish(topic, manifest, &body).await {
                Ok(()) => info!(topic = %topic, outcome = ?manifest.outcome, "notified"),
                Err(e) => {
                    warn!(topic = %topic, error = %e, "notification failed");
                    failed.push(format!("SNS topic {topic}: {e}"));
                }
            }
        }
        failed
    }
}

/// The subject of an SNS notification: what an e-mail subscriber sees first.
#[cfg(any(feature = "aws", test))]
fn subject(manifest: &NightlyManifest) -> String {
    format!(
        "dfstore nightly {} {}",
        manifest.pipeline_id,
        manifest.outcome.as_str()
    )
}

#[cfg(feature = "aws")]
async fn publish(topic: &str, manifest: &NightlyManifest, body: &[u8]) -> Result<(), String> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_sns::Client::new(&config);
    let outcome = aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(manifest.outcome.as_str())
        .build()
        .map_err(|e| e.to_string())?;
    client
        .publish()
        .topic_arn(topic)
        .subject(subject(manifest))
        .message(String::from_utf8_lossy(body))
        .message_attributes("outcome", outcome)
        .send()
        .await
        .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(&e).to_string())?;
    Ok(())
}

/// A build without the `aws` feature has no SNS (`nightly` refuses
/// `--notify-sns` before it starts).
#[cfg(not(feature = "aws"))]
#[allow(clippy::unused_async)]
async fn publish(_topic: &str, _manifest: &NightlyManifest, _body: &[u8]) -> Result<(), String> {
    Err("this dfstore was built without the `aws` feature".into())
}

/// The host (and port) of a URL, never its path or query.
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                format!(
                    "{h}{}",
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
        })
        .unwrap_or_else(|| "(not a URL)".into())
}

async fn post(url: &str, body: Vec<u8>) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

async fn run(command: &str, manifest: &NightlyManifest, body: &[u8]) -> Result<(), String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("DFSTORE_NIGHTLY_OUTCOME", manifest.outcome.as_str())
        .env("DFSTORE_NIGHTLY_ID", &manifest.pipeline_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body).await.map_err(|e| e.to_string())?;
    }
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("exited with {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_host_of_a_webhook_is_shown() {
        assert_eq!(
            host_of("https://hooks.example.com/services/T000/B000/s3cr3t"),
            "hooks.example.com"
        );
        assert_eq!(
            host_of("http://127.0.0.1:8080/x?token=s3cr3t"),
            "127.0.0.1:8080"
        );
        assert_eq!(host_of("nonsense"), "(not a URL)");
    }
}
