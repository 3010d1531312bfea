//! The trust boundary between aloft and a provider component: which host patterns
//! and credential names a manifest may ask for, which addresses a provider's
//! requests may reach, the user's install grants, and the folders whose contents
//! aloft trusts (its compiled-code cache, its scratch folders).

use std::collections::BTreeMap;
use std::fs::DirBuilder;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::types::Manifest;

/// Environment names a provider may never ask for: they are not secrets, and
/// some (`LD_*`, `SSH_AUTH_SOCK`) are handles to the user's machine.
const DENIED_CREDENTIALS: &[&str] = &[
    "HOME",
    "PATH",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "OLDPWD",
    "TERM",
    "TMPDIR",
    "TMP",
    "TEMP",
    "LANG",
    "HOSTNAME",
    "MAIL",
    "EDITOR",
    "VISUAL",
    "DISPLAY",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "SSH_CONNECTION",
    "SSH_CLIENT",
    "SSH_TTY",
    "ALOFT_HOME",
    "PYTHONPATH",
    "IFS",
];

/// Prefixes of environment names a provider may never ask for.
const DENIED_CREDENTIAL_PREFIXES: &[&str] = &["LD_", "DYLD_", "LC_", "XDG_"];

/// Headers only the host sets: hop-by-hop headers are refused, `Host` is dropped
/// (the host sends the URL's own host, which matched the grants).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Domains whose names belong to many customers of one cloud (buckets, CDN
/// distributions, API gateways, instances' public names) though the Public Suffix
/// List does not list each level: a wildcard under one reaches anyone's hosts.
const SHARED_TENANT_DOMAINS: &[&str] = &[
    "amazonaws.com",
    "amazonaws.com.cn",
    "cloudfront.net",
    "googleapis.com",
    "googleusercontent.com",
    "appspot.com",
    "windows.net",
    "azure.com",
    "azureedge.net",
    "azurefd.net",
    "cloudflarestorage.com",
    "digitaloceanspaces.com",
];

/// Why a manifest's host pattern is refused, or `None` when it is a DNS name
/// (with at least two labels; `*` only as the whole left-most label, and only
/// over a domain of one owner: not over a public suffix such as `co.uk` nor a
/// shared-tenant domain such as `amazonaws.com`).
pub fn host_pattern_problem(pattern: &str) -> Option<String> {
    let p = pattern.to_ascii_lowercase();
    if p.is_empty() {
        return Some("an empty host pattern".into());
    }
    if p.parse::<IpAddr>().is_ok() || p.trim_matches(['[', ']']).parse::<Ipv6Addr>().is_ok() {
        return Some(format!(
            "host `{pattern}` is an IP address; only DNS names may be declared"
        ));
    }
    let (wildcard, rest) = match p.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, p.as_str()),
    };
    let labels: Vec<&str> = rest.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if p.contains('*') && !wildcard || rest.contains('*') {
        return Some(format!(
            "host `{pattern}`: `*` is allowed only as the whole left-most label (`*.example.com`)"
        ));
    }
    if !labels.iter().all(label_ok) || rest.len() > 253 {
        return Some(format!("host `{pattern}` is not a DNS name"));
    }
    if labels.len() < 2 {
        return Some(format!(
            "host `{pattern}` is a single-label name; declare a fully qualified DNS name"
        ));
    }
    if rest == "localhost" || rest.ends_with(".localhost") || labels[0] == "localhost" {
        return Some(format!("host `{pattern}` names this machine"));
    }
    // `*.0.1` and the like: an all-numeric top label is an address, not a domain.
    if labels
        .last()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Some(format!(
            "host `{pattern}` looks like an IP address; only DNS names may be declared"
        ));
    }
    if wildcard {
        return shared_wildcard_problem(pattern, rest);
    }
    None
}

/// Why the wildcard `pattern` (`*.` + `base`) would reach hosts of many owners.
fn shared_wildcard_problem(pattern: &str, base: &str) -> Option<String> {
    if psl::suffix_str(base) == Some(base) {
        return Some(format!(
            "host `{pattern}`: `{base}` is a public suffix, under which anyone can \
             register names; declare the provider's own hosts"
        ));
    }
    let shared = SHARED_TENANT_DOMAINS
        .iter()
        .find(|d| base == **d || base.ends_with(&format!(".{d}")))?;
    Some(format!(
        "host `{pattern}`: names under `{shared}` belong to many customers of that \
         cloud (buckets, distributions, gateways); declare the exact API hosts \
         (`ec2.us-east-1.amazonaws.com`)"
    ))
}

