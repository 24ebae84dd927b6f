//! The raw layer: typed Parquet as extracted, one folder per extraction
//! (`raw/<table>/extraido=<UTC timestamp>/`), and one manifest per extraction
//! under `raw/_extracciones/`. The manifest is written last and is what makes
//! an extraction visible: readers only see extractions that have one, so an
//! extraction that died half-way is never read.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::contract::extraction::{ExtractionId, MANIFEST_DIR};
use crate::contract::source::SourceTable;
use crate::error::{Error, Result};
use crate::lake::digest::{HashingWriter, sha256_of};
use crate::lake::drift::{self, SchemaDrift};
use crate::lake::{Lake, parquet_file};

/// One Parquet file of an extraction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawFile {
    /// Path relative to the lake root.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows in the file.
    pub rows: u64,
    /// SHA-256 of the file's bytes (hex), taken as it was written; a run
    /// refuses a file that no longer matches it, or that has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What an extraction holds for one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawTable {
    /// Rows extracted.
    pub rows: u64,
    /// Content checksum of the rows, when the extractor computed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// The files written.
    pub files: Vec<RawFile>,
    /// The greatest `actualizado_en` extracted so far (RFC 3339): where the
    /// next incremental extraction of the table resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
    /// For an incremental extraction, the lower bound (exclusive) of
    /// `actualizado_en` it read from (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// The manifest of one extraction: written last, it publishes the extraction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractionManifest {
    /// The extraction instant.
    pub extraido: ExtractionId,
    /// Who produced it (`generate`, `postgres`).
    pub source: String,
    /// Free-form details of the source (seed and scale, database host).
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    /// Per table, what was extracted.
    pub tables: BTreeMap<String, RawTable>,
}

impl ExtractionManifest {
    /// Publishes the extraction by writing its manifest.
    pub async fn publish(&self, lake: &Lake) -> Result<()> {
        lake.put_json(&self.extraido.manifest_path(), self).await
    }
}

/// Every published extraction of the lake, oldest first.
pub async fn published_extractions(lake: &Lake) -> Result<Vec<ExtractionManifest>> {
    let mut out = Vec::new();
    for meta in lake.list(MANIFEST_DIR).await? {
        let rel = lake.relative(&meta.location).to_string();
        if !rel.ends_with(".json") {
            continue;
        }
        if let Some(manifest) = lake.get_json::<ExtractionManifest>(&rel).await? {
            out.push(manifest);
        }
    }
    out.sort_by_key(|m| m.extraido);
    Ok(out)
}

/// The record batches of one file of an extraction, streamed from the lake.
pub async fn read_file(
    lake: &Lake,
    file: &RawFile,
) -> Result<futures::stream::BoxStream<'static, Result<RecordBatch>>> {
    use futures::{StreamExt, TryStreamExt};
    let path = lake.path(&file.path);
    let shown = lake.display(&path);
    let corrupt = move |e: parquet::errors::ParquetError| Error::CorruptFile {
        file: shown.clone(),
        reason: e.to_string(),
    };
    let batches = parquet_file::parquet_reader(lake, &path, file.bytes)
        .await?
        .build()
        .map_err(&corrupt)?;
    Ok(batches.map_err(corrupt).boxed())
}

/// What the footer of one raw file says it holds.
#[derive(Debug, Clone)]
pub struct RawFooter {
    /// The extraction the file belongs to.
    pub extraido: ExtractionId,
    /// The file as its manifest lists it.
    pub file: RawFile,
    /// The Arrow schema written in the file.
    pub schema: SchemaRef,
    /// Rows, from the footer.
    pub rows: u64,
}

/// Reads the footer of every file of `table` in `extractions`, in their
/// order; a file that a manifest lists but the lake lacks, or that is not
/// Parquet, is an error naming it.
pub async fn footers(
    lake: &Lake,
    table: &str,
    extractions: &[ExtractionManifest],
) -> Result<Vec<RawFooter>> {
    let mut out = Vec::new();
    for manifest in extractions {
        let Some(entry) = manifest.tables.get(table) else {
            continue;
        };
        for file in &entry.files {
            let path = lake.path(&file.path);
            let size = match lake.store().head(&path).await {
                Ok(meta) => meta.size,
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(Error::CorruptFile {
                        file: lake.display(&path),
                        reason: format!(
                            "the manifest of extraction {} lists it but it is missing",
                            manifest.extraido
                        ),
                    });
                }
                Err(e) => return Err(lake.io(&path, e)),
            };
            let (schema, rows) = parquet_file::footer(lake, &path, size).await?;
            out.push(RawFooter {
                extraido: manifest.extraido,
                file: file.clone(),
                schema,
                rows,
            });
        }
    }
    Ok(out)
}

