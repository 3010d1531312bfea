//! Calling Fluidstack's REST API (`https://platform.fluidstack.io`, the official
//! package's `FluidStackEnvironment.DEFAULT`): JSON over HTTPS, the API key in the
//! `api-key` header (as the package's client wrapper sends it), and error answers
//! turned into typed errors.

use serde::de::DeserializeOwned;

use aloft_provider_sdk::http::Request;
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

use crate::classify;

/// The API's host (the host's `endpoint` override redirects it).
pub const BASE: &str = "https://platform.fluidstack.io";

/// The secret's name: the variable the official package reads
/// (`FLUIDSTACK_API_KEY`); the host also lends it from `~/.fluidstack/api_key`,
/// the file SkyPilot's Fluidstack support reads.
pub const KEY_NAME: &str = "FLUIDSTACK_API_KEY";

fn key() -> Result<String, ProviderError> {
    credentials::get(KEY_NAME).ok_or_else(|| {
        errors::auth(
            "NoCredentials",
            "no Fluidstack API key: set FLUIDSTACK_API_KEY or write it to \
             ~/.fluidstack/api_key",
        )
    })
}

/// The message of an error answer: `message` (the package's `Message`), `error`,
/// `detail` as a string or the messages of a validation error list, or a word
/// for the status (never the raw body).
fn message_of(status: u16, body: &[u8]) -> String {
    let doc = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |name: &str| doc.as_ref().and_then(|v| v.get(name)).cloned();
    let text = match (field("message"), field("error"), field("detail")) {
        (Some(serde_json::Value::String(s)), _, _) => s,
        (_, Some(serde_json::Value::String(s)), _) => s,
        (_, _, Some(serde_json::Value::String(s))) => s,
        (_, _, Some(serde_json::Value::Array(list))) => list
            .iter()
            .filter_map(|e| {
                let msg = e.get("msg")?.as_str()?;
                let loc: Vec<String> = e
                    .get("loc")
                    .and_then(|l| l.as_array())
                    .map(|l| {
                        l.iter()
                            .filter(|p| p.as_str() != Some("body"))
                            .map(|p| p.to_string().trim_matches('"').to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                Some(format!("{}: {msg}", loc.join(".")))
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    };
    if !text.trim().is_empty() {
        // Fluidstack's words, shown to the user: keep them short.
        return text.chars().take(500).collect();
    }
    match status {
        401 => "Fluidstack refused the API key (HTTP 401)".into(),
        429 => "Fluidstack is rate-limiting requests (HTTP 429); aloft retries with backoff".into(),
        _ => format!("HTTP {status}"),
    }
}

/// The typed error of a failed answer (`status`, body `body`).
pub fn error_of(status: u16, body: &[u8]) -> ProviderError {
    let message = message_of(status, body);
    let (kind, code) = classify::kind(status, &message);
    ProviderError {
        kind,
        code: code.to_string(),
        message,
        region: None,
        zone: None,
    }
}

/// Sends `request` with the key; the JSON answer of a 2xx (null when empty or
/// not JSON: the package reads no answer of a create).
fn send(request: Request) -> Result<serde_json::Value, ProviderError> {
    let key = key()?;
    let response = request
        .header("api-key", &key)
        .header("accept", "application/json")
        .send()?;
    if !(200..300).contains(&response.status) {
        return Err(error_of(response.status, &response.body));
    }
    Ok(serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null))
}

/// `value` decoded as `T`.
pub fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ProviderError> {
    serde_json::from_value(value).map_err(|e| {
        errors::invalid(
            "ResponseDecoding",
            &format!("Fluidstack's answer did not decode: {e}"),
        )
    })
}

/// `GET {BASE}/{path}`.
pub fn get(path: &str) -> Result<serde_json::Value, ProviderError> {
    send(Request::get(&format!("{BASE}/{path}")))
}

/// `POST {BASE}/{path}` with a JSON body.
pub fn post(path: &str, body: &serde_json::Value) -> Result<serde_json::Value, ProviderError> {
    send(Request::post(&format!("{BASE}/{path}")).json(body)?)
}

/// `PUT {BASE}/{path}` (no body: the package's stop and start send none).
pub fn put(path: &str) -> Result<serde_json::Value, ProviderError> {
    send(Request::new("PUT", &format!("{BASE}/{path}")))
}

/// `DELETE {BASE}/{path}`; something already gone is success.
pub fn delete(path: &str) -> Result<(), ProviderError> {
    match send(Request::new("DELETE", &format!("{BASE}/{path}"))) {
        Ok(_) => Ok(()),
        Err(e) if e.code == "NotFound" => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aloft_provider_sdk::types::ErrorKind;

    #[test]
    fn errors_keep_fluidstack_words_and_never_the_body_otherwise() {
        let e = error_of(401, br#"{"message": "Invalid API key"}"#);
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_eq!(e.message, "Invalid API key");
        let e = error_of(
            422,
            br#"{"detail": [{"loc": ["body", "gpu_type"], "msg": "field required", "type": "x"}]}"#,
        );
        assert_eq!(e.message, "gpu_type: field required");
        assert_eq!(e.kind, ErrorKind::Invalid);
        let e = error_of(400, br#"{"error": "H100_SXM5_80GB is out of stock"}"#);
        assert_eq!(e.kind, ErrorKind::Capacity);
        let e = error_of(401, b"<html>secret-ish</html>");
        assert_eq!(e.message, "Fluidstack refused the API key (HTTP 401)");
    }
}
