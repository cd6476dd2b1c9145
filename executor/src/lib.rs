//! `convoy-publish`: the only Convoy stage that holds a registry token.
//!
//! It will take a sealed plan and its bundle and make the registry match the plan. Until that
//! issue is done, this crate only reserves the name and the binary.

/// Message printed by the placeholder binary.
pub const NOT_YET_IMPLEMENTED: &str =
    "convoy-publish: not yet implemented: this Convoy can plan releases (convoy-plan) but not execute them";
