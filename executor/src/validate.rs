//! The refusals: every reason `convoy-publish` must not upload anything, checked before the
//! first upload. Pure: the plan, what the command line asked for, and the bundle's files as
//! bytes go in; a validated list of uploads or the first refusal comes out ([`validate`]); then
//! the index files read before the run go in and the [`RegistryState`] the run starts from, or
//! a refusal, comes out ([`registry_state`]).

use std::collections::{BTreeMap, BTreeSet};

use convoy_cli::BundleFile;
use convoy_registry::index::IndexEntry;
use convoy_registry::python::Link;
use convoy_schema::digest::sha256_hex;
use convoy_schema::plan::{
    is_plain_file_name, package_key, Action, Package, Plan, PublishMetadata, Severity,
};
use convoy_schema::python::{CoreMetadata, DistFile, PythonRelease};
use convoy_schema::snapshot::RegistryTarget;
use convoy_schema::{exit, ErrorCode};

use crate::schedule::Seen;

/// Why a plan is refused (exit 2, nothing uploaded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The digest does not match the content.
    #[error("the plan's digest {recorded} does not match its content ({computed}): it was edited after it was made")]
    DigestMismatch {
        /// In the file.
        recorded: String,
        /// Of the content.
        computed: String,
    },
    /// `--expect-digest` names another plan.
    #[error("the plan's digest is {actual}, but --expect-digest says {expected}: this is not the plan that was reviewed")]
    UnexpectedDigest {
        /// Given on the command line.
        expected: String,
        /// The plan's.
        actual: String,
    },
    /// The plan has error diagnostics.
    #[error("the plan has {count} error diagnostic(s), first `{first}`: it cannot be executed")]
    PlanHasErrors {
        /// How many.
        count: usize,
        /// The first code.
        first: String,
    },
    /// A review-only plan.
    #[error(
        "the plan has no artifacts (it was made without --bundle): there are no bytes to upload"
    )]
    NoArtifacts,
    /// A package to publish lacks its artifact or metadata.
    #[error("`{package}` is to be published but the plan records no {what} for it")]
    Incomplete {
        /// The package.
        package: String,
        /// `artifact` or `publish_metadata`.
        what: &'static str,
    },
    /// The plan names a file outside the bundle directory.
    #[error("`{package}`'s artifact `{file}` is not a plain file name inside the bundle")]
    OutsideBundle {
        /// The package.
        package: String,
        /// The name in the plan.
        file: String,
    },
    /// The plan contradicts itself (a package twice, waves that disagree with the packages).
    #[error("the plan contradicts itself: {detail}")]
    Inconsistent {
        /// What disagrees.
        detail: String,
    },
    /// An artifact file is there but is not a regular file inside the bundle.
    #[error("`{package}`'s artifact `{file}` is refused: {reason}")]
    UnreadableArtifact {
        /// The package.
        package: String,
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// An artifact file is missing.
    #[error("`{package}`'s artifact `{file}` is not in the bundle")]
    MissingArtifact {
        /// The package.
        package: String,
        /// The file.
        file: String,
    },
    /// An artifact file has other bytes than the plan recorded.
    #[error(
        "`{package}`'s artifact `{file}` has sha256 {actual}, but the plan recorded {expected}"
    )]
    ArtifactChanged {
        /// The package.
        package: String,
        /// The file.
        file: String,
        /// Recorded.
        expected: String,
        /// Found.
        actual: String,
    },
    /// The plan was made for another registry.
    #[error("the plan was made for registry {planned}, but this run publishes to {given}")]
    OtherRegistry {
        /// The plan's.
        planned: String,
        /// The command line's.
        given: String,
    },
    /// The registry's `config.json` names no publish API.
    #[error("the registry {index}'s config.json names no `api`: it accepts no publishes")]
    ReadOnlyRegistry {
        /// The index URL.
        index: String,
    },
    /// The registry already has a planned version with other bytes.
    #[error("`{name}` {version} is already in the registry with cksum {cksum}, not the planned {planned}")]
    OtherContent {
        /// The crate.
        name: String,
        /// The version.
        version: String,
        /// The registry's cksum.
        cksum: String,
        /// The plan's sha256.
        planned: String,
    },
    /// The metadata does not describe the artifact's package.
    #[error("`{package}`'s publish metadata names {name} {vers}, not the planned package")]
    MetadataMismatch {
        /// The package.
        package: String,
        /// Metadata name.
        name: String,
        /// Metadata version.
        vers: String,
    },
}