/// `text` safe to print on a terminal: control characters (ANSI escapes, carriage
/// returns, newlines) and the Unicode marks that reorder text are shown escaped
/// (`\u{1b}`), everything else as it is. Every string a provider hands the host
/// (its manifest, errors, identities, names) passes through this.
pub fn display_safe(text: &str) -> String {
    let reorders = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(|c| c.is_control() || reorders(c)) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() || reorders(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Why a manifest's credential name is refused, or `None` when it may be asked for.
pub fn credential_name_problem(name: &str) -> Option<String> {
    let shape_ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !shape_ok {
        return Some(format!(
            "credential `{name}` is not an environment-style name (A-Z, 0-9, `_`)"
        ));
    }
    if DENIED_CREDENTIALS.contains(&name)
        || DENIED_CREDENTIAL_PREFIXES
            .iter()
            .any(|p| name.starts_with(p))
    {
        return Some(format!(
            "credential `{name}` is an environment setting of this machine, not a provider secret"
        ));
    }
    None
}

/// Every problem with a manifest's hosts and credentials (empty: acceptable).
pub fn manifest_problems(m: &Manifest) -> Vec<String> {
    m.hosts
        .iter()
        .filter_map(|h| host_pattern_problem(h))
        .chain(
            m.credentials
                .iter()
                .filter_map(|c| credential_name_problem(c)),
        )
        .collect()
}

/// Whether a request to `url` stays on the Kubernetes API server `server` of an
/// allowed context: same scheme, host and port, and under the server's path (a
/// server may be behind a path prefix, as Rancher's are).
pub fn kube_url_allowed(server: &reqwest::Url, url: &reqwest::Url) -> bool {
    let prefix = server.path().trim_end_matches('/');
    url.scheme() == server.scheme()
        && url.host_str().map(str::to_ascii_lowercase)
            == server.host_str().map(str::to_ascii_lowercase)
        && url.port_or_known_default() == server.port_or_known_default()
        && (url.path() == prefix
            || url.path().starts_with(&format!("{prefix}/"))
            || prefix.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
}

/// Whether a guest may not set header `name`: `Some(true)` refuse, `Some(false)`
/// drop silently (`Host`), `None` allowed.
pub fn header_rule(name: &str) -> Option<bool> {
    let n = name.to_ascii_lowercase();
    if n == "host" {
        return Some(false);
    }
    (HOP_BY_HOP.contains(&n.as_str()) || n.starts_with("proxy-")).then_some(true)
}

/// Why a provider's request may not connect to `ip`, or `None` when it is a public
/// address.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if s[0] == 0x64 && s[1] == 0xff9b {
                // NAT64 wraps an IPv4 address: judge that one.
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                forbidden_v4(v4)
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if ip.is_private() {
        Some("private")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("private (carrier-grade NAT)")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("multicast")
    } else {
        None
    }
}

/// Resolves a host name to addresses. The host judges every address before a
/// provider's request connects; tests inject their own.
pub trait NameResolver: Send + Sync {
    /// The addresses of `host` (blocking; the host calls it off the async runtime).
    fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>>;
}

impl<F> NameResolver for F
where
    F: Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync,
{
    fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        self(host)
    }
}

/// The operating system's resolver (`getaddrinfo`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl NameResolver for SystemResolver {
    fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        Ok((host, 0).to_socket_addrs()?.map(|a| a.ip()).collect())
    }
}

/// A resolved address the host refused to connect to.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, a {why} address; providers may reach only public addresses")]
pub struct ForbiddenAddress {
    /// The name.
    pub host: String,
    /// The refused address.
    pub ip: IpAddr,
    /// Which kind of address.
    pub why: &'static str,
}

/// reqwest's resolver hook: resolves through a [`NameResolver`] and fails when any
/// address is not public, so the check covers the very addresses connected to.
pub(crate) struct GuardedResolver(pub(crate) Arc<dyn NameResolver>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let inner = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = host.clone();
            let ips = tokio::task::spawn_blocking(move || inner.resolve(&lookup))
                .await
                .map_err(|e| BoxError::from(e.to_string()))?
                .map_err(BoxError::from)?;
            if ips.is_empty() {
                return Err(BoxError::from(format!("{host} has no address")));
            }
            for ip in &ips {
                if let Some(why) = forbidden_address(*ip) {
                    return Err(BoxError::from(ForbiddenAddress {
                        host: host.clone(),
                        ip: *ip,
                        why,
                    }));
                }
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The refused address behind a failed request, if that is why it failed.
pub(crate) fn forbidden_in<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a ForbiddenAddress> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(f) = e.downcast_ref::<ForbiddenAddress>() {
            return Some(f);
        }
        cur = e.source();
    }
    None
}

