//! What `dfstore load` (and `run --load`) prints: the lake version loaded,
//! and per period what the load did and the reconciliation of lake and
//! warehouse.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::warehouse::load::Action;
use crate::warehouse::sums::{MEASURES, Sums};
use crate::warehouse::{LoadSummary, PeriodLoad};

/// Renders a load for a terminal.
pub fn render_load(load: &LoadSummary) -> String {
    let mut out = String::new();
    let run = load
        .run_id
        .as_deref()
        .map(|r| format!(" (run {r})"))
        .unwrap_or_default();
    let verb = if load.unchanged() {
        "already loaded: nothing changed,"
    } else {
        "loaded"
    };
    let _ = writeln!(
        out,
        "{verb} analytic.reporte_ventas_tienda v{}{run} into {} {} in {:.2} s (load {})",
        load.version, load.warehouse, load.table, load.seconds, load.load_id
    );
    let _ = writeln!(
        out,
        "\n  {:8}  {:9}  {:>10}  {:>10}  {:>16}  {:>16}  reconciliation",
        "periodo", "action", "rows lake", "warehouse", "venta_neta lake", "warehouse"
    );
    for p in &load.periods {
        let _ = writeln!(out, "{}", period_line(p));
    }
    out
}

fn period_line(p: &PeriodLoad) -> String {
    let action = action_name(p.action);
    let status = match p.lake.difference(&p.warehouse) {
        None => "ok".to_string(),
        Some((column, lake, warehouse)) => format!("{column}: lake {lake}, warehouse {warehouse}"),
    };
    format!(
        "  {:8}  {action:9}  {:>10}  {:>10}  {:>16}  {:>16}  {status}",
        p.period, p.lake.rows, p.warehouse.rows, p.lake.sums[2], p.warehouse.sums[2]
    )
}

/// A load as JSON (`--format json`): money as decimal strings, never floats.
pub fn load_json(load: &LoadSummary) -> Value {
    let sums = |s: &Sums| {
        let mut object = serde_json::Map::new();
        object.insert("rows".into(), json!(s.rows));
        for (name, sum) in MEASURES.iter().zip(&s.sums) {
            object.insert((*name).into(), json!(sum.to_string()));
        }
        Value::Object(object)
    };
    let periods: Vec<Value> = load
        .periods
        .iter()
        .map(|p| {
            json!({
                "period": p.period,
                "action": action_name(p.action),
                "lake": sums(&p.lake),
                "warehouse": sums(&p.warehouse),
                "reconciled": p.lake.difference(&p.warehouse).is_none(),
            })
        })
        .collect();
    json!({
        "warehouse": load.warehouse,
        "table": load.table,
        "version": load.version,
        "run_id": load.run_id,
        "load_id": load.load_id,
        "unchanged": load.unchanged(),
        "seconds": load.seconds,
        "periods": periods,
    })
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Loaded => "loaded",
        Action::Unchanged => "unchanged",
        Action::Removed => "removed",
    }
}
