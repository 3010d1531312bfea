//! Calling Compute Engine's v1 REST API: JSON over HTTPS with a bearer token,
//! Google's error documents turned into typed errors, and operations awaited with
//! the server-side long poll (`operations/NAME/wait`), since the guest has no
//! timers worth sleeping on.

use std::time::{Duration, Instant};

use aloft_provider_sdk::http::Request;
use aloft_provider_sdk::signing::uri_encode;
use aloft_provider_sdk::types::{ErrorKind, ProviderError};
use aloft_provider_sdk::{errors, log};
use serde_json::Value;

use crate::{auth, classify};

/// The API's root (the host rewrites it to `providers.gcp.endpoint` when set).
pub const COMPUTE: &str = "https://compute.googleapis.com/compute/v1";

/// How long one provider call keeps waiting on operations before answering with
/// what it has (the host's deadline per call is 60 s).
const WAIT_BUDGET: Duration = Duration::from_secs(40);

/// The last segment of a resource URL (`.../zones/us-central1-a` → `us-central1-a`).
pub fn last(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// Calls `method` on `projects/{project}/{path}` with `query` and a JSON `body`.
/// A refused token is forgotten and the call made once more with a fresh one.
pub fn call(
    method: &str,
    project: &str,
    path: &str,
    query: &[(&str, String)],
    body: Option<&Value>,
) -> Result<Value, ProviderError> {
    let mut url = format!("{COMPUTE}/projects/{}", uri_encode(project));
    if !path.is_empty() {
        url.push('/');
        url.push_str(path);
    }
    if !query.is_empty() {
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
            .collect();
        url.push('?');
        url.push_str(&q.join("&"));
    }
    let mut retried = false;
    loop {
        let token = auth::token()?;
        let mut request =
            Request::new(method, &url).header("authorization", &format!("Bearer {token}"));
        request = match body {
            Some(b) => request.json(b)?,
            None => request,
        };
        let response = request.send()?;
        if response.status == 401 && !retried {
            auth::forget();
            retried = true;
            continue;
        }
        if (200..300).contains(&response.status) {
            return if response.body.is_empty() {
                Ok(Value::Null)
            } else {
                response.json()
            };
        }
        return Err(api_error(response.status, &response.body));
    }
}

/// The typed error for a Google error document
/// (`{"error":{"code","message","status","errors":[{"reason","message"}]}}`).
pub fn api_error(status: u16, body: &[u8]) -> ProviderError {
    let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &doc["error"];
    let reason = error["errors"][0]["reason"]
        .as_str()
        .or_else(|| error["status"].as_str())
        .unwrap_or_default()
        .to_string();
    let message = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status}"));
    ProviderError {
        kind: classify::kind(&reason, &message, status),
        code: if reason.is_empty() {
            format!("Http{status}")
        } else {
            reason
        },
        message,
        region: None,
        zone: None,
    }
}

/// Whether an error says the resource does not exist.
pub fn is_not_found(error: &ProviderError) -> bool {
    error.kind == ErrorKind::Invalid && error.code == "notFound"
}

/// The typed error of a finished operation, if it failed.
pub fn operation_error(op: &Value) -> Option<ProviderError> {
    let first = op["error"]["errors"].as_array()?.first()?;
    let code = first["code"]
        .as_str()
        .unwrap_or("OPERATION_FAILED")
        .to_string();
    let message = first["message"].as_str().unwrap_or_default().to_string();
    let status = op["httpErrorStatusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(400);
    let zone = op["zone"].as_str().map(|z| last(z).to_string());
    Some(ProviderError {
        kind: classify::kind(&code, &message, status),
        code,
        message,
        region: zone
            .as_deref()
            .and_then(|z| z.rsplit_once('-'))
            .map(|(r, _)| r.to_string()),
        zone,
    })
}

/// An operation being awaited.
pub struct Pending {
    project: String,
    op: Value,
}

impl Pending {
    /// Wraps an operation an API call returned.
    pub fn new(project: &str, op: Value) -> Pending {
        Pending {
            project: project.to_string(),
            op,
        }
    }
}

/// Waits for `ops` (zonal or global) to be `DONE`, with the server-side long poll,
/// for at most `WAIT_BUDGET` in all; the first failed one is the error. Ones still
/// running then are left to finish on their own (their resources show as pending).
pub fn wait_all(ops: Vec<Pending>) -> Result<(), ProviderError> {
    let started = Instant::now();
    let mut failure: Option<ProviderError> = None;
    for Pending { project, mut op } in ops {
        while op["status"].as_str() != Some("DONE") && started.elapsed() < WAIT_BUDGET {
            let name = op["name"].as_str().unwrap_or_default().to_string();
            let scope = match op["zone"].as_str() {
                Some(zone) => format!("zones/{}", last(zone)),
                None => match op["region"].as_str() {
                    Some(region) => format!("regions/{}", last(region)),
                    None => "global".to_string(),
                },
            };
            op = call(
                "POST",
                &project,
                &format!("{scope}/operations/{}/wait", uri_encode(&name)),
                &[],
                None,
            )?;
        }
        if op["status"].as_str() != Some("DONE") {
            log::info(&format!(
                "operation {} is still running; its resources show as pending",
                op["name"].as_str().unwrap_or_default()
            ));
            continue;
        }
        if let Some(e) = operation_error(&op)
            && failure.is_none()
        {
            failure = Some(e);
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Bad data in an answer.
pub fn bad_answer(what: &str) -> ProviderError {
    errors::invalid(
        "BadAnswer",
        &format!("Compute Engine answered without {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error_documents_become_typed_errors() {
        let e = api_error(
            403,
            br#"{"error":{"code":403,"message":"Quota 'CPUS' exceeded.","errors":[{"message":"Quota 'CPUS' exceeded.","domain":"usageLimits","reason":"quotaExceeded"}]}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Quota);
        assert_eq!(e.code, "quotaExceeded");
        let e = api_error(
            404,
            br#"{"error":{"code":404,"message":"The resource 'x' was not found","errors":[{"reason":"notFound"}],"status":"NOT_FOUND"}}"#,
        );
        assert!(is_not_found(&e));
        assert_eq!(api_error(502, b"<html>").kind, ErrorKind::Transient);
    }

    #[test]
    fn a_failed_operation_is_typed_and_placed() {
        let op: Value = serde_json::from_str(
            r#"{"status":"DONE","zone":"https://compute.googleapis.com/compute/v1/projects/p/zones/us-central1-b",
                "httpErrorStatusCode":503,"httpErrorMessage":"SERVICE UNAVAILABLE",
                "error":{"errors":[{"code":"ZONE_RESOURCE_POOL_EXHAUSTED","message":"The zone 'projects/p/zones/us-central1-b' does not have enough resources available to fulfill the request."}]}}"#,
        )
        .unwrap();
        let e = operation_error(&op).unwrap();
        assert_eq!(e.kind, ErrorKind::Capacity);
        assert_eq!(e.zone.as_deref(), Some("us-central1-b"));
        assert_eq!(e.region.as_deref(), Some("us-central1"));
        assert!(operation_error(&serde_json::json!({"status":"DONE"})).is_none());
    }
}
