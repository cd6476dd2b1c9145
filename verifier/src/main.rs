//! `convoy-verify`: see `convoy_verifier::cli`.

fn main() {
    std::process::exit(convoy_verifier::cli::main());
}
