//! TLS to the source PostgreSQL, with libpq's `sslmode` meanings:
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | no | — |
//! | `prefer` (default) | when the server offers it | no |
//! | `require` | yes | no |
//! | `verify-full` | yes | chain against `sslrootcert` (default: the system CA bundle) and the host name |
//!
//! tokio-postgres knows only the first three, so `verify-full` and
//! `sslrootcert` are taken out of the URL here and become a rustls
//! configuration (rustls with the *ring* provider, through
//! tokio-postgres-rustls).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the server's certificate is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt without checking who answers (`prefer`, `require`).
    No,
    /// Check the chain against these roots and the host name (`verify-full`).
    Full(PathBuf),
}

/// The system CA bundles `verify-full` falls back on without `sslrootcert`,
/// as libpq's `sslrootcert=system` does: Amazon Linux's (EMR's nodes), then
/// Debian's.
pub const SYSTEM_BUNDLES: [&str; 2] = [
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
];

/// The first system CA bundle that exists.
fn system_bundle() -> Option<PathBuf> {
    SYSTEM_BUNDLES
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// Takes `sslmode=verify-full` and `sslrootcert=PATH` out of a URL's query;
/// returns the URL tokio-postgres can parse (with `sslmode=require` in their
/// place) and the verification asked for. Errors never repeat the URL.
pub fn split_url(text: &str) -> Result<(String, Verify), String> {
    let Some((base, query)) = text.split_once('?') else {
        return Ok((text.to_string(), Verify::No));
    };
    let mut kept = Vec::new();
    let (mut mode, mut root) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = Some(value.to_string()),
            Some(("sslrootcert", value)) => root = Some(PathBuf::from(value)),
            _ => kept.push(pair.to_string()),
        }
    }
    let verify = match (mode.as_deref(), root) {
        (Some("verify-full"), Some(root)) => {
            kept.push("sslmode=require".into());
            Verify::Full(root)
        }
        (Some("verify-full"), None) => {
            let Some(bundle) = system_bundle() else {
                return Err(format!(
                    "sslmode=verify-full needs sslrootcert=PATH (the CA certificate, PEM) in the URL; no system CA bundle was found at {}",
                    SYSTEM_BUNDLES.join(" or ")
                ));
            };
            kept.push("sslmode=require".into());
            Verify::Full(bundle)
        }
        (Some("verify-ca"), _) => {
            return Err(
                "sslmode=verify-ca is not supported; use sslmode=verify-full with sslrootcert=PATH"
                    .into(),
            );
        }
        (Some(other), _) => {
            kept.push(format!("sslmode={other}"));
            Verify::No
        }
        (None, _) => Verify::No,
    };
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, verify))
}

/// The TLS connector for `verify`.
pub fn connector(verify: &Verify) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let config = match verify {
        Verify::Full(root) => builder
            .with_root_certificates(roots(root)?)
            .with_no_client_auth(),
        Verify::No => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn roots(file: &Path) -> Result<RootCertStore, String> {
    let unreadable = |e: &dyn std::fmt::Display| {
        format!(
            "sslrootcert {}: {e}; give the CA certificate in PEM",
            file.display()
        )
    };
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).map_err(|e| unreadable(&e))? {
        store
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    if store.is_empty() {
        return Err(unreadable(&"no certificate in the file"));
    }
    Ok(store)
}

/// Accepts any server certificate but still checks that the handshake is
/// signed by its key: libpq's `require`, encryption without authentication.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_full_is_taken_out_of_the_url() {
        let (url, verify) = split_url(
            "postgresql://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgresql://u@h/db?application_name=x&sslmode=require"
        );
        assert_eq!(verify, Verify::Full("/ca.pem".into()));
        let (url, verify) = split_url("postgresql://u@h/db?sslmode=require").unwrap();
        assert_eq!(url, "postgresql://u@h/db?sslmode=require");
        assert_eq!(verify, Verify::No);
        // Without sslrootcert, the system's bundle, where there is one.
        let bare = split_url("postgresql://u@h/db?sslmode=verify-full");
        match system_bundle() {
            Some(bundle) => assert_eq!(bare.unwrap().1, Verify::Full(bundle)),
            None => assert!(bare.unwrap_err().contains("no system CA bundle")),
        }
        assert!(split_url("postgresql://u@h/db?sslmode=verify-ca&sslrootcert=/x").is_err());
    }
}
