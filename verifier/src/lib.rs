//! `convoy-verify`: tokenless comparison of what a registry serves against a plan.
//!
//! It will observe the registry, then compare purely. Until that issue is done, this crate only
//! reserves the name and the binary.

/// Message printed by the placeholder binary.
pub const NOT_YET_IMPLEMENTED: &str =
    "convoy-verify: not yet implemented: this Convoy can plan releases (convoy-plan) but not verify them";
