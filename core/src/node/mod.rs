//! What `dfstore-scheduler` and `dfstore-executor` share when they read
//! Ballista's flags. Their wiring (the object stores of dfstore lakes,
//! `pii_hash`, the codec of dfstore's plan nodes) lives in each binary's
//! `node` module.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::error::BallistaError;
use ballista_core::extension::EndpointOverrideFn;

/// How long a node waits to connect to another.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an open connection is probed while it waits on a node.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// How long a probed node may take to answer.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of the gRPC connections a node opens to another (the client
/// to the scheduler and to the executors it fetches answers from, an
/// executor to the executors it fetches shuffle blocks from), for Ballista's
/// endpoint hook: a connect timeout, and keep-alive probes that end a
/// connection whose node stopped answering. Ballista connects to executors
/// without a timeout, so a fetch from an executor cut off the network
/// (packets dropped, nothing refused) would otherwise wait for the
/// operating system's connect timeout, minutes per try.
pub fn bounded_endpoint() -> EndpointOverrideFn {
    Arc::new(|endpoint| {
        Ok(endpoint
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(Some(KEEPALIVE))
            .http2_keep_alive_interval(KEEPALIVE)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true))
    })
}

/// The socket address of `host` and `port`; an error names `flags`.
pub fn bind_address(host: &str, port: u16, flags: &str) -> Result<SocketAddr, BallistaError> {
    let text = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    text.parse().map_err(|e| {
        BallistaError::Configuration(format!(
            "{flags}: `{text}` is not an address to listen on ({e}); give an IP address, e.g. 0.0.0.0 or 127.0.0.1"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses_name_the_flags() {
        assert_eq!(
            bind_address("127.0.0.1", 50050, "--bind-host").unwrap(),
            "127.0.0.1:50050".parse().unwrap()
        );
        assert_eq!(
            bind_address("::1", 1, "--bind-host").unwrap(),
            "[::1]:1".parse().unwrap()
        );
        let err = bind_address("localhost", 1, "--bind-host/--bind-port")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--bind-host/--bind-port"), "{err}");
    }
}
