//! Errors that stop `convoy-plan` before a plan exists, each with a stable code, a help line and
//! an exit code. Findings about the workspace are not errors: they are plan diagnostics.

use convoy_schema::exit;
use convoy_schema::ReadError;

use crate::planning::PlanningError;

/// Why `convoy-plan` could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No manifest where the command looked.
    #[error("no Cargo.toml at {path}")]
    NoManifest {
        /// The path looked at.
        path: String,
    },
    /// `cargo metadata` refused the workspace.
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
    /// `--registry NAME` names a registry no configuration defines.
    #[error("registry `{name}` is not configured: no {variable} variable and no `registries.{name}.index` in cargo's configuration")]
    UnknownRegistry {
        /// The name given.
        name: String,
        /// The environment variable that was looked at.
        variable: String,
    },
    /// A cargo configuration file is not valid.
    #[error("cargo configuration {path} is not valid: {message}")]
    CargoConfig {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// `--index` is not an index URL.
    #[error("--index {url}: {why}")]
    InvalidIndexUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
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
    /// A plan file could not be read.
    #[error("plan {path}: {source}")]
    PlanRead {
        /// The file.
        path: String,
        /// Why it could not be read.
        source: ReadError,
    },
    /// A plan's digest does not match its content.
    #[error("plan {path} records digest {recorded}, but its content hashes to {computed}: it was edited after it was made")]
    DigestMismatch {
        /// The file.
        path: String,
        /// The digest in the file.
        recorded: String,
        /// The digest of the content.
        computed: String,
    },
    /// `--bundle` on a tree with uncommitted changes, without `--allow-dirty`.
    #[error("the workspace has changes not in commit {commit}; artifacts are packaged from the commit, so they would not contain them")]
    UncommittedChanges {
        /// The commit that would be packaged.
        commit: String,
    },
    /// The staging area for packaging could not be prepared.
    #[error("cannot stage the workspace for packaging: {message}")]
    Staging {
        /// What failed.
        message: String,
    },
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
    /// The plan could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl PlanError {
    /// Stable kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoManifest { .. } => "manifest-not-found",
            Self::Workspace { .. } => "workspace-unreadable",
            Self::Tool { .. } => "tool-failed",
            Self::Read { .. } => "file-unreadable",
            Self::ManifestSyntax { .. } => "manifest-invalid",
            Self::UnknownPackage { .. } => "unknown-package",
            Self::UnknownRegistry { .. } => "unknown-registry",
            Self::CargoConfig { .. } => "cargo-config-invalid",
            Self::InvalidIndexUrl { .. } => "invalid-index-url",
            Self::Snapshot { source, .. } | Self::PlanRead { source, .. } => source.code(),
            Self::SnapshotRegistryMismatch { .. } => "registry-snapshot-mismatch",
            Self::DigestMismatch { .. } => "plan-digest-mismatch",
            Self::Write { .. } => "output-unwritable",
            Self::UncommittedChanges { .. } => "uncommitted-changes",
            Self::Staging { .. } => "staging-failed",
            Self::Registry { source, .. } => source.code(),
            Self::TreeChanged { .. } => "tree-changed-since-plan",
            Self::Edit(_) => "edit-failed",
            Self::TagElsewhere { .. } => "tag-exists-elsewhere",
            Self::NoCommit => "plan-has-no-commit",
            Self::PlanHasErrors { .. } => "plan-has-errors",
        }
    }

    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            Self::NoManifest { .. } => {
                "run in the workspace root or pass --manifest-path PATH/Cargo.toml".to_owned()
            }
            Self::Workspace { .. } => "fix the workspace until `cargo metadata --no-deps` succeeds".to_owned(),
            Self::Tool { program, .. } => format!("make sure `{program}` is installed and on PATH (cargo is found through $CARGO first)"),
            Self::Read { .. } | Self::Write { .. } => "check that the path exists and is accessible".to_owned(),
            Self::ManifestSyntax { .. } => "fix the TOML syntax at the position given".to_owned(),
            Self::UnknownPackage { members, .. } => {
                format!("members are: {}", members.join(", "))
            }
            Self::UnknownRegistry { name, variable } => format!(
                "define it in .cargo/config.toml as [registries.{name}] index = \"sparse+https://…/\", set {variable}, or pass --index URL"
            ),
            Self::CargoConfig { .. } => "fix the file; cargo reads it too".to_owned(),
            Self::InvalidIndexUrl { .. } => {
                "give the index as cargo does, e.g. sparse+https://index.crates.io/".to_owned()
            }
            Self::Snapshot { source, .. } | Self::PlanRead { source, .. } => source.help(),
            Self::SnapshotRegistryMismatch { .. } => {
                "take the snapshot of the registry you plan for, or choose that registry with --registry/--index".to_owned()
            }
            Self::DigestMismatch { .. } => {
                "regenerate the plan with convoy-plan instead of editing it".to_owned()
            }
            Self::UncommittedChanges { .. } => "commit or stash them (`git status` lists them), or pass --allow-dirty to package the commit without them".to_owned(),
            Self::Staging { .. } => "check that git works and the temporary directory is writable (TMPDIR)".to_owned(),
            Self::TreeChanged { .. } => "plan again from the current tree (convoy-plan --bump …), review it, then apply that plan".to_owned(),
            Self::Edit(_) => "plan again from the current tree; the plan names a table or key the file does not have".to_owned(),
            Self::TagElsewhere { tag, .. } => format!("the release was tagged before at another commit: check `git show {tag}`; delete the tag only if that release never happened"),
            Self::NoCommit => "plan from a git checkout so the plan records the commit the release is made from".to_owned(),
            Self::PlanHasErrors { .. } => "fix the diagnostics (`convoy-plan show PLAN` lists them) and plan again".to_owned(),
            Self::Registry { source, .. } => match source {
                convoy_registry::RegistryError::Auth { .. } => "set the registry's read token in CARGO_REGISTRIES_<NAME>_TOKEN (CARGO_REGISTRY_TOKEN for crates.io)".to_owned(),
                convoy_registry::RegistryError::InsecureUrl { .. } => "use https, or pass --allow-http if plain HTTP is really meant".to_owned(),
                _ => "check the index URL and the network, or plan offline with --registry-state FILE".to_owned(),
            },
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Write { .. } | Self::Staging { .. } => exit::FAILED,
            Self::Registry { source, .. } => match source {
                convoy_registry::RegistryError::Protocol { .. }
                | convoy_registry::RegistryError::InsecureUrl { .. } => exit::REFUSED,
                _ => exit::REGISTRY,
            },
            _ => exit::REFUSED,
        }
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
