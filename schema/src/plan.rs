//! The release plan: what `convoy-plan` decides and `convoy-publish` executes.
//!
//! Field order here is wire order. The plan's `digest` is computed over the compact JSON of the
//! plan without the `digest` member, keys in struct field order, maps as sorted maps (see
//! `docs/plan-format.md`). Adding a field is a minor format bump: note it at
//! [`PLAN_FORMAT_VERSION`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::digest::sha256_digest;
use crate::python::{PythonObservations, PythonRelease, PythonTarget};
use crate::snapshot::{CrateObservations, RegistryTarget};
use crate::version::{read_versioned_document, FormatVersion, ReadError};

/// Format version of plans this build writes and reads.
///
/// History: 1.0 — first format. 1.1 — `packaging`, and per package `artifact` and
/// `publish_metadata` (plans made with `--bundle`). 1.2 — observation source `index` (read
/// from the live registry index). 1.3 — version planning: `inputs.release`, per package
/// `release`, per edit `previous`, and `lockfile_edits`; each omitted when empty, so the digests
/// of older plans are unchanged. 2.0 — several ecosystems in one release: per package
/// `ecosystem` and `python`, per dependency `extra`, top-level `python` (the Python index),
/// `inputs.python`; `waves` name packages by [`Package::key`]. Every addition is omitted when
/// empty or Cargo's, so a 1.x plan reads as a Cargo-only plan with its digest unchanged
/// ([`READABLE_PLAN_FORMATS`]).
pub const PLAN_FORMAT_VERSION: FormatVersion = FormatVersion::new(2, 0);

/// The formats a reader of [`PLAN_FORMAT_VERSION`] accepts: that one, and plans of format 1.x
/// (at most 1.3), which are Cargo-only plans in the same shape.
pub const READABLE_PLAN_FORMATS: [FormatVersion; 2] =
    [FormatVersion::new(1, 3), PLAN_FORMAT_VERSION];

/// The ecosystem a package belongs to: which packaging, registry protocol and comparison apply.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Ecosystem {
    /// A crate of the Cargo workspace, published to the plan's `registry`.
    #[default]
    Cargo,
    /// A Python project, published to the plan's `python` index.
    Python,
}

impl Ecosystem {
    /// Whether this is Cargo, the ecosystem a package without an `ecosystem` field is in.
    pub fn is_cargo(&self) -> bool {
        *self == Self::Cargo
    }

    /// The ecosystem's name in plans and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cargo => "cargo",
            Self::Python => "python",
        }
    }
}

/// A release plan for one workspace and one registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Format version of this document, "MAJOR.MINOR".
    pub format_version: FormatVersion,
    /// `sha256:<hex>` over the compact JSON of this plan without this field.
    pub digest: String,
    /// Everything the plan is a function of.
    pub inputs: Inputs,
    /// The registry the plan's Cargo packages target.
    pub registry: RegistryTarget,
    /// The index the plan's Python packages target; omitted when the plan has none. (Since 2.0.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonTarget>,
    /// How the artifacts were made; null for a review-only plan, which has no artifacts and
    /// cannot be executed. (Since 1.1.)
    #[serde(default)]
    pub packaging: Option<Packaging>,
    /// One entry per workspace member and Python project, sorted by [`Package::key`].
    pub packages: Vec<Package>,
    /// Keys ([`Package::key`]) of `publish` packages by wave; each wave sorted. A package may
    /// start once every package of earlier waves it depends on is visible in its registry.
    pub waves: Vec<Vec<String>>,
    /// Findings of the preflight checks, errors first.
    pub diagnostics: Vec<Diagnostic>,
    /// Changes to `Cargo.lock` that go with the version changes, sorted by name; omitted when
    /// there are none. (Since 1.3.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lockfile_edits: Vec<LockfileEdit>,
}

