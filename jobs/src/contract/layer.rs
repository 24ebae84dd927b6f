//! The layers of the lake (spec section 2) and the names of lake tables.

use std::fmt;
use std::str::FromStr;

use datafusion::common::TableReference;

/// Whether `name` is a plain identifier: lower-case letters, digits and
/// `_`, not starting with a digit (what a table, column or source may be
/// named without quotes).
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty() && quoted(name) == name
}

/// `name` as a SQL identifier, quoted when it needs to be.
pub fn quoted(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A layer of the lake; each is a SQL schema of the same name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// As extracted, one folder per extraction.
    Raw,
    /// Deduplicated, normalised and classified rows of one run; never published.
    Staging,
    /// Clean current version of every row.
    Trusted,
    /// Rows that failed a rule, with the rule's name.
    Rejected,
    /// Reports.
    Analytic,
}

impl Layer {
    /// Every layer.
    pub const ALL: [Layer; 5] = [
        Layer::Raw,
        Layer::Staging,
        Layer::Trusted,
        Layer::Rejected,
        Layer::Analytic,
    ];

    /// The layer's name: its folder in the lake and its SQL schema.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Raw => "raw",
            Layer::Staging => "staging",
            Layer::Trusted => "trusted",
            Layer::Rejected => "rejected",
            Layer::Analytic => "analytic",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layer::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                format!("unknown layer `{s}`; expected raw, staging, trusted, rejected or analytic")
            })
    }
}

/// A table of the lake: `layer.name`, e.g. `trusted.ventas`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct TableRef {
    /// The layer.
    pub layer: Layer,
    /// The table's name within the layer.
    pub name: String,
}

impl TableRef {
    /// `layer.name`.
    pub fn new(layer: Layer, name: impl Into<String>) -> Self {
        TableRef {
            layer,
            name: name.into(),
        }
    }

    /// The table's folder relative to the lake root, ending in `/`.
    pub fn folder(&self) -> String {
        format!("{}/{}/", self.layer, self.name)
    }

    /// Whether SQL's `reference` (`layer.name`, as written in a query) names
    /// this table.
    pub fn is_named_by(&self, reference: &TableReference) -> bool {
        reference.schema() == Some(self.layer.name()) && reference.table() == self.name
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.layer, self.name)
    }
}

impl FromStr for TableRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (layer, name) = s.split_once('.').ok_or_else(|| {
            format!("`{s}` is not a table name; use layer.table, e.g. trusted.ventas")
        })?;
        Ok(TableRef::new(layer.parse()?, name))
    }
}