convoy_schema::error_codes! {
    /// The codes of [`Refusal`]: every one exits 2 with nothing uploaded.
    pub REFUSAL_CODES {
        /// The digest does not match the content.
        PLAN_DIGEST_MISMATCH = "plan-digest-mismatch", exit::REFUSED;
        /// `--expect-digest` names another plan.
        UNEXPECTED_PLAN_DIGEST = "unexpected-plan-digest", exit::REFUSED;
        /// The plan has error diagnostics.
        PLAN_HAS_ERRORS = "plan-has-errors", exit::REFUSED;
        /// The plan was made without `--bundle`.
        PLAN_WITHOUT_ARTIFACTS = "plan-without-artifacts", exit::REFUSED;
        /// A package to publish lacks its artifact or metadata.
        PLAN_INCOMPLETE = "plan-incomplete", exit::REFUSED;
        /// An artifact name is not a plain file name.
        ARTIFACT_OUTSIDE_BUNDLE = "artifact-outside-bundle", exit::REFUSED;
        /// An artifact is not in the bundle.
        ARTIFACT_MISSING = "artifact-missing", exit::REFUSED;
        /// The plan contradicts itself.
        PLAN_INCONSISTENT = "plan-inconsistent", exit::REFUSED;
        /// An artifact is not a regular file inside the bundle.
        ARTIFACT_UNREADABLE = "artifact-unreadable", exit::REFUSED;
        /// An artifact has other bytes than planned.
        ARTIFACT_CHANGED = "artifact-changed", exit::REFUSED;
        /// The plan was made for another registry.
        PLAN_FOR_OTHER_REGISTRY = "plan-for-other-registry", exit::REFUSED;
        /// The metadata names another package.
        METADATA_MISMATCH = "metadata-mismatch", exit::REFUSED;
        /// The registry has no publish API.
        REGISTRY_READ_ONLY = "registry-read-only", exit::REFUSED;
        /// A planned version is in the registry with other bytes.
        VERSION_EXISTS_WITH_DIFFERENT_CONTENT = "version-exists-with-different-content", exit::REFUSED;
    }
}

impl Refusal {
    /// Stable code (one of [`REFUSAL_CODES`]).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::DigestMismatch { .. } => PLAN_DIGEST_MISMATCH,
            Self::UnexpectedDigest { .. } => UNEXPECTED_PLAN_DIGEST,
            Self::PlanHasErrors { .. } => PLAN_HAS_ERRORS,
            Self::NoArtifacts => PLAN_WITHOUT_ARTIFACTS,
            Self::Incomplete { .. } => PLAN_INCOMPLETE,
            Self::OutsideBundle { .. } => ARTIFACT_OUTSIDE_BUNDLE,
            Self::MissingArtifact { .. } => ARTIFACT_MISSING,
            Self::Inconsistent { .. } => PLAN_INCONSISTENT,
            Self::UnreadableArtifact { .. } => ARTIFACT_UNREADABLE,
            Self::ArtifactChanged { .. } => ARTIFACT_CHANGED,
            Self::OtherRegistry { .. } => PLAN_FOR_OTHER_REGISTRY,
            Self::MetadataMismatch { .. } => METADATA_MISMATCH,
            Self::ReadOnlyRegistry { .. } => REGISTRY_READ_ONLY,
            Self::OtherContent { .. } => VERSION_EXISTS_WITH_DIFFERENT_CONTENT,
        }
    }

    /// Stable kebab-case code.
    pub fn code(&self) -> &'static str {
        self.error_code().name
    }

    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            Self::UnexpectedDigest { .. } => "publish the plan that was reviewed; the digest is not a signature, so compare it with the one shown in the reviewed pull request",
            Self::ReadOnlyRegistry { .. } => "publish to a registry that has a publish API (check the index URL)",
            Self::OtherContent { .. } => "the sources changed since that version was published: bump the version and plan again",
            _ => "make the plan again with convoy-plan --bundle, review it, and publish that plan unmodified",
        }
    }
}

