//! A small S3 client (the REST API, SigV4-signed with the same code providers
//! use): buckets, object upload, listing, download and deletion. It talks to
//! `https://<bucket>.s3.<region>.amazonaws.com` or, with an endpoint override (an
//! emulator, a private gateway), path-style to `<endpoint>/<bucket>`. Cloudflare
//! R2 is this client with R2's account endpoint and region `auto`
//! ([`S3::for_store`]).

use std::time::Duration;

use aloft_provider_sdk::signing::{
    AwsCredentials, SigV4Request, hmac_sha256, sha256_hex, sigv4_authorization, uri_encode,
};
use reqwest::Method;
use reqwest::blocking::Client;

use super::{ObjectStore, SignedGet, StorageError, Store};

/// An S3 client for one region (of S3, or of another store speaking its API).
pub struct S3 {
    client: Client,
    store: Store,
    region: String,
    endpoint: Option<String>,
    credentials: AwsCredentials,
}

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectInfo {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The object's MD5 (lower-case hex) where the store states a plain one: an
    /// S3 ETag without a `-` (not a multipart upload), GCS's `md5Hash`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

/// The MD5 an S3 ETag states, if it is a plain one (32 hex digits, quoted or
/// not); a multipart ETag (`"...-3"`) states none.
pub fn etag_md5(etag: &str) -> Option<String> {
    let etag = etag.trim().trim_matches('"');
    (etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| etag.to_ascii_lowercase())
}

/// A SigV4 query-string pre-signed GET of `url_base` (scheme, host and the
/// encoded `path`), valid for `expires` seconds from `amz_date`
/// (`YYYYMMDDTHHMMSSZ`): AWS's "authenticating requests: using query
/// parameters", with only `host` signed and an unsigned payload. The result is a
/// bearer secret for its lifetime.
pub fn presign_get(
    url_base: &str,
    host: &str,
    path: &str,
    credentials: &AwsCredentials,
    region: &str,
    amz_date: &str,
    expires: u64,
) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/s3/aws4_request");
    let mut query: Vec<(String, String)> = vec![
        ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
        (
            "X-Amz-Credential".into(),
            format!("{}/{scope}", credentials.access_key_id),
        ),
        ("X-Amz-Date".into(), amz_date.into()),
        ("X-Amz-Expires".into(), expires.to_string()),
        ("X-Amz-SignedHeaders".into(), "host".into()),
    ];
    if let Some(token) = &credentials.session_token {
        query.push(("X-Amz-Security-Token".into(), token.clone()));
    }
    let mut encoded: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    encoded.sort();
    let canonical_query = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_request =
        format!("GET\n{path}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, b"s3");
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()));
    format!("{url_base}?{canonical_query}&X-Amz-Signature={signature}")
}

fn encode_key(key: &str) -> String {
    key.split('/').map(uri_encode).collect::<Vec<_>>().join("/")
}

impl S3 {
    /// A client; `endpoint` overrides AWS's (`http://127.0.0.1:5000`).
    pub fn new(
        region: &str,
        endpoint: Option<String>,
        credentials: AwsCredentials,
    ) -> Result<S3, StorageError> {
        S3::for_store(Store::S3, region, endpoint, credentials)
    }

    /// A client for `store` (R2: its account endpoint, region `auto`); the store
    /// only changes how URLs read in messages, and that `auto` is no location.
    pub fn for_store(
        store: Store,
        region: &str,
        endpoint: Option<String>,
        credentials: AwsCredentials,
    ) -> Result<S3, StorageError> {
        let client = Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| StorageError::Request(e.to_string()))?;
        Ok(S3 {
            client,
            store,
            region: region.to_string(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
            credentials,
        })
    }

    /// The region this client talks to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The store this client talks to.
    pub fn store(&self) -> Store {
        self.store
    }

    /// `s3://bucket/key` (or `r2://...`), for messages.
    pub fn url(&self, bucket: &str, key: &str) -> String {
        let scheme = self.store.scheme();
        if key.is_empty() {
            format!("{scheme}://{bucket}")
        } else {
            format!("{scheme}://{bucket}/{key}")
        }
    }

