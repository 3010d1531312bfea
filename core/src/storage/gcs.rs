//! A small Google Cloud Storage client: the JSON API (`storage/v1`: buckets get,
//! insert and delete; objects list, media upload, `alt=media` download and
//! delete) with a bearer token minted from Google's credentials as Google's tools
//! read them (a service-account key: an RS256-signed JWT traded at its
//! `token_uri`; `gcloud auth application-default login`'s `authorized_user` file:
//! its refresh token). The credentials, the token request and the token cache are
//! the provider SDK's (`aloft_provider_sdk::google`, `oauth2::TokenCache`), sent
//! here with the host's HTTP client. Tokens stay in memory: never in messages,
//! logs or state.
//!
//! It talks to `https://storage.googleapis.com`; an endpoint override (an
//! emulator, a gateway: `storage.gcs.endpoint`) takes the API's requests and the
//! token request (at the token URL's path), as the `gcp` provider's endpoint does.

use std::time::Duration;

use aloft_provider_sdk::google::GoogleCredentials;
use aloft_provider_sdk::oauth2::{TokenCache, parse_token_response};
use aloft_provider_sdk::signing::uri_encode;
use reqwest::Method;
use reqwest::blocking::Client;

use super::{ObjectInfo, ObjectStore, SignedGet, StorageError, Store};

/// Google Cloud Storage's JSON API root.
pub const GCS_ENDPOINT: &str = "https://storage.googleapis.com";

/// Where the credentials go (for the error that says they are missing).
pub const GCS_CREDENTIALS_HELP: &str = "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, \
     or run `gcloud auth application-default login` (it writes \
     ~/.config/gcloud/application_default_credentials.json)";

/// The location new buckets get when none is configured (GCS's own default).
pub const DEFAULT_LOCATION: &str = "US";

/// A GCS client for one set of credentials.
pub struct Gcs {
    client: Client,
    endpoint: String,
    overridden: bool,
    credentials: GoogleCredentials,
    project: Option<String>,
    location: String,
    token: TokenCache,
}

/// How a GCS client is set up.
#[derive(Debug, Clone, Default)]
pub struct GcsOptions {
    /// Another API root than [`GCS_ENDPOINT`] (tests, gateways); the token
    /// request goes there too.
    pub endpoint: Option<String>,
    /// The project new buckets are made in (default: the credentials').
    pub project: Option<String>,
    /// The location new buckets get (default [`DEFAULT_LOCATION`]).
    pub location: Option<String>,
}

/// Google's error answer: `{"error": {"code", "message", "errors": [{"reason"}]}}`.
fn error_reason(body: &[u8]) -> Option<(String, String)> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = doc.get("error")?;
    let reason = error
        .get("errors")
        .and_then(|e| e.get(0))
        .and_then(|e| e.get("reason"))
        .and_then(|r| r.as_str())
        .or_else(|| error.get("status").and_then(|s| s.as_str()))?
        .to_string();
    let message = error
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string();
    Some((reason, message))
}

