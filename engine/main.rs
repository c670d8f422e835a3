//! The `idrisk` binary: all behaviour lives in the library's `cli` module.

fn main() {
    std::process::exit(idrisk::cli::main());
}
