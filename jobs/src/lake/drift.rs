//! Schema drift: how the columns a source delivered differ from the columns
//! expected of it. In a run, each raw extraction's Parquet footers are
//! compared with the reference schema the SQL was written for
//! (the columns its project declares for it, [`crate::contract::source::SourceTable::schema`]): a column the reference lacks is
//! *additive* (the jobs never read it, so the run goes on and reports it); a
//! reference column that is missing or has another type is *breaking* (the
//! run stops before it builds or writes anything). The catalog uses the same
//! comparison between two crawls of a table.

use std::fmt;

use arrow::datatypes::{DataType, Schema};
use serde::{Deserialize, Serialize};

use crate::contract::extraction::ExtractionId;
use crate::error::Error;
use crate::lake::Lake;

/// How one column differs between an expected and a found schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ColumnChange {
    /// A column that was not expected.
    Added {
        /// The column.
        column: String,
        /// Its type.
        data_type: String,
    },
    /// An expected column that is not there.
    Removed {
        /// The column.
        column: String,
        /// The type it had, or should have.
        data_type: String,
    },
    /// A column whose type changed.
    Retyped {
        /// The column.
        column: String,
        /// The expected (or previous) type.
        old: String,
        /// The type found.
        new: String,
    },
}

impl ColumnChange {
    /// The column concerned.
    pub fn column(&self) -> &str {
        match self {
            ColumnChange::Added { column, .. }
            | ColumnChange::Removed { column, .. }
            | ColumnChange::Retyped { column, .. } => column,
        }
    }

    /// Whether readers of the expected schema break (anything but an
    /// added column).
    pub fn is_breaking(&self) -> bool {
        !matches!(self, ColumnChange::Added { .. })
    }
}

impl fmt::Display for ColumnChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnChange::Added { column, data_type } => {
                write!(f, "new column {column} ({data_type})")
            }
            ColumnChange::Removed { column, data_type } => {
                write!(f, "column {column} ({data_type}) removed")
            }
            ColumnChange::Retyped { column, old, new } => {
                write!(f, "column {column} retyped: {old} → {new}")
            }
        }
    }
}

/// The changes from `old` to `new`, each a list of `(column, type)` pairs:
/// removed and retyped columns in `old`'s order, then added ones in `new`'s.
pub fn diff_columns(old: &[(String, String)], new: &[(String, String)]) -> Vec<ColumnChange> {
    diff_by_name(old, new, |a, b| a == b, Clone::clone)
}

/// The changes from the `expected` Arrow schema to the `found` one. The
/// three Arrow string types count as one: every engine reads them alike.
pub fn diff_schemas(expected: &Schema, found: &Schema) -> Vec<ColumnChange> {
    let pairs = |s: &Schema| -> Vec<(String, DataType)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    diff_by_name(
        &pairs(expected),
        &pairs(found),
        same_type,
        ToString::to_string,
    )
}

/// Whether a found Arrow type serves where `expected` is declared.
pub fn same_type(found: &DataType, expected: &DataType) -> bool {
    let string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    found == expected || (string(found) && string(expected))
}

fn diff_by_name<T>(
    old: &[(String, T)],
    new: &[(String, T)],
    same: impl Fn(&T, &T) -> bool,
    show: impl Fn(&T) -> String,
) -> Vec<ColumnChange> {
    let mut out = Vec::new();
    for (name, old_type) in old {
        match new.iter().find(|(n, _)| n == name) {
            None => out.push(ColumnChange::Removed {
                column: name.clone(),
                data_type: show(old_type),
            }),
            Some((_, new_type)) if !same(new_type, old_type) => out.push(ColumnChange::Retyped {
                column: name.clone(),
                old: show(old_type),
                new: show(new_type),
            }),
            Some(_) => {}
        }
    }
    for (name, new_type) in new {
        if !old.iter().any(|(n, _)| n == name) {
            out.push(ColumnChange::Added {
                column: name.clone(),
                data_type: show(new_type),
            });
        }
    }
    out
}

/// A difference between a raw extraction of a source table and the table's
/// reference schema, found in one of the extraction's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDrift {
    /// The source table.
    pub table: String,
    /// The extraction.
    pub extraido: ExtractionId,
    /// The first file of the extraction where it was seen, relative to the
    /// lake root.
    pub file: String,
    /// What differs: `removed` means missing from the extraction.
    #[serde(flatten)]
    pub change: ColumnChange,
}

