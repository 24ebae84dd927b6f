//! Business months and the names of the columns every layer shares.

/// Name of the business-month partition column of facts and the report.
pub const PERIOD_COLUMN: &str = "periodo";

/// Name of the column that staging and rejected rows carry the failed rule in.
pub const RULE_COLUMN: &str = "regla";

/// The column every raw row carries: the instant of its extraction.
pub const EXTRACTION_COLUMN: &str = "extraido";

/// The partition columns of a table partitioned by month, or of one that is not.
pub fn partition_columns(partitioned: bool) -> Vec<String> {
    if partitioned {
        vec![PERIOD_COLUMN.to_string()]
    } else {
        Vec::new()
    }
}

/// A business month, `YYYY-MM`: the partition a run can be restricted to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period(String);

impl Period {
    /// The month as `YYYY-MM`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").is_ok()
            && s.len() == 7;
        if ok {
            Ok(Period(s.to_string()))
        } else {
            Err(format!(
                "`{s}` is not a business month; use YYYY-MM, e.g. 2025-03"
            ))
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod period_tests {
    use super::Period;

    #[test]
    fn periods_are_validated() {
        assert_eq!("2025-03".parse::<Period>().unwrap().as_str(), "2025-03");
        assert!("2025-13".parse::<Period>().is_err());
        assert!("2025-3".parse::<Period>().is_err());
        assert!("march".parse::<Period>().is_err());
    }
}
