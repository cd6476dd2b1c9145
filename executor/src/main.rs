//! `convoy-publish` placeholder: refuses to run until the executor exists.

fn main() {
    eprintln!("error: {}", convoy_executor::NOT_YET_IMPLEMENTED);
    std::process::exit(convoy_schema::exit::REFUSED);
}
