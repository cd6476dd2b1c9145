//! Every diagnostic the planner can emit: stable kebab-case code, severity and a one-line meaning.
//!
//! Codes are public API (CI greps for them, docs link them); never rename one. The table in
//! `docs/plan-format.md` lists the same codes and a test keeps the two in step.

use convoy_schema::plan::{Diagnostic, Severity};

/// A diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// Ordering dependencies form a cycle.
    DependencyCycle,
    /// `package.description` is missing.
    MissingDescription,
    /// Neither `license` nor `license-file` is set.
    MissingLicense,
    /// A normal or build dependency from git has no `version`.
    GitDependencyWithoutVersion,
    /// A path dependency outside the workspace has no `version`.
    PathDependencyOutsideWorkspace,
    /// A registry dependency requirement is `*`.
    WildcardRequirement,
    /// An ordering dependency is not published by this plan and not in the registry.
    ExcludedDependency,
    /// A requirement on a member does not match that member's planned version.
    RequirementNotSatisfied,
    /// The crate name is not valid on a registry.
    InvalidCrateName,
    /// More than five keywords.
    TooManyKeywords,
    /// Two planned names differ only by `-`/`_` or case.
    NameCollision,
    /// The plan adds a version to a path dependency on a member.
    PathDependencyVersionAdded,
    /// The planned version is present but yanked.
    PlannedVersionYanked,
    /// No registry observations were given.
    RegistryObservationsAbsent,
    /// The workspace is not in a git checkout.
    NotAGitCheckout,
    /// The workspace has changes not committed.
    DirtyWorkingTree,
    /// `cargo package` failed, or a `.crate` it made cannot be used.
    PackagingFailed,
    /// A `.crate` is larger than crates.io accepts.
    CrateTooLarge,
    /// A packaged file looks accidental.
    SuspiciousPackagedFile,
    /// A packaged lockfile pins a sibling at other bytes than the plan's.
    LockfileChecksumMismatch,
    /// Packaging twice gave different bytes.
    NotReproducible,
    /// No `Cargo.lock`: packaged lockfiles depend on the live index.
    LockfileAbsent,
    /// Packaged from the commit; uncommitted changes are left out.
    UncommittedChangesNotPackaged,
    /// The crate has no version in the registry yet.
    NewCrate,
    /// A new crate's name collides with an existing registry crate modulo `-`/`_`/case.
    RegistryNameCollision,
    /// The planned version is in the registry with other bytes than the plan packaged.
    VersionExistsWithDifferentContent,
    /// A cycle through a versioned dev-dependency is broken by a version in the registry.
    DevDependencyCycleBroken,
    /// `convoy.toml` has a value Convoy cannot use; the defaults stand in for it.
    ConfigInvalid,
    /// `convoy.toml` has a key Convoy does not know; it is ignored.
    ConfigUnknownKey,
    /// A package changed since its last release tag but its version was not raised; it is not released.
    UnreleasedChanges,
    /// The requested level cannot be applied to the version (`release` of a stable version, a pre-release going backwards).
    InvalidBump,
    /// The new version is not greater than the package's last released version.
    VersionNotGreater,
    /// A dependent's requirement is rewritten for a new version, but the dependent is excluded and not released.
    CascadeExcluded,
    /// A Python project's `pyproject.toml` is not usable: not TOML, no `[project]`, no valid name.
    PythonProjectInvalid,
    /// A Python project has no version, or a dynamic one Convoy cannot read.
    PythonVersionMissing,
    /// A Python project's version is not PEP 440, is local, or has no canonical form.
    PythonVersionInvalid,
    /// A Python project has no license, readme or summary.
    PythonMetadataMissing,
    /// A classifier is not a trove classifier.
    PythonClassifierInvalid,
    /// A requirement is not PEP 508, or names a project of the repository by URL.
    PythonRequirementInvalid,
    /// A Python project's dependencies are dynamic.
    PythonDynamicDependencies,
    /// The plan pins a requirement on another project of the repository.
    PythonRequirementPinned,
    /// Two Python projects have one normalized name.
    PythonDistributionCollision,
    /// A wheel holds native code: it is for this platform only.
    PythonNativeWheel,
}

