//! Loading Amazon Redshift from the lake's own Parquet files.
//!
//! Redshift speaks PostgreSQL's protocol but has no `COPY FROM STDIN`; its
//! bulk load reads S3. The load writes a manifest naming exactly the files
//! of the report's Delta version for the periods it replaces (never a
//! prefix, which could pick up files of other versions), then, inside the
//! load's transaction: `COPY` into a temporary table shaped like the files
//! (`FORMAT AS PARQUET`, columns by position; `periodo` is a folder, not a
//! column of the files), and `INSERT … SELECT` into the report with
//! `periodo` derived from `fecha`, as the report defines it.

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::warehouse::lake_side::ReportVersion;
use crate::warehouse::sums::literal;
use crate::warehouse::table::{COLUMNS, REPORT, column_list};
use crate::warehouse::target::Warehouse;

/// The folder of the load manifests, relative to the lake root.
pub const MANIFEST_DIR: &str = "_warehouse/redshift";
/// The temporary table the files are copied into.
const STAGE: &str = "dfstore_stage";

/// Redshift reads the lake's files from S3: a local lake cannot be loaded.
pub fn require_s3(lake: &Lake) -> Result<()> {
    if lake.url().local_path().is_some() {
        return Err(Error::InvalidArgument {
            flag: "--warehouse".into(),
            reason: format!(
                "a Redshift warehouse loads the report's Parquet files straight from S3, and the lake `{}` is a local folder; run the pipeline on an s3:// lake (or load a PostgreSQL warehouse)",
                lake.url()
            ),
        });
    }
    Ok(())
}

/// One file of the report's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    /// Its `s3://` URL.
    pub url: String,
    /// Its size in bytes (Redshift needs it for Parquet).
    pub bytes: u64,
}

/// A Redshift `COPY` manifest of `files`.
pub fn manifest(files: &[ReportFile]) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            serde_json::json!({
                "url": f.url,
                "mandatory": true,
                "meta": { "content_length": f.bytes },
            })
        })
        .collect();
    serde_json::json!({ "entries": entries })
}

/// The columns of the report's files, in file order: the table's, less
/// `periodo`.
pub fn file_columns() -> Vec<&'static str> {
    COLUMNS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| *name != "periodo")
        .collect()
}

/// The statements that load `manifest_url` into the report, to run inside
/// the load's transaction after the periods' rows were deleted.
pub fn statements(wh: &Warehouse, manifest_url: &str, iam_role: Option<&str>) -> Vec<String> {
    let columns: Vec<String> = COLUMNS
        .iter()
        .filter(|(name, _)| *name != "periodo")
        .map(|(name, kind)| format!("{name} {}", kind_ddl(*kind)))
        .collect();
    let role = match iam_role {
        Some(arn) => literal(arn),
        None => "default".into(),
    };
    let select: Vec<String> = COLUMNS
        .iter()
        .map(|(name, _)| match *name {
            "periodo" => "TO_CHAR(fecha, 'YYYY-MM')".to_string(),
            other => other.to_string(),
        })
        .collect();
    vec![
        format!("CREATE TEMP TABLE {STAGE} ({})", columns.join(", ")),
        format!(
            "COPY {STAGE} FROM {} IAM_ROLE {role} FORMAT AS PARQUET MANIFEST",
            literal(manifest_url)
        ),
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM {STAGE}",
            wh.qualified(REPORT),
            column_list(),
            select.join(", ")
        ),
        format!("DROP TABLE {STAGE}"),
    ]
}

fn kind_ddl(kind: crate::warehouse::table::Kind) -> &'static str {
    use crate::warehouse::table::Kind;
    match kind {
        Kind::Date => "date",
        Kind::Text => "varchar(256)",
        Kind::Integer => "integer",
        Kind::Bigint => "bigint",
        Kind::Money => "numeric(18,2)",
    }
}

/// Writes the manifest of `periods`' files of the version into the lake
/// and returns the statements that copy them.
pub async fn copy_statements(
    lake: &Lake,
    wh: &Warehouse,
    version: &ReportVersion,
    periods: &[String],
    iam_role: Option<&str>,
    load_id: &str,
) -> Result<Vec<String>> {
    let files = version.files(lake, periods)?;
    let relative = format!("{MANIFEST_DIR}/{load_id}.manifest");
    lake.put_json(&relative, &manifest(&files)).await?;
    let url = lake.url().join(&relative).to_string();
    Ok(statements(wh, &url, iam_role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_copy_the_manifest_s_files_into_the_report() {
        let wh = Warehouse::parse("redshift://loader@cluster.example/dev", None).unwrap();
        let sql = statements(
            &wh,
            "s3://bucket/lake/_warehouse/redshift/l1.manifest",
            Some("arn:aws:iam::123456789012:role/dfstore-redshift"),
        );
        assert_eq!(
            sql[0],
            "CREATE TEMP TABLE dfstore_stage (fecha date, id_tienda integer, codigo_tienda varchar(256), nombre_tienda varchar(256), ciudad varchar(256), region varchar(256), formato varchar(256), num_ventas bigint, num_clientes bigint, unidades bigint, venta_bruta numeric(18,2), descuento_total numeric(18,2), venta_neta numeric(18,2), costo_total numeric(18,2), margen_bruto numeric(18,2), ticket_promedio numeric(18,2))"
        );
        assert_eq!(
            sql[1],
            "COPY dfstore_stage FROM 's3://bucket/lake/_warehouse/redshift/l1.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/dfstore-redshift' FORMAT AS PARQUET MANIFEST"
        );
        assert!(sql[2].starts_with(
            "INSERT INTO analytic.reporte_ventas_tienda (fecha, periodo, id_tienda, "
        ));
        assert!(sql[2].contains("SELECT fecha, TO_CHAR(fecha, 'YYYY-MM'), id_tienda, "));
        assert!(sql[2].ends_with(" FROM dfstore_stage"));
        assert_eq!(sql[3], "DROP TABLE dfstore_stage");
        let default_role = statements(&wh, "s3://b/m", None);
        assert!(default_role[1].contains("IAM_ROLE default"));
    }

    #[test]
    fn manifests_list_every_file_with_its_length() {
        let m = manifest(&[ReportFile {
            url: "s3://b/analytic/reporte_ventas_tienda/periodo=2025-01/part-r-00000.parquet"
                .into(),
            bytes: 1234,
        }]);
        assert_eq!(m["entries"][0]["meta"]["content_length"], 1234);
        assert_eq!(m["entries"][0]["mandatory"], true);
    }
}
