//! `aloft serve up|status|update|logs|down`: services (SkyPilot's `sky serve`),
//! rendered from the client's serve calls. Replicas are clusters of their own
//! behind one endpoint; the controller (with every service's load balancer) runs
//! as a process of its own, started on demand, exiting when no service is left.

use aloft::client::{ServeLogs, ServiceView, TaskUse};
use aloft::clock::unix_now;
use aloft::serve::UpdateMode;

use crate::cmd::task_args::TaskInput;
use crate::exit::{CliError, CliResult};
use crate::render::{self, OutputArg};

/// `aloft serve ...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Bring a service up: TASK.yaml with a `service:` section (or a command).
    Up {
        /// (`-n NAME` names the service.)
        #[command(flatten)]
        task: Box<TaskInput>,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// Services and their replicas (all, or those named).
    Status {
        /// Services to show.
        names: Vec<String>,
        /// Print only the endpoint of each (one per line).
        #[arg(long)]
        endpoint: bool,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Roll a service to a new version of its task.
    Update {
        /// The service.
        service: String,
        /// (`-n` is ignored: the service keeps its name.)
        #[command(flatten)]
        task: Box<TaskInput>,
        /// `rolling` (old replicas leave as new ones are ready) or `blue_green`
        /// (traffic moves at once when the new version is ready).
        #[arg(long, default_value = "rolling")]
        mode: String,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// A service's logs: a replica's job, the controller's history, or the load balancer's.
    Logs {
        /// The service.
        service: String,
        /// The replica whose output to show.
        replica: Option<u64>,
        /// The controller's history of the service.
        #[arg(long, conflicts_with_all = ["replica", "load_balancer"])]
        controller: bool,
        /// The load balancer's lines.
        #[arg(long, conflicts_with = "replica")]
        load_balancer: bool,
        /// Print what is there and stop.
        #[arg(long)]
        no_follow: bool,
    },
    /// Take services down: replicas torn down, endpoints closed.
    Down {
        /// Services to take down.
        names: Vec<String>,
        /// Every service.
        #[arg(short, long)]
        all: bool,
        /// Also forget services whose controller failed, tearing their replicas down from here.
        #[arg(long)]
        purge: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
}

/// Runs `aloft serve`.
pub fn run(args: Args) -> CliResult {
    let client = crate::client::open()?;
    match args.command {
        Command::Up { task: input, yes } => {
            let task = input.load_one(TaskUse::Service)?.task;
            let name = input.flags.name.as_deref().or(task.name.as_deref());
            let shown = name.map_or_else(String::new, |n| format!(" `{n}`"));
            crate::confirm::confirm(&format!("Bringing up service{shown}"), true, yes)?;
            let (name, endpoint) = aloft::client::with_consent(
                |consent| client.serve_up_with_consent(&task, input.flags.name.as_deref(), consent),
                |grant| crate::cmd::managed::ask_grant(grant, yes),
            )?;
            match endpoint {
                Some(endpoint) => eprintln!(
                    "Service `{name}` is starting; its endpoint: {endpoint}\n\
                     Watch it with `aloft serve status {name}`."
                ),
                None => eprintln!(
                    "Service `{name}` submitted; its endpoint is not open yet: see `aloft serve status {name}`."
                ),
            }
            println!("{name}");
            Ok(())
        }
        Command::Status {
            names,
            endpoint,
            output,
        } => {
            let services = client.serve_status(&names)?;
            if output.is_json() {
                return render::print_json(&services);
            }
            if endpoint {
                for s in &services {
                    println!("{}", s.endpoint.as_deref().unwrap_or("-"));
                }
                return Ok(());
            }
            if services.is_empty() {
                eprintln!("No services.");
                return Ok(());
            }
            print!("{}", render_status(&services));
            Ok(())
        }
        Command::Update {
            service,
            task: input,
            mode,
            yes,
        } => {
            let mode = UpdateMode::parse(&mode).ok_or_else(|| {
                CliError::new(
                    crate::exit::INVALID_TASK,
                    format!("--mode: `{mode}` is not an update mode (rolling, blue_green)"),
                )
            })?;
            let task = input.load_one(TaskUse::Service)?.task;
            crate::confirm::confirm(&format!("Updating service `{service}`"), true, yes)?;
            let version = client.serve_update(&service, &task, mode)?;
            eprintln!(
                "Service `{service}`: version {version} is rolling out ({}).",
                mode.as_str()
            );
            println!("{version}");
            Ok(())
        }
        Command::Logs {
            service,
            replica,
            controller,
            load_balancer,
            no_follow,
        } => {
            let which = ServeLogs::choose(replica, load_balancer, controller).ok_or_else(|| {
                CliError::failure("name a replica, or --controller, or --load-balancer")
            })?;
            Ok(client.serve_logs(&service, which, !no_follow, &mut std::io::stdout().lock())?)
        }
        Command::Down {
            names,
            all,
            purge,
            yes,
        } => {
            if names.is_empty() && !all {
                return Err(CliError::failure("name the services, or -a for all"));
            }
            let what = if all {
                "every service".to_string()
            } else {
                names.join(", ")
            };
            crate::confirm::confirm(&format!("Taking down {what}"), false, yes)?;
            for name in client.serve_down(&names, all, purge)? {
                eprintln!("Service `{name}` is down.");
            }
            Ok(())
        }
    }
}

fn render_status(services: &[ServiceView]) -> String {
    let now = unix_now();
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.version.to_string(),
                render::duration(now - s.created_at),
                s.status.as_str().to_string(),
                format!("{}/{}", s.ready_replicas(), s.replicas.len()),
                s.endpoint.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut text = String::from("Services\n");
    text.push_str(&render::columns(
        &[
            "NAME", "VERSION", "UPTIME", "STATUS", "REPLICAS", "ENDPOINT",
        ],
        &rows,
    ));
    let replicas: Vec<Vec<String>> = services
        .iter()
        .flat_map(|s| {
            s.replicas.iter().map(|r| {
                vec![
                    s.name.clone(),
                    r.id.to_string(),
                    r.version.to_string(),
                    r.url.clone().unwrap_or_else(|| "-".into()),
                    r.location.clone().unwrap_or_else(|| "-".into()),
                    if r.use_spot { "spot" } else { "on-demand" }.into(),
                    r.launched_at.map_or("-".into(), |t| render::ago(now, t)),
                    r.status.as_str().to_string(),
                ]
            })
        })
        .collect();
    text.push_str("\nService Replicas\n");
    text.push_str(&render::columns(
        &[
            "SERVICE", "ID", "VERSION", "ENDPOINT", "WHERE", "KIND", "LAUNCHED", "STATUS",
        ],
        &replicas,
    ));
    for s in services {
        if let Some(failure) = s.failure_to_show() {
            text.push_str(&format!("\n{}: {failure}\n", s.name));
        }
    }
    text
}
