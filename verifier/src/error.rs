//! Errors that stop `convoy-verify` before there is a report, each with a stable code, a help line
//! and an exit code ([`ExpectedError`]), from the list [`codes`]. What does not match in the
//! registry is not an error: it is a finding in the report
//! ([`FindingCode`](convoy_schema::report::FindingCode)).

use convoy_cli::{ExpectedError, PlanFileError, RuntimeError};
use convoy_registry::resolve::ResolveError;
use convoy_registry::RegistryError;
use convoy_schema::{error_codes, exit, ErrorCode};

use crate::rebuild::RebuildError;

/// Why `convoy-verify` could not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The plan file cannot be used (unreadable, not a plan, digest mismatch).
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),
    /// The plan contradicts itself (a package listed twice, waves that disagree).
    #[error("the plan contradicts itself: {detail}")]
    PlanInconsistent {
        /// What contradicts what.
        detail: String,
    },
    /// `--bundle`: a file of the bundle is there but is not a regular file inside it.
    #[error("bundle file `{file}` is refused: {reason}")]
    BundleFile {
        /// The file name the plan gives.
        file: String,
        /// Why it is refused.
        reason: String,
    },
    /// `--registry`/`--index` cannot be resolved.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The async runtime did not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The registry could not be read.
    #[error("registry {index}: {source}")]
    Registry {
        /// The index URL.
        index: String,
        /// What went wrong.
        source: RegistryError,
    },
    /// `--rebuild` could not even be attempted.
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
}

error_codes! {
    /// `convoy-verify`'s own codes; [`codes`] adds those of what it reads.
    pub VERIFY_CODES {
        /// The plan contradicts itself.
        PLAN_INCONSISTENT = "plan-inconsistent", exit::REFUSED;
        /// `--bundle`: a bundle file is not a regular file inside the bundle.
        ARTIFACT_UNREADABLE = "artifact-unreadable", exit::REFUSED;
        /// `--rebuild`: nothing to rebuild from, or the checkout cannot be read or staged.
        REBUILD_IMPOSSIBLE = "rebuild-impossible", exit::REFUSED;
        /// `--rebuild`: the local cargo is not the one the plan was packaged with.
        CARGO_VERSION_MISMATCH = "cargo-version-mismatch", exit::REFUSED;
    }
}

/// Every code `convoy-verify` can print: its own, the plan file's, the documents', the registry
/// resolution's and the registry's (all but the upload-only `already-exists`, `outcome-unknown`
/// and `new-crate-needs-api-token`), sorted, each once.
pub fn codes() -> Vec<ErrorCode> {
    convoy_schema::codes::union(&[
        VERIFY_CODES,
        convoy_cli::PLAN_FILE_CODES,
        convoy_schema::codes::READ_CODES,
        convoy_registry::resolve::RESOLVE_CODES,
        &convoy_registry::error::stopping_codes(),
    ])
}

impl ExpectedError for VerifyError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::PlanFile(error) => error.error_code(),
            Self::PlanInconsistent { .. } => PLAN_INCONSISTENT,
            Self::BundleFile { .. } => ARTIFACT_UNREADABLE,
            Self::Resolve(error) => error.error_code(),
            Self::Runtime(error) => error.error_code(),
            Self::Registry { source, .. } => source.error_code(),
            Self::Rebuild(RebuildError::Impossible(_)) => REBUILD_IMPOSSIBLE,
            Self::Rebuild(RebuildError::CargoVersionMismatch { .. }) => CARGO_VERSION_MISMATCH,
        }
    }

    fn help(&self) -> String {
        match self {
            Self::PlanFile(error) => error.help(),
            Self::PlanInconsistent { .. } => {
                "verify against the plan as convoy-plan wrote it".to_owned()
            }
            Self::BundleFile { .. } => {
                "give the bundle directory convoy-plan --bundle wrote, with regular files only"
                    .to_owned()
            }
            Self::Resolve(error) => error.help(),
            Self::Runtime(error) => error.help(),
            Self::Registry { source, .. } => source.read_help().to_owned(),
            Self::Rebuild(RebuildError::Impossible(_)) => {
                "rebuild a plan made with --bundle in a git checkout, from --manifest-path of a checkout that has the plan's commit".to_owned()
            }
            Self::Rebuild(RebuildError::CargoVersionMismatch { .. }) => {
                "rebuild with the cargo version the plan was packaged with".to_owned()
            }
        }
    }
}

