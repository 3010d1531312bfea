//! Calling DigitalOcean's REST API v2 (`https://api.digitalocean.com/v2`): JSON
//! over HTTPS, the personal access token as `Authorization: Bearer`, and error
//! answers (`{"id", "message"}`) turned into typed errors.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use aloft_provider_sdk::http::{Request, Response};
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

use crate::classify;

/// The API's base URL (the host's `endpoint` override redirects it).
pub const BASE: &str = "https://api.digitalocean.com/v2";

/// The secret's name (the variable `doctl` and `pydo` read).
pub const TOKEN_NAME: &str = "DIGITALOCEAN_ACCESS_TOKEN";

/// The most items a list page holds (`per_page` may not exceed it).
pub const PER_PAGE: u32 = 200;

/// The most pages a listing follows (a runaway `meta.total` ends here).
const MAX_PAGES: u32 = 50;

fn token() -> Result<String, ProviderError> {
    credentials::get(TOKEN_NAME).ok_or_else(|| {
        errors::auth(
            "NoCredentials",
            "no DigitalOcean access token: set DIGITALOCEAN_ACCESS_TOKEN (or run \
             `doctl auth init`, which writes ~/.config/doctl/config.yaml)",
        )
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: String,
}

/// The typed error of a failed answer.
pub fn error_of(response: &Response) -> ProviderError {
    let status = response.status;
    let (id, message) = match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(b) if !b.message.is_empty() || !b.id.is_empty() => (b.id, b.message),
        _ => (String::new(), String::new()),
    };
    let message = if message.is_empty() {
        match status {
            401 => "DigitalOcean refused the access token (HTTP 401)".to_string(),
            429 => "DigitalOcean is rate-limiting requests (HTTP 429); aloft retries with backoff"
                .to_string(),
            _ => format!("HTTP {status}"),
        }
    } else {
        // The message is DigitalOcean's, shown to the user: keep it short.
        message.chars().take(500).collect()
    };
    let (kind, code) = classify::kind(status, &id, &message);
    ProviderError {
        kind,
        code: code.to_string(),
        message,
        region: None,
        zone: None,
    }
}

/// Sends `request` with the token; the JSON answer of a 2xx (null when empty).
fn send(request: Request) -> Result<serde_json::Value, ProviderError> {
    let token = token()?;
    let response = request
        .header("authorization", &format!("Bearer {token}"))
        .header("accept", "application/json")
        .send()?;
    if !(200..300).contains(&response.status) {
        return Err(error_of(&response));
    }
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    response.json()
}

fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ProviderError> {
    serde_json::from_value(value).map_err(|e| {
        errors::invalid(
            "ResponseDecoding",
            &format!("DigitalOcean's answer did not decode: {e}"),
        )
    })
}

/// `GET {BASE}/{path}` (path with its query), decoded.
pub fn get<T: DeserializeOwned>(path: &str) -> Result<T, ProviderError> {
    decode(send(Request::get(&format!("{BASE}/{path}")))?)
}

/// `POST {BASE}/{path}` with a JSON body, decoded.
pub fn post<T: DeserializeOwned>(path: &str, body: &serde_json::Value) -> Result<T, ProviderError> {
    decode(send(Request::post(&format!("{BASE}/{path}")).json(body)?)?)
}

/// `DELETE {BASE}/{path}`; a 404 is success (already gone).
pub fn delete(path: &str) -> Result<(), ProviderError> {
    match send(Request::new("DELETE", &format!("{BASE}/{path}"))) {
        Ok(_) => Ok(()),
        Err(e) if e.code == "NotFound" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Every item under `key` of a paginated listing at `path` (`?` query or none).
pub fn list<T: DeserializeOwned>(path: &str, key: &str) -> Result<Vec<T>, ProviderError> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    for page in 1..=MAX_PAGES {
        let answer = send(Request::get(&format!(
            "{BASE}/{path}{sep}per_page={PER_PAGE}&page={page}"
        )))?;
        // A missing list is empty; a malformed one is an error (never "nothing
        // there": that would create a cluster's droplets twice).
        let batch: Vec<T> = match answer.get(key) {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(list) => decode(list.clone())?,
        };
        let got = batch.len();
        items.extend(batch);
        let total = answer
            .pointer("/meta/total")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if got < PER_PAGE as usize || items.len() as u64 >= total {
            break;
        }
    }
    Ok(items)
}

/// `value` for a URL query.
pub fn query_value(value: &str) -> String {
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