/// One package to upload, with everything the upload needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Package key (a crate's name, `python:NAME` for a Python project).
    pub name: String,
    /// Version (canonical).
    pub version: semver::Version,
    /// Keys of other uploads that must be visible first.
    pub after: Vec<String>,
    /// What is sent, by ecosystem.
    pub payload: Payload,
}

/// What an upload sends.
// A release holds a few hundred of these, built once: boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A `.crate` to the Cargo registry's publish API.
    Crate {
        /// The `.crate` bytes, checked against the plan.
        bytes: Vec<u8>,
        /// Expected `cksum` in the index.
        sha256: String,
        /// What the publish API is sent.
        metadata: PublishMetadata,
    },
    /// A Python project's files to the Python index.
    Python(PythonUpload),
}

/// A Python project's version: its files (the sdist first), each checked against the plan,
/// and the core metadata every upload of them is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonUpload {
    /// The project's normalized name.
    pub project: String,
    /// The PEP 440 version.
    pub version: String,
    /// The files with their bytes, in upload order.
    pub files: Vec<(DistFile, Vec<u8>)>,
    /// The core metadata.
    pub metadata: CoreMetadata,
}

impl Upload {
    /// A crate upload of `bytes` (its sha256 computed) with `metadata`, after `after`.
    pub fn new_crate(
        name: &str,
        version: semver::Version,
        bytes: Vec<u8>,
        metadata: PublishMetadata,
        after: Vec<String>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            version,
            after,
            payload: Payload::Crate {
                sha256: sha256_hex(&bytes),
                bytes,
                metadata,
            },
        }
    }

    /// The version as its ecosystem writes it (PEP 440 for a Python project).
    pub fn version_text(&self) -> String {
        match &self.payload {
            Payload::Python(python) => python.version.clone(),
            Payload::Crate { .. } => self.version.to_string(),
        }
    }
}

