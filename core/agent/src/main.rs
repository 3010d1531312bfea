//! `aloft-agent`: the program a cluster's head node runs, built as a small static
//! (musl) binary for x86_64 and aarch64 Linux. The launcher installs the one that
//! matches the node's architecture and drives it with the verbs of
//! `aloft::runtime::agent_cli` (`aloft-agent agent --root DIR VERB ...`; the leading
//! `agent` is optional, so the command line is the same as the full CLI's).

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("agent") {
        args.remove(0);
    }
    if let Err(message) = aloft::runtime::agent_cli::run(&args) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}
