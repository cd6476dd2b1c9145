//! `convoy-verify`: tokenless comparison of what a registry serves against a plan.
//!
//! One operation, [`verify::run`], from a [`verify::Request`] to a report or a typed error; the
//! command line around it only parses, calls and prints. The modules:
//!
//! | module | what it is for |
//! |---|---|
//! | [`cli`] | the command line: arguments → [`verify::Request`], then the report on stdout in the `--format` asked for and its exit code, or the error through [`convoy_cli::report`] |
//! | [`verify`] | the operation: read the plan and bundle, resolve and read the registry, rebuild if asked, compare |
//! | [`observe`] | the registry IO: index files and, with `--download`, the `.crate`s (no token unless the registry requires one) |
//! | [`rebuild`] | `--rebuild`: package the plan's commit again (the only place the verifier runs cargo) |
//! | [`compare`] | pure: plan + observations + rebuilt bytes → the whole report (findings with their [`FindingCode`](convoy_schema::report::FindingCode)s, each package's `ok`, the order) |
//! | [`render`] | pure: the report as a human table, JSON or Markdown |
//! | [`error`] | [`error::VerifyError`], every reason verification cannot happen, with its code, exit code and help; [`error::codes`] lists every code `convoy-verify` can print |

pub mod cli;
pub mod compare;
pub mod error;
pub mod observe;
pub mod python;
pub mod rebuild;
pub mod render;
pub mod verify;
