//! Which failures a nightly step retries: those of the moment (a refused,
//! dropped or timed-out connection, throttling, a lost executor or
//! scheduler), with exponential backoff; never those of the data (a broken
//! rule, drift, a changed file, a reconciliation that does not hold) or of
//! the configuration, which a retry would only repeat.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tracing::{Instrument as _, info_span, warn};
use tracing_indicatif::span_ext::IndicatifSpanExt as _;
use tracing_indicatif::style::ProgressStyle;

use crate::error::{Error, Result};

/// How a step is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: usize,
    /// The wait before the first retry; each next one doubles it.
    pub delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            delay: Duration::from_secs(5),
        }
    }
}

/// Whether a failure is of the moment rather than of the data or the
/// configuration. Messages are compared without case: the operating
/// system says "Connection reset by peer", drivers "connection reset".
pub fn is_transient(error: &Error) -> bool {
    const PASSING: [&str; 15] = [
        "refused",
        "lost executor",
        "lost the executor",
        "early eof",
        "connection closed",
        "terminating connection",
        "the server ended the session",
        "timed out",
        "connection reset",
        "error connecting",
        "cannot reach the scheduler",
        "throttl",
        "slowdown",
        "503 service unavailable",
        "dispatch failure",
    ];
    match error {
        Error::Source { .. }
        | Error::Storage { .. }
        | Error::Engine { .. }
        | Error::Aws { .. }
        | Error::Delta { .. } => {
            let text = error.to_string().to_lowercase();
            PASSING.iter().any(|p| text.contains(p))
        }
        _ => false,
    }
}

/// Runs `step` until it succeeds, fails for a reason that is not transient,
/// or has been retried `policy.retries` times; returns its value and the
/// number of attempts made.
pub async fn with_retries<T, F, Fut>(name: &str, policy: RetryPolicy, step: F) -> (Result<T>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let attempts = std::cell::Cell::new(0u32);
    let mut step = step;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.delay)
        .with_max_delay(policy.delay * 16)
        .with_max_times(policy.retries);
    let progress = info_span!("step", step = name, indicatif.pb_show = true);
    if let Ok(style) = ProgressStyle::with_template(
        "{span_child_prefix}{spinner} {span_name}{{{span_fields}}} {elapsed}",
    ) {
        progress.pb_set_style(&style);
    }
    let result = (|| {
        attempts.set(attempts.get() + 1);
        step()
    })
    .retry(backoff)
    .when(is_transient)
    .notify(|e: &Error, wait: Duration| {
        warn!(step = name, error = %e, wait_s = wait.as_secs_f64(), "transient failure, retrying");
    })
    .instrument(progress)
    .await;
    (result, attempts.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(reason: &str) -> Error {
        Error::Source {
            database: "postgresql://u@h:1/db".into(),
            reason: reason.into(),
            fix: "check".into(),
        }
    }

    #[test]
    fn passing_failures_are_told_from_the_data_s() {
        assert!(is_transient(&source(
            "error connecting to server: Connection refused"
        )));
        assert!(is_transient(&source("connection closed")));
        assert!(is_transient(&source(
            "error communicating with the server: Connection reset by peer (os error 104)"
        )));
        assert!(is_transient(&source("ThrottlingException: Rate exceeded")));
        let engine = |message: &str| {
            Error::engine(
                "staging.ventas",
                datafusion::error::DataFusionError::External(message.into()),
            )
        };
        assert!(is_transient(&engine(
            "lost the executor at 10.0.0.7:50051 (the scheduler at df://10.0.0.1:50050 answers); the job failed: …"
        )));
        assert!(is_transient(&engine(
            "job dfstore-0193 timed out: it ran longer than --job-timeout 30m and was cancelled; …"
        )));
        assert!(!is_transient(&source(
            "password authentication failed for user"
        )));
        assert!(!is_transient(&Error::Reconciliation {
            table: "ventas".into(),
            raw: 1,
            trusted: 0,
            rejected: 0
        }));
        assert!(!is_transient(&Error::InvalidArgument {
            flag: "--pg".into(),
            reason: "connection refused".into()
        }));
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_and_a_data_failure_is_not() {
        let policy = RetryPolicy {
            retries: 3,
            delay: Duration::from_millis(1),
        };
        let calls = std::cell::Cell::new(0);
        let (result, attempts) = with_retries("t", policy, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(source("connection refused"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!((result.unwrap(), attempts), (3, 3));

        let (result, attempts) = with_retries("t", policy, || async {
            Err::<(), _>(Error::NoRawData { lake: "l".into() })
        })
        .await;
        assert!(result.is_err());
        assert_eq!(attempts, 1);
    }
}
