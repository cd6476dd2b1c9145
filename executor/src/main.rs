//! `convoy-publish`: see `convoy_executor::cli`.

fn main() {
    std::process::exit(convoy_executor::cli::main());
}
