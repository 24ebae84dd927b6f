//! The built-in retail project: the files of the repository's `sql/`
//! folder, compiled in, run when no `--project` is given and written out by
//! `dfstore init`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use crate::contract::source::{SourceTable, Sources};
use crate::error::{Error, Result};
use crate::project::resolve::ProjectFile;

/// How the built-in project's files are named in messages: the repository's
/// copy of them.
pub const ROOT: &str = "sql";

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        [$(($path, include_str!(concat!("../../../sql/", $path)))),*]
    };
}

/// Every file of the built-in project: its path inside the project and text.
pub const FILES: [(&str, &str); 16] = files![
    "dfstore_project.toml",
    "staging/tiendas.sql",
    "staging/productos.sql",
    "staging/clientes.sql",
    "staging/ventas.sql",
    "staging/detalle_ventas.sql",
    "trusted/tiendas.sql",
    "trusted/productos.sql",
    "trusted/clientes.sql",
    "trusted/ventas.sql",
    "trusted/detalle_ventas.sql",
    "rejected/ventas.sql",
    "rejected/detalle_ventas.sql",
    "analytic/reporte_ventas_tienda.sql",
    "source/schema.sql",
    "source/changes.sql",
];

/// The built-in project's files, by path.
pub fn files() -> BTreeMap<String, String> {
    FILES
        .iter()
        .map(|(path, text)| ((*path).to_string(), (*text).to_string()))
        .collect()
}

/// The built-in project's source tables: the five of spec section 1, as
/// its `dfstore_project.toml` declares them (read once; the generator asks
/// for a table's schema with every batch).
pub fn sources() -> Result<Sources> {
    static READ: OnceLock<Sources> = OnceLock::new();
    if let Some(sources) = READ.get() {
        return Ok(sources.clone());
    }
    let (path, text) = FILES[0];
    let file: ProjectFile = toml::from_str(text).map_err(|e| Error::Project {
        location: format!("{ROOT}/{path}"),
        message: e.message().to_string(),
    })?;
    let sources =
        crate::project::sources::declared(&format!("{ROOT}/{path}"), text, &file.sources)?;
    Ok(READ.get_or_init(|| sources).clone())
}

/// The built-in source table `name` (`tiendas`, `productos`, `clientes`,
/// `ventas` or `detalle_ventas`).
pub fn source(name: &str) -> Result<SourceTable> {
    let sources = sources()?;
    sources
        .find(name)
        .cloned()
        .map_err(|reason| Error::Internal {
            what: format!("the built-in project: {reason}"),
        })
}

/// Writes the built-in project into `dir` (created if missing); refuses to
/// overwrite a file that is there.
pub fn init(dir: &Path) -> Result<Vec<String>> {
    let shown = dir.display();
    let cannot = |what: String| Error::InvalidArgument {
        flag: "DIR".into(),
        reason: what,
    };
    if let Some((path, _)) = FILES.iter().find(|(path, _)| dir.join(path).exists()) {
        return Err(cannot(format!(
            "{shown}/{path} exists; give an empty or new folder (nothing was written)"
        )));
    }
    let mut written = Vec::new();
    for (path, text) in FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| cannot(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&target, text)
            .map_err(|e| cannot(format!("cannot write {}: {e}", target.display())))?;
        written.push(path.to_string());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the repository's `sql/` is compiled in, and nothing else.
    #[test]
    fn every_file_of_sql_is_built_in() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(&root).unwrap();
                    on_disk.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut built_in: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        built_in.sort();
        assert_eq!(on_disk, built_in);
    }

    #[test]
    fn init_writes_the_project_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("retail");
        let written = init(&target).unwrap();
        assert_eq!(written.len(), FILES.len());
        for (path, text) in FILES {
            assert_eq!(std::fs::read_to_string(target.join(path)).unwrap(), text);
        }
        let e = init(&target).unwrap_err().to_string();
        assert!(e.contains("dfstore_project.toml exists"), "{e}");
    }
}
