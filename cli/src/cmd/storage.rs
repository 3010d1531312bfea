//! Buckets: `aloft storage ls|delete`, and getting a task's bucket mounts ready
//! before a launch (S3 only today).
//!
//! A task's `s3://` file mounts are downloaded into a staging folder under
//! `$ALOFT_HOME/cache/storage` and synced to the nodes like local folders (COPY).
//! A storage object with `store: s3` gets its bucket created when missing (and
//! recorded, so `storage ls` shows it) and its local `source` uploaded; in COPY
//! mode the nodes receive the files, in MOUNT mode `setup` first mounts the bucket
//! with `mount-s3` or `goofys` and fails clearly when the node has neither.

use std::path::Path;
use std::sync::Arc;

use aloft::plugin::{CredentialSource, StandardCredentials};
use aloft::runtime::agent::unix_now;
use aloft::state::StorageRecord;
use aloft::storage::{self, AwsCredentials, S3};
use aloft::task::{FileMount, StorageMode, StorageSpec, Task};

use crate::cmd::cluster_access;
use crate::config::{Config, aloft_home};
use crate::exit::{CliError, CliResult};
use crate::render;

/// Flags of `aloft storage`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Buckets aloft created.
    Ls {
        /// `table` or `json`.
        #[arg(short, long, default_value = "table")]
        output: String,
    },
    /// Delete buckets (every object in them) and forget them.
    Delete {
        /// Bucket names.
        names: Vec<String>,
        /// Every bucket aloft created.
        #[arg(short, long)]
        all: bool,
        /// Do not ask (this command never prompts; accepted for scripts).
        #[arg(short, long)]
        yes: bool,
    },
}

fn failure(err: impl std::fmt::Display) -> CliError {
    CliError::failure(err.to_string())
}

