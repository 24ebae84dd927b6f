//! The PostgreSQL wire-protocol endpoint, for psql and BI tools: pgwire and
//! datafusion-postgres (the protocol, `pg_catalog`, the types) over the
//! lake's current snapshot. Each statement is handed to the snapshot current
//! when it arrives (for the extended protocol, when it is parsed: its plan
//! holds that snapshot's tables), so a pooled connection sees every new run
//! and no statement mixes two. Authentication is SCRAM-SHA-256 when a
//! password is set; TLS when a certificate is given.
//!
//! One client cannot take the server down ([`Limits`]): a statement runs
//! for at most the server's `--statement-timeout` (or the client's
//! `SET statement_timeout`, when shorter), holds at most `--query-memory`
//! of the server's memory pool, and stops as soon as its client
//! sends a CancelRequest (psql's Ctrl-C) or goes away; its plan is dropped,
//! which stops the engine's work. Past `--max-connections`, a client is
//! refused with PostgreSQL's `too_many_connections` (53300).

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
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::portal::Portal;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls;
use datafusion_postgres::pgwire::tokio::{TlsAcceptor, process_socket};
use futures::Sink;
use rand::RngCore as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::serve::limits::{Limits, guard};
use crate::serve::snapshot::Lakeview;

/// SQLSTATE `too_many_connections`.
const TOO_MANY_CONNECTIONS: &str = "53300";

/// The statement handlers of one connection: each call goes to the
/// current snapshot's, and its rows are guarded by the connection's limits,
/// with the connection's socket watched while a statement runs.
struct ConnectionSql {
    view: Arc<Lakeview>,
    limits: Limits,
    peer: Arc<TcpStream>,
}

impl ConnectionSql {
    /// `responses` with each query's rows stopped, with an error, when the
    /// statement times out, is cancelled or loses its client.
    async fn guarded<C: ClientInfo>(&self, client: &C, responses: Vec<Response>) -> Vec<Response> {
        guard(client, responses, self.limits, Arc::clone(&self.peer)).await
    }
}

#[async_trait]
impl SimpleQueryHandler for ConnectionSql {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = self
            .view
            .current()
            .statement_sql(self.limits.statement_memory)?;
        let responses = SimpleQueryHandler::do_query(&sql, client, query).await?;
        Ok(self.guarded(client, responses).await)
    }
}

#[async_trait]
impl ExtendedQueryHandler for ConnectionSql {
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
        let sql = self
            .view
            .current()
            .statement_sql(self.limits.statement_memory)?;
        let response = ExtendedQueryHandler::do_query(&sql, client, portal, max_rows).await?;
        let mut guarded = self.guarded(client, vec![response]).await;
        guarded
            .pop()
            .ok_or_else(|| PgWireError::ApiError("a statement without an answer".into()))
    }
}

/// No authentication: loopback only.
struct Open {
    connections: Arc<ConnectionManager>,
}

impl NoopStartupHandler for Open {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(Arc::clone(&self.connections))
    }
}

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

/// How a connection authenticates, or why it is refused.
enum Startup {
    Open(Open),
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
    /// Past `--max-connections`: refused once its startup message arrives.
    Full(usize),
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
            Startup::Full(max) => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                TOO_MANY_CONNECTIONS.into(),
                format!(
                    "sorry, too many clients already: dfstore serve takes {max} connections at once (--max-connections)"
                ),
            )))),
        }
    }
}

/// The handlers of one connection (SCRAM keeps per-connection state).
struct Connection {
    sql: Arc<ConnectionSql>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
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

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.cancel)
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

    fn startup(&self, connections: &Arc<ConnectionManager>) -> Startup {
        match &self.login {
            None => Startup::Open(Open {
                connections: Arc::clone(connections),
            }),
            Some(login) => {
                let mut parameters = DefaultServerParameterProvider::default();
                parameters.default_transaction_read_only = true;
                let source: Arc<dyn AuthSource> = login.clone();
                Startup::Scram(
                    SASLAuthStartupHandler::new(Arc::new(parameters))
                        .with_scram(ScramAuth::new(source))
                        .with_connection_manager(Arc::clone(connections)),
                )
            }
        }
    }
}

/// Accepts connections on `listener` until the task is dropped; each
/// connection runs on its own task, and one that fails ends alone. Past
/// `limits.max_connections`, a connection is answered with PostgreSQL's
/// `too_many_connections` error and closed.
pub async fn accept(
    listener: TcpListener,
    view: Arc<Lakeview>,
    access: Access,
    tls: Option<TlsAcceptor>,
    limits: Limits,
) -> Result<()> {
    let connections = Arc::new(ConnectionManager::new());
    let cancel = Arc::new(DefaultCancelHandler::new(Arc::clone(&connections)));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (socket, peer) = listener.accept().await.map_err(|e| Error::Internal {
            what: format!("accepting a SQL connection: {e}"),
        })?;
        let (socket, watched) = match watchable(socket) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "could not set up a SQL connection");
                continue;
            }
        };
        // A CancelRequest arrives on a connection of its own, which ends at
        // once; it takes a slot only for that instant.
        let slot = Arc::clone(&slots).try_acquire_owned().ok();
        let startup = match slot {
            Some(_) => access.startup(&connections),
            None => Startup::Full(limits.max_connections),
        };
        let connection = Connection {
            sql: Arc::new(ConnectionSql {
                view: Arc::clone(&view),
                limits,
                peer: Arc::new(watched),
            }),
            startup: Arc::new(startup),
            cancel: Arc::clone(&cancel),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = process_socket(socket, tls, connection).await {
                tracing::debug!(%peer, error = %e, "SQL connection ended with an error");
            }
        });
    }
}

/// `socket` and a second handle on it, through which the connection is
/// watched for its client going away while a statement runs.
fn watchable(socket: TcpStream) -> std::io::Result<(TcpStream, TcpStream)> {
    let socket = socket.into_std()?;
    let watched = socket.try_clone()?;
    Ok((TcpStream::from_std(socket)?, TcpStream::from_std(watched)?))
}
