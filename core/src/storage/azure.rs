//! A small Azure Blob Storage client: the Blob service REST API (containers get
//! properties, create and delete; blobs list, Put Blob, Get Blob and delete),
//! every request signed with the storage account's key ("Shared Key"
//! authorization, HMAC-SHA256 as Azure documents it), and read-only service SAS
//! URLs for the nodes (a blob's URL with a signature over its permissions,
//! expiry and resource, made with the same key), so that no node holds the key.
//!
//! The credentials are found where the `az` CLI finds them
//! ([`azure_credentials`]): `AZURE_STORAGE_CONNECTION_STRING`, else
//! `AZURE_STORAGE_ACCOUNT` and `AZURE_STORAGE_KEY`, else the `[storage]` section
//! of the CLI's `config` file (`$AZURE_CONFIG_DIR`, by default `~/.azure`). A
//! connection string's `BlobEndpoint` (an emulator such as Azurite:
//! `http://127.0.0.1:10000/devstoreaccount1`, path style) takes every request;
//! otherwise the account's own endpoint, `https://<account>.blob.core.windows.net`.
//! The key stays in memory: never in messages, logs or state.
//!
//! Buckets are containers: a task names them with a blob URL,
//! `https://<account>.blob.core.windows.net/<container>/<path>`, or `store: azure`
//! and a `name`; the account is the credentials'.

use std::time::Duration;

use aloft_provider_sdk::signing::{hmac_sha256, uri_encode};
use base64::Engine as _;
use reqwest::Method;
use reqwest::blocking::Client;

use super::{ObjectInfo, ObjectStore, SignedGet, StorageError, Store};

/// The host suffix of blob URLs (`<account>.blob.core.windows.net`).
pub const BLOB_HOST_SUFFIX: &str = ".blob.core.windows.net";

/// The Blob service version aloft speaks (`x-ms-version`, and a SAS's `sv`).
pub const API_VERSION: &str = "2022-11-02";

/// Where the credentials go (for the error that says they are missing).
pub const AZURE_CREDENTIALS_HELP: &str = "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and \
     AZURE_STORAGE_KEY (as the az CLI reads them), or `connection_string` (or `account` and `key`) \
     under [storage] in ~/.azure/config";

/// A storage account and its key. `Debug` never shows the key.
#[derive(Clone)]
pub struct AzureCredentials {
    /// The storage account's name.
    pub account: String,
    key: Vec<u8>,
    /// The Blob service endpoint (no trailing `/`): the connection string's
    /// `BlobEndpoint`, else the account's own.
    pub endpoint: String,
}

impl std::fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureCredentials")
            .field("account", &self.account)
            .field("key", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Azurite's (and the old storage emulator's) well-known development account.
