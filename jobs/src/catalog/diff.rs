//! What changed between two crawls: tables added and removed, columns added,
//! removed and retyped, partitions added and removed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::document::{CatalogTable, Crawl};
use crate::contract::layer::TableRef;
use crate::lake::drift::{ColumnChange, diff_columns};

/// One change to one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableChange {
    /// The table.
    pub table: TableRef,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
}

/// What changed in a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The table appeared.
    TableAdded,
    /// The table disappeared.
    TableRemoved,
    /// A column appeared.
    ColumnAdded {
        /// The column.
        column: String,
        /// Its type.
        data_type: String,
    },
    /// A column disappeared.
    ColumnRemoved {
        /// The column.
        column: String,
        /// The type it had.
        data_type: String,
    },
    /// A column's type changed.
    ColumnRetyped {
        /// The column.
        column: String,
        /// The previous type.
        old: String,
        /// The new type.
        new: String,
    },
    /// A partition appeared.
    PartitionAdded {
        /// `key=value`.
        partition: String,
    },
    /// A partition disappeared.
    PartitionRemoved {
        /// `key=value`.
        partition: String,
    },
}

impl From<ColumnChange> for Change {
    fn from(c: ColumnChange) -> Self {
        match c {
            ColumnChange::Added { column, data_type } => Change::ColumnAdded { column, data_type },
            ColumnChange::Removed { column, data_type } => {
                Change::ColumnRemoved { column, data_type }
            }
            ColumnChange::Retyped { column, old, new } => {
                Change::ColumnRetyped { column, old, new }
            }
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::TableAdded => f.write_str("new table"),
            Change::TableRemoved => f.write_str("table removed"),
            Change::ColumnAdded { column, data_type } => {
                write!(f, "new column {column} ({data_type})")
            }
            Change::ColumnRemoved { column, data_type } => {
                write!(f, "column {column} ({data_type}) removed")
            }
            Change::ColumnRetyped { column, old, new } => {
                write!(f, "column {column} retyped: {old} → {new}")
            }
            Change::PartitionAdded { partition } => write!(f, "new partition {partition}"),
            Change::PartitionRemoved { partition } => write!(f, "partition {partition} removed"),
        }
    }
}

/// The changes from crawl `old` to the tables of a new crawl, table by table
/// in the new crawl's order, removed tables last.
pub fn diff(old: &Crawl, new: &[CatalogTable]) -> Vec<TableChange> {
    let mut out = Vec::new();
    let mut push = |table: &TableRef, change: Change| {
        out.push(TableChange {
            table: table.clone(),
            change,
        })
    };
    for table in new {
        let Some(before) = old.table(&table.table) else {
            push(&table.table, Change::TableAdded);
            continue;
        };
        for c in diff_columns(&before.column_types(), &table.column_types()) {
            push(&table.table, c.into());
        }
        let names = |t: &CatalogTable| -> Vec<String> {
            t.partitions
                .iter()
                .map(|p| partition_name(t, &p.value))
                .collect()
        };
        let (was, now) = (names(before), names(table));
        for p in now.iter().filter(|p| !was.contains(p)) {
            push(
                &table.table,
                Change::PartitionAdded {
                    partition: p.clone(),
                },
            );
        }
        for p in was.iter().filter(|p| !now.contains(p)) {
            push(
                &table.table,
                Change::PartitionRemoved {
                    partition: p.clone(),
                },
            );
        }
    }
    for gone in old
        .tables
        .iter()
        .filter(|t| !new.iter().any(|n| n.table == t.table))
    {
        push(&gone.table, Change::TableRemoved);
    }
    out
}

/// `key=value` of a partition of `table` (just the value when the table has
/// several keys or none, which dfstore's tables never have).
pub fn partition_name(table: &CatalogTable, value: &str) -> String {
    match table.partition_keys.as_slice() {
        [key] => format!("{key}={value}"),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::document::{Column, CrawlId, Partition, TableFormat};
    use crate::contract::layer::Layer;

    fn table(name: &str, columns: &[(&str, &str)], partitions: &[&str]) -> CatalogTable {
        let (layer, name) = name.split_once('.').unwrap();
        CatalogTable {
            table: TableRef::new(layer.parse::<Layer>().unwrap(), name),
            format: TableFormat::Parquet,
            location: format!("{layer}/{name}/"),
            version: None,
            columns: columns
                .iter()
                .map(|(n, t)| Column {
                    name: n.to_string(),
                    data_type: t.to_string(),
                    nullable: true,
                })
                .collect(),
            partition_keys: vec!["extraido".into()],
            partitions: partitions
                .iter()
                .map(|v| Partition {
                    value: v.to_string(),
                    rows: 1,
                    files: 1,
                    bytes: 10,
                })
                .collect(),
            rows: partitions.len() as u64,
            files: partitions.len(),
            bytes: 10 * partitions.len() as u64,
            last_change: None,
        }
    }

    fn crawl(tables: Vec<CatalogTable>) -> Crawl {
        Crawl {
            id: CrawlId::at(chrono::Utc::now()),
            crawled_at: chrono::Utc::now(),
            previous: None,
            changes: Vec::new(),
            tables,
        }
    }

    fn lines(changes: &[TableChange]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("{} {}", c.table, c.change))
            .collect()
    }

    #[test]
    fn an_unchanged_lake_has_no_changes() {
        let t = table("raw.ventas", &[("id_venta", "Int64")], &["A"]);
        assert!(diff(&crawl(vec![t.clone()]), &[t]).is_empty());
    }

    #[test]
    fn tables_columns_and_partitions_are_compared() {
        let old = crawl(vec![
            table(
                "raw.ventas",
                &[("id_venta", "Int64"), ("canal", "Utf8"), ("estado", "Utf8")],
                &["A", "B"],
            ),
            table("raw.tiendas", &[("id_tienda", "Int32")], &["A"]),
        ]);
        let new = vec![
            table(
                "raw.ventas",
                &[("id_venta", "Int64"), ("canal", "Int32"), ("promo", "Utf8")],
                &["B", "C"],
            ),
            table("trusted.ventas", &[("id_venta", "long")], &[]),
        ];
        assert_eq!(
            lines(&diff(&old, &new)),
            [
                "raw.ventas column canal retyped: Utf8 → Int32",
                "raw.ventas column estado (Utf8) removed",
                "raw.ventas new column promo (Utf8)",
                "raw.ventas new partition extraido=C",
                "raw.ventas partition extraido=A removed",
                "trusted.ventas new table",
                "raw.tiendas table removed",
            ]
        );
    }

    #[test]
    fn changes_round_trip_as_json() {
        let change = TableChange {
            table: TableRef::new(Layer::Raw, "ventas"),
            change: Change::ColumnRetyped {
                column: "canal".into(),
                old: "Utf8".into(),
                new: "Int32".into(),
            },
        };
        let json = serde_json::to_value(&change).unwrap();
        assert_eq!(json["change"], "column_retyped");
        assert_eq!(serde_json::from_value::<TableChange>(json).unwrap(), change);
    }
}
