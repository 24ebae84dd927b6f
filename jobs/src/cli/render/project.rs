//! What `init`, `check` and `test` print.

use std::fmt::Write as _;
use std::path::Path;

use crate::lake::runs::TestOutcome;
use crate::pipeline::plan::PlannedModel;
use crate::project::Project;

/// `dfstore init`: the files written and what to do next.
pub fn render_init(dir: &Path, written: &[String]) -> String {
    let mut out = String::new();
    let dir = dir.display();
    let _ = writeln!(
        out,
        "wrote the retail project into {dir} ({} files):",
        written.len()
    );
    for path in written {
        let _ = writeln!(out, "  {path}");
    }
    let _ = writeln!(
        out,
        "\nnext: add a model as {dir}/analytic/<name>.sql, then\n  dfstore check --project {dir}\n  dfstore run --project {dir}"
    );
    out
}

/// `dfstore check`: every model in build order, what it reads and its
/// columns.
pub fn render_check(
    project: &Project,
    planned: &[PlannedModel],
    seconds: f64,
    from_lake: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "project {} ({}): {} models plan in {:.3} s against {}",
        project.name,
        project.root,
        planned.len(),
        seconds,
        if from_lake {
            "the lake's raw schemas"
        } else {
            "the source contract (the lake has no raw data)"
        }
    );
    for p in planned {
        let m = &p.model;
        let reads: Vec<String> = p.reads.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  {:40} {:21} {:>2} column(s){}{}  <- {}",
            m.table().to_string(),
            m.materialized.name().to_string(),
            p.schema.fields().len(),
            if m.tests.is_empty() {
                String::new()
            } else {
                format!(", {} test(s)", m.tests.len())
            },
            if m.contract.is_some() {
                ", contract"
            } else {
                ""
            },
            if reads.is_empty() {
                "-".to_string()
            } else {
                reads.join(", ")
            }
        );
    }
    if !project.tests.is_empty() {
        let _ = writeln!(
            out,
            "  and {} SQL test(s) under tests/",
            project.tests.len()
        );
    }
    out
}

/// `dfstore test`: each test with its failing rows.
pub fn render_tests(outcomes: &[TestOutcome]) -> String {
    let mut out = String::new();
    let failed = outcomes.iter().filter(|t| !t.passed()).count();
    let _ = writeln!(out, "{} data test(s), {failed} failing", outcomes.len());
    for t in outcomes {
        let status = match (t.passed(), t.severity.as_str()) {
            (true, _) => "pass",
            (false, "warn") => "WARN",
            (false, _) => "FAIL",
        };
        let _ = writeln!(
            out,
            "  {status:4} {}  ({} failing row(s); {})",
            t.name, t.failing_rows, t.location
        );
        for row in &t.first_failures {
            let _ = writeln!(out, "         {row}");
        }
    }
    out
}
