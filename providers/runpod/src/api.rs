//! Calling RunPod's GraphQL API: one `POST https://api.runpod.io/graphql` per
//! operation, `{"query", "variables"}` (values always travel as variables, never
//! pasted into the query text), the API key as `Authorization: Bearer` (not the
//! `?api_key=` form of RunPod's examples: a URL ends up in logs), and GraphQL
//! `errors` turned into typed errors.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use aloft_provider_sdk::http::{Request, Response};
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

use crate::classify;

/// The API's URL (the host's `endpoint` override redirects it).
pub const URL: &str = "https://api.runpod.io/graphql";

/// The secret's name.
pub const KEY_NAME: &str = "RUNPOD_API_KEY";

fn api_key() -> Result<String, ProviderError> {
    credentials::get(KEY_NAME).ok_or_else(|| {
        errors::auth(
            "NoCredentials",
            "no RunPod API key: set RUNPOD_API_KEY (or `apikey = ...` in ~/.runpod/config.toml)",
        )
    })
}

#[derive(Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Answer<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

/// The typed error of an answer with `errors` or a failing HTTP status.
pub fn error_of(status: u16, messages: &[String]) -> ProviderError {
    let message = if messages.is_empty() {
        match status {
            401 => "RunPod refused the API key (HTTP 401)".to_string(),
            429 => "RunPod is rate-limiting requests (HTTP 429); aloft retries with backoff"
                .to_string(),
            _ => format!("HTTP {status}"),
        }
    } else {
        messages.join("; ")
    };
    let (kind, code) = classify::kind(status, &message);
    ProviderError {
        kind,
        code: code.to_string(),
        message,
        region: None,
        zone: None,
    }
}

fn decode<T: DeserializeOwned>(response: &Response) -> Result<T, ProviderError> {
    let answer: Result<Answer<T>, _> = serde_json::from_slice(&response.body);
    match answer {
        Ok(a) if a.errors.is_empty() && response.status == 200 => a.data.ok_or_else(|| {
            errors::invalid("EmptyAnswer", "RunPod answered neither data nor errors")
        }),
        Ok(a) => Err(error_of(
            response.status,
            &a.errors.into_iter().map(|e| e.message).collect::<Vec<_>>(),
        )),
        Err(_) if response.status != 200 => Err(error_of(response.status, &[])),
        Err(e) => Err(errors::invalid(
            "ResponseDecoding",
            &format!("RunPod's answer did not decode: {e}"),
        )),
    }
}

/// Runs one GraphQL operation with `variables` and decodes its `data`.
pub fn graphql<T: DeserializeOwned>(
    query: &str,
    variables: serde_json::Value,
) -> Result<T, ProviderError> {
    let key = api_key()?;
    let response = Request::post(URL)
        .header("authorization", &format!("Bearer {key}"))
        .header("accept", "application/json")
        .json(&serde_json::json!({ "query": query, "variables": variables }))?
        .send()?;
    decode(&response)
}
