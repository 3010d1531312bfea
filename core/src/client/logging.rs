//! Tracing filters for a program that embeds aloft: the WebAssembly compiler
//! under the provider components traces every instruction it lowers (hundreds
//! of MB per component at `trace`), so its crates stay at `warn` unless the
//! filter names them.

/// The crates of the WebAssembly compiler that [`log_directives`] keeps at `warn`.
pub const COMPILER_CRATES: &[&str] = &[
    "cranelift_codegen",
    "cranelift_frontend",
    "regalloc2",
    "wasmtime",
    "wasmtime_cranelift",
    "wasmtime_internal_cranelift",
];

/// `filter` (a tracing filter: `info`, `aloft=debug`, ...) with each of
/// [`COMPILER_CRATES`] it does not name set to `warn`.
pub fn log_directives(filter: &str) -> String {
    let mut directives = filter.to_string();
    for krate in COMPILER_CRATES {
        if !filter.contains(krate) {
            directives.push_str(&format!(",{krate}=warn"));
        }
    }
    directives
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiler_stays_at_warn_unless_named() {
        let all = log_directives("trace");
        assert!(all.starts_with("trace,"));
        assert!(all.contains(",wasmtime=warn") && all.contains(",regalloc2=warn"));
        let named = log_directives("debug,regalloc2=trace");
        assert!(!named.contains("regalloc2=warn"), "{named}");
        assert!(named.contains(",cranelift_codegen=warn"));
    }
}