/// Checks every file of `table` in the published extractions against its
/// manifest (a listed file that is missing or unreadable, or holds another
/// number of rows, is an error naming the file) and against the table's
/// reference schema; returns the schema drift found, additive or breaking,
/// once per extraction and column. Breaking drift is the caller's to refuse.
pub async fn check(
    lake: &Lake,
    table: &SourceTable,
    extractions: &[ExtractionManifest],
) -> Result<Vec<SchemaDrift>> {
    let expected = table.schema();
    let footers = footers(lake, table.name(), extractions).await?;
    if footers.is_empty() {
        return Err(Error::MissingRawTable {
            lake: lake.url().to_string(),
            table: table.to_string(),
        });
    }
    let mut found: Vec<SchemaDrift> = Vec::new();
    for footer in &footers {
        if footer.rows != footer.file.rows {
            let path = lake.path(&footer.file.path);
            return Err(Error::CorruptFile {
                file: lake.display(&path),
                reason: format!(
                    "it holds {} rows but its manifest says {}",
                    footer.rows, footer.file.rows
                ),
            });
        }
        for change in drift::diff_schemas(&expected, &footer.schema) {
            let known = found
                .iter()
                .any(|d| d.extraido == footer.extraido && d.change == change);
            if !known {
                found.push(SchemaDrift {
                    table: table.name().to_string(),
                    extraido: footer.extraido,
                    file: footer.file.path.clone(),
                    change,
                });
            }
        }
    }
    Ok(found)
}

/// Checks every file of `extractions` against the SHA-256 its manifest
/// recorded when it was written, a few files at a time; returns how many
/// files were checked. A file that changed since, or whose manifest has no
/// digest, is an error naming it.
pub async fn verify_digests(lake: &Lake, extractions: &[ExtractionManifest]) -> Result<usize> {
    use futures::{StreamExt, TryStreamExt};
    let files: Vec<(ExtractionId, &str, &RawFile)> = extractions
        .iter()
        .flat_map(|m| {
            m.tables.iter().flat_map(move |(table, t)| {
                t.files.iter().map(move |f| (m.extraido, table.as_str(), f))
            })
        })
        .collect();
    let count = files.len();
    futures::stream::iter(files)
        .map(|(extraction, table, file)| verify_digest(lake, extraction, table, file))
        .buffer_unordered(4)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(count)
}

/// Checks one file against its manifest's SHA-256.
pub async fn verify_digest(
    lake: &Lake,
    extraction: ExtractionId,
    table: &str,
    file: &RawFile,
) -> Result<()> {
    let path = lake.path(&file.path);
    let Some(expected) = &file.sha256 else {
        return Err(Error::RawFileUnverifiable {
            file: lake.display(&path),
            extraction,
        });
    };
    let found = sha256_of(lake, &path).await?;
    if &found != expected {
        return Err(Error::RawFileChanged {
            file: lake.display(&path),
            table: table.to_string(),
            extraction,
            expected: expected.clone(),
            found,
        });
    }
    Ok(())
}

/// Streams record batches of one table into a Parquet file of an extraction,
/// through the object store (multipart on S3), never holding the table in memory.
pub struct RawFileWriter {
    relative: String,
    writer: AsyncArrowWriter<HashingWriter>,
    rows: u64,
    lake: Lake,
}

impl RawFileWriter {
    /// Starts `raw/<table>/extraido=<id>/part-<n>.parquet`.
    pub fn create(
        lake: &Lake,
        extraction: ExtractionId,
        table: &SourceTable,
        part: usize,
    ) -> Result<Self> {
        Self::create_with_schema(lake, extraction, table.name(), part, table.schema())
    }

    /// Like [`RawFileWriter::create`] with an explicit schema (a source whose
    /// columns drifted from the reference model).
    pub fn create_with_schema(
        lake: &Lake,
        extraction: ExtractionId,
        table: &str,
        part: usize,
        schema: SchemaRef,
    ) -> Result<Self> {
        let relative = format!("{}part-{part:05}.parquet", extraction.folder(table));
        let path = lake.path(&relative);
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).map_err(|e| {
                Error::Internal {
                    what: e.to_string(),
                }
            })?))
            .set_max_row_group_row_count(Some(256 * 1024))
            // A column of distinct values (keys, timestamps) gives up on
            // its dictionary after 256 KiB rather than after 1 MiB of
            // hashing; columns of few values keep theirs.
            .set_dictionary_page_size_limit(256 * 1024)
            .build();
        let sink = HashingWriter::new(BufWriter::new(Arc::clone(lake.store()), path));
        let writer =
            AsyncArrowWriter::try_new(sink, schema, Some(props)).map_err(|e| Error::Parquet {
                location: relative.clone(),
                source: e,
            })?;
        Ok(RawFileWriter {
            relative,
            writer,
            rows: 0,
            lake: lake.clone(),
        })
    }

    /// Appends a batch.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).await.map_err(|e| Error::Parquet {
            location: self.relative.clone(),
            source: e,
        })
    }

    /// Finishes the file and describes it for the manifest.
    pub async fn finish(self) -> Result<RawFile> {
        let RawFileWriter {
            relative,
            mut writer,
            rows,
            lake,
        } = self;
        writer.finish().await.map_err(|e| Error::Parquet {
            location: relative.clone(),
            source: e,
        })?;
        let sha256 = writer.into_inner().digest();
        let path = lake.path(&relative);
        let meta = lake
            .store()
            .head(&path)
            .await
            .map_err(|e| lake.io(&path, e))?;
        Ok(RawFile {
            path: relative,
            bytes: meta.size,
            rows,
            sha256: Some(sha256),
        })
    }
}
