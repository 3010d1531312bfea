//! Bindings for what `aloft:provider@0.2.0` (`wit/since_v0.2.0`) adds: the
//! `http2` import, HTTP/2 requests whose responses carry their trailers (gRPC's
//! `grpc-status` and `grpc-message`), and the optional `manifest` export
//! ([`manifest`]: capabilities 0.1.0's flags do not name). A component still
//! exports 0.1.0's `provisioner`.

use http_body_util::BodyExt;

use super::outgoing::{Failure, pairs};
use super::sandbox::HostState;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "provider-imports",
    imports: { default: async },
});

use self::aloft::provider::http2;

/// A failure in this version's terms.
fn http_error(f: Failure) -> http2::HttpError {
    match f {
        Failure::Denied(m) => http2::HttpError::Denied(m),
        Failure::Invalid(m) => http2::HttpError::Invalid(m),
        Failure::Timeout => http2::HttpError::Timeout,
        Failure::Connect(m) => http2::HttpError::Connect(m),
    }
}

impl http2::Host for HostState {
    async fn send(&mut self, req: http2::Request) -> Result<http2::Response, http2::HttpError> {
        let client = self.http2.clone();
        let (builder, host) = self
            .outgoing(&client, &req.method, &req.url, &req.headers, req.body)
            .map_err(http_error)?;
        // The one value of `te` HTTP/2 allows, which gRPC servers require; it
        // belongs to the connection, so the host sets it, not the guest.
        let response = builder
            .header("te", "trailers")
            .send()
            .await
            .map_err(|e| http_error(self.send_failure(&e, &host)))?;
        let status = response.status().as_u16();
        let headers = pairs(response.headers());
        let limit = self.grants.max_response_bytes;
        // The body as frames: data, then (for gRPC) the trailers.
        let mut body = hyper::Response::from(response).into_body();
        let mut data = Vec::new();
        let mut trailers = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| http_error(self.send_failure(&e, &host)))?;
            match frame.into_data() {
                Ok(chunk) => {
                    if data.len() + chunk.len() > limit {
                        return Err(http2::HttpError::TooLarge);
                    }
                    data.extend_from_slice(&chunk);
                }
                Err(frame) => {
                    if let Ok(map) = frame.into_trailers() {
                        trailers.extend(pairs(&map));
                    }
                }
            }
        }
        Ok(http2::Response {
            status,
            headers,
            body: data,
            trailers,
        })
    }
}

/// The `manifest` export of 0.2.0 (`wit/since_v0.2.0/manifest.wit`), which a
/// component may add to 0.1.0's `provisioner`.
pub(super) mod manifest {
    use super::super::types as t;

    wasmtime::component::bindgen!({
        path: "../wit/since_v0.2.0",
        world: "provider-manifest",
        exports: { default: async },
    });

    use self::exports::aloft::provider::manifest::Capabilities;

    /// The name of the export, as a component lists it.
    pub const EXPORT: &str = "aloft:provider/manifest@0.2.0";

    /// Sets in `c` what the declared `flags` say.
    pub fn apply(flags: Capabilities, c: &mut t::Capabilities) {
        c.container_images = flags.contains(Capabilities::CONTAINER_IMAGES);
        c.catalog_prices = flags.contains(Capabilities::CATALOG_PRICES);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    use super::http2::{Host, HttpError, Request};
    use crate::plugin::sandbox::{EnvCredentials, Grants, HostState, KvStore};

    /// What the tiny server saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        version: hyper::Version,
        method: String,
        path: String,
        authority: Option<String>,
        content_type: Option<String>,
        te: Option<String>,
        body: Vec<u8>,
    }

