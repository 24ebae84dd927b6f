//! How the new extractions reach each model of a project, and how each
//! model they reach is rebuilt.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Mode, key_column};
use crate::contract::layer::{Layer, TableRef};
use crate::contract::period::EXTRACTION_COLUMN;
use crate::contract::source::SourceTable;
use crate::pipeline::plan::PlannedModel;
use crate::project::Model;
use crate::project::header::Materialized;

/// What changed for a model in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Change {
    /// Nothing it reads.
    Nothing,
    /// Only the `extraido` of rows extracted again unchanged (an
    /// incremental extraction's overlap): its other columns are assumed
    /// unchanged, and checked once it is built ([`Changes::verify`]).
    Extraido,
    /// Its rows.
    Rows,
}

/// How the new extractions reach each model.
pub(super) struct Impact {
    /// Per model, what changed for it.
    pub(super) change: Vec<Change>,
    /// Per model, the models it reads whose change reaches it.
    pub(super) inputs: Vec<Vec<usize>>,
    /// Per model, the raw tables it reads whose new rows reach it.
    pub(super) raw: Vec<Vec<SourceTable>>,
}

/// How the new rows of `changed` raw tables, and the unchanged rows
/// extracted again of `reextracted` ones, reach each model. A change only in
/// `extraido` reaches a model that reads that column (`planned` says which
/// columns each model reads; without it, every column is assumed read), or
/// that reads an unpublished model so changed.
pub(super) fn impact(
    models: &[Arc<Model>],
    planned: &[PlannedModel],
    (changed, reextracted): (&BTreeSet<SourceTable>, &BTreeSet<SourceTable>),
) -> Impact {
    let n = models.len();
    let mut out = Impact {
        change: vec![Change::Nothing; n],
        inputs: vec![Vec::new(); n],
        raw: vec![Vec::new(); n],
    };
    for (i, model) in models.iter().enumerate() {
        let reads_extraido = |table: &TableRef| {
            planned
                .get(i)
                .and_then(|p| p.columns.get(&table.to_string()))
                .is_none_or(|columns| columns.contains(EXTRACTION_COLUMN))
        };
        let mut change = Change::Nothing;
        for table in model.reads.iter().filter(|t| t.layer == Layer::Raw) {
            let named =
                |set: &BTreeSet<SourceTable>| set.iter().find(|s| s.name() == table.name).cloned();
            let (reached, source) = match (named(changed), named(reextracted)) {
                (Some(source), _) => (Change::Rows, source),
                (None, Some(source)) if reads_extraido(table) => (Change::Extraido, source),
                _ => continue,
            };
            change = change.max(reached);
            out.raw[i].push(source);
        }
        for d in model.reads_in(models) {
            let reached = match out.change[d] {
                Change::Nothing => continue,
                Change::Extraido
                    if models[d].is_published() && !reads_extraido(&models[d].table()) =>
                {
                    continue;
                }
                other => other,
            };
            change = change.max(reached);
            out.inputs[i].push(d);
        }
        out.change[i] = change;
    }
    out
}

/// How each affected model is rebuilt.
pub(super) fn modes(models: &[Arc<Model>], impact: &Impact) -> BTreeMap<String, Mode> {
    let mut modes: BTreeMap<String, Mode> = BTreeMap::new();
    for (i, model) in models.iter().enumerate() {
        if impact.change[i] == Change::Nothing {
            continue;
        }
        let inputs: Vec<&Arc<Model>> = impact.inputs[i].iter().map(|&d| &models[d]).collect();
        let mode_of = |m: &Model| modes.get(&m.table().to_string()).copied();
        let mode = match model.materialized {
            Materialized::IncrementalByKey => {
                let column = key_column(model).unwrap_or_default();
                let raw_ok = impact.raw[i]
                    .iter()
                    .all(|s| s.schema().column_with_name(column).is_some());
                let models_ok = inputs
                    .iter()
                    .all(|m| mode_of(m) == Some(Mode::Keys) && key_column(m) == Some(column));
                if raw_ok && models_ok {
                    Mode::Keys
                } else {
                    Mode::Whole
                }
            }
            Materialized::IncrementalByPeriod => {
                let models_ok = inputs.iter().all(|m| {
                    m.partitioned && matches!(mode_of(m), Some(Mode::Keys | Mode::Periods))
                });
                if impact.raw[i].is_empty() && models_ok {
                    Mode::Periods
                } else {
                    Mode::Whole
                }
            }
            _ => Mode::Whole,
        };
        modes.insert(model.table().to_string(), mode);
    }
    modes
}
