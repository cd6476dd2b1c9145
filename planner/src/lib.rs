//! Convoy's planner: a Cargo workspace and declared inputs in, a deterministic release plan out.
//!
//! The pure core ([`planning`], [`graph`], [`manifest`], [`diagnostics`], [`registry_config`],
//! [`render`]) takes data and returns data; [`discover`] is the only module that reads files,
//! runs cargo and git, or looks at the environment, and [`cli`] is the command line around both.

pub mod artifacts;
pub mod bundle;
pub mod cli;
pub mod diagnostics;
pub mod discover;
pub mod error;
pub mod graph;
pub mod manifest;
pub mod model;
pub mod package;
pub mod planning;
pub mod registry_config;
pub mod render;
#[cfg(test)]
mod testing;

/// Cargo's name for crates.io.
pub const CRATES_IO: &str = "crates-io";
/// crates.io's sparse index URL, cargo's default.
pub const CRATES_IO_INDEX: &str = "sparse+https://index.crates.io/";
