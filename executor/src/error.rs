//! Why `convoy-publish` stopped before (or instead of) a run: one typed error with a stable code,
//! a help line and an exit code ([`ExpectedError`]), from the list [`codes`]. What happens to
//! single crates during a run is not an error here: it is an event and the run's outcome.

use convoy_cli::{ExpectedError, PlanFileError, RuntimeError};
use convoy_registry::resolve::ResolveError;
use convoy_registry::trusted::SourceError;
use convoy_registry::RegistryError;
use convoy_schema::{error_codes, exit, ErrorCode};

use crate::journal::JournalError;
use crate::validate::Refusal;

error_codes! {
    /// `convoy-publish`'s own codes; [`codes`] adds the refusals', the journal's and those of
    /// what it reads.
    pub PUBLISH_CODES {
        /// A registry given only by `--index`, without `--token-env`.
        TOKEN_VARIABLE_UNKNOWN = "token-variable-unknown", exit::REFUSED;
        /// The token variable is not set.
        TOKEN_MISSING = "token-missing", exit::REGISTRY;
        /// No identity token for trusted publishing.
        OIDC_TOKEN_UNAVAILABLE = "oidc-token-unavailable", exit::REGISTRY;
        /// The identity token could not be exchanged.
        TRUSTED_PUBLISHING_FAILED = "trusted-publishing-failed", exit::REGISTRY;
        /// The plan has Python packages and no Python token variable is set.
        PYTHON_TOKEN_MISSING = "python-token-missing", exit::REGISTRY;
    }
}

/// Every code `convoy-publish` can print.
pub fn codes() -> Vec<ErrorCode> {
    convoy_schema::codes::union(&[
        PUBLISH_CODES,
        crate::validate::REFUSAL_CODES,
        crate::journal::JOURNAL_CODES,
        convoy_cli::PLAN_FILE_CODES,
        convoy_schema::codes::READ_CODES,
        convoy_registry::resolve::RESOLVE_CODES,
        &convoy_registry::error::stopping_codes(),
    ])
}

/// Why a publish did not run (or stopped before its first upload).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The plan file cannot be used.
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),
    /// The registry the command line names cannot be resolved.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The plan, the bundle or the registry's state refuses the run.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The registry could not be read before the run.
    #[error("registry {index}: {source}")]
    Registry {
        /// The index URL.
        index: String,
        /// What went wrong.
        source: RegistryError,
    },
    /// No variable is known to hold the token.
    #[error("a registry given only by --index has no standard token variable")]
    TokenVariableUnknown,
    /// The token variable is not set.
    #[error("no token: {variable} is not set")]
    NoToken {
        /// The variable.
        variable: String,
    },
    /// The plan has Python packages and none of the token variables is set.
    #[error("no Python index token: {} not set", .variables.join(", "))]
    NoPythonToken {
        /// The variables tried, in order.
        variables: Vec<String>,
    },
    /// No identity token for trusted publishing.
    #[error(transparent)]
    Oidc(#[from] SourceError),
    /// The exchange of the identity token failed.
    #[error("trusted publishing failed: {source}")]
    TrustedPublishing {
        /// The registry's or the token service's answer.
        source: RegistryError,
    },
    /// No identity token for the Python index's trusted publishing.
    #[error("no OIDC identity token for the Python index: {0}")]
    PythonOidc(SourceError),
    /// The Python index did not mint an upload token for the identity token.
    #[error("trusted publishing to the Python index failed: {source}")]
    PythonTrustedPublishing {
        /// The index's or the token service's answer.
        source: RegistryError,
    },
    /// The journal cannot be used.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The runtime did not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl ExpectedError for PublishError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::PlanFile(error) => error.error_code(),
            Self::Resolve(error) => error.error_code(),
            Self::Refused(refusal) => refusal.error_code(),
            Self::Registry { source, .. } => source.error_code(),
            Self::TokenVariableUnknown => TOKEN_VARIABLE_UNKNOWN,
            Self::NoToken { .. } => TOKEN_MISSING,
            Self::NoPythonToken { .. } => PYTHON_TOKEN_MISSING,
            Self::Oidc(_) | Self::PythonOidc(_) => OIDC_TOKEN_UNAVAILABLE,
            Self::TrustedPublishing { .. } | Self::PythonTrustedPublishing { .. } => {
                TRUSTED_PUBLISHING_FAILED
            }
            Self::Journal(error) => error.error_code(),
            Self::Runtime(error) => error.error_code(),
        }
    }

    fn help(&self) -> String {
        match self {
            Self::PlanFile(error) => error.help(),
            Self::Resolve(error) => error.help(),
            Self::Refused(refusal) => refusal.help().to_owned(),
            Self::Registry { .. } => "check the registry URL, the network and the token".to_owned(),
            Self::TokenVariableUnknown => "name the variable with --token-env VAR, or publish with --trusted-publishing".to_owned(),
            Self::NoPythonToken { .. } => "set the index's upload token (PyPI: `pypi-…`) in UV_PUBLISH_TOKEN or TWINE_PASSWORD, or name the variable with --python-token-env VAR; never on the command line".to_owned(),
            Self::NoToken { .. } => "set the token in that variable (never on the command line), name another with --token-env, or publish from CI with --trusted-publishing".to_owned(),
            Self::Oidc(_) => "run in a GitHub Actions job with `permissions: id-token: write`, or pass --oidc-token-env VAR naming the variable that holds the identity token (GitLab: `id_tokens:`)".to_owned(),
            Self::TrustedPublishing { .. } => "configure this repository and workflow (and environment) as a trusted publisher of the crates on the registry (crates.io: the crate's Settings, Trusted Publishing), check the audience (--oidc-audience), or publish with an API token".to_owned(),
            Self::PythonOidc(_) => "run in a GitHub Actions job with `permissions: id-token: write`, or pass --python-oidc-token-env VAR naming the variable that holds an identity token for the audience `pypi` (GitLab: `id_tokens:`), or publish the Python packages with a token (--python-token-env VAR)".to_owned(),
            Self::PythonTrustedPublishing { .. } => "add this repository and workflow (and environment) as a trusted publisher of the project on the index (PyPI: the project's Publishing settings, or a pending publisher for a new project), or publish the Python packages with a token (--python-token-env VAR)".to_owned(),
            Self::Journal(error) => error.help().to_owned(),
            Self::Runtime(error) => error.help(),
        }
    }
}
