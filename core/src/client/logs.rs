//! A job's output as a caller reads it: one node's lines of a multi-node job
//! ([`LogsOptions::worker`], through [`RankFilter`]), a copy kept in the home
//! ([`Client::sync_down_logs`]), and how a job's end reads as a result
//! ([`job_end_result`], [`Client::follow_to_end`]).

use std::io::Write;
use std::path::PathBuf;

use crate::runtime::queue::JobStatus;

use super::{Client, ClientError, ClientResult};

/// What [`Client::job_logs`] prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsOptions {
    /// Only the last this many lines.
    pub tail: Option<usize>,
    /// Keep printing until the job ends (the default).
    pub follow: bool,
    /// Only the output of this node (0 is the head), without its `(rank N) ` prefix.
    pub worker: Option<u32>,
}

impl Default for LogsOptions {
    fn default() -> Self {
        LogsOptions {
            tail: None,
            follow: true,
            worker: None,
        }
    }
}

impl Client {
    /// Writes job `job`'s output on `cluster` into `out` as `options` say, and
    /// returns the job's status: how it ended when `options.follow` waited for its
    /// end (see [`job_end_result`] for what counts as a failure).
    pub fn job_logs(
        &self,
        cluster: &str,
        job: u64,
        options: &LogsOptions,
        out: &mut dyn Write,
    ) -> ClientResult<JobStatus> {
        match options.worker {
            Some(rank) => {
                let mut only = RankFilter::new(rank, out);
                self.logs_and_status(cluster, job, options.tail, options.follow, &mut only)
            }
            None => self.logs_and_status(cluster, job, options.tail, options.follow, out),
        }
    }

    /// Copies job `job`'s whole log on `cluster`, as it is now, to
    /// `HOME/logs/CLUSTER/job-ID.log`, and returns that path.
    pub fn sync_down_logs(&self, cluster: &str, job: u64) -> ClientResult<PathBuf> {
        let dir = self.home.join("logs").join(cluster);
        std::fs::create_dir_all(&dir).map_err(ClientError::other)?;
        let path = dir.join(format!("job-{job}.log"));
        let mut file = std::fs::File::create(&path)
            .map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))?;
        self.logs(cluster, job, None, false, &mut file)?;
        Ok(path)
    }

    /// Streams job `job`'s output on `cluster` into `out` until it ends ([`Client::follow`]);
    /// a job that did not succeed is [`ClientError::JobFailed`].
    pub fn follow_to_end(&self, cluster: &str, job: u64, out: &mut dyn Write) -> ClientResult<()> {
        match self.follow(cluster, job, out)? {
            JobStatus::Succeeded => Ok(()),
            status => Err(ClientError::JobFailed {
                job,
                status: status.to_string(),
            }),
        }
    }
}

/// SkyPilot's reading of a job's status as seen by its logs: a job that ended
/// FAILED, FAILED_SETUP or CANCELLED is [`ClientError::JobFailed`]; one that
/// succeeded or is still going is not a failure.
pub fn job_end_result(job: u64, status: JobStatus) -> ClientResult<()> {
    if status.is_terminal() && status != JobStatus::Succeeded {
        return Err(ClientError::JobFailed {
            job,
            status: status.to_string(),
        });
    }
    Ok(())
}

/// A writer that passes on only the lines of one node of a multi-node job's
/// output (`(rank N) ...`), without that prefix; a line is passed on once its
/// newline arrives.
pub struct RankFilter<W: Write> {
    prefix: String,
    pending: Vec<u8>,
    out: W,
}

impl<W: Write> RankFilter<W> {
    /// A filter that writes node `rank`'s lines into `out`.
    pub fn new(rank: u32, out: W) -> Self {
        RankFilter {
            prefix: format!("(rank {rank}) "),
            pending: Vec::new(),
            out,
        }
    }
}

impl<W: Write> Write for RankFilter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if line.starts_with(self.prefix.as_bytes()) {
                self.out.write_all(&line[self.prefix.len()..])?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rank_filter_keeps_one_nodes_lines_across_split_writes() {
        let mut out = Vec::new();
        let mut filter = RankFilter::new(1, &mut out);
        filter.write_all(b"(rank 0) zero\n(rank 1) o").unwrap();
        filter
            .write_all(b"ne\n(rank 10) ten\nplain\n(rank 1) again")
            .unwrap();
        filter.flush().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "one\n");
    }

    #[test]
    fn only_a_job_that_ended_badly_is_a_failure() {
        for ok in [JobStatus::Succeeded, JobStatus::Running, JobStatus::Pending] {
            assert!(job_end_result(3, ok).is_ok(), "{ok}");
        }
        for bad in [
            JobStatus::Failed,
            JobStatus::FailedSetup,
            JobStatus::Cancelled,
        ] {
            let err = job_end_result(3, bad).unwrap_err();
            assert_eq!(err.class(), super::super::ErrorClass::JobFailed);
            assert_eq!(err.to_string(), format!("job 3 ended {bad}"));
        }
    }

    #[test]
    fn logs_follow_by_default() {
        assert!(LogsOptions::default().follow);
    }
}
