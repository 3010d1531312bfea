//! Calling Azure Resource Manager (`https://management.azure.com`): JSON over
//! HTTPS with the service principal's bearer token, ARM's error documents turned
//! into typed errors, throttling (429 with `Retry-After`) waited out a few times,
//! and long-running operations awaited through the headers ARM answers them with
//! (`Azure-AsyncOperation`: a status document polled until `Succeeded`, `Failed`
//! or `Canceled`; else `Location`: polled until it stops answering 202).

use std::time::{Duration, Instant};

use aloft_provider_sdk::http::{Request, Response};
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{errors, log};
use serde_json::Value;

use crate::{auth, classify};

/// ARM's root (the host rewrites it to `providers.azure.endpoint` when set).
pub const ARM: &str = "https://management.azure.com";
/// ARM's host, for the manifest.
pub const ARM_HOST: &str = "management.azure.com";

/// API versions, each that of the official Python SDK package the tests'
/// fake checks requests against (`azure-mgmt-resource` 26.0.0,
/// `azure-mgmt-network` 33.1.0, `azure-mgmt-compute` 39.0.0).
pub const RESOURCES_API: &str = "2025-04-01";
/// `Microsoft.Network`.
pub const NETWORK_API: &str = "2026-03-01";
/// `Microsoft.Compute` virtual machines.
pub const COMPUTE_API: &str = "2026-04-01";

/// How long one provider call keeps waiting on operations before answering with
/// what it has (the host's deadline per call is 60 s).
const WAIT_BUDGET: Duration = Duration::from_secs(40);
/// The most throttled answers one request waits out before giving up (transient).
const THROTTLE_RETRIES: u32 = 3;
/// The longest one wait between polls or after a 429.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// An ARM error document's `error`.
pub fn error_of(status: u16, body: &[u8]) -> ProviderError {
    let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // Most answers wrap it in `error`; a few (and operation status documents) do not.
    let err = doc.get("error").unwrap_or(&doc);
    error_from(status, err)
}

/// The typed error of an ARM `error` object (`code`, `message`, `details`).
pub fn error_from(status: u16, err: &Value) -> ProviderError {
    let mut code = err["code"].as_str().unwrap_or_default().to_string();
    let mut message = err["message"].as_str().unwrap_or_default().to_string();
    // A deployment-style wrapper (`code: "Conflict"`, the real one in details).
    if let Some(inner) = err["details"].as_array().and_then(|d| d.first())
        && let Some(c) = inner["code"].as_str()
        && matches!(
            code.as_str(),
            "" | "Conflict" | "BadRequest" | "OperationFailed"
        )
    {
        code = c.to_string();
        message = inner["message"].as_str().unwrap_or(&message).to_string();
    }
    if message.is_empty() {
        message = match status {
            401 => "Azure refused the access token (HTTP 401)".into(),
            429 => "Azure Resource Manager is throttling requests (HTTP 429)".into(),
            0 => "the operation failed".into(),
            s => format!("HTTP {s}"),
        };
    }
    if code.is_empty() {
        code = match status {
            429 => "TooManyRequests".into(),
            0 => "OperationFailed".into(),
            s => format!("Http{s}"),
        };
    }
    let kind = classify::kind(status, &code, &message);
    ProviderError {
        kind,
        code,
        // ARM's own words, shown to the user: keep them short.
        message: message.chars().take(600).collect(),
        region: None,
        zone: None,
    }
}

/// `Retry-After` (seconds), capped.
fn retry_after(response: &Response) -> Duration {
    let secs = response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs).min(MAX_WAIT)
}