impl Code {
    /// All codes, in documentation order.
    pub const ALL: [Code; 43] = [
        Code::DependencyCycle,
        Code::MissingDescription,
        Code::MissingLicense,
        Code::GitDependencyWithoutVersion,
        Code::PathDependencyOutsideWorkspace,
        Code::WildcardRequirement,
        Code::ExcludedDependency,
        Code::RequirementNotSatisfied,
        Code::InvalidCrateName,
        Code::TooManyKeywords,
        Code::NameCollision,
        Code::PathDependencyVersionAdded,
        Code::PlannedVersionYanked,
        Code::RegistryObservationsAbsent,
        Code::NotAGitCheckout,
        Code::DirtyWorkingTree,
        Code::PackagingFailed,
        Code::CrateTooLarge,
        Code::SuspiciousPackagedFile,
        Code::LockfileChecksumMismatch,
        Code::NotReproducible,
        Code::LockfileAbsent,
        Code::UncommittedChangesNotPackaged,
        Code::NewCrate,
        Code::RegistryNameCollision,
        Code::VersionExistsWithDifferentContent,
        Code::DevDependencyCycleBroken,
        Code::ConfigInvalid,
        Code::ConfigUnknownKey,
        Code::UnreleasedChanges,
        Code::InvalidBump,
        Code::VersionNotGreater,
        Code::CascadeExcluded,
        Code::PythonProjectInvalid,
        Code::PythonVersionMissing,
        Code::PythonVersionInvalid,
        Code::PythonMetadataMissing,
        Code::PythonClassifierInvalid,
        Code::PythonRequirementInvalid,
        Code::PythonDynamicDependencies,
        Code::PythonRequirementPinned,
        Code::PythonDistributionCollision,
        Code::PythonNativeWheel,
    ];

