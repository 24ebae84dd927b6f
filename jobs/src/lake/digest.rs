//! The SHA-256 of every raw file: computed while the file is written (the
//! bytes pass through the hasher on their way to the object store), kept in
//! the extraction's manifest, and checked before a run or `ingest --verify`
//! reads the file, so that a file changed after its extraction, even in a
//! way Parquet still decodes, is never built from.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::async_writer::AsyncFileWriter;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::lake::Lake;

/// An object-store writer that hashes what it writes.
pub struct HashingWriter {
    inner: BufWriter,
    hasher: Sha256,
}

impl HashingWriter {
    /// Hashes what goes to `inner`.
    pub fn new(inner: BufWriter) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of everything written, as lower-case hex.
    pub fn digest(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl AsyncFileWriter for HashingWriter {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        self.hasher.update(&bs);
        AsyncFileWriter::write(&mut self.inner, bs)
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        AsyncFileWriter::complete(&mut self.inner).boxed()
    }
}

/// The SHA-256 of the object at `path`, streamed from the store.
pub async fn sha256_of(lake: &Lake, path: &Path) -> Result<String> {
    let store: &dyn ObjectStore = lake.store().as_ref();
    let mut body = store
        .get(path)
        .await
        .map_err(|e| lake.io(path, e))?
        .into_stream();
    let mut hasher = Sha256::new();
    while let Some(chunk) = body.next().await {
        hasher.update(chunk.map_err(|e| lake.io(path, e))?);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_digest_of_what_was_written_is_the_digest_of_the_object() {
        let dir = tempfile::TempDir::new().unwrap();
        let lake = Lake::open(
            dfstore_core::LakeUrl::parse(dir.path().to_str().unwrap()).unwrap(),
            &Default::default(),
        )
        .unwrap();
        let path = lake.path("raw/x.bin");
        let mut writer = HashingWriter::new(BufWriter::new(
            std::sync::Arc::clone(lake.store()),
            path.clone(),
        ));
        AsyncFileWriter::write(&mut writer, Bytes::from_static(b"hello "))
            .await
            .unwrap();
        AsyncFileWriter::write(&mut writer, Bytes::from_static(b"world"))
            .await
            .unwrap();
        AsyncFileWriter::complete(&mut writer).await.unwrap();
        let written = writer.digest();
        assert_eq!(
            written,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(sha256_of(&lake, &path).await.unwrap(), written);
    }
}
