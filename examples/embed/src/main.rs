//! Embedding aloft: launch a task on the `local` provider (nodes are folders on this
//! machine, no cloud account needed), stream the job's output, tear the cluster down.
//!
//! ```sh
//! cargo run -p aloft-example-embed -- 'echo hello from $SKYPILOT_NODE_RANK'
//! ```
//!
//! The program is also its clusters' agent: a head node runs `PROGRAM agent ...`,
//! which [`aloft::runtime::agent_cli::run_if_agent`] handles before anything else.

use std::process::ExitCode;

use aloft::client::{Client, Event, LaunchOptions};
use aloft::runtime::queue::JobStatus;
use aloft::task::{Infra, Resources, Task};

fn main() -> ExitCode {
    aloft::runtime::agent_cli::run_if_agent();
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "echo hello from node $SKYPILOT_NODE_RANK".into());
    match run(&command) {
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

fn run(command: &str) -> Result<JobStatus, Box<dyn std::error::Error>> {
    // Progress arrives as typed events: show the steps, ignore the rest.
    let client = Client::builder()
        .bundled_providers(aloft_bundled_providers::providers())
        .node_agents(aloft_bundled_providers::node_agents())
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
    let launched = client.launch(
        &task,
        std::path::Path::new("."),
        &LaunchOptions::named(&cluster),
    )?;
    let status = client.follow(&cluster, launched.job_id, &mut std::io::stdout())?;
    client.down(&cluster, false)?;
    Ok(status)
}