impl SchemaDrift {
    /// Whether the run cannot go on (the SQL reads the column).
    pub fn is_breaking(&self) -> bool {
        self.change.is_breaking()
    }

    /// The error that stops a run on this drift, naming table, column, types,
    /// extraction and file; `None` for additive drift, which does not.
    pub fn breaking_error(&self, lake: &Lake) -> Option<Error> {
        let (column, expected, found) = match &self.change {
            ColumnChange::Removed { column, data_type } => (column, data_type, None),
            ColumnChange::Retyped { column, old, new } => (column, old, Some(new.clone())),
            ColumnChange::Added { .. } => return None,
        };
        Some(Error::SchemaMismatch {
            table: self.table.clone(),
            column: column.clone(),
            expected: expected.clone(),
            found,
            extraction: self.extraido,
            file: lake.display(&lake.path(&self.file)).into(),
        })
    }
}

impl fmt::Display for SchemaDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let change = match &self.change {
            ColumnChange::Removed { column, data_type } => {
                format!("column {column} ({data_type}) missing")
            }
            other => other.to_string(),
        };
        write!(
            f,
            "raw.{}: {change} in extraction {}",
            self.table, self.extraido
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;

    fn cols(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn column_diff_finds_added_removed_and_retyped() {
        let old = cols(&[("a", "long"), ("b", "string"), ("c", "date")]);
        let new = cols(&[("a", "long"), ("c", "string"), ("d", "double")]);
        assert_eq!(
            diff_columns(&old, &new),
            vec![
                ColumnChange::Removed {
                    column: "b".into(),
                    data_type: "string".into()
                },
                ColumnChange::Retyped {
                    column: "c".into(),
                    old: "date".into(),
                    new: "string".into()
                },
                ColumnChange::Added {
                    column: "d".into(),
                    data_type: "double".into()
                },
            ]
        );
        assert!(diff_columns(&old, &old).is_empty());
    }

    #[test]
    fn reordered_columns_are_no_change() {
        let old = cols(&[("a", "long"), ("b", "string")]);
        let new = cols(&[("b", "string"), ("a", "long")]);
        assert!(diff_columns(&old, &new).is_empty());
    }

    #[test]
    fn schema_diff_against_the_reference() {
        let reference = crate::project::builtin::source("ventas").unwrap().schema();
        let mut fields: Vec<Field> = reference
            .fields()
            .iter()
            .filter(|f| f.name() != "estado")
            .map(|f| f.as_ref().clone())
            .collect();
        fields[4] = Field::new("canal", DataType::Int32, false);
        // String views read like strings: no drift.
        fields[5] = Field::new("medio_pago", DataType::Utf8View, false);
        fields.push(Field::new("promo_code", DataType::Utf8, true));
        let found = Schema::new(fields);
        let changes = diff_schemas(&reference, &found);
        assert_eq!(
            changes,
            vec![
                ColumnChange::Retyped {
                    column: "canal".into(),
                    old: "Utf8".into(),
                    new: "Int32".into()
                },
                ColumnChange::Removed {
                    column: "estado".into(),
                    data_type: "Utf8".into()
                },
                ColumnChange::Added {
                    column: "promo_code".into(),
                    data_type: "Utf8".into()
                },
            ]
        );
        let breaking: Vec<bool> = changes.iter().map(ColumnChange::is_breaking).collect();
        assert_eq!(breaking, [true, true, false]);
    }

    #[test]
    fn drift_reads_as_a_line_and_round_trips_as_json() {
        let drift = SchemaDrift {
            table: "ventas".into(),
            extraido: "20260105T060000Z".parse().unwrap(),
            file: "raw/ventas/extraido=20260105T060000Z/part-00000.parquet".into(),
            change: ColumnChange::Added {
                column: "promo_code".into(),
                data_type: "Utf8".into(),
            },
        };
        assert_eq!(
            drift.to_string(),
            "raw.ventas: new column promo_code (Utf8) in extraction 20260105T060000Z"
        );
        let json = serde_json::to_value(&drift).unwrap();
        assert_eq!(json["change"], "added");
        assert_eq!(json["column"], "promo_code");
        assert_eq!(serde_json::from_value::<SchemaDrift>(json).unwrap(), drift);
        let missing = SchemaDrift {
            change: ColumnChange::Removed {
                column: "canal".into(),
                data_type: "Utf8".into(),
            },
            ..drift
        };
        assert_eq!(
            missing.to_string(),
            "raw.ventas: column canal (Utf8) missing in extraction 20260105T060000Z"
        );
    }
}
