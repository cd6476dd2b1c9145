//! Errors that stop `convoy-plan` before a plan exists, each with a stable code, a help line and
//! an exit code ([`ExpectedError`]), from the list [`codes`]. Findings about the workspace are
//! not errors: they are plan diagnostics.

use convoy_cli::{ExpectedError, PlanFileError, RuntimeError};
use convoy_package::PackageError;
use convoy_registry::resolve::ResolveError;
use convoy_schema::{error_codes, exit, ErrorCode, ReadError};

use crate::planning::PlanningError;

/// Why `convoy-plan` could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The workspace cannot be located, read, staged or packaged, or cargo or git cannot run.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// A manifest is not valid TOML.
    #[error("{path} is not valid TOML: {message}")]
    ManifestSyntax {
        /// The manifest, relative to the workspace root.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// `--package` or `--exclude` names a package that is not a member.
    #[error("{option} {name}: `{name}` is not a member of the workspace")]
    UnknownPackage {
        /// The option (`--package` or `--exclude`).
        option: &'static str,
        /// The name given.
        name: String,
        /// The members' names.
        members: Vec<String>,
    },
    /// The registry the command line names cannot be resolved.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The registry snapshot could not be used.
    #[error("registry snapshot {path}: {source}")]
    Snapshot {
        /// The file.
        path: String,
        /// Why it could not be read.
        source: ReadError,
    },
    /// The registry snapshot was taken of another registry.
    #[error(
        "registry snapshot {path} describes {snapshot_index}, but the plan targets {plan_index}"
    )]
    SnapshotRegistryMismatch {
        /// The file.
        path: String,
        /// The registry the snapshot names.
        snapshot_index: String,
        /// The registry the plan targets.
        plan_index: String,
    },
    /// A plan file given to `show`, `diff`, `apply` or `tag` cannot be used.
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),
    /// `--bundle` on a tree with uncommitted changes, without `--allow-dirty`.
    #[error("the workspace has changes not in commit {commit}; artifacts are packaged from the commit, so they would not contain them")]
    UncommittedChanges {
        /// The commit that would be packaged.
        commit: String,
    },
    /// The async runtime for reading the registry did not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The registry could not be read.
    #[error("registry {index}: {source}")]
    Registry {
        /// The index URL.
        index: String,
        /// What went wrong.
        source: convoy_registry::RegistryError,
    },
    /// `apply`: the tree no longer matches the plan's inputs.
    #[error("the tree has changed since the plan was made: {files}")]
    TreeChanged {
        /// The files that differ, with how.
        files: String,
    },
    /// `apply`: an edit the plan names cannot be made.
    #[error("cannot apply the plan's edit to {0}")]
    Edit(#[from] crate::edits::EditFailure),
    /// `tag`: a tag the plan names exists at another commit.
    #[error("tag {tag} already exists at commit {existing}, not at the plan's commit {commit}")]
    TagElsewhere {
        /// The tag.
        tag: String,
        /// Where it points.
        existing: String,
        /// The plan's commit.
        commit: String,
    },
    /// `tag`: the plan records no commit (it was not made in a git checkout).
    #[error("the plan records no git commit to tag")]
    NoCommit,
    /// `apply`/`tag` were given a plan with error diagnostics.
    #[error("the plan has {count} error diagnostic(s); it describes no release")]
    PlanHasErrors {
        /// How many.
        count: usize,
    },
    /// `--root DIR` names a directory with neither a Cargo workspace nor Python projects.
    #[error("nothing to plan in {root}: no Cargo.toml and no Python projects")]
    NothingToPlan {
        /// The directory, as given.
        root: String,
    },
    /// The plan could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

error_codes! {
    /// `convoy-plan`'s own codes; [`codes`] adds those of what it reads.
    pub PLAN_CODES {
        /// A manifest is not valid TOML.
        MANIFEST_INVALID = "manifest-invalid", exit::REFUSED;
        /// `--package`/`--exclude` names a non-member.
        UNKNOWN_PACKAGE = "unknown-package", exit::REFUSED;
        /// The snapshot was taken of another registry.
        REGISTRY_SNAPSHOT_MISMATCH = "registry-snapshot-mismatch", exit::REFUSED;
        /// `--out` or the bundle cannot be written.
        OUTPUT_UNWRITABLE = "output-unwritable", exit::FAILED;
        /// `--bundle` on a tree with uncommitted changes.
        UNCOMMITTED_CHANGES = "uncommitted-changes", exit::REFUSED;
        /// `apply`: the tree changed since the plan.
        TREE_CHANGED_SINCE_PLAN = "tree-changed-since-plan", exit::REFUSED;
        /// `apply`: an edit cannot be made.
        EDIT_FAILED = "edit-failed", exit::REFUSED;
        /// `tag`: a tag exists at another commit.
        TAG_EXISTS_ELSEWHERE = "tag-exists-elsewhere", exit::REFUSED;
        /// `tag`: the plan records no commit.
        PLAN_HAS_NO_COMMIT = "plan-has-no-commit", exit::REFUSED;
        /// `apply`/`tag`: the plan has error diagnostics.
        PLAN_HAS_ERRORS = "plan-has-errors", exit::REFUSED;
        /// `--root DIR` has no Cargo workspace and no Python projects.
        NOTHING_TO_PLAN = "nothing-to-plan", exit::REFUSED;
    }
}

/// Every code `convoy-plan` can print: its own, the plan file's, the documents', the registry
/// resolution's and the registry's.
pub fn codes() -> Vec<ErrorCode> {
    convoy_schema::codes::union(&[
        PLAN_CODES,
        convoy_package::error::PACKAGE_CODES,
        convoy_cli::PLAN_FILE_CODES,
        convoy_schema::codes::READ_CODES,
        convoy_registry::resolve::RESOLVE_CODES,
        &convoy_registry::error::stopping_codes(),
    ])
}

impl ExpectedError for PlanError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::Package(error) => error.error_code(),
            Self::ManifestSyntax { .. } => MANIFEST_INVALID,
            Self::UnknownPackage { .. } => UNKNOWN_PACKAGE,
            Self::Resolve(error) => error.error_code(),
            Self::Snapshot { source, .. } => source.error_code(),
            Self::PlanFile(error) => error.error_code(),
            Self::SnapshotRegistryMismatch { .. } => REGISTRY_SNAPSHOT_MISMATCH,
            Self::Write { .. } => OUTPUT_UNWRITABLE,
            Self::UncommittedChanges { .. } => UNCOMMITTED_CHANGES,
            Self::Registry { source, .. } => source.error_code(),
            Self::Runtime(error) => error.error_code(),
            Self::TreeChanged { .. } => TREE_CHANGED_SINCE_PLAN,
            Self::Edit(_) => EDIT_FAILED,
            Self::TagElsewhere { .. } => TAG_EXISTS_ELSEWHERE,
            Self::NoCommit => PLAN_HAS_NO_COMMIT,
            Self::PlanHasErrors { .. } => PLAN_HAS_ERRORS,
            Self::NothingToPlan { .. } => NOTHING_TO_PLAN,
        }
    }

    fn help(&self) -> String {
        match self {
            Self::Package(error) => error.help(),
            Self::Write { .. } => "check that the path exists and is accessible".to_owned(),
            Self::ManifestSyntax { .. } => "fix the TOML syntax at the position given".to_owned(),
            Self::UnknownPackage { members, .. } => {
                format!("members are: {}", members.join(", "))
            }
            Self::Resolve(error) => error.help(),
            Self::Snapshot { source, .. } => source.help(),
            Self::PlanFile(error) => error.help(),
            Self::SnapshotRegistryMismatch { .. } => {
                "take the snapshot of the registry you plan for, or choose that registry with --registry/--index".to_owned()
            }
            Self::UncommittedChanges { .. } => "commit or stash them (`git status` lists them), or pass --allow-dirty to package the commit without them".to_owned(),
            Self::TreeChanged { .. } => "plan again from the current tree (convoy-plan --bump …), review it, then apply that plan".to_owned(),
            Self::Edit(_) => "plan again from the current tree; the plan names a table or key the file does not have".to_owned(),
            Self::TagElsewhere { tag, .. } => format!("the release was tagged before at another commit: check `git show {tag}`; delete the tag only if that release never happened"),
            Self::NoCommit => "plan from a git checkout so the plan records the commit the release is made from".to_owned(),
            Self::PlanHasErrors { .. } => "fix the diagnostics (`convoy-plan show PLAN` lists them) and plan again".to_owned(),
            Self::NothingToPlan { .. } => "point --root at the repository's top directory; name its Python projects in convoy.toml (`[python] members = [\"packages/*\"]`) or as a uv workspace's members".to_owned(),
            Self::Runtime(error) => error.help(),
            Self::Registry { source, .. } => match source {
                convoy_registry::RegistryError::Auth { .. } | convoy_registry::RegistryError::InsecureUrl { .. } => source.read_help().to_owned(),
                _ => "check the index URL and the network, or plan offline with --registry-state FILE".to_owned(),
            },
        }
    }
}

impl PlanError {
    /// Stable kebab-case code.
    pub fn code(&self) -> &'static str {
        self.error_code().name
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        self.error_code().exit
    }
}

impl From<PlanningError> for PlanError {
    fn from(error: PlanningError) -> Self {
        match error {
            PlanningError::ManifestSyntax { file, message } => Self::ManifestSyntax {
                path: file,
                message,
            },
        }
    }
}
