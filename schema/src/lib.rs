//! Convoy's wire types: everything one Convoy stage writes and another reads.
//!
//! The room holds data definitions only — the release [`plan`] (with its [`python`] files), the registry-state
//! [`snapshot`], the verify [`report`], the publish [`events`] (stream and journal), their [`version`] rules, the canonical [`digest`] form, and the
//! [`exit`] and error [`codes`] that are part of every binary's public interface. No IO, no policy.

pub mod codes;
pub mod digest;
pub mod events;
pub mod exit;
pub mod plan;
pub mod python;
pub mod report;
pub mod snapshot;
pub mod version;

pub use codes::ErrorCode;
pub use plan::Plan;
pub use snapshot::RegistrySnapshot;
pub use version::{FormatVersion, ReadError};
