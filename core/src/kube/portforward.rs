//! SSH to a pod through the API server's `pods/portforward` WebSocket.
//!
//! The protocol is the one `kubectl port-forward` speaks over WebSocket
//! (`v4.channel.k8s.io`): `GET {server}/api/v1/namespaces/{ns}/pods/{pod}/portforward?ports={port}`
//! upgraded to a WebSocket; every message is binary, its first byte the channel
//! (0: the port's data, 1: its error channel). The first message the server sends on
//! each channel starts with the port number (2 bytes, little-endian); the client
//! sends data prefixed with channel 0. Anything on the error channel means the
//! forward failed (the pod's port refused the connection, the pod went away).
//!
//! TLS is set up here from the [`ResolvedContext`]: its CA (else the public roots),
//! `insecure-skip-tls-verify`, its client certificate; a bearer token goes in the
//! `Authorization` header and never into an error or a log line.
//!
//! [`proxy_stdio`] relays stdin/stdout: `aloft kube-proxy` is the SSH `ProxyCommand`
//! for pods, so no `kubectl` is needed.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::{KubeError, ResolvedContext};

/// The WebSocket subprotocol of the port-forward subresource.
pub const PROTOCOL: &str = "v4.channel.k8s.io";

/// How long connecting (TCP, TLS, the upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// After stdin ends, how long to wait for the server to answer our close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How often an otherwise idle relay pings the server, so that load balancers in
/// front of the API server do not drop a quiet SSH session.
const PING_EVERY: Duration = Duration::from_secs(30);

/// Relay chunk size (also the largest WebSocket message sent).
const CHUNK: usize = 64 * 1024;

/// The channel of the first port's data.
const DATA: u8 = 0;
/// The channel of the first port's errors.
const ERROR: u8 = 1;

/// Any byte stream a WebSocket can run over (plain TCP or TLS).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open port-forward to one port of one pod.
pub struct PortForward {
    ws: WebSocketStream<Box<dyn Io>>,
    target: String,
    port: u16,
}

impl std::fmt::Debug for PortForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortForward")
            .field("target", &self.target)
            .finish()
    }
}

/// What a finished relay moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Bytes from the local side to the pod.
    pub sent: u64,
    /// Bytes from the pod to the local side.
    pub received: u64,
}

/// Checks a namespace name: a DNS-1123 label (what Kubernetes accepts).
pub fn check_namespace(name: &str) -> Result<(), String> {
    check_dns1123_label(name).map_err(|e| format!("namespace {name:?}: {e}"))
}

/// Checks a pod name: a DNS-1123 subdomain (what Kubernetes accepts).
pub fn check_pod(name: &str) -> Result<(), String> {
    let fail = |e: &str| format!("pod name {name:?}: {e}");
    if name.is_empty() || name.len() > 253 {
        return Err(fail("must be 1 to 253 characters"));
    }
    for label in name.split('.') {
        check_dns1123_label(label).map_err(|e| fail(&e))?;
    }
    Ok(())
}

/// Checks a kubeconfig context name against a conservative character set: letters,
/// digits and `.` `_` `-` `:` `/` `@` (enough for `gke_project_zone_name`,
/// `arn:aws:eks:region:account:cluster/name`, `admin@cluster`), not starting with
/// `-`, at most 253 characters. Such a name is safe on a command line once quoted
/// and holds no `%` (which SSH would expand in a `ProxyCommand`).
pub fn check_context(name: &str) -> Result<(), String> {
    let fail = |e: &str| Err(format!("context name {name:?}: {e}"));
    if name.is_empty() || name.len() > 253 {
        return fail("must be 1 to 253 characters");
    }
    if name.starts_with('-') {
        return fail("must not start with `-`");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@'))
    {
        return fail("only letters, digits and `. _ - : / @` are allowed");
    }
    Ok(())
}

fn check_dns1123_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 63 {
        return Err("each part must be 1 to 63 characters".into());
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(label.chars().next()) || !edge_ok(label.chars().last()) {
        return Err("must start and end with a lowercase letter or digit".into());
    }
    if !label
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("only lowercase letters, digits and `-` are allowed".into());
    }
    Ok(())
}

