//! Calling OCI's REST APIs (Core Services `iaas.<region>.oraclecloud.com/20160918`
//! and Identity `identity.<region>.oraclecloud.com/20160918`): JSON over HTTPS,
//! each request signed with the user's API key ([`crate::sign`]), lists followed
//! through `opc-next-page`, and error answers (`{"code", "message"}`) turned into
//! typed errors ([`crate::classify`]).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use aloft_provider_sdk::http::{Request, Response};
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

use crate::classify;
use crate::sign::{ApiKey, http_date};

/// The API version every path starts with.
pub const VERSION: &str = "/20160918";

/// The credential holding the active profile of OCI's config file (JSON, lent by
/// the host: `user`, `tenancy`, `fingerprint`, `region`).
pub const PROFILE_NAME: &str = "OCI_PROFILE_JSON";

/// The credential holding the API signing key (PEM, lent by the host from the
/// profile's `key_file`).
pub const KEY_NAME: &str = "OCI_CLI_KEY_CONTENT";

/// The most pages a listing follows.
const MAX_PAGES: usize = 50;

/// Which of OCI's services a call goes to.
#[derive(Debug, Clone, Copy)]
pub enum Service {
    /// Core Services (compute, networking).
    Iaas,
    /// Identity and Access Management.
    Identity,
}

/// The signer and the profile's facts for one call of the provider.
pub struct Ctx {
    key: ApiKey,
    /// The user's OCID.
    pub user: String,
    /// The tenancy's OCID.
    pub tenancy: String,
    /// The profile's (home) region.
    pub home_region: String,
    /// Where aloft creates things: `providers.oci.compartment_id`, else the tenancy.
    pub compartment: String,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    user: String,
    #[serde(default)]
    tenancy: String,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    region: String,
}

fn no_config(what: &str) -> ProviderError {
    errors::auth(
        "NoCredentials",
        &format!(
            "no OCI credentials: {what} (aloft reads the DEFAULT profile of ~/.oci/config, \
             or OCI_CONFIG_FILE / OCI_CLI_PROFILE, as OCI's CLI does; `oci setup config` \
             writes it)"
        ),
    )
}

impl Ctx {
    /// The profile and key the host lends, with the compartment from `settings`.
    pub fn load(
        settings: &std::collections::BTreeMap<String, String>,
    ) -> Result<Ctx, ProviderError> {
        let profile =
            credentials::get(PROFILE_NAME).ok_or_else(|| no_config("no config file or profile"))?;
        let p: Profile =
            serde_json::from_str(&profile).map_err(|_| no_config("the profile is unreadable"))?;
        for (name, value) in [
            ("user", &p.user),
            ("tenancy", &p.tenancy),
            ("fingerprint", &p.fingerprint),
        ] {
            if value.is_empty() {
                return Err(no_config(&format!("the profile has no `{name}`")));
            }
        }
        let pem = credentials::get(KEY_NAME)
            .ok_or_else(|| no_config("the profile's key_file cannot be read"))?;
        let key = ApiKey::from_pem(&pem, &p.tenancy, &p.user, &p.fingerprint)
            .map_err(|e| errors::auth("BadKey", &e))?;
        let compartment = settings
            .get("compartment_id")
            .filter(|c| !c.is_empty())
            .cloned()
            .unwrap_or_else(|| p.tenancy.clone());
        Ok(Ctx {
            key,
            user: p.user,
            tenancy: p.tenancy,
            home_region: p.region,
            compartment,
        })
    }

    fn host(service: Service, region: &str) -> String {
        match service {
            Service::Iaas => format!("iaas.{region}.oraclecloud.com"),
            Service::Identity => format!("identity.{region}.oraclecloud.com"),
        }
    }

