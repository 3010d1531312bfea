//! An HTTP client over the host's `http` import.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::aloft::provider::http as host;
use crate::errors;
use crate::types::ProviderError;

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with any method.
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A GET request.
    pub fn get(url: &str) -> Self {
        Request::new("GET", url)
    }

    /// A POST request.
    pub fn post(url: &str) -> Self {
        Request::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body (and its content type).
    pub fn json<T: Serialize>(self, value: &T) -> Result<Self, ProviderError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| errors::invalid("RequestEncoding", &e.to_string()))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// The headers so far.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Its method, URL, headers and body, for an import other than `http` (the
    /// `http2` or `kube` imports of `aloft:provider@0.2.0`).
    pub fn into_parts(self) -> (String, String, Vec<(String, String)>, Vec<u8>) {
        (self.method, self.url, self.headers, self.body)
    }

    /// Sends it through the host. Denied hosts, timeouts and connection failures
    /// are typed errors (`transient` for network trouble, `invalid` for a denied
    /// host).
    pub fn send(self) -> Result<Response, ProviderError> {
        let request = host::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
        };
        match host::send(&request) {
            Ok(r) => Ok(Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(host::HttpError::Denied(h)) => Err(errors::invalid(
                "HostNotAllowed",
                &format!("{h} is not among this provider's allowed hosts"),
            )),
            Err(host::HttpError::Timeout) => Err(errors::transient("Timeout", "request timed out")),
            Err(host::HttpError::Connect(e)) => Err(errors::transient("Connect", &e)),
            Err(host::HttpError::TooLarge) => {
                Err(errors::transient("TooLarge", "response too large"))
            }
            Err(host::HttpError::Invalid(e)) => Err(errors::invalid("BadRequest", &e)),
        }
    }
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| errors::invalid("ResponseDecoding", &e.to_string()))
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
