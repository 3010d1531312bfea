//! [`JobOutputs`]: what each task of a managed job printed, kept by the controller
//! before it tears the task's cluster down. `jobs logs` of a job whose cluster is
//! gone reads it from here, and a follower whose stream was cut by the teardown
//! takes the lines it missed from here.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::JobsError;
use super::record::{JobId, ManagedJob};

/// One run of a task: a recovery or a restart on error makes a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskRun {
    /// The task (0-based, pipeline order).
    pub task: u32,
    /// The job's recovery count during the run.
    pub recoveries: u32,
    /// The job's restarts on error during the run.
    pub restarts: u32,
}

impl TaskRun {
    /// The run job `job` is on now.
    pub fn of(job: &ManagedJob) -> TaskRun {
        TaskRun {
            task: job.task_index,
            recoveries: job.recovery_count,
            restarts: job.restarts_on_errors,
        }
    }

    fn file_name(&self) -> String {
        format!("{}-{}-{}.log", self.task, self.recoveries, self.restarts)
    }

    fn parse(name: &str) -> Option<TaskRun> {
        let mut parts = name.strip_suffix(".log")?.split('-');
        let run = TaskRun {
            task: parts.next()?.parse().ok()?,
            recoveries: parts.next()?.parse().ok()?,
            restarts: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(run)
    }
}

/// The saved outputs: one folder per job beside the jobs database, one file per
/// task run in it (`job-outputs/<id>/<task>-<recoveries>-<restarts>.log`).
#[derive(Debug, Clone)]
pub struct JobOutputs {
    dir: PathBuf,
}

impl JobOutputs {
    /// The store beside the jobs database at `db_path`.
    pub fn beside(db_path: &Path) -> JobOutputs {
        let parent = db_path.parent().unwrap_or(Path::new("."));
        JobOutputs {
            dir: parent.join("job-outputs"),
        }
    }

    /// Where the output of `run` of job `id` is kept.
    pub fn path(&self, id: JobId, run: TaskRun) -> PathBuf {
        self.dir.join(id.to_string()).join(run.file_name())
    }

    /// Saves what `write` produces as the output of `run` of job `id`. The file
    /// replaces an earlier one only once `write` succeeded, so a reader sees a
    /// whole output or the previous one, never a part.
    pub fn save(
        &self,
        id: JobId,
        run: TaskRun,
        write: impl FnOnce(&mut dyn Write) -> Result<(), String>,
    ) -> Result<(), String> {
        let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
        let path = self.path(id, run);
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let partial = path.with_extension("log.partial");
        let mut file = File::create(&partial).map_err(|e| io(&partial, e))?;
        let written = write(&mut file).and_then(|()| file.sync_all().map_err(|e| io(&partial, e)));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        std::fs::rename(&partial, &path).map_err(|e| io(&path, e))
    }

    /// Copies the saved output of `run` of job `id` from byte `from` on into
    /// `out`; false when none was saved.
    pub fn copy(
        &self,
        id: JobId,
        run: TaskRun,
        from: u64,
        out: &mut dyn Write,
    ) -> Result<bool, JobsError> {
        let path = self.path(id, run);
        let io = |source| JobsError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io(e)),
        };
        file.seek(SeekFrom::Start(from)).map_err(io)?;
        std::io::copy(&mut file, out).map_err(|source| JobsError::Io {
            path: format!("{} (to the output)", path.display()),
            source,
        })?;
        Ok(true)
    }

    /// Copies the output of the last saved run of each of tasks `0..=last_task`
    /// of job `id` into `out`, in task order; false when none was saved.
    pub fn copy_last_runs(
        &self,
        id: JobId,
        last_task: u32,
        out: &mut dyn Write,
    ) -> Result<bool, JobsError> {
        let dir = self.dir.join(id.to_string());
        let mut runs: Vec<TaskRun> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| TaskRun::parse(e.file_name().to_str()?))
                .filter(|r| r.task <= last_task)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(JobsError::Io {
                    path: dir.display().to_string(),
                    source,
                });
            }
        };
        runs.sort();
        let mut any = false;
        for (i, run) in runs.iter().enumerate() {
            let superseded = runs.get(i + 1).is_some_and(|next| next.task == run.task);
            if !superseded {
                any |= self.copy(id, *run, 0, out)?;
            }
        }
        Ok(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(task: u32, recoveries: u32, restarts: u32) -> TaskRun {
        TaskRun {
            task,
            recoveries,
            restarts,
        }
    }

    fn save(outputs: &JobOutputs, r: TaskRun, text: &str) {
        outputs
            .save(7, r, |w| {
                w.write_all(text.as_bytes()).map_err(|e| e.to_string())
            })
            .unwrap();
    }

    #[test]
    fn a_failed_save_keeps_the_previous_output_and_copy_starts_at_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = JobOutputs::beside(&dir.path().join("jobs.db"));
        let mut out = Vec::new();
        assert!(!outputs.copy(7, run(0, 0, 0), 0, &mut out).unwrap());

        save(&outputs, run(0, 0, 0), "one\ntwo\n");
        let failed = outputs.save(7, run(0, 0, 0), |w| {
            w.write_all(b"half").map_err(|e| e.to_string())?;
            Err("cluster unreachable".into())
        });
        assert_eq!(failed.unwrap_err(), "cluster unreachable");

        assert!(outputs.copy(7, run(0, 0, 0), 4, &mut out).unwrap());
        assert_eq!(out, b"two\n");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("job-outputs/7"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["0-0-0.log"], "no partial file is left behind");
    }

    #[test]
    fn the_last_runs_are_each_tasks_latest_in_task_order() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = JobOutputs::beside(&dir.path().join("jobs.db"));
        save(&outputs, run(1, 2, 0), "task 1\n");
        save(&outputs, run(0, 0, 1), "task 0 restart 1\n");
        save(&outputs, run(0, 0, 0), "task 0 first\n");
        save(&outputs, run(0, 10, 0), "task 0 recovery 10\n");
        save(&outputs, run(2, 2, 0), "task 2\n");
        let mut out = Vec::new();
        assert!(outputs.copy_last_runs(7, 1, &mut out).unwrap());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "task 0 recovery 10\ntask 1\n"
        );
        assert!(!outputs.copy_last_runs(8, 3, &mut Vec::new()).unwrap());
    }
}
