//! Calling one context's API server through the host, and turning Kubernetes
//! `Status` answers into typed errors.
//!
//! Each request goes through the host's `kube` import (`aloft:provider@0.2.0`,
//! `wit/since_v0.2.0/kube.wit`), naming the context and a path: the host sends it
//! only under that allowed context's server, through a client with that
//! context's CA and client certificate, and adds its bearer token itself. The
//! component never sees a credential, and the host answers the import only for
//! a component it granted Kubernetes access.

use serde::Deserialize;
use serde_json::Value;

use aloft_provider_sdk::errors;
use aloft_provider_sdk::http::{Request, Response};
use aloft_provider_sdk::types::{ErrorKind, ProviderError};

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.2.0",
        world: "kube-imports",
    });
}

use bindings::aloft::provider::kube;

/// Items per list page (kubectl asks for 500).
const PAGE_SIZE: usize = 500;
/// Pages a list may take before it is refused (a server that never ends a list).
const MAX_PAGES: usize = 1000;

/// One allowed context, as the host describes it in the `contexts` setting.
#[derive(Debug, Clone, Deserialize)]
pub struct Context {
    /// Its name (the region).
    pub name: String,
    /// The API server's URL.
    pub server: String,
    /// The namespace pods go to.
    pub namespace: String,
}

impl Context {
    /// Sends `request`, whose URL is a path under the context's server.
    fn send(&self, request: Request) -> Result<Response, ProviderError> {
        let (method, path, headers, body) =
            request.header("accept", "application/json").into_parts();
        let answer = kube::send(&kube::Request {
            context: self.name.clone(),
            method,
            path,
            headers,
            body,
        });
        let here = |e| errors::in_zone(e, &self.name, None);
        match answer {
            Ok(r) => Ok(Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(kube::KubeError::Denied(why)) => Err(here(errors::invalid("KubeDenied", &why))),
            Err(kube::KubeError::Timeout) => {
                Err(here(errors::transient("Timeout", "request timed out")))
            }
            Err(kube::KubeError::Connect(e)) => Err(here(errors::transient("Connect", &e))),
            Err(kube::KubeError::TooLarge) => {
                Err(here(errors::transient("TooLarge", "response too large")))
            }
            Err(kube::KubeError::Invalid(e)) => Err(here(errors::invalid("BadRequest", &e))),
        }
    }

    /// `GET path` (JSON), any status.
    pub fn get_raw(&self, path: &str) -> Result<Response, ProviderError> {
        self.send(Request::get(path))
    }

    /// `GET path`, a 200 answer's JSON.
    pub fn get(&self, path: &str) -> Result<Value, ProviderError> {
        let r = self.get_raw(path)?;
        self.ok(r)
    }

    /// Every item of the list at `path`, page by page (`limit`, then the
    /// `continue` token the server hands back), so a cluster of thousands of pods
    /// is read in bounded answers, as kubectl does.
    pub fn list(&self, path: &str) -> Result<Vec<Value>, ProviderError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let mut page_path = format!("{path}{sep}limit={PAGE_SIZE}");
            if !token.is_empty() {
                page_path.push_str(&format!("&continue={}", query(&token)));
            }
            let mut page = self.get(&page_path)?;
            if let Some(list) = page["items"].as_array_mut() {
                items.append(list);
            }
            token = page["metadata"]["continue"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if token.is_empty() {
                return Ok(items);
            }
        }
        Err(ProviderError {
            kind: ErrorKind::Other,
            code: "too-many-pages".into(),
            message: format!(
                "context {}: {path}: more than {MAX_PAGES} pages of {PAGE_SIZE}",
                self.name
            ),
            region: Some(self.name.clone()),
            zone: None,
        })
    }

    /// `POST path` with a JSON body; `Ok(None)` when it already exists (409).
    pub fn create(&self, path: &str, body: &Value) -> Result<Option<Value>, ProviderError> {
        let r = self.send(
            Request::post(path)
                .header("content-type", "application/json")
                .json(body)?,
        )?;
        if r.status == 409 {
            return Ok(None);
        }
        self.ok(r).map(Some)
    }

    /// `PATCH path` with a JSON merge patch (RFC 7386); the patched object.
    pub fn merge_patch(&self, path: &str, body: &Value) -> Result<Value, ProviderError> {
        let r = self.send(
            Request::new("PATCH", path)
                .header("content-type", "application/merge-patch+json")
                .json(body)?,
        )?;
        self.ok(r)
    }

    /// `DELETE path`; a 404 is fine (already gone).
    pub fn delete(&self, path: &str) -> Result<(), ProviderError> {
        let r = self.send(Request::new("DELETE", path))?;
        if r.status == 404 || (200..300).contains(&r.status) {
            return Ok(());
        }
        Err(self.error_of(&r))
    }

    fn ok(&self, r: Response) -> Result<Value, ProviderError> {
        if !(200..300).contains(&r.status) {
            return Err(self.error_of(&r));
        }
        r.json()
    }

    /// The typed error of a failed answer.
    pub fn error_of(&self, r: &Response) -> ProviderError {
        let status: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let reason = status["reason"].as_str().unwrap_or_default().to_string();
        let message = status["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", r.status));
        let kind = classify(r.status, &message);
        let code = if reason.is_empty() {
            format!("http-{}", r.status)
        } else {
            reason
        };
        ProviderError {
            kind,
            code,
            message: format!("context {}: {message}", self.name),
            region: Some(self.name.clone()),
            zone: None,
        }
    }
}

/// The error kind of an HTTP status and message: 401/403 are `auth` (but a
/// ResourceQuota's "exceeded quota" is `quota`), 409 `other`, 404/400/422
/// `invalid`, 429 and 5xx `transient`.
pub fn classify(status: u16, message: &str) -> ErrorKind {
    match status {
        403 if message.contains("exceeded quota") => ErrorKind::Quota,
        401 | 403 => ErrorKind::Auth,
        400 | 404 | 422 => ErrorKind::Invalid,
        429 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// Percent-encodes a query value.
pub fn query(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(classify(401, "x"), ErrorKind::Auth);
        assert_eq!(classify(403, "pods is forbidden"), ErrorKind::Auth);
        assert_eq!(
            classify(403, "pods \"a\" is forbidden: exceeded quota: q"),
            ErrorKind::Quota
        );
        assert_eq!(classify(503, ""), ErrorKind::Transient);
        assert_eq!(query("aloft-cluster=a b"), "aloft-cluster%3Da%20b");
    }
}
