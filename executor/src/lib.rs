//! `convoy-publish`: the only Convoy stage that holds a registry token.
//!
//! It takes a sealed plan and its bundle and makes the registry match the plan. The pure parts
//! are unit-tested without IO: [`validate`] (every reason to refuse before uploading anything,
//! and the registry state a run starts from), [`release`] (the starting schedule, shared by the
//! run and the dry run), [`schedule`] (the publish order and pacing as a state machine) and
//! [`credentials`] (which token each upload carries; when a trusted token is replaced).
//! [`driver`] is the one IO loop that drives them through `convoy-registry`; [`publish`] is the
//! operation from a request to an exit code; [`sink`] journals and shows each event, rendered
//! by [`output`]; [`journal`] records every run and lets only one run a plan at a time;
//! [`signals`] turns a CI's cancellation into a clean stop; [`error`] is the one typed error
//! with its codes; [`cli`] only parses arguments.

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
