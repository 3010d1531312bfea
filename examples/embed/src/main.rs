//! Embedding aloft: launch a task on the `local` provider (nodes are folders on this
//! machine, no cloud account needed), stream the job's output, tear the cluster down.
//!
//! ```sh
//! cargo run -p aloft-example-embed -- 'echo hello from $SKYPILOT_NODE_RANK'
//! # or leave the cluster to tear itself down once idle (autostop with --down):
//! cargo run -p aloft-example-embed -- --autodown 'echo hello'
//! ```
//!
//! The program also plays the roles aloft runs it in (its clusters' agent, a local
//! autostop, the jobs controller): [`aloft::roles::run_if_role`] answers those
//! command lines before anything else.

use std::process::ExitCode;

use aloft::JobStatus;
use aloft::client::{AutostopSetting, Client, ClientBuilder, Event, LaunchOptions};
use aloft::task::{Infra, Resources, Task};

/// The client this program opens, for itself and for every role it plays.
fn builder() -> ClientBuilder {
    // SAFETY: both lists come from one build of `aloft-bundled-providers`.
    let compiled =
        unsafe { Client::builder().compiled_providers(aloft_bundled_providers::compiled()) };
    compiled
        .bundled_providers(aloft_bundled_providers::providers())
        .node_agents(aloft_bundled_providers::node_agents())
}

fn main() -> ExitCode {
    aloft::roles::run_if_role(builder);
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let autodown = args.first().is_some_and(|a| a == "--autodown");
    if autodown {
        args.remove(0);
    }
    let command = args
        .first()
        .cloned()
        .unwrap_or_else(|| "echo hello from node $SKYPILOT_NODE_RANK".into());
    match run(&command, autodown) {
        Ok(JobStatus::Succeeded) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("the job ended {status}");
            ExitCode::from(100)
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: &str, autodown: bool) -> Result<JobStatus, Box<dyn std::error::Error>> {
    // Progress arrives as typed events: show the steps, ignore the rest.
    let client = builder()
        .on_event(|event| {
            if let Event::Step(step) = event {
                eprintln!("> {step}");
            }
        })
        .open()?;
    // A 2-node task on the `local` provider, built in code (a task file works too:
    // `TaskChain::from_yaml_file`).
    let infra = Infra::parse("local")?;
    let task = Task::builder()
        .run(command)
        .num_nodes(2)
        .resources(Resources::default().with_infra(infra))
        .build()?;
    let cluster = format!("embed-{}", std::process::id());
    let mut options = LaunchOptions::named(&cluster);
    if autodown {
        // The head's agent runs this program's autostop role once the job is done.
        options.autostop = Some(AutostopSetting::down_after(0));
    }
    let launched = client.launch(&task, std::path::Path::new("."), &options)?;
    // A task with `run` always queues a job.
    let job = launched.job_id.ok_or("the launch queued no job")?;
    let status = client.follow(&cluster, job, &mut std::io::stdout())?;
    if autodown {
        eprintln!("> `{cluster}` tears itself down once idle");
    } else {
        client.down(&cluster, false)?;
    }
    Ok(status)
}
