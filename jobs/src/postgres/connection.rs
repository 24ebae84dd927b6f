//! The source PostgreSQL: its URL, where the password comes from, how the
//! connection is shown (never with the password) and how it is opened.
//!
//! The password is taken, first found, from the URL, the file given with
//! `--pg-password-file` (its first line), an AWS Secrets Manager secret
//! (`--pg-secret`, a plain string or JSON with a `password` field, fetched
//! with the standard AWS credential chain), or `PGPASSWORD`: a flag names
//! one database, while `PGPASSWORD` is shared by every connection of the
//! process (a nightly run reads the source and writes the warehouse). It is kept in
//! tokio-postgres's `Config`, which never prints it; every message names
//! the database as `postgresql://USER@HOST:PORT/DB`. TLS follows the URL's
//! `sslmode` ([`crate::postgres::tls`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};
use tracing::debug;

use crate::error::{Error, Result};
use crate::postgres::tls::{self, Verify};

/// Where the password of a source connection may come from, besides the URL.
#[derive(Debug, Clone, Default)]
pub struct PasswordSources {
    /// A file whose first line is the password.
    pub file: Option<PathBuf>,
    /// An AWS Secrets Manager secret id or ARN.
    pub secret: Option<String>,
}

/// A PostgreSQL database to read from (or, for the demo, write to).
#[derive(Clone)]
pub struct Postgres {
    config: Config,
    verify: Verify,
    shown: String,
    /// The flag that named it (`--pg`, `--warehouse`), for messages; its
    /// password flags are this with `-password-file` and `-secret`.
    flag: &'static str,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl FromStr for Postgres {
    type Err = String;

    /// Parses `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]` (or
    /// libpq's `key=value` form); the error never repeats the text, which
    /// may hold a password.
    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        let (text, verify) = tls::split_url(text)?;
        let mut config = Config::from_str(&text).map_err(|e| {
            format!(
                "not a PostgreSQL URL ({e}); use postgresql://USER@HOST:PORT/DB and give the password with PGPASSWORD, --pg-password-file or --pg-secret"
            )
        })?;
        libpq_defaults(&mut config, |name| std::env::var(name).ok());
        if config.get_user().is_none() {
            return Err(
                "the PostgreSQL URL names no user; use postgresql://USER@HOST:PORT/DB or set PGUSER".into(),
            );
        }
        let shown = shown(&config);
        Ok(Postgres {
            config,
            verify,
            shown,
            flag: "--pg",
        })
    }
}

/// What the URL leaves out, from libpq's variables, as psql takes it:
/// `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`.
fn libpq_defaults(config: &mut Config, env: impl Fn(&str) -> Option<String>) {
    if config.get_hosts().is_empty()
        && let Some(host) = env("PGHOST")
    {
        config.host(&host);
    }
    if config.get_ports().is_empty()
        && let Some(port) = env("PGPORT").and_then(|p| p.parse().ok())
    {
        config.port(port);
    }
    if config.get_user().is_none()
        && let Some(user) = env("PGUSER")
    {
        config.user(&user);
    }
    if config.get_dbname().is_none()
        && let Some(db) = env("PGDATABASE")
    {
        config.dbname(&db);
    }
}

/// The password `~/.pgpass` (or `PGPASSFILE`) holds for `config`, as libpq
/// reads it: `host:port:database:user:password`, `*` matching anything, `\`
/// escaping `:` and itself.
fn pgpass_password(config: &Config, file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "localhost".into(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    let wanted = [host.as_str(), port.as_str(), db, user];
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(pgpass_fields)
        .find(|fields| {
            fields.len() == 5
                && fields
                    .iter()
                    .zip(wanted)
                    .all(|(field, value)| field == "*" || field == value)
        })
        .map(|mut fields| fields.swap_remove(4))
}

/// The `:`-separated fields of a `.pgpass` line.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields
                .last_mut()
                .into_iter()
                .for_each(|f| f.extend(chars.next())),
            ':' => fields.push(String::new()),
            other => fields.last_mut().into_iter().for_each(|f| f.push(other)),
        }
    }
    fields
}