    /// Sends one signed request; `path` starts after the version (`/instances`),
    /// with its query already encoded.
    pub fn send(
        &self,
        service: Service,
        region: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, ProviderError> {
        if !is_name(region) {
            return Err(errors::unsupported(
                "UnknownRegion",
                "not an OCI region name (such as us-ashburn-1)",
            ));
        }
        let host = Self::host(service, region);
        let target = format!("{VERSION}{path}");
        let bytes = match body {
            Some(v) => Some(
                serde_json::to_vec(v)
                    .map_err(|e| errors::invalid("RequestEncoding", &e.to_string()))?,
            ),
            None if matches!(method, "POST" | "PUT") => Some(Vec::new()),
            None => None,
        };
        let date = http_date(std::time::SystemTime::now());
        let mut request = Request::new(method, &format!("https://{host}{target}"))
            .header("accept", "application/json");
        for (name, value) in self
            .key
            .sign(method, &host, &target, &date, bytes.as_deref())
        {
            request = request.header(&name, &value);
        }
        if let Some(bytes) = bytes {
            request = request.body(bytes);
        }
        let response = request.send()?;
        if !(200..300).contains(&response.status) {
            return Err(error_of(&response));
        }
        Ok(response)
    }

    /// `GET` decoded.
    pub fn get<T: DeserializeOwned>(
        &self,
        service: Service,
        region: &str,
        path: &str,
    ) -> Result<T, ProviderError> {
        decode(&self.send(service, region, "GET", path, None)?)
    }

    /// `POST` (or another method with a body) decoded.
    pub fn post<T: DeserializeOwned>(
        &self,
        region: &str,
        path: &str,
        body: &Value,
    ) -> Result<T, ProviderError> {
        decode(&self.send(Service::Iaas, region, "POST", path, Some(body))?)
    }

    /// `PUT` with a body, answer ignored.
    pub fn put(&self, region: &str, path: &str, body: &Value) -> Result<(), ProviderError> {
        self.send(Service::Iaas, region, "PUT", path, Some(body))
            .map(|_| ())
    }

    /// `DELETE`; a 404 is success (already gone).
    pub fn delete(&self, region: &str, path: &str) -> Result<(), ProviderError> {
        match self.send(Service::Iaas, region, "DELETE", path, None) {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every item of a list operation (`path` with its query), through
    /// `opc-next-page`.
    pub fn list<T: DeserializeOwned>(
        &self,
        service: Service,
        region: &str,
        path: &str,
    ) -> Result<Vec<T>, ProviderError> {
        let mut items = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let paged = match &page {
                Some(p) => format!("{path}&page={}", enc(p)),
                None => path.to_string(),
            };
            let response = self.send(service, region, "GET", &paged, None)?;
            let batch: Vec<T> = decode(&response)?;
            items.extend(batch);
            page = response
                .header("opc-next-page")
                .map(str::to_string)
                .filter(|p| !p.is_empty());
            if page.is_none() {
                break;
            }
        }
        Ok(items)
    }
}

fn decode<T: DeserializeOwned>(response: &Response) -> Result<T, ProviderError> {
    let body: &[u8] = if response.body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        &response.body
    };
    serde_json::from_slice(body).map_err(|e| {
        errors::invalid(
            "ResponseDecoding",
            &format!("OCI's answer did not decode: {e}"),
        )
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The typed error of a failed answer.
pub fn error_of(response: &Response) -> ProviderError {
    let status = response.status;
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(b) if !b.code.is_empty() || !b.message.is_empty() => (b.code, b.message),
        _ => (String::new(), String::new()),
    };
    let message = if message.is_empty() {
        format!("OCI answered HTTP {status}")
    } else {
        // OCI's message, shown to the user: keep it short.
        message.chars().take(500).collect()
    };
    let (kind, code) = classify::kind(status, &code, &message);
    ProviderError {
        kind,
        code,
        message,
        region: None,
        zone: None,
    }
}

/// Whether `error` says the resource is not there (404 `NotAuthorizedOrNotFound`).
pub fn is_not_found(error: &ProviderError) -> bool {
    error.code == "NotAuthorizedOrNotFound" || error.code == "NotFound"
}

/// Whether `name` is a plausible region or shape-free name (`us-ashburn-1`).
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `value` percent-encoded for a URL query (all but `A-Za-z0-9-_.~`).
pub fn enc(value: &str) -> String {
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
