//! What the commands print for people.

/// Crawls and their changes as text.
pub mod catalog;
/// `dfstore tables` and `dfstore runs`.
pub mod inventory;
/// What a warehouse load did.
pub mod load;
/// What a nightly run did.
pub mod nightly;
/// The summaries of runs, generations, ingests and verifications.
pub mod run;