/// The plan with its digest member left out: the exact value the digest is computed over.
///
/// Keep in the field order of [`Plan`]; a test compares the two serializations.
#[derive(Serialize)]
struct DigestedContent<'a> {
    format_version: &'a FormatVersion,
    inputs: &'a Inputs,
    registry: &'a RegistryTarget,
    #[serde(skip_serializing_if = "Option::is_none")]
    python: &'a Option<PythonTarget>,
    packaging: &'a Option<Packaging>,
    packages: &'a [Package],
    waves: &'a [Vec<String>],
    diagnostics: &'a [Diagnostic],
    #[serde(skip_serializing_if = "<[LockfileEdit]>::is_empty")]
    lockfile_edits: &'a [LockfileEdit],
}

impl Plan {
    /// The digest this plan's content should carry.
    pub fn compute_digest(&self) -> String {
        let content = DigestedContent {
            format_version: &self.format_version,
            inputs: &self.inputs,
            registry: &self.registry,
            python: &self.python,
            packaging: &self.packaging,
            packages: &self.packages,
            waves: &self.waves,
            diagnostics: &self.diagnostics,
            lockfile_edits: &self.lockfile_edits,
        };
        // Serializing plain data with string keys cannot fail.
        let compact = serde_json::to_vec(&content).unwrap_or_default();
        sha256_digest(&compact)
    }

    /// Sets `digest` from the current content.
    pub fn seal(&mut self) {
        self.digest = self.compute_digest();
    }

    /// Whether `digest` matches the content (the plan was not edited since it was sealed).
    pub fn digest_is_valid(&self) -> bool {
        self.digest == self.compute_digest()
    }

    /// The plan file's text: pretty-printed JSON with a trailing newline.
    pub fn to_pretty_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a plan, refusing format versions other than [`READABLE_PLAN_FORMATS`].
    pub fn from_json(text: &str) -> Result<Self, ReadError> {
        read_versioned_document(text, "plan", &READABLE_PLAN_FORMATS)
    }

