//! Cloud names a task file gives, checked against the clouds this installation
//! knows (shipped catalogs, bundled and installed providers).
//!
//! Parsing accepts any well-formed cloud name, since it may be a third-party
//! provider; this check, run where the known names are at hand (`validate`,
//! `launch`), turns a name nothing knows into an error at its line.

use super::error::{TaskError, suggest};
use super::units::canonical_cloud;
use super::walk::{At, get_some};
use super::yaml::{Value, load_documents};

/// Fails at the first `infra` / `cloud` (in `resources`, its `any_of` and
/// `ordered` entries, every document) whose cloud is not in `known`, naming file,
/// line and field, and listing the known names. A file that does not parse is left
/// to the parser's own errors.
pub fn check_cloud_names(src: &str, file: &str, known: &[String]) -> Result<(), TaskError> {
    let Ok(docs) = load_documents(src) else {
        return Ok(());
    };
    for doc in &docs {
        if !matches!(doc.value, Value::Map(_)) {
            continue;
        }
        let root = At::root(doc, file);
        let Ok(fields) = root.fields() else { continue };
        let Some(resources) = get_some(&fields, "resources") else {
            continue;
        };
        check_resources(resources, known)?;
    }
    Ok(())
}

fn check_resources(resources: &At<'_>, known: &[String]) -> Result<(), TaskError> {
    let Ok(fields) = resources.fields() else {
        return Ok(());
    };
    for key in ["infra", "cloud"] {
        let Some(at) = get_some(&fields, key) else {
            continue;
        };
        let Ok(text) = at.str() else { continue };
        let name = text.split('/').next().unwrap_or_default().trim();
        if name.is_empty() || name == "*" {
            continue;
        }
        let Ok(cloud) = canonical_cloud(name) else {
            continue;
        };
        if !known.contains(&cloud) {
            return Err(at.err_suggest(
                format!(
                    "unknown cloud `{name}`: no shipped catalog and no provider has that name \
                     (known: {}; a third-party provider is added with `aloft providers install`)",
                    known.join(", ")
                ),
                suggest(&cloud, known.iter().map(String::as_str)),
            ));
        }
    }
    for list in ["any_of", "ordered"] {
        if let Some(entries) = get_some(&fields, list)
            && let Ok(entries) = entries.seq()
        {
            for entry in &entries {
                check_resources(entry, known)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        ["aws", "gcp", "kubernetes", "lambda", "local", "ssh"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn an_unknown_cloud_is_located_and_lists_the_known_ones() {
        let src = "name: t\nresources:\n  cpus: 2\n  infra: skynet/us-east-1\nrun: echo\n";
        let err = check_cloud_names(src, "t.yaml", &known()).expect_err("skynet");
        let text = err.to_string();
        assert!(text.starts_with("t.yaml:4:"), "{text}");
        assert!(text.contains("resources.infra"), "{text}");
        assert!(text.contains("unknown cloud `skynet`"), "{text}");
        assert!(text.contains("known: aws, gcp, kubernetes"), "{text}");
    }

    #[test]
    fn entries_of_any_of_and_the_legacy_cloud_field_are_checked() {
        let src = "resources:\n  any_of:\n    - infra: aws\n    - cloud: skynet\n";
        let err = check_cloud_names(src, "t.yaml", &known()).expect_err("skynet");
        let text = err.to_string();
        assert!(text.starts_with("t.yaml:4:"), "{text}");
        assert!(text.contains("resources.any_of[1].cloud"), "{text}");
    }

    #[test]
    fn known_clouds_wildcards_and_k8s_contexts_pass() {
        let src = "resources:\n  ordered:\n    - infra: k8s/my-ctx/with/slashes\n    - infra: '*/us-east-1'\n---\nresources: {infra: gcp}\n";
        check_cloud_names(src, "t.yaml", &known()).expect("all known");
    }
}
