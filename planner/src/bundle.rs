//! Attaching packaged `.crate` files to a plan, purely: artifacts, the normalized manifests,
//! publish metadata, the sibling checksums each lockfile pins, and the diagnostics that only the
//! bytes can show. The IO that makes the bytes is in [`crate::package`] (`convoy-package`).

use std::collections::{BTreeMap, BTreeSet};

use convoy_schema::digest::{sha256_digest, sha256_hex};
use convoy_schema::plan::{Action, Artifact, Diagnostic, Package, Plan};

use crate::artifacts::{locked_crates, publish_metadata, CrateArchive, MAX_CRATE_SIZE};
use crate::diagnostics::{self, diagnostic, Code};
use crate::model::{GitState, WorkspaceInput};
use crate::planning::observed;

pub use convoy_package::staging::{PackagedCrate, PackagingOutcome};

/// The plan's Cargo part, which cargo packages, and the packages of the other ecosystems, which
/// are built on their own and put back with [`rejoin`].
pub fn split_cargo(mut plan: Plan) -> (Plan, Vec<Package>) {
    let (cargo, others) = plan
        .packages
        .into_iter()
        .partition(|p| p.ecosystem.is_cargo());
    plan.packages = cargo;
    (plan, others)
}

/// `plan` with `others` back among its packages (sorted by key), sealed again.
pub fn rejoin(mut plan: Plan, others: Vec<Package>) -> Plan {
    plan.packages.extend(others);
    plan.packages.sort_by_key(Package::key);
    plan.seal();
    plan
}

/// The `.crate` file name of a package version.
pub fn crate_file_name(name: &str, version: &semver::Version) -> String {
    format!("{name}-{version}.crate")
}

/// The plan with the packaging outcome attached, diagnostics re-sorted and the digest resealed.
pub fn attach(mut plan: Plan, input: &WorkspaceInput, outcome: &PackagingOutcome) -> Plan {
    let mut found = Vec::new();
    match &outcome.result {
        Err(message) => found.push(diagnostic(
            Code::PackagingFailed,
            None,
            format!("cargo package failed:\n{message}"),
            "fix what cargo reports (run the same `cargo package` in a clean checkout to reproduce), then plan again",
        )),
        Ok(crates) => {
            attach_crates(&mut plan, crates, &mut found);
            if !found.iter().any(|d| d.code == Code::PackagingFailed.as_str()) {
                plan.packaging = Some(outcome.packaging.clone());
            }
            check_lockfile_chain(&plan, input, &mut found);
            check_skipped_content(&mut plan, input, &mut found);
            if let Some(second) = &outcome.second_run {
                check_reproducible(&plan, crates, second, &mut found);
            }
        }
    }
    if plan.packaging.is_none() {
        for package in &mut plan.packages {
            package.artifact = None;
            package.publish_metadata = None;
        }
    }
    if input.lockfile.is_none() && !input.members.is_empty() {
        found.push(diagnostic(
            Code::LockfileAbsent,
            None,
            "the workspace has no Cargo.lock: each packaged Cargo.lock was resolved against the live registry index at planning time, and is recorded per artifact",
            "commit a Cargo.lock so packaging is reproducible from the commit alone",
        ));
    }
    if let GitState::Checkout(git) = &input.git {
        if git.dirty {
            found.push(diagnostic(
                Code::UncommittedChangesNotPackaged,
                None,
                format!("the artifacts were packaged from commit {}; uncommitted changes are not in them", git.commit),
                "commit the changes and plan again if they belong in the release",
            ));
        }
    }
    plan.diagnostics.extend(found);
    diagnostics::sort(&mut plan.diagnostics);
    plan.seal();
    plan
}

