//! The load balancer: an HTTP proxy in front of a service's ready replicas.
//!
//! One [`Balancer`] per service listens on the service's endpoint (HTTP/1.1, or
//! HTTPS when [`BalancerConfig::tls`] names a certificate and key) and forwards
//! each request to one ready replica chosen by the [`Policy`], over a pool of
//! kept-alive connections. Bodies are streamed both ways frame by frame: a
//! replica's server-sent events or token stream reach the client as they come.
//!
//! - **No replica ready**: `503 Service Unavailable`, body `no replica of this
//!   service is ready`.
//! - **Retries**: when the connection to a replica cannot be made (refused,
//!   unreachable, over 5 s), nothing of the request has been sent, and it goes to
//!   another replica not yet tried, up to [`BalancerConfig::retries`] more times.
//!   That needs the body again, so only requests whose body can be replayed are
//!   retried: those without a body, and those with a `Content-Length` of at most
//!   1 MiB, which the balancer reads whole before the first attempt. A larger or
//!   chunked body is streamed to the first replica chosen and never retried. A
//!   failure after the request went out (the replica reset the connection) is
//!   never retried either: the replica may have acted on it.
//! - **Every attempt failed**: `502 Bad Gateway`, with a body saying so.
//! - **Timeout**: a response must end within [`BalancerConfig::stream_timeout`]
//!   of the request's arrival: `504 Gateway Timeout` when the headers have not
//!   come by then, and the connection cut when the body has not ended.
//! - **In-flight counts** ([`Balancer::in_flight`]) are kept by a guard made
//!   when a replica is chosen and dropped when its response body has been passed
//!   on whole, failed, timed out or been abandoned by the client, so they are
//!   exact and go back to zero.
//! - **Headers**: hop-by-hop headers (RFC 9110 §7.6.1) are dropped both ways;
//!   `Host` is passed on; `X-Forwarded-For` and `X-Forwarded-Proto` are added.
//!   Protocol upgrades (WebSocket) are not proxied.

mod body;
mod inflight;
mod policy;
mod proxy;
mod rate;
mod replicas;
mod server;
mod tls;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use policy::Policy;

use proxy::Shared;

/// SkyPilot's default `stream_timeout_seconds`: how long a whole proxied
/// response may take.
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(120);
/// SkyPilot's `LB_MAX_RETRY`: further attempts on other replicas.
pub const DEFAULT_RETRIES: u32 = 3;

/// The certificate and key a balancer terminates TLS with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, PEM, the service's own certificate first.
    pub certfile: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub keyfile: PathBuf,
}

/// How a balancer listens and forwards.
#[derive(Clone, Debug)]
pub struct BalancerConfig {
    /// The address to listen on; port 0 picks a free one ([`Balancer::local_addr`]
    /// says which).
    pub bind: SocketAddr,
    /// How a replica is chosen for each request.
    pub policy: Policy,
    /// Terminate TLS with this certificate and key; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// The longest a whole proxied response may take, from the request's arrival
    /// to the last byte of the body ([`DEFAULT_STREAM_TIMEOUT`]).
    pub stream_timeout: Duration,
    /// Further attempts, each on another replica, when a replica cannot be
    /// connected to ([`DEFAULT_RETRIES`]).
    pub retries: u32,
}

/// A ready replica, as the balancer reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    /// The replica's id in its service.
    pub id: u64,
    /// Its base URL, plain HTTP: `http://10.0.0.5:8080` (a path, if any, is put
    /// before every request's path).
    pub url: String,
}

/// Why a balancer could not start.
#[derive(Debug, Error)]
pub enum BalancerError {
    /// The address could not be listened on.
    #[error("the load balancer cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A TLS file could not be read or holds nothing usable.
    #[error("TLS {what} file {}: {detail}", path.display())]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// Which it is: `certificate` or `key`.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The certificate and key were read but do not make a TLS configuration
    /// (the key does not match the certificate, an unsupported key type).
    #[error(
        "TLS certificate {} and key {} cannot be used together: {detail}",
        certfile.display(),
        keyfile.display()
    )]
    TlsPair {
        /// The certificate file.
        certfile: PathBuf,
        /// The key file.
        keyfile: PathBuf,
        /// What rustls said.
        detail: String,
    },
}

/// A running load balancer for one service. Share it with an `Arc`; dropping it
/// stops it as [`Balancer::shutdown`] does, without waiting.
#[derive(Debug)]
pub struct Balancer {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    server: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Balancer {
    /// Binds and starts serving on the current tokio runtime (spawned tasks).
    /// Fails when the address cannot be listened on, or when a TLS file cannot
    /// be read or used (the error names the file).
    pub async fn start(config: BalancerConfig) -> Result<Balancer, BalancerError> {
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let bind_error = |source| BalancerError::Bind {
            addr: config.bind,
            source,
        };
        let listener = TcpListener::bind(config.bind).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let shared = Arc::new(Shared::new(
            config.policy,
            config.stream_timeout,
            config.retries,
        ));
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(server::serve(listener, tls, shared.clone(), stopped));
        Ok(Balancer {
            shared,
            local_addr,
            stop: Mutex::new(Some(stop)),
            server: tokio::sync::Mutex::new(Some(server)),
        })
    }

    /// The address the balancer listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Replaces the ready set. Replicas that leave stop getting new requests;
    /// requests in flight to them finish (or fail) and their counts still go
    /// back to zero. A replica keeps its count when it leaves and comes back. A
    /// replica whose URL is not `http://host:port` is left out (and logged).
    pub fn set_replicas(&self, replicas: Vec<Replica>) {
        self.shared.replicas.set(replicas);
    }

    /// In-flight request count per replica id currently in the set (and any that
    /// left but still has requests in flight).
    pub fn in_flight(&self) -> BTreeMap<u64, u64> {
        self.shared.replicas.in_flight()
    }

    /// Requests received per second over the last `window` (for the autoscaler;
    /// every request that arrives counts, those answered 503 included), counted
    /// in 100 ms buckets; a window longer than five minutes counts the last five.
    pub fn request_rate(&self, window: Duration) -> f64 {
        self.shared.rate.per_second(window)
    }

    /// Replicas a request could not connect to, or whose connection failed
    /// mid-request, since the last call (each reported once).
    pub fn take_unreachable(&self) -> Vec<u64> {
        let mut set = self
            .shared
            .unreachable
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *set).into_iter().collect()
    }

    /// Total requests received since start.
    pub fn requests_total(&self) -> u64 {
        self.shared.rate.total()
    }

    /// Stops accepting, closes the listener (the port is free when this
    /// returns), aborts its tasks: client connections and the requests on them,
    /// whose in-flight counts go back to zero.
    pub async fn shutdown(&self) {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let mut server = self.server.lock().await;
        if let Some(task) = server.take() {
            // The task returns once the listener and every connection are gone.
            let _ = task.await;
        }
    }
}
