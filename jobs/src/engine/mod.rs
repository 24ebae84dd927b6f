//! The query engine: the DataFusion session of a lake with its tables
//! registered, run in-process or on a Ballista cluster. This is the one
//! place that knows the two apart: everything above it plans and writes the
//! same way on both.

/// Running the same plans on a Ballista cluster.
pub mod cluster;
/// The DataFusion session for a lake, and its settings.
pub mod context;
/// Registering lake tables in a session.
pub mod tables;
/// One query's rows read by others as it runs.
pub mod tee;
/// Writing a query's rows into the lake.
pub mod write;

pub use context::{
    DEFAULT_MEMORY_LIMIT, EngineConfig, collect, parse_memory, register_layers, session,
};
