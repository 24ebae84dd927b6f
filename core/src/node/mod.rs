//! The wiring every dfstore node shares: what `dfstore-scheduler` and
//! `dfstore-executor` add to Ballista's own scheduler and executor (the
//! object stores of dfstore lakes, `pii_hash`, the codec of dfstore's plan
//! nodes). Each binary parses Ballista's flags, sets up logging and calls
//! one function here; a test can call the same function to start a node in
//! its own process.

use std::net::SocketAddr;

use ballista_core::error::BallistaError;

/// The executor: [`executor::start`].
#[cfg(feature = "executor")]
pub mod executor;
/// The scheduler: [`scheduler::start`].
#[cfg(feature = "scheduler")]
pub mod scheduler;

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
