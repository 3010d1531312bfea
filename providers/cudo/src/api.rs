//! Calling Cudo Compute's REST API (`https://rest.compute.cudo.org/v1`): JSON over
//! HTTPS, the API key as `Authorization: Bearer`, the project from the settings
//! or from `cudo.yml`, and error answers (gRPC-gateway `Status` bodies) turned
//! into typed errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use aloft_provider_sdk::http::Request;
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

use crate::classify;

/// The API's host (the host's `endpoint` override redirects it); paths carry
/// their `/v1`.
pub const BASE: &str = "https://rest.compute.cudo.org";

/// The API key's credential name (lent by the host from `cudo.yml`).
pub const KEY_NAME: &str = "CUDO_API_KEY";

/// The project's credential name (the current context's `project` in `cudo.yml`).
pub const PROJECT_NAME: &str = "CUDO_PROJECT";

fn key() -> Result<String, ProviderError> {
    credentials::get(KEY_NAME).ok_or_else(|| {
        errors::auth(
            "NoCredentials",
            "no Cudo API key: run `cudoctl init` (it writes ~/.config/cudo/cudo.yml)",
        )
    })
}

/// The project the provider works in: `providers.cudo.project`, else the current
/// context's project of `cudo.yml`. Checked to be a plain name, as it goes into
/// request paths.
pub fn project(settings: &BTreeMap<String, String>) -> Result<String, ProviderError> {
    let project = settings
        .get("project")
        .cloned()
        .or_else(|| credentials::get(PROJECT_NAME))
        .ok_or_else(|| {
            errors::auth(
                "NoProject",
                "no Cudo project: set providers.cudo.project, or a project in the current \
                 context of ~/.config/cudo/cudo.yml (`cudoctl init`)",
            )
        })?;
    let plain = !project.is_empty()
        && project.len() <= 64
        && project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain {
        return Err(errors::invalid(
            "BadProject",
            "the Cudo project must be letters, digits, `-` or `_` (at most 64)",
        ));
    }
    Ok(project)
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// The typed error of a failed answer (`status`, body `body`).
pub fn error_of(status: u16, body: &[u8]) -> ProviderError {
    let parsed = serde_json::from_slice::<Status>(body).ok();
    let code = parsed.as_ref().and_then(|s| s.code);
    let message = parsed
        .and_then(|s| s.message)
        .filter(|m| !m.trim().is_empty());
    let message = match message {
        // The message is Cudo's, shown to the user: keep it short.
        Some(m) => m.chars().take(500).collect(),
        None => match status {
            401 => "Cudo refused the API key (HTTP 401)".to_string(),
            403 => "Cudo refused access to the project (HTTP 403)".to_string(),
            _ => format!("HTTP {status}"),
        },
    };
    let (kind, short) = classify::kind(status, code, &message);
    ProviderError {
        kind,
        code: short.to_string(),
        message,
        region: None,
        zone: None,
    }
}

/// Sends `request` with the key; the JSON answer of a 2xx (an empty object when
/// the body is empty).
fn send(request: Request) -> Result<serde_json::Value, ProviderError> {
    let key = key()?;
    let response = request
        .header("authorization", &format!("Bearer {key}"))
        .header("accept", "application/json")
        .send()?;
    if !(200..300).contains(&response.status) {
        return Err(error_of(response.status, &response.body));
    }
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::json!({}));
    }
    response.json()
}

/// `value` decoded as `T`.
pub fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ProviderError> {
    serde_json::from_value(value).map_err(|e| {
        errors::invalid(
            "ResponseDecoding",
            &format!("Cudo's answer did not decode: {e}"),
        )
    })
}

/// `GET {BASE}{path}`.
pub fn get(path: &str) -> Result<serde_json::Value, ProviderError> {
    send(Request::get(&format!("{BASE}{path}")))
}

/// `POST {BASE}{path}` with a JSON body.
pub fn post(path: &str, body: &serde_json::Value) -> Result<serde_json::Value, ProviderError> {
    send(Request::post(&format!("{BASE}{path}")).json(body)?)
}

/// `PATCH {BASE}{path}` with a JSON body.
pub fn patch(path: &str, body: &serde_json::Value) -> Result<serde_json::Value, ProviderError> {
    send(Request::new("PATCH", &format!("{BASE}{path}")).json(body)?)
}

/// `method {BASE}{path}` of an operation without a body (start, stop,
/// terminate, deletes), with the `{}` that Cudo's package sends for one.
pub fn call(method: &str, path: &str) -> Result<serde_json::Value, ProviderError> {
    send(Request::new(method, &format!("{BASE}{path}")).json(&serde_json::json!({}))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_cudos_message_and_never_the_body_otherwise() {
        let e = error_of(
            429,
            br#"{"code": 8, "message": "no host in se-smedjebacken-1 has 1 free A40", "details": []}"#,
        );
        assert_eq!(e.code, "ResourceExhausted");
        assert_eq!(e.message, "no host in se-smedjebacken-1 has 1 free A40");
        let e = error_of(401, b"<html>secret-ish</html>");
        assert_eq!(e.message, "Cudo refused the API key (HTTP 401)");
        assert_eq!(e.code, "Unauthorized");
    }

    #[test]
    fn a_project_from_the_settings_must_be_a_plain_name() {
        let mut settings = BTreeMap::new();
        settings.insert("project".to_string(), "my-proj_1".to_string());
        assert_eq!(project(&settings).unwrap(), "my-proj_1");
        settings.insert("project".to_string(), "../vms".to_string());
        assert_eq!(project(&settings).unwrap_err().code, "BadProject");
    }
}