/// An S3 client from the user's config (`providers.aws.endpoint`,
/// `providers.aws.storage_region`) and the credentials aloft lends providers.
fn s3_client(config: &Config) -> Result<S3, CliError> {
    let setting = |name: &str| {
        config
            .providers
            .get("aws")
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let source: Arc<dyn CredentialSource> = Arc::new(StandardCredentials);
    let (Some(access_key_id), Some(secret_access_key)) = (
        source.get("AWS_ACCESS_KEY_ID"),
        source.get("AWS_SECRET_ACCESS_KEY"),
    ) else {
        return Err(CliError::failure(
            "no AWS credentials for S3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials",
        ));
    };
    let credentials = AwsCredentials {
        access_key_id,
        secret_access_key,
        session_token: source.get("AWS_SESSION_TOKEN"),
    };
    let region = setting("storage_region").unwrap_or_else(|| "us-east-1".into());
    S3::new(&region, setting("endpoint"), credentials).map_err(failure)
}

/// Runs `aloft storage`.
pub fn run(args: Args) -> CliResult {
    let state = cluster_access::state()?;
    match args.command {
        Command::Ls { output } => {
            let buckets = state.storage().map_err(failure)?;
            if output == "json" {
                return render::print_json(&buckets);
            }
            if buckets.is_empty() {
                eprintln!("No buckets created by aloft.");
                return Ok(());
            }
            let mut table = render::table(["NAME", "STORE", "REGION", "SOURCE", "CREATED"]);
            for b in &buckets {
                table.add_row(vec![
                    b.name.clone(),
                    b.store.clone(),
                    b.region.clone(),
                    b.source.clone().unwrap_or_else(|| "-".into()),
                    b.created_at.to_string(),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        Command::Delete { names, all, yes } => {
            let _ = yes;
            let known = state.storage().map_err(failure)?;
            let names: Vec<String> = if all {
                known.iter().map(|b| b.name.clone()).collect()
            } else if names.is_empty() {
                return Err(CliError::failure("name the buckets, or pass --all"));
            } else {
                names
            };
            let home = aloft_home();
            let s3 = s3_client(&Config::load(&home)?)?;
            for name in names {
                match storage::delete_bucket(&s3, &name) {
                    Ok(n) => eprintln!("Deleted bucket `{name}` ({n} object(s))."),
                    Err(storage::StorageError::S3 { code, .. }) if code == "NoSuchBucket" => {
                        eprintln!("Bucket `{name}` was already gone.");
                    }
                    Err(err) => return Err(failure(err)),
                }
                state.remove_storage(&name).map_err(failure)?;
            }
            Ok(())
        }
    }
}

/// Deletes the buckets that were made for `cluster` only (`persistent: false`);
/// a failure is reported, never fatal: the cluster is gone either way, and
/// `aloft storage delete` can finish the job.
pub fn delete_cluster_buckets(cluster: &str) {
    let Ok(state) = cluster_access::state() else {
        return;
    };
    let owned: Vec<StorageRecord> = state
        .storage()
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b.cluster.as_deref() == Some(cluster))
        .collect();
    if owned.is_empty() {
        return;
    }
    let s3 = match Config::load(&aloft_home()).and_then(|c| s3_client(&c)) {
        Ok(s3) => s3,
        Err(err) => {
            eprintln!("warning: buckets of `{cluster}` were not deleted: {err}");
            return;
        }
    };
    for bucket in owned {
        match storage::delete_bucket(&s3, &bucket.name) {
            Ok(_) => {
                let _ = state.remove_storage(&bucket.name);
                eprintln!("Deleted bucket `{}` (persistent: false).", bucket.name);
            }
            Err(err) => eprintln!(
                "warning: bucket `{}` was not deleted ({err}); `aloft storage delete {}` retries",
                bucket.name, bucket.name
            ),
        }
    }
}

/// The task with its bucket mounts made local (see the module docs); a task
/// without buckets comes back unchanged and nothing is contacted.
pub fn prepare(
    task: &Task,
    task_dir: &Path,
    cluster: &str,
    progress: &dyn Fn(&str),
) -> Result<Task, CliError> {
    let needs_buckets = task.file_mounts.values().any(|m| match m {
        FileMount::Path(p) => p.contains("://"),
        FileMount::Storage(_) => true,
    });
    if !needs_buckets {
        return Ok(task.clone());
    }
    let home = aloft_home();
    let s3 = s3_client(&Config::load(&home)?)?;
    let state = cluster_access::state()?;
    let staging_root = home.join("cache/storage");
    let mut task = task.clone();
    let mut mounts_script = String::new();
    for (target, mount) in task.file_mounts.iter_mut() {
        let staging = staging_root
            .join(aloft::runtime::agent::unix_now().to_string())
            .join(
                target
                    .trim_start_matches("~/")
                    .trim_start_matches('/')
                    .replace('/', "_"),
            );
        match mount.clone() {
            FileMount::Path(url) if url.contains("://") => {
                let (bucket, prefix) = storage::parse_s3_url(&url).map_err(failure)?;
                progress(&format!("  downloading {url} for {target}"));
                let local = storage::download(&s3, &bucket, &prefix, &staging).map_err(failure)?;
                *mount = FileMount::Path(local.display().to_string());
            }
            FileMount::Path(_) => {}
            FileMount::Storage(spec) => {
                let (bucket, prefix) = bucket_of(&spec, target)?;
                let local_sources: Vec<&String> =
                    spec.source.iter().filter(|s| !s.contains("://")).collect();
                if !local_sources.is_empty() {
                    if !s3.bucket_exists(&bucket).map_err(failure)? {
                        progress(&format!("  creating bucket {bucket}"));
                        s3.create_bucket(&bucket).map_err(failure)?;
                        state
                            .add_storage(&StorageRecord {
                                name: bucket.clone(),
                                store: "S3".into(),
                                region: s3.region().to_string(),
                                source: Some(spec.source.join(", ")),
                                created_at: unix_now(),
                                cluster: (spec.persistent == Some(false))
                                    .then(|| cluster.to_string()),
                            })
                            .map_err(failure)?;
                    }
                    for source in &local_sources {
                        let dir = if Path::new(source).is_absolute() {
                            Path::new(source).to_path_buf()
                        } else {
                            task_dir.join(source)
                        };
                        let n =
                            storage::upload_dir(&s3, &bucket, &dir, &prefix).map_err(failure)?;
                        progress(&format!(
                            "  uploaded {n} file(s) from {source} to s3://{bucket}"
                        ));
                    }
                }
                match spec.mode.unwrap_or(StorageMode::Mount) {
                    StorageMode::Copy => {
                        progress(&format!("  downloading s3://{bucket} for {target}"));
                        let local =
                            storage::download(&s3, &bucket, &prefix, &staging).map_err(failure)?;
                        *mount = FileMount::Path(local.display().to_string());
                    }
                    StorageMode::Mount | StorageMode::MountCached => {
                        mounts_script.push_str(&mount_command(&bucket, target));
                        *mount = FileMount::Path(String::new());
                    }
                }
            }
        }
    }
    task.file_mounts
        .retain(|_, m| !matches!(m, FileMount::Path(p) if p.is_empty()));
    if !mounts_script.is_empty() {
        task.setup = Some(match task.setup.take() {
            Some(setup) => format!("{mounts_script}{setup}"),
            None => mounts_script,
        });
    }
    Ok(task)
}

fn bucket_of(spec: &StorageSpec, target: &str) -> Result<(String, String), CliError> {
    if let Some(store) = &spec.store
        && store != "S3"
    {
        return Err(CliError::failure(format!(
            "file mount {target}: store {store} is not supported yet (S3 is)"
        )));
    }
    if let Some(url) = spec.source.iter().find(|s| s.contains("://")) {
        return storage::parse_s3_url(url).map_err(failure);
    }
    spec.name
        .clone()
        .map(|n| (n, String::new()))
        .ok_or_else(|| {
            CliError::failure(format!(
                "file mount {target}: a storage object needs a `name`"
            ))
        })
}

/// Shell that mounts `bucket` at `target` with the first FUSE tool the node has.
fn mount_command(bucket: &str, target: &str) -> String {
    let quote = |s: &str| {
        shlex::try_quote(s)
            .map(|q| q.into_owned())
            .unwrap_or_default()
    };
    let target = match target.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", quote(rest)),
        None => quote(target),
    };
    let bucket = quote(bucket);
    format!(
        "mkdir -p {target}\n\
         if command -v mount-s3 >/dev/null 2>&1; then mount-s3 {bucket} {target} || exit 1\n\
         elif command -v goofys >/dev/null 2>&1; then goofys {bucket} {target} || exit 1\n\
         else echo \"aloft: mounting s3://{bucket} needs mount-s3 or goofys on the node; use mode: COPY\" >&2; exit 1; fi\n"
    )
}

#[cfg(test)]
mod tests {
    use super::mount_command;
    use std::process::Command;

    /// Runs the mount step with bash, `HOME` in a temp folder and `PATH` holding
    /// only `bin` (plus the basics it needs).
    fn run(script: &str, home: &std::path::Path, bin: &std::path::Path) -> (i32, String) {
        let out = Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("HOME", home)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn mounting_without_a_fuse_tool_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let (code, stderr) = run(&mount_command("data", "~/mnt"), dir.path(), &bin);
        assert_eq!(code, 1);
        assert!(
            stderr.contains(
                "mounting s3://data needs mount-s3 or goofys on the node; use mode: COPY"
            ),
            "{stderr}"
        );
        assert!(
            dir.path().join("mnt").is_dir(),
            "the mount point is made first"
        );
    }

    #[test]
    fn mount_s3_is_called_with_the_bucket_and_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        // Stands in for the FUSE tool, which cannot run here: it records its arguments.
        let tool = bin.join("mount-s3");
        std::fs::write(&tool, "#!/bin/sh\necho \"$@\" > \"$HOME/called\"\n").unwrap();
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let (code, stderr) = run(&mount_command("my-data", "~/a dir"), dir.path(), &bin);
        assert_eq!(code, 0, "{stderr}");
        let called = std::fs::read_to_string(dir.path().join("called")).unwrap();
        assert_eq!(
            called.trim(),
            format!("my-data {}/a dir", dir.path().display())
        );
    }
}