/// `PGPASSFILE`, else `~/.pgpass`.
fn pgpass_file() -> Option<PathBuf> {
    std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pgpass")))
}

/// `postgresql://USER@HOST:PORT/DB`, without the password.
fn shown(config: &Config) -> String {
    let user = config.get_user().unwrap_or("");
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user);
    format!("postgresql://{user}@{host}:{port}/{db}")
}

impl Postgres {
    /// The same database, named by `flag` in messages (its password flags
    /// then are `<flag>-password-file` and `<flag>-secret`).
    pub fn for_flags(mut self, flag: &'static str) -> Self {
        self.flag = flag;
        self
    }

    /// Fills in the password when the URL has none: the password file, then
    /// the Secrets Manager secret, then `PGPASSWORD`, then `~/.pgpass`
    /// (`PGPASSFILE`).
    pub async fn with_password(mut self, sources: &PasswordSources) -> Result<Self> {
        if self.config.get_password().is_some() {
            return Ok(self);
        }
        if let Some(file) = &sources.file {
            let flag = format!("{}-password-file", self.flag);
            self.config.password(read_password_file(file, &flag)?);
        } else if let Some(secret) = &sources.secret {
            let flag = format!("{}-secret", self.flag);
            self.config.password(secret_password(secret, &flag).await?);
        } else if let Ok(password) = std::env::var("PGPASSWORD") {
            self.config.password(password);
        } else if let Some(password) =
            pgpass_file().and_then(|file| pgpass_password(&self.config, &file))
        {
            self.config.password(password);
        }
        Ok(self)
    }

    /// Opens a connection; its driver runs on a background task.
    pub async fn connect(&self) -> Result<Client> {
        let tls = tls::connector(&self.verify).map_err(|reason| Error::InvalidArgument {
            flag: self.flag.into(),
            reason,
        })?;
        let (client, connection) = self.config.connect(tls).await.map_err(|e| self.error(&e))?;
        let shown = self.shown.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(database = %shown, error = %e, "connection closed");
            }
        });
        Ok(client)
    }

    /// A failure of this database, with its cause and what to check.
    pub fn error(&self, e: &tokio_postgres::Error) -> Error {
        let reason = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(e);
                while let Some(inner) = source {
                    text = format!("{text}: {inner}");
                    source = inner.source();
                }
                text
            }
        };
        let flag = self.flag;
        let fix = if reason.contains("password") {
            format!(
                "check the user and password (URL, PGPASSWORD, {flag}-password-file or {flag}-secret)"
            )
        } else if reason.contains("refused")
            || reason.contains("error connecting")
            || reason.contains("lookup")
        {
            format!("check the host and port in {flag} and that the server accepts TCP connections")
        } else if reason.contains("certificate") || reason.contains("TLS") || reason.contains("SSL")
        {
            format!(
                "check sslmode and sslrootcert (the CA that signed the server's certificate) in {flag}, and that the host name matches the certificate"
            )
        } else if reason.contains("does not exist") {
            format!("check the database name in {flag}")
        } else if reason.contains("terminat")
            || reason.contains("closed")
            || reason.contains("early eof")
        {
            "the server ended the session; nothing was published, run the command again".into()
        } else {
            format!("check {flag} and the server's log")
        };
        Error::Source {
            database: self.shown.clone(),
            reason,
            fix,
        }
    }
}

/// The password on the first line of `file`; an unreadable or empty file
/// is an error naming `flag`.
pub fn read_password_file(file: &Path, flag: &str) -> Result<String> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::InvalidArgument {
        flag: flag.into(),
        reason: format!("cannot read {}: {e}", file.display()),
    })?;
    let line = text.lines().next().unwrap_or("").trim_end();
    if line.is_empty() {
        return Err(Error::InvalidArgument {
            flag: flag.into(),
            reason: format!(
                "{} is empty; put the password on its first line",
                file.display()
            ),
        });
    }
    Ok(line.to_string())
}

