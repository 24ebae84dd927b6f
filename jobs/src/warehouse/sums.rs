//! What the load reconciles, per period: the row count and the sums of the
//! loaded table's measures (its integer and decimal columns outside its
//! key), exact (decimals, never floats).

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;

/// Rows and sums of one period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums {
    /// Rows.
    pub rows: u64,
    /// Sums of the table's measures, in their order.
    pub sums: Vec<Decimal>,
}

impl Sums {
    /// From the row count and the sums of `measures` as text, in order (a
    /// NULL sum, of no rows, is zero).
    pub fn parse(rows: i64, sums: &[Option<String>], measures: &[String]) -> Result<Self, String> {
        let mut out = Sums {
            rows: rows.max(0) as u64,
            sums: vec![Decimal::ZERO; measures.len()],
        };
        for (i, text) in sums.iter().enumerate().take(measures.len()) {
            if let Some(text) = text {
                out.sums[i] = Decimal::from_str(text)
                    .map_err(|e| format!("sum of {} `{text}`: {e}", measures[i]))?;
            }
        }
        Ok(out)
    }

    /// The sums of `measures` of no rows.
    pub fn empty(measures: &[String]) -> Self {
        Sums {
            rows: 0,
            sums: vec![Decimal::ZERO; measures.len()],
        }
    }

    /// The first difference from `other`: (column, ours, theirs).
    pub fn difference<'m>(
        &self,
        other: &Sums,
        measures: &'m [String],
    ) -> Option<(&'m str, String, String)> {
        if self.rows != other.rows {
            return Some(("rows", self.rows.to_string(), other.rows.to_string()));
        }
        measures
            .iter()
            .zip(self.sums.iter().zip(&other.sums))
            .find(|(_, (a, b))| a != b)
            .map(|(name, (a, b))| {
                (
                    name.as_str(),
                    a.normalize().to_string(),
                    b.normalize().to_string(),
                )
            })
    }

    /// `measure=sum` pairs, as the audit records them.
    pub fn audited(&self, measures: &[String]) -> String {
        let pairs: Vec<String> = measures
            .iter()
            .zip(&self.sums)
            .map(|(m, s)| format!("{m}={}", s.normalize()))
            .collect();
        pairs.join(", ")
    }
}

/// Rows and sums per period.
pub type PeriodSums = BTreeMap<String, Sums>;

/// The aggregate that computes [`Sums`] of `measures` per `periodo` over
/// `table`, its sums as text so that both sides compare exactly; `filter`
/// is an SQL condition.
pub fn sums_sql(table: &str, measures: &[String], filter: &str, text_type: &str) -> String {
    let sums: Vec<String> = measures
        .iter()
        .map(|m| format!(", CAST(SUM({m}) AS {text_type}) AS {m}"))
        .collect();
    format!(
        "SELECT periodo, COUNT(*) AS filas{} FROM {table} WHERE {filter} GROUP BY periodo",
        sums.concat()
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
        let measures: Vec<String> = [
            "num_ventas",
            "unidades",
            "venta_neta",
            "costo_total",
            "margen_bruto",
        ]
        .map(String::from)
        .to_vec();
        let parse = |rows, v: &[&str]| Sums::parse(rows, &text(v), &measures);
        let lake = parse(3, &["4", "10", "100.10", "60.05", "40.05"]).unwrap();
        let same = parse(3, &["4", "10", "100.1", "60.05", "40.05"]).unwrap();
        assert_eq!(lake.difference(&same, &measures), None, "100.10 = 100.1");
        let off = parse(3, &["4", "10", "100.11", "60.05", "40.06"]).unwrap();
        assert_eq!(
            lake.difference(&off, &measures),
            Some(("venta_neta", "100.1".into(), "100.11".into()))
        );
        let fewer = parse(2, &["4", "10", "100.10", "60.05", "40.05"]).unwrap();
        assert_eq!(lake.difference(&fewer, &measures).unwrap().0, "rows");
        assert!(parse(1, &["x"]).is_err());
        assert_eq!(
            lake.audited(&measures),
            "num_ventas=4, unidades=10, venta_neta=100.1, costo_total=60.05, margen_bruto=40.05"
        );
        assert_eq!(
            Sums::empty(&measures).difference(&parse(0, &[]).unwrap(), &measures),
            None
        );
        assert_eq!(
            sums_sql("t", &measures[..1], "true", "text"),
            "SELECT periodo, COUNT(*) AS filas, CAST(SUM(num_ventas) AS text) AS num_ventas FROM t WHERE true GROUP BY periodo"
        );
        assert_eq!(
            periods_filter(&["2025-01".into(), "2025-02".into()]),
            "periodo IN ('2025-01', '2025-02')"
        );
        assert_eq!(periods_filter(&["x'y".into()]), "periodo IN ('x''y')");
    }
}
