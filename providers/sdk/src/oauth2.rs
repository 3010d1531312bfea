//! OAuth2 client credentials (RFC 6749 §4.4) and Google service-account JWTs
//! (RFC 7523 assertions signed RS256).

use serde::Deserialize;

use crate::signing::uri_encode;

/// A client-credentials token request: where to POST, its headers and form body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// Token endpoint.
    pub url: String,
    /// Headers (content type; basic auth when the client authenticates that way).
    pub headers: Vec<(String, String)>,
    /// `application/x-www-form-urlencoded` body.
    pub body: String,
}

/// Builds a client-credentials request. The client id and secret go in the body
/// (`client_secret_post`), as most clouds accept.
pub fn client_credentials_request(
    token_url: &str,
    client_id: &str,
    client_secret: &str,
    scopes: &[&str],
) -> TokenRequest {
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", client_id.to_string()),
        ("client_secret", client_secret.to_string()),
    ];
    if !scopes.is_empty() {
        form.push(("scope", scopes.join(" ")));
    }
    TokenRequest {
        url: token_url.to_string(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: form_encode(&form),
    }
}

/// `k=v&k=v` with both sides percent-encoded.
pub fn form_encode(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A token endpoint's answer.
#[derive(Clone, Deserialize, PartialEq, Eq)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// Usually `Bearer`.
    #[serde(default)]
    pub token_type: String,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A provider's access token, kept until `margin` seconds before it expires, so
/// that calls share one token; minted again when there is none, after
/// [`TokenCache::forget`] (the API refused it), or near its end.
pub struct TokenCache {
    slot: std::sync::Mutex<Option<(String, u64)>>,
    margin: u64,
}

impl TokenCache {
    /// An empty cache whose tokens are dropped `margin` seconds before they end.
    pub const fn new(margin: u64) -> Self {
        TokenCache {
            slot: std::sync::Mutex::new(None),
            margin,
        }
    }

    /// Forgets the cached token.
    pub fn forget(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = None;
        }
    }

    /// The cached token, or a new one: `request(now)` says what to POST; a
    /// refusal (not 2xx) becomes `refused(status, body)`, and an answer that is no
    /// token response an `auth` error saying `unreadable`. A lifetime the answer
    /// leaves out counts as an hour. The request goes through the host's HTTP
    /// import ([`crate::http`]).
    pub fn get(
        &self,
        request: impl FnOnce(u64) -> Result<TokenRequest, crate::types::ProviderError>,
        refused: impl FnOnce(u16, &[u8]) -> crate::types::ProviderError,
        unreadable: &str,
    ) -> Result<String, crate::types::ProviderError> {
        self.get_via(
            request,
            |req| {
                let mut http = crate::http::Request::post(&req.url);
                for (name, value) in &req.headers {
                    http = http.header(name, value);
                }
                let response = http.body(req.body.into_bytes()).send()?;
                Ok((response.status, response.body))
            },
            refused,
            || crate::errors::auth("BadTokenResponse", unreadable),
        )
    }

    /// [`TokenCache::get`] with the caller's transport and error type: `send`
    /// POSTs the request and answers the status and body (aloft's host uses it
    /// with its own HTTP client, outside any sandbox).
    pub fn get_via<E>(
        &self,
        request: impl FnOnce(u64) -> Result<TokenRequest, E>,
        send: impl FnOnce(TokenRequest) -> Result<(u16, Vec<u8>), E>,
        refused: impl FnOnce(u16, &[u8]) -> E,
        unreadable: impl FnOnce() -> E,
    ) -> Result<String, E> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if let Ok(slot) = self.slot.lock()
            && let Some((token, until)) = slot.as_ref()
            && *until > now
        {
            return Ok(token.clone());
        }
        let (status, body) = send(request(now)?)?;
        if !(200..300).contains(&status) {
            return Err(refused(status, &body));
        }
        let answer = parse_token_response(&body).map_err(|_| unreadable())?;
        let lifetime = answer.expires_in.unwrap_or(3600);
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some((
                answer.access_token.clone(),
                now + lifetime.saturating_sub(self.margin),
            ));
        }
        Ok(answer.access_token)
    }
}