/// The URL of the port-forward of `pod`'s `port` (`ws`/`wss` for `http`/`https`).
pub fn url(server: &str, namespace: &str, pod: &str, port: u16) -> Result<String, KubeError> {
    let connect = |message: String| KubeError::Connect {
        server: server.to_string(),
        message,
    };
    let base = server.trim_end_matches('/');
    let rest = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(connect(
            "the server URL must start with https:// or http://".into(),
        ));
    };
    check_namespace(namespace).map_err(connect)?;
    check_pod(pod).map_err(connect)?;
    if port == 0 {
        return Err(connect("port 0 cannot be forwarded".into()));
    }
    Ok(format!(
        "{rest}/api/v1/namespaces/{namespace}/pods/{pod}/portforward?ports={port}"
    ))
}

/// Opens a port-forward to `port` of `pod` in `namespace` through the API server
/// of `ctx`: TCP, TLS (for `https`), then the WebSocket upgrade with
/// [`PROTOCOL`]. The API server's refusals (401, 403, 404, ...) become
/// [`KubeError::PortForward`] with their status.
pub async fn connect(
    ctx: &ResolvedContext,
    namespace: &str,
    pod: &str,
    port: u16,
) -> Result<PortForward, KubeError> {
    let target = format!("pod {namespace}/{pod} port {port}");
    match tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(ctx, namespace, pod, port)).await {
        Ok(result) => result.map(|ws| PortForward { ws, target, port }),
        Err(_) => Err(KubeError::Connect {
            server: ctx.server.clone(),
            message: format!(
                "no answer within {} s (port-forward to {target})",
                CONNECT_TIMEOUT.as_secs()
            ),
        }),
    }
}

async fn connect_inner(
    ctx: &ResolvedContext,
    namespace: &str,
    pod: &str,
    port: u16,
) -> Result<WebSocketStream<Box<dyn Io>>, KubeError> {
    let server = ctx.server.clone();
    let connect = |message: String| KubeError::Connect {
        server: server.clone(),
        message,
    };
    let url = url(&ctx.server, namespace, pod, port)?;
    let uri: Uri = url
        .parse()
        .map_err(|e| connect(format!("not a valid URL: {e}")))?;
    let host = uri
        .host()
        .ok_or_else(|| connect("the server URL has no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tls = uri.scheme_str() == Some("wss");
    let tcp_port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), tcp_port))
        .await
        .map_err(|e| connect(format!("cannot connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if tls {
        let config = tls_config(ctx).map_err(connect)?;
        let name = rustls_pki_types::ServerName::try_from(host.clone())
            .map_err(|e| connect(format!("bad server name {host:?}: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| connect(format!("TLS: {e}")))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };

    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| connect(format!("bad request: {e}")))?;
    request.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(PROTOCOL),
    );
    if let Some(token) = &ctx.token {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| connect("the bearer token holds characters a header cannot".into()))?;
        value.set_sensitive(true);
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(16 << 20);
    config.max_frame_size = Some(16 << 20);
    let (ws, response) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| handshake_error(ctx, namespace, pod, port, e))?;
    let chosen = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    if chosen != Some(PROTOCOL) {
        return Err(KubeError::PortForward {
            target: format!("pod {namespace}/{pod} port {port}"),
            status: None,
            message: format!(
                "the server chose subprotocol {chosen:?}, not {PROTOCOL:?} (too old an API server?)"
            ),
        });
    }
    Ok(ws)
}

/// Maps a failed upgrade to a typed error, with the Kubernetes `Status` message when
/// the server sent one (bounded, with the token scrubbed in case it was echoed).
fn handshake_error(
    ctx: &ResolvedContext,
    namespace: &str,
    pod: &str,
    port: u16,
    err: WsError,
) -> KubeError {
    let target = format!("pod {namespace}/{pod} port {port}");
    match err {
        WsError::Http(response) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            let detail = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message")?.as_str().map(str::to_string))
                .unwrap_or_else(|| body.trim().to_string());
            let mut detail: String = detail.chars().take(300).collect();
            if let Some(token) = ctx
                .token
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                detail = detail.replace(token, "<redacted>");
            }
            let hint = match status.as_u16() {
                401 => " (the credentials were not accepted)",
                403 => " (not allowed to port-forward to this pod)",
                404 => " (no such pod or namespace)",
                _ => "",
            };
            let mut message = format!("HTTP {status}{hint}");
            if !detail.is_empty() {
                message.push_str(": ");
                message.push_str(&detail);
            }
            KubeError::PortForward {
                target,
                status: Some(status.as_u16()),
                message,
            }
        }
        other => KubeError::Connect {
            server: ctx.server.clone(),
            message: format!("WebSocket upgrade for the port-forward to {target}: {other}"),
        },
    }
}