impl Gcs {
    /// A client with `credentials_json` (a service-account key or an
    /// `authorized_user` file); an unreadable file is
    /// [`StorageError::Credentials`], never quoting it.
    pub fn new(credentials_json: &str, options: GcsOptions) -> Result<Gcs, StorageError> {
        let credentials = GoogleCredentials::parse(credentials_json).map_err(|e| {
            StorageError::Credentials(format!(
                "Google credentials for GCS: {}; {GCS_CREDENTIALS_HELP}",
                e.message
            ))
        })?;
        let client = Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| StorageError::Request(e.to_string()))?;
        let project = options
            .project
            .or_else(|| credentials.project().map(str::to_string));
        Ok(Gcs {
            client,
            overridden: options.endpoint.is_some(),
            endpoint: options
                .endpoint
                .unwrap_or_else(|| GCS_ENDPOINT.to_string())
                .trim_end_matches('/')
                .to_string(),
            credentials,
            project,
            location: options
                .location
                .unwrap_or_else(|| DEFAULT_LOCATION.to_string()),
            token: TokenCache::new(60),
        })
    }

    /// The project new buckets are made in, if known.
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// An OAuth access token of the credentials (scope `cloud-platform`), as a
    /// registry password (Artifact Registry's `oauth2accesstoken` login).
    pub fn access_token(&self) -> Result<String, StorageError> {
        self.token()
    }

    /// A bearer token (cached until a minute before it ends).
    fn token(&self) -> Result<String, StorageError> {
        self.token.get_via(
            |now| {
                let mut request = self.credentials.token_request(now).map_err(|e| {
                    StorageError::Credentials(format!("Google credentials for GCS: {}", e.message))
                })?;
                if self.overridden {
                    // The token endpoint's path, at the overriding endpoint.
                    let path = request
                        .url
                        .split("://")
                        .nth(1)
                        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
                        .unwrap_or_else(|| "/token".into());
                    request.url = format!("{}{path}", self.endpoint);
                }
                Ok(request)
            },
            |request| {
                let mut http = self.client.post(&request.url);
                for (name, value) in &request.headers {
                    http = http.header(name.as_str(), value.as_str());
                }
                let response = http
                    .body(request.body)
                    .send()
                    .map_err(|e| StorageError::Request(e.without_url().to_string()))?;
                let status = response.status().as_u16();
                let body = response
                    .bytes()
                    .map_err(|e| StorageError::Request(e.without_url().to_string()))?;
                Ok((status, body.to_vec()))
            },
            |status, body| {
                let detail = parse_token_response(body)
                    .err()
                    .unwrap_or_else(|| "no error code".into());
                StorageError::Credentials(format!(
                    "Google's token endpoint refused the credentials for GCS (HTTP {status}): {detail}"
                ))
            },
            || {
                StorageError::Credentials(
                    "Google's token endpoint answered something that is no token".into(),
                )
            },
        )
    }

    /// Sends one API request (`path` under the endpoint); a refused token is
    /// forgotten and the request sent once more with a fresh one.
    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Vec<u8>), StorageError> {
        // Shared, so that a retry does not copy the data.
        let body = body.map(|(content_type, data)| (content_type, bytes::Bytes::from(data)));
        let url = format!("{}{path}", self.endpoint);
        let mut retried = false;
        loop {
            let token = self.token()?;
            let mut request = self
                .client
                .request(method.clone(), &url)
                .query(query)
                .bearer_auth(&token);
            if let Some((content_type, data)) = &body {
                request = request
                    .header("content-type", *content_type)
                    .body(reqwest::blocking::Body::from(data.clone()));
            }
            let response = request
                .send()
                .map_err(|e| StorageError::Request(e.without_url().to_string()))?;
            let status = response.status().as_u16();
            let bytes = response
                .bytes()
                .map_err(|e| StorageError::Request(e.without_url().to_string()))?;
            if status == 401 && !retried {
                self.token.forget();
                retried = true;
                continue;
            }
            return Ok((status, bytes.to_vec()));
        }
    }

    fn check(&self, what: &str, (status, body): (u16, Vec<u8>)) -> Result<Vec<u8>, StorageError> {
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let (reason, message) =
            error_reason(&body).unwrap_or_else(|| (format!("Http{status}"), String::new()));
        Err(StorageError::Gcs {
            what: what.to_string(),
            reason,
            message,
            status,
        })
    }

    fn bucket_path(bucket: &str) -> String {
        format!("/storage/v1/b/{}", uri_encode(bucket))
    }

    fn object_path(bucket: &str, key: &str) -> String {
        // Object names go in the path whole, `/` included, percent-encoded.
        format!("{}/o/{}", Gcs::bucket_path(bucket), uri_encode(key))
    }
}

