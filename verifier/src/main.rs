//! `convoy-verify` placeholder: refuses to run until the verifier exists.

fn main() {
    eprintln!("error: {}", convoy_verifier::NOT_YET_IMPLEMENTED);
    std::process::exit(convoy_schema::exit::REFUSED);
}
