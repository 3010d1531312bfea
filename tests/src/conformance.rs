//! The provider conformance kit (`aloft::plugin::conformance`) as the tests use it:
//! `Ok` when every check passed, else the first failed check by name.

use aloft::plugin::ProviderInstance;
use aloft::plugin::conformance;
pub use aloft::plugin::conformance::ConformanceOptions;

/// Runs the lifecycle; the error names the check that broke the contract.
pub async fn run_lifecycle(p: &mut ProviderInstance, o: &ConformanceOptions) -> Result<(), String> {
    let report = conformance::run(p, o).await;
    match report.failure() {
        None if report.passed() => Ok(()),
        None => Err("no check ran".into()),
        Some(check) => Err(format!("{}: {}", check.name, check.detail)),
    }
}

/// Checks that `run-instances` where capacity is refused answers a typed error.
pub async fn expect_capacity_error(
    p: &mut ProviderInstance,
    o: &ConformanceOptions,
) -> Result<(), String> {
    let check = conformance::expect_capacity_error(p, o).await;
    if check.passed {
        Ok(())
    } else {
        Err(format!("{}: {}", check.name, check.detail))
    }
}
