//! Convoy's planner: a Cargo workspace and declared inputs in, a deterministic release plan out.
//!
//! The pure core ([`planning`], [`graph`], [`manifest`], [`diagnostics`], [`artifacts`],
//! [`bundle`], [`render`], [`diff`]) takes data and returns data; [`discover`] and [`package`]
//! are the only modules that read files, run cargo and git, or look at the environment, and
//! [`cli`] is the command line around them.
//!
//! Packaging itself — staging, the plan's edits ([`edits`]), `cargo package`, reading `.crate`
//! archives ([`artifacts`]) — lives in the `convoy-package` crate, which the verifier shares;
//! [`artifacts`] and [`edits`] are its modules, re-exported here.

pub mod apply;
pub use convoy_package::artifacts;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod diagnostics;
pub mod diff;
pub mod discover;
pub use convoy_package::edits;
pub mod error;
pub mod graph;
pub mod history;
pub mod manifest;
pub mod model;
pub mod package;
pub mod planning;
pub mod python;
pub mod render;
#[cfg(test)]
mod testing;
pub mod versioning;

pub use convoy_registry::{CRATES_IO, CRATES_IO_INDEX};
