//! OCI's request signatures (the HTTP Signatures draft as OCI profiles it, "Request
//! Signatures" in OCI's API reference): `rsa-sha256` over `date`,
//! `(request-target)` and `host`, plus `x-content-sha256`, `content-type` and
//! `content-length` for requests with a body (POST, PUT, PATCH), under the key id
//! `<tenancy>/<user>/<fingerprint>`. Pure: tested natively.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::{Digest, Sha256};

/// An API signing key with the identity it belongs to. `Debug` shows no key.
pub struct ApiKey {
    /// `<tenancy>/<user>/<fingerprint>`.
    pub key_id: String,
    key: SigningKey<Sha256>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// The key from its PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`, as
    /// `oci setup keys` and the console write them). Encrypted keys are refused
    /// (the message never quotes the key).
    pub fn from_pem(
        pem: &str,
        tenancy: &str,
        user: &str,
        fingerprint: &str,
    ) -> Result<ApiKey, String> {
        if pem.contains("ENCRYPTED") {
            return Err(
                "the API signing key is encrypted (pass_phrase): aloft needs an \
                        unencrypted key file"
                    .into(),
            );
        }
        let key = RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
            .map_err(|_| "the API signing key is not an RSA private key in PEM".to_string())?;
        Ok(ApiKey {
            key_id: format!("{tenancy}/{user}/{fingerprint}"),
            key: SigningKey::<Sha256>::new(key),
        })
    }

    /// The headers to send with a request (`date`, `host`, for bodies
    /// `x-content-sha256`, `content-type`, `content-length`, and `authorization`).
    /// `target` is the path with its query, exactly as sent.
    pub fn sign(
        &self,
        method: &str,
        host: &str,
        target: &str,
        date: &str,
        body: Option<&[u8]>,
    ) -> Vec<(String, String)> {
        let method = method.to_ascii_lowercase();
        let mut headers = vec![
            ("date".to_string(), date.to_string()),
            ("(request-target)".to_string(), format!("{method} {target}")),
            ("host".to_string(), host.to_string()),
        ];
        if let Some(body) = body.filter(|_| matches!(method.as_str(), "post" | "put" | "patch")) {
            headers.push(("content-length".into(), body.len().to_string()));
            headers.push(("content-type".into(), "application/json".into()));
            headers.push(("x-content-sha256".into(), B64.encode(Sha256::digest(body))));
        }
        let signing_string = signing_string(&headers);
        let signature = B64.encode(self.key.sign(signing_string.as_bytes()).to_bytes());
        let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let authorization = format!(
            "Signature version=\"1\",keyId=\"{}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{signature}\"",
            self.key_id,
            names.join(" ")
        );
        let mut out: Vec<(String, String)> = headers
            .into_iter()
            .filter(|(k, _)| k != "(request-target)")
            .collect();
        out.push(("authorization".into(), authorization));
        out
    }
}

/// `name: value` lines joined by newlines, in the order signed.
pub fn signing_string(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `now` (seconds since the epoch) as an HTTP date (`Sun, 06 Dec 2026 22:38:57 GMT`).
pub fn http_date(now: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(now);
    t.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    const KEY: &str = include_str!("../../sdk/src/test_key.pem");

    fn verify(key: &ApiKey, headers: &[(String, String)], method: &str, target: &str) -> bool {
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        let field = |name: &str| {
            let start = auth.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            auth[start..].split('"').next().unwrap().to_string()
        };
        let lines: Vec<(String, String)> = field("headers")
            .split(' ')
            .map(|h| {
                let value = if h == "(request-target)" {
                    format!("{} {target}", method.to_ascii_lowercase())
                } else {
                    headers.iter().find(|(k, _)| k == h).unwrap().1.clone()
                };
                (h.to_string(), value)
            })
            .collect();
        let public = RsaPrivateKey::from_pkcs8_pem(KEY).unwrap().to_public_key();
        let signature =
            Signature::try_from(B64.decode(field("signature")).unwrap().as_slice()).unwrap();
        assert_eq!(field("keyId"), key.key_id);
        VerifyingKey::<Sha256>::new(public)
            .verify(signing_string(&lines).as_bytes(), &signature)
            .is_ok()
    }

    #[test]
    fn a_get_signs_date_target_and_host_and_a_post_its_body_too() {
        let key =
            ApiKey::from_pem(KEY, "ocid1.tenancy.oc1..t", "ocid1.user.oc1..u", "aa:bb").unwrap();
        assert_eq!(key.key_id, "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb");
        let date = "Thu, 05 Jan 2014 21:31:40 GMT";
        let get = key.sign(
            "GET",
            "iaas.us-ashburn-1.oraclecloud.com",
            "/20160918/instances?compartmentId=x",
            date,
            None,
        );
        assert!(
            get.iter()
                .find(|(k, _)| k == "authorization")
                .unwrap()
                .1
                .contains("headers=\"date (request-target) host\""),
            "{get:?}"
        );
        assert!(verify(
            &key,
            &get,
            "GET",
            "/20160918/instances?compartmentId=x"
        ));
        assert!(!verify(
            &key,
            &get,
            "GET",
            "/20160918/instances?compartmentId=y"
        ));
        let body = br#"{"displayName":"x"}"#;
        let post = key.sign(
            "POST",
            "iaas.us-ashburn-1.oraclecloud.com",
            "/20160918/vcns",
            date,
            Some(body),
        );
        let sha = &post
            .iter()
            .find(|(k, _)| k == "x-content-sha256")
            .unwrap()
            .1;
        assert_eq!(sha, &B64.encode(Sha256::digest(body)));
        assert!(post.iter().any(|(k, v)| k == "content-length" && v == "19"));
        assert!(verify(&key, &post, "POST", "/20160918/vcns"));
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn dates_are_http_dates_and_bad_keys_are_refused_without_quoting_them() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_389_000_000);
        assert_eq!(http_date(t), "Mon, 06 Jan 2014 09:20:00 GMT");
        let err =
            ApiKey::from_pem("-----BEGIN RSA PRIVATE KEY-----\nzzz\n", "t", "u", "f").unwrap_err();
        assert!(!err.contains("zzz"));
        assert!(ApiKey::from_pem("Proc-Type: 4,ENCRYPTED", "t", "u", "f").is_err());
    }
}
