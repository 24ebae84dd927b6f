//! The order a project's models run in: each after the models it reads,
//! as a story reads (a model soon after its inputs, dimensions first); a
//! cycle is an error that spells it out.

use std::collections::BTreeMap;

use crate::contract::layer::TableRef;
use crate::contract::source::Sources;
use crate::error::{Error, Result};
use crate::project::header::at;
use crate::project::model::Model;
use crate::project::resolve::line_of;

/// The models, each after the models it reads; ties in (layer, name)
/// order. A cycle is an error naming it.
pub(super) fn ordered(models: Vec<Model>, sources: &Sources) -> Result<Vec<Model>> {
    let index: BTreeMap<TableRef, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.table(), i))
        .collect();
    let deps: Vec<Vec<usize>> = models
        .iter()
        .map(|m| {
            m.reads
                .iter()
                .filter_map(|t| index.get(t).copied())
                .collect()
        })
        .collect();
    let mut placed = vec![false; models.len()];
    let mut position = vec![0; models.len()];
    let mut order = Vec::with_capacity(models.len());
    while order.len() < models.len() {
        // Of the models whose inputs are placed, the one whose last input
        // was placed first (then by source table, dimensions first, then
        // in (layer, name) order): a model follows its inputs closely, so
        // that the order reads as a story.
        let next = (0..models.len())
            .filter(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d] || d == i))
            .min_by_key(|&i| {
                let last = deps[i]
                    .iter()
                    .filter(|&&d| d != i)
                    .map(|&d| position[d])
                    .max();
                let source = models[i]
                    .source
                    .as_ref()
                    .and_then(|s| sources.position(s.name()));
                (last, source.unwrap_or(usize::MAX), models[i].table())
            });
        let Some(next) = next else {
            return Err(cycle_error(&models, &deps, &placed));
        };
        if deps[next].contains(&next) {
            let m = &models[next];
            return Err(at(
                &m.file,
                line_of(&m.sql, &m.table().to_string()),
                format!(
                    "{} reads itself; a table model cannot read its own output",
                    m.table()
                ),
            ));
        }
        placed[next] = true;
        position[next] = order.len();
        order.push(next);
    }
    let mut slots: Vec<Option<Model>> = models.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// The error for the models not placed: one cycle among them, spelled out.
fn cycle_error(models: &[Model], deps: &[Vec<usize>], placed: &[bool]) -> Error {
    let start = (0..models.len()).find(|&i| !placed[i]).unwrap_or(0);
    // Walk unplaced inputs until a model repeats: that is the cycle.
    let mut path = vec![start];
    let mut at_model = start;
    while let Some(&next) = deps[at_model].iter().find(|&&d| !placed[d]) {
        if let Some(pos) = path.iter().position(|&p| p == next) {
            path.drain(..pos);
            path.push(next);
            break;
        }
        path.push(next);
        at_model = next;
    }
    let first = &models[path[0]];
    let second = path
        .get(1)
        .map(|&i| models[i].table().to_string())
        .unwrap_or_default();
    let chain: Vec<String> = path
        .iter()
        .rev()
        .map(|&i| models[i].table().to_string())
        .collect();
    at(
        &first.file,
        line_of(&first.sql, &second),
        format!(
            "models read each other in a cycle: {}; one of them must read something else",
            chain.join(" -> ")
        ),
    )
}