    /// Whether any diagnostic is an error (such a plan must not be executed).
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// Why the plan contradicts itself, if it does: a package named twice, a wave naming a
    /// package that is not to be published (or naming one twice), a `publish` package in no
    /// wave, or a package whose `wave` disagrees with `waves`. The planner never writes such a
    /// plan; a reader that acted on one would drop or add uploads silently.
    pub fn inconsistency(&self) -> Option<String> {
        let mut packages: BTreeMap<String, &Package> = BTreeMap::new();
        for package in &self.packages {
            if packages.insert(package.key(), package).is_some() {
                return Some(format!("package `{}` is listed twice", package.key()));
            }
            if package.ecosystem.is_cargo() != package.python.is_none() {
                return Some(format!(
                    "`{}` has a `python` part that does not match its ecosystem",
                    package.key()
                ));
            }
        }
        if self.python.is_none() && self.packages.iter().any(|p| !p.ecosystem.is_cargo()) {
            return Some("the plan has Python packages but no `python` index".to_owned());
        }
        let mut in_waves: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, wave) in self.waves.iter().enumerate() {
            for name in wave {
                if in_waves.insert(name, index).is_some() {
                    return Some(format!("`{name}` appears in `waves` twice"));
                }
                match packages.get(name) {
                    None => {
                        return Some(format!(
                            "wave {index} names `{name}`, which is not in `packages`"
                        ))
                    }
                    Some(p) if p.action != Action::Publish => {
                        return Some(format!(
                            "wave {index} names `{name}`, whose action is not `publish`"
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        for package in &self.packages {
            let key = package.key();
            let wave = in_waves.get(key.as_str()).copied();
            let recorded = package.wave.and_then(|w| usize::try_from(w).ok());
            if package.action == Action::Publish && wave.is_none() {
                return Some(format!("`{key}` is to be published but is in no wave"));
            }
            if recorded != wave {
                return Some(format!(
                    "`{key}` records wave {} but `waves` puts it in {}",
                    recorded.map_or("null".to_owned(), |w| w.to_string()),
                    wave.map_or("none".to_owned(), |w| w.to_string()),
                ));
            }
        }
        None
    }

    /// The package entry whose [`Package::key`] is `key` (a crate's name, `python:NAME` for a
    /// Python project).
    pub fn package(&self, key: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.key() == key)
    }

    /// The JSON Schema of the plan format, as checked in at `schemas/plan.v2.schema.json`.
    pub fn json_schema() -> String {
        let mut text =
            serde_json::to_string_pretty(&schemars::schema_for!(Plan)).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// What the plan was computed from. No timestamps, absolute paths or user names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// `cargo --version` of the cargo that read the workspace.
    pub cargo_version: String,
    /// The git state of the workspace; null when it is not inside a git checkout.
    pub git: Option<GitInputs>,
    /// `sha256:<hex>` of every manifest involved, keyed by path relative to the workspace root.
    pub manifests: BTreeMap<String, String>,
    /// `sha256:<hex>` of the workspace's `Cargo.lock`; null when there is none.
    pub lockfile: Option<String>,
    /// The package selection given on the command line.
    pub selection: Selection,
    /// What the registry was observed to hold for the workspace's crates.
    pub registry_observations: Observations,
    /// What version planning read: configuration, release tags, history, changelogs; omitted
    /// outside a git checkout. (Since 1.3.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseInputs>,
    /// The Python projects read and what their index holds; omitted when the repository has
    /// none. (Since 2.0.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonInputs>,
}

/// What the Python part of a plan is a function of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PythonInputs {
    /// `sha256:<hex>` of each project's `pyproject.toml` (and of a file its dynamic version is
    /// read from), keyed by path relative to the repository root.
    pub projects: BTreeMap<String, String>,
    /// Where the index observations came from.
    pub source: ObservationSource,
    /// What the index serves for each project, by normalized name.
    pub observations: PythonObservations,
}

impl Inputs {
    /// The inputs of a plan made by `cargo_version` outside git, from no recorded manifest,
    /// lockfile or selection, without reading a registry: the start of a plan built by hand
    /// (tests, benchmarks), to fill in with struct-update syntax.
    pub fn new(cargo_version: impl Into<String>) -> Self {
        Self {
            cargo_version: cargo_version.into(),
            git: None,
            manifests: BTreeMap::new(),
            lockfile: None,
            selection: Selection::default(),
            registry_observations: Observations {
                source: ObservationSource::Absent,
                crates: BTreeMap::new(),
            },
            release: None,
            python: None,
        }
    }
}

/// The inputs of version planning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInputs {
    /// `sha256:<hex>` of `convoy.toml` at the repository root; null when there is none.
    pub config: Option<String>,
    /// What the command line asked for.
    pub request: ReleaseRequest,
    /// The committer date of `inputs.git.commit` (`YYYY-MM-DD`, UTC), used as the release
    /// date in changelog sections.
    pub date: Option<String>,
    /// Per member: its last release tag and what changed since.
    pub history: BTreeMap<String, PackageHistory>,
    /// `sha256:<hex>` of each changelog file a release section is added to, keyed by path
    /// relative to the workspace root.
    pub changelogs: BTreeMap<String, String>,
}

/// The version request of the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// `--all`: every publishable package is selected, changed or not.
    pub all: bool,
    /// `--bump LEVEL` (`major`, `minor`, `patch`, `prerelease[=ID]`, `release`, `auto`) or
    /// `--set-version VERSION` (as `=VERSION`); null for neither.
    pub level: Option<String>,
    /// Per-package levels or versions (`-p name=LEVEL`), by package name.
    pub packages: BTreeMap<String, String>,
}

/// A member's release history, as read from git.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageHistory {
    /// The latest release tag reachable from the commit; null when the package has none (it is
    /// new).
    pub last_tag: Option<TagRef>,
    /// Files the package publishes (paths relative to the workspace root) that differ between
    /// the tag and the commit, sorted; `Cargo.toml (published)` when only the inherited part of
    /// the published manifest changed.
    pub changed_files: Vec<String>,
    /// Commits since the tag that touched those files, newest first.
    pub commits: Vec<Commit>,
}

/// A release tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRef {
    /// Tag name.
    pub name: String,
    /// The version the tag names.
    pub version: semver::Version,
    /// The commit it points to.
    pub commit: String,
}

/// One commit in a package's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    /// Full commit id.
    pub hash: String,
    /// The subject line.
    pub subject: String,
    /// Whether the body has a `BREAKING CHANGE:` footer.
    pub breaking_note: bool,
}

