//! The human summary of a run: rows read, written and rejected per table and
//! rule, the reconciliation and the time of each step.

use std::fmt::Write as _;

use crate::manifest::{Outcome, RunManifest};

/// Renders a run manifest for a terminal.
pub fn render(run: &RunManifest) -> String {
    let mut out = String::new();
    let secs = (run.finished_at - run.started_at).num_milliseconds() as f64 / 1000.0;
    let outcome = match run.outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed => "FAILED",
    };
    let _ = writeln!(
        out,
        "run {} {outcome} in {secs:.2} s ({})",
        run.run_id, run.engine
    );
    if let Some(p) = &run.period {
        let _ = writeln!(
            out,
            "period: {p} (only this month's partitions were rewritten)"
        );
    }

    if !run.schema_drift.is_empty() {
        let _ = writeln!(
            out,
            "\nschema drift (raw columns that differ from the reference schema)"
        );
        for drift in &run.schema_drift {
            let _ = writeln!(out, "  {drift}");
        }
    }

    let _ = writeln!(out, "\nrows per source table");
    let _ = writeln!(
        out,
        "  {:16} {:>12} {:>12} {:>12} {:>12}  reconciliation",
        "table", "raw read", "deduplicated", "trusted", "rejected"
    );
    for r in &run.reconciliation {
        let read: u64 = run.inputs.iter().filter_map(|i| i.rows.get(&r.table)).sum();
        let _ = writeln!(
            out,
            "  {:16} {read:>12} {:>12} {:>12} {:>12}  {}",
            r.table,
            r.raw_dedup,
            r.trusted,
            r.rejected,
            if r.holds() { "ok" } else { "MISMATCH" }
        );
    }

    let _ = writeln!(out, "\nrejected rows per rule");
    for (table, rules) in &run.rejected {
        for (rule, n) in rules {
            let _ = writeln!(out, "  {table:16} {rule:22} {n:>10}");
        }
    }

    let _ = writeln!(out, "\nsteps");
    for s in &run.steps {
        let _ = writeln!(
            out,
            "  {:36} {:>12} rows {:>4} files {:>8.2} s",
            s.table, s.rows, s.files, s.seconds
        );
    }
    for (phase, secs) in &run.timings {
        let _ = writeln!(out, "  phase {phase:30} {secs:>33.2} s");
    }

    if !run.outputs.is_empty() {
        let _ = writeln!(out, "\npublished");
        for p in &run.outputs {
            let _ = writeln!(
                out,
                "  {:36} v{:<4} {:>12} rows, {} file(s) added, {} replaced",
                p.table.to_string(),
                p.version,
                p.rows_added,
                p.files_added,
                p.files_removed
            );
        }
    }
    out
}

/// Renders what `dfstore generate` wrote.
pub fn render_generated(generated: &crate::generate::GenerateSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "generated {} extraction(s) in {:.2} s",
        generated.extractions.len(),
        generated.elapsed.as_secs_f64()
    );
    for m in &generated.extractions {
        let tables: Vec<String> = m
            .tables
            .iter()
            .map(|(t, e)| format!("{t} {}", e.rows))
            .collect();
        let _ = writeln!(out, "  extraido={}  {}", m.extraido, tables.join(", "));
    }
    out
}
