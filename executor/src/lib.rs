//! `convoy-publish`: the only Convoy stage that holds a registry token.
//!
//! It takes a sealed plan and its bundle and makes the registry match the plan. The pure parts
//! are unit-tested without IO: [`validate`] (every reason to refuse before uploading anything)
//! and [`schedule`] (the publish order as a state machine). [`driver`] is the one IO loop that
//! drives them through `convoy-registry`, [`journal`] records every run and lets only one run a
//! plan at a time, and [`cli`] is the command line.

pub mod cli;
pub mod driver;
pub mod journal;
pub mod schedule;
pub mod validate;
