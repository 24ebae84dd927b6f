//! The AWS side on moto: `dfstore catalog sync-glue` registers every
//! published table in Glue with its columns, partition key and symlink
//! manifests (read back with boto3), and a rerun after a new run updates in
//! place; `dfstore nightly` on an S3 lake takes its lock with a conditional
//! write there.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use common::cli::{TestLake, one_line, stdout_lines};
use common::s3::S3Server;

#[test]
fn published_tables_are_registered_in_glue_and_a_rerun_updates_them() {
    let s3 = S3Server::start();
    s3.create_bucket("dmc-lake");
    let dir = TestLake::new();
    let lake = "s3://dmc-lake/lake";
    s3.dfstore(&dir, lake, &["generate", "--scale", "0.002", "--seed", "5"])
        .assert()
        .success();
    s3.dfstore(&dir, lake, &["run"]).assert().success();
    let sync = |s3: &S3Server| {
        stdout_lines(
            s3.dfstore(&dir, lake, &["catalog", "sync-glue", "--database", "dmc"])
                .output()
                .unwrap(),
        )
    };
    let out = sync(&s3);
    assert_eq!(
        out[0], "8 table(s) registered in Glue database dmc",
        "{out:?}"
    );
    assert!(out[2..].iter().all(|l| l.contains("created")), "{out:?}");

    let tables = s3.glue_tables("dmc");
    let names: Vec<&str> = tables
        .iter()
        .map(|t| t.split('\t').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "analytic_reporte_ventas_tienda",
            "rejected_detalle_ventas",
            "rejected_ventas",
            "trusted_clientes",
            "trusted_detalle_ventas",
            "trusted_productos",
            "trusted_tiendas",
            "trusted_ventas"
        ]
    );
    let report: Vec<&str> = tables[0].split('\t').collect();
    assert_eq!(
        report[1],
        "fecha date,id_tienda int,codigo_tienda string,nombre_tienda string,ciudad string,\
         region string,formato string,num_ventas bigint,num_clientes bigint,unidades bigint,\
         venta_bruta decimal(18,2),descuento_total decimal(18,2),venta_neta decimal(18,2),\
         costo_total decimal(18,2),margen_bruto decimal(18,2),ticket_promedio decimal(18,2)"
    );
    assert_eq!(report[2], "periodo");
    assert_eq!(
        report[3],
        "s3://dmc-lake/lake/analytic/reporte_ventas_tienda/_symlink_format_manifest/"
    );
    assert_eq!(report[4], "0");
    let months: usize = report[5].parse().unwrap();
    assert!(months >= 12, "{months} partitions");
    assert!(report[6].parse::<usize>().unwrap() >= 1, "no file listed");
    let tiendas: Vec<&str> = tables[6].split('\t').collect();
    assert_eq!(tiendas[2], "", "trusted.tiendas has no partitions");
    assert!(tiendas[6].parse::<usize>().unwrap() >= 1);

    // A month rebuilt: the rerun updates the tables, never duplicates them.
    s3.dfstore(&dir, lake, &["run", "--period", "2025-03"])
        .assert()
        .success();
    let out = sync(&s3);
    assert!(out[2..].iter().all(|l| l.contains("updated")), "{out:?}");
    let again = s3.glue_tables("dmc");
    assert_eq!(again.len(), 8);
    let report: Vec<&str> = again[0].split('\t').collect();
    assert_eq!(report[4], "1");
    assert_eq!(report[5].parse::<usize>().unwrap(), months);

    // A local lake cannot be registered.
    let out = dir
        .cmd(&["catalog", "sync-glue", "--database", "dmc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out.stderr).contains("local folder"));
}

#[test]
fn the_nightly_lock_of_an_s3_lake_is_a_conditional_write() {
    let s3 = S3Server::start();
    s3.create_bucket("dmc-lake");
    let dir = TestLake::new();
    let lake = "s3://dmc-lake/night";
    s3.dfstore(&dir, lake, &["generate", "--scale", "0.001", "--seed", "5"])
        .assert()
        .success();
    let out = stdout_lines(s3.dfstore(&dir, lake, &["nightly"]).output().unwrap());
    assert!(out[0].contains(" succeeded in "), "{out:?}");
    // A holder on another machine: the next run stops at once, naming it.
    s3.put_object(
        "dmc-lake",
        "night/_locks/nightly.json",
        r#"{"pipeline_id":"20261130T010000Z-abcdef","host":"other-host","pid":1,"since":"2026-11-30T01:00:00Z"}"#,
    );
    let out = s3.dfstore(&dir, lake, &["nightly"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("held by nightly run 20261130T010000Z-abcdef (pid 1 on other-host"),
        "{line}"
    );
}
