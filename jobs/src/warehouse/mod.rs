//! `dfstore load`: a published version of a model (by default
//! `analytic.reporte_ventas_tienda`) into its warehouse table, in
//! PostgreSQL or Amazon Redshift, exactly once and reconciled.
//!
//! # Protocol
//!
//! 1. The model's Delta version (the newest, or `--version`) is read and
//!    its row count and sums per `periodo` computed in the lake. The model
//!    must declare a unique key (the table's primary key), a contract (its
//!    columns' `NOT NULL`s) and `periodo` as its partition.
//! 2. The warehouse table is checked against the model's columns (a
//!    missing column or another type stops the load before anything is
//!    written); the schema, the table and the load audit table are created
//!    when missing.
//! 3. One transaction: the audit table is locked (two loads never
//!    interleave: the second waits, then sees what the first did), the
//!    periods whose warehouse rows already equal the lake's and whose last
//!    load was this version are left alone, the others are deleted and
//!    loaded again (PostgreSQL: binary `COPY FROM STDIN`; Redshift: `COPY
//!    FROM` the lake's own Parquet files on S3, through a manifest per
//!    period), the warehouse is reconciled with the lake per period (rows,
//!    and the sums of the integer and decimal columns outside the key), an
//!    audit row is written per period, and only then is it committed. Any
//!    failure, a killed connection included, rolls it all back: the
//!    warehouse is as it was.

/// The lake's side: the model's version and its sums per period.
pub mod lake_side;
/// The load itself.
pub mod load;
/// Redshift: `COPY` from the lake's Parquet files on S3.
pub mod redshift;
/// Rows and sums per period, compared.
pub mod sums;
/// The warehouse's side: the table definition, its check and the audit.
pub mod table;
/// The warehouse URL: PostgreSQL or Redshift.
pub mod target;

pub use load::{LoadOptions, LoadSummary, PeriodLoad, load, model_to_load, models_to_load};
pub use target::{Dialect, Warehouse};
