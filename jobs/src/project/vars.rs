//! Variables: defaults in `dfstore_project.toml`'s `[vars]`, overridden by
//! `--var name=value`, bound into a model's plan as typed DataFusion
//! parameters (`$name` in the SQL), never pasted into its text. A value from
//! the command line takes the type of the variable's default.

use std::collections::{BTreeMap, HashMap};

use datafusion::common::ParamValues;
use datafusion::common::metadata::ScalarAndMetadata;
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{Error, Result};

/// The variables of a run, with their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    values: BTreeMap<String, ScalarValue>,
}

impl Vars {
    /// The project's defaults; `file` names the project file in errors.
    pub fn from_defaults(file: &str, defaults: &BTreeMap<String, toml::Value>) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (name, value) in defaults {
            let scalar = scalar(value).ok_or_else(|| Error::Project {
                location: file.to_string(),
                message: format!(
                    "variable `{name}` has a default of no SQL type; give a string, integer, float, boolean or date"
                ),
            })?;
            values.insert(name.clone(), scalar);
        }
        Ok(Vars { values })
    }

    /// The defaults with `--var name=value` overrides applied.
    pub fn with_overrides(mut self, overrides: &[(String, String)]) -> Result<Self> {
        for (name, text) in overrides {
            let Some(default) = self.values.get(name) else {
                let known = self.names().collect::<Vec<_>>().join(", ");
                return Err(Error::InvalidArgument {
                    flag: "--var".into(),
                    reason: format!(
                        "the project declares no variable `{name}` (it has: {}); declare it under [vars] in dfstore_project.toml",
                        if known.is_empty() { "none" } else { &known }
                    ),
                });
            };
            let value =
                ScalarValue::try_from_string(text.clone(), &default.data_type()).map_err(|e| {
                    Error::InvalidArgument {
                        flag: "--var".into(),
                        reason: format!("`{name}={text}` is not a {}: {e}", default.data_type()),
                    }
                })?;
            self.values.insert(name.clone(), value);
        }
        Ok(self)
    }

    /// The names declared.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Whether `name` is declared.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The values of the variables `sql` uses, as DataFusion's parameters
    /// (`None` when it uses none).
    pub fn params_for(&self, sql: &str) -> Option<ParamValues> {
        let used = placeholders(sql);
        if used.is_empty() {
            return None;
        }
        let map: HashMap<String, ScalarAndMetadata> = used
            .into_iter()
            .filter_map(|(name, _)| self.values.get(&name).map(|v| (name, v.clone().into())))
            .collect();
        Some(ParamValues::Map(map))
    }

    /// The variables and their values, for the run manifest.
    pub fn describe(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect()
    }
}

/// `name=value` of `--var`.
pub fn parse_assignment(text: &str) -> std::result::Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not name=value, e.g. --var min_units=2"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{text}` names no variable"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// The named placeholders (`$name`) of `sql`, with the 1-based line of
/// each, outside comments and strings; positional ones (`$1`) are not
/// variables.
pub fn placeholders(sql: &str) -> Vec<(String, usize)> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Vec::new();
    };
    let mut out: Vec<(String, usize)> = Vec::new();
    for token in tokens {
        if let Token::Placeholder(p) = &token.token
            && let Some(name) = p.strip_prefix('$')
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && !out.iter().any(|(n, _)| n == name)
        {
            out.push((name.to_string(), token.span.start.line as usize));
        }
    }
    out
}

fn scalar(value: &toml::Value) -> Option<ScalarValue> {
    Some(match value {
        toml::Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
        toml::Value::Integer(i) => ScalarValue::Int64(Some(*i)),
        toml::Value::Float(f) => ScalarValue::Float64(Some(*f)),
        toml::Value::Boolean(b) => ScalarValue::Boolean(Some(*b)),
        toml::Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => {
            let date = d.date?;
            let day = chrono::NaiveDate::from_ymd_opt(
                i32::from(date.year),
                u32::from(date.month),
                u32::from(date.day),
            )?;
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
            ScalarValue::Date32(Some(i32::try_from((day - epoch).num_days()).ok()?))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let defaults: BTreeMap<String, toml::Value> =
            toml::from_str("min = 2\nname = \"x\"\nday = 2024-01-31\nrate = 0.5").unwrap();
        Vars::from_defaults("p.toml", &defaults).unwrap()
    }

    #[test]
    fn placeholders_outside_comments_and_strings() {
        let sql = "-- $not_this\nSELECT '$nor_this', $min\nFROM t WHERE x > $min AND $1 = 1";
        assert_eq!(placeholders(sql), [("min".to_string(), 2)]);
    }

    #[test]
    fn overrides_take_the_default_type() {
        let v = vars()
            .with_overrides(&[
                ("min".into(), "5".into()),
                ("day".into(), "2024-02-01".into()),
            ])
            .unwrap();
        let Some(ParamValues::Map(m)) = v.params_for("SELECT $min, $day") else {
            panic!("no params")
        };
        assert_eq!(m["min"].value, ScalarValue::Int64(Some(5)));
        assert_eq!(
            m["day"].value.data_type(),
            arrow::datatypes::DataType::Date32
        );
        let e = vars()
            .with_overrides(&[("min".into(), "many".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`min=many` is not a Int64"), "{e}");
        let e = vars()
            .with_overrides(&[("nope".into(), "1".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no variable `nope`"), "{e}");
    }

    #[test]
    fn assignments() {
        assert_eq!(
            parse_assignment("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        assert!(parse_assignment("a").is_err());
    }
}