/// A V4 signed GET URL of `bucket`/`key` at `endpoint` (path style,
/// `https://storage.googleapis.com/BUCKET/OBJECT`), signed at `datetime`
/// (`YYYYMMDDTHHMMSSZ`) for `expires` seconds with the service account's RSA key
/// (Google's "V4 signing process": only `host` signed, an unsigned payload). The
/// result is a bearer secret for its lifetime; an error never quotes the key.
pub fn v4_signed_url(
    endpoint: &str,
    client_email: &str,
    private_key_pem: &str,
    bucket: &str,
    key: &str,
    datetime: &str,
    expires: u64,
) -> Result<String, StorageError> {
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};

    let endpoint = endpoint.trim_end_matches('/');
    let host = endpoint.split("://").nth(1).unwrap_or(endpoint);
    let path = format!(
        "/{}/{}",
        uri_encode(bucket),
        key.split('/').map(uri_encode).collect::<Vec<_>>().join("/")
    );
    let date = datetime.get(..8).unwrap_or(datetime);
    let scope = format!("{date}/auto/storage/goog4_request");
    let mut query: Vec<(String, String)> = [
        ("X-Goog-Algorithm", "GOOG4-RSA-SHA256".to_string()),
        ("X-Goog-Credential", format!("{client_email}/{scope}")),
        ("X-Goog-Date", datetime.to_string()),
        ("X-Goog-Expires", expires.to_string()),
        ("X-Goog-SignedHeaders", "host".to_string()),
    ]
    .iter()
    .map(|(k, v)| (uri_encode(k), uri_encode(v)))
    .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_request =
        format!("GET\n{path}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
    let string_to_sign = format!(
        "GOOG4-RSA-SHA256\n{datetime}\n{scope}\n{}",
        aloft_provider_sdk::signing::sha256_hex(canonical_request.as_bytes())
    );
    let private_key = rsa::RsaPrivateKey::from_pkcs8_pem(private_key_pem).map_err(|_| {
        StorageError::Credentials(
            "the service-account key's private_key is not a PKCS#8 PEM RSA key".into(),
        )
    })?;
    let signature = SigningKey::<sha2::Sha256>::new(private_key)
        .sign(string_to_sign.as_bytes())
        .to_vec();
    Ok(format!(
        "{endpoint}{path}?{canonical_query}&X-Goog-Signature={}",
        hex::encode(signature)
    ))
}

/// GCS's `md5Hash` (base64 of the 16 bytes) as lower-case hex.
fn md5_hex(md5_hash: &str) -> Option<String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(md5_hash.trim())
        .ok()
        .filter(|bytes| bytes.len() == 16)
        .map(hex::encode)
}

impl ObjectStore for Gcs {
    fn store(&self) -> Store {
        Store::Gcs
    }

    fn region(&self) -> &str {
        &self.location
    }

    fn bucket_exists(&self, bucket: &str) -> Result<bool, StorageError> {
        let answer = self.send(Method::GET, &Gcs::bucket_path(bucket), &[], None)?;
        if answer.0 == 404 {
            return Ok(false);
        }
        self.check(&format!("get bucket {}", self.url(bucket, "")), answer)
            .map(|_| true)
    }

    fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let project = self.project.as_deref().ok_or_else(|| {
            StorageError::Credentials(format!(
                "no Google Cloud project to create gs://{bucket} in: the credentials name none; \
                 set GOOGLE_CLOUD_PROJECT or `storage.gcs.project` in ~/.aloft/config.yaml"
            ))
        })?;
        let body = serde_json::json!({"name": bucket, "location": self.location}).to_string();
        let answer = self.send(
            Method::POST,
            "/storage/v1/b",
            &[("project", project)],
            Some(("application/json", body.into_bytes())),
        )?;
        self.check(&format!("create bucket {}", self.url(bucket, "")), answer)
            .map(|_| ())
    }

    fn put(&self, bucket: &str, key: &str, data: Vec<u8>) -> Result<(), StorageError> {
        let path = format!("/upload{}/o", Gcs::bucket_path(bucket));
        let answer = self.send(
            Method::POST,
            &path,
            &[("uploadType", "media"), ("name", key)],
            Some(("application/octet-stream", data)),
        )?;
        self.check(&format!("upload {}", self.url(bucket, key)), answer)
            .map(|_| ())
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StorageError> {
        let answer = self.send(
            Method::GET,
            &Gcs::object_path(bucket, key),
            &[("alt", "media")],
            None,
        )?;
        self.check(&format!("download {}", self.url(bucket, key)), answer)
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        let answer = self.send(Method::DELETE, &Gcs::object_path(bucket, key), &[], None)?;
        self.check(&format!("delete {}", self.url(bucket, key)), answer)
            .map(|_| ())
    }

    fn delete_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let answer = self.send(Method::DELETE, &Gcs::bucket_path(bucket), &[], None)?;
        self.check(&format!("delete bucket {}", self.url(bucket, "")), answer)
            .map(|_| ())
    }

    /// With a service-account key: a V4 signed URL (`GOOG4-RSA-SHA256`, valid for
    /// `expires`, at most 7 days), so the node gets no token at all. With an
    /// `authorized_user` file (which cannot sign): the object's `alt=media` URL
    /// with this client's short-lived OAuth token in an `Authorization` header.
    fn signed_get(
        &self,
        bucket: &str,
        key: &str,
        expires: Duration,
    ) -> Result<SignedGet, StorageError> {
        if let GoogleCredentials::ServiceAccount { account, .. } = &self.credentials {
            let now = time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!(
                    "[year][month][day]T[hour][minute][second]Z"
                ))
                .unwrap_or_default();
            let url = v4_signed_url(
                &self.endpoint,
                &account.client_email,
                &account.private_key,
                bucket,
                key,
                &now,
                expires.as_secs().clamp(1, 7 * 24 * 3600),
            )?;
            return Ok(SignedGet { url, header: None });
        }
        Ok(SignedGet {
            url: format!(
                "{}{}?alt=media",
                self.endpoint,
                Gcs::object_path(bucket, key)
            ),
            header: Some(("Authorization".into(), format!("Bearer {}", self.token()?))),
        })
    }

    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            items: Vec<Item>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            name: String,
            #[serde(default)]
            size: Option<String>,
            #[serde(default, rename = "md5Hash")]
            md5_hash: Option<String>,
        }
        let path = format!("{}/o", Gcs::bucket_path(bucket));
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("prefix", prefix)];
            if let Some(t) = &token {
                query.push(("pageToken", t));
            }
            let answer = self.send(Method::GET, &path, &query, None)?;
            let body = self.check(&format!("list {}", self.url(bucket, prefix)), answer)?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| StorageError::Request(format!("unreadable GCS listing: {e}")))?;
            objects.extend(page.items.into_iter().map(|item| ObjectInfo {
                key: item.name,
                size: item.size.and_then(|s| s.parse().ok()).unwrap_or(0),
                md5: item.md5_hash.as_deref().and_then(md5_hex),
            }));
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(objects);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_one_path_segment_and_errors_name_their_reason() {
        assert_eq!(
            Gcs::object_path("data", "train/a b.txt"),
            "/storage/v1/b/data/o/train%2Fa%20b.txt"
        );
        let body = br#"{"error":{"code":404,"message":"The specified bucket does not exist.","errors":[{"message":"x","domain":"global","reason":"notFound"}]}}"#;
        assert_eq!(
            error_reason(body),
            Some((
                "notFound".into(),
                "The specified bucket does not exist.".into()
            ))
        );
        assert_eq!(error_reason(b"<html>"), None);
        assert_eq!(
            md5_hex("XrY7u+Ae7tCTyyK7j1rNww==").as_deref(),
            Some("5eb63bbbe01eeed093cb22bb8f5acdc3"),
            "md5(\"hello world\")"
        );
        assert_eq!(md5_hex("not base64!"), None);
        let err = Gcs::new(
            r#"{"type":"authorized_user","refresh_token":"rt-SECRET"}"#,
            GcsOptions::default(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
}
