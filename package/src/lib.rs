//! Convoy's packaging: the `.crate` files a release plan names, made in a clean staging copy of
//! the workspace, and what those archives say.
//!
//! Two binaries use it. `convoy-plan --bundle` (the planner) packages a plan's crates and attaches
//! what the archives say to the plan; `convoy-verify --rebuild` (the verifier) packages the plan's
//! commit again the same way and compares the bytes, and reads served and bundled archives to name
//! the files that differ. Keeping the code here lets the verifier package without depending on the
//! planner.
//!
//! | module | what it is for |
//! |---|---|
//! | [`staging`] | IO: stage the commit (or a copy), apply the plan's edits, `cargo package`, clean up after an interrupt |
//! | [`python`] | IO: a Python project's sdist and wheel built from the commit (`python -m build`); their metadata and differences |
//! | [`cargo`] | IO: which cargo runs, its version, the workspace root |
//! | [`artifacts`] | pure: read a `.crate` in memory — files, publish metadata, lockfile pins, differences |
//! | [`edits`] | pure: a plan's manifest, `Cargo.lock` and changelog edits applied to file texts |
//! | [`manifest`] | pure: the format-preserving manifest setter the edits use |
//! | [`changelog`] | pure: inserting a release section into a `CHANGELOG.md` |
//! | [`error`] | [`PackageError`], with the stable codes the binaries report |

pub mod artifacts;
pub mod cargo;
pub mod changelog;
pub mod edits;
pub mod error;
pub mod manifest;
pub mod python;
pub mod staging;

pub use error::PackageError;
pub use staging::{package, PackageInput, PackageOptions, PackagedCrate, PackagingOutcome};
