//! Registry logins a cloud mints, for a task whose container image
//! (`image_id: docker:IMAGE`) is in that cloud's registry and that names no login
//! of its own (`SKYPILOT_DOCKER_USERNAME` / `_PASSWORD` / `_SERVER`):
//! - Amazon ECR (`<account>.dkr.ecr.<region>.amazonaws.com/...`): ECR's
//!   `GetAuthorizationToken` with the user's AWS credentials (SigV4, service `ecr`,
//!   at `providers.aws.endpoint` when set), whose token decodes to `AWS:<password>`
//!   (valid 12 hours);
//! - Google Artifact Registry (`<location>-docker.pkg.dev/...`) and Container
//!   Registry (`gcr.io`, `<region>.gcr.io`): an OAuth access token from the user's
//!   Google credentials (the ones GCS uses), user name `oauth2accesstoken`.
//!
//! The password goes to the nodes as the task's own would: in the launch script's
//! environment, piped into `docker login --password-stdin`; never on a command
//! line, in a log, an error or state.

use aloft_provider_sdk::signing::{SigV4Request, sha256_hex, sigv4_authorization};
use base64::Engine as _;

use super::{Client, ClientError, ClientResult};

/// A registry whose logins a cloud mints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloudRegistry {
    /// Amazon ECR in `region`, at `host`.
    Ecr { host: String, region: String },
    /// Google's Artifact Registry or Container Registry, at `host`.
    Google { host: String },
}

/// The registry host of `image` (`host[:port]/path[:tag]`); none for Docker Hub
/// images, whose first part is no host.
fn registry_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// The cloud registry `image` is in, if any.
pub(crate) fn cloud_registry(image: &str) -> Option<CloudRegistry> {
    let host = registry_host(image)?.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    if let [account, "dkr", "ecr", region, "amazonaws", "com"] = labels.as_slice()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !region.is_empty()
    {
        return Some(CloudRegistry::Ecr {
            region: region.to_string(),
            host,
        });
    }
    let google = host.ends_with("-docker.pkg.dev") && !host.contains('/')
        || host == "gcr.io"
        || host.ends_with(".gcr.io") && labels.len() == 3;
    google.then_some(CloudRegistry::Google { host })
}

/// The login `GetAuthorizationToken` answered: (user, password, server), from
/// its JSON body.
fn ecr_login(body: &[u8]) -> Result<(String, String, String), String> {
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "an answer that is not JSON".to_string())?;
    let data = answer
        .pointer("/authorizationData/0")
        .ok_or("no authorizationData in the answer")?;
    let token = data["authorizationToken"]
        .as_str()
        .ok_or("no authorizationToken in the answer")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| "an authorizationToken that is not base64".to_string())?;
    let decoded = String::from_utf8(decoded).map_err(|_| "a token that is not text")?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or("a token that is not USER:PASSWORD")?;
    let server = data["proxyEndpoint"]
        .as_str()
        .ok_or("no proxyEndpoint in the answer")?;
    Ok((user.to_string(), password.to_string(), server.to_string()))
}

/// A registry login a cloud minted (see [`Client::registry_login`]).
#[derive(Clone)]
pub struct RegistryLogin {
    /// The user (`AWS` for ECR, `oauth2accesstoken` for Google's registries).
    pub user: String,
    /// The password: a token, a secret (never shown by `Debug`).
    pub password: String,
    /// The registry's host, as `docker login` takes it.
    pub server: String,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryLogin")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .finish()
    }
}

impl Client {
    /// The login aloft mints for pulling container image `image` when it is in a
    /// cloud's registry (Amazon ECR; Google's Artifact Registry or Container
    /// Registry), from the user's credentials for that cloud; `None` for any other
    /// registry. A launch uses it when the task names no login of its own.
    pub fn registry_login(&self, image: &str) -> ClientResult<Option<RegistryLogin>> {
        Ok(Some(match cloud_registry(image) {
            None => return Ok(None),
            Some(CloudRegistry::Ecr { region, host }) => {
                let (user, password, _) = self.ecr_token(&region)?;
                RegistryLogin {
                    user,
                    password,
                    server: host,
                }
            }
            Some(CloudRegistry::Google { host }) => {
                let password = self.gcs()?.access_token().map_err(|e| {
                    ClientError::Other(format!("a token for the registry {host}: {e}"))
                })?;
                RegistryLogin {
                    user: "oauth2accesstoken".into(),
                    password,
                    server: host,
                }
            }
        }))
    }

