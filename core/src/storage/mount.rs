//! MOUNT and MOUNT_CACHED: buckets mounted on every node with one tool, rclone,
//! for every store (an rclone remote per store: [`s3_remote`], [`r2_remote`],
//! [`gcs_remote`], [`azure_remote`]).
//!
//! The launcher hands each new node one bash script ([`script`], on the standard
//! input of `bash -s`, never on a command line) that installs rclone and FUSE 3
//! when the node lacks them (`apt-get install rclone fuse3`, as root or through
//! `sudo -n`; a node without apt gets an error naming what to install), then
//! starts one `rclone mount` per bucket mount, in the background, in its own
//! session. The remote is configured by `RCLONE_CONFIG_<NAME>_*` variables set
//! for that one process only: the store's keys live in the environment of the
//! rclone process (readable by the node's user and root, as
//! `/proc/<pid>/environ`) for as long as the mount lives, and nowhere else on
//! the node: not on disk, not on any command line, not in rclone's log (which
//! holds no option values) nor in aloft's state or output.
//!
//! - MOUNT is `--vfs-cache-mode off`: reads stream from the bucket, a file
//!   written is uploaded while it is written and is in the bucket when it is
//!   closed.
//! - MOUNT_CACHED is `--vfs-cache-mode full` with a write-back cache on the
//!   node's disk (`--vfs-write-back`, 5 s unless `config.mount_cached` says
//!   otherwise); before a job is reported done, every node it ran on waits until
//!   its cached mounts have no upload queued or in progress ([`run_then_wait`]
//!   around the job's `run`), and a job whose uploads still fail after a minute
//!   of rclone's retries fails, naming the mount.
//!
//! Each mount's bookkeeping is a folder `~/.aloft/mounts/<n>/` on the node
//! (`~/.aloft/mounts` has mode 0700): the mount point, the rclone process id,
//! its remote-control port on loopback, the VFS cache and rclone's log. Nodes of the `local` provider are
//! folders with their own `HOME` on one machine: `~/` targets (and the
//! bookkeeping) never collide, and an absolute target that is already a mount
//! point is refused with a clear error. `down` ([`unmount_script`]) waits a while
//! for pending uploads, unmounts (lazily if busy) and ends the rclone processes.

use thiserror::Error;

use super::AwsCredentials;

/// Why a bucket cannot be mounted as asked. Messages never hold credentials.
#[derive(Debug, Error)]
pub enum MountError {
    /// A `config.mount_cached` or `config.mount` setting aloft does not map onto
    /// rclone.
    #[error("file_mounts.{target}: config.{section}.{field} is not supported: {why}")]
    Refused {
        /// The mount's target.
        target: String,
        /// `mount_cached` or `mount`.
        section: String,
        /// The setting.
        field: String,
        /// Why (and what to do instead).
        why: String,
    },
    /// A setting's value is not one rclone takes.
    #[error("file_mounts.{target}: config.{section}.{field}: {why}")]
    BadValue {
        /// The mount's target.
        target: String,
        /// `mount_cached` or `mount`.
        section: String,
        /// The setting.
        field: String,
        /// What is expected.
        why: String,
    },
}

/// Whether writes go through a local cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountMode {
    /// No cache: reads stream, writes upload as they are written.
    Plain,
    /// A full VFS cache with write-back.
    Cached,
}

/// An rclone remote: a backend and its options, some of them secrets. `Debug`
/// shows the backend and the option names only.
#[derive(Clone)]
pub struct RcloneRemote {
    /// rclone's backend (`s3`, `google cloud storage`, `azureblob`).
    pub backend: &'static str,
    /// Options (rclone's names, e.g. `access_key_id`) and their values.
    options: Vec<(String, String)>,
}

