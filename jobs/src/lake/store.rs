//! A lake: its URL, its object store, and the few I/O helpers every layer
//! needs (JSON documents, listings). Paths inside the lake are relative to its
//! root, e.g. `raw/ventas/extraido=20260102T060000Z/part-00000.parquet`.

use std::sync::Arc;

use dfstore_core::{LakeUrl, S3Settings};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A lake root and the object store that serves it.
#[derive(Clone, Debug)]
pub struct Lake {
    url: LakeUrl,
    store: Arc<dyn ObjectStore>,
    s3: S3Settings,
}

impl Lake {
    /// Opens the lake at `url` (nothing is read yet).
    pub fn open(url: LakeUrl, s3: &S3Settings) -> Result<Self> {
        let store = url.object_store(s3)?;
        Ok(Lake {
            url,
            store,
            s3: s3.clone(),
        })
    }

    /// The S3 settings the lake's store was built with (also used for any
    /// other bucket a query names).
    pub fn s3_settings(&self) -> &S3Settings {
        &self.s3
    }

    /// The lake's URL.
    pub fn url(&self) -> &LakeUrl {
        &self.url
    }

    /// The object store, rooted at the store URL (not at the lake root).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object-store path of `relative` under the lake root.
    pub fn path(&self, relative: &str) -> Path {
        let root = self.url.root_path();
        let relative = relative.trim_matches('/');
        if root.as_ref().is_empty() {
            Path::from(relative)
        } else if relative.is_empty() {
            root
        } else {
            Path::from(format!("{}/{relative}", root.as_ref()))
        }
    }

    /// The path of an object relative to the lake root (inverse of [`Lake::path`]).
    pub fn relative<'a>(&self, path: &'a Path) -> &'a str {
        let root = self.url.root_path();
        let full = path.as_ref();
        if root.as_ref().is_empty() {
            full
        } else {
            full.strip_prefix(root.as_ref())
                .map(|p| p.trim_start_matches('/'))
                .unwrap_or(full)
        }
    }

    /// Whether anything exists under the lake root.
    pub async fn exists(&self) -> Result<bool> {
        if let Some(dir) = self.url.local_path() {
            return Ok(dir.is_dir());
        }
        let prefix = self.path("");
        let mut listing = self.store.list(Some(&prefix));
        Ok(listing
            .try_next()
            .await
            .map_err(|e| self.io(&prefix, e))?
            .is_some())
    }

    /// Fails with [`Error::LakeNotFound`] unless the lake exists: what every
    /// command that reads a lake checks first.
    pub async fn require(&self) -> Result<()> {
        if self.exists().await? {
            Ok(())
        } else {
            Err(Error::LakeNotFound {
                lake: self.url.to_string(),
            })
        }
    }

    /// Every object under `relative` (recursively), sorted by path.
    pub async fn list(&self, relative: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = self.path(relative);
        let mut out: Vec<ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.io(&prefix, e))?;
        out.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(out)
    }

    /// The immediate sub-folders of `relative` (names only), sorted.
    pub async fn folders(&self, relative: &str) -> Result<Vec<String>> {
        let prefix = self.path(relative);
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| self.io(&prefix, e))?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Writes `value` as pretty JSON at `relative` in one PUT (atomic on S3 and
    /// on local disk, where object_store writes a temporary file and renames it).
    pub async fn put_json<T: Serialize>(&self, relative: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal {
            what: format!("serialising {relative}: {e}"),
        })?;
        self.put_bytes(relative, bytes).await
    }

    /// Writes `bytes` at `relative` in one PUT (atomic, as for [`Lake::put_json`]).
    pub async fn put_bytes(&self, relative: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(relative);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| self.io(&path, e))?;
        Ok(())
    }

    /// Reads a JSON document, `None` when it does not exist.
    pub async fn get_json<T: DeserializeOwned>(&self, relative: &str) -> Result<Option<T>> {
        let path = self.path(relative);
        let bytes = match self.store.get(&path).await {
            Ok(got) => got.bytes().await.map_err(|e| self.io(&path, e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.io(&path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::CorruptDocument {
                path: self.display(&path),
                reason: e.to_string(),
            })
    }

    /// Reads a text file, `None` when it does not exist.
    pub async fn get_text(&self, relative: &str) -> Result<Option<String>> {
        let path = self.path(relative);
        let bytes = match self.store.get(&path).await {
            Ok(got) => got.bytes().await.map_err(|e| self.io(&path, e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.io(&path, e)),
        };
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| Error::CorruptDocument {
                path: self.display(&path),
                reason: e.to_string(),
            })
    }

    /// Deletes the object at `relative`; one that is already gone is fine.
    pub async fn delete(&self, relative: &str) -> Result<()> {
        let path = self.path(relative);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    /// Deletes every object under `relative` (and, in a local lake, the
    /// folders that held them: object stores have no empty folders to leave).
    pub async fn delete_all(&self, relative: &str) -> Result<()> {
        for meta in self.list(relative).await? {
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.io(&meta.location, e)),
            }
        }
        if let Some(root) = self.url.local_path() {
            let dir = root.join(relative.trim_matches('/'));
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Internal {
                        what: format!("removing {}: {e}", dir.display()),
                    });
                }
            }
        }
        Ok(())
    }

    /// A printable location for an object (its full URL).
    pub fn display(&self, path: &Path) -> String {
        let mut url = self.url.store_url();
        url.set_path(&format!("/{}", path.as_ref()));
        url.to_string()
    }

    /// Wraps an object-store error with the object's location.
    pub fn io(&self, path: &Path, source: object_store::Error) -> Error {
        Error::Storage {
            location: self.display(path),
            source,
        }
    }
}
