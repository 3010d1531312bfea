//! Bucket copies done by the nodes themselves (COPY mode): the launcher lists the
//! bucket prefix and turns every object into a [`SignedGet`] (an S3/R2 pre-signed
//! URL, a GCS V4 signed URL, or with GCS user credentials the object's URL and a
//! short-lived token), and each node runs one bash script
//! ([`script`]) that downloads the objects with `curl`, several at once and with
//! retries, then checks every file's size and, where the store states a plain
//! MD5, its digest. The store's credentials never leave the launcher, and the
//! objects' bytes never pass through it.
//!
//! The script reaches the node on the standard input of `bash -s` (as every
//! script aloft runs on a node), and hands the URLs to `curl --config -` through a
//! here-document: no URL or token is on any command line, in any log or in state.
//! A node needs `bash`, `curl` (7.71 or newer: `--parallel`,
//! `--retry-all-errors`) and, for the digest check, `md5sum` (skipped when
//! missing).

use std::time::Duration;

use super::{ObjectStore, SignedGet, StorageError};

/// How long a pre-signed URL (S3, R2) stays valid; the nodes fetch right away.
pub const URL_LIFETIME: Duration = Duration::from_secs(3600);

/// How many objects one node downloads at once.
pub const PARALLEL: u32 = 16;

/// One object a node downloads.
#[derive(Debug, Clone)]
pub struct FetchObject {
    /// Where it lands, relative to the mount's target (empty: the target is
    /// the file itself).
    pub path: String,
    /// `s3://bucket/key`, for messages.
    pub source: String,
    /// How to GET it (a secret).
    pub get: SignedGet,
    /// Its size in bytes.
    pub size: u64,
    /// Its MD5 (hex), where the store states a plain one.
    pub md5: Option<String>,
}

/// One bucket file mount, as the nodes fetch it.
#[derive(Debug, Clone)]
pub struct NodeFetch {
    /// The mount's target on the node (`~/data`, `/data`, `data`).
    pub target: String,
    /// The bucket URL (`s3://bucket/prefix`), for messages.
    pub source: String,
    /// The objects.
    pub objects: Vec<FetchObject>,
}

impl NodeFetch {
    /// The bytes the nodes download, each.
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }
}

/// Lists `prefix` of `bucket` and signs a GET of each object for `target`:
/// the one object when `prefix` names one (the target is then that file), else
/// every object under `prefix/` (the target is a folder). Keys that are not
/// plain relative paths (`..`, empty parts, control characters) are skipped, as
/// folder markers are.
pub fn plan(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
    target: &str,
) -> Result<NodeFetch, StorageError> {
    let objects = store.list(bucket, prefix).map_err(|err| {
        if err.is_no_such_bucket() {
            StorageError::NoSuchBucket(format!(
                "{} does not exist (aloft makes a bucket only for a storage object with a local \
                 `source`); create it, or give the storage object a `source` to upload",
                store.url(bucket, "")
            ))
        } else {
            err
        }
    })?;
    let source = store.url(bucket, prefix);
    let entry = |path: String, object: &super::ObjectInfo| -> Result<FetchObject, StorageError> {
        Ok(FetchObject {
            path,
            source: store.url(bucket, &object.key),
            get: store.signed_get(bucket, &object.key, URL_LIFETIME)?,
            size: object.size,
            md5: object.md5.clone(),
        })
    };
    if let Some(single) = objects
        .iter()
        .find(|o| o.key == prefix && !prefix.is_empty())
    {
        return Ok(NodeFetch {
            target: target.to_string(),
            source,
            objects: vec![entry(String::new(), single)?],
        });
    }
    let folder_prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let mut fetched = Vec::new();
    for object in objects.iter().filter(|o| o.key.starts_with(&folder_prefix)) {
        let relative = &object.key[folder_prefix.len()..];
        // Keys are not paths: refuse anything that would land outside the folder.
        if relative.is_empty()
            || relative.ends_with('/')
            || relative.chars().any(char::is_control)
            || relative
                .split('/')
                .any(|part| part == ".." || part == "." || part.is_empty())
        {
            continue;
        }
        fetched.push(entry(relative.to_string(), object)?);
    }
    Ok(NodeFetch {
        target: target.to_string(),
        source,
        objects: fetched,
    })
}

/// Shell-quotes `value` for bash.
fn quote(value: &str) -> String {
    shlex::try_quote(value)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| "''".to_string())
}

