//! `convoy-publish`: the only Convoy stage that holds a registry token.
//!
//! It takes a sealed plan and its bundle and makes the registry match the plan. The pure parts
//! are unit-tested without IO: [`validate`] (every reason to refuse before uploading anything)
//! [`schedule`] (the publish order as a state machine) and the credential rules in
//! [`credentials`] (which token each upload carries; when a trusted token is replaced). [`driver`] is the one IO loop that
//! drives them through `convoy-registry`, [`output`] renders its events and outcome, [`journal`] records every run and lets only one run a
//! plan at a time, and [`cli`] is the command line.

pub mod cli;
pub mod credentials;
pub mod driver;
pub mod error;
pub mod journal;
pub mod output;
pub mod publish;
pub mod release;
pub mod schedule;
pub mod signals;
pub mod sink;
pub mod validate;
