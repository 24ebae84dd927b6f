//! Where the databases are: the source PostgreSQL and the warehouse, with
//! their passwords' sources.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::postgres::{PasswordSources, Postgres};
use crate::warehouse::Warehouse;

/// The source database and its password.
#[derive(Debug, Args)]
pub struct PgArgs {
    /// The source database, postgresql://USER@HOST:PORT/DB[?sslmode=disable]; never printed with its password.
    #[arg(
        long,
        value_name = "URL",
        env = "DFSTORE_PG_URL",
        hide_env_values = true
    )]
    pub pg: Option<String>,
    /// File whose first line is the database password [default: the URL's, then --pg-secret, then $PGPASSWORD].
    #[arg(long, value_name = "PATH", env = "DFSTORE_PG_PASSWORD_FILE")]
    pub pg_password_file: Option<PathBuf>,
    /// AWS Secrets Manager secret (id or ARN) holding the password, as text or JSON with `password` [default: none].
    #[arg(long, value_name = "ARN", env = "DFSTORE_PG_SECRET")]
    pub pg_secret: Option<String>,
}

impl PgArgs {
    /// The database, with its password resolved. The URL is never echoed:
    /// it may hold the password.
    pub async fn open(&self, why: &str) -> Result<Postgres> {
        let url = self.pg.as_deref().ok_or_else(|| Error::InvalidArgument {
            flag: "--pg".into(),
            reason: format!("{why} needs the source database: --pg postgresql://USER@HOST:PORT/DB or DFSTORE_PG_URL"),
        })?;
        let pg: Postgres = url.parse().map_err(|reason| Error::InvalidArgument {
            flag: "--pg".into(),
            reason,
        })?;
        pg.with_password(&PasswordSources {
            file: self.pg_password_file.clone(),
            secret: self.pg_secret.clone(),
        })
        .await
    }
}

/// The warehouse the report is loaded into, and its password.
#[derive(Debug, Args)]
pub struct WarehouseArgs {
    /// The warehouse: postgresql://USER@HOST:PORT/DB or redshift://USER@HOST:5439/DB, optionally with ?schema=NAME [default schema: analytic]; never printed with its password.
    #[arg(
        long = "warehouse",
        value_name = "URL",
        env = "DFSTORE_WAREHOUSE_URL",
        hide_env_values = true
    )]
    pub url: Option<String>,
    /// File whose first line is the warehouse password [default: the URL's, then --warehouse-secret, then $PGPASSWORD].
    #[arg(long, value_name = "PATH", env = "DFSTORE_WAREHOUSE_PASSWORD_FILE")]
    pub warehouse_password_file: Option<PathBuf>,
    /// AWS Secrets Manager secret (id or ARN) holding the warehouse password, as text or JSON with `password` [default: none].
    #[arg(long, value_name = "ARN", env = "DFSTORE_WAREHOUSE_SECRET")]
    pub warehouse_secret: Option<String>,
    /// Redshift only: the IAM role the cluster assumes to read the lake's files on S3 [default: the cluster's default role].
    #[arg(long, value_name = "ARN", env = "DFSTORE_REDSHIFT_IAM_ROLE")]
    pub redshift_iam_role: Option<String>,
}

impl WarehouseArgs {
    /// The warehouse, with its password resolved; never echoes the URL.
    pub async fn open(&self, why: &str) -> Result<Warehouse> {
        let url = self.url.as_deref().ok_or_else(|| Error::InvalidArgument {
            flag: "--warehouse".into(),
            reason: format!("{why} needs the warehouse: --warehouse postgresql://USER@HOST:PORT/DB (or redshift://…) or DFSTORE_WAREHOUSE_URL"),
        })?;
        let warehouse =
            Warehouse::parse(url, self.redshift_iam_role.clone()).map_err(|reason| {
                Error::InvalidArgument {
                    flag: "--warehouse".into(),
                    reason,
                }
            })?;
        warehouse
            .with_password(&PasswordSources {
                file: self.warehouse_password_file.clone(),
                secret: self.warehouse_secret.clone(),
            })
            .await
    }
}