impl std::fmt::Debug for RcloneRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RcloneRemote")
            .field("backend", &self.backend)
            .field(
                "options",
                &self.options.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RcloneRemote {
    fn new(backend: &'static str) -> RcloneRemote {
        RcloneRemote {
            backend,
            options: Vec::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<String>) -> RcloneRemote {
        self.options.push((key.to_string(), value.into()));
        self
    }

    /// The option names it sets (for tests and messages; never the values).
    pub fn option_names(&self) -> Vec<&str> {
        self.options.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// `RCLONE_CONFIG_<NAME>_<OPTION>=value` assignments (shell-quoted) that
    /// define the remote `name` for one command.
    fn env(&self, name: &str) -> String {
        let name = name.to_ascii_uppercase();
        let mut out = format!("RCLONE_CONFIG_{name}_TYPE={}", quote(self.backend));
        for (key, value) in &self.options {
            out.push_str(&format!(
                " RCLONE_CONFIG_{name}_{}={}",
                key.to_ascii_uppercase(),
                quote(value)
            ));
        }
        out
    }
}

/// Amazon S3 (or an S3-compatible endpoint such as moto's) with these keys.
pub fn s3_remote(
    credentials: &AwsCredentials,
    region: &str,
    endpoint: Option<&str>,
) -> RcloneRemote {
    let remote = aws_keys(RcloneRemote::new("s3"), credentials)
        .with("provider", if endpoint.is_some() { "Other" } else { "AWS" })
        .with("region", region);
    match endpoint {
        Some(endpoint) => remote.with("endpoint", endpoint),
        None => remote,
    }
}

/// Cloudflare R2: S3's API at the account's endpoint, region `auto`.
pub fn r2_remote(credentials: &AwsCredentials, endpoint: &str) -> RcloneRemote {
    aws_keys(RcloneRemote::new("s3"), credentials)
        .with("provider", "Cloudflare")
        .with("region", "auto")
        .with("endpoint", endpoint)
}

fn aws_keys(remote: RcloneRemote, credentials: &AwsCredentials) -> RcloneRemote {
    let remote = remote
        .with("access_key_id", &credentials.access_key_id)
        .with("secret_access_key", &credentials.secret_access_key)
        // aloft creates buckets itself; the mount never tries.
        .with("no_check_bucket", "true");
    match &credentials.session_token {
        Some(token) => remote.with("session_token", token),
        None => remote,
    }
}

/// Google Cloud Storage with a service-account key (its JSON). With `endpoint`
/// (a test server, a gateway) the API and the key's token requests go there.
pub fn gcs_remote(service_account_json: &str, endpoint: Option<&str>) -> RcloneRemote {
    let key = match endpoint.and_then(|e| {
        let mut key: serde_json::Value = serde_json::from_str(service_account_json).ok()?;
        key["token_uri"] = serde_json::Value::String(format!("{}/token", e.trim_end_matches('/')));
        serde_json::to_string(&key).ok()
    }) {
        Some(key) => key,
        None => service_account_json.to_string(),
    };
    let remote = RcloneRemote::new("google cloud storage")
        .with("service_account_credentials", key)
        .with("bucket_policy_only", "true")
        .with("no_check_bucket", "true");
    match endpoint {
        // rclone takes the JSON API's root (Google's `.../storage/v1/`).
        Some(endpoint) => remote.with(
            "endpoint",
            format!("{}/storage/v1/", endpoint.trim_end_matches('/')),
        ),
        None => remote,
    }
}

/// Azure Blob Storage: a storage account and its key (base64, as Azure shows
/// it); `endpoint` for an emulator such as Azurite.
pub fn azure_remote(account: &str, key_base64: &str, endpoint: Option<&str>) -> RcloneRemote {
    let remote = RcloneRemote::new("azureblob")
        .with("account", account)
        .with("key", key_base64);
    match endpoint {
        Some(endpoint) => remote.with("endpoint", endpoint),
        None => remote,
    }
}

/// Azure Blob Storage through one container's SAS URL (no account key on the
/// node; the mount works until the SAS expires); the mount's path is
/// `container/prefix`, as with an account key.
pub fn azure_sas_remote(container_sas_url: &str) -> RcloneRemote {
    RcloneRemote::new("azureblob").with("sas_url", container_sas_url)
}

/// One bucket mount as a node makes it.
#[derive(Debug, Clone)]
pub struct NodeMount {
    /// The target on the node (`~/data`, `/data`).
    pub target: String,
    /// The bucket URL, for messages (`s3://bucket/prefix`).
    pub source: String,
    /// The store's remote.
    pub remote: RcloneRemote,
    /// `bucket` or `bucket/prefix` on the remote.
    pub path: String,
    /// Plain or cached.
    pub mode: MountMode,
    /// rclone flags from the task's settings ([`flags`]).
    pub flags: Vec<String>,
}

/// The rclone flags for a mount in `mode` with the storage object's `type`
/// preset and `config` (its `mount_cached` and `mount` sections): every setting
/// that maps onto an rclone flag becomes that flag; the others are refused by
/// name (so none is silently ignored).
pub fn flags(
    target: &str,
    mode: MountMode,
    mount_type: Option<&str>,
    config: Option<&serde_json::Value>,
) -> Result<Vec<String>, MountError> {
    let mut out: Vec<String> = Vec::new();
    let mut read_only = mount_type.is_some_and(|t| t.ends_with("_RO"));
    let section = |name: &str| {
        config
            .and_then(|c| c.get(name))
            .and_then(|s| s.as_object())
            .cloned()
            .unwrap_or_default()
    };
    let refuse = |section: &str, field: &str, why: &str| MountError::Refused {
        target: target.to_string(),
        section: section.to_string(),
        field: field.to_string(),
        why: why.to_string(),
    };
    let bad = |section: &str, field: &str, why: &str| MountError::BadValue {
        target: target.to_string(),
        section: section.to_string(),
        field: field.to_string(),
        why: why.to_string(),
    };
    let cached = section("mount_cached");
    if !cached.is_empty() && mode != MountMode::Cached {
        let field = cached.keys().next().cloned().unwrap_or_default();
        return Err(refuse(
            "mount_cached",
            &field,
            "it applies to mode: MOUNT_CACHED only",
        ));
    }
    for (field, value) in &cached {
        let text = match value {
            serde_json::Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        match field.as_str() {
            "transfers" => {
                let n = value
                    .as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("mount_cached", field, "expected a whole number above 0"))?;
                out.push(format!("--transfers={n}"));
            }
            "buffer_size" | "vfs_cache_max_size" | "vfs_read_ahead" | "vfs_read_chunk_size" => {
                if !is_size(&text) {
                    return Err(bad(
                        "mount_cached",
                        field,
                        &format!("`{text}` is not a size (e.g. 64M, 10G, 1.5Gi)"),
                    ));
                }
                out.push(format!("--{}={text}", field.replace('_', "-")));
            }
            "vfs_cache_max_age" | "vfs_write_back" => {
                if !is_duration(&text) {
                    return Err(bad(
                        "mount_cached",
                        field,
                        &format!("`{text}` is not a duration (e.g. 5s, 10m, 1h30m)"),
                    ));
                }
                out.push(format!("--{}={text}", field.replace('_', "-")));
            }
            "read_only" => read_only |= value.as_bool().unwrap_or(false),
            "vfs_read_chunk_streams" => {
                return Err(refuse(
                    "mount_cached",
                    field,
                    "rclone's --vfs-read-chunk-streams is newer (1.68) than the rclone aloft \
                     installs on nodes (Debian's 1.60); drop it",
                ));
            }
            _ => {
                return Err(refuse(
                    "mount_cached",
                    field,
                    "aloft maps no rclone flag to it",
                ));
            }
        }
    }
    for (field, value) in &section("mount") {
        match field.as_str() {
            "read_only" => read_only |= value.as_bool().unwrap_or(false),
            _ => {
                return Err(refuse(
                    "mount",
                    field,
                    "it applies to Hugging Face mounts, which aloft does not make",
                ));
            }
        }
    }
    if read_only {
        out.push("--read-only".to_string());
    }
    Ok(out)
}

/// rclone's sizes: a number with an optional unit (`B`, `K`..`P`, with `i` or
/// `B`), or `off`.
fn is_size(text: &str) -> bool {
    if text == "off" {
        return true;
    }
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    !number.is_empty()
        && number.parse::<f64>().is_ok()
        && matches!(
            unit.to_ascii_uppercase().as_str(),
            "" | "B"
                | "K"
                | "M"
                | "G"
                | "T"
                | "P"
                | "KI"
                | "MI"
                | "GI"
                | "TI"
                | "PI"
                | "KB"
                | "MB"
                | "GB"
                | "TB"
                | "PB"
                | "KIB"
                | "MIB"
                | "GIB"
                | "TIB"
                | "PIB"
        )
}

/// rclone's durations: a number of seconds, or numbers with units (`1h30m`).
fn is_duration(text: &str) -> bool {
    if text.parse::<f64>().is_ok_and(|n| n >= 0.0) {
        return true;
    }
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 || rest[..digits].parse::<f64>().is_err() {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ms", "us", "ns", "s", "m", "h", "d", "w", "M", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

fn quote(value: &str) -> String {
    shlex::try_quote(value)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| "''".to_string())
}

/// A node path for `target` in bash, relative to `$HOME` for `~/x` and `x`.
fn node_target(target: &str) -> String {
    let trimmed = target.trim_end_matches('/');
    match trimmed.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", quote(rest)),
        None if trimmed == "~" => "\"$HOME\"".to_string(),
        None if trimmed.starts_with('/') => quote(trimmed),
        None => format!("\"$HOME\"/{}", quote(trimmed)),
    }
}

/// Installs rclone and FUSE 3 when missing, then the helpers the mount steps use.
const PREAMBLE: &str = r#"set -u
cd "$HOME" || exit 1
aloft_has_tools() { command -v rclone >/dev/null 2>&1 && { command -v fusermount3 >/dev/null 2>&1 || command -v fusermount >/dev/null 2>&1; }; }
if ! aloft_has_tools; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "aloft: MOUNT and MOUNT_CACHED need rclone and FUSE 3 (fusermount3) on the node, which has neither them nor apt-get to install them: install rclone (https://rclone.org/install/) and fuse3, or use mode: COPY" >&2
    exit 4
  fi
  if [ "$(id -u)" = 0 ]; then aloft_sudo=; elif sudo -n true 2>/dev/null; then aloft_sudo="sudo -n"; else
    echo "aloft: MOUNT and MOUNT_CACHED need rclone and fuse3 on the node, which lacks them, and installing them needs root (sudo without a password): install rclone and fuse3, or use mode: COPY" >&2
    exit 4
  fi
  aloft_apt() { DEBIAN_FRONTEND=noninteractive $aloft_sudo apt-get -o DPkg::Lock::Timeout=300 -q -y "$@"; }
  aloft_install_log=$(mktemp)
  if ! { aloft_apt install --no-install-recommends rclone fuse3 || { aloft_apt update && aloft_apt install --no-install-recommends rclone fuse3; }; } >"$aloft_install_log" 2>&1; then
    echo "aloft: installing rclone and fuse3 with apt-get failed:" >&2
    tail -n 5 "$aloft_install_log" >&2
    rm -f "$aloft_install_log"
    exit 4
  fi
  rm -f "$aloft_install_log"
fi
command -v mountpoint >/dev/null 2>&1 || { echo "aloft: MOUNT and MOUNT_CACHED need mountpoint (util-linux) on the node, which lacks it" >&2; exit 4; }
[ -e /dev/fuse ] || { echo "aloft: MOUNT and MOUNT_CACHED need FUSE (/dev/fuse), which this node lacks; use mode: COPY" >&2; exit 4; }
mkdir -p "$HOME/.aloft/mounts" && chmod 700 "$HOME/.aloft/mounts" || exit 1
# aloft_mount N TARGET SOURCE: waits until rclone (started just before, its
# process id in $! ) serves TARGET, and records it in ~/.aloft/mounts/N.
aloft_mount_wait() {
  local dir="$HOME/.aloft/mounts/$1" target="$2" source="$3" pid="$4" i
  echo "$pid" > "$dir/pid"
  for i in $(seq 1 300); do
    if mountpoint -q -- "$target" && grep -q 'Serving remote control on' "$dir/rclone.log" 2>/dev/null; then
      grep -o 'Serving remote control on http://127.0.0.1:[0-9]*' "$dir/rclone.log" | tail -n 1 | grep -o '[0-9]*$' > "$dir/rc_port"
      # One listing: a bucket the keys cannot read fails here, not in the job.
      ls -- "$target" >/dev/null 2>&1 && return 0
      break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "aloft: mounting $source at $target failed:" >&2
  grep -v 'Serving remote control' "$dir/rclone.log" 2>/dev/null | tail -n 3 >&2
  mountpoint -q -- "$target" && { fusermount3 -uz -- "$target" 2>/dev/null || fusermount -uz -- "$target" 2>/dev/null || umount -l -- "$target"; }
  kill "$pid" 2>/dev/null
  rm -rf "$dir"
  return 1
}
"#;

/// The bash script a new node runs to mount `mounts` (see the module docs):
/// exit status 0 once every bucket is mounted, else non-zero with an `aloft:`
/// line saying why. It holds the stores' keys (a secret: it goes on `bash -s`'s
/// standard input, never into a log); its output holds none.
pub fn script(mounts: &[NodeMount]) -> String {
    let mut text = String::from(PREAMBLE);
    if mounts.iter().any(|m| m.mode == MountMode::Cached) {
        // The wait for uploads asks rclone's remote control with curl.
        text.push_str(
            "command -v curl >/dev/null 2>&1 || { echo 'aloft: MOUNT_CACHED needs curl on the node, which lacks it' >&2; exit 4; }\n",
        );
    }
    for (n, mount) in mounts.iter().enumerate() {
        let target = node_target(&mount.target);
        let source = quote(&mount.source);
        let remote = format!("aloft{n}");
        let mode_flags = match mount.mode {
            MountMode::Plain => "--vfs-cache-mode=off",
            MountMode::Cached => "--vfs-cache-mode=full --vfs-write-back=5s",
        };
        let user_flags: Vec<String> = mount.flags.iter().map(|f| quote(f)).collect();
        text.push_str(&format!(
            "aloft_dir=\"$HOME/.aloft/mounts/{n}\"\n\
             rm -rf \"$aloft_dir\" && mkdir -p \"$aloft_dir\" {target} || exit 1\n\
             if mountpoint -q -- {target}; then echo \"aloft: \"{target}\" is already a mount point (another node on this machine, or an earlier mount); cannot mount \"{source} >&2; exit 5; fi\n\
             (cd {target} && pwd) > \"$aloft_dir/target\" || exit 1\n\
             printf '%s\\n' {source} > \"$aloft_dir/source\"\n"
        ));
        if mount.mode == MountMode::Cached {
            text.push_str(": > \"$aloft_dir/cached\"\n");
        }
        // The keys are exported in a subshell that becomes rclone (bash
        // builtins: on no command line); the node's own AWS_CA_BUNDLE (which
        // rclone's AWS SDK refuses with rclone's HTTP client) becomes --ca-cert.
        text.push_str(&format!(
            "( cd / || exit 1\n\
             aloft_ca=${{AWS_CA_BUNDLE:-}}; unset AWS_CA_BUNDLE\n\
             export {env}\n\
             exec setsid rclone mount {remote}:{path} \"$(cat \"$aloft_dir/target\")\" \
             --config=/dev/null {mode_flags} --cache-dir=\"$aloft_dir/cache\" --log-file=\"$aloft_dir/rclone.log\" --log-level=NOTICE \
             --rc --rc-addr=127.0.0.1:0 --dir-cache-time=5s ${{aloft_ca:+--ca-cert=\"$aloft_ca\"}} {user_flags} \
             </dev/null >/dev/null 2>&1 ) &\n\
             aloft_mount_wait {n} \"$(cat \"$aloft_dir/target\")\" {source} $! || exit 5\n",
            env = mount.remote.env(&remote),
            path = quote(&mount.path),
            user_flags = user_flags.join(" "),
        ));
    }
    text
}

/// Bash that waits until the cached mounts of this node (`~/.aloft/mounts/*`
/// with a `cached` marker) have no upload queued or in progress, asking each
/// rclone over its loopback remote control (`vfs/stats`); at most `limit`
/// seconds when given (else until done). Exit status 1, with an `aloft:` line,
/// when a mount's writes did not all reach the bucket.
pub fn wait_for_uploads(limit: Option<u64>) -> String {
    let limit = limit.map_or_else(|| "0".to_string(), |l| l.to_string());
    format!(
        r#"aloft_wait_uploads() {{
  local dir port stats queued active errored errored_since source started=$SECONDS bad=0
  for dir in "$HOME"/.aloft/mounts/*/; do
    [ -f "$dir/cached" ] && [ -f "$dir/rc_port" ] || continue
    port=$(cat "$dir/rc_port"); source=$(cat "$dir/source" 2>/dev/null); errored_since=
    while :; do
      if ! stats=$(curl -s -f -m 10 -X POST "http://127.0.0.1:$port/vfs/stats" 2>/dev/null); then
        echo "aloft: the mount of $source is gone before its writes were known to be uploaded" >&2; bad=1; break
      fi
      queued=$(printf '%s' "$stats" | grep -o '"uploadsQueued": *[0-9]*' | grep -o '[0-9]*$')
      active=$(printf '%s' "$stats" | grep -o '"uploadsInProgress": *[0-9]*' | grep -o '[0-9]*$')
      errored=$(printf '%s' "$stats" | grep -o '"erroredFiles": *[0-9]*' | grep -o '[0-9]*$')
      if [ "${{queued:-0}}" = 0 ] && [ "${{active:-0}}" = 0 ]; then break; fi
      # rclone retries a failed upload with a growing back-off (up to 5 min):
      # uploads that keep failing for a minute fail the job, named.
      if [ "${{errored:-0}}" != 0 ] && [ "${{active:-0}}" = 0 ]; then
        errored_since=${{errored_since:-$SECONDS}}
        if [ $((SECONDS - errored_since)) -ge 60 ]; then
          echo "aloft: $errored file(s) written to the mount of $source did not reach the bucket:" >&2
          grep 'ERROR' "$dir/rclone.log" 2>/dev/null | tail -n 1 | cut -c 1-300 >&2
          bad=1; break
        fi
      else
        errored_since=
      fi
      if [ {limit} != 0 ] && [ $((SECONDS - started)) -ge {limit} ]; then
        echo "aloft: $((queued + active)) file(s) written to the mount of $source were still uploading after {limit}s" >&2; bad=1; break
      fi
      sleep 1
    done
  done
  return $bad
}}
"#
    )
}

/// `run` followed by the wait for cached mounts' uploads ([`wait_for_uploads`]):
/// the job's exit status, or 1 when it succeeded and its writes did not all
/// reach the bucket. `run` runs in a subshell of its own, so its `exit` ends
/// only that.
pub fn run_then_wait(run: &str) -> String {
    format!(
        "(\n{run}\n)\naloft_status=$?\n{}aloft_wait_uploads || {{ [ \"$aloft_status\" = 0 ] && aloft_status=1; }}\nexit $aloft_status\n",
        wait_for_uploads(None)
    )
}

/// Bash that every node of a cluster runs at `down`: for each of its mounts,
/// waits up to a minute for pending uploads, unmounts (lazily when busy) and ends
/// the rclone process; the bookkeeping goes. Warnings on standard error.
pub fn unmount_script() -> String {
    format!(
        r#"set -u
cd "$HOME" 2>/dev/null || exit 0
[ -d "$HOME/.aloft/mounts" ] || exit 0
{}aloft_wait_uploads
for dir in "$HOME"/.aloft/mounts/*/; do
  [ -f "$dir/target" ] || continue
  target=$(cat "$dir/target")
  if mountpoint -q -- "$target"; then
    fusermount3 -u -- "$target" 2>/dev/null || fusermount -u -- "$target" 2>/dev/null || umount -- "$target" 2>/dev/null \
      || fusermount3 -uz -- "$target" 2>/dev/null || fusermount -uz -- "$target" 2>/dev/null || umount -l -- "$target" \
      || echo "aloft: could not unmount $target" >&2
  fi
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null
  mountpoint -q -- "$target" || rm -rf "$dir"
done
exit 0
"#,
        wait_for_uploads(Some(60))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_map_onto_rclone_flags_and_the_others_are_refused_by_name() {
        let config = serde_json::json!({"mount_cached": {
            "transfers": 8, "vfs_cache_max_size": "10G", "vfs_write_back": "1s",
            "vfs_cache_max_age": "1h30m", "buffer_size": "64M", "read_only": true}});
        let got = flags("~/ckpt", MountMode::Cached, None, Some(&config)).unwrap();
        assert_eq!(
            got,
            [
                "--buffer-size=64M",
                "--transfers=8",
                "--vfs-cache-max-age=1h30m",
                "--vfs-cache-max-size=10G",
                "--vfs-write-back=1s",
                "--read-only"
            ]
        );
        let refused = serde_json::json!({"mount_cached": {"vfs_read_chunk_streams": 4}});
        let err = flags("~/ckpt", MountMode::Cached, None, Some(&refused))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "file_mounts.~/ckpt: config.mount_cached.vfs_read_chunk_streams is not supported"
            ),
            "{err}"
        );
        let plain = flags("~/d", MountMode::Plain, None, Some(&config))
            .unwrap_err()
            .to_string();
        assert!(plain.contains("MOUNT_CACHED only"), "{plain}");
        let hf = serde_json::json!({"mount": {"hf_mount_args": "x"}});
        let err = flags("~/d", MountMode::Plain, None, Some(&hf))
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.mount.hf_mount_args"), "{err}");
        let bad = serde_json::json!({"mount_cached": {"vfs_write_back": "soon"}});
        let err = flags("~/d", MountMode::Cached, None, Some(&bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`soon` is not a duration"), "{err}");
        assert_eq!(
            flags("~/d", MountMode::Cached, Some("DATASET_RO"), None).unwrap(),
            ["--read-only"]
        );
    }

    #[test]
    fn the_script_holds_keys_only_in_one_commands_environment() {
        let credentials = AwsCredentials {
            access_key_id: "AKIDX".into(),
            secret_access_key: "se'cret".into(),
            session_token: None,
        };
        let remote = s3_remote(&credentials, "us-east-1", Some("http://127.0.0.1:1"));
        assert!(!format!("{remote:?}").contains("se'cret"));
        let text = script(&[NodeMount {
            target: "~/data".into(),
            source: "s3://b/p".into(),
            remote,
            path: "b/p".into(),
            mode: MountMode::Cached,
            flags: vec!["--transfers=8".into()],
        }]);
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("cret")).collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(lines[0].trim_start().starts_with("export "), "{}", lines[0]);
        let parsed = shlex::split(lines[0]).unwrap();
        assert!(parsed.contains(&"RCLONE_CONFIG_ALOFT0_SECRET_ACCESS_KEY=se'cret".to_string()));
    }

    #[test]
    fn a_node_without_rclone_or_apt_is_told_what_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["bash", "id", "mkdir", "chmod"] {
            if let Ok(path) = which(tool) {
                std::os::unix::fs::symlink(path, bin.join(tool)).unwrap();
            }
        }
        let out = std::process::Command::new(bin.join("bash"))
            .arg("-c")
            .arg(script(&[]))
            .env("HOME", dir.path())
            .env("PATH", &bin)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("install rclone (https://rclone.org/install/) and fuse3"),
            "{stderr}"
        );
    }

    #[test]
    fn a_node_with_apt_and_without_rclone_installs_it() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["bash", "mkdir", "chmod", "cat", "mktemp", "rm", "tail"] {
            if let Ok(path) = which(tool) {
                std::os::unix::fs::symlink(path, bin.join(tool)).unwrap();
            }
        }
        let script_file = |name: &str, body: &str| {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!{}/bash\n{body}", bin.display())).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        };
        // Stand-ins: root, and an apt-get that records its arguments and
        // "installs" rclone, fusermount3 and mountpoint.
        script_file("id", "echo 0");
        script_file(
            "apt-get",
            &format!(
                "echo \"$DEBIAN_FRONTEND $*\" >> \"$HOME/apt-calls\"\n\
                 for t in rclone fusermount3 mountpoint; do printf '#!{0}/bash\\n' > {0}/$t; chmod 755 {0}/$t; done\n",
                bin.display()
            ),
        );
        let out = std::process::Command::new(bin.join("bash"))
            .arg("-c")
            .arg(script(&[]))
            .env("HOME", dir.path())
            .env("PATH", &bin)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let calls = std::fs::read_to_string(dir.path().join("apt-calls")).unwrap_or_default();
        assert!(
            calls.starts_with(
                "noninteractive -o DPkg::Lock::Timeout=300 -q -y install --no-install-recommends rclone fuse3"
            ),
            "{calls}\n{stderr}"
        );
        // Then /dev/fuse decides (present here); the bookkeeping folder is made.
        if std::path::Path::new("/dev/fuse").exists() {
            assert_eq!(out.status.code(), Some(0), "{stderr}");
            assert!(dir.path().join(".aloft/mounts").is_dir());
        }
    }

    fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
        ["/usr/bin", "/bin"]
            .iter()
            .map(|d| std::path::Path::new(d).join(tool))
            .find(|p| p.exists())
            .ok_or(())
    }

    #[test]
    fn sizes_and_durations_are_rclones() {
        for ok in ["10G", "1.5Gi", "64M", "512", "off", "1TiB"] {
            assert!(is_size(ok), "{ok}");
        }
        for bad in ["", "G", "10X", "1 0G"] {
            assert!(!is_size(bad), "{bad}");
        }
        for ok in ["5s", "1h30m", "300", "100ms", "2d"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "s", "5x", "h5"] {
            assert!(!is_duration(bad), "{bad}");
        }
        assert_eq!(node_target("~/data/"), "\"$HOME\"/data");
        assert_eq!(node_target("/mnt/x"), "/mnt/x");
    }
}