/// Parses a token response body; an OAuth2 error body becomes its `error` code.
pub fn parse_token_response(body: &[u8]) -> Result<TokenResponse, String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    if let Ok(token) = serde_json::from_slice::<TokenResponse>(body) {
        return Ok(token);
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => Err(match e.error_description {
            Some(d) => format!("{}: {d}", e.error),
            None => e.error,
        }),
        Err(e) => Err(format!("unreadable token response: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_credentials_request_is_form_encoded() {
        let req = client_credentials_request(
            "https://auth.example/token",
            "my id",
            "s3cr&t=1",
            &["read", "write"],
        );
        assert_eq!(
            req.body,
            "grant_type=client_credentials&client_id=my%20id&client_secret=s3cr%26t%3D1&scope=read%20write"
        );
        assert_eq!(req.headers[0].1, "application/x-www-form-urlencoded");
    }

    #[test]
    fn token_responses_and_errors_parse() {
        let ok = parse_token_response(
            br#"{"access_token":"tok","token_type":"Bearer","expires_in":3600}"#,
        )
        .unwrap();
        assert_eq!(ok.access_token, "tok");
        assert_eq!(ok.expires_in, Some(3600));
        assert!(!format!("{ok:?}").contains("tok\""));
        let err =
            parse_token_response(br#"{"error":"invalid_client","error_description":"bad secret"}"#)
                .unwrap_err();
        assert_eq!(err, "invalid_client: bad secret");
    }
}

/// A Google-style service account. `Debug` never shows the key.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    /// `client_email` of the key file.
    pub client_email: String,
    /// `private_key` of the key file (PKCS#8 PEM).
    pub private_key: String,
    /// `token_uri` of the key file.
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signed (RS256) JWT assertion for `scope`, valid for an hour from `now` (unix
/// seconds; the guest reads it from WASI clocks).
pub fn service_account_jwt(sa: &ServiceAccount, scope: &str, now: u64) -> Result<String, String> {
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};

    let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": sa.client_email,
        "scope": scope,
        "aud": sa.token_uri,
        "iat": now,
        "exp": now + 3600,
    });
    let claims = b64url(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{claims}");
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&sa.private_key)
        .map_err(|_| "the service account's private_key is not a PKCS#8 RSA key".to_string())?;
    let signature = SigningKey::<sha2::Sha256>::new(key).sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", b64url(&signature.to_bytes())))
}

/// The token request that trades a JWT assertion for an access token (RFC 7523).
pub fn jwt_bearer_request(token_uri: &str, assertion: &str) -> TokenRequest {
    TokenRequest {
        url: token_uri.to_string(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: form_encode(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
            ),
            ("assertion", assertion.to_string()),
        ]),
    }
}

#[cfg(test)]
mod jwt_tests {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::Verifier;

    use super::*;

    /// A throwaway 1024-bit key made with `openssl genpkey` for this test only.
    const KEY: &str = include_str!("test_key.pem");

    #[test]
    fn the_jwt_verifies_with_the_public_key_and_carries_the_claims() {
        use base64::Engine;
        let sa = ServiceAccount {
            client_email: "bot@project.iam.gserviceaccount.com".into(),
            private_key: KEY.into(),
            token_uri: "https://oauth2.googleapis.com/token".into(),
        };
        let jwt = service_account_jwt(&sa, "https://www.googleapis.com/auth/cloud-platform", 1_000)
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
        assert_eq!(claims["iss"], "bot@project.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(claims["exp"], 4_600);
        let public = rsa::RsaPrivateKey::from_pkcs8_pem(KEY)
            .unwrap()
            .to_public_key();
        let verifier = VerifyingKey::<sha2::Sha256>::new(public);
        let signature = Signature::try_from(decode(parts[2]).as_slice()).unwrap();
        verifier
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies");
        // A tampered payload does not.
        assert!(verifier.verify(b"x.y", &signature).is_err());
        assert!(!format!("{sa:?}").contains("PRIVATE KEY"));
        let req = jwt_bearer_request(&sa.token_uri, &jwt);
        assert!(req.body.starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
        ));
    }
}
