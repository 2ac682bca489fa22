//! The accept loop behind `webhooks.listen`: HTTP/1 connections with a deadline for each
//! phase of a request and a cap on how many are open at once.
//!
//! A client that opens connections and then sends nothing, half a request line, or half a
//! body must not hold a file each for ever: enough of them and the process cannot accept
//! Ecwid's deliveries or the health checks (`Too many open files`). So every connection is
//! in one of three phases, each bounded:
//!
//! | phase | ends when | bounded by |
//! |---|---|---|
//! | idle: no request since the last answer (or since it opened) | a byte arrives | `webhooks.idle_timeout_secs` |
//! | reading a request's line and headers | the headers are complete | `webhooks.header_read_timeout_secs` |
//! | answering (the body is read by the handler) | the answer is produced | `webhooks.body_read_timeout_secs` for the body |
//!
//! hyper's own header timeout is not used: it starts when a connection goes idle, so it
//! would cut keep-alive connections at the header deadline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::config::WebhooksConfig;
use crate::log_summary::Summary;

/// After a failed accept (out of files, most likely), the pause before the next: short,
/// since a connection closing frees a file at any moment and Ecwid waits for its answer.
const ACCEPT_PAUSE: Duration = Duration::from_millis(20);

/// The listener's deadlines and cap.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read: Duration,
    pub body_read: Duration,
    pub idle: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn of(config: &WebhooksConfig) -> Limits {
        Limits {
            header_read: config.header_read_timeout,
            body_read: config.body_read_timeout,
            idle: config.idle_timeout,
            max_connections: config.max_connections as usize,
        }
    }
}

/// Files the daemon needs besides the listener's connections: the mirror and its side
/// files, its connections to Ecwid, the journal, with room to spare.
const OWN_FILES: libc::rlim_t = 256;

/// Raises the process's soft limit on open files, within its hard limit, to what
/// `max_connections` connections and the daemon's own files need; warns when the hard
/// limit is lower. systemd's default soft limit (1024) is far below its hard limit.
pub fn make_room_for(max_connections: usize) {
    let wanted = max_connections as libc::rlim_t + OWN_FILES;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let current = limit.rlim_cur;
    if current >= wanted {
        return;
    }
    let raised = wanted.min(limit.rlim_max);
    if raised > current {
        let raised_limit = libc::rlimit {
            rlim_cur: raised,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised_limit) } != 0 {
            return;
        }
    }
    if raised < wanted {
        tracing::warn!(
            file_limit = raised,
            max_connections,
            wanted,
            "the process may open fewer files than webhooks.max_connections plus the daemon's own need; raise LimitNOFILE in the unit or lower webhooks.max_connections"
        );
    }
}

/// Serves `router` on `listener` until `shutdown`, then lets requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let open = Arc::new(Open::default());
    let mut connections = JoinSet::new();
    let mut accept_errors = Summary::new(crate::log_summary::INTERVAL);
    let mut evictions = Summary::new(crate::log_summary::INTERVAL);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            // A client that gave up before its connection was accepted: nothing to wait out.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                continue;
            }
            Err(e) => {
                if let Some(count) = accept_errors.note(std::time::Instant::now()) {
                    tracing::warn!(error = %e, count, "the listener cannot accept connections");
                }
                // Out of files: a connection not being answered makes room sooner than
                // its deadline would.
                open.close_one();
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        if open.len() >= limits.max_connections {
            open.close_one();
            if let Some(count) = evictions.note(std::time::Instant::now()) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    count,
                    "webhooks.max_connections reached: the oldest connections not being answered were closed to accept new ones"
                );
            }
        }
        let conn = open.add();
        connections.spawn(serve_connection(
            stream,
            remote,
            router.clone(),
            conn,
            open.clone(),
            limits,
            shutdown.clone(),
        ));
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    conn: Arc<Conn>,
    open: Arc<Open>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let _registered = Registered { open, id: conn.id };
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(Watched {
        stream,
        conn: conn.clone(),
    });
    let app = TowerToHyperService::new(router);
    let answering_conn = conn.clone();
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        let answering = Answering::begin(answering_conn.clone());
        request.extensions_mut().insert(ConnectInfo(remote));
        let request = request.map(|body| TimedBody::new(body, limits.body_read));
        let answer = app.call(request);
        async move {
            let response = answer.await;
            drop(answering);
            response
        }
    });
    let connection = http1::Builder::new().serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        // Dropping the connection closes the socket.
        _ = conn.evicted.cancelled() => return,
        phase = overdue(&conn, &limits) => {
            tracing::debug!(%remote, phase, "connection closed: past its deadline");
            return;
        }
        _ = shutdown.cancelled() => {}
    }
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = overdue(&conn, &limits) => {}
    }
}

