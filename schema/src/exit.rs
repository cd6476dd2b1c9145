//! Process exit codes shared by `convoy-plan`, `convoy-publish` and `convoy-verify`.
//!
//! They are public API: scripts and CI branch on them, so a value never changes meaning.

/// Everything succeeded (a plan without error diagnostics was produced, ...).
pub const OK: i32 = 0;
/// The work was done but found errors: the plan has error diagnostics, or an operation failed.
pub const FAILED: i32 = 1;
/// Refused before doing anything: a usage error or invalid input (bad flag, unreadable file,
/// unknown package, unsupported format version, ...).
pub const REFUSED: i32 = 2;
/// The registry could not be reached, or authentication with it failed.
pub const REGISTRY: i32 = 3;
/// `convoy-publish` stopped at `--max-wait` after its last safe upload; rerunning the same plan
/// continues.
pub const RESUMABLE: i32 = 4;
/// Interrupted by a signal (SIGINT, SIGTERM or SIGHUP), as shells report SIGINT (128 + 2);
/// `convoy-plan --bundle` removes its staging areas first.
pub const INTERRUPTED: i32 = 130;

/// Every code with a one-line meaning, in order; the README's table is generated from the same
/// words and a test keeps the two in step.
pub const ALL: [(i32, &str); 6] = [
    (OK, "success"),
    (
        FAILED,
        "the plan has error diagnostics, or an operation failed",
    ),
    (REFUSED, "usage error or invalid input; nothing was done"),
    (REGISTRY, "registry unreachable or authentication failed"),
    (
        RESUMABLE,
        "stopped at --max-wait; rerun the same plan to continue",
    ),
    (
        INTERRUPTED,
        "interrupted by a signal; `convoy-plan --bundle` removes its staging areas first",
    ),
];
