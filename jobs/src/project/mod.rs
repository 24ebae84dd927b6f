//! A dfstore project: a folder (local, `file://` or `s3://`) holding
//! `dfstore_project.toml` and one SQL file per model, `<layer>/<name>.sql`
//! for the table `layer.name`, configured by a TOML comment at its top;
//! SQL data tests under `tests/`. Found at run time, not compiled in; the
//! built-in retail project (the repository's `sql/`) is the default.

/// The built-in retail project, and `dfstore init`.
pub mod builtin;
/// A model's header, checked.
mod config;
/// The order models run in.
mod graph;
/// A model's configuration comment.
pub mod header;
/// One model.
pub mod model;
/// Data tests and contracts.
pub mod quality;
/// From files to ordered, checked models.
pub mod resolve;
/// `--select` and `--exclude`.
pub mod select;
/// `[[sources]]`.
pub mod sources;
/// `--var` and `[vars]`.
pub mod vars;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use dfstore_core::{LakeUrl, S3Settings};

use crate::contract::layer::TableRef;
use crate::contract::source::Sources;
use crate::error::{Error, Result};
use crate::lake::Lake;
pub use model::Model;
use quality::DataTest;
use vars::Vars;

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Its name (`dfstore_project.toml`'s `name`).
    pub name: String,
    /// Where it is, as the user named it (`sql` for the built-in one).
    pub root: String,
    /// Every model, each after the models it reads.
    pub models: Vec<Arc<Model>>,
    /// The SQL tests under `tests/`.
    pub tests: Vec<DataTest>,
    /// The variables, with their values for this run.
    pub vars: Vars,
    /// The source tables it extracts into raw.
    pub sources: Sources,
}

impl Project {
    /// The built-in retail project.
    pub fn builtin() -> Result<Self> {
        Self::from_files(builtin::ROOT, &builtin::files())
    }

    /// The project at `location` (a folder, `file://…` or `s3://…`), or the
    /// built-in one when `None`.
    pub async fn open(location: Option<&str>, s3: &S3Settings) -> Result<Self> {
        match location {
            None => Self::builtin(),
            Some(location) => Self::from_files(location, &read_files(location, s3).await?),
        }
    }

    /// The project of `files` (path inside it → text); `root` names it.
    pub fn from_files(root: &str, files: &BTreeMap<String, String>) -> Result<Self> {
        let resolved = resolve::resolve(root, files)?;
        Ok(Project {
            name: resolved.file.name,
            root: root.to_string(),
            models: resolved.models,
            tests: resolved.tests,
            vars: resolved.vars,
            sources: resolved.sources,
        })
    }

    /// The same project with `--var` values.
    pub fn with_vars(mut self, overrides: &[(String, String)]) -> Result<Self> {
        self.vars = self.vars.with_overrides(overrides)?;
        Ok(self)
    }

    /// The model of `table`.
    pub fn model(&self, table: &TableRef) -> Option<&Arc<Model>> {
        self.models.iter().find(|m| &m.table() == table)
    }

    /// The models a run publishes as Delta tables.
    pub fn published(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.models.iter().filter(|m| m.is_published())
    }

    /// Every table a run publishes, in order.
    pub fn published_tables(&self) -> Vec<TableRef> {
        self.published().map(|m| m.table()).collect()
    }
}

/// Every file of the project at `location`, by its path inside it.
async fn read_files(location: &str, s3: &S3Settings) -> Result<BTreeMap<String, String>> {
    let url = LakeUrl::parse(location)?;
    if let Some(dir) = url.local_path() {
        return read_local(location, &dir);
    }
    let store = Lake::open(url, s3)?;
    let mut files = BTreeMap::new();
    for meta in store.list("").await? {
        let path = store.relative(&meta.location).to_string();
        if path.ends_with(".sql") || path == resolve::PROJECT_FILE {
            let text = store.get_text(&path).await?.unwrap_or_default();
            files.insert(path, text);
        }
    }
    Ok(files)
}

/// The project files under the local folder `dir`.
fn read_local(location: &str, dir: &Path) -> Result<BTreeMap<String, String>> {
    let unreadable = |path: &Path, e: std::io::Error| Error::Project {
        location: path.display().to_string(),
        message: format!("cannot read the project: {e}; check --project {location}"),
    };
    if !dir.is_dir() {
        return Err(Error::Project {
            location: location.to_string(),
            message: "no such folder; pass --project DIR with a project folder (`dfstore init DIR` writes one)".into(),
        });
    }
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| unreadable(&folder, e))?;
        for entry in entries {
            let path = entry.map_err(|e| unreadable(&folder, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(dir) else {
                continue;
            };
            let relative = relative.to_string_lossy().replace('\\', "/");
            if relative.ends_with(".sql") || relative == resolve::PROJECT_FILE {
                let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path, e))?;
                files.insert(relative, text);
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