/// Resolves, with the phase's name, once the connection has stayed in a phase longer than
/// the limit for it.
async fn overdue(conn: &Conn, limits: &Limits) -> &'static str {
    loop {
        let (phase, since) = conn.phase();
        let limit = match phase {
            Phase::Idle => Some((limits.idle, "idle")),
            Phase::ReadingHead => Some((limits.header_read, "reading headers")),
            // The body's deadline is the body's own (TimedBody); the handler's work is
            // bounded by the handler.
            Phase::Answering => None,
        };
        match limit {
            Some((limit, name)) => {
                let deadline = since + limit;
                if Instant::now() >= deadline {
                    return name;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = conn.changed.notified() => {}
                }
            }
            None => conn.changed.notified().await,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    ReadingHead,
    Answering,
}

/// One open connection, as the accept loop and the deadlines see it.
struct Conn {
    id: u64,
    phase: Mutex<(Phase, Instant)>,
    /// Told of every change of phase, so that the deadline follows it.
    changed: Notify,
    /// Cancelled to close the connection and make room for a new one.
    evicted: CancellationToken,
}

impl Conn {
    fn phase(&self) -> (Phase, Instant) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, from: Option<Phase>, to: Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if from.is_none_or(|from| phase.0 == from) {
            *phase = (to, Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Open {
    next_id: AtomicU64,
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

impl Open {
    fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn add(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            phase: Mutex::new((Phase::Idle, Instant::now())),
            changed: Notify::new(),
            evicted: CancellationToken::new(),
        });
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conn.id, conn.clone());
        conn
    }

    /// Closes the oldest connection not being answered, or the oldest of all when every one
    /// is being answered. An honest client's request is answered in milliseconds, so the
    /// oldest idle or half-sent connections are the ones least likely to be Ecwid's.
    fn close_one(&self) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let victim = conns
            .values()
            .find(|c| c.phase().0 != Phase::Answering)
            .or_else(|| conns.values().next())
            .map(|c| c.id);
        if let Some(conn) = victim.and_then(|id| conns.remove(&id)) {
            conn.evicted.cancel();
        }
    }
}

/// Removes its connection from [`Open`] when the connection's task ends, however it ends.
struct Registered {
    open: Arc<Open>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.open
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// A request being answered; the connection is idle again when it is dropped.
struct Answering(Arc<Conn>);

impl Answering {
    fn begin(conn: Arc<Conn>) -> Answering {
        conn.set(None, Phase::Answering);
        Answering(conn)
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.set(None, Phase::Idle);
    }
}

/// The socket, telling its connection when a request's first bytes arrive.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.set(Some(Phase::Idle), Phase::ReadingHead);
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The error a request body gives when it did not arrive within
/// `webhooks.body_read_timeout_secs` of its headers.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within webhooks.body_read_timeout_secs ({} s)", .0.as_secs())]
pub struct BodyTimedOut(pub Duration);

/// A request body with a deadline.
struct TimedBody {
    inner: Incoming,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(inner: Incoming, limit: Duration) -> TimedBody {
        TimedBody {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut(this.limit).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error`, or any of its causes, is a body that timed out.
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_is_made_by_closing_the_oldest_connection_not_being_answered() {
        let open = Open::default();
        let conns: Vec<Arc<Conn>> = (0..3).map(|_| open.add()).collect();
        let _answering = Answering::begin(conns[0].clone());
        conns[1].set(Some(Phase::Idle), Phase::ReadingHead);
        open.close_one();
        assert!(!conns[0].evicted.is_cancelled(), "being answered");
        assert!(
            conns[1].evicted.is_cancelled(),
            "the oldest not being answered"
        );
        assert!(!conns[2].evicted.is_cancelled());
        assert_eq!(open.len(), 2);

        // When every connection is being answered, the oldest goes.
        let _also = Answering::begin(conns[2].clone());
        open.close_one();
        assert!(conns[0].evicted.is_cancelled());
        assert_eq!(open.len(), 1);
    }
}