/// Sends `method` to `url` (absolute) with the token, retrying once with a fresh
/// token after a 401 and waiting out up to `THROTTLE_RETRIES` 429s; the raw
/// answer (any status).
pub fn send(method: &str, url: &str, body: Option<&Value>) -> Result<Response, ProviderError> {
    let mut refreshed = false;
    let mut throttled = 0;
    loop {
        let token = auth::token()?;
        let mut request = Request::new(method, url)
            .header("authorization", &format!("Bearer {token}"))
            .header("accept", "application/json");
        if let Some(b) = body {
            request = request.json(b)?;
        }
        let response = request.send()?;
        if response.status == 401 && !refreshed {
            auth::forget();
            refreshed = true;
            continue;
        }
        if response.status == 429 && throttled < THROTTLE_RETRIES {
            throttled += 1;
            let wait = retry_after(&response);
            log::debug(&format!(
                "azure: throttled (429), retrying in {} s",
                wait.as_secs()
            ));
            std::thread::sleep(wait);
            continue;
        }
        return Ok(response);
    }
}

/// `{ARM}/subscriptions/{sub}/{path}?api-version={api}` (`path` may carry more
/// query after a `?`).
pub fn url(subscription: &str, path: &str, api: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{ARM}/subscriptions/{subscription}/{path}{sep}api-version={api}")
}

/// Whether `url` is on ARM itself: the token is only ever sent there, so an
/// operation or next-page link elsewhere is not followed.
fn is_arm_url(url: &str) -> bool {
    url.strip_prefix(ARM)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// What a call answered: its JSON (null when empty) and the operation to await,
/// if it is a long-running one.
pub struct Answer {
    /// The body.
    pub body: Value,
    /// The operation, when ARM answered with one.
    pub operation: Option<Operation>,
}

/// A long-running operation being awaited.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `Azure-AsyncOperation` (a status document), preferred.
    async_url: Option<String>,
    /// `Location` (202 until done).
    location: Option<String>,
    /// What it is about, for the log.
    what: String,
}

/// Calls ARM; a non-2xx answer is the typed error.
pub fn call(
    method: &str,
    url: &str,
    body: Option<&Value>,
    what: &str,
) -> Result<Answer, ProviderError> {
    let response = send(method, url, body)?;
    if !(200..300).contains(&response.status) {
        return Err(error_of(response.status, &response.body));
    }
    let async_url = response
        .header("azure-asyncoperation")
        .map(str::to_string)
        .filter(|u| is_arm_url(u));
    let location = response
        .header("location")
        .map(str::to_string)
        .filter(|u| is_arm_url(u));
    let operation = (matches!(response.status, 201 | 202)
        && (async_url.is_some() || location.is_some()))
    .then(|| Operation {
        async_url,
        location,
        what: what.to_string(),
    });
    let body = if response.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        response.json()?
    };
    Ok(Answer { body, operation })
}