    /// An h2c (prior knowledge) server on loopback answering every request like a
    /// gRPC server: `reply` as the body, then `grpc-status` and `grpc-message`
    /// trailers. Returns its address and what it saw.
    async fn h2c_server(reply: Vec<u8>) -> (std::net::SocketAddr, Arc<Mutex<Vec<Seen>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                let reply = reply.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let log = log.clone();
                            let reply = reply.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body.collect().await?.to_bytes().to_vec();
                                log.lock().unwrap().push(Seen {
                                    version: parts.version,
                                    method: parts.method.to_string(),
                                    path: parts.uri.path().to_string(),
                                    authority: parts
                                        .headers
                                        .get("host")
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_string),
                                    content_type: parts
                                        .headers
                                        .get("content-type")
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_string),
                                    te: parts
                                        .headers
                                        .get("te")
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_string),
                                    body,
                                });
                                let mut trailers = hyper::HeaderMap::new();
                                trailers.insert("grpc-status", "8".parse().unwrap());
                                trailers.insert(
                                    "grpc-message",
                                    "Not enough resources".parse().unwrap(),
                                );
                                let frames = vec![
                                    Ok::<_, Infallible>(Frame::data(Bytes::from(reply))),
                                    Ok(Frame::trailers(trailers)),
                                ];
                                let body = StreamBody::new(futures::stream::iter(frames));
                                Ok::<_, hyper::Error>(
                                    hyper::Response::builder()
                                        .status(200)
                                        .header("content-type", "application/grpc")
                                        .body(body)
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, seen)
    }

    /// A sandbox for provider `nebius` that may reach `api.example.ai`, pointed at
    /// `endpoint` when one is given, accepting bodies up to `limit` bytes.
    fn state(dir: &std::path::Path, endpoint: Option<String>, limit: usize) -> HostState {
        let db = crate::state::StateDb::open(&dir.join("state.db")).unwrap();
        let grants = Grants {
            provider: "nebius".into(),
            hosts: vec!["*.example.ai".into()],
            endpoint,
            credentials: Vec::new(),
            source: Arc::new(EnvCredentials),
            max_response_bytes: limit,
            kube: None,
        };
        let h2c = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .unwrap();
        HostState::new(
            grants,
            Arc::new(KvStore::new(db)),
            64 << 20,
            reqwest::Client::new(),
            h2c,
        )
    }

    fn grpc_request(url: &str) -> Request {
        Request {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("content-type".into(), "application/grpc".into())],
            body: vec![0, 0, 0, 0, 2, 8, 1],
        }
    }

    #[tokio::test]
    async fn http2_import_speaks_h2c_to_an_endpoint_and_returns_the_trailers() {
        let dir = tempfile::tempdir().unwrap();
        let (addr, seen) = h2c_server(vec![0, 0, 0, 0, 3, 10, 1, 65]).await;
        let mut host = state(dir.path(), Some(format!("http://{addr}")), 1 << 20);
        let url = "https://compute.api.example.ai/nebius.compute.v1.InstanceService/Get";
        let response = host.send(grpc_request(url)).await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, vec![0, 0, 0, 0, 3, 10, 1, 65]);
        assert!(
            response
                .headers
                .contains(&("content-type".into(), "application/grpc".into()))
        );
        assert!(
            response
                .trailers
                .contains(&("grpc-status".into(), "8".into())),
            "{:?}",
            response.trailers
        );
        assert!(
            response
                .trailers
                .contains(&("grpc-message".into(), "Not enough resources".into()))
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let req = &seen[0];
        assert_eq!(req.version, hyper::Version::HTTP_2);
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/nebius.compute.v1.InstanceService/Get");
        // The guest's host, not the endpoint's, as the `Host` it signed for.
        assert_eq!(req.authority.as_deref(), Some("compute.api.example.ai"));
        assert_eq!(req.content_type.as_deref(), Some("application/grpc"));
        assert_eq!(req.te.as_deref(), Some("trailers"));
        assert_eq!(req.body, vec![0, 0, 0, 0, 2, 8, 1]);
    }

    #[tokio::test]
    async fn http2_import_keeps_the_rules_of_the_http_import() {
        let dir = tempfile::tempdir().unwrap();
        let (addr, seen) = h2c_server(vec![7; 64]).await;
        let endpoint = Some(format!("http://{addr}"));
        // A host outside the grants is refused before anything is sent.
        let mut host = state(dir.path(), endpoint.clone(), 1 << 20);
        let denied = host
            .send(grpc_request("https://evil.example.com/x.Y/Z"))
            .await;
        assert!(
            matches!(&denied, Err(HttpError::Denied(h)) if h == "evil.example.com"),
            "{denied:?}"
        );
        // Without a user-set endpoint, plain http is refused.
        let mut plain = state(dir.path(), None, 1 << 20);
        let refused = plain
            .send(grpc_request(&format!(
                "http://api.example.ai:{}/x.Y/Z",
                addr.port()
            )))
            .await;
        assert!(
            matches!(&refused, Err(HttpError::Invalid(m)) if m.contains("https")),
            "{refused:?}"
        );
        // A connection header is the host's.
        let mut req = grpc_request("https://api.example.ai/x.Y/Z");
        req.headers.push(("connection".into(), "close".into()));
        let bad = host.send(req).await;
        assert!(
            matches!(&bad, Err(HttpError::Invalid(m)) if m.contains("connection")),
            "{bad:?}"
        );
        assert!(
            seen.lock().unwrap().is_empty(),
            "a refused request reached the server"
        );
        // The response size cap applies to the body.
        let mut small = state(dir.path(), endpoint, 16);
        let big = small
            .send(grpc_request("https://api.example.ai/x.Y/Z"))
            .await;
        assert!(matches!(big, Err(HttpError::TooLarge)), "{big:?}");
    }
}
