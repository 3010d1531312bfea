//! The managed-jobs database on real SQLite files.

use std::time::Instant;

use aloft::jobs::{
    CancelTarget, JobEvent, JobEventKind, JobFilter, JobsDb, JobsError, Location, ManagedJobStatus,
    NewJob, RecoveryStrategy,
};
use aloft::task::{Overrides, TaskChain};

fn new_job(name: &str) -> NewJob {
    let yaml = format!(
        "name: {name}\nresources:\n  infra: aws/us-east-1\n  use_spot: true\n  accelerators: A100:8\n  job_recovery:\n    strategy: FAILOVER\n    max_restarts_on_errors: 2\n    recover_on_exit_codes: [33]\nrun: echo hi\n"
    );
    let chain =
        TaskChain::from_yaml_str(&yaml, "test.yaml", &Overrides::default()).expect("valid task");
    NewJob::from_chain(&chain, None).expect("valid recovery")
}

#[test]
fn submit_get_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("home").join("jobs.db");
    let id = {
        let db = JobsDb::open(&path).expect("open");
        let job = db.submit(&new_job("train")).expect("submit");
        assert_eq!(job.status, ManagedJobStatus::Pending);
        assert_eq!(job.name, "train");
        assert_eq!(job.tasks.len(), 1);
        let plan = &job.tasks[0];
        assert_eq!(plan.policy.strategy, RecoveryStrategy::Failover);
        assert_eq!(plan.policy.max_restarts_on_errors, 2);
        assert_eq!(plan.policy.recover_on_exit_codes, vec![33]);
        assert!(plan.region_pinned);
        assert!(job.resources.contains("A100:8"), "{}", job.resources);
        assert!(job.resources.contains("[spot]"), "{}", job.resources);
        assert!(job.spec_yaml.contains("echo hi"));
        assert_eq!(
            job.task_id,
            format!("sky-managed-{}_train_{}", job.submitted_at, job.id)
        );
        assert_eq!(job.cluster_name_for(0), format!("train-{}", job.id));
        job.id
    };
    let db = JobsDb::open(&path).expect("reopen");
    let job = db.get(id).expect("get").expect("still there");
    assert_eq!(job.name, "train");
    let events = db.events(id).expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, JobEventKind::Submitted);
    let version: i64 = rusqlite::Connection::open(&path)
        .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
        .expect("user_version");
    assert_eq!(version, 1);
}

#[test]
fn corrupt_or_newer_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    std::fs::write(&path, "this is not a database\n".repeat(200)).expect("write");
    let err = JobsDb::open(&path).expect_err("garbage must not open");
    assert!(matches!(err, JobsError::NotADatabase { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    let newer = dir.path().join("newer.db");
    rusqlite::Connection::open(&newer)
        .and_then(|c| c.pragma_update(None, "user_version", 99))
        .expect("set version");
    match JobsDb::open(&newer) {
        Err(JobsError::TooNew { found: 99, .. }) => {}
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn bad_stored_value_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let db = JobsDb::open(&path).expect("open");
    let id = db.submit(&new_job("a")).expect("submit").id;
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute("UPDATE jobs SET status = 'WEIRD' WHERE id = ?1", [id]))
        .expect("tamper");
    let err = db.get(id).expect_err("bad status");
    assert!(matches!(err, JobsError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("WEIRD"), "{err}");
}

#[test]
fn cancel_by_ids_name_and_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = JobsDb::open(&dir.path().join("jobs.db")).expect("open");
    let a = db.submit(&new_job("a")).expect("a").id;
    let b = db.submit(&new_job("b")).expect("b").id;
    let b2 = db.submit(&new_job("b")).expect("b2").id;
    let c = db.submit(&new_job("c")).expect("c").id;
    let done = db.submit(&new_job("d")).expect("d").id;
    // a is running, done has succeeded
    db.update_active(a, |j| j.status = ManagedJobStatus::Running)
        .expect("update")
        .expect("active");
    db.update_active(done, |j| j.status = ManagedJobStatus::Succeeded)
        .expect("update")
        .expect("active");

    assert_eq!(
        db.request_cancel(&CancelTarget::Ids(vec![a, done, 999]))
            .expect("cancel"),
        vec![a]
    );
    let ja = db.get(a).expect("get").expect("a");
    assert_eq!(ja.status, ManagedJobStatus::Cancelling);
    // the controller cannot overwrite a cancel
    assert!(
        db.update_active(a, |j| j.status = ManagedJobStatus::Running)
            .expect("update")
            .is_none()
    );
    assert!(db.finish_cancel(a, None).expect("finish"));
    assert_eq!(
        db.get(a).expect("get").expect("a").status,
        ManagedJobStatus::Cancelled
    );

    assert_eq!(
        db.request_cancel(&CancelTarget::Name("b".into()))
            .expect("cancel"),
        vec![b, b2]
    );
    // pending jobs hold no cluster: cancelled at once
    assert_eq!(
        db.get(b).expect("get").expect("b").status,
        ManagedJobStatus::Cancelled
    );
    assert_eq!(
        db.request_cancel(&CancelTarget::All).expect("cancel"),
        vec![c]
    );
    assert_eq!(
        db.get(done).expect("get").expect("d").status,
        ManagedJobStatus::Succeeded
    );
    assert!(db.unfinished_ids().expect("ids").is_empty());
    assert!(
        db.request_cancel(&CancelTarget::Ids(vec![]))
            .expect("cancel")
            .is_empty()
    );
    let kinds: Vec<JobEventKind> = db
        .events(c)
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![JobEventKind::Submitted, JobEventKind::CancelRequested]
    );
}

#[test]
fn events_keep_location_and_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = JobsDb::open(&dir.path().join("jobs.db")).expect("open");
    let id = db.submit(&new_job("e")).expect("submit").id;
    let loc = Location {
        cloud: "aws".into(),
        region: "us-east-1".into(),
        zone: Some("us-east-1a".into()),
    };
    let ev = JobEvent::new(JobEventKind::JobFailed, 0, "boom")
        .at_location(Some(loc.clone()))
        .with_exit_codes(vec![1, 33]);
    db.add_event(id, &ev).expect("add");
    let got = db.events(id).expect("events");
    assert_eq!(got.last(), Some(&ev));
}