    /// (URL, host, canonical path) of `bucket`/`key` (`bucket` empty: the service).
    fn locate(&self, bucket: &str, key: &str) -> (String, String, String) {
        let key = encode_key(key);
        match &self.endpoint {
            Some(endpoint) => {
                let host = endpoint.split("://").nth(1).unwrap_or(endpoint).to_string();
                let path = match (bucket.is_empty(), key.is_empty()) {
                    (true, _) => "/".to_string(),
                    (false, true) => format!("/{bucket}"),
                    (false, false) => format!("/{bucket}/{key}"),
                };
                (format!("{endpoint}{path}"), host, path)
            }
            None => {
                let host = if bucket.is_empty() {
                    format!("s3.{}.amazonaws.com", self.region)
                } else {
                    format!("{bucket}.s3.{}.amazonaws.com", self.region)
                };
                let path = format!("/{key}");
                (format!("https://{host}{path}"), host, path)
            }
        }
    }

    /// A pre-signed GET of `bucket`/`key`, valid for `expires` (see
    /// [`presign_get`]).
    pub fn presigned_get(&self, bucket: &str, key: &str, expires: Duration) -> SignedGet {
        let (url, host, path) = self.locate(bucket, key);
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_default();
        // S3 takes at most seven days.
        let seconds = expires.as_secs().clamp(1, 7 * 24 * 3600);
        SignedGet {
            url: presign_get(
                &url,
                &host,
                &path,
                &self.credentials,
                &self.region,
                &date,
                seconds,
            ),
            header: None,
        }
    }

    fn send(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), StorageError> {
        let (url, host, path) = self.locate(bucket, key);
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_default();
        let payload_hash = sha256_hex(&body);
        let mut headers: Vec<(&str, &str)> = vec![
            ("host", &host),
            ("x-amz-content-sha256", &payload_hash),
            ("x-amz-date", &date),
        ];
        if let Some(token) = &self.credentials.session_token {
            headers.push(("x-amz-security-token", token));
        }
        let authorization = sigv4_authorization(
            &SigV4Request {
                method: method.as_str(),
                path: &path,
                query,
                headers: &headers,
                payload: &body,
            },
            &self.credentials,
            &self.region,
            "s3",
            &date,
        );
        let mut request = self.client.request(method, &url).query(query);
        for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
            request = request.header(*name, *value);
        }
        let response = request
            .header("authorization", authorization)
            .body(body)
            .send()
            .map_err(|e| StorageError::Request(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .map_err(|e| StorageError::Request(e.without_url().to_string()))?;
        Ok((status, bytes.to_vec()))
    }

    fn check(&self, what: &str, (status, body): (u16, Vec<u8>)) -> Result<Vec<u8>, StorageError> {
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let text = String::from_utf8_lossy(&body);
        let code = roxmltree::Document::parse(&text)
            .ok()
            .and_then(|d| {
                d.descendants()
                    .find(|n| n.has_tag_name("Code"))
                    .and_then(|n| n.text().map(str::to_string))
            })
            .unwrap_or_else(|| format!("Http{status}"));
        Err(StorageError::S3 {
            what: what.to_string(),
            code,
            status,
        })
    }

    /// Whether `bucket` exists (and is reachable with these credentials).
    pub fn bucket_exists(&self, bucket: &str) -> Result<bool, StorageError> {
        let (status, body) = self.send(Method::HEAD, bucket, "", &[], Vec::new())?;
        match status {
            404 => Ok(false),
            _ => self
                .check(&format!("HEAD {bucket}"), (status, body))
                .map(|_| true),
        }
    }

    /// Creates `bucket` in this client's region.
    pub fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        // us-east-1 is S3's default location; R2 takes `auto` as SkyPilot sends it.
        let body = if self.region == "us-east-1" {
            Vec::new()
        } else {
            format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.region
            )
            .into_bytes()
        };
        let answer = self.send(Method::PUT, bucket, "", &[], body)?;
        self.check(&format!("create bucket {bucket}"), answer)
            .map(|_| ())
    }

    /// Uploads one object.
    pub fn put(&self, bucket: &str, key: &str, data: Vec<u8>) -> Result<(), StorageError> {
        let answer = self.send(Method::PUT, bucket, key, &[], data)?;
        self.check(&format!("upload {}", self.url(bucket, key)), answer)
            .map(|_| ())
    }

    /// Downloads one object.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StorageError> {
        let answer = self.send(Method::GET, bucket, key, &[], Vec::new())?;
        self.check(&format!("download {}", self.url(bucket, key)), answer)
    }

    /// Deletes one object.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        let answer = self.send(Method::DELETE, bucket, key, &[], Vec::new())?;
        self.check(&format!("delete {}", self.url(bucket, key)), answer)
            .map(|_| ())
    }

    /// Deletes an (empty) bucket.
    pub fn delete_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let answer = self.send(Method::DELETE, bucket, "", &[], Vec::new())?;
        self.check(&format!("delete bucket {bucket}"), answer)
            .map(|_| ())
    }

    /// Every object under `prefix` (all pages).
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(t) = &token {
                query.push(("continuation-token", t));
            }
            let answer = self.send(Method::GET, bucket, "", &query, Vec::new())?;
            let body = self.check(&format!("list {}", self.url(bucket, prefix)), answer)?;
            let text = String::from_utf8_lossy(&body);
            let doc = roxmltree::Document::parse(&text)
                .map_err(|e| StorageError::Request(format!("unreadable listing: {e}")))?;
            let child = |n: roxmltree::Node<'_, '_>, name: &str| {
                n.children()
                    .find(|c| c.has_tag_name(name))
                    .and_then(|c| c.text())
                    .map(str::to_string)
            };
            for item in doc.descendants().filter(|n| n.has_tag_name("Contents")) {
                if let Some(key) = child(item, "Key") {
                    objects.push(ObjectInfo {
                        key,
                        size: child(item, "Size")
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0),
                        md5: child(item, "ETag").and_then(|e| etag_md5(&e)),
                    });
                }
            }
            token = child(doc.root_element(), "NextContinuationToken");
            if token.is_none() {
                return Ok(objects);
            }
        }
    }
}