/// What a release changes in `Cargo.lock`: a member's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockfileEdit {
    /// The member.
    pub name: String,
    /// Its version in the lockfile now.
    pub from: semver::Version,
    /// Its version after the release edits.
    pub to: semver::Version,
}

/// How a package's version was chosen and what the release adds to the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The version the manifest holds before the plan's edits.
    pub previous_version: semver::Version,
    /// The last release tag; null for a first release.
    pub last_tag: Option<TagRef>,
    /// How the version was chosen: a level (`minor`, ...), `set` (`--set-version`), `manifest`
    /// (the manifest's version as written), `first-release`, `cascade` or `group`.
    pub level: String,
    /// The tag `convoy-plan tag` creates once the release is verified.
    pub tag: String,
    /// Commits since the last tag that touched the package's files, newest first.
    pub commits: Vec<Commit>,
    /// The section added to the package's changelog; null when it has none.
    pub changelog: Option<ChangelogEdit>,
}

/// A section prepended to a changelog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangelogEdit {
    /// The changelog, relative to the workspace root.
    pub file: String,
    /// The Markdown section inserted (Keep a Changelog layout).
    pub section: String,
}

/// Git state of the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitInputs {
    /// Commit id of `HEAD`.
    pub commit: String,
    /// Tree id of `HEAD`.
    pub tree: String,
    /// Whether the workspace directory has changes, tracked or untracked, not in `HEAD`.
    pub dirty: bool,
    /// Path of the workspace root inside the repository ("" at the top).
    pub workspace_path: String,
}

/// The package selection (`-p/--package`, `--exclude`), each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Packages selected with `--package`; empty means every member.
    pub packages: Vec<String>,
    /// Packages removed with `--exclude`.
    pub exclude: Vec<String>,
}

/// Registry observations the plan is a function of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observations {
    /// Where the observations came from.
    pub source: ObservationSource,
    /// Versions present per crate name, for the workspace's crates only.
    pub crates: CrateObservations,
}

/// Origin of the registry observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ObservationSource {
    /// No observation was made: nothing could be skipped.
    Absent,
    /// Read from a registry snapshot file (`--registry-state`).
    Snapshot,
    /// Read from the registry's live index when the plan was made. (Since 1.2.)
    Index,
}

/// One workspace member or Python project and what the plan does with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// Package name (for a Python project, PEP 503 normalized).
    pub name: String,
    /// The ecosystem; omitted for Cargo. (Since 2.0.)
    #[serde(default, skip_serializing_if = "Ecosystem::is_cargo")]
    pub ecosystem: Ecosystem,
    /// The version to publish (or that is already published, or that is excluded), in its
    /// canonical form: a semantic version, which each ecosystem renders its own way
    /// (`python.version` for a Python project).
    pub version: semver::Version,
    /// Path of the manifest (`Cargo.toml`, `pyproject.toml`) relative to the workspace root,
    /// `/`-separated.
    pub manifest_path: String,
    /// What happens to the package.
    pub action: Action,
    /// Why, in one sentence.
    pub reason: String,
    /// Index into `waves`; null unless `action` is `publish`.
    pub wave: Option<u32>,
    /// Dependencies on other workspace members, in manifest order of kind, target and name.
    pub dependencies: Vec<PackageDependency>,
    /// How the manifest is changed and what will be published.
    pub manifest: ManifestPlan,
    /// The packaged `.crate`; null unless the plan was packaged and the action is `publish`.
    /// (Since 1.1.)
    #[serde(default)]
    pub artifact: Option<Artifact>,
    /// What the publish API is sent beside the `.crate`, derived from the normalized manifest
    /// inside it; null when `artifact` is. (Since 1.1.)
    #[serde(default)]
    pub publish_metadata: Option<PublishMetadata>,
    /// How the version was chosen; omitted when version planning did not release the package.
    /// (Since 1.3.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
    /// A Python project's own part: its PEP 440 version, requirement pins, files and metadata;
    /// omitted for Cargo. (Since 2.0.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonRelease>,
}

impl Package {
    /// The package's key in `waves` and lookups: a crate's name, `python:NAME` for a Python
    /// project (`:` is in neither ecosystem's names, so a crate and a Python project of one
    /// name do not collide).
    pub fn key(&self) -> String {
        package_key(self.ecosystem, &self.name)
    }
}