fn attach_crates(plan: &mut Plan, crates: &[PackagedCrate], found: &mut Vec<Diagnostic>) {
    let registry = plan.registry.clone();
    let members: BTreeSet<String> = plan.packages.iter().map(|p| p.name.clone()).collect();
    for package in plan
        .packages
        .iter_mut()
        .filter(|p| p.action != Action::Excluded)
    {
        let name = package.name.clone();
        let Some(packaged) = crates.iter().find(|c| c.name == name) else {
            found.push(packaging_failed(
                &name,
                "cargo produced no .crate for it".to_owned(),
            ));
            continue;
        };
        let prefix = format!("{name}-{}", package.version);
        let archive = match CrateArchive::read(&packaged.bytes, &prefix) {
            Ok(archive) => archive,
            Err(error) => {
                found.push(packaging_failed(
                    &name,
                    format!("its .crate cannot be read: {error}"),
                ));
                continue;
            }
        };
        let Some(normalized) = archive.text("Cargo.toml") else {
            found.push(packaging_failed(
                &name,
                "its .crate has no Cargo.toml".to_owned(),
            ));
            continue;
        };
        let readme_path = normalized_readme_path(normalized);
        let readme = readme_path.as_deref().and_then(|path| archive.text(path));
        let metadata = match publish_metadata(normalized, readme, &registry) {
            Ok(metadata) => metadata,
            Err(error) => {
                found.push(packaging_failed(&name, error));
                continue;
            }
        };
        let size = packaged.bytes.len() as u64;
        if size > MAX_CRATE_SIZE {
            found.push(diagnostic(
                Code::CrateTooLarge,
                Some(&name),
                format!(
                    "`{name}`'s .crate is {:.1} MB; crates.io accepts at most 10 MB",
                    size as f64 / 1e6
                ),
                format!(
                    "leave large files out with `exclude` or `include` in {}",
                    package.manifest_path
                ),
            ));
        }
        for (path, why) in archive.suspicious_files() {
            found.push(diagnostic(
                Code::SuspiciousPackagedFile,
                Some(&name),
                format!("`{name}` packages `{path}`, which {why}"),
                format!(
                    "if it is not meant to be published, leave it out with `exclude` in {}",
                    package.manifest_path
                ),
            ));
        }
        package.manifest.published = normalized.to_owned();
        package.artifact = Some(Artifact {
            file: crate_file_name(&name, &package.version),
            size,
            sha256: sha256_hex(&packaged.bytes),
            lockfile: archive
                .files
                .get("Cargo.lock")
                .map(|bytes| sha256_digest(bytes)),
            packaged_against: archive
                .text("Cargo.lock")
                .map(|lock| locked_crates(lock, &members))
                .unwrap_or_default(),
            files: archive.files.keys().cloned().collect(),
        });
        package.publish_metadata = Some(metadata);
    }
}

fn normalized_readme_path(manifest: &str) -> Option<String> {
    let doc: toml_edit::DocumentMut = manifest.parse().ok()?;
    doc.get("package")?
        .get("readme")?
        .as_str()
        .map(str::to_owned)
}

fn packaging_failed(name: &str, why: String) -> Diagnostic {
    diagnostic(
        Code::PackagingFailed,
        Some(name),
        format!("`{name}` was not packaged: {why}"),
        "run `cargo package` in a clean checkout to reproduce, fix it, then plan again",
    )
}

/// Each lockfile must pin the siblings at exactly the bytes this plan publishes (or, for crates
/// already published, the checksum the registry was observed to have).
fn check_lockfile_chain(plan: &Plan, input: &WorkspaceInput, found: &mut Vec<Diagnostic>) {
    let artifacts: BTreeMap<&str, (&semver::Version, &str)> = plan
        .packages
        .iter()
        .filter_map(|p| {
            Some((
                p.name.as_str(),
                (&p.version, p.artifact.as_ref()?.sha256.as_str()),
            ))
        })
        .collect();
    for package in &plan.packages {
        let Some(artifact) = &package.artifact else {
            continue;
        };
        for (sibling, locked) in &artifact.packaged_against {
            let expected = match artifacts.get(sibling.as_str()) {
                Some((version, sha256)) if **version == locked.version => Some(sha256.to_string()),
                _ => observed(&input.observations.crates, sibling).and_then(|versions| {
                    versions
                        .iter()
                        .find(|v| v.version == locked.version)
                        .map(|v| v.cksum.clone())
                }),
            };
            if let Some(expected) = expected.filter(|e| *e != locked.cksum) {
                found.push(diagnostic(
                    Code::LockfileChecksumMismatch,
                    Some(&package.name),
                    format!(
                        "`{}`'s packaged Cargo.lock pins `{sibling}` {} at cksum {}, but the plan has {expected}",
                        package.name, locked.version, locked.cksum
                    ),
                    "plan again; if it persists, the siblings' packaging is not deterministic — check with --check-reproducible",
                ));
            }
        }
    }
}

/// A version already in the registry is skipped only when the registry has the bytes this plan
/// packaged; other bytes under the same version mean the sources changed without a version bump.
fn check_skipped_content(plan: &mut Plan, input: &WorkspaceInput, found: &mut Vec<Diagnostic>) {
    for package in plan
        .packages
        .iter_mut()
        .filter(|p| p.action == Action::Skip)
    {
        let Some(artifact) = &package.artifact else {
            continue;
        };
        let Some(present) = observed(&input.observations.crates, &package.name)
            .and_then(|versions| versions.iter().find(|v| v.version == package.version))
        else {
            continue;
        };
        if present.cksum == artifact.sha256 {
            package.reason = format!(
                "version {} is already in the registry with the same bytes (cksum {})",
                package.version, present.cksum
            );
        } else {
            found.push(diagnostic(
                Code::VersionExistsWithDifferentContent,
                Some(&package.name),
                format!(
                    "`{}` {} is already in the registry with cksum {}, but the sources package to {}: they changed since that version was published",
                    package.name, package.version, present.cksum, artifact.sha256
                ),
                format!(
                    "bump the version in {} to publish the change, or plan from the commit that version was published from",
                    package.manifest_path
                ),
            ));
        }
    }
}

