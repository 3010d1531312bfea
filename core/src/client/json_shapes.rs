//! The JSON of provider listings and credential checks, as `aloft providers list
//! -o json` and `aloft check -o json` print it, so that an embedder serializing
//! them gets the documents scripts already read.

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};

use super::{CredentialCheck, ProviderList};

impl Serialize for ProviderList {
    /// `{"providers": [...], "broken": [{"origin": ..., "error": ...}]}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Broken<'a>(&'a [(String, String)]);
        impl Serialize for Broken<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(
                    self.0.iter().map(
                        |(origin, error)| serde_json::json!({"origin": origin, "error": error}),
                    ),
                )
            }
        }
        let mut list = serializer.serialize_struct("ProviderList", 2)?;
        list.serialize_field("providers", &self.providers)?;
        list.serialize_field("broken", &Broken(&self.broken))?;
        list.end()
    }
}

impl Serialize for CredentialCheck {
    /// `{"provider": ..., "enabled": true, "identity": ACCOUNT}` when the
    /// credentials work, `{"provider": ..., "enabled": false, "reason": ...}`
    /// when they do not.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut check = serializer.serialize_map(Some(3))?;
        check.serialize_entry("provider", &self.provider)?;
        check.serialize_entry("enabled", &self.result.is_ok())?;
        match &self.result {
            Ok(identity) => check.serialize_entry("identity", &identity.account)?,
            Err(reason) => check.serialize_entry("reason", reason)?,
        }
        check.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Identity;

    #[test]
    fn checks_and_broken_components_serialize_as_scripts_read_them() {
        let enabled = CredentialCheck {
            provider: "aws".into(),
            result: Ok(Identity {
                account: "123".into(),
                details: vec![("arn".into(), "x".into())],
            }),
        };
        let disabled = CredentialCheck {
            provider: "gcp".into(),
            result: Err("no key".into()),
        };
        assert_eq!(
            serde_json::to_value([&enabled, &disabled]).unwrap(),
            serde_json::json!([
                {"provider": "aws", "enabled": true, "identity": "123"},
                {"provider": "gcp", "enabled": false, "reason": "no key"},
            ])
        );
        let list = ProviderList {
            providers: Vec::new(),
            broken: vec![("installed:x.wasm".into(), "bad magic".into())],
        };
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            serde_json::json!({
                "providers": [],
                "broken": [{"origin": "installed:x.wasm", "error": "bad magic"}],
            })
        );
    }
}