impl VerifyError {
    /// Stable kebab-case code.
    pub fn code(&self) -> &'static str {
        self.error_code().name
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        self.error_code().exit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_errors() -> Vec<VerifyError> {
        vec![
            VerifyError::PlanFile(PlanFileError::Unreadable {
                path: "plan.json".into(),
                reason: "cannot open it".into(),
            }),
            VerifyError::PlanFile(PlanFileError::DigestMismatch {
                path: "plan.json".into(),
                recorded: "sha256:a".into(),
                computed: "sha256:b".into(),
            }),
            VerifyError::PlanInconsistent {
                detail: "package `a` is listed twice".into(),
            },
            VerifyError::BundleFile {
                file: "a-0.1.0.crate".into(),
                reason: "it is not a regular file".into(),
            },
            VerifyError::Resolve(ResolveError::Unknown {
                name: "nope".into(),
                variable: "CARGO_REGISTRIES_NOPE_INDEX".into(),
            }),
            VerifyError::Resolve(ResolveError::BadIndex {
                url: "ftp://x/".into(),
                why: "bad scheme".into(),
            }),
            VerifyError::Registry {
                index: "sparse+http://127.0.0.1:1/".into(),
                source: RegistryError::Network {
                    detail: "refused".into(),
                },
            },
            VerifyError::Registry {
                index: "sparse+http://example.invalid/".into(),
                source: RegistryError::InsecureUrl {
                    url: "http://example.invalid/".into(),
                },
            },
            VerifyError::Rebuild(RebuildError::Impossible("no commit".into())),
            VerifyError::Rebuild(RebuildError::CargoVersionMismatch {
                planned: "cargo 1.0.0".into(),
                found: "cargo 2.0.0".into(),
            }),
        ]
    }

    #[test]
    fn every_error_has_a_listed_code_and_a_help_line() {
        let codes = codes();
        for error in all_errors() {
            let code = error.error_code();
            assert!(codes.contains(&code), "{code} is not in codes()");
            assert!(!error.help().is_empty() && !error.help().contains('\n'));
        }
        let unknown = &all_errors()[4];
        assert_eq!(
            convoy_cli::error::render(unknown),
            "error[unknown-registry]: registry `nope` is not configured: no CARGO_REGISTRIES_NOPE_INDEX variable and no `registries.nope.index` in cargo's configuration\n  help: define it in .cargo/config.toml as [registries.nope] index = \"sparse+https://…/\", set CARGO_REGISTRIES_NOPE_INDEX, or pass --index URL"
        );
    }

    #[test]
    fn exit_codes_are_those_convoy_verify_always_had() {
        let exits: Vec<(&str, i32)> = all_errors()
            .iter()
            .map(|e| (e.code(), e.exit_code()))
            .collect();
        assert_eq!(
            exits,
            [
                ("file-unreadable", exit::REFUSED),
                ("plan-digest-mismatch", exit::REFUSED),
                ("plan-inconsistent", exit::REFUSED),
                ("artifact-unreadable", exit::REFUSED),
                ("unknown-registry", exit::REFUSED),
                ("invalid-index-url", exit::REFUSED),
                ("registry-unreachable", exit::REGISTRY),
                ("insecure-registry-url", exit::REFUSED),
                ("rebuild-impossible", exit::REFUSED),
                ("cargo-version-mismatch", exit::REFUSED),
            ]
        );
    }

    #[test]
    fn codes_are_sorted_unique_and_exclude_upload_only_ones() {
        let codes = codes();
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        for upload_only in [
            "already-exists",
            "outcome-unknown",
            "new-crate-needs-api-token",
        ] {
            assert!(codes.iter().all(|c| c.name != upload_only), "{upload_only}");
        }
        for own in VERIFY_CODES {
            assert!(codes.contains(own));
        }
    }
}
