//! The comparison at the heart of verification: a plan and what was observed in the registry in,
//! a report out. Pure: no network, no files; [`crate::observe`] gathers the observations.
//!
//! Finding codes (stable): `missing-version`, `checksum-mismatch`, `dependencies-differ`,
//! `features-differ`, `yanked`, `unknown-state`, `download-failed`, `download-checksum-mismatch`,
//! `download-differs`, and with `--rebuild` `not-reproduced` and `rebuild-failed`.

use std::collections::BTreeMap;

use convoy_planner::artifacts::CrateArchive;
use convoy_registry::index::IndexEntry;
use convoy_registry::normalize::{
    normalized_index_deps, normalized_publish_deps, NormalizedDependency,
};
use convoy_schema::digest::sha256_hex;
use convoy_schema::plan::{Action, Package, Plan, Severity};
use convoy_schema::report::{CheckedPackage, Finding, VerifyReport, REPORT_FORMAT_VERSION};
use convoy_schema::snapshot::RegistryTarget;

/// What was read from the registry (and the bundle), by crate name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Index entries; `None` when the registry has no such crate.
    pub index: BTreeMap<String, Option<Vec<IndexEntry>>>,
    /// Downloaded `.crate` bytes (with `--download`), or why the download failed.
    pub downloads: BTreeMap<String, Result<Vec<u8>, String>>,
    /// The bundle's files by name (with `--bundle`).
    pub bundle: BTreeMap<String, Vec<u8>>,
}

/// What to check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks {
    /// Only packages the plan publishes (not those it skipped).
    pub only_published: bool,
    /// A yanked version is a warning, not an error.
    pub allow_yanked: bool,
}

/// The packages a verification covers: every `publish` package, and `skip` ones unless
/// `only_published`.
pub fn packages_to_check(plan: &Plan, checks: Checks) -> Vec<&Package> {
    plan.packages
        .iter()
        .filter(|p| {
            p.action == Action::Publish || (p.action == Action::Skip && !checks.only_published)
        })
        .collect()
}

/// The cksum the plan expects for a package: its artifact's, or (for a skip) the one observed
/// when the plan was made.
pub fn expected_cksum(plan: &Plan, package: &Package) -> Option<String> {
    package
        .artifact
        .as_ref()
        .map(|a| a.sha256.clone())
        .or_else(|| {
            plan.inputs
                .registry_observations
                .crates
                .get(&package.name)?
                .iter()
                .find(|v| v.version == package.version)
                .map(|v| v.cksum.clone())
        })
}

/// Compares `observed` with `plan`.
pub fn compare(
    plan: &Plan,
    registry: &RegistryTarget,
    observed: &Observed,
    checks: Checks,
) -> VerifyReport {
    let mut packages = Vec::new();
    let mut findings = Vec::new();
    for package in packages_to_check(plan, checks) {
        let before = findings.len();
        let expected = expected_cksum(plan, package);
        let entry = observed
            .index
            .get(&package.name)
            .and_then(Option::as_ref)
            .and_then(|entries| entries.iter().find(|e| e.vers == package.version));
        check_package(
            package,
            expected.as_deref(),
            entry,
            observed,
            checks,
            &mut findings,
        );
        let ok = !findings[before..]
            .iter()
            .any(|f| f.severity == Severity::Error);
        packages.push(CheckedPackage {
            name: package.name.clone(),
            version: package.version.clone(),
            expected_cksum: expected,
            observed_cksum: entry.map(|e| e.cksum.clone()),
            ok,
        });
    }
    findings.sort_by(|a, b| {
        (a.severity, &a.package, &a.code, &a.message)
            .cmp(&(b.severity, &b.package, &b.code, &b.message))
    });
    VerifyReport {
        format_version: REPORT_FORMAT_VERSION,
        plan_digest: plan.digest.clone(),
        registry: registry.clone(),
        packages,
        findings,
    }
}

fn finding(code: &str, severity: Severity, package: &Package, message: String) -> Finding {
    Finding {
        code: code.to_owned(),
        severity,
        package: package.name.clone(),
        message,
    }
}

