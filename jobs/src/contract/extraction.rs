//! The identity of a raw extraction.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// Folder (under `raw/`) holding one manifest per published extraction.
pub const MANIFEST_DIR: &str = "raw/_extracciones";

/// The identity of an extraction: the UTC instant it was taken, printed as
/// `YYYYMMDDTHHMMSSZ` (sorts in time order and is safe in every object store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtractionId(DateTime<Utc>);

impl ExtractionId {
    const FORMAT: &'static str = "%Y%m%dT%H%M%SZ";

    /// The extraction taken at `instant` (sub-second precision is dropped).
    pub fn at(instant: DateTime<Utc>) -> Self {
        let secs = instant.timestamp();
        ExtractionId(DateTime::from_timestamp(secs, 0).unwrap_or(instant))
    }

    /// The instant of the extraction.
    pub fn instant(self) -> DateTime<Utc> {
        self.0
    }

    /// The folder of `table` for this extraction, relative to the lake root.
    pub fn folder(self, table: &str) -> String {
        format!("raw/{table}/extraido={self}/")
    }

    /// The manifest's path, relative to the lake root.
    pub fn manifest_path(self) -> String {
        format!("{MANIFEST_DIR}/{self}.json")
    }
}

impl fmt::Display for ExtractionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format(Self::FORMAT))
    }
}

impl FromStr for ExtractionId {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        NaiveDateTime::parse_from_str(s, Self::FORMAT)
            .map(|t| ExtractionId(t.and_utc()))
            .map_err(|e| format!("`{s}` is not an extraction id (YYYYMMDDTHHMMSSZ): {e}"))
    }
}

impl Serialize for ExtractionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExtractionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction_id_round_trips_and_sorts() {
        let a: ExtractionId = "20260102T060000Z".parse().unwrap();
        let b: ExtractionId = "20260103T000000Z".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "20260102T060000Z");
        assert_eq!(a.folder("ventas"), "raw/ventas/extraido=20260102T060000Z/");
        assert!("2026-01-02".parse::<ExtractionId>().is_err());
    }
}
