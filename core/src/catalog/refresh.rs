//! Keeping the catalogs whole and current, as SkyPilot does: each cloud's
//! `vms.csv` and the `common/` files are fetched from a catalog URL laid out as
//! SkyPilot's hosted catalogs (`<url>/<cloud>/vms.csv`, `<url>/common/accelerators.csv`; the
//! default is SkyPilot's own, schema v8) into aloft's home, and fetched again once
//! older than an age limit (SkyPilot's 7 hours).
//!
//! - A file is written whole (a temporary file, then a rename), and only once it
//!   parses as a catalog; beside it, `.meta/<file>.sha256` says it was fetched.
//! - A file without that record, or that no longer matches it, is the user's own
//!   and is never replaced (SkyPilot's rule for locally modified catalogs).
//! - A fetch that fails leaves what was there: the last fetched file, else the
//!   snapshot bundled in the binary. It is noted in `.meta/<file>.failed`, and not
//!   tried again for an hour, so an offline machine is not slowed down by every
//!   command.
//!
//! The network part is [`fetch_due`]; [`due`] and [`store`] are plain file work.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::Digest;

use super::{CatalogError, accelerators, vms};

pub use crate::config::DEFAULT_CATALOG_URL;

/// After a failed fetch, the next try waits this long (or the age limit, if shorter).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3600);

/// The largest file accepted (SkyPilot's whole AWS catalog is about 4 MB).
const MAX_BYTES: usize = 256 * 1024 * 1024;

/// The files of the `common` folder that are refreshed. SkyPilot's v8 catalogs
/// have no `common/metadata.csv` (GPU memory by model): that one stays the
/// snapshot's (or the user's file), and the offers' `GpuInfo` says the rest.
pub const COMMON_FILES: [&str; 1] = ["common/accelerators.csv"];

/// One catalog file to keep current.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// Its path under the catalogs folder and under the URL (`aws/vms.csv`).
    pub file: String,
    /// The base URL it comes from (ending in `/`).
    pub base: String,
}

impl Wanted {
    /// The file's URL.
    pub fn url(&self) -> String {
        format!("{}{}", self.base, self.file)
    }
}

/// A base URL with a trailing `/`; `None` for a setting that turns refreshing off
/// (empty, `off`, `false`, `none`).
pub fn normalize_base(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() || ["off", "false", "none", "no"].contains(&url.to_lowercase().as_str()) {
        return None;
    }
    Some(if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    })
}

/// The URL as it may be shown: without a user name or password in it.
pub fn display_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

fn meta_path(dir: &Path, file: &str, suffix: &str) -> PathBuf {
    dir.join(".meta").join(format!("{file}.{suffix}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn age(path: &Path, now: SystemTime) -> Option<Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(now.duration_since(modified).unwrap_or_default())
}

/// Whether `file` under `dir` should be fetched now: it is missing, or it was
/// fetched (its record matches) and is older than `max_age`; and no fetch of it
/// failed within the last hour (or `max_age`, if shorter). A file the user put
/// there is never due.
pub fn due(dir: &Path, file: &str, max_age: Duration, now: SystemTime) -> bool {
    let failed = meta_path(dir, file, "failed");
    if age(&failed, now).is_some_and(|a| a < RETRY_AFTER_FAILURE.min(max_age)) {
        return false;
    }
    let path = dir.join(file);
    if !path.exists() {
        return true;
    }
    // A young file is kept whoever wrote it; only an old one is read and hashed.
    if age(&path, now).is_some_and(|a| a < max_age) {
        return false;
    }
    let Ok(bytes) = std::fs::read(&path) else {
        return false;
    };
    let recorded = std::fs::read_to_string(meta_path(dir, file, "sha256")).unwrap_or_default();
    recorded.trim() == sha256_hex(&bytes)
}

/// Checks that `text` is a usable catalog file `file` (a `vms.csv` with at least
/// one offer, or one of the `common` files).
pub fn validate(file: &str, text: &str, source: &str) -> Result<(), CatalogError> {
    // Names from here end up in tables on the user's terminal.
    if let Some((i, _)) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.chars().any(|c| c.is_control() && c != '\r' && c != '\t'))
    {
        return Err(CatalogError::Malformed {
            file: source.to_string(),
            line: i as u64 + 1,
            detail: "a control character".into(),
        });
    }
    match file {
        "common/accelerators.csv" => accelerators::parse_accelerator_names(text, source).map(drop),
        "common/metadata.csv" => accelerators::parse_metadata(text, source).map(drop),
        _ => {
            let cloud = file.split('/').next().unwrap_or(file);
            let rows = vms::parse_rows(text, source, cloud)?;
            if rows.is_empty() {
                return Err(CatalogError::Malformed {
                    file: source.to_string(),
                    line: 1,
                    detail: "no offers".into(),
                });
            }
            Ok(())
        }
    }
}

/// Writes a fetched `file` under `dir` whole, with its record, and clears a
/// failure noted before.
pub fn store(dir: &Path, file: &str, text: &str) -> std::io::Result<()> {
    let path = dir.join(file);
    let meta = meta_path(dir, file, "sha256");
    for parent in [path.parent(), meta.parent()].into_iter().flatten() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("catalog"),
        std::process::id()
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    std::fs::write(&meta, sha256_hex(text.as_bytes()))?;
    let _ = std::fs::remove_file(meta_path(dir, file, "failed"));
    Ok(())
}

/// Notes that fetching `file` failed now.
pub fn record_failure(dir: &Path, file: &str) {
    let failed = meta_path(dir, file, "failed");
    if let Some(parent) = failed.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(failed, "");
}

/// What one refresh did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refreshed {
    /// Files fetched and stored.
    pub fetched: Vec<String>,
    /// `(file URL without credentials, why)` for the fetches that failed.
    pub failed: Vec<(String, String)>,
}

