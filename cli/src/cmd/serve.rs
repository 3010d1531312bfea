//! `aloft serve up|status|update|logs|down`: services (SkyPilot's `sky serve`),
//! rendered from the client's serve calls. Replicas are clusters of their own
//! behind one endpoint; the controller (with every service's load balancer) runs
//! as a process of its own, started on demand, exiting when no service is left.

use aloft::client::{ServeLogs, TaskUse};
use aloft::clock::unix_now;
use aloft::serve::UpdateMode;
use aloft::views;

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
        mode: UpdateMode,
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
        #[arg(required_unless_present = "all")]
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
            let name = input.flags.name.as_deref();
            let question = views::services::up_question(name.or(task.name.as_deref()));
            crate::confirm::confirm(&question, true, yes)?;
            let (name, endpoint) = aloft::client::with_consent(
                |consent| client.serve_up_with_consent(&task, name, consent),
                |grant| crate::cmd::managed::ask_grant(grant, yes),
            )?;
            render::print(&views::services::up(&name, endpoint.as_deref()))
        }
        Command::Status {
            names,
            endpoint,
            output,
        } => output.print(&client.serve_status(&names)?, |services| {
            if endpoint {
                views::services::endpoints(services)
            } else {
                views::services::status(services, unix_now())
            }
        }),
        Command::Update {
            service,
            task: input,
            mode,
            yes,
        } => {
            let task = input.load_one(TaskUse::Service)?.task;
            let question = views::services::update_question(&service);
            crate::confirm::confirm(&question, true, yes)?;
            let version = client.serve_update(&service, &task, mode)?;
            render::print(&views::services::updated(&service, version, mode))
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
            let question = views::services::down_question(&names, all);
            crate::confirm::confirm(&question, false, yes)?;
            let down = client.serve_down(&names, all, purge)?;
            render::print(&views::services::down(&down))
        }
    }
}
