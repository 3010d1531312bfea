//! The `aloft` command-line interface.

fn main() {
    println!("aloft {}", env!("CARGO_PKG_VERSION"));
}