const DEV_ACCOUNT: &str = "devstoreaccount1";
/// Its well-known key, published in Azure's documentation (not a secret).
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl AzureCredentials {
    /// `account` with its base64 `key`; `endpoint` overrides the account's own.
    /// A key that is not base64 is [`StorageError::Credentials`], never quoted.
    pub fn new(
        account: &str,
        key: &str,
        endpoint: Option<&str>,
    ) -> Result<AzureCredentials, StorageError> {
        let account = account.trim();
        if account.is_empty() {
            return Err(StorageError::Credentials(format!(
                "the Azure storage account name is empty; {AZURE_CREDENTIALS_HELP}"
            )));
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                StorageError::Credentials(format!(
                    "the key of Azure storage account `{account}` is not base64 (copy it from the \
                     portal's access keys, or `az storage account keys list`)"
                ))
            })?;
        Ok(AzureCredentials {
            account: account.to_string(),
            key,
            endpoint: endpoint
                .map(str::to_string)
                .unwrap_or_else(|| format!("https://{account}{BLOB_HOST_SUFFIX}"))
                .trim_end_matches('/')
                .to_string(),
        })
    }

    /// Credentials from a connection string
    /// (`DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=...`,
    /// `BlobEndpoint=...` taking precedence, or `UseDevelopmentStorage=true`).
    /// Errors name the missing part, never a value.
    pub fn from_connection_string(text: &str) -> Result<AzureCredentials, StorageError> {
        let mut parts = std::collections::BTreeMap::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((name, value)) = part.split_once('=') {
                parts.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let part = |name: &str| {
            parts
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        if part("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let endpoint = part("developmentstorageproxyuri")
                .map(|uri| format!("{}:10000/{DEV_ACCOUNT}", uri.trim_end_matches('/')))
                .unwrap_or_else(|| format!("http://127.0.0.1:10000/{DEV_ACCOUNT}"));
            return AzureCredentials::new(DEV_ACCOUNT, DEV_KEY, Some(&endpoint));
        }
        let missing = |what: &str| {
            StorageError::Credentials(format!(
                "the Azure storage connection string has no {what}; {AZURE_CREDENTIALS_HELP}"
            ))
        };
        let account = part("accountname").ok_or_else(|| missing("AccountName"))?;
        let key = part("accountkey").ok_or_else(|| missing("AccountKey"))?;
        let endpoint = part("blobendpoint").map(str::to_string).or_else(|| {
            let protocol = part("defaultendpointsprotocol").unwrap_or("https");
            part("endpointsuffix").map(|suffix| format!("{protocol}://{account}.blob.{suffix}"))
        });
        AzureCredentials::new(account, key, endpoint.as_deref())
    }
}

/// The storage credentials as the `az` CLI finds them (see the module docs):
/// `connection_string`, or `account` with `key`, from the environment (the
/// `AZURE_STORAGE_*` values given) and then from the CLI's `config` file.
/// Missing everywhere is [`StorageError::Credentials`] naming the places.
pub fn azure_credentials(
    env: impl Fn(&str) -> Option<String>,
) -> Result<AzureCredentials, StorageError> {
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if let Some(text) = env("AZURE_STORAGE_CONNECTION_STRING") {
        return AzureCredentials::from_connection_string(&text);
    }
    let config = env("AZURE_CONFIG_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".azure")))
        .map(|dir| dir.join("config"))
        .and_then(|path| ini::Ini::load_from_file(path).ok());
    let from_config = |key: &str| {
        config
            .as_ref()
            .and_then(|c| c.section(Some("storage")))
            .and_then(|s| s.get(key))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let account = env("AZURE_STORAGE_ACCOUNT").or_else(|| from_config("account"));
    let key = env("AZURE_STORAGE_KEY").or_else(|| from_config("key"));
    match (account, key) {
        (Some(account), Some(key)) => AzureCredentials::new(&account, &key, None),
        (account, None) => match from_config("connection_string") {
            Some(text) => AzureCredentials::from_connection_string(&text),
            None => Err(StorageError::Credentials(format!(
                "no Azure storage credentials{}: {AZURE_CREDENTIALS_HELP}",
                account
                    .map(|a| format!(" (account `{a}` has no key)"))
                    .unwrap_or_default()
            ))),
        },
        (None, Some(_)) => Err(StorageError::Credentials(format!(
            "no Azure storage account name (a key is set, but no AZURE_STORAGE_ACCOUNT): \
             {AZURE_CREDENTIALS_HELP}"
        ))),
    }
}

/// `https://<account>.blob.core.windows.net/<container>/<path>` as
/// `(account, container, path)` (the path without a trailing `/`); `None` for
/// a URL of another form.
pub fn parse_blob_url(url: &str) -> Option<(String, String, String)> {
    let rest = url.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let account = host.strip_suffix(BLOB_HOST_SUFFIX)?;
    if account.is_empty() || account.contains('.') {
        return None;
    }
    let (container, prefix) = path.split_once('/').unwrap_or((path, ""));
    Some((
        account.to_string(),
        container.to_string(),
        prefix.trim_end_matches('/').to_string(),
    ))
}

/// A blob name as it goes in a URL path: each `/`-separated part
/// percent-encoded.
fn encode_blob(blob: &str) -> String {
    blob.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// `time` as Azure's SAS times read (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn sas_time(time: time::OffsetDateTime) -> String {
    time.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// The query of a read-only service SAS for one blob (`sp=r`, `sr=b`), valid
/// until `expiry` (`YYYY-MM-DDTHH:MM:SSZ`), in service version `version`
/// (2020-12-06 or later: the string to sign with the encryption-scope line), as
/// Azure's "Create a service SAS" documents: HMAC-SHA256 with the account key
/// over the permissions, times, `/blob/<account>/<container>/<blob>`, protocol,
/// version and resource. The result is a bearer secret until it expires.
pub fn service_sas(
    credentials: &AzureCredentials,
    container: &str,
    blob: &str,
    expiry: &str,
    version: &str,
) -> String {
    sas(
        credentials,
        &format!("{container}/{blob}"),
        "b",
        "r",
        expiry,
        version,
    )
}

/// The query of a service SAS for a whole container (`sr=c`) with
/// `permissions` in Azure's order (`racwdl`: read, add, create, write, delete,
/// list), valid until `expiry`, in service version `version`: what rclone's
/// `azureblob` backend takes as `sas_url` (after the container's URL), so that a
/// node reaches one container without the account key. A bearer secret until
/// it expires.
pub fn container_sas(
    credentials: &AzureCredentials,
    container: &str,
    permissions: &str,
    expiry: &str,
    version: &str,
) -> String {
    sas(credentials, container, "c", permissions, expiry, version)
}

/// A service SAS of `/blob/<account>/<path>` (see [`service_sas`]).
fn sas(
    credentials: &AzureCredentials,
    path: &str,
    resource_type: &str,
    permissions: &str,
    expiry: &str,
    version: &str,
) -> String {
    let resource = format!("/blob/{}/{path}", credentials.account);
    // sp, st, se, resource, si, sip, spr, sv, sr, snapshot time, ses, rscc,
    // rscd, rsce, rscl, rsct.
    let string_to_sign = format!(
        "{permissions}\n\n{expiry}\n{resource}\n\n\n\n{version}\n{resource_type}\n\n\n\n\n\n\n"
    );
    let signature = base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(&credentials.key, string_to_sign.as_bytes()));
    format!(
        "sv={}&se={}&sr={resource_type}&sp={}&sig={}",
        uri_encode(version),
        uri_encode(expiry),
        uri_encode(permissions),
        uri_encode(&signature)
    )
}

/// An Azure Blob client for one storage account.
pub struct Azure {
    client: Client,
    credentials: AzureCredentials,
    page_size: Option<u32>,
}

impl Azure {
    /// A client for `credentials`' account at its endpoint.
    pub fn new(credentials: AzureCredentials) -> Result<Azure, StorageError> {
        let client = Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| StorageError::Request(e.to_string()))?;
        Ok(Azure {
            client,
            credentials,
            page_size: None,
        })
    }

    /// The same client, asking for at most `blobs` a listing page (Azure's
    /// default is 5,000): small pages make a test follow `NextMarker`.
    pub fn with_page_size(mut self, blobs: u32) -> Azure {
        self.page_size = Some(blobs);
        self
    }

    /// A container SAS URL ([`container_sas`]) with `permissions`, valid for
    /// `expires` from now: the container's URL at the endpoint and the SAS, as
    /// rclone's `azureblob` `sas_url` takes it. A bearer secret.
    pub fn container_sas_url(
        &self,
        container: &str,
        permissions: &str,
        expires: Duration,
    ) -> String {
        let expiry = time::OffsetDateTime::now_utc()
            + time::Duration::seconds(i64::try_from(expires.as_secs()).unwrap_or(3600));
        let sas = container_sas(
            &self.credentials,
            container,
            permissions,
            &sas_time(expiry),
            API_VERSION,
        );
        format!("{}?{sas}", self.locate(container, "").0)
    }

    /// The storage account.
    pub fn account(&self) -> &str {
        &self.credentials.account
    }

    /// The URL of `container`/`blob` at the endpoint (`blob` empty: the
    /// container), and its path (what Shared Key signs).
    fn locate(&self, container: &str, blob: &str) -> (String, String) {
        let endpoint = &self.credentials.endpoint;
        let base_path = endpoint
            .split("://")
            .nth(1)
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
            .unwrap_or_default();
        let path = if blob.is_empty() {
            format!("{base_path}/{}", uri_encode(container))
        } else {
            format!(
                "{base_path}/{}/{}",
                uri_encode(container),
                encode_blob(blob)
            )
        };
        let origin = endpoint.strip_suffix(&base_path).unwrap_or(endpoint);
        (format!("{origin}{path}"), path)
    }

    /// The Shared Key `Authorization` value of one request: the string to sign
    /// is the verb, the standard headers (only Content-Length and Content-Type
    /// are ever sent), the `x-ms-` headers sorted, and the canonicalized resource
    /// (`/<account><path>` and each query parameter on its own line).
    fn authorization(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, &str)],
        ms_headers: &[(&str, &str)],
        content_length: usize,
        content_type: &str,
    ) -> String {
        let length = if content_length == 0 {
            String::new()
        } else {
            content_length.to_string()
        };
        let mut headers: Vec<(String, &str)> = ms_headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
            .collect();
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let mut params: Vec<(String, &str)> = query
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), *v))
            .collect();
        params.sort();
        let mut resource = format!("/{}{path}", self.credentials.account);
        for (name, value) in params {
            resource.push_str(&format!("\n{name}:{value}"));
        }
        let string_to_sign = format!(
            "{method}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\n{canonical_headers}{resource}"
        );
        let signature = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
            &self.credentials.key,
            string_to_sign.as_bytes(),
        ));
        format!("SharedKey {}:{signature}", self.credentials.account)
    }

    /// Sends one request signed with the account key; the status, the
    /// `x-ms-error-code` header (if any) and the body.
    fn send(
        &self,
        method: Method,
        container: &str,
        blob: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Option<String>, Vec<u8>), StorageError> {
        let (url, path) = self.locate(container, blob);
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .unwrap_or_default();
        let mut ms_headers = vec![("x-ms-date", date.as_str()), ("x-ms-version", API_VERSION)];
        let content_type = if body.is_some() {
            ms_headers.push(("x-ms-blob-type", "BlockBlob"));
            "application/octet-stream"
        } else {
            ""
        };
        let length = body.as_ref().map_or(0, Vec::len);
        let authorization =
            self.authorization(&method, &path, query, &ms_headers, length, content_type);
        let query_text = query
            .iter()
            .map(|(n, v)| format!("{}={}", uri_encode(n), uri_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let url = if query_text.is_empty() {
            url
        } else {
            format!("{url}?{query_text}")
        };
        let mut request = self
            .client
            .request(method.clone(), &url)
            .header("authorization", authorization);
        for (name, value) in &ms_headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("content-type", content_type).body(body);
        } else if method == Method::PUT || method == Method::DELETE {
            request = request.header("content-length", "0");
        }
        let response = request
            .send()
            .map_err(|e| StorageError::Request(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let code = response
            .headers()
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response
            .bytes()
            .map_err(|e| StorageError::Request(e.without_url().to_string()))?;
        Ok((status, code, bytes.to_vec()))
    }

    fn check(
        &self,
        what: &str,
        (status, code, body): (u16, Option<String>, Vec<u8>),
    ) -> Result<Vec<u8>, StorageError> {
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let text = String::from_utf8_lossy(&body);
        let code = code
            .or_else(|| {
                roxmltree::Document::parse(&text).ok().and_then(|d| {
                    d.descendants()
                        .find(|n| n.has_tag_name("Code"))
                        .and_then(|n| n.text().map(str::to_string))
                })
            })
            .unwrap_or_else(|| format!("Http{status}"));
        Err(StorageError::Azure {
            what: what.to_string(),
            code,
            status,
        })
    }
}

/// One page of a List Blobs answer: the blobs and the next marker (empty or
/// absent at the end).
fn parse_listing(xml: &str) -> Result<(Vec<ObjectInfo>, Option<String>), StorageError> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| StorageError::Request(format!("unreadable Azure blob listing: {e}")))?;
    let child_text = |node: roxmltree::Node, name: &str| {
        node.children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::to_string)
    };
    let mut objects = Vec::new();
    for blob in doc.descendants().filter(|n| n.has_tag_name("Blob")) {
        let Some(key) = child_text(blob, "Name") else {
            continue;
        };
        let properties = blob.children().find(|n| n.has_tag_name("Properties"));
        let size = properties
            .and_then(|p| child_text(p, "Content-Length"))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let md5 = properties
            .and_then(|p| child_text(p, "Content-MD5"))
            .and_then(|m| {
                base64::engine::general_purpose::STANDARD
                    .decode(m.trim())
                    .ok()
            })
            .filter(|bytes| bytes.len() == 16)
            .map(hex::encode);
        objects.push(ObjectInfo { key, size, md5 });
    }
    let next = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("NextMarker"))
        .and_then(|n| n.text())
        .map(str::to_string)
        .filter(|m| !m.is_empty());
    Ok((objects, next))
}