/// The certificates a connection to `ctx`'s server trusts: the context's CA alone
/// when it names one (a private cluster's server is never vouched for by a public
/// root), else the public web roots.
pub(crate) fn trust_roots(ctx: &ResolvedContext) -> Result<rustls::RootCertStore, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    let Some(pem) = &ctx.ca_pem else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("the context's CA: bad PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("the context's CA: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the context's CA holds no certificate".into());
    }
    Ok(roots)
}

/// The TLS client configuration of `ctx`, for the port-forward and for the API
/// client ([`super::access::client_for`]): [`trust_roots`], its client
/// certificate, `insecure-skip-tls-verify`.
pub(crate) fn tls_config(ctx: &ResolvedContext) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = if ctx.insecure_skip_tls_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        builder.with_root_certificates(trust_roots(ctx)?)
    };
    match (&ctx.client_cert_pem, &ctx.client_key_pem) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("the client certificate: bad PEM: {e}"))?;
            if certs.is_empty() {
                return Err("the client certificate holds no certificate".into());
            }
            // The key's parse error could quote key material: keep it out.
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|_| "the client key is not a PEM private key".to_string())?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("the client certificate and key: {e}"))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err("a client certificate needs both the certificate and its key".into()),
    }
}

/// `insecure-skip-tls-verify`: accepts any server certificate (signatures are
/// still checked, so the handshake itself is sound).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl PortForward {
    /// Relays bytes between `input`/`output` and the pod's port until either side
    /// closes: `input`'s end closes the WebSocket; the server's close (or its end of
    /// the connection) ends the relay after `output` is flushed. A message on the
    /// error channel is [`KubeError::PortForward`].
    pub async fn relay<R, W>(mut self, mut input: R, mut output: W) -> Result<RelayStats, KubeError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut stats = RelayStats::default();
        let mut buf = vec![0u8; CHUNK + 1];
        // Per channel: whether its port prefix has arrived, and bytes of it so far.
        let mut prefix: [(bool, Vec<u8>); 2] = [(false, Vec::new()), (false, Vec::new())];
        let mut error_text = Vec::new();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ping.tick() => {
                    self.ws
                        .send(Message::Ping(Default::default()))
                        .await
                        .map_err(|e| self.broken(format!("sending a ping: {e}")))?;
                }
                read = input.read(&mut buf[1..]) => {
                    let n = read.map_err(|e| self.broken(format!("reading local input: {e}")))?;
                    if n == 0 {
                        self.close_after_input().await;
                        break;
                    }
                    buf[0] = DATA;
                    self.ws
                        .send(Message::binary(buf[..=n].to_vec()))
                        .await
                        .map_err(|e| self.broken(format!("sending: {e}")))?;
                    stats.sent += n as u64;
                }
                message = self.ws.next() => {
                    let message = match message {
                        None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => break,
                        Some(Err(e)) => return Err(self.broken(format!("receiving: {e}"))),
                        Some(Ok(m)) => m,
                    };
                    let data = match message {
                        Message::Binary(data) => data,
                        Message::Close(_) => break,
                        // Pings are answered by tungstenite itself.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                        Message::Text(_) => {
                            return Err(self.broken(
                                "the server sent a text message (not the v4 binary protocol)".into(),
                            ));
                        }
                    };
                    let Some((&channel, mut payload)) = data.split_first() else {
                        continue;
                    };
                    let slot = match channel {
                        DATA => 0,
                        ERROR => 1,
                        other => {
                            return Err(self.broken(format!("message on unknown channel {other}")));
                        }
                    };
                    let (seen, bytes) = &mut prefix[slot];
                    if !*seen {
                        let need = 2 - bytes.len();
                        let take = need.min(payload.len());
                        bytes.extend_from_slice(&payload[..take]);
                        payload = &payload[take..];
                        if bytes.len() < 2 {
                            continue;
                        }
                        *seen = true;
                        let got = u16::from_le_bytes([bytes[0], bytes[1]]);
                        if got != self.port {
                            return Err(self.broken(format!(
                                "the server opened port {got} on channel {channel}, not {}",
                                self.port
                            )));
                        }
                    }
                    if payload.is_empty() {
                        continue;
                    }
                    if slot == 1 {
                        error_text.extend_from_slice(payload);
                        if error_text.len() > 4096 {
                            break;
                        }
                        continue;
                    }
                    output
                        .write_all(payload)
                        .await
                        .map_err(|e| self.broken(format!("writing local output: {e}")))?;
                    output
                        .flush()
                        .await
                        .map_err(|e| self.broken(format!("writing local output: {e}")))?;
                    stats.received += payload.len() as u64;
                }
            }
        }
        let _ = output.flush().await;
        if !error_text.is_empty() {
            let text: String = String::from_utf8_lossy(&error_text)
                .chars()
                .take(500)
                .collect();
            return Err(self.broken(text.trim().to_string()));
        }
        Ok(stats)
    }

    /// Sends our close and waits a moment for the server's (a WebSocket has no
    /// half-close: the local side is done, so the session is).
    async fn close_after_input(&mut self) {
        if self.ws.close(None).await.is_err() {
            return;
        }
        let drain = async {
            while let Some(Ok(message)) = self.ws.next().await {
                if message.is_close() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
    }

    fn broken(&self, message: String) -> KubeError {
        KubeError::PortForward {
            target: self.target.clone(),
            status: None,
            message,
        }
    }
}

/// Connects and relays this process's stdin/stdout: the body of `aloft kube-proxy`,
/// used as SSH's `ProxyCommand`. Blocks until either side closes.
pub fn proxy_stdio(
    ctx: &ResolvedContext,
    namespace: &str,
    pod: &str,
    port: u16,
) -> Result<RelayStats, KubeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| KubeError::Connect {
            server: ctx.server.clone(),
            message: format!("cannot start the async runtime: {e}"),
        })?;
    let result = rt.block_on(async {
        let forward = connect(ctx, namespace, pod, port).await?;
        forward.relay(tokio::io::stdin(), tokio::io::stdout()).await
    });
    // A read of stdin may still be blocked in a helper thread: do not wait for it.
    rt.shutdown_background();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_namespace("default").is_ok());
        assert!(check_namespace("team-a1").is_ok());
        assert!(check_namespace("Team").is_err());
        assert!(check_namespace("-a").is_err());
        assert!(check_namespace("a-").is_err());
        assert!(check_namespace("a.b").is_err());
        assert!(check_namespace(&"a".repeat(64)).is_err());
        assert!(check_namespace("").is_err());
        assert!(check_pod("aloft-c1-head").is_ok());
        assert!(check_pod("web.v2-0").is_ok());
        assert!(check_pod("a..b").is_err());
        assert!(check_pod("a/b").is_err());
        assert!(check_pod("a b").is_err());
        assert!(check_pod("x;rm -rf").is_err());
        assert!(check_pod("../x").is_err());
        assert!(check_context("kind-kind").is_ok());
        assert!(check_context("gke_proj_us-central1-a_c1").is_ok());
        assert!(check_context("arn:aws:eks:us-west-2:123456789012:cluster/c1").is_ok());
        assert!(check_context("kubernetes-admin@kubernetes").is_ok());
        assert!(check_context("-oProxyCommand=x").is_err());
        assert!(check_context("a'b").is_err());
        assert!(check_context("a b").is_err());
        assert!(check_context("a%hb").is_err());
        assert!(check_context("a$(x)").is_err());
        assert!(check_context("").is_err());
    }

    #[test]
    fn urls_follow_the_server_scheme_and_path() {
        assert_eq!(
            url("https://10.0.0.1:6443/", "default", "p1", 22).unwrap(),
            "wss://10.0.0.1:6443/api/v1/namespaces/default/pods/p1/portforward?ports=22"
        );
        assert_eq!(
            url("http://127.0.0.1:8080/k8s/clusters/c-1", "ns", "p", 2222).unwrap(),
            "ws://127.0.0.1:8080/k8s/clusters/c-1/api/v1/namespaces/ns/pods/p/portforward?ports=2222"
        );
        assert!(url("ftp://x", "ns", "p", 22).is_err());
        assert!(url("https://x", "ns", "../../secrets", 22).is_err());
        assert!(url("https://x", "ns", "p", 0).is_err());
    }

    #[test]
    fn tls_config_refuses_half_a_client_certificate_and_bad_pem() {
        let ctx = ResolvedContext {
            client_cert_pem: Some(b"x".to_vec()),
            ..Default::default()
        };
        assert!(tls_config(&ctx).is_err());
        let ctx = ResolvedContext {
            ca_pem: Some(b"not a pem".to_vec()),
            ..Default::default()
        };
        let err = tls_config(&ctx).unwrap_err();
        assert!(err.contains("CA"), "{err}");
        assert!(tls_config(&ResolvedContext::default()).is_ok());
    }
}