    /// The stable kebab-case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::DependencyCycle => "dependency-cycle",
            Code::MissingDescription => "missing-description",
            Code::MissingLicense => "missing-license",
            Code::GitDependencyWithoutVersion => "git-dependency-without-version",
            Code::PathDependencyOutsideWorkspace => "path-dependency-outside-workspace",
            Code::WildcardRequirement => "wildcard-requirement",
            Code::ExcludedDependency => "excluded-dependency",
            Code::RequirementNotSatisfied => "requirement-not-satisfied",
            Code::InvalidCrateName => "invalid-crate-name",
            Code::TooManyKeywords => "too-many-keywords",
            Code::NameCollision => "name-collision",
            Code::PathDependencyVersionAdded => "path-dependency-version-added",
            Code::PlannedVersionYanked => "planned-version-yanked",
            Code::RegistryObservationsAbsent => "registry-observations-absent",
            Code::NotAGitCheckout => "not-a-git-checkout",
            Code::DirtyWorkingTree => "dirty-working-tree",
            Code::PackagingFailed => "packaging-failed",
            Code::CrateTooLarge => "crate-too-large",
            Code::SuspiciousPackagedFile => "suspicious-packaged-file",
            Code::LockfileChecksumMismatch => "lockfile-checksum-mismatch",
            Code::NotReproducible => "not-reproducible",
            Code::LockfileAbsent => "lockfile-absent",
            Code::UncommittedChangesNotPackaged => "uncommitted-changes-not-packaged",
            Code::NewCrate => "new-crate",
            Code::RegistryNameCollision => "registry-name-collision",
            Code::VersionExistsWithDifferentContent => "version-exists-with-different-content",
            Code::DevDependencyCycleBroken => "dev-dependency-cycle-broken",
            Code::ConfigInvalid => "config-invalid",
            Code::ConfigUnknownKey => "config-unknown-key",
            Code::UnreleasedChanges => "unreleased-changes",
            Code::InvalidBump => "invalid-bump",
            Code::VersionNotGreater => "version-not-greater",
            Code::CascadeExcluded => "cascade-excluded",
            Code::PythonProjectInvalid => "python-project-invalid",
            Code::PythonVersionMissing => "python-version-missing",
            Code::PythonVersionInvalid => "python-version-invalid",
            Code::PythonMetadataMissing => "python-metadata-missing",
            Code::PythonClassifierInvalid => "python-classifier-invalid",
            Code::PythonRequirementInvalid => "python-requirement-invalid",
            Code::PythonDynamicDependencies => "python-dynamic-dependencies",
            Code::PythonRequirementPinned => "python-requirement-pinned",
            Code::PythonDistributionCollision => "python-distribution-collision",
            Code::PythonNativeWheel => "python-native-wheel",
        }
    }

    /// Severity of the code. `wildcard-requirement` is an error only where the registry
    /// rejects wildcards (crates.io); see [`wildcard_severity`].
    pub fn severity(self) -> Severity {
        match self {
            Code::PathDependencyVersionAdded
            | Code::PlannedVersionYanked
            | Code::RegistryObservationsAbsent
            | Code::NotAGitCheckout
            | Code::DirtyWorkingTree
            | Code::SuspiciousPackagedFile
            | Code::LockfileAbsent
            | Code::UncommittedChangesNotPackaged
            | Code::NewCrate
            | Code::DevDependencyCycleBroken
            | Code::ConfigUnknownKey
            | Code::UnreleasedChanges
            | Code::CascadeExcluded
            | Code::PythonMetadataMissing
            | Code::PythonDynamicDependencies
            | Code::PythonRequirementPinned
            | Code::PythonNativeWheel => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// One line saying what the code means.
    pub fn summary(self) -> &'static str {
        match self {
            Code::DependencyCycle => "ordering dependencies between packages to publish form a cycle",
            Code::MissingDescription => "`package.description` is missing; registries require it",
            Code::MissingLicense => "neither `license` nor `license-file` is set; registries require one",
            Code::GitDependencyWithoutVersion => "a normal or build dependency from git has no `version`, so it cannot be published",
            Code::PathDependencyOutsideWorkspace => "a normal or build path dependency outside the workspace has no `version`",
            Code::WildcardRequirement => "a dependency requirement is `*` (crates.io rejects it; a warning for other registries)",
            Code::ExcludedDependency => "an ordering dependency is neither published by this plan nor in the registry",
            Code::RequirementNotSatisfied => "a requirement on a workspace member or a Python project of the release does not match its planned version",
            Code::InvalidCrateName => "the name is not ASCII alphanumerics, `-` and `_`, starting with a letter, at most 64 characters",
            Code::TooManyKeywords => "more than 5 keywords; registries reject it",
            Code::NameCollision => "planned crate names that differ only by `-`/`_` or case",
            Code::PathDependencyVersionAdded => "the plan adds `version = \"^<member version>\"` to a path dependency on a member",
            Code::PlannedVersionYanked => "the planned version is already in the registry but yanked",
            Code::RegistryObservationsAbsent => "no registry observations were given, so nothing could be skipped",
            Code::NotAGitCheckout => "the workspace is not in a git checkout; git inputs are absent",
            Code::DirtyWorkingTree => "the workspace has uncommitted or untracked changes",
            Code::PackagingFailed => "`cargo package` failed (its message is attached), or a `.crate` it made cannot be used",
            Code::CrateTooLarge => "a `.crate` is larger than the 10 MB crates.io accepts",
            Code::SuspiciousPackagedFile => "a packaged file looks accidental: under a `target/` directory, or a large binary",
            Code::LockfileChecksumMismatch => "a packaged Cargo.lock pins a sibling crate at other bytes than the plan publishes",
            Code::NotReproducible => "packaging twice gave different bytes; the files that differ are named",
            Code::LockfileAbsent => "no Cargo.lock is committed, so packaged lockfiles depend on the live index at planning time",
            Code::UncommittedChangesNotPackaged => "artifacts were packaged from the commit; uncommitted changes are not in them",
            Code::NewCrate => "first publish of a crate: needs an API token (not trusted publishing) and counts against the new-crate rate limit",
            Code::RegistryNameCollision => "a new crate's name differs from an existing registry crate's only by `-`/`_` or case",
            Code::VersionExistsWithDifferentContent => "the planned version is already in the registry with other bytes than the plan packaged",
            Code::DevDependencyCycleBroken => "a cycle through a versioned dev-dependency is broken because a version in the registry satisfies it",
            Code::ConfigInvalid => "`convoy.toml` has a value Convoy cannot use; the defaults stand in for it",
            Code::ConfigUnknownKey => "`convoy.toml` has a key Convoy does not know; it is ignored",
            Code::UnreleasedChanges => "a package changed since its last release tag but its version was not raised; it is not released",
            Code::InvalidBump => "the requested level cannot be applied to the version (`release` of a stable version, a pre-release going backwards)",
            Code::VersionNotGreater => "the new version is not greater than the package's last released version",
            Code::CascadeExcluded => "a dependent's requirement is rewritten for a new version, but the dependent is excluded and not released",
            Code::PythonProjectInvalid => "a Python project's `pyproject.toml` is not TOML, or has no `[project]` table or no valid `name`",
            Code::PythonVersionMissing => "a Python project has no `version`, or a `dynamic` one Convoy cannot read from its version attribute",
            Code::PythonVersionInvalid => "a Python project's version is not PEP 440, is a local version (`+…`, which indexes refuse), or has no semantic-version form (epoch, post release, four numbers)",
            Code::PythonMetadataMissing => "a Python project has no license, readme or `description`; the index shows it without",
            Code::PythonClassifierInvalid => "a classifier is not of the trove's form and categories; PyPI refuses the upload",
            Code::PythonRequirementInvalid => "a requirement is not PEP 508, or names another project of the repository by direct URL, which an index refuses",
            Code::PythonDynamicDependencies => "a Python project's dependencies are `dynamic`: requirements on other projects of the repository are neither ordered nor pinned",
            Code::PythonRequirementPinned => "the plan pins a requirement on another project of the repository to the version released with it (`name` → `name==V`)",
            Code::PythonDistributionCollision => "two Python projects have the same normalized name, so their files would have the same names",
            Code::PythonNativeWheel => "a project builds native code (maturin, or a wheel that is not `py*-none-any`): the plan's wheel is for the platform it was built on only",
        }
    }
}