/// A build without the `aws` feature reads no Secrets Manager secret.
#[cfg(not(feature = "aws"))]
#[allow(clippy::unused_async)]
async fn secret_password(_secret: &str, flag: &str) -> Result<String> {
    Err(Error::not_built(flag, "aws"))
}

/// The password held by a Secrets Manager secret: the whole string, or the
/// `password` field of a JSON secret (the shape RDS and Redshift use).
#[cfg(feature = "aws")]
async fn secret_password(secret: &str, flag: &str) -> Result<String> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let value = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| Error::InvalidArgument {
            flag: flag.into(),
            reason: format!(
                "cannot read secret `{secret}`: {}; check its id and the AWS credentials and region",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ),
        })?;
    let text = value.secret_string().unwrap_or_default();
    password_of_secret(text).ok_or_else(|| Error::InvalidArgument {
        flag: flag.into(),
        reason: format!(
            "secret `{secret}` holds no password; store it as plain text or as JSON with a `password` field"
        ),
    })
}

#[cfg(any(feature = "aws", test))]
fn password_of_secret(text: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(fields)) => fields
            .get("password")
            .and_then(|p| p.as_str())
            .map(str::to_string),
        _ if !text.is_empty() => Some(text.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_variables_fill_what_the_url_leaves_out() {
        let mut config = Config::from_str("postgresql:///shop").unwrap();
        let env = |name: &str| match name {
            "PGHOST" => Some("db.internal".to_string()),
            "PGPORT" => Some("6432".to_string()),
            "PGUSER" => Some("reader".to_string()),
            "PGDATABASE" => Some("ignored".to_string()),
            _ => None,
        };
        libpq_defaults(&mut config, env);
        assert_eq!(shown(&config), "postgresql://reader@db.internal:6432/shop");
        // The URL wins over the variables.
        let mut config = Config::from_str("postgresql://u@h:1/d").unwrap();
        libpq_defaults(&mut config, env);
        assert_eq!(shown(&config), "postgresql://u@h:1/d");
    }

    #[test]
    fn pgpass_lines_match_host_port_database_and_user() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:reader:nope\ndb.internal:*:shop:reader:pa\\:ss\n*:*:*:*:fallback\n",
        )
        .unwrap();
        let config = Config::from_str("postgresql://reader@db.internal:6432/shop").unwrap();
        assert_eq!(pgpass_password(&config, &file).as_deref(), Some("pa:ss"));
        let config = Config::from_str("postgresql://x@elsewhere/db").unwrap();
        assert_eq!(pgpass_password(&config, &file).as_deref(), Some("fallback"));
        assert_eq!(pgpass_password(&config, &dir.path().join("none")), None);
    }

    #[test]
    fn urls_are_shown_without_password() {
        let pg: Postgres = "postgresql://ingest:s3cr3t@db.example:6543/retail?sslmode=disable"
            .parse()
            .unwrap();
        assert_eq!(pg.to_string(), "postgresql://ingest@db.example:6543/retail");
        assert!(!format!("{pg:?}").contains("s3cr3t"));
        let err = "postgresql://ingest:s3cr3t@db:notaport/retail"
            .parse::<Postgres>()
            .unwrap_err();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!("postgresql://db/retail".parse::<Postgres>().is_err());
    }

    #[test]
    fn secrets_hold_a_password_as_text_or_json() {
        assert_eq!(password_of_secret("pw").as_deref(), Some("pw"));
        assert_eq!(
            password_of_secret(r#"{"username":"u","password":"pw"}"#).as_deref(),
            Some("pw")
        );
        assert_eq!(password_of_secret(r#"{"username":"u"}"#), None);
        assert_eq!(password_of_secret(""), None);
    }
}
