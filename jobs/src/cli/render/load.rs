//! What `dfstore load` (and `run --load`) prints: the lake version loaded,
//! and per period what the load did and the reconciliation of lake and
//! warehouse.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::warehouse::load::Action;
use crate::warehouse::sums::Sums;
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
        "{verb} {} v{}{run} into {} {} in {:.2} s (load {})",
        load.model, load.version, load.warehouse, load.table, load.seconds, load.load_id
    );
    // One measure is shown (the report's net sales, or the table's first);
    // the reconciliation covers them all.
    let shown = load
        .measures
        .iter()
        .position(|m| m == SHOWN_MEASURE)
        .unwrap_or(0);
    let name = load.measures.get(shown).map_or("", String::as_str);
    let _ = writeln!(
        out,
        "\n  {:8}  {:9}  {:>10}  {:>10}  {:>16}  {:>16}  reconciliation",
        "periodo",
        "action",
        "rows lake",
        "warehouse",
        format!("{name} lake"),
        "warehouse"
    );
    for p in &load.periods {
        let _ = writeln!(out, "{}", period_line(p, &load.measures, shown));
    }
    out
}

/// The measure a terminal shows when the table has it.
const SHOWN_MEASURE: &str = "venta_neta";

fn period_line(p: &PeriodLoad, measures: &[String], shown: usize) -> String {
    let action = action_name(p.action);
    let status = match p.lake.difference(&p.warehouse, measures) {
        None => "ok".to_string(),
        Some((column, lake, warehouse)) => format!("{column}: lake {lake}, warehouse {warehouse}"),
    };
    let sum = |s: &Sums| {
        s.sums
            .get(shown)
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    format!(
        "  {:8}  {action:9}  {:>10}  {:>10}  {:>16}  {:>16}  {status}",
        p.period,
        p.lake.rows,
        p.warehouse.rows,
        sum(&p.lake),
        sum(&p.warehouse)
    )
}

/// A load as JSON (`--format json`): money as decimal strings, never floats.
pub fn load_json(load: &LoadSummary) -> Value {
    let sums = |s: &Sums| {
        let mut object = serde_json::Map::new();
        object.insert("rows".into(), json!(s.rows));
        for (name, sum) in load.measures.iter().zip(&s.sums) {
            object.insert(name.clone(), json!(sum.to_string()));
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
                "reconciled": p.lake.difference(&p.warehouse, &load.measures).is_none(),
            })
        })
        .collect();
    json!({
        "warehouse": load.warehouse,
        "model": load.model,
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
