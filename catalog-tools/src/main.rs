//! `aloft-catalog`: validate, diff and refresh catalogs.

fn main() {
    println!("aloft-catalog {}", env!("CARGO_PKG_VERSION"));
}
