//! What `jobs logs --controller` shows: the controller processes' own lines (started,
//! idle, errors) and every job's events from the database, in time order, each
//! with its time in UTC (`2026-12-06 22:10:03`).

use super::record::{JobEvent, JobId};
use crate::clock::utc;

/// The controller's line when it starts (written to its log by the role).
pub fn started_line(at: i64, pid: u32) -> String {
    format!("{} jobs controller {pid} started", utc(at))
}

/// The controller's line when it exits idle.
pub fn idle_line(at: i64, pid: u32) -> String {
    format!("{} jobs controller {pid} idle, exiting", utc(at))
}

/// One job event as a log line: `TIME job ID[ task N]: KIND: MESSAGE`.
pub fn event_line(id: JobId, event: &JobEvent) -> String {
    let task = if event.task_index > 0 {
        format!(" task {}", event.task_index)
    } else {
        String::new()
    };
    let mut line = format!("{} job {id}{task}: {}", utc(event.at), event.kind);
    if !event.message.is_empty() {
        line.push_str(": ");
        line.push_str(&event.message);
    }
    line
}

/// The controller's log file `log` and the jobs' `events` as one text, oldest first.
///
/// A line of the log that starts with a time (as the controller writes them) sorts
/// by that time; lines without one (an error a process printed) stay after the
/// line before them. Lines of older controllers (`jobs controller N started at
/// 1796568566`) get their time written out. At the same second, the log's lines
/// come before the events.
pub fn render(log: &str, events: &[(JobId, JobEvent)]) -> String {
    // (time text, source: 0 log / 1 event, order, lines)
    let mut chunks: Vec<(String, u8, usize, Vec<String>)> = Vec::new();
    for line in log.lines() {
        let line = legacy(line).unwrap_or_else(|| line.to_string());
        match leading_time(&line) {
            Some(at) => chunks.push((at.to_string(), 0, chunks.len(), vec![line])),
            None => match chunks.last_mut() {
                Some(chunk) => chunk.3.push(line),
                None => chunks.push((String::new(), 0, 0, vec![line])),
            },
        }
    }
    for (id, event) in events {
        chunks.push((utc(event.at), 1, chunks.len(), vec![event_line(*id, event)]));
    }
    chunks.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    let mut out = String::new();
    for (.., lines) in chunks {
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// The `YYYY-MM-DD HH:MM:SS` a line starts with.
fn leading_time(line: &str) -> Option<&str> {
    let head = line.get(..19)?;
    let shape = head.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b' ',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    shape.then_some(head)
}

/// `jobs controller N started at UNIX` (written before times were readable).
fn legacy(line: &str) -> Option<String> {
    let rest = line.strip_prefix("jobs controller ")?;
    let (pid, at) = rest.split_once(" started at ")?;
    let pid: u32 = pid.parse().ok()?;
    let at: i64 = at.trim().parse().ok()?;
    Some(started_line(at, pid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobEventKind;

    #[test]
    fn the_log_and_the_events_read_in_time_order_with_utc_times() {
        let log = "jobs controller 12450 started at 1796568566\n\
                   2026-12-06 14:50:00 jobs controller 12450 idle, exiting\n\
                   error: something a process printed\n";
        let mut launched = JobEvent::new(JobEventKind::Launched, 0, "`c` launched in local");
        launched.at = 1_796_568_570;
        let mut second = JobEvent::new(JobEventKind::TaskSucceeded, 1, "");
        second.at = 1_796_568_566;
        let text = render(log, &[(3, launched), (3, second)]);
        assert_eq!(
            text,
            "2026-12-06 14:49:26 jobs controller 12450 started\n\
             2026-12-06 14:49:26 job 3 task 1: task-succeeded\n\
             2026-12-06 14:49:30 job 3: launched: `c` launched in local\n\
             2026-12-06 14:50:00 jobs controller 12450 idle, exiting\n\
             error: something a process printed\n"
        );
    }
}
