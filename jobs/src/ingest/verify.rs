//! `dfstore ingest --verify`: the files of published extractions read back
//! and checked against the checksums of their manifests.

use crate::contract::extraction::ExtractionId;
use crate::contract::source::SourceTable;
use crate::error::{Error, Result};
use crate::ingest::checksum::{self, Checksum};
use crate::lake::Lake;
use crate::lake::raw::published_extractions;

/// One table of one extraction, checked again.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The extraction.
    pub extraction: ExtractionId,
    /// The table.
    pub table: SourceTable,
    /// Rows and checksum of the files, equal to the manifest's.
    pub checksum: Checksum,
}

/// Re-reads the Parquet files of the PostgreSQL extractions of `lake` (or
/// only `only`) and checks them against the checksums of their manifests.
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
            let Some(expected) = &entry.checksum else {
                continue;
            };
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
            out.push(Verified {
                extraction: manifest.extraido,
                table: *table,
                checksum: found,
            });
        }
    }
    Ok(out)
}
