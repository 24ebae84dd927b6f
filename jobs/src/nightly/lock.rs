//! The lake's lock (`_locks/nightly.json`): created with a conditional
//! write, so that of two nightly runs started at once exactly one gets it;
//! the other stops at once naming the holder. A lock whose holder died on
//! this machine (its process is gone) is stale and taken over with a
//! warning; a holder on another machine cannot be checked from here, and
//! the message says how to clear it.

use chrono::{DateTime, Utc};
use object_store::{PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::error::{Error, Result};
use crate::lake::Lake;

/// Where the lock lives, relative to the lake root.
pub const LOCK_PATH: &str = "_locks/nightly.json";

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The nightly run's id.
    pub pipeline_id: String,
    /// The machine.
    pub host: String,
    /// The process.
    pub pid: u32,
    /// When it took the lock.
    pub since: DateTime<Utc>,
}

impl Holder {
    /// This process, for `pipeline_id`.
    pub fn this_process(pipeline_id: &str) -> Self {
        Holder {
            pipeline_id: pipeline_id.to_string(),
            host: host_name(),
            pid: std::process::id(),
            since: Utc::now(),
        }
    }

    fn shown(&self) -> String {
        format!(
            "nightly run {} (pid {} on {}, since {})",
            self.pipeline_id,
            self.pid,
            self.host,
            self.since.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }

    /// Whether the holder is known to be gone: a process of this machine
    /// that no longer exists.
    fn is_gone(&self) -> bool {
        self.host == host_name() && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// The lock, held until [`LakeLock::release`].
#[derive(Debug)]
pub struct LakeLock {
    lake: Lake,
    /// The holder: this process.
    pub holder: Holder,
    /// The stale lock taken over, if there was one.
    pub recovered: Option<Holder>,
}

impl LakeLock {
    /// Takes the lake's lock for `pipeline_id`, or fails naming its holder.
    pub async fn acquire(lake: &Lake, pipeline_id: &str) -> Result<Self> {
        let holder = Holder::this_process(pipeline_id);
        let mut recovered = None;
        for _ in 0..2 {
            if create(lake, &holder).await? {
                return Ok(LakeLock {
                    lake: lake.clone(),
                    holder,
                    recovered,
                });
            }
            let Some(current) = lake.get_json::<Holder>(LOCK_PATH).await? else {
                continue; // released in between: try again
            };
            if !current.is_gone() {
                return Err(Error::LakeLocked {
                    lake: lake.url().to_string(),
                    holder: current.shown(),
                    lock: LOCK_PATH.into(),
                });
            }
            warn!(stale = %current.shown(), "taking over the lock of a nightly run that is gone");
            lake.delete(LOCK_PATH).await?;
            recovered = Some(current);
        }
        Err(Error::LakeLocked {
            lake: lake.url().to_string(),
            holder: "another nightly run that keeps taking it".into(),
            lock: LOCK_PATH.into(),
        })
    }

    /// Releases the lock.
    pub async fn release(self) -> Result<()> {
        self.lake.delete(LOCK_PATH).await
    }
}

/// Writes the lock if nobody holds it; false when it exists.
async fn create(lake: &Lake, holder: &Holder) -> Result<bool> {
    let bytes = serde_json::to_vec_pretty(holder).map_err(|e| Error::Internal {
        what: format!("serialising the lock: {e}"),
    })?;
    let path = lake.path(LOCK_PATH);
    let options = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    match lake
        .store()
        .put_opts(&path, PutPayload::from(bytes), options)
        .await
    {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(lake.io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake() -> (tempfile::TempDir, Lake) {
        let dir = tempfile::TempDir::new().unwrap();
        let lake = Lake::open(
            dfstore_core::LakeUrl::parse(dir.path().to_str().unwrap()).unwrap(),
            &Default::default(),
        )
        .unwrap();
        (dir, lake)
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_dead_one_is_replaced() {
        let (_dir, lake) = lake();
        let first = LakeLock::acquire(&lake, "a").await.unwrap();
        let err = LakeLock::acquire(&lake, "b").await.unwrap_err().to_string();
        assert!(err.contains("nightly run a (pid "), "{err}");
        first.release().await.unwrap();
        let second = LakeLock::acquire(&lake, "b").await.unwrap();
        assert!(second.recovered.is_none());
        second.release().await.unwrap();

        // A holder of this machine whose process is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = Holder {
            pid: dead,
            ..Holder::this_process("dead")
        };
        lake.put_json(LOCK_PATH, &stale).await.unwrap();
        let taken = LakeLock::acquire(&lake, "c").await.unwrap();
        assert_eq!(taken.recovered.as_ref().map(|h| h.pid), Some(dead));
        taken.release().await.unwrap();
    }
}