/// What the user granted an installed provider at `aloft providers install`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallGrant {
    /// The version reviewed.
    pub version: String,
    /// Host patterns granted.
    pub hosts: Vec<String>,
    /// Credential names granted.
    pub credentials: Vec<String>,
    /// Whether the user agreed that it replaces the bundled provider of its name.
    #[serde(default)]
    pub replaces_bundled: bool,
}

impl InstallGrant {
    /// A grant of everything `m` asks for.
    pub fn of(m: &Manifest, replaces_bundled: bool) -> Self {
        InstallGrant {
            version: m.version.clone(),
            hosts: m.hosts.clone(),
            credentials: m.credentials.clone(),
            replaces_bundled,
        }
    }

    /// What `m` asks for beyond this grant, as a sentence (`None`: within it).
    pub fn excess(&self, m: &Manifest) -> Option<String> {
        let hosts: Vec<&str> = m
            .hosts
            .iter()
            .filter(|h| !self.hosts.iter().any(|g| g.eq_ignore_ascii_case(h)))
            .map(String::as_str)
            .collect();
        let creds: Vec<&str> = m
            .credentials
            .iter()
            .filter(|c| !self.credentials.contains(c))
            .map(String::as_str)
            .collect();
        let mut parts = Vec::new();
        if !hosts.is_empty() {
            parts.push(format!("hosts {}", hosts.join(", ")));
        }
        if !creds.is_empty() {
            parts.push(format!("credentials {}", creds.join(", ")));
        }
        (!parts.is_empty()).then(|| {
            format!(
                "version {} asks for more than was granted at install ({}): {}",
                m.version,
                self.version,
                parts.join("; ")
            )
        })
    }
}

/// The grants file of an installed-providers folder.
pub const GRANTS_FILE: &str = "grants.json";

/// The grants recorded in `dir` (none when the file does not exist).
pub fn read_grants(dir: &Path) -> io::Result<BTreeMap<String, InstallGrant>> {
    let path = dir.join(GRANTS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// Writes the grants of `dir` (owner-only, replaced atomically).
pub fn write_grants(dir: &Path, grants: &BTreeMap<String, InstallGrant>) -> io::Result<()> {
    let text = serde_json::to_vec_pretty(grants).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".{GRANTS_FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(GRANTS_FILE))
}

/// Creates `dir` (and missing parents) owner-only, then checks that it is a real
/// folder owned by this user that nobody else may write. aloft keeps what it
/// executes (compiled components) only in folders that pass this check.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a folder (a link?)",
            dir.display()
        )));
    }
    if meta.uid() != current_uid(dir)? {
        return Err(io::Error::other(format!(
            "{} is owned by another user",
            dir.display()
        )));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{} is writable by group or others",
            dir.display()
        )));
    }
    Ok(())
}

/// This process's effective user id, as the owner of a file it creates in `dir`.
fn current_uid(dir: &Path) -> io::Result<u32> {
    let probe = dir.join(format!(
        ".owner-probe-{}-{}",
        std::process::id(),
        random_hex()
    ));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe)?;
    let uid = file.metadata().map(|m| m.uid());
    let _ = std::fs::remove_file(&probe);
    uid
}

fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS's random source once per process and
    // advanced per instance.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", h.finish())
}

