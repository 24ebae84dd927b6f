//! The documentation cannot go stale: the command reference is what the
//! flags say, and every console example of the README and the book runs as
//! written, with the output the page shows.
//!
//! A console example is a ```` ```console ```` block: `$ ` starts a command,
//! `> ` continues it (a here-document, a long line), `? N` is its exit code
//! (0 when absent), and the lines after it are its output, standard output
//! and standard error together. In the output, `[..]` stands for any text
//! within a line and a line `...` for any lines (times, run ids), as in
//! trycmd. A block whose info string names a file (```` ```sql
//! file=my_project/analytic/x.sql ````) is written there before the
//! commands after it. Each page's commands run in order, through bash, in a
//! new empty folder that is also `$HOME`, with `dfstore` first on `PATH`
//! (the README's after its first set-up command, `demo`). Blocks in other
//! languages (`sh`, `text`) are shown, not run: they need a source
//! database, S3 or AWS, or run until stopped (`serve`).

// Tests may unwrap: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use dfstore_jobs::cli::Cli;
use snapbox::IntoData;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("jobs/ has a parent")
        .to_path_buf()
}

#[test]
fn the_command_reference_is_what_the_flags_say() {
    let options = clap_markdown::MarkdownOptions::new()
        .title("Every command and flag".to_string())
        .show_footer(false);
    let generated = clap_markdown::help_markdown_command_custom(&Cli::command(), &options);
    let path = root().join("docs/src/reference/cli.md");
    if std::env::var_os("DFSTORE_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the reference");
        return;
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/src/reference/cli.md differs from the flags; regenerate it with \
         `DFSTORE_BLESS=1 cargo test --release -p dfstore-jobs --test docs reference`"
    );
}

/// One command of a console block, and what the page says it prints.
#[derive(Debug)]
struct Example {
    /// Its line in the page.
    line: usize,
    command: String,
    status: i32,
    output: String,
}

/// What a page asks to be done, in order.
#[derive(Debug)]
enum Step {
    Run(Example),
    /// A file block: its path and text.
    Write(String, String),
}

/// A fenced block being read.
enum Fence {
    Console,
    File(String, String),
    Other,
}

/// The console examples and file blocks of a Markdown page, in order.
fn steps(markdown: &str) -> Vec<Step> {
    let mut found = Vec::new();
    let mut current: Option<Example> = None;
    let mut fence: Option<Fence> = None;
    for (i, line) in markdown.lines().enumerate() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            fence = match fence.take() {
                None => Some(
                    match info
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("file="))
                    {
                        Some(path) => Fence::File(path.to_string(), String::new()),
                        None if info.trim() == "console" => Fence::Console,
                        None => Fence::Other,
                    },
                ),
                Some(Fence::File(path, text)) => {
                    found.push(Step::Write(path, text));
                    None
                }
                Some(_) => {
                    found.extend(current.take().map(Step::Run));
                    None
                }
            };
            continue;
        }
        match fence.as_mut() {
            Some(Fence::File(_, text)) => {
                text.push_str(line);
                text.push('\n');
                continue;
            }
            Some(Fence::Console) => {}
            _ => continue,
        }
        if let Some(command) = line.strip_prefix("$ ") {
            found.extend(current.take().map(Step::Run));
            current = Some(Example {
                line: i + 1,
                command: command.to_string(),
                status: 0,
                output: String::new(),
            });
            continue;
        }
        let Some(example) = current.as_mut() else {
            panic!("line {}: a console block starts with `$ `", i + 1);
        };
        let continued = line.strip_prefix("> ").or((line == ">").then_some(""));
        match (continued, line.strip_prefix("? ")) {
            (Some(more), _) if example.output.is_empty() => {
                example.command.push('\n');
                example.command.push_str(more);
            }
            (_, Some(code)) => {
                example.status = code.trim().parse().expect("`? N` gives a number");
            }
            _ => {
                example.output.push_str(line);
                example.output.push('\n');
            }
        }
    }
    found
}

/// Runs `command` through bash in `dir`: its exit code and output.
fn shell(dir: &Path, command: &str) -> (i32, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_dfstore"))
        .parent()
        .expect("the binary's folder")
        .to_path_buf();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .env("HOME", dir)
        .env("LANG", "C.UTF-8")
        .env("RUST_LOG", "error")
        .output()
        .expect("run bash");
    let output = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.code().unwrap_or(-1), output)
}

/// Runs a page's steps in a new folder, after `prelude`; returns what
/// differed from the page.
fn run_page(page: &str, prelude: Option<&str>) -> Vec<String> {
    let markdown = std::fs::read_to_string(root().join(page)).expect("read the page");
    let dir = tempfile::tempdir().expect("a temporary folder");
    if let Some(command) = prelude {
        let (status, output) = shell(dir.path(), command);
        assert_eq!(status, 0, "{page}: `{command}` failed:\n{output}");
    }
    let mut failures = Vec::new();
    for step in steps(&markdown) {
        let example = match step {
            Step::Write(path, text) => {
                let path = dir.path().join(path);
                std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
                std::fs::write(&path, text).expect("write the page's file");
                continue;
            }
            Step::Run(example) => example,
        };
        let (status, actual) = shell(dir.path(), &example.command);
        let label = format!("{page}:{} `{}`", example.line, example.command);
        if status != example.status {
            failures.push(format!(
                "{label}: exit code {status}, the page says {}\n{actual}",
                example.status
            ));
            continue;
        }
        let compared = snapbox::Assert::new().try_eq(
            Some(&label),
            actual.into_data(),
            example.output.clone().into_data(),
        );
        if let Err(e) = compared {
            failures.push(e.to_string());
        }
    }
    failures
}

#[test]
fn the_console_examples_print_what_the_pages_show() {
    // The README's tour follows its first set-up command; the projects
    // page, a reader who has the key that command created.
    let key =
        "mkdir -p .config/dfstore && head -c 32 /dev/urandom | base64 > .config/dfstore/pii.key";
    let pages = [
        ("README.md", Some("dfstore demo --quiet")),
        ("docs/src/getting-started.md", None),
        ("docs/src/projects.md", Some(key)),
    ];
    let mut failures = Vec::new();
    for (page, prelude) in pages {
        let markdown = std::fs::read_to_string(root().join(page)).expect("read the page");
        let commands = steps(&markdown)
            .iter()
            .filter(|s| matches!(s, Step::Run(_)))
            .count();
        assert!(commands > 0, "{page} has no console example");
        failures.extend(run_page(page, prelude));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn pages_are_read_as_documented() {
    let page = "text\n```console\n$ echo a \\\n> b\na b\n$ false\n? 1\n```\n\
                ```sh\n$ not run\n```\n```sql file=m/x.sql\nSELECT 1\n```\n";
    let found = steps(page);
    assert_eq!(found.len(), 3, "{found:?}");
    let Step::Run(first) = &found[0] else {
        panic!("{found:?}")
    };
    assert_eq!(first.command, "echo a \\\nb");
    assert_eq!(first.output, "a b\n");
    let Step::Run(second) = &found[1] else {
        panic!("{found:?}")
    };
    assert_eq!((second.line, second.status), (6, 1));
    let Step::Write(path, text) = &found[2] else {
        panic!("{found:?}")
    };
    assert_eq!((path.as_str(), text.as_str()), ("m/x.sql", "SELECT 1\n"));
}
