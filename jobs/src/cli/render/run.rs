//! The human summary of a run: rows read, written and rejected per table and
//! rule, the reconciliation and the time of each step.

use std::fmt::Write as _;

use crate::lake::runs::{Outcome, RunManifest};

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

/// Renders what `dfstore ingest` published.
pub fn render_ingest(summary: &crate::ingest::IngestSummary) -> String {
    let mut out = String::new();
    let m = &summary.manifest;
    let _ = writeln!(
        out,
        "extraction {} published in {:.2} s from {} ({})",
        m.extraido,
        summary.elapsed.as_secs_f64(),
        m.details.get("database").map(String::as_str).unwrap_or("?"),
        m.details.get("load").map(String::as_str).unwrap_or("?"),
    );
    let _ = writeln!(
        out,
        "  {:16} {:>11} {:>10} {:>8} {:>10}  {:27} checksum (PostgreSQL = Parquet)",
        "table", "rows", "MiB", "s", "rows/s", "since"
    );
    for t in &summary.tables {
        let since = t
            .since
            .map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| "full".into());
        let _ = writeln!(
            out,
            "  {:16} {:>11} {:>10.1} {:>8.2} {:>10.0}  {since:27} {}",
            t.table.to_string(),
            t.checksum.rows,
            t.bytes as f64 / (1024.0 * 1024.0),
            t.seconds,
            t.checksum.rows as f64 / t.seconds.max(1e-9),
            t.checksum.text(),
        );
    }
    out
}

/// Renders the tables `dfstore ingest --verify` checked.
pub fn render_verified(verified: &[crate::ingest::Verified]) -> String {
    let mut out = String::new();
    for v in verified {
        let content = match &v.checksum {
            Some(c) => format!("{:>11} rows  checksum {}", c.rows, c.text()),
            None if v.earlier_checksum => format!(
                "{:>11}  checksum of an earlier dfstore (row text): not recomputed",
                "-"
            ),
            None => format!("{:>11}", "-"),
        };
        let _ = writeln!(
            out,
            "ok  {}  {:16} {:>3} file(s) SHA-256  {content}",
            v.extraction,
            v.table.to_string(),
            v.files,
        );
    }
    let _ = writeln!(
        out,
        "{} table extraction(s) verified: Parquet files match their manifests",
        verified.len()
    );
    out
}

/// Renders the demo database after `source init` or `source apply-changes`.
pub fn render_source(summary: &crate::postgres::source_db::SourceSummary, what: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{what} in {:.2} s", summary.elapsed.as_secs_f64());
    let changed = match summary.day {
        Some(day) => format!("changed on {day}"),
        None => "loaded".into(),
    };
    let _ = writeln!(out, "  {:16} {:>11} {:>16}", "table", "rows", changed);
    for (table, rows, n) in &summary.tables {
        let _ = writeln!(out, "  {:16} {rows:>11} {n:>16}", table.to_string());
    }
    out
}
