//! The vocabulary of the spec that every other module speaks: the source
//! tables and their types, the lake's layers and table names, business
//! months and the columns every layer shares, extraction ids.

/// The identity of a raw extraction and where extractions are listed.
pub mod extraction;
/// Layers and the names of lake tables.
pub mod layer;
/// Business months and the shared column names.
pub mod period;
/// The source model: tables, keys, Arrow types.
pub mod source;
