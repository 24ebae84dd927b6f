//! Lake URLs: a local folder, `file://…` or `s3://bucket/prefix`, each of which
//! knows how to build the object store that serves it.

use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use url::Url;

use crate::aws_chain;

/// Errors in a lake URL or in building its object store.
#[derive(Debug, thiserror::Error)]
pub enum LakeUrlError {
    /// The text is neither a folder nor a supported URL.
    #[error("invalid lake URL `{url}`: {reason}; use a folder, file:///path or s3://bucket/prefix")]
    Invalid {
        /// What the user gave.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The object store could not be configured (e.g. bad S3 settings).
    #[error("cannot open the object store for `{url}`: {source}")]
    Store {
        /// The lake URL.
        url: String,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },
}

/// Server-side encryption and endpoint settings for S3 lakes.
///
/// Credentials are never held here: they come from the standard AWS chain
/// (environment, profile, instance metadata) inside `object_store`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS); sent on every write.
    pub sse: Option<String>,
    /// KMS key id for SSE-KMS.
    pub sse_kms_key_id: Option<String>,
}

/// The location of a lake: the root under which `raw/`, `trusted/`, … live.
#[derive(Clone, PartialEq, Eq)]
pub struct LakeUrl {
    url: Url,
}

impl LakeUrl {
    /// Parses a folder path (relative or absolute), `file://` URL or `s3://` URL.
    pub fn parse(text: &str) -> Result<Self, LakeUrlError> {
        let invalid = |reason: &str| LakeUrlError::Invalid {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        if text.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        let url = if text.contains("://") {
            Url::parse(text).map_err(|e| invalid(&e.to_string()))?
        } else {
            let path = absolute(FsPath::new(text)).map_err(|e| invalid(&e.to_string()))?;
            Url::from_directory_path(&path).map_err(|()| invalid("not an absolute path"))?
        };
        match url.scheme() {
            "file" => {}
            "s3" | "s3a" => {
                if url.host_str().unwrap_or_default().is_empty() {
                    return Err(invalid("the bucket is missing"));
                }
            }
            other => return Err(invalid(&format!("the scheme `{other}` is not supported"))),
        }
        let mut url = url;
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(LakeUrl { url })
    }

    /// The root URL, always ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the lake is a local folder.
    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }

    /// The local folder of a `file://` lake.
    pub fn local_path(&self) -> Option<PathBuf> {
        self.url.to_file_path().ok()
    }

    /// The URL of the object store itself (`file:///` or `s3://bucket/`), the
    /// key under which DataFusion and Delta Lake look the store up.
    pub fn store_url(&self) -> Url {
        let mut u = self.url.clone();
        u.set_path("/");
        u
    }

    /// The object-store path of the lake root inside its store.
    pub fn root_path(&self) -> Path {
        Path::from(self.url.path().trim_matches('/'))
    }

    /// The URL of `relative` under the lake root (a folder when it ends in `/`).
    pub fn join(&self, relative: &str) -> Url {
        let mut u = self.url.clone();
        u.set_path(&format!(
            "{}{}",
            self.url.path(),
            relative.trim_start_matches('/')
        ));
        u
    }

    /// Builds the object store serving this lake, rooted at the store URL.
    ///
    /// S3 reads the standard AWS environment (`AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`);
    /// without a region or keys there, the AWS SDK's chain
    /// ([`crate::aws_chain`]: profiles, SSO, web identity, instance
    /// profiles) gives them. An `http://` endpoint (an
    /// S3-compatible server on loopback) gets plain HTTP and path-style
    /// requests.
    pub fn object_store(&self, s3: &S3Settings) -> Result<Arc<dyn ObjectStore>, LakeUrlError> {
        let store_err = |source| LakeUrlError::Store {
            url: self.to_string(),
            source,
        };
        match self.url.scheme() {
            "file" => Ok(Arc::new(LocalFileSystem::new())),
            _ => {
                let bucket = self.url.host_str().unwrap_or_default();
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                    .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                    .ok();
                if let Some(endpoint) = endpoint {
                    let http = endpoint.starts_with("http://");
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(http)
                        .with_virtual_hosted_style_request(false);
                }
                // Without a region or keys in the environment, the AWS SDK's
                // chain names them (profile, SSO, instance metadata).
                if std::env::var("AWS_REGION").is_err()
                    && std::env::var("AWS_DEFAULT_REGION").is_err()
                {
                    let region = aws_chain::region().unwrap_or_else(|| "us-east-1".into());
                    builder = builder.with_region(region);
                }
                if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                    && let Some(credentials) = aws_chain::credentials()
                {
                    builder = builder.with_credentials(credentials);
                }
                // object_store only exposes the encryption keys by name.
                let settings = [
                    ("aws_server_side_encryption", &s3.sse),
                    ("aws_sse_kms_key_id", &s3.sse_kms_key_id),
                ];
                for (key, value) in settings {
                    if let Some(value) = value {
                        let key: AmazonS3ConfigKey = key.parse().map_err(store_err)?;
                        builder = builder.with_config(key, value.clone());
                    }
                }
                Ok(Arc::new(builder.build().map_err(store_err)?))
            }
        }
    }
}

fn absolute(path: &FsPath) -> std::io::Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    // Normalise `.` and `..` without touching the disk: the folder may not exist yet.
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

impl FromStr for LakeUrl {
    type Err = LakeUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LakeUrl::parse(s)
    }
}

impl fmt::Display for LakeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl fmt::Debug for LakeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LakeUrl({})", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_folder_becomes_absolute_file_url() {
        let lake = LakeUrl::parse("./lake").unwrap();
        assert!(lake.is_local());
        assert!(lake.url().as_str().ends_with("/lake/"));
        assert_eq!(lake.store_url().as_str(), "file:///");
    }

    #[test]
    fn s3_url_keeps_bucket_and_prefix() {
        let lake = LakeUrl::parse("s3://bucket/some/prefix").unwrap();
        assert_eq!(lake.url().as_str(), "s3://bucket/some/prefix/");
        assert_eq!(lake.store_url().as_str(), "s3://bucket/");
        assert_eq!(lake.root_path().as_ref(), "some/prefix");
        assert_eq!(
            lake.join("raw/ventas/").as_str(),
            "s3://bucket/some/prefix/raw/ventas/"
        );
    }

    #[test]
    fn unsupported_scheme_names_the_fix() {
        let err = LakeUrl::parse("gs://bucket").unwrap_err().to_string();
        assert!(
            err.contains("gs://bucket") && err.contains("s3://bucket/prefix"),
            "{err}"
        );
    }
}
