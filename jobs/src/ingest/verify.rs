//! `dfstore ingest --verify`: the files of published extractions read back
//! and checked against the checksums of their manifests.

use crate::contract::extraction::ExtractionId;
use crate::error::{Error, Result};
use crate::ingest::checksum::{self, Checksum};
use crate::lake::Lake;
use crate::lake::raw::{self, published_extractions};

/// One table of one extraction, checked again.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The extraction.
    pub extraction: ExtractionId,
    /// The table.
    pub table: String,
    /// Files whose SHA-256 matches the manifest's.
    pub files: usize,
    /// Rows and content checksum of the files, equal to the manifest's
    /// (extractions from PostgreSQL only).
    pub checksum: Option<Checksum>,
    /// The manifest's checksum is of the earlier, text-based definition,
    /// which is not computed any more: only the SHA-256 were checked.
    pub earlier_checksum: bool,
}

/// Re-reads the Parquet files of the extractions of `lake` (or only `only`)
/// and checks them against their manifests: the content checksum of the
/// rows (extractions from PostgreSQL, by this version's definition), then
/// every file's SHA-256.
pub async fn verify(lake: &Lake, only: Option<ExtractionId>) -> Result<Vec<Verified>> {
    let manifests = published_extractions(lake).await?;
    if let Some(id) = only
        && !manifests.iter().any(|m| m.extraido == id)
    {
        return Err(Error::InvalidArgument {
            flag: "--extraction".into(),
            reason: format!(
                "extraction {id} is not published in {}; see `dfstore tables` for the extractions",
                lake.url()
            ),
        });
    }
    let mut out = Vec::new();
    for manifest in manifests {
        if only.is_some_and(|id| id != manifest.extraido) {
            continue;
        }
        for (table, entry) in &manifest.tables {
            let earlier_checksum = entry
                .checksum
                .as_deref()
                .is_some_and(|c| !Checksum::is_current(c));
            let checksum = match &entry.checksum {
                Some(expected) if !earlier_checksum => {
                    let found = checksum::of_files(lake, &entry.files).await?;
                    if found.rows != entry.rows || &found.text() != expected {
                        return Err(Error::ChecksumMismatch {
                            table: format!("raw.{table}"),
                            extraction: manifest.extraido.to_string(),
                            source_rows: entry.rows,
                            source_sum: expected.clone(),
                            lake_rows: found.rows,
                            lake_sum: found.text(),
                        });
                    }
                    Some(found)
                }
                _ => None,
            };
            for file in &entry.files {
                raw::verify_digest(lake, manifest.extraido, table, file).await?;
            }
            out.push(Verified {
                extraction: manifest.extraido,
                table: table.clone(),
                files: entry.files.len(),
                checksum,
                earlier_checksum,
            });
        }
    }
    Ok(out)
}
