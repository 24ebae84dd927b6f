//! The SHA-256 of every raw file: computed while the file is written (the
//! bytes pass through the hasher on their way to the object store), kept in
//! the extraction's manifest, and checked before a run or `ingest --verify`
//! reads the file, so that a file changed after its extraction, even in a
//! way Parquet still decodes, is never built from.

use std::ops::Range;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt};
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

/// The SHA-256 of the object at `path`: a local file is read on a blocking
/// thread in large reads (the store's own stream reads 8 KiB at a time, a
/// blocking task each, which made checking scale 100's 4.3 GB of raw take
/// 8 s), so that several files are hashed on several cores; any other
/// store's object is hashed as its bytes stream in.
pub async fn sha256_of(lake: &Lake, path: &Path) -> Result<String> {
    let store: &dyn ObjectStore = lake.store().as_ref();
    let object = store.get(path).await.map_err(|e| lake.io(path, e))?;
    let range = object.range.clone();
    match object.payload {
        GetResultPayload::File(file, _) => {
            let hashed = tokio::task::spawn_blocking(move || sha256_of_file(file, range)).await;
            let read = hashed.map_err(std::io::Error::other).and_then(|r| r);
            read.map_err(|e| {
                let source = object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                };
                lake.io(path, source)
            })
        }
        GetResultPayload::Stream(mut body) => {
            let mut hasher = Sha256::new();
            while let Some(chunk) = body.next().await {
                hasher.update(chunk.map_err(|e| lake.io(path, e))?);
            }
            Ok(hex::encode(hasher.finalize()))
        }
    }
}

/// The SHA-256 of `range` of `file`.
fn sha256_of_file(mut file: std::fs::File, range: Range<u64>) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(range.start))?;
    let mut rest = file.take(range.end - range.start);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        match rest.read(&mut buffer)? {
            0 => break,
            n => hasher.update(&buffer[..n]),
        }
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
