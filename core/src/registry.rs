//! The object-store registry every dfstore node installs.
//!
//! A plan names its files by URL (`file:///…`, `s3://bucket/…`). The client
//! that plans and the executors that run the plan must resolve those URLs to
//! the same stores, configured the same way; they share this registry. An S3
//! bucket's store is built on first use from the node's own environment:
//! credentials from the standard AWS chain (`AWS_ACCESS_KEY_ID`/
//! `AWS_SECRET_ACCESS_KEY`, web identity, instance profiles), `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for S3-compatible servers, and the server-side
//! encryption settings (`DFSTORE_S3_SSE`, `DFSTORE_S3_SSE_KMS_KEY_ID`). No
//! credential ever travels inside a plan.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::prelude::SessionConfig;
use object_store::ObjectStore;
use url::Url;

use crate::lake_url::{LakeUrl, S3Settings};

/// Environment variable selecting server-side encryption for S3 writes.
pub const SSE_ENV: &str = "DFSTORE_S3_SSE";
/// Environment variable holding the KMS key id for `aws:kms` encryption.
pub const SSE_KMS_KEY_ENV: &str = "DFSTORE_S3_SSE_KMS_KEY_ID";

impl S3Settings {
    /// The settings in this process's environment ([`SSE_ENV`], [`SSE_KMS_KEY_ENV`]).
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        S3Settings {
            sse: var(SSE_ENV),
            sse_kms_key_id: var(SSE_KMS_KEY_ENV),
        }
    }
}

extensions_options! {
    /// The lake settings a client sends with every job (`dfstore.*` in the
    /// session configuration), so that executors write as the client would:
    /// the server-side encryption asked for by `--s3-sse`. Credentials are
    /// not among them; each node uses its own.
    pub struct LakeOptions {
        /// `AES256` or `aws:kms`.
        pub s3_sse: Option<String>, default = None
        /// The KMS key id for `aws:kms`.
        pub s3_sse_kms_key_id: Option<String>, default = None
    }
}

impl ConfigExtension for LakeOptions {
    const PREFIX: &'static str = "dfstore";
}

impl LakeOptions {
    /// The options carrying `s3`.
    pub fn from_settings(s3: &S3Settings) -> Self {
        LakeOptions {
            s3_sse: s3.sse.clone(),
            s3_sse_kms_key_id: s3.sse_kms_key_id.clone(),
        }
    }

    /// The S3 settings of a job: the client's when it sent any, else this
    /// node's environment.
    pub fn settings_of(config: &SessionConfig) -> S3Settings {
        match config.options().extensions.get::<LakeOptions>() {
            Some(o) if o.s3_sse.is_some() => S3Settings {
                sse: o.s3_sse.clone(),
                sse_kms_key_id: o.s3_sse_kms_key_id.clone(),
            },
            _ => S3Settings::from_env(),
        }
    }
}

/// Stores by `scheme://host`, created on first use for `file` and `s3`.
#[derive(Debug)]
pub struct LakeStoreRegistry {
    s3: S3Settings,
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl LakeStoreRegistry {
    /// A registry whose S3 stores use `s3` for encryption.
    pub fn new(s3: S3Settings) -> Self {
        LakeStoreRegistry {
            s3,
            stores: RwLock::new(HashMap::new()),
        }
    }

    fn key(url: &Url) -> String {
        format!("{}://{}", url.scheme(), url.authority())
    }
}

impl ObjectStoreRegistry for LakeStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        stores.insert(Self::key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        stores.remove(&Self::key(url)).ok_or_else(|| {
            DataFusionError::Execution(format!("no object store is registered for {url}"))
        })
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = Self::key(url);
        if let Some(store) = self
            .stores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(store));
        }
        let lake = LakeUrl::parse(&format!("{key}/"))
            .map_err(|e| DataFusionError::Configuration(e.to_string()))?;
        let store = lake
            .object_store(&self.s3)
            .map_err(|e| DataFusionError::Configuration(e.to_string()))?;
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        Ok(Arc::clone(stores.entry(key).or_insert(store)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_s3_stores_are_built_once_and_reused() {
        let registry = LakeStoreRegistry::new(S3Settings::default());
        let file = Url::parse("file:///tmp/lake/").unwrap();
        let a = registry.get_store(&file).unwrap();
        let b = registry.get_store(&file).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let s3 = Url::parse("s3://some-bucket/lake/").unwrap();
        let c = registry.get_store(&s3).unwrap();
        assert!(c.to_string().contains("some-bucket"), "{c}");
        let other = Url::parse("s3://other-bucket/").unwrap();
        let d = registry.get_store(&other).unwrap();
        assert!(!Arc::ptr_eq(&c, &d));
    }

    #[test]
    fn unsupported_schemes_are_refused() {
        let registry = LakeStoreRegistry::new(S3Settings::default());
        let err = registry
            .get_store(&Url::parse("gs://bucket/").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("gs"), "{err}");
    }
}
