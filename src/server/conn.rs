//! Bounds on connections, so slow or idle clients cannot hold the server:
//! a deadline on each request head (which also closes an idle keep-alive
//! connection), on each request body, and on the TLS handshake; and a cap
//! on open connections below the file descriptor limit, with a few spare
//! connections past it that answer `/healthz` and refuse the rest (503
//! `server_busy`) instead of leaving them to hang.

use super::error::ApiError;
use crate::api::ErrorCode;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::accept::Accept;
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// File descriptors kept out of the connection cap for the database, log
/// files, the listener, notifications and outgoing work: a quarter of the
/// limit, at least 32, at most 256.
fn fd_reserve(soft: u64) -> u64 {
    (soft / 4).clamp(32, 256)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections served at once; one more is refused unless a spare
    /// connection is free.
    pub max_connections: usize,
    /// Connections past the cap that may only ask `/healthz` (anything else
    /// is 503 `server_busy`); each closes after one answer, and one that
    /// sends nothing within 2 s is dropped.
    pub spare_connections: usize,
    /// A request head must arrive within this, counted from the connection's
    /// start or the end of the previous answer: an idle keep-alive connection
    /// is closed after it.
    pub header_timeout: Duration,
    /// A request body must arrive in full within this from its head.
    pub body_timeout: Duration,
    /// The TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
    /// The process's soft RLIMIT_NOFILE when it was read (None: unlimited or
    /// unreadable).
    pub fd_limit: Option<u64>,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self::for_fd_limit(fd_soft_limit())
    }
}

impl ConnLimits {
    pub const SPARE: usize = 8;

    /// The defaults for a file descriptor limit: the cap is the limit less
    /// the reserve and the spare connections.
    pub fn for_fd_limit(fd_limit: Option<u64>) -> Self {
        let max_connections = match fd_limit {
            Some(soft) => {
                let left = soft.saturating_sub(fd_reserve(soft) + Self::SPARE as u64);
                usize::try_from(left).unwrap_or(usize::MAX).max(1)
            }
            None => 65_536,
        };
        ConnLimits {
            max_connections,
            spare_connections: Self::SPARE,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            fd_limit,
        }
    }

    /// Past the file descriptor limit less the reserve: a warning for `serve`.
    pub fn over_fd_limit(&self) -> Option<String> {
        let soft = self.fd_limit?;
        let wanted = (self.max_connections + self.spare_connections) as u64 + fd_reserve(soft);
        (wanted > soft).then(|| {
            format!(
                "{} connections and {} spare need about {wanted} file descriptors but the limit is {soft} (ulimit -n): accepting may fail with `Too many open files`",
                self.max_connections, self.spare_connections
            )
        })
    }

    /// One line for `serve` to print at start.
    pub fn describe(&self) -> String {
        let fds = match self.fd_limit {
            Some(n) => format!("file descriptor limit {n}"),
            None => "no file descriptor limit".to_owned(),
        };
        format!(
            "at most {} connections (+{} spare for /healthz; {fds}), request head within {} s (idle keep-alive closed after it), body within {} s, TLS handshake within {} s",
            self.max_connections,
            self.spare_connections,
            self.header_timeout.as_secs_f64(),
            self.body_timeout.as_secs_f64(),
            self.tls_handshake_timeout.as_secs_f64(),
        )
    }
}