/// GETs `url`; `None` when it is not there (404).
pub fn get(url: &str, what: &str) -> Result<Option<Value>, ProviderError> {
    match call("GET", url, None, what) {
        Ok(a) => Ok(Some(a.body)),
        Err(e) if classify::is_not_found(&e.code) || e.code == "Http404" => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every item of a list answer (`value`, following `nextLink`); an empty list
/// when the parent (the resource group) is not there.
pub fn list(url: &str, what: &str) -> Result<Vec<Value>, ProviderError> {
    let mut items = Vec::new();
    let mut next = Some(url.to_string());
    let mut pages = 0;
    while let Some(u) = next.take() {
        let Some(page) = get(&u, what)? else {
            break;
        };
        if let Some(values) = page["value"].as_array() {
            items.extend(values.iter().cloned());
        }
        pages += 1;
        next = page["nextLink"]
            .as_str()
            .filter(|n| is_arm_url(n) && pages < 50)
            .map(str::to_string);
    }
    Ok(items)
}

/// Where an operation stands.
enum Progress {
    Running(Duration),
    Done,
}

fn poll(op: &Operation) -> Result<Progress, ProviderError> {
    if let Some(url) = &op.async_url {
        let response = send("GET", url, None)?;
        if !(200..300).contains(&response.status) {
            return Err(error_of(response.status, &response.body));
        }
        let doc: Value = response.json()?;
        return match doc["status"].as_str().unwrap_or("InProgress") {
            "Succeeded" => Ok(Progress::Done),
            "Failed" | "Canceled" => Err(error_from(0, &doc["error"])),
            _ => Ok(Progress::Running(retry_after(&response))),
        };
    }
    if let Some(url) = &op.location {
        let response = send("GET", url, None)?;
        return match response.status {
            202 => Ok(Progress::Running(retry_after(&response))),
            200..=299 => Ok(Progress::Done),
            s => Err(error_of(s, &response.body)),
        };
    }
    Ok(Progress::Done)
}

/// Awaits `ops`, polling each at the pace ARM asks for (`Retry-After`), for at
/// most `WAIT_BUDGET` in all; the first failed one is the error. Ones still
/// running then are left to finish on their own (`Ok(false)`).
pub fn wait_all(ops: Vec<Operation>) -> Result<bool, ProviderError> {
    let started = Instant::now();
    let mut failure: Option<ProviderError> = None;
    let mut pending: Vec<Operation> = ops;
    while !pending.is_empty() && started.elapsed() < WAIT_BUDGET {
        let mut still = Vec::new();
        let mut wait = MAX_WAIT;
        for op in pending {
            match poll(&op) {
                Ok(Progress::Done) => {}
                Ok(Progress::Running(w)) => {
                    wait = wait.min(w);
                    still.push(op);
                }
                Err(e) => {
                    log::debug(&format!("azure: {} failed: {}", op.what, e.message));
                    if failure.is_none() {
                        failure = Some(e);
                    }
                }
            }
        }
        pending = still;
        if !pending.is_empty() {
            std::thread::sleep(wait.max(Duration::from_millis(100)));
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    for op in &pending {
        log::info(&format!(
            "azure: {} is still running; it shows as pending",
            op.what
        ));
    }
    Ok(pending.is_empty())
}

/// Awaits one call's operation, if it has one.
pub fn finish(answer: Answer) -> Result<Value, ProviderError> {
    if let Some(op) = answer.operation {
        wait_all(vec![op])?;
    }
    Ok(answer.body)
}

/// Bad data in an answer.
pub fn bad_answer(what: &str) -> ProviderError {
    errors::invalid(
        "BadAnswer",
        &format!("Azure Resource Manager answered without {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aloft_provider_sdk::types::ErrorKind;

    #[test]
    fn arm_error_documents_become_typed_errors() {
        let e = error_of(
            409,
            br#"{"error":{"code":"SkuNotAvailable","message":"The requested VM size Standard_NC24ads_A100_v4 is currently not available in location 'eastus'.","target":"vmSize"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Capacity);
        assert_eq!(e.code, "SkuNotAvailable");
        let e = error_from(
            0,
            &serde_json::json!({"code":"Conflict","message":"x","details":[{"code":"ZonalAllocationFailed","message":"Allocation failed."}]}),
        );
        assert_eq!(e.kind, ErrorKind::Capacity);
        assert_eq!(e.code, "ZonalAllocationFailed");
        let e = error_of(429, b"");
        assert_eq!(e.kind, ErrorKind::Transient);
        assert_eq!(e.code, "TooManyRequests");
        assert_eq!(error_of(502, b"<html>").kind, ErrorKind::Transient);
        assert!(is_arm_url(
            "https://management.azure.com/subscriptions/s/operationresults/1"
        ));
        assert!(!is_arm_url("https://management.azure.com.evil.example/x"));
        assert!(!is_arm_url("https://prices.azure.com/api/retail/prices"));
        assert_eq!(
            url("s", "resourcegroups/g?$top=1", RESOURCES_API),
            "https://management.azure.com/subscriptions/s/resourcegroups/g?$top=1&api-version=2025-04-01"
        );
    }
}
