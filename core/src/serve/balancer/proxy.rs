//! One request through the balancer: choose a replica, forward the request with
//! its body streamed (or replayed, when small), pass the response back, retry on
//! another replica when a connection could not even be made.

use std::convert::Infallible;
use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{Instant, timeout_at};

use super::body::ProxyBody;
use super::policy::Policy;
use super::rate::RequestRate;
use super::replicas::Replicas;

/// The largest request body kept in memory so that the request can be retried
/// on another replica: bodies up to this size with a `Content-Length` are read
/// whole before the first attempt; others are streamed, and never retried.
pub(super) const MAX_REPLAY_BODY: u64 = 1024 * 1024;
/// How long connecting to a replica may take before the attempt counts as
/// failed (and goes to another replica).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an unused pooled connection to a replica is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Headers that concern one connection only (RFC 9110 §7.6.1, with the proxy
/// authentication pair, which is meant for this proxy), never forwarded; nor are
/// the headers the `Connection` header names. `Upgrade` being dropped, protocol
/// upgrades (WebSocket) do not pass the balancer.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// A request body sent to replicas.
type UpstreamBody = BoxBody<Bytes, hyper::Error>;

/// What the accept loop and every request share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) replicas: Replicas,
    pub(super) rate: RequestRate,
    /// Replicas a request could not reach (or that failed mid-request) since the
    /// controller last asked: it probes them at once instead of at its interval.
    pub(super) unreachable: std::sync::Mutex<std::collections::BTreeSet<u64>>,
    client: Client<HttpConnector, UpstreamBody>,
    stream_timeout: Duration,
    retries: u32,
}

impl Shared {
    /// Must run inside a tokio runtime (the pool's connections are its tasks).
    pub(super) fn new(policy: Policy, stream_timeout: Duration, retries: u32) -> Shared {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Shared {
            replicas: Replicas::new(policy),
            rate: RequestRate::new(),
            unreachable: Default::default(),
            client,
            stream_timeout,
            retries,
        }
    }
}

/// Why the balancer answers a request itself.
#[derive(Debug)]
enum Failure {
    /// The ready set is empty.
    NoReplica,
    /// No connection to any replica tried could be made.
    Unreachable { attempts: usize },
    /// The replica took the request and failed before a response.
    ReplicaFailed,
    /// No response headers within the stream timeout.
    Timeout(Duration),
    /// The client's (small) body did not arrive within the stream timeout.
    RequestTimeout,
    /// The client's body could not be read.
    RequestBody,
    /// The request target cannot be put on a replica's URL.
    BadTarget,
}

