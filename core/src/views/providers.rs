//! Providers: `providers list`, `info`, a component's requests, `check`, and the conformance report.

use std::path::Path;

use super::{Detail, Table, View};
use crate::client::{CredentialCheck, ProviderList, ProviderListing, capability_names};
use crate::plugin::Manifest;
use crate::plugin::conformance::Report;

fn capabilities(m: &Manifest) -> String {
    capability_names(m).join(", ")
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// `providers list`: one row per loaded provider (how many of its credentials
/// are set), then a warning for each component that failed to load.
pub fn list(list: &ProviderList) -> View {
    let mut table = Table::boxed([
        "NAME",
        "VERSION",
        "API",
        "CAPABILITIES",
        "CREDENTIALS",
        "SOURCE",
    ]);
    for l in &list.providers {
        let m = &l.manifest;
        let creds = if m.credentials.is_empty() {
            "none needed".to_string()
        } else {
            format!("{}/{} set", l.credentials_set, m.credentials.len())
        };
        table.row([
            m.name.clone(),
            m.version.clone(),
            m.api_version.clone(),
            capabilities(m),
            creds,
            l.source.clone(),
        ]);
    }
    let view = View::new().table(table);
    list.broken.iter().fold(view, |view, (origin, err)| {
        view.note(format!("warning: {origin}: {err}"))
    })
}

/// `providers info NAME`: one provider's manifest and where it came from.
pub fn info(listing: &ProviderListing) -> View {
    let m = &listing.manifest;
    View::new()
        .line(format!(
            "{} {} (provider API {})",
            m.name, m.version, m.api_version
        ))
        .line(format!("  {}", m.description))
        .line(format!("  capabilities: {}", capabilities(m)))
        .line(format!("  credentials:  {}", list_or_none(&m.credentials)))
        .line(format!("  hosts:        {}", list_or_none(&m.hosts)))
        .line(format!("  source:       {}", listing.source))
}

/// What a reviewed component asks for, one line each: `manifest`, and
/// `shared_credentials` (those of its credentials a bundled provider uses too).
fn request_lines(manifest: &Manifest, shared_credentials: &[(String, Vec<String>)]) -> Vec<String> {
    let m = manifest;
    let mut lines = vec![
        format!("{} {} asks for:", m.name, m.version),
        format!("  description:  {}", m.description),
        format!("  hosts:        {}", list_or_none(&m.hosts)),
    ];
    if m.credentials.is_empty() {
        lines.push("  credentials:  none".into());
    } else {
        lines.push("  credentials:".into());
        for c in &m.credentials {
            match shared_credentials.iter().find(|(name, _)| name == c) {
                Some((_, users)) => lines.push(format!(
                    "    {c}  (also used by the bundled provider {}: this one could act with that account)",
                    users.join(", ")
                )),
                None => lines.push(format!("    {c}")),
            }
        }
    }
    lines.push(format!("  capabilities: {}", capabilities(m)));
    lines
}

/// `providers install`, before asking for consent: what the component asks for
/// (its manifest, and `shared_credentials`, the review's credentials that a
/// bundled provider uses too), and with `replaces`, that it replaces the bundled
/// provider of its name.
pub fn install_requests(
    manifest: &Manifest,
    shared_credentials: &[(String, Vec<String>)],
    replaces: bool,
) -> View {
    let view = request_lines(manifest, shared_credentials)
        .into_iter()
        .fold(View::new(), View::line);
    if replaces {
        view.line(format!(
            "  replaces:     the bundled provider `{}`",
            manifest.name
        ))
    } else {
        view
    }
}

/// The question `providers install` asks before installing `name`.
pub fn install_question(name: &str) -> String {
    format!("Installing {name} with the grants above")
}

/// `providers install`, once installed: the component and where it now lies.
pub fn installed(manifest: &Manifest, target: &Path) -> View {
    View::new().line(format!(
        "Installed provider {} {} to {}",
        manifest.name,
        manifest.version,
        target.display()
    ))
}

/// `providers test`, before asking for consent: what the component asks for, as
/// [`install_requests`] shows it, but as notes (its report is the answer).
pub fn test_requests(manifest: &Manifest, shared_credentials: &[(String, Vec<String>)]) -> View {
    request_lines(manifest, shared_credentials)
        .into_iter()
        .fold(View::new(), View::note)
}

/// The question `providers test` asks before lending `name` its credentials.
pub fn test_question(name: &str) -> String {
    format!(
        "Testing {name} lends it the credentials above and creates a test cluster \
         (billed on a real cloud)"
    )
}

/// `providers test`: where the test cluster ran (`chosen`: its region or
/// instance type was chosen from the provider's offers) and each check.
pub fn conformance(report: &Report, chosen: bool) -> View {
    let zone = report
        .zone
        .as_ref()
        .map(|z| format!(", zone {z}"))
        .unwrap_or_default();
    let chosen = if chosen {
        " (chosen from its offers)"
    } else {
        ""
    };
    let view = View::new().line(format!(
        "Test cluster in region {}{zone}, instance type {}{chosen}:",
        report.region, report.instance_type
    ));
    report.checks.iter().fold(view, |view, check| {
        if check.passed {
            view.line(format!("  ok    {}", check.name))
        } else {
            view.line(format!("  FAIL  {}: {}", check.name, check.detail))
        }
    })
}

/// `providers test`, when every check of `provider` passed.
pub fn conformance_passed(provider: &str) -> View {
    View::new().note(format!("{provider}: every check passed."))
}

/// `check`: each provider enabled or disabled (and why); with [`Detail::Full`]
/// (`-v`), the account of each enabled one and what else it says about it.
pub fn checks(checks: &[CredentialCheck], detail: Detail) -> View {
    let mut view = View::new();
    for c in checks {
        view = match &c.result {
            Ok(identity) if detail.is_full() => {
                let view = view.line(format!("  {}: enabled ({})", c.provider, identity.account));
                identity.details.iter().fold(view, |view, (key, value)| {
                    view.line(format!("      {key}: {value}"))
                })
            }
            Ok(_) => view.line(format!("  {}: enabled", c.provider)),
            Err(reason) => view.line(format!("  {}: disabled — {reason}", c.provider)),
        };
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::conformance::Check;
    use crate::plugin::{Capabilities, Identity};
    use crate::views::Block;

    fn manifest(credentials: &[&str]) -> Manifest {
        Manifest {
            name: "acme".into(),
            version: "0.3.0".into(),
            api_version: "0.2.0".into(),
            description: "Acme cloud".into(),
            capabilities: Capabilities {
                spot: true,
                ..Capabilities::default()
            },
            credentials: credentials.iter().map(|c| c.to_string()).collect(),
            hosts: vec!["api.acme.test".into()],
        }
    }

    fn texts(view: &View) -> Vec<String> {
        view.blocks
            .iter()
            .map(|b| match b {
                Block::Line(t) => format!("out: {t}"),
                Block::Note(t) => format!("err: {t}"),
                Block::Table(t) => format!("table: {}", t.header.join("|")),
            })
            .collect()
    }

    #[test]
    fn the_list_counts_credentials_set_and_warns_of_broken_components() {
        let providers = ProviderList {
            providers: vec![
                ProviderListing {
                    manifest: manifest(&["ACME_KEY", "ACME_SECRET"]),
                    source: "installed".into(),
                    credentials_set: 1,
                },
                ProviderListing {
                    manifest: manifest(&[]),
                    source: "bundled".into(),
                    credentials_set: 0,
                },
            ],
            broken: vec![("bad.wasm".into(), "not a component".into())],
        };
        let view = list(&providers);
        let Block::Table(table) = &view.blocks[0] else {
            panic!("{view:?}")
        };
        assert_eq!(
            table.header,
            [
                "NAME",
                "VERSION",
                "API",
                "CAPABILITIES",
                "CREDENTIALS",
                "SOURCE"
            ]
        );
        assert_eq!(table.rows[0][4], "1/2 set");
        assert_eq!(table.rows[1][4], "none needed");
        assert_eq!(table.rows[0][5], "installed");
        assert_eq!(
            view.blocks[1],
            Block::Note("warning: bad.wasm: not a component".into())
        );
    }

    #[test]
    fn info_shows_the_manifest_and_none_for_empty_lists() {
        let listing = ProviderListing {
            manifest: Manifest {
                hosts: Vec::new(),
                ..manifest(&[])
            },
            source: "bundled".into(),
            credentials_set: 0,
        };
        let text = info(&listing).to_string();
        assert!(
            text.starts_with("acme 0.3.0 (provider API 0.2.0)\n  Acme cloud\n"),
            "{text}"
        );
        assert!(text.contains("  credentials:  none\n  hosts:        none\n"));
        assert!(text.ends_with("  source:       bundled\n"), "{text}");
    }

    #[test]
    fn requests_name_shared_credentials_and_go_to_the_right_stream() {
        let m = manifest(&["ACME_KEY", "AWS_SECRET"]);
        let shared = vec![("AWS_SECRET".to_string(), vec!["aws".to_string()])];
        let install = texts(&install_requests(&m, &shared, true));
        assert_eq!(install[0], "out: acme 0.3.0 asks for:");
        assert_eq!(install[3], "out:   credentials:");
        assert_eq!(install[4], "out:     ACME_KEY");
        assert_eq!(
            install[5],
            "out:     AWS_SECRET  (also used by the bundled provider aws: this one could act with that account)"
        );
        assert_eq!(
            install.last().map(String::as_str),
            Some("out:   replaces:     the bundled provider `acme`")
        );
        let test = texts(&test_requests(&manifest(&[]), &[]));
        assert_eq!(test[3], "err:   credentials:  none");
        assert_eq!(test.len(), 5);
        assert_eq!(
            install_question("acme"),
            "Installing acme with the grants above"
        );
        assert_eq!(
            installed(&m, Path::new("/h/providers/acme.wasm")).to_string(),
            "Installed provider acme 0.3.0 to /h/providers/acme.wasm\n"
        );
    }

    #[test]
    fn the_conformance_report_lists_each_check() {
        let mut report = Report::default();
        (report.region, report.zone) = ("r1".into(), Some("r1a".into()));
        report.instance_type = "m.small".into();
        report.checks = vec![
            Check {
                name: "launch".into(),
                passed: true,
                detail: String::new(),
            },
            Check {
                name: "stop".into(),
                passed: false,
                detail: "timed out".into(),
            },
        ];
        assert_eq!(
            conformance(&report, true).to_string(),
            "Test cluster in region r1, zone r1a, instance type m.small (chosen from its offers):\n  ok    launch\n  FAIL  stop: timed out\n"
        );
        assert_eq!(
            texts(&conformance_passed("acme")),
            ["err: acme: every check passed."]
        );
    }

    #[test]
    fn check_shows_accounts_only_in_full() {
        let rows = vec![
            CredentialCheck {
                provider: "aws".into(),
                result: Ok(Identity {
                    account: "1234".into(),
                    details: vec![("user".into(), "me".into())],
                }),
            },
            CredentialCheck {
                provider: "gcp".into(),
                result: Err("no credentials".into()),
            },
        ];
        assert_eq!(
            checks(&rows, Detail::Brief).to_string(),
            "  aws: enabled\n  gcp: disabled — no credentials\n"
        );
        assert_eq!(
            checks(&rows, Detail::Full).to_string(),
            "  aws: enabled (1234)\n      user: me\n  gcp: disabled — no credentials\n"
        );
    }
}
