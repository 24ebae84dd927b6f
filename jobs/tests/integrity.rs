//! Integrity from the first byte: every raw file carries the SHA-256 it was
//! written with, and a file changed afterwards — even in a way Parquet still
//! decodes — stops `run` (and `ingest --verify`) with its name, leaving the
//! published tables as they were.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};

use common::cli::{TestLake, one_line, stdout_lines};

const REPORT: &str = "SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda";

/// The Parquet files of `table` in the first extraction, largest first.
fn raw_files(lake: &TestLake, table: &str) -> Vec<PathBuf> {
    let dir = lake
        .path()
        .join(format!("raw/{table}/extraido=20260102T060000Z"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(std::fs::metadata(f).unwrap().len()));
    files
}

/// Overwrites 7 bytes in the middle of `file` (inside a column chunk).
fn overwrite_middle(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() / 2;
    for (i, b) in bytes[at..at + 7].iter_mut().enumerate() {
        *b ^= 0x5A ^ i as u8;
    }
    std::fs::write(file, bytes).unwrap();
}

fn assert_refused(lake: &TestLake, args: &[&str], file: &Path, report: &[String]) {
    let out = lake.cmd(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    let line = one_line(&out.stderr);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(line.contains(name), "{line}");
    assert!(line.contains("changed after it was extracted"), "{line}");
    assert_eq!(lake.csv(REPORT), report, "the published report changed");
}

#[test]
fn a_raw_file_changed_after_extraction_is_refused_by_name() {
    let lake = TestLake::new();
    lake.generate_and_run("0.01", "11");
    let report = lake.csv(REPORT);

    // A generated lake verifies: every table of both extractions.
    let verified = stdout_lines(lake.cmd(&["ingest", "--verify"]).output().unwrap());
    assert_eq!(
        verified.last().unwrap(),
        "10 table extraction(s) verified: Parquet files match their manifests"
    );

    // Seven bytes inside a column chunk of the lines.
    let lines = raw_files(&lake, "detalle_ventas").remove(0);
    let original = std::fs::read(&lines).unwrap();
    overwrite_middle(&lines);
    assert_refused(&lake, &["run"], &lines, &report);
    assert_refused(&lake, &["ingest", "--verify"], &lines, &report);
    let runs = stdout_lines(lake.cmd(&["runs"]).output().unwrap());
    assert!(runs.last().unwrap().contains("failed"), "{runs:?}");

    // Restored, the run succeeds again; a truncated header file is refused.
    std::fs::write(&lines, original).unwrap();
    lake.cmd(&["run"]).assert().success();
    let report = lake.csv(REPORT);
    let headers = raw_files(&lake, "ventas").remove(0);
    let bytes = std::fs::read(&headers).unwrap();
    std::fs::write(&headers, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(&lake, &["run"], &headers, &report);
}
