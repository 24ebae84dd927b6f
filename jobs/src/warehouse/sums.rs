//! What the load reconciles, per period: the row count and the sums of the
//! report's additive measures, exact (decimals, never floats).

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;

/// The measures summed per period, in the order they are compared.
pub const MEASURES: [&str; 5] = [
    "num_ventas",
    "unidades",
    "venta_neta",
    "costo_total",
    "margen_bruto",
];

/// Rows and sums of one period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums {
    /// Rows.
    pub rows: u64,
    /// Sums of [`MEASURES`], in that order.
    pub sums: [Decimal; 5],
}

impl Sums {
    /// From the row count and the sums as text, in [`MEASURES`] order.
    pub fn parse(rows: i64, sums: &[Option<String>]) -> Result<Self, String> {
        let mut out = Sums {
            rows: rows.max(0) as u64,
            sums: [Decimal::ZERO; 5],
        };
        for (i, text) in sums.iter().enumerate().take(MEASURES.len()) {
            if let Some(text) = text {
                out.sums[i] = Decimal::from_str(text)
                    .map_err(|e| format!("sum of {} `{text}`: {e}", MEASURES[i]))?;
            }
        }
        Ok(out)
    }

    /// The first difference from `other`: (column, ours, theirs).
    pub fn difference(&self, other: &Sums) -> Option<(&'static str, String, String)> {
        if self.rows != other.rows {
            return Some(("rows", self.rows.to_string(), other.rows.to_string()));
        }
        MEASURES
            .iter()
            .zip(self.sums.iter().zip(&other.sums))
            .find(|(_, (a, b))| a != b)
            .map(|(name, (a, b))| (*name, a.normalize().to_string(), b.normalize().to_string()))
    }
}

/// Rows and sums per period.
pub type PeriodSums = BTreeMap<String, Sums>;

/// The aggregate that computes [`Sums`] per `periodo` over `table`, its
/// sums as text so that both sides compare exactly; `filter` is an SQL
/// condition.
pub fn sums_sql(table: &str, filter: &str, text_type: &str) -> String {
    let sums: Vec<String> = MEASURES
        .iter()
        .map(|m| format!("CAST(SUM({m}) AS {text_type}) AS {m}"))
        .collect();
    format!(
        "SELECT periodo, COUNT(*) AS filas, {} FROM {table} WHERE {filter} GROUP BY periodo",
        sums.join(", ")
    )
}

/// `text` as an SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `periodo IN ('…', …)`, each period quoted as an SQL literal (the
/// warehouse's own values are read back too, and are not trusted).
pub fn periods_filter(periods: &[String]) -> String {
    if periods.is_empty() {
        return "false".into();
    }
    let list: Vec<String> = periods.iter().map(|p| literal(p)).collect();
    format!("periodo IN ({})", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_column_exactly() {
        let text = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
        let lake = Sums::parse(3, &text(&["4", "10", "100.10", "60.05", "40.05"])).unwrap();
        let same = Sums::parse(3, &text(&["4", "10", "100.1", "60.05", "40.05"])).unwrap();
        assert_eq!(lake.difference(&same), None, "100.10 = 100.1");
        let off = Sums::parse(3, &text(&["4", "10", "100.11", "60.05", "40.06"])).unwrap();
        assert_eq!(
            lake.difference(&off),
            Some(("venta_neta", "100.1".into(), "100.11".into()))
        );
        let fewer = Sums::parse(2, &text(&["4", "10", "100.10", "60.05", "40.05"])).unwrap();
        assert_eq!(lake.difference(&fewer).unwrap().0, "rows");
        assert!(Sums::parse(1, &text(&["x"])).is_err());
        assert_eq!(
            periods_filter(&["2025-01".into(), "2025-02".into()]),
            "periodo IN ('2025-01', '2025-02')"
        );
        assert_eq!(periods_filter(&["x'y".into()]), "periodo IN ('x''y')");
    }
}