    /// The `SKYPILOT_DOCKER_*` variables of the login minted for `image` (see
    /// [`Client::registry_login`]), when `named` (the task's own login) is empty.
    pub(crate) fn minted_registry_login(
        &self,
        image: &str,
        named: &[(String, String)],
    ) -> ClientResult<Vec<(String, String)>> {
        if !named.is_empty() {
            return Ok(Vec::new());
        }
        Ok(match self.registry_login(image)? {
            None => Vec::new(),
            Some(login) => vec![
                ("SKYPILOT_DOCKER_USERNAME".into(), login.user),
                ("SKYPILOT_DOCKER_PASSWORD".into(), login.password),
                ("SKYPILOT_DOCKER_SERVER".into(), login.server),
            ],
        })
    }

    /// ECR's `GetAuthorizationToken` in `region`: (user, password, proxy endpoint).
    fn ecr_token(&self, region: &str) -> ClientResult<(String, String, String)> {
        let credentials = super::storage::user_aws_credentials().map_err(|_| {
            ClientError::Other(
                "the image is in Amazon ECR, and there are no AWS credentials to log in with: \
                 set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile in \
                 ~/.aws/credentials), or give the login as SKYPILOT_DOCKER_USERNAME, \
                 SKYPILOT_DOCKER_PASSWORD and SKYPILOT_DOCKER_SERVER in the task's secrets"
                    .into(),
            )
        })?;
        let host = format!("api.ecr.{region}.amazonaws.com");
        let url = match self.config.provider_setting("aws", "endpoint") {
            Some(endpoint) => format!("{}/", endpoint.trim_end_matches('/')),
            None => format!("https://{host}/"),
        };
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_default();
        let body = b"{}".to_vec();
        let target = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
        let content_type = "application/x-amz-json-1.1";
        let payload_hash = sha256_hex(&body);
        let mut headers: Vec<(&str, &str)> = vec![
            ("content-type", content_type),
            ("host", &host),
            ("x-amz-content-sha256", &payload_hash),
            ("x-amz-date", &date),
            ("x-amz-target", target),
        ];
        if let Some(token) = &credentials.session_token {
            headers.push(("x-amz-security-token", token));
        }
        let authorization = sigv4_authorization(
            &SigV4Request {
                method: "POST",
                path: "/",
                query: &[],
                headers: &headers,
                payload: &body,
            },
            &credentials,
            region,
            "ecr",
            &date,
        );
        let failed = |why: String| {
            ClientError::Other(format!(
                "Amazon ECR's GetAuthorizationToken in {region}: {why}"
            ))
        };
        let http = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let mut request = http.post(&url);
        for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
            request = request.header(*name, *value);
        }
        if url.starts_with("http://") {
            // An emulator at a user-set endpoint: the signature is for ECR's host.
            request = request.header("host", host.as_str());
        }
        let response = request
            .header("authorization", authorization)
            .body(body)
            .send()
            .map_err(|e| failed(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let answer = response
            .bytes()
            .map_err(|e| failed(e.without_url().to_string()))?;
        if !(200..300).contains(&status) {
            let code = serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v["__type"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(failed(code));
        }
        ecr_login(&answer).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_in_ecr_and_google_registries_are_told_apart_from_the_rest() {
        assert_eq!(
            cloud_registry("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/train:v3"),
            Some(CloudRegistry::Ecr {
                host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
                region: "eu-west-1".into()
            })
        );
        assert_eq!(
            cloud_registry("us-central1-docker.pkg.dev/proj/repo/img:1"),
            Some(CloudRegistry::Google {
                host: "us-central1-docker.pkg.dev".into()
            })
        );
        assert_eq!(
            cloud_registry("eu.gcr.io/proj/img"),
            Some(CloudRegistry::Google {
                host: "eu.gcr.io".into()
            })
        );
        for other in [
            "ubuntu:22.04",
            "vllm/vllm-openai:latest",
            "127.0.0.1:5000/img",
            "ghcr.io/org/img",
            "12345.dkr.ecr.eu-west-1.amazonaws.com/short-account",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example/img",
            "evil-docker.pkg.dev.example/img",
        ] {
            assert_eq!(cloud_registry(other), None, "{other}");
        }
    }

    #[test]
    fn an_ecr_answer_becomes_a_login_and_a_bad_one_an_error_without_the_token() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:s3cr3t-pass");
        let body = format!(
            r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":1.7e9,"proxyEndpoint":"https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}}]}}"#
        );
        assert_eq!(
            ecr_login(body.as_bytes()).unwrap(),
            (
                "AWS".to_string(),
                "s3cr3t-pass".to_string(),
                "https://123456789012.dkr.ecr.us-east-1.amazonaws.com".to_string()
            )
        );
        let bad = format!(r#"{{"authorizationData":[{{"authorizationToken":"{token}!"}}]}}"#);
        let err = ecr_login(bad.as_bytes()).unwrap_err();
        assert!(!err.contains(&token), "{err}");
        assert!(ecr_login(b"{}").is_err());
    }
}