/// Fetches every file of `wanted` that is [`due`] under `dir`, at once, and
/// stores those that parse. Nothing here fails: a file that cannot be fetched,
/// read or stored is listed in [`Refreshed::failed`] and the old one stays.
pub async fn fetch_due(dir: &Path, wanted: &[Wanted], max_age: Duration) -> Refreshed {
    let now = SystemTime::now();
    let due: Vec<&Wanted> = wanted
        .iter()
        .filter(|w| due(dir, &w.file, max_age, now))
        .collect();
    let mut out = Refreshed::default();
    if due.is_empty() {
        return out;
    }
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(120));
    // A catalog mirror on this machine is reached directly, whatever proxy the
    // environment names.
    if due.iter().all(|w| is_loopback(&w.base)) {
        builder = builder.no_proxy();
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(err) => {
            for w in &due {
                record_failure(dir, &w.file);
                out.failed
                    .push((display_url(&w.url()), format!("no HTTP client: {err}")));
            }
            return out;
        }
    };
    let answers = futures::future::join_all(due.iter().map(|w| fetch(&client, w))).await;
    for (w, answer) in due.iter().zip(answers) {
        let shown = display_url(&w.url());
        let stored = answer.and_then(|text| {
            validate(&w.file, &text, &shown).map_err(|e| e.to_string())?;
            store(dir, &w.file, &text).map_err(|e| format!("cannot write it: {e}"))
        });
        match stored {
            Ok(()) => out.fetched.push(w.file.clone()),
            Err(why) => {
                record_failure(dir, &w.file);
                out.failed.push((shown, why));
            }
        }
    }
    out
}

async fn fetch(client: &reqwest::Client, w: &Wanted) -> Result<String, String> {
    // reqwest's own message names the URL; say why without repeating it (nor any
    // credentials it may hold).
    let reason = |e: reqwest::Error| {
        let mut why = if e.is_connect() {
            "cannot connect".to_string()
        } else if e.is_timeout() {
            "timed out".to_string()
        } else {
            "request failed".to_string()
        };
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why = format!("{why}: {s}");
            source = s.source();
        }
        why
    };
    let response = client.get(w.url()).send().await.map_err(reason)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BYTES as u64)
    {
        return Err(format!("larger than {MAX_BYTES} bytes"));
    }
    let bytes = response.bytes().await.map_err(reason)?;
    if bytes.len() > MAX_BYTES {
        return Err(format!("larger than {MAX_BYTES} bytes"));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8 text".to_string())
}

fn is_loopback(base: &str) -> bool {
    let shown = display_url(base);
    let host = shown
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    let host = host
        .rsplit_once(':')
        .filter(|(h, port)| !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS: &str = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone\nm5.2xlarge,,,8.0,32.0,,0.384,0.15,us-east-1,use1-az1\n";

    #[test]
    fn only_missing_or_stale_fetched_files_are_due_and_the_users_own_never() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        assert!(due(dir.path(), "aws/vms.csv", day, now), "missing");
        store(dir.path(), "aws/vms.csv", AWS).unwrap();
        assert!(!due(dir.path(), "aws/vms.csv", day, now), "fresh");
        assert!(due(dir.path(), "aws/vms.csv", day, now + 2 * day), "stale");
        // Edited by the user: kept however old.
        std::fs::write(
            dir.path().join("aws/vms.csv"),
            format!("{AWS}x,,,1,1,,1,,r,z\n"),
        )
        .unwrap();
        assert!(!due(dir.path(), "aws/vms.csv", day, now + 2 * day));
        // A failure waits an hour before the next try.
        record_failure(dir.path(), "gcp/vms.csv");
        assert!(!due(dir.path(), "gcp/vms.csv", day, now));
        assert!(due(
            dir.path(),
            "gcp/vms.csv",
            day,
            now + 2 * RETRY_AFTER_FAILURE
        ));
    }

    #[test]
    fn urls_lose_their_credentials_when_shown_and_off_turns_refreshing_off() {
        assert_eq!(
            display_url("https://user:secret@mirror.example/catalogs/v8/aws/vms.csv"),
            "https://mirror.example/catalogs/v8/aws/vms.csv"
        );
        assert_eq!(normalize_base(" OFF "), None);
        assert_eq!(normalize_base(""), None);
        assert_eq!(
            normalize_base("http://127.0.0.1:8000/v8").as_deref(),
            Some("http://127.0.0.1:8000/v8/")
        );
        assert!(is_loopback("http://127.0.0.1:8000/v8/"));
        assert!(is_loopback("http://localhost/v8/"));
        assert!(!is_loopback(DEFAULT_CATALOG_URL));
        assert!(validate("aws/vms.csv", "<html>not found</html>", "x").is_err());
        assert!(validate("aws/vms.csv", AWS, "x").is_ok());
        let escape = AWS.replace("m5.2xlarge", "m5.2xlarge\u{1b}[2J");
        assert!(validate("aws/vms.csv", &escape, "x").is_err());
    }
}