/// The severity of `wildcard-requirement` for a registry: crates.io rejects `*`, others may not.
pub fn wildcard_severity(registry_name: Option<&str>) -> Severity {
    if registry_name == Some(crate::CRATES_IO) {
        Severity::Error
    } else {
        Severity::Warning
    }
}

/// Builds a diagnostic with the code's default severity.
pub fn diagnostic(
    code: Code,
    package: Option<&str>,
    message: impl Into<String>,
    help: impl Into<String>,
) -> Diagnostic {
    Diagnostic {
        code: code.as_str().to_owned(),
        severity: code.severity(),
        package: package.map(str::to_owned),
        message: message.into(),
        help: help.into(),
    }
}

/// Orders diagnostics: errors first, then by package, code and message.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.severity, &a.package, &a.code, &a.message)
            .cmp(&(b.severity, &b.package, &b.code, &b.message))
    });
}

/// Whether `name` is a valid crate name on crates.io.
pub fn is_valid_crate_name(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    starts_with_letter
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The form under which registries consider two names the same.
pub fn collision_key(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "duplicate {text}");
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{text}"
            );
            assert!(!code.summary().is_empty());
        }
    }

    #[test]
    fn crate_names() {
        assert!(is_valid_crate_name("serde_json-2"));
        for bad in ["", "_x", "1x", "a.b", "ä", &"a".repeat(65)] {
            assert!(!is_valid_crate_name(bad), "{bad}");
        }
        assert_eq!(collision_key("Foo-Bar"), collision_key("foo_bar"));
    }
}
