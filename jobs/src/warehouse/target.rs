//! Where the report is loaded: a PostgreSQL database
//! (`postgresql://USER@HOST:PORT/DB`) or an Amazon Redshift one
//! (`redshift://USER@HOST:5439/DB`), both reached over PostgreSQL's wire
//! protocol with the connection code, TLS modes and password sources of
//! `ingest`, and the schema the table lives in (`?schema=`, default
//! `analytic`).

use std::fmt;

use crate::postgres::{PasswordSources, Postgres};

/// The schema of the warehouse table unless the URL names another.
pub const DEFAULT_SCHEMA: &str = "analytic";

/// The SQL dialect, and how rows reach the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: binary `COPY FROM STDIN`.
    Postgres,
    /// Redshift: `COPY FROM 's3://…'` of the lake's Parquet files, with
    /// the IAM role the cluster assumes to read them.
    Redshift {
        /// The role's ARN.
        iam_role: Option<String>,
    },
}

/// A warehouse database and the schema of the report's table.
#[derive(Debug, Clone)]
pub struct Warehouse {
    /// The connection (never printed with its password).
    pub db: Postgres,
    /// PostgreSQL or Redshift.
    pub dialect: Dialect,
    /// The schema, as an SQL identifier.
    pub schema: String,
}

impl fmt::Display for Warehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dialect {
            Dialect::Postgres => write!(f, "{}", self.db),
            Dialect::Redshift { .. } => {
                let shown = self.db.to_string();
                let rest = shown.strip_prefix("postgresql://").unwrap_or(&shown);
                write!(f, "redshift://{rest}")
            }
        }
    }
}

impl Warehouse {
    /// Parses `--warehouse`; the error never repeats the URL, which may
    /// hold a password.
    pub fn parse(url: &str, iam_role: Option<String>) -> Result<Self, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            "not a warehouse URL; use postgresql://USER@HOST:PORT/DB or redshift://USER@HOST:5439/DB".to_string()
        })?;
        let dialect = match scheme {
            "postgres" | "postgresql" => Dialect::Postgres,
            "redshift" => Dialect::Redshift { iam_role },
            _ => {
                return Err(format!(
                    "unknown warehouse scheme `{scheme}`; use postgresql:// or redshift://"
                ));
            }
        };
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut schema = DEFAULT_SCHEMA.to_string();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", value)) => schema = value.to_string(),
                _ => kept.push(pair),
            }
        }
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || schema.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!(
                "schema `{schema}` is not a plain SQL name; use lower-case letters, digits and _"
            ));
        }
        let mut base = base.to_string();
        if dialect != Dialect::Postgres && !has_port(&base) {
            base = with_port(&base, 5439);
        }
        let text = if kept.is_empty() {
            format!("postgresql://{base}")
        } else {
            format!("postgresql://{base}?{}", kept.join("&"))
        };
        let db: Postgres = text
            .parse()
            .map_err(|e: String| e.replace("--pg-", "--warehouse-"))?;
        Ok(Warehouse {
            db: db.for_flags("--warehouse"),
            dialect,
            schema,
        })
    }

    /// Fills in the password as `ingest` does (URL, `PGPASSWORD`, file,
    /// Secrets Manager).
    pub async fn with_password(mut self, sources: &PasswordSources) -> crate::Result<Self> {
        self.db = self.db.with_password(sources).await?;
        Ok(self)
    }

    /// `schema.name`, for SQL.
    pub fn qualified(&self, name: &str) -> String {
        format!("{}.{name}", self.schema)
    }
}

/// Whether `user@host:port/db` names a port.
fn has_port(base: &str) -> bool {
    let authority = base.split('/').next().unwrap_or(base);
    let host = authority.rsplit('@').next().unwrap_or(authority);
    host.contains(':')
}

/// `user@host/db` with `:port` after the host.
fn with_port(base: &str, port: u16) -> String {
    let (authority, path) = base.split_once('/').unwrap_or((base, ""));
    format!("{authority}:{port}/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_dialect_and_schema_without_the_password() {
        let wh = Warehouse::parse(
            "postgresql://loader:s3cr3t@db:5432/dw?sslmode=disable&schema=bi",
            None,
        )
        .unwrap();
        assert_eq!(wh.dialect, Dialect::Postgres);
        assert_eq!(wh.schema, "bi");
        assert_eq!(wh.to_string(), "postgresql://loader@db:5432/dw");
        assert!(!format!("{wh:?}").contains("s3cr3t"));

        let rs = Warehouse::parse(
            "redshift://loader@example.redshift.amazonaws.com/dev",
            Some("arn:aws:iam::1:role/r".into()),
        )
        .unwrap();
        assert_eq!(
            rs.to_string(),
            "redshift://loader@example.redshift.amazonaws.com:5439/dev"
        );
        assert_eq!(rs.schema, DEFAULT_SCHEMA);

        for bad in [
            "mysql://u@h/db",
            "u@h/db",
            "postgresql://u:s3cr3t@h/db?schema=a;drop",
        ] {
            let err = Warehouse::parse(bad, None).unwrap_err();
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }
}
