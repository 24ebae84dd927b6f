//! Loading Amazon Redshift from the lake's own Parquet files.
//!
//! Redshift speaks PostgreSQL's protocol but has no `COPY FROM STDIN`; its
//! bulk load reads S3. For each period it replaces, the load writes a
//! manifest naming exactly that period's files of the model's Delta version
//! (never a prefix, which could pick up files of other versions), then,
//! inside the load's transaction: `COPY` into a temporary table shaped like
//! the files (`FORMAT AS PARQUET`, columns by position; `periodo` is a
//! folder, not a column of the files), and `INSERT … SELECT` into the table
//! with that period as `periodo`.

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::warehouse::lake_side::TableVersion;
use crate::warehouse::sums::literal;
use crate::warehouse::table::LoadedTable;
use crate::warehouse::target::{Dialect, Warehouse};

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
                "a Redshift warehouse loads the model's Parquet files straight from S3, and the lake `{}` is a local folder; run the pipeline on an s3:// lake (or load a PostgreSQL warehouse)",
                lake.url()
            ),
        });
    }
    Ok(())
}

/// One file of a published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeFile {
    /// Its `s3://` URL.
    pub url: String,
    /// Its size in bytes (Redshift needs it for Parquet).
    pub bytes: u64,
}

/// A Redshift `COPY` manifest of `files`.
pub fn manifest(files: &[LakeFile]) -> serde_json::Value {
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

/// The statements that load the periods' manifests (`(period, URL)`)
/// into `table`, to run inside the load's transaction after the periods'
/// rows were deleted.
pub fn statements(
    wh: &Warehouse,
    table: &LoadedTable,
    manifests: &[(String, String)],
    iam_role: Option<&str>,
) -> Vec<String> {
    let in_files = || table.columns.iter().filter(|c| c.name != "periodo");
    let columns: Vec<String> = in_files()
        .map(|c| {
            format!(
                "{} {}",
                c.name,
                c.kind.ddl(&Dialect::Redshift { iam_role: None })
            )
        })
        .collect();
    let role = match iam_role {
        Some(arn) => literal(arn),
        None => "default".into(),
    };
    let mut out = vec![format!(
        "CREATE TEMP TABLE {STAGE} ({})",
        columns.join(", ")
    )];
    for (period, url) in manifests {
        let select: Vec<String> = table
            .columns
            .iter()
            .map(|c| match c.name.as_str() {
                "periodo" => literal(period),
                other => other.to_string(),
            })
            .collect();
        out.push(format!(
            "COPY {STAGE} FROM {} IAM_ROLE {role} FORMAT AS PARQUET MANIFEST",
            literal(url)
        ));
        out.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {STAGE}",
            wh.qualified(table.name()),
            table.column_list(),
            select.join(", ")
        ));
        // DELETE, not TRUNCATE, which would commit the load's transaction.
        out.push(format!("DELETE FROM {STAGE}"));
    }
    out.push(format!("DROP TABLE {STAGE}"));
    out
}

/// Writes a manifest of each period's files of the version into the lake
/// and returns the statements that copy them.
pub async fn copy_statements(
    lake: &Lake,
    wh: &Warehouse,
    version: &TableVersion,
    periods: &[String],
    iam_role: Option<&str>,
    load_id: &str,
) -> Result<Vec<String>> {
    let mut manifests = Vec::new();
    for period in periods {
        let files = version.files(lake, std::slice::from_ref(period))?;
        let relative = format!(
            "{MANIFEST_DIR}/{load_id}/{}/{period}.manifest",
            version.table.lake
        );
        lake.put_json(&relative, &manifest(&files)).await?;
        manifests.push((period.clone(), lake.url().join(&relative).to_string()));
    }
    Ok(statements(wh, &version.table, &manifests, iam_role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_copy_each_period_s_manifest_into_the_table() {
        let wh = Warehouse::parse("redshift://loader@cluster.example/dev", None).unwrap();
        let table = crate::warehouse::table::tests::report_table();
        let manifests = [
            (
                "2025-01".to_string(),
                "s3://bucket/lake/_warehouse/redshift/l1/a.manifest".to_string(),
            ),
            (
                "2025-02".to_string(),
                "s3://bucket/lake/_warehouse/redshift/l1/b.manifest".to_string(),
            ),
        ];
        let sql = statements(
            &wh,
            &table,
            &manifests,
            Some("arn:aws:iam::123456789012:role/dfstore-redshift"),
        );
        assert_eq!(
            sql[0],
            "CREATE TEMP TABLE dfstore_stage (fecha date, id_tienda integer, codigo_tienda varchar(256), nombre_tienda varchar(256), ciudad varchar(256), region varchar(256), formato varchar(256), num_ventas bigint, num_clientes bigint, unidades bigint, venta_bruta numeric(18,2), descuento_total numeric(18,2), venta_neta numeric(18,2), costo_total numeric(18,2), margen_bruto numeric(18,2), ticket_promedio numeric(18,2))"
        );
        assert_eq!(
            sql[1],
            "COPY dfstore_stage FROM 's3://bucket/lake/_warehouse/redshift/l1/a.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/dfstore-redshift' FORMAT AS PARQUET MANIFEST"
        );
        assert!(sql[2].starts_with(
            "INSERT INTO analytic.reporte_ventas_tienda (fecha, periodo, id_tienda, "
        ));
        assert!(sql[2].contains("SELECT fecha, '2025-01', id_tienda, "));
        assert!(sql[2].ends_with(" FROM dfstore_stage"));
        assert_eq!(sql[3], "DELETE FROM dfstore_stage");
        assert!(sql[5].contains("SELECT fecha, '2025-02', id_tienda, "));
        assert_eq!(sql.len(), 8);
        assert_eq!(sql[7], "DROP TABLE dfstore_stage");
        let default_role = statements(&wh, &table, &manifests[..1], None);
        assert!(default_role[1].contains("IAM_ROLE default"));
    }

    #[test]
    fn manifests_list_every_file_with_its_length() {
        let m = manifest(&[LakeFile {
            url: "s3://b/analytic/reporte_ventas_tienda/periodo=2025-01/part-r-00000.parquet"
                .into(),
            bytes: 1234,
        }]);
        assert_eq!(m["entries"][0]["meta"]["content_length"], 1234);
        assert_eq!(m["entries"][0]["mandatory"], true);
    }
}
