//! The AWS SDK's default configuration chain for a lake on S3, as the EMR,
//! Glue, SNS and Secrets Manager clients use it: credentials and region from
//! the environment, `AWS_PROFILE` and `~/.aws/config` (SSO included), web
//! identity, ECS, then the instance's metadata. object_store's own chain
//! reads `AWS_*` variables and instance metadata only, and falls back on
//! us-east-1 for the region.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// The SDK's configuration, loaded once per process on a thread of its
/// own, so that a synchronous caller (an object store being built, maybe
/// inside a runtime) can wait for it.
fn sdk_config() -> Option<&'static SdkConfig> {
    static CONFIG: OnceLock<Option<SdkConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            std::thread::spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                Some(runtime.block_on(aws_config::defaults(BehaviorVersion::latest()).load()))
            })
            .join()
            .ok()
            .flatten()
        })
        .as_ref()
}

/// The region the chain names (`AWS_REGION`, the profile, the instance).
pub fn region() -> Option<String> {
    let region = sdk_config()?.region()?.to_string();
    tracing::debug!(
        region,
        "the lake's region, from the AWS configuration chain"
    );
    Some(region)
}

/// The chain's credentials, for object_store.
pub fn credentials() -> Option<Arc<SdkCredentials>> {
    let provider = sdk_config()?.credentials_provider()?;
    Some(Arc::new(SdkCredentials {
        provider,
        cached: Mutex::new(None),
    }))
}

/// The SDK's credential provider behind object_store's, cached until
/// shortly before the credentials expire.
#[derive(Debug)]
pub struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    fn fresh(&self) -> Option<Arc<AwsCredential>> {
        let cached = self.cached.lock().ok()?;
        let (credential, expiry) = cached.as_ref()?;
        let fresh = expiry.is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE_EXPIRY);
        fresh.then(|| Arc::clone(credential))
    }
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        if let Some(credential) = self.fresh() {
            return Ok(credential);
        }
        let credentials = self.provider.provide_credentials().await.map_err(|e| {
            let text = match &e {
                CredentialsError::CredentialsNotLoaded(_) => format!(
                    "no AWS credentials were found by the AWS configuration chain (environment, AWS_PROFILE and ~/.aws, web identity, ECS, instance metadata): {e}"
                ),
                other => format!("the AWS configuration chain failed: {other}"),
            };
            object_store::Error::Generic {
                store: "S3",
                source: text.into(),
            }
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_string(),
            secret_key: credentials.secret_access_key().to_string(),
            token: credentials.session_token().map(ToString::to_string),
        });
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((Arc::clone(&credential), credentials.expiry()));
        }
        Ok(credential)
    }
}
