//! `convoy-verify`: tokenless comparison of what a registry serves against a plan.
//!
//! [`observe`] is the only IO (index reads and optional downloads); [`compare`] is a pure
//! function from (plan, observations) to a report; [`cli`] renders it and maps it to an exit code.

pub mod cli;
pub mod compare;
pub mod observe;
pub mod rebuild;
