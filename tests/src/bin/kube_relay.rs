//! Test-only SSH `ProxyCommand`: `kube_relay NAMESPACE POD PORT` relays stdin/stdout
//! through [`aloft::kube::portforward::proxy_stdio`], with the context taken from
//! the environment (`KUBE_RELAY_SERVER`, `KUBE_RELAY_TOKEN`, `KUBE_RELAY_CA` = a PEM
//! file, `KUBE_RELAY_INSECURE=1`), so the tests do not depend on kubeconfig parsing.
//! `aloft kube-proxy` runs the same function with a context from the kubeconfig.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [namespace, pod, port] = args.as_slice() else {
        eprintln!("usage: kube_relay NAMESPACE POD PORT");
        return ExitCode::from(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("kube_relay: bad port {port:?}");
        return ExitCode::from(2);
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let ca_pem = match env("KUBE_RELAY_CA").map(std::fs::read) {
        Some(Ok(pem)) => Some(pem),
        Some(Err(e)) => {
            eprintln!("kube_relay: reading the CA: {e}");
            return ExitCode::from(2);
        }
        None => None,
    };
    let ctx = aloft::kube::ResolvedContext {
        name: "test".into(),
        server: env("KUBE_RELAY_SERVER").unwrap_or_default(),
        namespace: namespace.clone(),
        ca_pem,
        insecure_skip_tls_verify: env("KUBE_RELAY_INSECURE").is_some(),
        token: env("KUBE_RELAY_TOKEN"),
        ..Default::default()
    };
    match aloft::kube::portforward::proxy_stdio(&ctx, namespace, pod, port) {
        Ok(stats) => {
            if env("KUBE_RELAY_STATS").is_some() {
                eprintln!(
                    "kube_relay: sent {} received {}",
                    stats.sent, stats.received
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kube_relay: {e}");
            ExitCode::FAILURE
        }
    }
}