/// The key of package `name` of `ecosystem`; see [`Package::key`].
pub fn package_key(ecosystem: Ecosystem, name: &str) -> String {
    match ecosystem {
        Ecosystem::Cargo => name.to_owned(),
        other => format!("{}:{name}", other.as_str()),
    }
}

/// What the plan does with a package.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Upload this version.
    Publish,
    /// This version is already in the registry.
    Skip,
    /// Not published: `publish = false`, not allowed for this registry, or not selected.
    Excluded,
}

/// A dependency edge to another workspace member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageDependency {
    /// Name of the member depended on.
    pub name: String,
    /// The name it is used under (`package = ...` renames), if different.
    pub rename: Option<String>,
    /// Dependency kind.
    pub kind: DependencyKind,
    /// Platform (`cfg(...)` or triple) the dependency is limited to, if any.
    pub target: Option<String>,
    /// Version requirement as published; null when the dependency has none and is dropped.
    pub requirement: Option<String>,
    /// Whether the dependency must be in the registry before this package can be uploaded.
    pub orders_publishing: bool,
    /// The extra (`optional-dependencies` key) a Python requirement belongs to; omitted
    /// otherwise. (Since 2.0.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
}

/// Kind of a dependency, as in the manifest's table names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DependencyKind {
    /// `[dependencies]`
    Normal,
    /// `[build-dependencies]`
    Build,
    /// `[dev-dependencies]`
    Dev,
}

impl DependencyKind {
    /// The manifest table that holds dependencies of this kind.
    pub fn table(self) -> &'static str {
        match self {
            Self::Normal => "dependencies",
            Self::Build => "build-dependencies",
            Self::Dev => "dev-dependencies",
        }
    }
}

/// Source edits the plan makes to a manifest and the manifest that will be published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestPlan {
    /// Changes to manifests in the source tree, applied before packaging.
    pub edits: Vec<ManifestEdit>,
    /// The manifest as it will be published (TOML): paths removed, workspace inheritance
    /// resolved, version-less dev-dependencies dropped. Predicted until the plan is packaged.
    pub published: String,
}

/// One source-level manifest change: set `key` to `value` in table `table` of `file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestEdit {
    /// Manifest path relative to the workspace root (a Python project's files: relative to the
    /// repository's top). A `.py` file is a dynamic version's source: `key` is the name
    /// assigned (`__version__`), `table` is empty.
    pub file: String,
    /// Keys from the document root to the table edited, e.g. `["dependencies", "b"]`; or to
    /// an array of strings (`["project", "dependencies"]`), whose element `key` is.
    pub table: Vec<String>,
    /// Key set in that table, or the index of the array element.
    pub key: String,
    /// Value set (a TOML string).
    pub value: String,
    /// The edit in words.
    pub summary: String,
    /// The value replaced; omitted when the key is added. (Since 1.3.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// A preflight finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    /// Stable kebab-case code.
    pub code: String,
    /// Errors make the plan unexecutable; warnings do not.
    pub severity: Severity,
    /// The package concerned, if any.
    pub package: Option<String>,
    /// What is wrong, naming the file, crate or field.
    pub message: String,
    /// What to do about it.
    pub help: String,
}

/// Severity of a diagnostic.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The plan must not be executed.
    Error,
    /// Worth a reviewer's attention.
    Warning,
}

/// How a plan's artifacts were made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Packaging {
    /// `cargo --version` of the cargo that packaged (the `.crate` bytes depend on it).
    pub cargo_version: String,
    /// What was packaged: the commit (`git-commit`) or a copy of a tree outside git (`copy`).
    pub source: PackagingSource,
    /// Whether the plan's manifest edits were applied before packaging (the archives then say
    /// `"dirty": true` in `.cargo_vcs_info.json`).
    pub edits_applied: bool,
    /// Whether each packaged crate was built against the staged siblings (`--verify-build`).
    pub build_verified: bool,
    /// Whether packaging was repeated in a second staging directory and gave the same bytes
    /// (`--check-reproducible`).
    pub reproducibility_checked: bool,
}

