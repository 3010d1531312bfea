//! The conformance kit's inputs and verdict as a caller gives and reads them
//! (`aloft providers test`): settings as typed, whether the kit picks the test
//! cluster's place itself, and a run's report as a result.

use crate::plugin::conformance::Report;

use super::{ClientError, ClientResult, ProviderTest};

impl ProviderTest {
    /// Settings for the provider's `configure` as typed (`KEY=VALUE`, split at
    /// the first `=`); an item without `=` is an error naming it.
    pub fn parse_settings(items: &[String]) -> ClientResult<Vec<(String, String)>> {
        items
            .iter()
            .map(|item| {
                item.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| {
                        ClientError::Other(format!("--setting {item}: expected KEY=VALUE"))
                    })
            })
            .collect()
    }

    /// Whether the kit chooses the test cluster's region or instance type from
    /// the provider's offers (one of them was not given).
    pub fn chooses_offer(&self) -> bool {
        self.region.is_none() || self.instance_type.is_none()
    }
}

/// A conformance run of `provider` as a result: `Ok` when every check passed;
/// the first failed check, or a run in which no check ran, is an error.
pub fn conformance_result(provider: &str, report: &Report) -> ClientResult<()> {
    match report.failure() {
        None if report.passed() => Ok(()),
        None => Err(ClientError::Other("no check ran".into())),
        Some(check) => Err(ClientError::Other(format!(
            "{provider}: failed `{}`",
            check.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::conformance::Check;

    #[test]
    fn settings_split_at_the_first_equals_and_a_bare_key_is_named() {
        let items = vec!["a=1".to_string(), "url=http://x/?q=2".to_string()];
        assert_eq!(
            ProviderTest::parse_settings(&items).unwrap(),
            vec![
                ("a".to_string(), "1".to_string()),
                ("url".to_string(), "http://x/?q=2".to_string()),
            ]
        );
        let err = ProviderTest::parse_settings(&["region".to_string()]).unwrap_err();
        assert_eq!(err.to_string(), "--setting region: expected KEY=VALUE");
    }

    #[test]
    fn a_run_passes_only_with_checks_that_all_passed() {
        let mut report = Report::default();
        assert_eq!(
            conformance_result("p", &report).unwrap_err().to_string(),
            "no check ran"
        );
        let check = |name: &str, passed| Check {
            name: name.into(),
            passed,
            detail: String::new(),
        };
        report.checks = vec![check("offers", true)];
        conformance_result("p", &report).unwrap();
        report.checks.push(check("terminate", false));
        assert_eq!(
            conformance_result("p", &report).unwrap_err().to_string(),
            "p: failed `terminate`"
        );
        let given = ProviderTest {
            region: Some("r".into()),
            instance_type: Some("t".into()),
            ..ProviderTest::default()
        };
        assert!(!given.chooses_offer());
        assert!(ProviderTest::default().chooses_offer());
    }
}
