//! Services: `serve status`, and what `serve up`, `update` and `down` report.

use super::{Table, View, ago, duration};
use crate::client::ServiceView;
use crate::serve::UpdateMode;

/// `aloft serve status`: the Services table (one row each: version, uptime,
/// status, ready replicas of all, endpoint), the Service Replicas table, and a
/// line for each service that failed, saying why; `No services.` when there
/// are none.
pub fn status(services: &[ServiceView], now: i64) -> View {
    if services.is_empty() {
        return View::new().note("No services.");
    }
    let table = Table::columns([
        "NAME", "VERSION", "UPTIME", "STATUS", "REPLICAS", "ENDPOINT",
    ])
    .with_rows(services.iter().map(|s| {
        [
            s.name.clone(),
            s.version.to_string(),
            duration(now - s.created_at),
            s.status.as_str().to_string(),
            format!("{}/{}", s.ready_replicas(), s.replicas.len()),
            s.endpoint.clone().unwrap_or_else(|| "-".into()),
        ]
    }));
    let mut replicas = Table::columns([
        "SERVICE", "ID", "VERSION", "ENDPOINT", "WHERE", "KIND", "LAUNCHED", "STATUS",
    ]);
    for s in services {
        for r in &s.replicas {
            replicas.row([
                s.name.clone(),
                r.id.to_string(),
                r.version.to_string(),
                r.url.clone().unwrap_or_else(|| "-".into()),
                r.location.clone().unwrap_or_else(|| "-".into()),
                if r.use_spot { "spot" } else { "on-demand" }.into(),
                r.launched_at.map_or("-".into(), |t| ago(now, t)),
                r.status.as_str().to_string(),
            ]);
        }
    }
    let mut view = View::new()
        .line("Services")
        .table(table)
        .line("")
        .line("Service Replicas")
        .table(replicas);
    for s in services {
        if let Some(failure) = s.failure_to_show() {
            view = view.line("").line(format!("{}: {failure}", s.name));
        }
    }
    view
}

/// `aloft serve status --endpoint`: each service's endpoint (`-` while it has
/// none), one per line.
pub fn endpoints(services: &[ServiceView]) -> View {
    services.iter().fold(View::new(), |view, s| {
        view.line(s.endpoint.as_deref().unwrap_or("-"))
    })
}

/// The question `aloft serve up` asks first: `Bringing up service `NAME``.
pub fn up_question(name: Option<&str>) -> String {
    let shown = name.map_or_else(String::new, |n| format!(" `{n}`"));
    format!("Bringing up service{shown}")
}

/// `aloft serve up`: where to reach the service (once its endpoint listens)
/// and how to watch it; its name is the answer.
pub fn up(name: &str, endpoint: Option<&str>) -> View {
    let note = match endpoint {
        Some(endpoint) => format!(
            "Service `{name}` is starting; its endpoint: {endpoint}\n\
             Watch it with `aloft serve status {name}`."
        ),
        None => format!(
            "Service `{name}` submitted; its endpoint is not open yet: \
             see `aloft serve status {name}`."
        ),
    };
    View::new().note(note).line(name)
}

/// The question `aloft serve update` asks first.
pub fn update_question(service: &str) -> String {
    format!("Updating service `{service}`")
}

/// `aloft serve update`: the new version rolls out; its number is the answer.
pub fn updated(service: &str, version: u32, mode: UpdateMode) -> View {
    View::new()
        .note(format!(
            "Service `{service}`: version {version} is rolling out ({}).",
            mode.as_str()
        ))
        .line(version.to_string())
}

/// The question `aloft serve down` asks first: the services named, or every
/// service with `all`.
pub fn down_question(names: &[String], all: bool) -> String {
    let what = if all {
        "every service".to_string()
    } else {
        names.join(", ")
    };
    format!("Taking down {what}")
}

/// `aloft serve down`: the services now down.
pub fn down(names: &[String]) -> View {
    names.iter().fold(View::new(), |view, name| {
        view.note(format!("Service `{name}` is down."))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::{ReplicaRecord, ReplicaStatus, ServiceStatus};
    use crate::views::Block;

    fn service(failure: Option<&str>) -> ServiceView {
        let replica = |id, status, use_spot| ReplicaRecord {
            service: "web".into(),
            id,
            version: 2,
            cluster: format!("web-{id}"),
            status,
            use_spot,
            port: 8080,
            url: Some(format!("http://10.0.0.{id}:8080")),
            cluster_job_id: Some(1),
            location: Some("aws/us-east-1".into()),
            launched_at: Some(900),
            ready_at: None,
            failing_since: None,
        };
        ServiceView {
            name: "web".into(),
            status: ServiceStatus::Ready,
            version: 2,
            endpoint: Some("http://127.0.0.1:30001".into()),
            update_mode: UpdateMode::Rolling,
            created_at: 700,
            failure: failure.map(str::to_string),
            replicas: vec![
                replica(1, ReplicaStatus::Ready, false),
                replica(2, ReplicaStatus::Starting, true),
            ],
        }
    }

    #[test]
    fn status_shows_services_then_their_replicas_then_failures() {
        let view = status(&[service(Some("bad spec"))], 1_000);
        let Block::Table(services) = &view.blocks[1] else {
            panic!("{view:?}")
        };
        assert_eq!(
            services.rows[0],
            [
                "web",
                "2",
                "5m 0s",
                "READY",
                "1/2",
                "http://127.0.0.1:30001"
            ]
        );
        let Block::Table(replicas) = &view.blocks[4] else {
            panic!("{view:?}")
        };
        assert_eq!(replicas.header[0], "SERVICE");
        assert_eq!(
            replicas.rows[1],
            [
                "web",
                "2",
                "2",
                "http://10.0.0.2:8080",
                "aws/us-east-1",
                "spot",
                "1m 40s ago",
                "STARTING"
            ]
        );
        assert_eq!(
            view.blocks[5..],
            [
                Block::Line(String::new()),
                Block::Line("web: bad spec".into())
            ]
        );
        assert_eq!(status(&[], 0).blocks, [Block::Note("No services.".into())]);
    }

    #[test]
    fn up_update_and_down_answer_with_the_name_or_version() {
        let view = up("web", None);
        assert_eq!(view.blocks[1], Block::Line("web".into()));
        assert_eq!(
            updated("web", 3, UpdateMode::Rolling).to_string(),
            "Service `web`: version 3 is rolling out (rolling).\n3\n"
        );
        assert_eq!(
            down_question(&["a".into(), "b".into()], false),
            "Taking down a, b"
        );
        assert_eq!(up_question(Some("web")), "Bringing up service `web`");
        assert_eq!(
            down(&["web".into()]).blocks,
            [Block::Note("Service `web` is down.".into())]
        );
    }
}
