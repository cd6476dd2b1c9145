//! The planner core's input: a workspace and its declared inputs, as plain data.
//!
//! The IO edge ([`crate::discover`]) fills these from cargo, git and files; tests build them
//! by hand. Everything the core decides is a function of a [`WorkspaceInput`].

use std::collections::BTreeMap;

use convoy_schema::plan::{
    DependencyKind, GitInputs, ObservationSource, PackageHistory, ReleaseRequest, Selection,
};
use convoy_schema::python::{PythonObservations, PythonTarget};
use convoy_schema::snapshot::{CrateObservations, RegistryTarget};

use crate::config::Pin;
use crate::python::PythonProject;

/// A workspace and everything the plan depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceInput {
    /// Text of the workspace root manifest (`Cargo.toml` at the root).
    pub root_manifest: String,
    /// Workspace members, in any order.
    pub members: Vec<Member>,
    /// `cargo --version` of the cargo that read the workspace.
    pub cargo_version: String,
    /// Git state, or why there is none.
    pub git: GitState,
    /// `sha256:<hex>` of `Cargo.lock`, if the workspace has one.
    pub lockfile: Option<String>,
    /// The registry the plan targets.
    pub registry: RegistryTarget,
    /// Packages selected and excluded on the command line.
    pub selection: Selection,
    /// What the registry holds, if observed.
    pub observations: RegistryObservations,
    /// What version planning reads.
    pub release: ReleaseContext,
    /// The repository's Python projects and their index; `None` when it has none.
    pub python: Option<PythonInput>,
}

/// The Python part of a release's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonInput {
    /// The projects found, sorted by directory.
    pub projects: Vec<PythonProject>,
    /// The index they are published to.
    pub target: PythonTarget,
    /// What the index serves for them (by normalized name), and whence.
    pub observations: PythonObservations,
    /// Where the observations came from.
    pub source: ObservationSource,
    /// How internal requirements are pinned.
    pub pin: Pin,
}

/// Version planning's inputs: configuration, request, history and the files a release edits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseContext {
    /// Text of `convoy.toml` at the repository root, if there is one.
    pub config: Option<String>,
    /// `--bump`, `--set-version`, `--all` and `-p name=LEVEL`.
    pub request: ReleaseRequest,
    /// Committer date of the commit (`YYYY-MM-DD`, UTC); none outside git.
    pub date: Option<String>,
    /// Each member's last release tag and changes since; `None` when history cannot be read
    /// (outside git), and then every member counts as changed and untagged.
    pub history: Option<BTreeMap<String, PackageHistory>>,
    /// Each member's changelog, by member name: (path relative to the workspace root, text).
    pub changelogs: BTreeMap<String, (String, String)>,
    /// Text of `Cargo.lock`, if there is one.
    pub lockfile: Option<String>,
}

/// Whether the workspace is in a git checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitState {
    /// The workspace is inside a git work tree with at least one commit.
    Checkout(GitInputs),
    /// It is not; the text says why in words free of paths.
    Absent(String),
}

/// Registry observations with where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryObservations {
    /// Origin of the data.
    pub source: ObservationSource,
    /// Versions per crate name; may hold crates that are not members.
    pub crates: CrateObservations,
}

impl RegistryObservations {
    /// No observation at all.
    pub fn absent() -> Self {
        Self {
            source: ObservationSource::Absent,
            crates: CrateObservations::new(),
        }
    }
}

/// One workspace member as cargo resolved it, with its manifest text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Package name.
    pub name: String,
    /// Package version (workspace inheritance resolved).
    pub version: semver::Version,
    /// Manifest path relative to the workspace root, `/`-separated.
    pub manifest_path: String,
    /// Manifest text as on disk.
    pub manifest_text: String,
    /// Registries the package may be published to: `None` any, empty none.
    pub publish: Option<Vec<String>>,
    /// `package.description`, resolved.
    pub description: Option<String>,
    /// `package.license`, resolved.
    pub license: Option<String>,
    /// `package.license-file`, resolved.
    pub license_file: Option<String>,
    /// `package.readme`, resolved, relative to the member's directory.
    pub readme: Option<String>,
    /// `package.keywords`, resolved.
    pub keywords: Vec<String>,
    /// Declared dependencies as cargo resolved them (inheritance applied).
    pub dependencies: Vec<DeclaredDependency>,
}

impl Member {
    /// Directory of the manifest relative to the workspace root ("" for the root).
    pub fn dir(&self) -> &str {
        self.manifest_path
            .rsplit_once('/')
            .map_or("", |(dir, _)| dir)
    }
}

/// A dependency as declared by a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredDependency {
    /// Real package name.
    pub name: String,
    /// Name used in the manifest when renamed with `package = ...`.
    pub rename: Option<String>,
    /// Dependency kind.
    pub kind: DependencyKind,
    /// Platform restriction (`cfg(...)` or a triple).
    pub target: Option<String>,
    /// Version requirement as cargo reports it (`*` when none was written).
    pub req: String,
    /// Where the dependency comes from.
    pub source: DependencySource,
}

impl DeclaredDependency {
    /// The key of the dependency in its manifest table.
    pub fn manifest_key(&self) -> &str {
        self.rename.as_deref().unwrap_or(&self.name)
    }
}

/// Source of a dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencySource {
    /// A registry: the target's own (`None`) or another by index URL.
    Registry(Option<String>),
    /// A git repository.
    Git,
    /// A local path.
    Path {
        /// The member at that path, if it is one.
        member: Option<String>,
        /// The path relative to the workspace root, `/`-separated.
        path: String,
    },
}
