//! The scheduler's REST API, as the client reaches it: the failure probe,
//! the list of executors a write job checks, and the job-timeout cancel.

use std::time::Duration;

use super::Scheduler;

impl Scheduler {
    /// A client of the scheduler's REST API (served on its gRPC port, never
    /// through a proxy), each request bounded by `timeout`, and the API's
    /// base URL.
    pub(super) fn rest(&self, timeout: Duration) -> reqwest::Result<(reqwest::Client, String)> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()?;
        Ok((client, format!("{}/api", self.endpoint())))
    }

    /// The body of `GET /api/PATH`, within `timeout`; an error when the
    /// scheduler does not answer it with a success.
    pub(super) async fn get(&self, path: &str, timeout: Duration) -> reqwest::Result<String> {
        let (client, api) = self.rest(timeout)?;
        client
            .get(format!("{api}/{path}"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await
    }
}
