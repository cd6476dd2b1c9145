//! Why packaging could not even run (as opposed to `cargo package` running and failing, which is
//! part of a [`PackagingOutcome`](crate::PackagingOutcome)). Each error has a stable code, the
//! code `convoy-plan` reports for it; the binaries turn it into their own error types (the
//! planner into `PlanError`, keeping the code, message, help line and exit code).

use convoy_schema::codes::FILE_UNREADABLE;
use convoy_schema::{error_codes, exit, ErrorCode};

/// Why the workspace could not be located, staged or packaged.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// No manifest where the caller looked.
    #[error("no Cargo.toml at {path}")]
    NoManifest {
        /// The path looked at.
        path: String,
    },
    /// Cargo refused the workspace.
    #[error("cargo cannot read the workspace at {manifest}:\n{message}")]
    Workspace {
        /// The manifest given.
        manifest: String,
        /// Cargo's message.
        message: String,
    },
    /// Cargo itself could not be run.
    #[error("cannot run `{program} {args}`: {message}")]
    Tool {
        /// The program.
        program: String,
        /// Its arguments.
        args: String,
        /// What went wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The staging area could not be prepared.
    #[error("cannot stage the workspace for packaging: {message}")]
    Staging {
        /// What failed.
        message: String,
    },
    /// Building a Python project's sdist and wheel failed or timed out.
    #[error("cannot build the Python project at {project} with `{tool}`: {message}")]
    PythonBuild {
        /// The project's directory in the repository (`.` for the top).
        project: String,
        /// The build command, e.g. `python -m build`.
        tool: String,
        /// Why: the exit status or the timeout, then the tail of the tool's output.
        message: String,
    },
    /// A built Python distribution is not what a build must give: unreadable, without its core
    /// metadata, or saying something else than the other distribution of the build.
    #[error("the built Python distribution {file} is unusable: {message}")]
    PythonArtifact {
        /// The file (or the build's output directory when a file is missing).
        file: String,
        /// What is wrong.
        message: String,
    },
}

error_codes! {
    /// The codes of [`PackageError`] but `file-unreadable` (in
    /// [`READ_CODES`](convoy_schema::codes::READ_CODES)), in every binary that packages.
    pub PACKAGE_CODES {
        /// No `Cargo.toml` where one was expected.
        MANIFEST_NOT_FOUND = "manifest-not-found", exit::REFUSED;
        /// `cargo metadata --no-deps` refuses the workspace.
        WORKSPACE_UNREADABLE = "workspace-unreadable", exit::REFUSED;
        /// cargo or git cannot be run.
        TOOL_FAILED = "tool-failed", exit::REFUSED;
        /// The staging area cannot be prepared.
        STAGING_FAILED = "staging-failed", exit::FAILED;
        /// `python -m build` fails or times out on a Python project.
        PYTHON_BUILD_FAILED = "python-build-failed", exit::FAILED;
        /// A built sdist or wheel cannot be read, lacks its core metadata, or its metadata
        /// disagrees with the other distribution's.
        PYTHON_ARTIFACT_INVALID = "python-artifact-invalid", exit::FAILED;
    }
}

impl PackageError {
    /// Stable code and exit code, the same in every binary.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::NoManifest { .. } => MANIFEST_NOT_FOUND,
            Self::Workspace { .. } => WORKSPACE_UNREADABLE,
            Self::Tool { .. } => TOOL_FAILED,
            Self::Read { .. } => FILE_UNREADABLE,
            Self::Staging { .. } => STAGING_FAILED,
            Self::PythonBuild { .. } => PYTHON_BUILD_FAILED,
            Self::PythonArtifact { .. } => PYTHON_ARTIFACT_INVALID,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            Self::NoManifest { .. } => {
                "run in the workspace root or pass --manifest-path PATH/Cargo.toml".to_owned()
            }
            Self::Workspace { .. } => {
                "fix the workspace until `cargo metadata --no-deps` succeeds".to_owned()
            }
            Self::Tool { program, .. } => format!(
                "make sure `{program}` is installed and on PATH (cargo is found through $CARGO first)"
            ),
            Self::Read { .. } => "check that the path exists and is accessible".to_owned(),
            Self::Staging { .. } => {
                "check that git works and the temporary directory is writable (TMPDIR)".to_owned()
            }
            Self::PythonBuild { .. } => "run `python -m build` in a clean checkout of the commit to see the whole output; \
                 the build backend is fetched from PyPI (or $PIP_INDEX_URL), and the python used is \
                 $CONVOY_PYTHON, else the one `scripts/python-tools install` made"
                .to_owned(),
            Self::PythonArtifact { .. } => {
                "check the project's build backend configuration: its sdist and wheel must carry \
                 the same core metadata"
                    .to_owned()
            }
        }
    }
}
