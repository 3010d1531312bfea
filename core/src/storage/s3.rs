//! A small S3 client (the REST API, SigV4-signed with the same code providers
//! use): buckets, object upload, listing, download and deletion. It talks to
//! `https://<bucket>.s3.<region>.amazonaws.com` or, with an endpoint override (an
//! emulator, a private gateway), path-style to `<endpoint>/<bucket>`. Cloudflare
//! R2 is this client with R2's account endpoint and region `auto`
//! ([`S3::for_store`]).

use std::time::Duration;

use aloft_provider_sdk::signing::{
    AwsCredentials, SigV4Request, sha256_hex, sigv4_authorization, uri_encode,
};
use reqwest::Method;
use reqwest::blocking::Client;

use super::{ObjectStore, StorageError, Store};

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
}
