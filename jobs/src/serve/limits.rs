//! What one client of the SQL endpoint may use: how long a statement runs
//! (the server's `--statement-timeout`, or the client's `SET
//! statement_timeout` when shorter), how much memory it holds
//! (`--query-memory`, see [`crate::serve::pool`]), and when a running statement stops
//! early: a CancelRequest, or its client gone. A stopped statement's rows
//! end with SQLSTATE 57014 and its plan is dropped, which stops the
//! engine's work.

use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire::api::results::{Response, SendableRowStream};
use datafusion_postgres::pgwire::api::{ClientInfo, ConnectionHandle};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt as _, Stream, StreamExt as _};
use tokio::net::TcpStream;

/// What one client may use of the SQL endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest a statement may run; `None`: no limit. A client's
    /// `SET statement_timeout` may only shorten it.
    pub statement_timeout: Option<Duration>,
    /// Connections served at once; one more is refused.
    pub max_connections: usize,
    /// The most memory one statement may hold, in bytes, drawn from the
    /// server's pool (`--memory-limit`).
    pub statement_memory: usize,
}

/// SQLSTATE `query_canceled`.
const QUERY_CANCELED: &str = "57014";
/// Where datafusion-postgres keeps a client's `SET statement_timeout`, in
/// milliseconds (0 or absent: none).
const CLIENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

/// The statement timeout of `client`: the server's, or the client's when
/// shorter.
fn timeout<C: ClientInfo>(limits: Limits, client: &C) -> Option<Duration> {
    let asked = client
        .metadata()
        .get(CLIENT_TIMEOUT_KEY)
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis);
    match (limits.statement_timeout, asked) {
        (Some(server), Some(client)) => Some(server.min(client)),
        (server, client) => server.or(client),
    }
}

/// `responses` with each query's rows stopped, with an error, when the
/// statement times out, is cancelled, or loses its client (`peer`, the
/// connection's socket, watched while the statement runs).
pub async fn guard<C: ClientInfo>(
    client: &C,
    responses: Vec<Response>,
    limits: Limits,
    peer: Arc<TcpStream>,
) -> Vec<Response> {
    let deadline = timeout(limits, client).map(|d| tokio::time::Instant::now() + d);
    let cancel = match client.session_extensions().get::<Arc<ConnectionHandle>>() {
        Some(handle) => Some(handle.start_query().await),
        None => None,
    };
    let stop = stop_signal(deadline, cancel, peer).boxed().shared();
    responses
        .into_iter()
        .map(|response| match response {
            Response::Query(mut query) => {
                let rows =
                    std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
                query.data_rows = Box::pin(stoppable(rows, stop.clone()));
                Response::Query(query)
            }
            other => other,
        })
        .collect()
}

/// Why a running statement must stop, once it must: its deadline passed,
/// its client sent a CancelRequest, or its client went away.
async fn stop_signal(
    deadline: Option<tokio::time::Instant>,
    cancel: Option<futures::channel::oneshot::Receiver<()>>,
    peer: Arc<TcpStream>,
) -> &'static str {
    let timed_out = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => futures::future::pending().await,
        }
    };
    // A sender replaced by the connection's next statement is not a cancel.
    let cancelled = async {
        let fired = match cancel {
            Some(receiver) => receiver.await.is_ok(),
            None => false,
        };
        if !fired {
            futures::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = timed_out => "canceling statement due to statement timeout",
        () = cancelled => "canceling statement due to user request",
        () = client_gone(&peer) => "canceling statement: the client disconnected",
    }
}

/// Resolves when the client has closed its connection (or sent Terminate)
/// while a statement runs; pending while it waits for the answer.
async fn client_gone(peer: &TcpStream) {
    let mut first = [0u8; 1];
    match peer.peek(&mut first).await {
        Ok(0) | Err(_) => {}
        // Terminate ('X'), unencrypted: the client is leaving.
        Ok(_) if first[0] == b'X' => {}
        // Anything else is the client's next message, read after this one.
        Ok(_) => futures::future::pending().await,
    }
}

/// `rows`, ended by the error `stop` resolves to, if it resolves first;
/// the rows' stream (and with it the statement's execution) is dropped then.
fn stoppable(
    rows: SendableRowStream,
    stop: Shared<BoxFuture<'static, &'static str>>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send {
    let stopped = Arc::new(std::sync::Mutex::new(None::<&'static str>));
    let until = {
        let stopped = Arc::clone(&stopped);
        async move {
            let why = stop.await;
            if let Ok(mut slot) = stopped.lock() {
                *slot = Some(why);
            }
        }
    };
    rows.take_until(until).chain(
        futures::stream::once(async move { stopped.lock().ok().and_then(|mut slot| slot.take()) })
            .filter_map(|why| async move {
                why.map(|why| {
                    Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                        "ERROR".into(),
                        QUERY_CANCELED.into(),
                        why.into(),
                    ))))
                })
            }),
    )
}
