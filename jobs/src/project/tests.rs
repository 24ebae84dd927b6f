use std::collections::BTreeMap;

use super::*;
use crate::contract::layer::Layer;
use crate::contract::source::SourceTable;
use crate::project::header::Materialized;

/// A project file declaring `raw.ventas`, then `more`.
fn project_file(more: &str) -> String {
    format!(
        r#"name = "p"
[vars]
min = 2

[[sources]]
name = "ventas"
schema = "tienda"
primary_key = ["id_venta"]
watermark = "cambiado"
columns = ["id_venta bigint NOT NULL", "id_tienda integer", "cambiado timestamptz NOT NULL"]
{more}"#
    )
}

fn project(files: &[(&str, &str)]) -> Result<Project> {
    let mut all: BTreeMap<String, String> = BTreeMap::new();
    all.insert("dfstore_project.toml".into(), project_file(""));
    for (path, text) in files {
        all.insert((*path).to_string(), (*text).to_string());
    }
    Project::from_files("proj", &all)
}

fn error(files: &[(&str, &str)]) -> String {
    project(files).unwrap_err().to_string()
}

#[test]
fn the_builtin_project_has_the_retail_models_in_order() {
    let p = Project::builtin().unwrap();
    assert_eq!(p.name, "retail");
    assert_eq!(p.models.len(), 13);
    for (i, m) in p.models.iter().enumerate() {
        for d in m.reads_in(&p.models) {
            assert!(
                d < i,
                "{} reads {}, which runs later",
                m.file,
                p.models[d].table()
            );
        }
    }
    let published: Vec<String> = p
        .published_tables()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(published.len(), 8);
    assert!(published.contains(&"analytic.reporte_ventas_tienda".to_string()));
    let report = p
        .model(&"analytic.reporte_ventas_tienda".parse().unwrap())
        .unwrap();
    assert!(report.by_period && report.partitioned);
    assert_eq!(report.day_column.as_deref(), Some("fecha"));
    assert_eq!(report.file, "sql/analytic/reporte_ventas_tienda.sql");
    let lines = p.model(&"staging.detalle_ventas".parse().unwrap()).unwrap();
    assert_eq!(lines.by_key.as_deref(), Some("id_venta"));
    assert_eq!(
        lines.source.as_ref().map(SourceTable::name),
        Some("detalle_ventas")
    );
    let clientes = p.model(&"staging.clientes".parse().unwrap()).unwrap();
    assert_eq!(clientes.cluster_key.as_deref(), Some("id_cliente"));
    // Every trusted and rejected model reconciles against its source.
    for m in p
        .models
        .iter()
        .filter(|m| matches!(m.layer, Layer::Trusted | Layer::Rejected))
    {
        assert_eq!(
            m.source.as_ref().map(SourceTable::name),
            Some(m.name.as_str()),
            "{}",
            m.file
        );
    }
}

#[test]
fn models_built_by_period_read_partitioned_models() {
    let p = Project::builtin().unwrap();
    for model in p.models.iter().filter(|m| m.by_period) {
        assert!(model.partitioned, "{} is not partitioned", model.file);
        assert!(
            model
                .reads_in(&p.models)
                .iter()
                .any(|&d| p.models[d].partitioned),
            "{} reads no partitioned model to take its months from",
            model.file
        );
    }
}

#[test]
fn dependencies_are_the_tables_the_sql_reads() {
    let p = Project::builtin().unwrap();
    let reads = |t: &str| {
        let m = p.model(&t.parse().unwrap()).unwrap();
        let mut tables: Vec<String> = m
            .reads_in(&p.models)
            .into_iter()
            .map(|d| p.models[d].table().to_string())
            .collect();
        tables.sort();
        tables
    };
    // raw.* and the CTEs (`repeated`, `latest`) are no models.
    assert_eq!(reads("staging.ventas"), ["trusted.tiendas"]);
    assert_eq!(reads("staging.tiendas"), Vec::<String>::new());
    assert_eq!(reads("trusted.ventas"), ["staging.ventas"]);
    assert_eq!(reads("rejected.detalle_ventas"), ["staging.detalle_ventas"]);
    assert_eq!(
        reads("staging.detalle_ventas"),
        ["rejected.ventas", "trusted.productos", "trusted.ventas"]
    );
    let report = reads("analytic.reporte_ventas_tienda");
    assert!(
        report.contains(&"trusted.detalle_ventas".to_string()),
        "{report:?}"
    );
    assert!(
        report.iter().all(|t| t.starts_with("trusted.")),
        "{report:?}"
    );
}

