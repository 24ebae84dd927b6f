//! The layering rule of `src/lib.rs`: a module imports only from its own
//! layer or the layers below it. The layers are read from the table in the
//! crate documentation, so the rule and its check cannot drift apart; every
//! `crate::<module>` path in the sources (imports and qualified names
//! alike) is checked against it. Also: no source file grows past the size a
//! reader can hold, and every top-level module has a layer.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Module name → layer number, from the `//! | N | [`a`], [`b`] | … |` rows.
fn layers() -> BTreeMap<String, u32> {
    let lib = std::fs::read_to_string(format!("{SRC}/lib.rs")).unwrap();
    let mut out = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("//! | ")) {
        let mut cells = line.split('|');
        let (Some(rank), Some(modules)) = (cells.next(), cells.next()) else {
            continue;
        };
        let Ok(rank) = rank.trim().parse::<u32>() else {
            continue;
        };
        for module in modules.split(',') {
            let name = module
                .trim()
                .trim_start_matches("[`")
                .trim_end_matches("`]");
            out.insert(name.to_string(), rank);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`None` for `lib.rs` and
/// the binary, which sit above every layer).
fn module_of(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(SRC).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "bin" => None,
        other => Some(other.trim_end_matches(".rs").to_string()),
    }
}

/// Every top-level module named by a `crate::` path in `text`, outside
/// comments.
fn named_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    files.sort();
    files
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let layers = layers();
    assert!(
        layers.len() >= 10,
        "the layer table was not found: {layers:?}"
    );
    let mut wrong = Vec::new();
    for file in sources() {
        let Some(module) = module_of(&file) else {
            continue;
        };
        let own = *layers
            .get(&module)
            .unwrap_or_else(|| panic!("module `{module}` has no layer in src/lib.rs"));
        let text = std::fs::read_to_string(&file).unwrap();
        for named in named_modules(&text) {
            let Some(&theirs) = layers.get(&named) else {
                continue;
            };
            if theirs > own {
                wrong.push(format!(
                    "{} (layer {own}) names crate::{named} (layer {theirs})",
                    file.strip_prefix(SRC).unwrap().display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports from a higher layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_finds_an_upward_import() {
    let layers = layers();
    let named = named_modules("use crate::cli::args::RunArgs; // crate::pipeline\n");
    assert_eq!(named, ["cli"]);
    assert!(layers["cli"] > layers["lake"]);
}

#[test]
fn no_source_file_is_too_long_to_read() {
    // Tests inline in a file do not count against it.
    let mut long = Vec::new();
    for file in sources() {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or(&text);
        let lines = code.lines().count();
        if lines > 500 {
            long.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "split these by concern:\n{}",
        long.join("\n")
    );
}