/// Checks everything that can be checked without the registry. `bundle` maps artifact file
/// names to their bytes or why they were not read (a file the plan names but the bundle lacks is
/// simply absent).
pub fn validate(
    plan: &Plan,
    expected_digest: Option<&str>,
    registry: &RegistryTarget,
    bundle: &BTreeMap<String, BundleFile>,
) -> Result<Vec<Upload>, Refusal> {
    let computed = plan.compute_digest();
    if computed != plan.digest {
        return Err(Refusal::DigestMismatch {
            recorded: plan.digest.clone(),
            computed,
        });
    }
    if let Some(expected) = expected_digest {
        if expected != plan.digest {
            return Err(Refusal::UnexpectedDigest {
                expected: expected.to_owned(),
                actual: plan.digest.clone(),
            });
        }
    }
    if let Some(detail) = plan.inconsistency() {
        return Err(Refusal::Inconsistent { detail });
    }
    if plan.registry.index != registry.index
        || (plan.registry.name.is_some()
            && registry.name.is_some()
            && plan.registry.name != registry.name)
    {
        let describe = |r: &RegistryTarget| match &r.name {
            Some(name) => format!("`{name}` ({})", r.index),
            None => r.index.clone(),
        };
        return Err(Refusal::OtherRegistry {
            planned: describe(&plan.registry),
            given: describe(registry),
        });
    }
    let errors: Vec<&str> = plan
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.code.as_str())
        .collect();
    if let Some(first) = errors.first() {
        return Err(Refusal::PlanHasErrors {
            count: errors.len(),
            first: (*first).to_owned(),
        });
    }
    if plan.packaging.is_none() {
        return Err(Refusal::NoArtifacts);
    }
    let publishing: Vec<String> = plan
        .packages
        .iter()
        .filter(|p| p.action == Action::Publish)
        .map(Package::key)
        .collect();
    let mut uploads = Vec::new();
    for package in plan.packages.iter().filter(|p| p.action == Action::Publish) {
        let key = package.key();
        let mut after: Vec<String> = package
            .dependencies
            .iter()
            .filter(|d| d.orders_publishing)
            .map(|d| package_key(package.ecosystem, &d.name))
            .filter(|d| publishing.contains(d) && *d != key)
            .collect();
        after.sort();
        after.dedup();
        if let Some(python) = &package.python {
            uploads.push(Upload {
                name: key,
                version: package.version.clone(),
                after,
                payload: Payload::Python(python_upload(package, python, bundle)?),
            });
            continue;
        }
        let incomplete = |what| Refusal::Incomplete {
            package: package.name.clone(),
            what,
        };
        let artifact = package
            .artifact
            .as_ref()
            .ok_or_else(|| incomplete("artifact"))?;
        let metadata = package
            .publish_metadata
            .as_ref()
            .ok_or_else(|| incomplete("publish_metadata"))?;
        if !is_plain_file_name(&artifact.file) {
            return Err(Refusal::OutsideBundle {
                package: package.name.clone(),
                file: artifact.file.clone(),
            });
        }
        let bytes = bundle
            .get(&artifact.file)
            .ok_or_else(|| Refusal::MissingArtifact {
                package: package.name.clone(),
                file: artifact.file.clone(),
            })?
            .as_ref()
            .map_err(|reason| Refusal::UnreadableArtifact {
                package: package.name.clone(),
                file: artifact.file.clone(),
                reason: reason.clone(),
            })?;
        let actual = sha256_hex(bytes);
        if actual != artifact.sha256 {
            return Err(Refusal::ArtifactChanged {
                package: package.name.clone(),
                file: artifact.file.clone(),
                expected: artifact.sha256.clone(),
                actual,
            });
        }
        if metadata.name != package.name || metadata.vers != package.version.to_string() {
            return Err(Refusal::MetadataMismatch {
                package: package.name.clone(),
                name: metadata.name.clone(),
                vers: metadata.vers.clone(),
            });
        }
        uploads.push(Upload {
            name: package.name.clone(),
            version: package.version.clone(),
            after,
            payload: Payload::Crate {
                bytes: bytes.clone(),
                sha256: artifact.sha256.clone(),
                metadata: metadata.clone(),
            },
        });
    }
    Ok(uploads)
}

