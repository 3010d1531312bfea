//! Nebius IAM tokens. Either `NEBIUS_IAM_TOKEN` (a token, as the `nebius` CLI
//! takes it), or a service account's credentials file — the JSON the `nebius`
//! CLI and SDK read (`nebius iam auth-public-key generate` writes it; the host
//! lends `~/.nebius/credentials.json` as `NEBIUS_CREDENTIALS_JSON`):
//! `{"subject-credentials": {"alg": "RS256", "private-key", "kid", "iss", "sub"}}`.
//! From the file, a JWT signed with the key (`kid` in its header, `iss` = `sub` =
//! the service account, audience Nebius's token service, valid one minute, as the
//! SDK makes it) is exchanged at `TokenExchangeService/Exchange` for an access
//! token, kept until shortly before it expires.

use std::sync::Mutex;

use aloft_provider_sdk::credentials;
use aloft_provider_sdk::errors;
use aloft_provider_sdk::types::ProviderError;
use serde::Deserialize;

use crate::grpc;
use crate::proto::{CreateTokenResponse, ExchangeTokenRequest};

/// The credential carrying an IAM token.
pub const TOKEN_NAME: &str = "NEBIUS_IAM_TOKEN";
/// The credential carrying the service account's credentials file.
pub const CREDENTIALS_NAME: &str = "NEBIUS_CREDENTIALS_JSON";
/// The token service's host.
pub const TOKENS_HOST: &str = "tokens.iam.api.nebius.cloud";
/// The audience of the service account's JWT (the SDK's).
const AUDIENCE: &str = "token-service.iam.new.nebiuscloud.net";

/// `subject-credentials` of the credentials file. `Debug` shows no key.
#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    alg: String,
    #[serde(rename = "private-key")]
    private_key: String,
    kid: String,
    iss: String,
    sub: String,
}

#[derive(Deserialize)]
struct CredentialsFile {
    #[serde(rename = "subject-credentials")]
    subject: Subject,
}

/// The cached token and when (unix seconds) to stop using it.
static CACHE: Mutex<Option<(String, u64)>> = Mutex::new(None);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Who the credentials are: the service account of the credentials file, or
/// `token` for a bare IAM token.
pub fn principal() -> Result<String, ProviderError> {
    if let Some(json) = credentials::get(CREDENTIALS_NAME) {
        return Ok(parse(&json)?.sub);
    }
    if credentials::get(TOKEN_NAME).is_some() {
        return Ok("iam-token".into());
    }
    Err(missing())
}

fn missing() -> ProviderError {
    errors::auth(
        "NoCredentials",
        "no Nebius credentials: set NEBIUS_IAM_TOKEN, or put a service account's \
         credentials file at ~/.nebius/credentials.json (or its JSON in \
         NEBIUS_CREDENTIALS_JSON)",
    )
}

fn parse(json: &str) -> Result<Subject, ProviderError> {
    let file: CredentialsFile = serde_json::from_str(json).map_err(|_| {
        errors::auth(
            "BadCredentialsFile",
            "the Nebius credentials file is not a service account's credentials \
             (`subject-credentials` with `private-key`, `kid`, `iss`, `sub`)",
        )
    })?;
    let s = file.subject;
    if s.alg != "RS256" || s.iss != s.sub {
        return Err(errors::auth(
            "BadCredentialsFile",
            "the Nebius credentials file must be RS256 with `iss` equal to `sub`",
        ));
    }
    Ok(s)
}

/// The service account's signed JWT at `now`.
fn jwt(s: &Subject, now: u64) -> Result<String, ProviderError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};

    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": s.kid});
    let claims = serde_json::json!({
        "iss": s.iss,
        "sub": s.sub,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 60,
    });
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&s.private_key)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(&s.private_key))
        .map_err(|_| {
            errors::auth(
                "BadPrivateKey",
                "the Nebius credentials file's private-key is not an RSA key",
            )
        })?;
    let signature = SigningKey::<sha2::Sha256>::new(key).sign(input.as_bytes());
    Ok(format!("{input}.{}", b64url(&signature.to_bytes())))
}

/// Forgets the cached token (the API refused it).
pub fn forget() {
    if let Ok(mut slot) = CACHE.lock() {
        *slot = None;
    }
}

/// An access token for the API.
pub fn token() -> Result<String, ProviderError> {
    let now = now();
    if let Ok(slot) = CACHE.lock()
        && let Some((token, until)) = slot.as_ref()
        && now < *until
    {
        return Ok(token.clone());
    }
    let (token, until) = if let Some(json) = credentials::get(CREDENTIALS_NAME) {
        let subject = parse(&json)?;
        let request = ExchangeTokenRequest {
            grant_type: "urn:ietf:params:oauth:grant-type:token-exchange".into(),
            requested_token_type: "urn:ietf:params:oauth:token-type:access_token".into(),
            subject_token: jwt(&subject, now)?,
            subject_token_type: "urn:ietf:params:oauth:token-type:jwt".into(),
        };
        let answer: CreateTokenResponse = grpc::call(
            TOKENS_HOST,
            "nebius.iam.v1.TokenExchangeService/Exchange",
            None,
            &request,
        )
        .map_err(|e| e.into_error("token exchange"))?;
        if answer.access_token.is_empty() {
            return Err(errors::auth(
                "BadTokenResponse",
                "the token exchange answered no access token",
            ));
        }
        let lifetime = if answer.expires_in > 0 {
            answer.expires_in as u64
        } else {
            3600
        };
        // Renewed a minute early (or halfway through a short lifetime).
        (answer.access_token, now + lifetime - (lifetime / 2).min(60))
    } else if let Some(token) = credentials::get(TOKEN_NAME) {
        (token, u64::MAX)
    } else {
        return Err(missing());
    };
    if let Ok(mut slot) = CACHE.lock() {
        *slot = Some((token.clone(), until));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credentials_file_parses_and_its_jwt_names_the_key_and_account() {
        let pem = include_str!("../../sdk/src/test_key.pem");
        let json = serde_json::json!({"subject-credentials": {
            "type": "JWT", "alg": "RS256", "private-key": pem,
            "kid": "publickey-e00abc", "iss": "serviceaccount-e00xyz", "sub": "serviceaccount-e00xyz"
        }})
        .to_string();
        let s = parse(&json).unwrap();
        let token = jwt(&s, 1_700_000_000).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        use base64::Engine;
        let dec = |p: &str| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        assert_eq!(dec(parts[0])["kid"], "publickey-e00abc");
        assert_eq!(dec(parts[1])["sub"], "serviceaccount-e00xyz");
        assert_eq!(dec(parts[1])["aud"], AUDIENCE);
        assert_eq!(dec(parts[1])["exp"], 1_700_000_060u64);
        let bad = parse(
            r#"{"subject-credentials": {"alg": "HS256", "private-key": "SECRETKEY", "kid": "k", "iss": "a", "sub": "a"}}"#,
        );
        let e = bad.err().unwrap();
        assert!(!e.message.contains("SECRETKEY"));
    }
}
