//! `convoy-publish`: the only Convoy stage that holds a registry token.
//!
//! It takes a sealed plan and its bundle and makes the registry match the plan. The pure parts
//! are here and unit-tested: [`validate`] (every reason to refuse before uploading anything) and
//! [`schedule`] (the publish order as a state machine). The IO loop that drives them is the next
//! step; until it exists the binary refuses to run.

pub mod schedule;
pub mod validate;

/// Message printed by the binary while the IO loop does not exist.
pub const NOT_YET_IMPLEMENTED: &str =
    "convoy-publish: not yet implemented: this Convoy can plan releases (convoy-plan) but not execute them";
