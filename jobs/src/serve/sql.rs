//! The PostgreSQL wire-protocol endpoint, for psql and BI tools: pgwire and
//! datafusion-postgres (the protocol, `pg_catalog`, the types) over the
//! lake's current snapshot. Each statement is handed to the snapshot current
//! when it arrives (for the extended protocol, when it is parsed: its plan
//! holds that snapshot's tables), so a pooled connection sees every new run
//! and no statement mixes two. Authentication is SCRAM-SHA-256 when a
//! password is set; TLS when a certificate is given.

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::Parser;
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::scram::{
    SCRAM_ITERATIONS, ScramAuth, gen_salted_password,
};
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::portal::Portal;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls;
use datafusion_postgres::pgwire::tokio::{TlsAcceptor, process_socket};
use futures::Sink;
use rand::RngCore as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::serve::snapshot::Lakeview;

/// The statement handlers: each call goes to the current snapshot's.
struct LakeSql {
    view: Arc<Lakeview>,
}

#[async_trait]
impl SimpleQueryHandler for LakeSql {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = Arc::clone(&self.view.current().sql);
        SimpleQueryHandler::do_query(&*sql, client, query).await
    }
}

#[async_trait]
impl ExtendedQueryHandler for LakeSql {
    type Statement = <Parser as datafusion_postgres::pgwire::api::stmt::QueryParser>::Statement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        ExtendedQueryHandler::query_parser(&*self.view.current().sql)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = Arc::clone(&self.view.current().sql);
        ExtendedQueryHandler::do_query(&*sql, client, portal, max_rows).await
    }
}

/// No authentication: loopback only.
struct Open;

impl NoopStartupHandler for Open {}

/// The one login of the endpoint, checked with SCRAM-SHA-256.
#[derive(Debug)]
struct Login {
    user: String,
    salt: Vec<u8>,
    salted: Vec<u8>,
}

#[async_trait]
impl AuthSource for Login {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        if login.user() != Some(self.user.as_str()) {
            return Err(PgWireError::InvalidPassword(
                login.user().unwrap_or_default().to_string(),
            ));
        }
        Ok(Password::new(Some(self.salt.clone()), self.salted.clone()))
    }
}

/// How a connection authenticates.
enum Startup {
    Open(Open),
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Open(open) => open.on_startup(client, message).await,
            Startup::Scram(scram) => scram.on_startup(client, message).await,
        }
    }
}

/// The handlers of one connection (SCRAM keeps per-connection state).
struct Connection {
    sql: Arc<LakeSql>,
    startup: Arc<Startup>,
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.sql)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.sql)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }
}

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The TLS acceptor of `files`; a file that does not load is an error
/// naming it, never a silent fallback to plain text.
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor> {
    let bad = |flag: &str, path: &PathBuf, e: String| Error::InvalidArgument {
        flag: flag.into(),
        reason: format!("{}: {e}", path.display()),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect)
        .map_err(|e| bad("--tls-cert", &files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(
            "--tls-cert",
            &files.cert,
            "no certificate in it".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| bad("--tls-key", &files.key, e.to_string()))?;
    // The *ring* provider, as every TLS client of dfstore uses: the AWS
    // crates also link aws-lc-rs, so none is the process default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("--tls-cert", &files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("--tls-key", &files.key, e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Who may connect: anyone (loopback), or `user` with `password`.
#[derive(Clone)]
pub struct Access {
    login: Option<Arc<Login>>,
}

impl Access {
    /// No password: for a loopback address only.
    pub fn open() -> Self {
        Access { login: None }
    }

    /// `user` with `password`, checked with SCRAM-SHA-256.
    pub fn password(user: &str, password: &str) -> Self {
        let mut salt = vec![0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
        Access {
            login: Some(Arc::new(Login {
                user: user.to_string(),
                salt,
                salted,
            })),
        }
    }

    fn startup(&self) -> Startup {
        match &self.login {
            None => Startup::Open(Open),
            Some(login) => {
                let mut parameters = DefaultServerParameterProvider::default();
                parameters.default_transaction_read_only = true;
                let source: Arc<dyn AuthSource> = login.clone();
                Startup::Scram(
                    SASLAuthStartupHandler::new(Arc::new(parameters))
                        .with_scram(ScramAuth::new(source)),
                )
            }
        }
    }
}

/// Accepts connections on `listener` until the task is dropped; each
/// connection runs on its own task, and one that fails ends alone.
pub async fn accept(
    listener: TcpListener,
    view: Arc<Lakeview>,
    access: Access,
    tls: Option<TlsAcceptor>,
) -> Result<()> {
    let sql = Arc::new(LakeSql { view });
    loop {
        let (socket, peer) = listener.accept().await.map_err(|e| Error::Internal {
            what: format!("accepting a SQL connection: {e}"),
        })?;
        let connection = Connection {
            sql: Arc::clone(&sql),
            startup: Arc::new(access.startup()),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = process_socket(socket, tls, connection).await {
                tracing::debug!(%peer, error = %e, "SQL connection ended with an error");
            }
        });
    }
}