fn check_package(
    package: &Package,
    expected: Option<&str>,
    entry: Option<&IndexEntry>,
    observed: &Observed,
    checks: Checks,
    findings: &mut Vec<Finding>,
) {
    let name = &package.name;
    let version = &package.version;
    let Some(entry) = entry else {
        findings.push(finding(
            "missing-version",
            Severity::Error,
            package,
            format!("the registry's index has no `{name}` {version}"),
        ));
        return;
    };
    if let Some(expected) = expected {
        if entry.cksum != expected {
            findings.push(finding(
                "checksum-mismatch",
                Severity::Error,
                package,
                format!(
                    "`{name}` {version} has cksum {} in the index; the plan expects {expected}",
                    entry.cksum
                ),
            ));
        }
    }
    if entry.yanked {
        let severity = if checks.allow_yanked {
            Severity::Warning
        } else {
            Severity::Error
        };
        findings.push(finding(
            "yanked",
            severity,
            package,
            format!("`{name}` {version} is yanked"),
        ));
    }
    if !entry.unknown.is_empty() {
        let fields: Vec<String> = entry
            .unknown
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        findings.push(finding(
            "unknown-state",
            Severity::Warning,
            package,
            format!(
                "`{name}` {version}'s index entry has fields this verifier does not know: {}",
                fields.join(", ")
            ),
        ));
    }
    if let Some(metadata) = &package.publish_metadata {
        let planned = normalized_publish_deps(&metadata.deps);
        let served = normalized_index_deps(&entry.deps);
        if planned != served {
            findings.push(finding(
                "dependencies-differ",
                Severity::Error,
                package,
                format!(
                    "`{name}` {version}'s dependencies differ: {}",
                    dependency_difference(&planned, &served)
                ),
            ));
        }
        let sorted = |features: &BTreeMap<String, Vec<String>>| -> BTreeMap<String, Vec<String>> {
            features
                .iter()
                .map(|(k, v)| {
                    let mut v = v.clone();
                    v.sort();
                    (k.clone(), v)
                })
                .collect()
        };
        if sorted(&metadata.features) != sorted(&entry.all_features()) {
            findings.push(finding(
                "features-differ",
                Severity::Error,
                package,
                format!(
                    "`{name}` {version}'s features differ: the plan has {:?}, the index {:?}",
                    metadata.features,
                    entry.all_features()
                ),
            ));
        }
    }
    match observed.downloads.get(name) {
        None => {}
        Some(Err(why)) => findings.push(finding(
            "download-failed",
            Severity::Error,
            package,
            format!("`{name}` {version} could not be downloaded: {why}"),
        )),
        Some(Ok(bytes)) => {
            let actual = sha256_hex(bytes);
            if expected.is_some_and(|e| e != actual) || actual != entry.cksum {
                findings.push(finding(
                    "download-checksum-mismatch",
                    Severity::Error,
                    package,
                    format!("the `.crate` served for `{name}` {version} hashes to {actual}, not the index's {} or the plan's {}", entry.cksum, expected.unwrap_or("(none)")),
                ));
            }
            let planned_file = package
                .artifact
                .as_ref()
                .and_then(|a| observed.bundle.get(&a.file));
            if let Some(planned) = planned_file.filter(|planned| *planned != bytes) {
                let prefix = format!("{name}-{version}");
                let files = match (
                    CrateArchive::read(planned, &prefix),
                    CrateArchive::read(bytes, &prefix),
                ) {
                    (Ok(a), Ok(b)) => {
                        let differing = a.differing_files(&b);
                        if differing.is_empty() {
                            "the files are equal; the archives differ in headers or compression"
                                .to_owned()
                        } else {
                            format!("differing files: {}", differing.join(", "))
                        }
                    }
                    _ => "one of the archives cannot be read".to_owned(),
                };
                findings.push(finding(
                    "download-differs",
                    Severity::Error,
                    package,
                    format!("the `.crate` served for `{name}` {version} differs from the bundle's: {files}"),
                ));
            }
        }
    }
}

/// Findings of a rebuild: each package the plan packaged must rebuild to its recorded sha256.
/// `rebuilt` maps package names to the bytes packaging produced now, or cargo's failure.
pub fn rebuild_findings(
    plan: &Plan,
    rebuilt: &Result<BTreeMap<String, Vec<u8>>, String>,
    checks: Checks,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for package in packages_to_check(plan, checks) {
        let Some(artifact) = &package.artifact else {
            continue;
        };
        match rebuilt {
            Err(why) => findings.push(finding(
                "rebuild-failed",
                Severity::Error,
                package,
                format!("packaging the plan's commit failed: {why}"),
            )),
            Ok(crates) => match crates.get(&package.name) {
                None => findings.push(finding(
                    "rebuild-failed",
                    Severity::Error,
                    package,
                    "packaging produced no .crate for it".to_owned(),
                )),
                Some(bytes) if sha256_hex(bytes) != artifact.sha256 => findings.push(finding(
                    "not-reproduced",
                    Severity::Error,
                    package,
                    format!(
                        "`{}` {} rebuilds to sha256 {}, not the plan's {}",
                        package.name,
                        package.version,
                        sha256_hex(bytes),
                        artifact.sha256
                    ),
                )),
                Some(_) => {}
            },
        }
    }
    findings
}

fn dependency_difference(
    planned: &[NormalizedDependency],
    served: &[NormalizedDependency],
) -> String {
    let describe =
        |d: &NormalizedDependency| format!("{:?} {} {}", d.kind, d.package, d.req).to_lowercase();
    let only_planned: Vec<String> = planned
        .iter()
        .filter(|d| !served.contains(d))
        .map(describe)
        .collect();
    let only_served: Vec<String> = served
        .iter()
        .filter(|d| !planned.contains(d))
        .map(describe)
        .collect();
    format!(
        "only in the plan: [{}]; only in the index: [{}]",
        only_planned.join(", "),
        only_served.join(", ")
    )
}
