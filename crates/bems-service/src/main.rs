//! The `bems` binary.

fn main() {
    eprintln!("bems: not yet composed");
    std::process::exit(2);
}