impl Failure {
    fn response(&self) -> Response<ProxyBody> {
        let (status, text) = match self {
            Failure::NoReplica => (
                StatusCode::SERVICE_UNAVAILABLE,
                "no replica of this service is ready\n".to_string(),
            ),
            Failure::Unreachable { attempts } => (
                StatusCode::BAD_GATEWAY,
                format!("no replica of this service could be reached ({attempts} tried)\n"),
            ),
            Failure::ReplicaFailed => (
                StatusCode::BAD_GATEWAY,
                "the replica closed the connection without answering\n".to_string(),
            ),
            Failure::Timeout(limit) => (
                StatusCode::GATEWAY_TIMEOUT,
                format!("the replica did not answer within {limit:?}\n"),
            ),
            Failure::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time\n".to_string(),
            ),
            Failure::RequestBody => (
                StatusCode::BAD_REQUEST,
                "the request body could not be read\n".to_string(),
            ),
            Failure::BadTarget => (
                StatusCode::BAD_REQUEST,
                "the request target cannot be forwarded\n".to_string(),
            ),
        };
        let mut response = Response::new(ProxyBody::message(text));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// Answers one request that arrived from `peer` (over TLS when `https`).
pub(super) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    peer: SocketAddr,
    https: bool,
) -> Result<Response<ProxyBody>, Infallible> {
    shared.rate.record();
    let now = Instant::now();
    // A timeout too large to add is no timeout: a century away.
    let deadline = now
        .checked_add(shared.stream_timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
    Ok(forward(&shared, request, peer, https, deadline)
        .await
        .unwrap_or_else(|failure| failure.response()))
}

async fn forward(
    shared: &Shared,
    request: Request<Incoming>,
    peer: SocketAddr,
    https: bool,
    deadline: Instant,
) -> Result<Response<ProxyBody>, Failure> {
    if shared.replicas.is_empty() {
        return Err(Failure::NoReplica);
    }
    let (mut head, body) = request.into_parts();
    strip_hop_by_hop(&mut head.headers);
    add_forwarded(&mut head.headers, peer, https);
    let mut body = RequestBody::read(body, deadline).await?;
    let mut tried: Vec<u64> = Vec::new();
    loop {
        let Some(chosen) = shared.replicas.choose(&tried) else {
            return Err(if tried.is_empty() {
                Failure::NoReplica
            } else {
                Failure::Unreachable {
                    attempts: tried.len(),
                }
            });
        };
        tried.push(chosen.id);
        let uri = chosen
            .uri(head.uri.path_and_query())
            .map_err(|_| Failure::BadTarget)?;
        // A streamed body goes with the first attempt, which is then the only one.
        let upstream_body = body.take().ok_or(Failure::Unreachable {
            attempts: tried.len(),
        })?;
        let mut upstream = Request::new(upstream_body);
        *upstream.method_mut() = head.method.clone();
        *upstream.uri_mut() = uri;
        *upstream.headers_mut() = head.headers.clone();
        match timeout_at(deadline, shared.client.request(upstream)).await {
            Err(_) => return Err(Failure::Timeout(shared.stream_timeout)),
            Ok(Ok(response)) => {
                let (mut head, incoming) = response.into_parts();
                strip_hop_by_hop(&mut head.headers);
                let body =
                    ProxyBody::upstream(incoming, chosen.guard, deadline, shared.stream_timeout);
                return Ok(Response::from_parts(head, body));
            }
            Ok(Err(e)) => {
                let why = causes(&e);
                shared
                    .unreachable
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(chosen.id);
                if !e.is_connect() {
                    tracing::warn!(replica = chosen.id, "request to replica failed: {why}");
                    return Err(Failure::ReplicaFailed);
                }
                let retry = body.replayable() && tried.len() <= shared.retries as usize;
                tracing::warn!(
                    replica = chosen.id,
                    retry,
                    "cannot connect to replica: {why}"
                );
                if !retry {
                    return Err(Failure::Unreachable {
                        attempts: tried.len(),
                    });
                }
            }
        }
    }
}

/// A request's body, kept for retries when it is small.
enum RequestBody {
    /// Empty, or read whole: every attempt sends a copy.
    Replayable(Bytes),
    /// Streamed to the first attempt as it arrives; `None` once sent.
    Streamed(Option<Incoming>),
}

impl RequestBody {
    /// Reads `body` whole when it is empty or has a `Content-Length` of at most
    /// [`MAX_REPLAY_BODY`]; otherwise leaves it to be streamed.
    async fn read(body: Incoming, deadline: Instant) -> Result<RequestBody, Failure> {
        if body.is_end_stream() {
            return Ok(RequestBody::Replayable(Bytes::new()));
        }
        match body.size_hint().exact() {
            Some(length) if length <= MAX_REPLAY_BODY => {
                match timeout_at(deadline, body.collect()).await {
                    Err(_) => Err(Failure::RequestTimeout),
                    Ok(Err(_)) => Err(Failure::RequestBody),
                    Ok(Ok(collected)) => Ok(RequestBody::Replayable(collected.to_bytes())),
                }
            }
            _ => Ok(RequestBody::Streamed(Some(body))),
        }
    }

    fn replayable(&self) -> bool {
        matches!(self, RequestBody::Replayable(_))
    }

    /// The body for the next attempt, `None` when a streamed one has gone.
    fn take(&mut self) -> Option<UpstreamBody> {
        match self {
            RequestBody::Replayable(bytes) => Some(
                Full::new(bytes.clone())
                    .map_err(|never| match never {})
                    .boxed(),
            ),
            RequestBody::Streamed(body) => body.take().map(BodyExt::boxed),
        }
    }
}

/// Removes hop-by-hop headers: those of [`HOP_BY_HOP`] and those `Connection`
/// names.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Appends the client's address to `X-Forwarded-For` and says the scheme it used
/// in `X-Forwarded-Proto`. (`Host` is passed on as the client sent it.)
pub(super) fn add_forwarded(headers: &mut HeaderMap, peer: SocketAddr, https: bool) {
    let client = peer.ip().to_canonical().to_string();
    let earlier: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .collect();
    let chain = earlier
        .into_iter()
        .chain([client.as_str()])
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::from_str(&chain) {
        headers.insert("x-forwarded-for", value);
    }
    let scheme = if https { "https" } else { "http" };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(scheme));
}

/// An error and its causes, for the log.
fn causes(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