/// A Python package's files read from the bundle and checked against the plan.
fn python_upload(
    package: &Package,
    python: &PythonRelease,
    bundle: &BTreeMap<String, BundleFile>,
) -> Result<PythonUpload, Refusal> {
    let key = package.key();
    let metadata = python.metadata.clone().ok_or_else(|| Refusal::Incomplete {
        package: key.clone(),
        what: "python.metadata",
    })?;
    if python.files.is_empty() {
        return Err(Refusal::Incomplete {
            package: key,
            what: "python.files",
        });
    }
    let named = |field: &str| metadata.get(field).unwrap_or_default().to_owned();
    let same_name = convoy_registry::python::normalize(&named("Name")) == package.name;
    let same_version = named("Version").parse::<pep440_rs::Version>().ok()
        == python.version.parse::<pep440_rs::Version>().ok();
    if !same_name || !same_version {
        return Err(Refusal::MetadataMismatch {
            package: key,
            name: named("Name"),
            vers: named("Version"),
        });
    }
    let mut files = Vec::with_capacity(python.files.len());
    for file in &python.files {
        if !is_plain_file_name(&file.filename) {
            return Err(Refusal::OutsideBundle {
                package: key,
                file: file.filename.clone(),
            });
        }
        let bytes = bundle
            .get(&file.filename)
            .ok_or_else(|| Refusal::MissingArtifact {
                package: key.clone(),
                file: file.filename.clone(),
            })?
            .as_ref()
            .map_err(|reason| Refusal::UnreadableArtifact {
                package: key.clone(),
                file: file.filename.clone(),
                reason: reason.clone(),
            })?;
        let actual = sha256_hex(bytes);
        if actual != file.sha256 {
            return Err(Refusal::ArtifactChanged {
                package: key,
                file: file.filename.clone(),
                expected: file.sha256.clone(),
                actual,
            });
        }
        files.push((file.clone(), bytes.clone()));
    }
    Ok(PythonUpload {
        project: package.name.clone(),
        version: python.version.clone(),
        files,
        metadata,
    })
}

/// What the registry holds of a release before the run: what the index shows for each planned
/// version, and which crates it has no version of at all (their first upload uses the new-crate
/// rate limit and, on crates.io, needs an API token).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryState {
    /// Crate → what the index shows for its planned version.
    pub initial: BTreeMap<String, Seen>,
    /// Crates without any version in the registry.
    pub new_crates: BTreeSet<String>,
}

/// Decides [`RegistryState`] from the index files read before the run (`None`: no such crate),
/// refusing (`version-exists-with-different-content`) a planned version the registry has with
/// other bytes: nothing may be uploaded then.
pub fn registry_state(
    uploads: &[Upload],
    files: &BTreeMap<String, Option<Vec<IndexEntry>>>,
    pages: &BTreeMap<String, Option<Vec<Link>>>,
) -> Result<RegistryState, Refusal> {
    let mut state = RegistryState::default();
    for upload in uploads {
        let (seen, planned) = match &upload.payload {
            Payload::Crate { sha256, .. } => {
                let entries = files.get(&upload.name).and_then(|f| f.as_deref());
                if entries.is_none_or(<[_]>::is_empty) {
                    state.new_crates.insert(upload.name.clone());
                }
                (seen_in(entries, &upload.version, sha256), sha256.clone())
            }
            Payload::Python(python) => {
                let links = pages.get(&upload.name).and_then(|p| p.as_deref());
                python_seen(links, python)
            }
        };
        if let Seen::OtherContent(cksum) = &seen {
            return Err(Refusal::OtherContent {
                name: upload.name.clone(),
                version: upload.version_text(),
                cksum: cksum.clone(),
                planned,
            });
        }
        state.initial.insert(upload.name.clone(), seen);
    }
    Ok(state)
}

/// What a Python project page shows of `python`'s files: present when the index serves every
/// one with its planned sha256; other content when it serves one under its name with other
/// bytes (the file and both sha256 are named); else absent. The second value names the
/// planned bytes for a refusal.
pub fn python_seen(links: Option<&[Link]>, python: &PythonUpload) -> (Seen, String) {
    let mut all = true;
    for (file, _) in &python.files {
        match links
            .unwrap_or_default()
            .iter()
            .find(|l| l.file.filename == file.filename)
        {
            Some(link) if link.file.sha256.as_deref() == Some(file.sha256.as_str()) => {}
            Some(link) => {
                return (
                    Seen::OtherContent(format!(
                        "{} (sha256 {})",
                        file.filename,
                        link.file.sha256.as_deref().unwrap_or("not stated")
                    )),
                    file.sha256.clone(),
                )
            }
            None => all = false,
        }
    }
    (
        if all { Seen::Present } else { Seen::Absent },
        String::new(),
    )
}

