//! The rules every outgoing request of a provider passes, whichever WIT version's
//! import sent it (`http@0.1.0`, `http2@0.2.0`): the allowed hosts, https only
//! unless the user set an endpoint, the endpoint override, the headers a provider
//! may not set, and the mapping of a failed send to a typed failure.

use reqwest::Url;

use super::sandbox::{HostState, host_allowed};
use super::trust::{forbidden_in, header_rule};

/// Why a request failed, in terms every version's `http-error` has.
#[derive(Debug)]
pub(super) enum Failure {
    /// The host (or the address it resolved to) is not allowed.
    Denied(String),
    /// The request is malformed.
    Invalid(String),
    /// It did not finish in time.
    Timeout,
    /// Could not connect, or the connection failed.
    Connect(String),
}

impl HostState {
    /// A request builder on `client` for a provider's request, after the checks:
    /// the URL's host is allowed, the scheme is https (or the user set an endpoint,
    /// which the URL is then pointed at, keeping the `Host` the guest signed for),
    /// and no header belongs to the connection. Returns the builder and the host
    /// the guest named.
    pub(super) fn outgoing(
        &self,
        client: &reqwest::Client,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<(reqwest::RequestBuilder, String), Failure> {
        let mut url = Url::parse(url).map_err(|e| Failure::Invalid(e.to_string()))?;
        let host = url.host_str().unwrap_or_default().to_string();
        if !host_allowed(&host, &self.grants.hosts) {
            tracing::warn!(
                provider = self.grants.provider.as_str(),
                "refused a request to {host}: not in the provider's allowed hosts"
            );
            return Err(Failure::Denied(host));
        }
        // Plain HTTP only to a user-set endpoint (an emulator on this machine).
        if self.grants.endpoint.is_none() && url.scheme() != "https" {
            return Err(Failure::Invalid(format!(
                "{} URLs are not allowed; providers must use https",
                url.scheme()
            )));
        }
        if let Some(endpoint) = &self.grants.endpoint {
            let target = Url::parse(endpoint).map_err(|e| Failure::Invalid(e.to_string()))?;
            let _ = url.set_scheme(target.scheme());
            url.set_host(target.host_str())
                .map_err(|e| Failure::Invalid(e.to_string()))?;
            let _ = url.set_port(target.port());
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| Failure::Invalid(e.to_string()))?;
        let mut builder = client.request(method, url);
        for (name, value) in headers {
            match header_rule(name) {
                // Hop-by-hop headers belong to the connection, which is the host's.
                Some(true) => {
                    return Err(Failure::Invalid(format!(
                        "header `{name}` may not be set by a provider"
                    )));
                }
                // `Host` is always the URL's host, which matched the grants.
                Some(false) => continue,
                None => builder = builder.header(name, value),
            }
        }
        // The guest signed for the manifest's host; keep it when redirected.
        if self.grants.endpoint.is_some() {
            builder = builder.header(reqwest::header::HOST, host.as_str());
        }
        Ok((builder.body(body), host))
    }

    /// A failed send of a request to `host`, typed: a forbidden address is a
    /// denial, a timeout a timeout, anything else a connect failure (secrets
    /// scrubbed).
    pub(super) fn send_failure(&self, e: &reqwest::Error, host: &str) -> Failure {
        if let Some(forbidden) = forbidden_in(e) {
            tracing::warn!(
                provider = self.grants.provider.as_str(),
                "refused a request: {forbidden}"
            );
            Failure::Denied(format!(
                "{host} ({} address {})",
                forbidden.why, forbidden.ip
            ))
        } else if e.is_timeout() {
            Failure::Timeout
        } else {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            Failure::Connect(self.scrub(&text))
        }
    }
}

/// Why a response's body could not be read whole.
pub(super) enum BodyError {
    /// It passed the host's size cap.
    TooLarge,
    /// The connection failed while reading it.
    Failed(String),
}

/// The body of `response`, refused as soon as it passes `limit` bytes.
pub(super) async fn capped_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Failed(e.to_string()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The headers (or trailers) of a response as pairs, values read lossily.
pub(super) fn pairs(map: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