/// `value` as a double-quoted string of a curl config file.
fn curl_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A node-side path for `target` (the script runs in the node user's home):
/// `~/x` and `x` relative to it, an absolute path as it is.
fn node_path(target: &str) -> String {
    let target = target.strip_prefix("~/").unwrap_or(target);
    if target == "~" {
        ".".to_string()
    } else {
        target.trim_end_matches('/').to_string()
    }
}

/// The start of every fetch script: `aloft_verify` reads a check list on its
/// standard input (`size<TAB>md5 or -<TAB>file<TAB>object`) and names each file
/// that is missing, has another size, or (where `md5sum` exists) another MD5;
/// three processes per list (`stat`, `md5sum`, `awk`), whatever its length.
const PREAMBLE: &str = r#"set -u
cd "$HOME" || exit 1
command -v curl >/dev/null 2>&1 || { echo 'aloft: copying buckets on the node needs curl, which this node lacks' >&2; exit 3; }
aloft_bad=0
aloft_verify() {
  local list
  list=$(cat)
  awk -F'\t' '
    FILENAME == ARGV[1] { size[$2] = $1; next }
    FILENAME == ARGV[2] { sum[substr($0, 35)] = substr($0, 1, 32); next }
    NF < 4 { next }
    {
      if (!($3 in size)) { print "aloft: " $4 " did not arrive" > "/dev/stderr"; bad = 1; next }
      if (size[$3] != $1) { print "aloft: " $4 " arrived with " size[$3] " bytes of " $1 > "/dev/stderr"; bad = 1; next }
      if ($2 != "-" && ($3 in sum) && sum[$3] != $2) { print "aloft: " $4 " arrived with another MD5 than the store'"'"'s" > "/dev/stderr"; bad = 1 }
    }
    END { exit bad }
  ' <(printf '%s\n' "$list" | cut -f3 | xargs -d '\n' stat --printf '%s\t%n\n' -- 2>/dev/null) \
    <(command -v md5sum >/dev/null 2>&1 && printf '%s\n' "$list" | awk -F'\t' '$2 != "-" { print $3 }' | xargs -r -d '\n' md5sum -- 2>/dev/null) \
    <(printf '%s\n' "$list")
}
"#;

/// The bash script a node runs to fetch `fetches` (see the module docs): exit
/// status 0 when every file is there with its size (and MD5), else non-zero
/// with one `aloft:` line per problem. Its output never holds a URL or token.
pub fn script(fetches: &[NodeFetch]) -> String {
    let mut text = String::from(PREAMBLE);
    for (n, fetch) in fetches.iter().enumerate() {
        let target = node_path(&fetch.target);
        let file = |object: &FetchObject| {
            if object.path.is_empty() {
                target.clone()
            } else {
                format!("{target}/{}", object.path)
            }
        };
        let single = fetch.objects.len() == 1 && fetch.objects[0].path.is_empty();
        if single {
            if let Some(parent) = std::path::Path::new(&target).parent()
                && !parent.as_os_str().is_empty()
            {
                text.push_str(&format!("mkdir -p {}\n", quote(&parent.to_string_lossy())));
            }
        } else {
            text.push_str(&format!("mkdir -p {}\n", quote(&target)));
        }
        // Empty objects need no request (and curl makes no file for an empty body).
        for object in fetch.objects.iter().filter(|o| o.size == 0) {
            let path = file(object);
            text.push_str(&format!(
                "mkdir -p \"$(dirname {0})\" && : > {0}\n",
                quote(&path)
            ));
        }
        let downloads: Vec<&FetchObject> = fetch.objects.iter().filter(|o| o.size > 0).collect();
        if !downloads.is_empty() {
            // URLs go in on curl's standard input, never its arguments; what curl
            // prints is stripped of anything that looks like a URL.
            let marker = format!("ALOFT_FETCH_{n}_END");
            text.push_str(&format!(
                "curl --silent --no-progress-meter --show-error --fail --retry 5 --retry-all-errors --retry-delay 1 \
                 --connect-timeout 30 --create-dirs --parallel --parallel-max {PARALLEL} --config - \
                 2>&1 >/dev/null <<'{marker}' | sed -E 's#[A-Za-z][A-Za-z0-9+.-]*://[^[:space:]\"]*#<url>#g' >&2\n"
            ));
            let mut header_set = None;
            for object in &downloads {
                if let Some((name, value)) = &object.get.header
                    && header_set != Some((name, value))
                {
                    text.push_str(&format!(
                        "header = {}\n",
                        curl_string(&format!("{name}: {value}"))
                    ));
                    header_set = Some((name, value));
                }
                text.push_str(&format!(
                    "url = {}\noutput = {}\n",
                    curl_string(&object.get.url),
                    curl_string(&file(object))
                ));
            }
            text.push_str(&marker);
            // A transfer curl gave up on fails the fetch even if an older file of
            // the same size is there (the check below names the missing ones).
            text.push_str("\n[ \"${PIPESTATUS[0]}\" = 0 ] || aloft_bad=1\n");
        }
        if fetch.objects.is_empty() {
            continue;
        }
        // The check list: size, MD5 (or `-`), the file, the object (messages).
        let list = format!("ALOFT_LIST_{n}_END");
        text.push_str(&format!("aloft_verify <<'{list}' || aloft_bad=1\n"));
        for object in &fetch.objects {
            let md5 = object
                .md5
                .as_deref()
                // md5sum escapes names with a backslash: those go unchecked.
                .filter(|_| !file(object).contains('\\'))
                .unwrap_or("-");
            text.push_str(&format!(
                "{}\t{md5}\t{}\t{}\n",
                object.size,
                file(object),
                object.source
            ));
        }
        text.push_str(&list);
        text.push('\n');
    }
    text.push_str("exit $aloft_bad\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(path: &str, url: &str, body: &[u8], md5: Option<&str>) -> FetchObject {
        FetchObject {
            path: path.into(),
            source: format!("s3://b/{path}"),
            get: SignedGet {
                url: url.into(),
                header: None,
            },
            size: body.len() as u64,
            md5: md5.map(str::to_string),
        }
    }

    #[test]
    fn curl_strings_escape_quotes_and_backslashes() {
        assert_eq!(curl_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(node_path("~/data/"), "data");
        assert_eq!(node_path("/abs/x"), "/abs/x");
    }

    #[test]
    fn the_script_fetches_with_files_and_reports_what_is_missing_without_urls() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("a.txt"), "alpha").unwrap();
        let url = |name: &str| format!("file://{}/{name}?X-Amz-Signature=SECRETSIG", src.display());
        let mut fetches = vec![
            NodeFetch {
                target: "~/data".into(),
                source: "s3://b/train".into(),
                objects: vec![
                    object(
                        "sub/a.txt",
                        &url("a.txt"),
                        b"alpha",
                        // md5("alpha")
                        Some("2c1743a391305fbf367df8e4f069f9f9"),
                    ),
                    object("empty", &url("none"), b"", None),
                ],
            },
            NodeFetch {
                target: "~/one.txt".into(),
                source: "s3://b/a.txt".into(),
                objects: vec![object("", &url("a.txt"), b"alpha", None)],
            },
        ];
        fetches.push(NodeFetch {
            target: "~/empty-prefix".into(),
            source: "s3://b/nothing".into(),
            objects: Vec::new(),
        });
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let run = |script: &str| {
            let out = std::process::Command::new("bash")
                .arg("-s")
                .env("HOME", &home)
                .current_dir(&home)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    use std::io::Write as _;
                    if let Some(mut stdin) = child.stdin.take() {
                        stdin.write_all(script.as_bytes())?;
                    }
                    child.wait_with_output()
                })
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        };
        let (code, output) = run(&script(&fetches));
        assert_eq!(code, 0, "{output}");
        assert_eq!(
            std::fs::read_to_string(home.join("data/sub/a.txt")).unwrap(),
            "alpha"
        );
        assert_eq!(std::fs::read(home.join("data/empty")).unwrap(), b"");
        assert_eq!(
            std::fs::read_to_string(home.join("one.txt")).unwrap(),
            "alpha"
        );
        assert!(
            home.join("empty-prefix").is_dir(),
            "an empty prefix is an empty folder"
        );

        // A file the store no longer has, and one whose MD5 differs.
        let broken = vec![NodeFetch {
            target: "~/other".into(),
            source: "s3://b/x".into(),
            objects: vec![
                object("gone", &url("gone"), b"12345", None),
                object("a.txt", &url("a.txt"), b"alpha", Some(&"0".repeat(32))),
                object("short", &url("a.txt"), b"alphabet", None),
            ],
        }];
        let (code, output) = run(&script(&broken));
        assert_ne!(code, 0);
        assert!(
            output.contains("aloft: s3://b/gone did not arrive"),
            "{output}"
        );
        assert!(
            output.contains("aloft: s3://b/a.txt arrived with another MD5"),
            "{output}"
        );
        assert!(
            output.contains("aloft: s3://b/short arrived with 5 bytes of 8"),
            "{output}"
        );
        assert!(!output.contains("SECRETSIG"), "{output}");

        // An older file of the right size does not hide a GET that failed.
        std::fs::create_dir_all(home.join("stale")).unwrap();
        std::fs::write(home.join("stale/s.txt"), "12345").unwrap();
        let stale = vec![NodeFetch {
            target: "~/stale".into(),
            source: "s3://b/stale".into(),
            objects: vec![object("s.txt", &url("gone"), b"12345", None)],
        }];
        let (code, output) = run(&script(&stale));
        assert_ne!(code, 0, "{output}");
    }
}