/// The soft RLIMIT_NOFILE, or None when unlimited or not readable.
pub fn fd_soft_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Counts connections against the cap around another acceptor (the plain
/// one, or the TLS one's inner acceptor, so a handshake holds a slot).
#[derive(Clone)]
pub struct Capped<A> {
    inner: A,
    slots: Arc<Semaphore>,
    spare: Arc<Semaphore>,
    header_timeout: Duration,
}

impl<A: Clone> Capped<A> {
    pub fn new(inner: A, limits: &ConnLimits) -> Self {
        Capped {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            spare: Arc::new(Semaphore::new(limits.spare_connections)),
            header_timeout: limits.header_timeout,
        }
    }
}

/// A spare connection must start its request within this, or it is closed:
/// a health check asks at once, an idle socket would hold the spare.
const SPARE_FIRST_BYTE: Duration = Duration::from_secs(2);

impl<A, S> Accept<TcpStream, S> for Capped<A>
where
    A: Accept<TcpStream, S> + Clone + Send + 'static,
    A::Future: Send + 'static,
    A::Stream: Send,
    A::Service: Send,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = Slot<A::Service>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, Slot<A::Service>)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let (permit, spare) = match self.slots.clone().try_acquire_owned() {
            Ok(p) => (p, false),
            Err(_) => match self.spare.clone().try_acquire_owned() {
                Ok(p) => (p, true),
                // Dropping the stream closes it at once: a refusal the
                // client sees, not a wait.
                Err(_) => {
                    return Box::pin(std::future::ready(Err(io::Error::other(
                        "connection limit reached (--max-connections); closed at accept",
                    ))));
                }
            },
        };
        let inner = self.inner.clone();
        let wait = SPARE_FIRST_BYTE.min(self.header_timeout);
        Box::pin(async move {
            if spare {
                // `peek`, not `readable`: readiness can be reported before
                // any byte is there; peek waits for one (or the close).
                let mut first = [0u8; 1];
                match tokio::time::timeout(wait, stream.peek(&mut first)).await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => {
                        return Err(io::Error::other(
                            "spare connection sent nothing in time; closed",
                        ));
                    }
                }
            }
            let (stream, service) = inner.accept(stream, service).await?;
            Ok((
                stream,
                Slot {
                    inner: service,
                    _permit: Arc::new(permit),
                    spare,
                },
            ))
        })
    }
}

/// A connection's service, holding its place under the cap until the
/// connection ends.
#[derive(Clone)]
pub struct Slot<S> {
    inner: S,
    _permit: Arc<OwnedSemaphorePermit>,
    spare: bool,
}

/// Marks a request that arrived on a spare connection.
#[derive(Debug, Clone, Copy)]
pub struct SpareConnection;

impl<S, B> tower::Service<axum::http::Request<B>> for Slot<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        if self.spare {
            req.extensions_mut().insert(SpareConnection);
        }
        self.inner.call(req)
    }
}

/// Per request, one layer: the body deadline, and on a spare connection
/// only `/healthz` answered and the connection closed after its answer.
pub async fn guard(body_timeout: Duration, req: Request, next: Next) -> Response {
    // A body already complete (most GETs) needs no deadline.
    let req = if http_body::Body::is_end_stream(req.body()) {
        req
    } else {
        req.map(|body| Body::new(DeadlineBody::new(body, body_timeout)))
    };
    if req.extensions().get::<SpareConnection>().is_none() {
        return next.run(req).await;
    }
    let mut response = if req.uri().path() == "/healthz" {
        next.run(req).await
    } else {
        ApiError::new(
            ErrorCode::ServerBusy,
            "the server is at its connection limit (--max-connections); try again shortly",
        )
        .with_detail(serde_json::json!({ "retry_after": 1 }))
        .into_response()
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    if response.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Why a body stopped: it was still arriving at its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body was still arriving after {0} s (--body-timeout)")]
pub struct BodyTimedOut(pub u64);

/// A request body with a deadline for all of it (tower-http's
/// `TimeoutBody` bounds the wait for each frame only, so a body trickling
/// a byte at a time would never end).
struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    /// Armed the first time the body is not ready: a body that is already
    /// there costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
}

impl DeadlineBody {
    fn new(inner: Body, timeout: Duration) -> Self {
        DeadlineBody {
            inner,
            deadline: Instant::now() + timeout,
            sleep: None,
            timeout,
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => match this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(this.deadline)))
                .as_mut()
                .poll(cx)
            {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(
                    this.timeout.as_secs().max(1),
                ))))),
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether an error (a body extractor's rejection) came from the deadline.
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<BodyTimedOut>() {
            return true;
        }
        cause = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_below_the_fd_limit() {
        let l = ConnLimits::for_fd_limit(Some(256));
        assert_eq!(l.max_connections, 256 - 64 - 8);
        assert!(l.over_fd_limit().is_none());
        let l = ConnLimits::for_fd_limit(Some(1024));
        assert_eq!(l.max_connections, 1024 - 256 - 8);
        let l = ConnLimits::for_fd_limit(Some(20));
        assert_eq!(l.max_connections, 1);
        let mut l = ConnLimits::for_fd_limit(Some(256));
        l.max_connections = 300;
        assert!(l.over_fd_limit().is_some());
        assert_eq!(ConnLimits::for_fd_limit(None).max_connections, 65_536);
    }
}
