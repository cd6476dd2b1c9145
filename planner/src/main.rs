//! `convoy-plan`: see `convoy_planner::cli`.

fn main() {
    std::process::exit(convoy_planner::cli::main());
}