/// A fresh owner-only folder with an unpredictable name under the system temp
/// folder, removed when dropped. Created exclusively: a folder planted in advance
/// is never used.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates one named `<prefix>-<random>`.
    pub fn new(prefix: &str) -> io::Result<ScratchDir> {
        let base = std::env::temp_dir();
        for _ in 0..16 {
            let path = base.join(format!("{prefix}-{}", random_hex()));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(ScratchDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("could not create a scratch folder"))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_urls_stay_on_their_server() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        let server = u("https://10.0.0.1:6443/k8s/c1");
        assert!(kube_url_allowed(
            &server,
            &u("https://10.0.0.1:6443/k8s/c1/api/v1/nodes")
        ));
        assert!(!kube_url_allowed(
            &server,
            &u("https://10.0.0.1:6443/k8s/c2/api")
        ));
        assert!(!kube_url_allowed(
            &server,
            &u("https://10.0.0.1:443/k8s/c1/api")
        ));
        assert!(!kube_url_allowed(
            &server,
            &u("http://10.0.0.1:6443/k8s/c1/api")
        ));
        assert!(!kube_url_allowed(
            &server,
            &u("https://10.0.0.2:6443/k8s/c1/api")
        ));
        let root = u("https://k.example.com");
        assert!(kube_url_allowed(
            &root,
            &u("https://k.example.com:443/version")
        ));
    }

    #[test]
    fn host_patterns_must_be_dns_names() {
        for ok in [
            "ec2.us-east-1.amazonaws.com",
            "sts.amazonaws.com",
            "api.x-y.io",
            "*.my-cloud.co.uk",
            "*.hostile.example",
        ] {
            assert_eq!(host_pattern_problem(ok), None, "{ok}");
        }
        for bad in [
            "localhost",
            "LOCALHOST",
            "foo.localhost",
            "169.254.169.254",
            "127.0.0.1",
            "::1",
            "[::1]",
            "*.0.1",
            "*",
            "*.com",
            "foo*.x.com",
            "a.*.x.com",
            "metadata",
            "",
            "a..b",
            "-a.com",
        ] {
            assert!(host_pattern_problem(bad).is_some(), "{bad} accepted");
        }
    }

    #[test]
    fn wildcards_over_many_owners_are_refused() {
        for (bad, why) in [
            ("*.co.uk", "public suffix"),
            ("*.CO.UK", "public suffix"),
            ("*.github.io", "public suffix"),
            ("*.s3.amazonaws.com", "public suffix"),
            ("*.amazonaws.com", "many customers"),
            ("*.us-east-1.amazonaws.com", "public suffix"),
            ("*.compute.amazonaws.com", "many customers"),
            ("*.googleapis.com", "public suffix"),
            ("*.cloudfront.net", "public suffix"),
            ("*.core.windows.net", "many customers"),
        ] {
            let problem = host_pattern_problem(bad).unwrap_or_default();
            assert!(problem.contains(why), "{bad}: {problem:?}");
        }
    }

    #[test]
    fn provider_text_is_escaped_for_terminals() {
        assert_eq!(display_safe("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(
            display_safe("a\x1b[2J\x1b]0;title\x07b\r\nc"),
            "a\\u{1b}[2J\\u{1b}]0;title\\u{7}b\\r\\nc"
        );
        assert_eq!(display_safe("x\u{202e}y\u{9b}"), "x\\u{202e}y\\u{9b}");
    }

    #[test]
    fn environment_names_are_not_credentials() {
        for bad in [
            "HOME",
            "PATH",
            "USER",
            "SHELL",
            "LD_PRELOAD",
            "SSH_AUTH_SOCK",
            "home",
            "A-B",
        ] {
            assert!(credential_name_problem(bad).is_some(), "{bad} accepted");
        }
        for ok in ["AWS_SECRET_ACCESS_KEY", "HELLO_CLOUD_TOKEN", "X1"] {
            assert_eq!(credential_name_problem(ok), None);
        }
    }

    #[test]
    fn only_public_addresses_are_reachable() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(forbidden_address(ip).is_some(), "{bad} allowed");
        }
        for ok in ["52.94.1.1", "2600:1f18::1", "100.128.0.1"] {
            assert_eq!(forbidden_address(ok.parse().unwrap()), None, "{ok}");
        }
    }

    #[test]
    fn headers_only_the_host_sets() {
        assert_eq!(header_rule("Host"), Some(false));
        assert_eq!(header_rule("Connection"), Some(true));
        assert_eq!(header_rule("proxy-authorization"), Some(true));
        assert_eq!(header_rule("Transfer-Encoding"), Some(true));
        assert_eq!(header_rule("x-amz-date"), None);
    }

    #[test]
    fn a_grant_lists_what_a_later_version_adds() {
        let mut m = Manifest {
            name: "p".into(),
            version: "1".into(),
            api_version: "0.1.0".into(),
            description: String::new(),
            capabilities: Default::default(),
            credentials: vec!["P_TOKEN".into()],
            hosts: vec!["api.p.example".into()],
        };
        let grant = InstallGrant::of(&m, false);
        assert_eq!(grant.excess(&m), None);
        m.version = "2".into();
        m.hosts.push("*.evil.example".into());
        m.credentials.push("AWS_SECRET_ACCESS_KEY".into());
        let excess = grant.excess(&m).unwrap();
        assert!(excess.contains("*.evil.example"), "{excess}");
        assert!(excess.contains("AWS_SECRET_ACCESS_KEY"), "{excess}");
    }

    #[test]
    fn private_dirs_refuse_group_writable_folders() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/b");
        private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_dir(&dir).is_err());
        let scratch = ScratchDir::new("aloft-test").unwrap();
        let other = ScratchDir::new("aloft-test").unwrap();
        assert_ne!(scratch.path(), other.path());
        let kept = scratch.path().to_path_buf();
        drop(scratch);
        assert!(!kept.exists());
    }
}