impl ObjectStore for S3 {
    fn store(&self) -> Store {
        self.store
    }

    fn region(&self) -> &str {
        &self.region
    }

    fn url(&self, bucket: &str, key: &str) -> String {
        S3::url(self, bucket, key)
    }

    fn bucket_exists(&self, bucket: &str) -> Result<bool, StorageError> {
        S3::bucket_exists(self, bucket)
    }

    fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        S3::create_bucket(self, bucket)
    }

    fn put(&self, bucket: &str, key: &str, data: Vec<u8>) -> Result<(), StorageError> {
        S3::put(self, bucket, key, data)
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StorageError> {
        S3::get(self, bucket, key)
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        S3::delete(self, bucket, key)
    }

    fn delete_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        S3::delete_bucket(self, bucket)
    }

    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        S3::list(self, bucket, prefix)
    }

    fn signed_get(
        &self,
        bucket: &str,
        key: &str,
        expires: Duration,
    ) -> Result<SignedGet, StorageError> {
        Ok(self.presigned_get(bucket, key, expires))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presigned_get_matches_aws_documented_example() {
        // "Authenticating Requests: Using Query Parameters (AWS Signature Version
        // 4)", the example GET of examplebucket/test.txt.
        let credentials = AwsCredentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let url = presign_get(
            "https://examplebucket.s3.amazonaws.com/test.txt",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            &credentials,
            "us-east-1",
            "20130524T000000Z",
            86400,
        );
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn only_plain_etags_state_an_md5() {
        assert_eq!(
            etag_md5("\"9B2CF535F27731C974343645A3985328\""),
            Some("9b2cf535f27731c974343645a3985328".into())
        );
        assert_eq!(etag_md5("\"9b2cf535f27731c974343645a3985328-3\""), None);
        assert_eq!(etag_md5(""), None);
    }
}