/// What the index shows for `version` with `sha256`.
pub fn seen_in(entries: Option<&[IndexEntry]>, version: &semver::Version, sha256: &str) -> Seen {
    match entries.and_then(|entries| entries.iter().find(|e| &e.vers == version)) {
        Some(entry) if entry.cksum == sha256 => Seen::Present,
        Some(entry) => Seen::OtherContent(entry.cksum.clone()),
        None => Seen::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_schema::plan::{
        Artifact, DependencyKind, Diagnostic, Inputs, ManifestPlan, Package, PackageDependency,
        Packaging, PackagingSource, PLAN_FORMAT_VERSION,
    };

    fn registry() -> RegistryTarget {
        RegistryTarget {
            name: Some("testkit".into()),
            index: "sparse+http://127.0.0.1:1/index/".into(),
        }
    }

    fn package(name: &str, bytes: &[u8], after: &[&str]) -> Package {
        Package {
            name: name.into(),
            ecosystem: Default::default(),
            version: "0.1.0".parse().unwrap(),
            manifest_path: format!("{name}/Cargo.toml"),
            action: Action::Publish,
            reason: "new".into(),
            wave: Some(0),
            dependencies: after
                .iter()
                .map(|dep| PackageDependency {
                    name: (*dep).into(),
                    rename: None,
                    kind: DependencyKind::Normal,
                    target: None,
                    requirement: Some("^0.1".into()),
                    orders_publishing: true,
                    extra: None,
                })
                .collect(),
            manifest: ManifestPlan {
                edits: vec![],
                published: String::new(),
            },
            artifact: Some(Artifact {
                file: format!("{name}-0.1.0.crate"),
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
                lockfile: None,
                packaged_against: BTreeMap::new(),
                files: vec![],
            }),
            publish_metadata: Some(PublishMetadata::new(name, "0.1.0")),
            release: None,
            python: None,
        }
    }

    fn plan() -> Plan {
        let mut plan = Plan {
            format_version: PLAN_FORMAT_VERSION,
            digest: String::new(),
            inputs: Inputs::new("cargo 1.95.0"),
            registry: registry(),
            python: None,
            packaging: Some(Packaging {
                cargo_version: "cargo 1.95.0".into(),
                source: PackagingSource::GitCommit,
                edits_applied: false,
                build_verified: false,
                reproducibility_checked: false,
            }),
            packages: vec![package("a", b"A", &[]), {
                let mut b = package("b", b"B", &["a"]);
                b.wave = Some(1);
                b
            }],
            waves: vec![vec!["a".into()], vec!["b".into()]],
            diagnostics: vec![],
            lockfile_edits: vec![],
        };
        plan.seal();
        plan
    }

    fn bundle() -> BTreeMap<String, BundleFile> {
        [
            ("a-0.1.0.crate".to_owned(), Ok(b"A".to_vec())),
            ("b-0.1.0.crate".to_owned(), Ok(b"B".to_vec())),
        ]
        .into()
    }

    fn code(result: Result<Vec<Upload>, Refusal>) -> &'static str {
        let code = result.map(|_| "accepted").unwrap_or_else(|r| r.code());
        assert!(
            code == "accepted" || REFUSAL_CODES.iter().any(|c| c.name == code),
            "{code} not in CODES"
        );
        code
    }

    #[test]
    fn a_sound_plan_gives_uploads_in_order_with_their_dependencies() {
        let uploads = validate(&plan(), Some(&plan().digest), &registry(), &bundle()).unwrap();
        assert_eq!(uploads.len(), 2);
        assert_eq!(uploads[1].after, ["a"]);
        assert!(matches!(&uploads[1].payload, Payload::Crate { bytes, .. } if bytes == b"B"));
    }

    #[test]
    fn every_refusal_has_its_code() {
        let mut edited = plan();
        edited.packages[0].reason.push('!');
        assert_eq!(
            code(validate(&edited, None, &registry(), &bundle())),
            "plan-digest-mismatch"
        );

        assert_eq!(
            code(validate(&plan(), Some("sha256:00"), &registry(), &bundle())),
            "unexpected-plan-digest"
        );

        let other = RegistryTarget {
            name: Some("crates-io".into()),
            index: "sparse+https://index.crates.io/".into(),
        };
        assert_eq!(
            code(validate(&plan(), None, &other, &bundle())),
            "plan-for-other-registry"
        );

        let mut errors = plan();
        errors.diagnostics.push(Diagnostic {
            code: "missing-license".into(),
            severity: Severity::Error,
            package: Some("a".into()),
            message: String::new(),
            help: String::new(),
        });
        errors.seal();
        assert_eq!(
            code(validate(&errors, None, &registry(), &bundle())),
            "plan-has-errors"
        );

        let mut review_only = plan();
        review_only.packaging = None;
        review_only.seal();
        assert_eq!(
            code(validate(&review_only, None, &registry(), &bundle())),
            "plan-without-artifacts"
        );

        let mut escaping = plan();
        escaping.packages[0].artifact.as_mut().unwrap().file = "../../etc/passwd".into();
        escaping.seal();
        assert_eq!(
            code(validate(&escaping, None, &registry(), &bundle())),
            "artifact-outside-bundle"
        );

        let mut missing = bundle();
        missing.remove("b-0.1.0.crate");
        assert_eq!(
            code(validate(&plan(), None, &registry(), &missing)),
            "artifact-missing"
        );

        let mut changed = bundle();
        changed.insert("a-0.1.0.crate".into(), Ok(b"tampered".to_vec()));
        assert_eq!(
            code(validate(&plan(), None, &registry(), &changed)),
            "artifact-changed"
        );

        let mut fifo = bundle();
        fifo.insert(
            "a-0.1.0.crate".into(),
            Err("it is not a regular file".into()),
        );
        assert_eq!(
            code(validate(&plan(), None, &registry(), &fifo)),
            "artifact-unreadable"
        );

        let mut no_metadata = plan();
        no_metadata.packages[1].publish_metadata = None;
        no_metadata.seal();
        assert_eq!(
            code(validate(&no_metadata, None, &registry(), &bundle())),
            "plan-incomplete"
        );

        let mut wrong_metadata = plan();
        wrong_metadata.packages[1]
            .publish_metadata
            .as_mut()
            .unwrap()
            .name = "a".into();
        wrong_metadata.seal();
        assert_eq!(
            code(validate(&wrong_metadata, None, &registry(), &bundle())),
            "metadata-mismatch"
        );
    }

    #[test]
    fn plans_that_contradict_themselves_are_refused() {
        let inconsistent = |edit: &dyn Fn(&mut Plan)| {
            let mut plan = plan();
            edit(&mut plan);
            plan.seal();
            let refusal = validate(&plan, None, &registry(), &bundle()).unwrap_err();
            assert_eq!(refusal.code(), "plan-inconsistent", "{refusal}");
            refusal.to_string()
        };
        let twice = inconsistent(&|p| p.packages.push(p.packages[0].clone()));
        assert!(twice.contains("`a` is listed twice"), "{twice}");
        let no_waves = inconsistent(&|p| p.waves.clear());
        assert!(no_waves.contains("in no wave"), "{no_waves}");
        inconsistent(&|p| p.waves[1].push("a".into()));
        inconsistent(&|p| p.waves.push(vec!["ghost".into()]));
        inconsistent(&|p| p.packages[1].wave = Some(7));
        inconsistent(&|p| {
            p.packages[1].action = Action::Skip;
        });
    }

    #[test]
    fn file_names_must_stay_inside_the_bundle() {
        for bad in [
            "",
            ".",
            "..",
            "../x.crate",
            "a/b.crate",
            "/etc/x",
            ".hidden",
            "a\\b",
        ] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
        assert!(is_plain_file_name("serde-1.0.0.crate"));
    }
}
