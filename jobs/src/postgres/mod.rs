//! PostgreSQL: connections (URL, password sources, TLS), the source
//! columns and their conversions to and from Arrow, and the demo's source
//! database.

/// Source columns, their Arrow types and value conversions.
pub mod columns;
/// The database URL, its password and the connection.
pub mod connection;
/// Arrow rows into PostgreSQL with binary `COPY`.
pub mod copy_in;
/// The demo's source database: `source init`, `source apply-changes`.
pub mod source_db;
/// TLS to PostgreSQL (`sslmode`, `sslrootcert`).
pub mod tls;

pub use connection::{PasswordSources, Postgres};
