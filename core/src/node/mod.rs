//! What `dfstore-scheduler` and `dfstore-executor` share when they read
//! Ballista's flags. Their wiring (the object stores of dfstore lakes,
//! `pii_hash`, the codec of dfstore's plan nodes) lives in each binary's
//! `node` module.

use std::net::SocketAddr;

use ballista_core::error::BallistaError;

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
