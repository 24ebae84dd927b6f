//! `dfstore sql`: any SQL over the lake. Tables are named `raw.<t>`,
//! `trusted.<t>`, `rejected.<t>`, `analytic.<t>`; the published layers are
//! read at the versions of the newest successful run, so a query never sees
//! half of a run, even one that is publishing right now.

/// Running a query and writing its result.
pub mod output;
/// The session every table of the lake is registered in.
pub mod session;

pub use output::{Output, OutputFormat, query};
pub use session::{lake_session, planning_error};