#[test]
fn a_user_project_resolves_its_models_and_tests() {
    let p = project(&[
        (
            "analytic/by_store.sql",
            "/* dfstore\nmaterialized = \"view\"\ntags = [\"daily\"]\n*/\nSELECT id_tienda, COUNT(*) AS n FROM trusted.base GROUP BY id_tienda HAVING COUNT(*) >= $min",
        ),
        (
            "trusted/base.sql",
            "/* dfstore\nunique_key = [\"id_venta\"]\n[[tests]]\nnot_null = [\"id_venta\", \"id_tienda\"]\n[[tests]]\nunique = [\"id_venta\"]\nseverity = \"warn\"\n[contract.columns]\nid_venta = \"BIGINT NOT NULL\"\n*/\nSELECT id_venta, id_tienda FROM raw.ventas",
        ),
        ("tests/positive.sql", "SELECT * FROM trusted.base WHERE id_venta < 0"),
        ("source/schema.sql", "this is no model"),
    ])
    .unwrap();
    let names: Vec<String> = p.models.iter().map(|m| m.table().to_string()).collect();
    assert_eq!(names, ["trusted.base", "analytic.by_store"]);
    assert_eq!(p.models[1].materialized, Materialized::View);
    assert_eq!(p.published_tables().len(), 1);
    let base = &p.models[0];
    assert_eq!(base.tests.len(), 3);
    assert_eq!(base.tests[0].location, "proj/trusted/base.sql:3");
    assert_eq!(base.tests[2].location, "proj/trusted/base.sql:5");
    let contract = base.contract.as_ref().unwrap();
    assert!(contract.columns[0].not_null);
    assert_eq!(p.tests.len(), 1);
    assert_eq!(p.tests[0].name, "tests/positive");
}