fn check_reproducible(
    plan: &Plan,
    first: &[PackagedCrate],
    second: &[PackagedCrate],
    found: &mut Vec<Diagnostic>,
) {
    for package in plan.packages.iter().filter(|p| p.action == Action::Publish) {
        let (Some(a), Some(b)) = (
            first.iter().find(|c| c.name == package.name),
            second.iter().find(|c| c.name == package.name),
        ) else {
            continue;
        };
        if a.bytes == b.bytes {
            continue;
        }
        let prefix = format!("{}-{}", package.name, package.version);
        let differing = CrateArchive::describe_difference(&a.bytes, &b.bytes, &prefix);
        found.push(diagnostic(
            Code::NotReproducible,
            Some(&package.name),
            format!(
                "packaging `{}` twice gave different bytes (sha256 {} and {}); {differing}",
                package.name,
                sha256_hex(&a.bytes),
                sha256_hex(&b.bytes)
            ),
            "make the build inputs deterministic (a build.rs or generated file that embeds paths or times is the usual cause)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::plan;
    use crate::testing::{member, workspace};
    use convoy_schema::plan::{DependencyKind, Packaging, PackagingSource};

    /// A `.crate` made in memory from `(path, contents)` pairs under `<prefix>/`.
    fn archive(prefix: &str, files: &[(&str, &str)]) -> Vec<u8> {
        convoy_package::artifacts::testing::archive(prefix, files, 6)
    }

    fn manifest(name: &str) -> String {
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\ndescription = \"d\"\nlicense = \"MIT\"\nreadme = false\n")
    }

    fn packaging() -> Packaging {
        Packaging {
            cargo_version: "cargo 1.95.0".into(),
            source: PackagingSource::GitCommit,
            edits_applied: false,
            build_verified: false,
            reproducibility_checked: true,
        }
    }

    fn two_crates(lock_cksum: &str, lib: &str) -> Vec<PackagedCrate> {
        let lock = format!("version = 4\n\n[[package]]\nname = \"a\"\nversion = \"0.1.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{lock_cksum}\"\n");
        vec![
            PackagedCrate {
                name: "a".into(),
                bytes: archive(
                    "a-0.1.0",
                    &[("Cargo.toml", &manifest("a")), ("src/lib.rs", lib)],
                ),
            },
            PackagedCrate {
                name: "b".into(),
                bytes: archive(
                    "b-0.1.0",
                    &[("Cargo.toml", &manifest("b")), ("Cargo.lock", &lock)],
                ),
            },
        ]
    }

    fn input() -> WorkspaceInput {
        workspace(vec![
            member("a", "0.1.0", &[], ""),
            member(
                "b",
                "0.1.0",
                &[("a", DependencyKind::Normal, Some("0.1"))],
                "",
            ),
        ])
    }

    #[test]
    fn attaches_artifacts_and_checks_the_lockfile_chain() {
        let input = input();
        let a_sha = sha256_hex(&two_crates("", "")[0].bytes);
        let outcome = PackagingOutcome {
            packaging: packaging(),
            result: Ok(two_crates(&a_sha, "")),
            second_run: None,
        };
        let packaged = attach(plan(&input).unwrap(), &input, &outcome);
        assert!(packaged.digest_is_valid());
        let b = packaged.package("b").unwrap().artifact.clone().unwrap();
        assert_eq!(b.packaged_against["a"].cksum, a_sha);
        assert_eq!(b.files, ["Cargo.lock", "Cargo.toml"]);
        assert!(!packaged.has_errors(), "{:?}", packaged.diagnostics);

        let wrong = PackagingOutcome {
            packaging: packaging(),
            result: Ok(two_crates(&"0".repeat(64), "")),
            second_run: None,
        };
        let mismatched = attach(plan(&input).unwrap(), &input, &wrong);
        let found = mismatched
            .diagnostics
            .iter()
            .find(|d| d.code == "lockfile-checksum-mismatch")
            .unwrap();
        assert_eq!(found.package.as_deref(), Some("b"));
    }

    #[test]
    fn a_second_run_with_other_bytes_names_the_differing_file() {
        let input = input();
        let outcome = PackagingOutcome {
            packaging: packaging(),
            result: Ok(two_crates("", "pub fn one() {}\n")),
            second_run: Some(two_crates("", "pub fn two() {}\n")),
        };
        let packaged = attach(plan(&input).unwrap(), &input, &outcome);
        let found: Vec<_> = packaged
            .diagnostics
            .iter()
            .filter(|d| d.code == "not-reproducible")
            .collect();
        assert_eq!(found.len(), 1, "{:?}", packaged.diagnostics);
        assert_eq!(found[0].package.as_deref(), Some("a"));
        assert!(
            found[0].message.contains("differing files: src/lib.rs"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn cargo_failure_leaves_a_review_only_plan() {
        let input = input();
        let outcome = PackagingOutcome {
            packaging: packaging(),
            result: Err("error: boom".into()),
            second_run: None,
        };
        let packaged = attach(plan(&input).unwrap(), &input, &outcome);
        assert_eq!(packaged.packaging, None);
        assert!(packaged.has_errors());
        assert!(packaged
            .diagnostics
            .iter()
            .any(|d| d.code == "packaging-failed" && d.message.contains("error: boom")));
    }
}