#[test]
fn teardown_pending_survives_the_end_of_a_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = JobsDb::open(&dir.path().join("jobs.db")).expect("open");
    let id = db.submit(&new_job("t")).expect("submit").id;
    db.update_active(id, |j| {
        j.status = ManagedJobStatus::Succeeded;
        j.teardown_pending = Some("t-1".into());
    })
    .expect("update")
    .expect("active");
    assert_eq!(
        db.pending_teardowns().expect("pending"),
        vec![(id, "t-1".to_string())]
    );
    db.clear_teardown(id, "other").expect("clear");
    assert_eq!(db.pending_teardowns().expect("pending").len(), 1);
    db.clear_teardown(id, "t-1").expect("clear");
    assert!(db.pending_teardowns().expect("pending").is_empty());
}

#[test]
fn listing_ten_thousand_jobs_is_one_fast_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let db = JobsDb::open(&path).expect("open");
    let job = new_job("bulk");
    let mut ids = Vec::new();
    for _ in 0..10_000 {
        ids.push(db.submit(&job).expect("submit").id);
    }
    for id in ids.iter().step_by(2) {
        db.update_active(*id, |j| j.status = ManagedJobStatus::Succeeded)
            .expect("update")
            .expect("active");
    }
    let t = Instant::now();
    let all = db.list(JobFilter::All).expect("list");
    let took_all = t.elapsed();
    let t = Instant::now();
    let unfinished = db.list(JobFilter::Unfinished).expect("list");
    let took_unfinished = t.elapsed();
    assert_eq!(all.len(), 10_000);
    assert_eq!(unfinished.len(), 5_000);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    // Generous bounds (debug build, shared machine); in practice tens of ms.
    assert!(took_all.as_secs_f64() < 3.0, "list all took {took_all:?}");
    assert!(
        took_unfinished.as_secs_f64() < 3.0,
        "list unfinished took {took_unfinished:?}"
    );
    // The queue's summaries say the same as the whole records, without the task file.
    let t = Instant::now();
    let summaries = db.summaries(JobFilter::All).expect("summaries");
    let took_summaries = t.elapsed();
    assert!(took_summaries.as_secs_f64() < 3.0, "{took_summaries:?}");
    assert_eq!(summaries.len(), all.len());
    for (s, j) in summaries.iter().zip(&all) {
        assert_eq!(s, &j.summary());
        assert_eq!(s.task_count as usize, j.tasks.len());
    }
    assert_eq!(
        db.summaries(JobFilter::Unfinished)
            .expect("summaries")
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        unfinished.iter().map(|j| j.id).collect::<Vec<_>>()
    );
    let plan: Vec<String> = {
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        let mut stmt = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE status IN
                 ('PENDING', 'STARTING', 'RUNNING', 'RECOVERING', 'CANCELLING')",
            )
            .expect("prepare");
        stmt.query_map([], |r| r.get::<_, String>(3))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert!(
        plan.iter().any(|p| p.contains("jobs_by_status")),
        "unfinished jobs are found through the status index: {plan:?}"
    );
}
