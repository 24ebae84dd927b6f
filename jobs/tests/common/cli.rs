//! The `dfstore` binary as a user runs it: a fresh temporary folder per test,
//! a test key for the personal-data hash, no inherited lake setting.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The key every test run uses; tests assert it never appears in output.
pub const TEST_KEY: &str = "test-pii-key-0123456789abcdef";

/// A temporary folder holding one lake.
pub struct TestLake {
    pub dir: tempfile::TempDir,
}

impl TestLake {
    pub fn new() -> Self {
        TestLake {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The lake folder (not created until something writes to it).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    /// `dfstore ARGS… --lake <lake>`, run from the temporary folder.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = dfstore(self.dir.path());
        cmd.args(args).arg("--lake").arg(self.path());
        cmd
    }

    /// Runs `dfstore sql --format csv` and returns the lines (header first).
    pub fn csv(&self, sql: &str) -> Vec<String> {
        stdout_lines(self.cmd(&["sql", "--format", "csv", sql]).output().unwrap())
    }

    /// `dfstore ARGS… --lake <lake>` as a plain process, for tests that must
    /// watch or kill it while it runs; stdio is the caller's to set.
    pub fn std_cmd(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dfstore"));
        cmd.current_dir(self.dir.path())
            .env_remove("DFSTORE_LAKE")
            .env_remove("DFSTORE_PII_KEY_FILE")
            .env("DFSTORE_PII_KEY", TEST_KEY)
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("RUST_LOG", "warn")
            .args(args)
            .arg("--lake")
            .arg(self.path());
        cmd
    }

    /// Starts `dfstore ARGS…` on the lake and SIGKILLs it once the folder
    /// `inside` of its run's staging folder exists (`_staging/<run>/inside`),
    /// asserting that it had not ended by then and that it failed.
    pub fn kill_run_when(&self, args: &[&str], inside: &str) {
        let mut child = self
            .std_cmd(args)
            .env("RUST_LOG", "off")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let staging = self.path().join("_staging");
        loop {
            let reached = std::fs::read_dir(&staging).ok().and_then(|mut runs| {
                let run = runs.next()?.ok()?.path();
                run.join(inside).exists().then_some(())
            });
            if reached.is_some() {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before it could be killed"
            );
            std::thread::yield_now();
        }
        child.kill().unwrap();
        assert!(!child.wait().unwrap().success());
    }

    /// Generates data and runs the pipeline, asserting both succeed.
    pub fn generate_and_run(&self, scale: &str, seed: &str) {
        self.generate_and_run_with(scale, seed, &[]);
    }

    /// [`Self::generate_and_run`], the run with `run_args` too (e.g.
    /// `--scheduler URL`).
    pub fn generate_and_run_with(&self, scale: &str, seed: &str, run_args: &[&str]) {
        self.cmd(&["generate", "--scale", scale, "--seed", seed])
            .assert()
            .success();
        self.cmd(&["run"]).args(run_args).assert().success();
    }
}

/// The example project's files (examples/retail_insights), added to a
/// fresh `dfstore init` in `dir`.
pub fn example_project(dir: &Path) -> PathBuf {
    let project = dir.join("insights");
    let init = dfstore(dir)
        .args(["init", project.to_str().unwrap()])
        .output()
        .unwrap();
    let said = stdout_lines(init).join("\n");
    assert!(said.contains("dfstore_project.toml"), "{said}");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/retail_insights");
    copy_tree(&example, &project);
    project
}

/// Copies the files under `from` into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The binary with a clean environment, run in `cwd`.
pub fn dfstore(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("dfstore").unwrap();
    cmd.current_dir(cwd)
        .env_remove("DFSTORE_LAKE")
        .env_remove("DFSTORE_PII_KEY_FILE")
        .env("DFSTORE_PII_KEY", TEST_KEY)
        .env("XDG_CONFIG_HOME", cwd.join("config"))
        .env("RUST_LOG", "warn");
    cmd
}

/// The standard output of a command that must have succeeded, as lines.
pub fn stdout_lines(out: std::process::Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The one `dfstore: error:` line of a failed command's standard error,
/// asserting there is exactly one and that the test key is not in it.
pub fn one_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).to_string();
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("dfstore: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "expected one error line, got:\n{text}");
    assert!(!text.contains(TEST_KEY), "the key leaked:\n{text}");
    errors[0].to_string()
}
