//! Convoy's registry layer: everything that talks to a Cargo registry goes through this crate.
//!
//! Pure protocol pieces — [`index`] paths and lines, [`config`] and download templates, the
//! publish [`body`], [`error`] classification, dependency [`normalize`]ation, registry
//! [`resolve`]ution, upload [`rate`] limits — are unit-tested without a network; [`client`] is the HTTP edge
//! (with [`trusted`] publishing's identity tokens), [`auth`]
//! keeps tokens in the environment and off plain HTTP, and [`clock`] lets retries and polling be
//! tested without sleeping.

pub mod auth;
pub mod body;
pub mod client;
pub mod clock;
pub mod config;
pub mod error;
pub mod index;
pub mod normalize;
pub mod python;
pub mod rate;
pub mod resolve;
pub mod trusted;

pub use client::{ClientOptions, Freshness, IndexFile, RegistryClient};
pub use error::RegistryError;

/// Cargo's name for crates.io.
pub const CRATES_IO: &str = "crates-io";
/// crates.io's sparse index URL, cargo's default.
pub const CRATES_IO_INDEX: &str = "sparse+https://index.crates.io/";
