//! `--select` and `--exclude`, with dbt's grammar for the common cases:
//! `layer.name`, `name` (in any layer), `+name` (with its ancestors),
//! `name+` (with its descendants), `tag:x`, `schema:analytic` (a layer);
//! a comma or a space between selectors, or the flag given again, is a
//! union.

use std::collections::BTreeSet;

use crate::contract::layer::{Layer, TableRef};
use crate::error::{Error, Result};
use crate::project::{Model, Project};

/// Which models a run builds: `selected[i]` for `project.models[i]`. With
/// no `select`, every model; then those `exclude` names are taken out.
pub fn selected(project: &Project, select: &[String], exclude: &[String]) -> Result<Vec<bool>> {
    let all = || (0..project.models.len()).collect::<BTreeSet<usize>>();
    let mut chosen = if split(select).next().is_none() {
        all()
    } else {
        union(project, select, "--select")?
    };
    for i in union(project, exclude, "--exclude")? {
        chosen.remove(&i);
    }
    Ok((0..project.models.len())
        .map(|i| chosen.contains(&i))
        .collect())
}

fn split(args: &[String]) -> impl Iterator<Item = &str> {
    args.iter()
        .flat_map(|a| a.split([',', ' ']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn union(project: &Project, args: &[String], flag: &str) -> Result<BTreeSet<usize>> {
    let mut out = BTreeSet::new();
    for selector in split(args) {
        let found = one(project, selector, flag)?;
        out.extend(found);
    }
    Ok(out)
}

/// The models one selector names.
fn one(project: &Project, selector: &str, flag: &str) -> Result<BTreeSet<usize>> {
    let (ancestors, rest) = match selector.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, selector),
    };
    let (descendants, core) = match rest.strip_suffix('+') {
        Some(core) => (true, core),
        None => (false, rest),
    };
    let models = &project.models;
    let mut found: BTreeSet<usize> = if let Some(tag) = core.strip_prefix("tag:") {
        (0..models.len())
            .filter(|&i| models[i].tags.iter().any(|t| t == tag))
            .collect()
    } else if let Some(layer) = core.strip_prefix("schema:") {
        let layer: Layer = layer.parse().map_err(|e| bad(flag, selector, e))?;
        (0..models.len())
            .filter(|&i| models[i].layer == layer)
            .collect()
    } else {
        (0..models.len())
            .filter(|&i| {
                let m = &models[i];
                core == m.name || core == m.table().to_string()
            })
            .collect()
    };
    if found.is_empty() {
        let names: Vec<String> = models.iter().map(|m| m.table().to_string()).collect();
        return Err(bad(
            flag,
            selector,
            format!("it matches no model; the project has {}", names.join(", ")),
        ));
    }
    let reads: Vec<Vec<usize>> = models.iter().map(|m| m.reads_in(models)).collect();
    if ancestors {
        let mut stack: Vec<usize> = found.iter().copied().collect();
        while let Some(i) = stack.pop() {
            for &d in &reads[i] {
                if found.insert(d) {
                    stack.push(d);
                }
            }
        }
    }
    if descendants {
        // Models come after what they read: one pass in order finds them.
        let seeds = found.clone();
        let mut below: BTreeSet<usize> = seeds;
        for (i, read) in reads.iter().enumerate() {
            if read.iter().any(|d| below.contains(d)) {
                below.insert(i);
            }
        }
        found.extend(below);
    }
    Ok(found)
}

fn bad(flag: &str, selector: &str, why: String) -> Error {
    Error::InvalidArgument {
        flag: flag.into(),
        reason: format!(
            "`{selector}`: {why} (selectors: layer.name, name, +name, name+, tag:x, schema:layer)"
        ),
    }
}

/// What a run of the `selected` models builds and reads: the selected
/// models, with the unpublished models they read (staging, views and
/// ephemeral models are never read at a published version) and theirs,
/// in order; and the published tables they read that it does not build,
/// which it reads at their last published version.
pub fn closure(
    project: &Project,
    selected: &[bool],
) -> (Vec<std::sync::Arc<Model>>, Vec<TableRef>) {
    let models = &project.models;
    let mut build = selected.to_vec();
    // Models come after what they read: walking backwards, a model's
    // inputs are reached after it.
    for i in (0..models.len()).rev() {
        if !build[i] {
            continue;
        }
        for d in models[i].reads_in(models) {
            if !models[d].is_published() {
                build[d] = true;
            }
        }
    }
    let mut published_inputs = Vec::new();
    for (_, model) in models.iter().enumerate().filter(|(i, _)| build[*i]) {
        for d in model.reads_in(models) {
            let table = models[d].table();
            if !build[d] && !published_inputs.contains(&table) {
                published_inputs.push(table);
            }
        }
    }
    let to_build = models
        .iter()
        .zip(&build)
        .filter(|(_, b)| **b)
        .map(|(m, _)| std::sync::Arc::clone(m))
        .collect();
    (to_build, published_inputs)
}
