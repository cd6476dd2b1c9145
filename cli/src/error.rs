//! The one shape of an expected error in every Convoy binary, and the one way it is reported.
//!
//! An expected error is bad input, a refusal or a registry failure — never a bug. Each binary has
//! one typed error (`PlanError`, `PublishError`, `VerifyError`) that implements
//! [`ExpectedError`]: a stable [`ErrorCode`] (which carries the exit code), a message that names
//! the file, package or field (its `Display`), and a help line saying what to do. [`report`]
//! prints it the same way everywhere:
//!
//! ```text
//! error[token-missing]: no token: CARGO_REGISTRY_TOKEN is not set
//!   help: set the token in that variable (never on the command line), …
//! ```
//!
//! Every code a binary can print is in its list of codes (see [`convoy_schema::codes`]), and
//! `docs/errors.md` documents exactly those lists; a test keeps the two equal.

use convoy_schema::ErrorCode;

/// An error a command expects and reports, with a stable code, an exit code and a help line.
pub trait ExpectedError: std::fmt::Display {
    /// The stable code (and the exit code that goes with it).
    fn error_code(&self) -> ErrorCode;
    /// What the user can do about it, in one line.
    fn help(&self) -> String;
}

/// The printed form: `error[<code>]: <message>` and an indented `help:` line.
pub fn render(error: &dyn ExpectedError) -> String {
    format!(
        "error[{}]: {error}\n  help: {}",
        error.error_code().name,
        error.help()
    )
}

/// Prints `error` on stderr as [`render`] shows it and returns its exit code.
pub fn report(error: &dyn ExpectedError) -> i32 {
    eprintln!("{}", render(error));
    error.error_code().exit
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Missing;

    impl std::fmt::Display for Missing {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no token: T is not set")
        }
    }

    impl ExpectedError for Missing {
        fn error_code(&self) -> ErrorCode {
            ErrorCode {
                name: "token-missing",
                exit: 3,
            }
        }
        fn help(&self) -> String {
            "set T".to_owned()
        }
    }

    #[test]
    fn an_error_renders_as_code_message_and_help() {
        assert_eq!(
            render(&Missing),
            "error[token-missing]: no token: T is not set\n  help: set T"
        );
    }
}