#[test]
fn bad_projects_name_the_file_and_line() {
    let e = error(&[(
        "analytic/a.sql",
        "/* dfstore\nmaterialised = \"table\"\n*/\nSELECT 1",
    )]);
    assert!(
        e.starts_with("proj/analytic/a.sql:2: unknown field `materialised`"),
        "{e}"
    );

    let e = error(&[(
        "analytic/a.sql",
        "/* dfstore\npartition_by = \"fecha\"\n*/\nSELECT 1",
    )]);
    assert!(
        e.starts_with("proj/analytic/a.sql:2: tables are partitioned by `periodo` only"),
        "{e}"
    );

    let e = error(&[
        ("analytic/a.sql", "SELECT * FROM\n  analytic.b"),
        ("analytic/b.sql", "SELECT * FROM analytic.a"),
    ]);
    assert!(e.contains("models read each other in a cycle"), "{e}");
    assert!(e.starts_with("proj/analytic/"), "{e}");

    let e = error(&[("analytic/a.sql", "SELECT 1\nFROM trusted.nope")]);
    assert!(
        e.starts_with("proj/analytic/a.sql:2: `trusted.nope` is neither a model of the project nor a raw table"),
        "{e}"
    );

    let e = error(&[(
        "analytic/a.sql",
        "SELECT *\nFROM raw.ventas\nWHERE x > $nope",
    )]);
    assert!(
        e.starts_with("proj/analytic/a.sql:3: `$nope` is no variable"),
        "{e}"
    );

    let e = error(&[("marts/a.sql", "SELECT 1")]);
    assert!(
        e.starts_with("proj/marts/a.sql:1: `marts` is not a layer"),
        "{e}"
    );

    let e = error(&[("analytic/a.sql", "SELECT FROM WHERE (")]);
    assert!(e.starts_with("proj/analytic/a.sql:1: not valid SQL"), "{e}");

    let e = error(&[("analytic/a.sql", "SELECT * FROM ventas")]);
    assert!(e.contains("table `ventas` has no layer"), "{e}");

    let mut files = BTreeMap::new();
    files.insert("dfstore_project.toml".to_string(), "name = \n".to_string());
    let e = Project::from_files("proj", &files).unwrap_err().to_string();
    assert!(e.starts_with("proj/dfstore_project.toml:1:"), "{e}");

    let e = Project::from_files("proj", &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no dfstore_project.toml here"), "{e}");
}

#[test]
fn selection_follows_dbt() {
    let p = Project::builtin().unwrap();
    let names = |select: &[&str], exclude: &[&str]| {
        let s: Vec<String> = select.iter().map(|s| s.to_string()).collect();
        let x: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        let chosen = select::selected(&p, &s, &x).unwrap();
        let mut out: Vec<String> = p
            .models
            .iter()
            .zip(chosen)
            .filter(|(_, c)| *c)
            .map(|(m, _)| m.table().to_string())
            .collect();
        out.sort();
        out
    };
    assert_eq!(names(&[], &[]).len(), 13);
    assert_eq!(
        names(&["schema:analytic"], &[]),
        ["analytic.reporte_ventas_tienda"]
    );
    assert_eq!(
        names(&["tiendas"], &[]),
        ["staging.tiendas", "trusted.tiendas"]
    );
    assert_eq!(
        names(&["trusted.tiendas,rejected.ventas"], &[]),
        ["rejected.ventas", "trusted.tiendas"]
    );
    let up = names(&["+analytic.reporte_ventas_tienda"], &[]);
    assert!(up.contains(&"staging.detalle_ventas".to_string()));
    assert!(!up.contains(&"rejected.detalle_ventas".to_string()));
    let down = names(&["trusted.productos+"], &[]);
    assert!(down.contains(&"analytic.reporte_ventas_tienda".to_string()));
    assert!(!down.contains(&"trusted.tiendas".to_string()));
    assert_eq!(
        names(
            &[],
            &["schema:staging", "schema:trusted", "schema:rejected"]
        ),
        ["analytic.reporte_ventas_tienda"]
    );
    let e = select::selected(&p, &["nope".into()], &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--select") && e.contains("`nope`: it matches no model"),
        "{e}"
    );
}

#[test]
fn variables_bind_as_parameters() {
    let p = project(&[("analytic/a.sql", "SELECT * FROM raw.ventas WHERE x > $min")])
        .unwrap()
        .with_vars(&[("min".into(), "7".into())])
        .unwrap();
    let Some(datafusion::common::ParamValues::Map(m)) = p.vars.params_for(&p.models[0].sql) else {
        panic!("no parameters");
    };
    assert_eq!(
        m["min"].value,
        datafusion::scalar::ScalarValue::Int64(Some(7))
    );
}

#[test]
fn a_project_declares_its_sources_and_a_bad_declaration_names_its_line() {
    let p = project(&[]).unwrap();
    let ventas = p.sources.get("ventas").unwrap();
    assert_eq!(ventas.qualified(), "tienda.ventas");
    assert_eq!(ventas.watermark(), "cambiado");
    assert_eq!(ventas.schema().fields().len(), 3);

    let with = |more: &str| {
        let mut all = BTreeMap::new();
        all.insert("dfstore_project.toml".to_string(), project_file(more));
        Project::from_files("proj", &all).unwrap_err().to_string()
    };
    let twice = with(
        "[[sources]]\nname = \"ventas\"\nschema = \"x\"\nprimary_key = [\"k\"]\nwatermark = \"t\"\ncolumns = [\"k bigint NOT NULL\", \"t timestamptz\"]\n",
    );
    assert!(twice.contains("proj/dfstore_project.toml:11"), "{twice}");
    assert!(twice.contains("`ventas` is declared twice"), "{twice}");
    let no_key = with(
        "[[sources]]\nname = \"devoluciones\"\nschema = \"x\"\nprimary_key = [\"id\"]\nwatermark = \"t\"\ncolumns = [\"t timestamptz\"]\n",
    );
    assert!(no_key.contains("proj/dfstore_project.toml:11"), "{no_key}");
    assert!(no_key.contains("primary key column `id`"), "{no_key}");
    let unknown = with("[[sources]]\nname = \"x\"\ncolumnas = []\n");
    assert!(unknown.contains("columnas"), "{unknown}");

    // A model reading a raw table the project does not declare.
    let e = error(&[("trusted/t.sql", "SELECT * FROM raw.devoluciones")]);
    assert!(e.contains("proj/trusted/t.sql:1"), "{e}");
    assert!(
        e.contains("declare `devoluciones` under [[sources]]"),
        "{e}"
    );
    // A header naming a source the project does not declare.
    let e = error(&[(
        "trusted/t.sql",
        "/* dfstore\nsource = \"devoluciones\"\n*/\nSELECT * FROM raw.ventas",
    )]);
    assert!(e.contains("the project declares ventas"), "{e}");
}

#[test]
fn a_model_loaded_into_the_warehouse_declares_what_its_table_needs() {
    let e = error(&[(
        "analytic/a.sql",
        "/* dfstore\nunique_key = [\"id_venta\"]\nwarehouse = true\n*/\nSELECT id_venta FROM raw.ventas",
    )]);
    assert!(e.contains("proj/analytic/a.sql:3"), "{e}");
    assert!(e.contains("partition_by = \"periodo\""), "{e}");
    let p = Project::builtin().unwrap();
    let loaded: Vec<String> = p
        .published()
        .filter(|m| m.warehouse)
        .map(|m| m.table().to_string())
        .collect();
    assert_eq!(loaded, ["analytic.reporte_ventas_tienda"]);
}