/// What the artifacts were packaged from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PackagingSource {
    /// A clean checkout of `inputs.git.commit`; uncommitted changes are not included.
    GitCommit,
    /// A copy of a workspace that is not in a git checkout.
    Copy,
}

/// Whether an artifact's `file` is a bare file name — no directories, no `..`, nothing hidden or
/// absolute — so a bundle is only ever read inside its own directory.
pub fn is_plain_file_name(file: &str) -> bool {
    !file.is_empty()
        && file != "."
        && file != ".."
        && !file.contains(['/', '\\', '\0'])
        && !file.starts_with('.')
}

/// A packaged `.crate` file in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// File name inside the bundle directory, `<name>-<version>.crate`.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the file: the `cksum` the registry index will show.
    pub sha256: String,
    /// `sha256:<hex>` of the `Cargo.lock` packaged inside; null when none is.
    pub lockfile: Option<String>,
    /// Workspace crates the packaged `Cargo.lock` pins by checksum, with the version and
    /// `cksum` it pins (checksums chain along dependency edges).
    pub packaged_against: BTreeMap<String, LockedCrate>,
    /// Paths inside the archive, relative to its `<name>-<version>/` directory, sorted.
    pub files: Vec<String>,
}

/// A crate pinned in a packaged lockfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockedCrate {
    /// The version pinned.
    pub version: semver::Version,
    /// Its checksum in the lockfile (lowercase hex SHA-256 of its `.crate`).
    pub cksum: String,
}

/// The JSON metadata of a publish request (`PUT /api/v1/crates/new`), field for field as cargo
/// sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishMetadata {
    /// Crate name.
    pub name: String,
    /// Version.
    pub vers: String,
    /// Dependencies, as in the normalized manifest (version-less dev-dependencies are gone).
    pub deps: Vec<PublishDependency>,
    /// Features, by name.
    pub features: BTreeMap<String, Vec<String>>,
    /// `package.authors`.
    pub authors: Vec<String>,
    /// `package.description`.
    pub description: Option<String>,
    /// `package.documentation`.
    pub documentation: Option<String>,
    /// `package.homepage`.
    pub homepage: Option<String>,
    /// Text of the readme file, when the manifest names one.
    pub readme: Option<String>,
    /// Path of the readme file inside the package.
    pub readme_file: Option<String>,
    /// `package.keywords`.
    pub keywords: Vec<String>,
    /// `package.categories`.
    pub categories: Vec<String>,
    /// `package.license`.
    pub license: Option<String>,
    /// `package.license-file`.
    pub license_file: Option<String>,
    /// `package.repository`.
    pub repository: Option<String>,
    /// `[badges]`.
    pub badges: BTreeMap<String, BTreeMap<String, String>>,
    /// `package.links`.
    pub links: Option<String>,
    /// `package.rust-version`.
    pub rust_version: Option<String>,
}

impl PublishMetadata {
    /// Metadata naming a crate version and nothing else: no dependencies, features or
    /// descriptive fields.
    pub fn new(name: impl Into<String>, vers: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            vers: vers.into(),
            deps: Vec::new(),
            features: BTreeMap::new(),
            authors: Vec::new(),
            description: None,
            documentation: None,
            homepage: None,
            readme: None,
            readme_file: None,
            keywords: Vec::new(),
            categories: Vec::new(),
            license: None,
            license_file: None,
            repository: None,
            badges: BTreeMap::new(),
            links: None,
            rust_version: None,
        }
    }
}

/// One dependency in publish metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishDependency {
    /// Whether it is optional.
    pub optional: bool,
    /// Whether default features are enabled.
    pub default_features: bool,
    /// The real crate name.
    pub name: String,
    /// Features enabled.
    pub features: Vec<String>,
    /// Requirement in semver's display form (`0.1` is `^0.1`).
    pub version_req: String,
    /// Platform restriction.
    pub target: Option<String>,
    /// `normal`, `build` or `dev`.
    pub kind: DependencyKind,
    /// Index URL of the registry the dependency comes from; null for the target registry.
    pub registry: Option<String>,
    /// The name used in the manifest when renamed.
    pub explicit_name_in_toml: Option<String>,
}