impl ObjectStore for Azure {
    fn store(&self) -> Store {
        Store::Azure
    }

    /// Azure containers have no region of their own: the storage account's
    /// name stands there (in `storage ls` and in state), since a container
    /// is found by it.
    fn region(&self) -> &str {
        &self.credentials.account
    }

    fn url(&self, bucket: &str, key: &str) -> String {
        let account = &self.credentials.account;
        if key.is_empty() {
            format!("https://{account}{BLOB_HOST_SUFFIX}/{bucket}")
        } else {
            format!("https://{account}{BLOB_HOST_SUFFIX}/{bucket}/{key}")
        }
    }

    fn account(&self) -> Option<&str> {
        Some(&self.credentials.account)
    }

    fn bucket_exists(&self, bucket: &str) -> Result<bool, StorageError> {
        let answer = self.send(Method::HEAD, bucket, "", &[("restype", "container")], None)?;
        if answer.0 == 404 {
            return Ok(false);
        }
        self.check(&format!("get container {}", self.url(bucket, "")), answer)
            .map(|_| true)
    }

    fn create_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let answer = self.send(Method::PUT, bucket, "", &[("restype", "container")], None)?;
        self.check(
            &format!("create container {}", self.url(bucket, "")),
            answer,
        )
        .map(|_| ())
    }

    fn put(&self, bucket: &str, key: &str, data: Vec<u8>) -> Result<(), StorageError> {
        let answer = self.send(Method::PUT, bucket, key, &[], Some(data))?;
        self.check(&format!("upload {}", self.url(bucket, key)), answer)
            .map(|_| ())
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StorageError> {
        let answer = self.send(Method::GET, bucket, key, &[], None)?;
        self.check(&format!("download {}", self.url(bucket, key)), answer)
    }

    fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        let answer = self.send(Method::DELETE, bucket, key, &[], None)?;
        self.check(&format!("delete {}", self.url(bucket, key)), answer)
            .map(|_| ())
    }

    fn delete_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        let answer = self.send(
            Method::DELETE,
            bucket,
            "",
            &[("restype", "container")],
            None,
        )?;
        self.check(
            &format!("delete container {}", self.url(bucket, "")),
            answer,
        )
        .map(|_| ())
    }

    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let mut objects = Vec::new();
        let mut marker: Option<String> = None;
        let page_size = self.page_size.map(|n| n.to_string());
        loop {
            let mut query = vec![("restype", "container"), ("comp", "list")];
            if !prefix.is_empty() {
                query.push(("prefix", prefix));
            }
            if let Some(n) = &page_size {
                query.push(("maxresults", n));
            }
            if let Some(m) = &marker {
                query.push(("marker", m));
            }
            let answer = self.send(Method::GET, bucket, "", &query, None)?;
            let body = self.check(&format!("list {}", self.url(bucket, prefix)), answer)?;
            let (page, next) = parse_listing(&String::from_utf8_lossy(&body))?;
            objects.extend(page);
            marker = next;
            if marker.is_none() {
                return Ok(objects);
            }
        }
    }

    /// A read-only service SAS URL of the blob ([`service_sas`]), valid for
    /// `expires` from now: the node needs no key.
    fn signed_get(
        &self,
        bucket: &str,
        key: &str,
        expires: Duration,
    ) -> Result<SignedGet, StorageError> {
        let expiry = time::OffsetDateTime::now_utc()
            + time::Duration::seconds(i64::try_from(expires.as_secs()).unwrap_or(3600));
        let sas = service_sas(
            &self.credentials,
            bucket,
            key,
            &sas_time(expiry),
            API_VERSION,
        );
        Ok(SignedGet {
            url: format!("{}?{sas}", self.locate(bucket, key).0),
            header: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_connection_strings_and_blob_urls_split() {
        let c = AzureCredentials::from_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
             AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;",
        )
        .unwrap();
        assert_eq!(c.account, "devstoreaccount1");
        assert_eq!(c.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert!(!format!("{c:?}").contains("a2V5"));
        let c = AzureCredentials::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(c.endpoint, "https://acct.blob.core.windows.net");
        let c = AzureCredentials::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        let err = AzureCredentials::from_connection_string("AccountName=a;AccountKey=not base64!")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not base64") && !err.contains("not base64!"),
            "{err}"
        );
        let err = AzureCredentials::from_connection_string("AccountName=a")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no AccountKey"), "{err}");

        assert_eq!(
            parse_blob_url("https://acct.blob.core.windows.net/data/train/"),
            Some(("acct".into(), "data".into(), "train".into()))
        );
        assert_eq!(
            parse_blob_url("https://acct.blob.core.windows.net/data"),
            Some(("acct".into(), "data".into(), "".into()))
        );
        assert_eq!(parse_blob_url("https://example.com/data"), None);
        assert_eq!(parse_blob_url("http://acct.blob.core.windows.net/d"), None);

        let client = Azure::new(c).unwrap();
        assert_eq!(
            client.locate("data", "a b/c.txt"),
            (
                "http://127.0.0.1:10000/devstoreaccount1/data/a%20b/c.txt".to_string(),
                "/devstoreaccount1/data/a%20b/c.txt".to_string()
            )
        );
    }

    #[test]
    fn credentials_are_found_where_the_az_cli_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let config_dir = dir.path().to_string_lossy().into_owned();
        let env = |vars: &'static [(&'static str, &'static str)]| {
            let config_dir = config_dir.clone();
            move |name: &str| {
                if name == "AZURE_CONFIG_DIR" {
                    return Some(config_dir.clone());
                }
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        // Nothing anywhere: the error names every place.
        let err = azure_credentials(env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("AZURE_STORAGE_CONNECTION_STRING")
                && err.contains("AZURE_STORAGE_KEY")
                && err.contains("~/.azure/config"),
            "{err}"
        );
        // The account and key variables: the account's own endpoint.
        let c = azure_credentials(env(&[
            ("AZURE_STORAGE_ACCOUNT", "acct"),
            ("AZURE_STORAGE_KEY", "a2V5"),
        ]))
        .unwrap();
        assert_eq!(
            (c.account.as_str(), c.endpoint.as_str()),
            ("acct", "https://acct.blob.core.windows.net")
        );
        // A key without an account is named as such.
        let err = azure_credentials(env(&[("AZURE_STORAGE_KEY", "a2V5")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no Azure storage account name"), "{err}");
        // The CLI's config file: its [storage] connection string, and the
        // variables before it.
        std::fs::write(
            dir.path().join("config"),
            "[storage]\nconnection_string = AccountName=fromfile;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/fromfile\n",
        )
        .unwrap();
        let c = azure_credentials(env(&[])).unwrap();
        assert_eq!(
            (c.account.as_str(), c.endpoint.as_str()),
            ("fromfile", "http://127.0.0.1:1/fromfile")
        );
        let c = azure_credentials(env(&[(
            "AZURE_STORAGE_CONNECTION_STRING",
            "AccountName=fromenv;AccountKey=a2V5",
        )]))
        .unwrap();
        assert_eq!(c.account, "fromenv");
        std::fs::write(
            dir.path().join("config"),
            "[storage]\naccount = acct2\nkey = a2V5\n",
        )
        .unwrap();
        let c = azure_credentials(env(&[])).unwrap();
        assert_eq!(c.account, "acct2");
    }

    #[test]
    fn listings_give_sizes_md5s_and_the_next_marker() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://x/" ContainerName="data"><Prefix>train</Prefix><Blobs><Blob><Name>train/a.txt</Name><Properties><Content-Length>11</Content-Length><Content-MD5>XrY7u+Ae7tCTyyK7j1rNww==</Content-MD5></Properties></Blob><Blob><Name>train/b</Name><Properties><Content-Length>0</Content-Length><Content-MD5 /></Properties></Blob></Blobs><NextMarker>2!abc</NextMarker></EnumerationResults>"#;
        let (objects, next) = parse_listing(xml).unwrap();
        assert_eq!(
            objects,
            [
                ObjectInfo {
                    key: "train/a.txt".into(),
                    size: 11,
                    md5: Some("5eb63bbbe01eeed093cb22bb8f5acdc3".into()),
                },
                ObjectInfo {
                    key: "train/b".into(),
                    size: 0,
                    md5: None,
                }
            ]
        );
        assert_eq!(next.as_deref(), Some("2!abc"));
        let (_, next) =
            parse_listing("<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>")
                .unwrap();
        assert_eq!(next, None);
    }
}
