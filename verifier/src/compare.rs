//! The comparison at the heart of verification: a plan, what was observed in the registry (and
//! the bundle) and what a rebuild made in, the whole report out — findings, each package's `ok`,
//! the order. Pure: no network, no files; [`crate::observe`] gathers the observations and
//! [`crate::rebuild`] the rebuilt bytes.
//!
//! Every finding has a stable [`FindingCode`]; its severity is the code's
//! [`severity`](FindingCode::severity), except `yanked` with [`Checks::allow_yanked`].

use std::collections::BTreeMap;

use convoy_package::artifacts::CrateArchive;
use convoy_registry::index::IndexEntry;
use convoy_registry::normalize::{
    normalized_index_deps, normalized_publish_deps, NormalizedDependency,
};
use convoy_schema::digest::sha256_hex;
use convoy_schema::plan::{Action, Package, Plan, Severity};
use convoy_schema::report::{
    CheckedPackage, Finding, FindingCode, VerifyReport, REPORT_FORMAT_VERSION,
};
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
    /// What the Python index serves for the plan's Python packages.
    pub python: crate::python::PythonObserved,
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

/// What `--rebuild` made: the bytes packaging the plan's commit produced, by package name, or
/// cargo's failure (see [`crate::rebuild::rebuild`]).
pub type Rebuilt = Result<BTreeMap<String, Vec<u8>>, String>;

/// The report of verifying `plan` against `registry`: the findings of comparing `observed` with
/// the plan, and with `--rebuild` (`rebuilt`) those of [`rebuild_findings`]. A package is `ok`
/// when none of its findings is an error; findings are sorted errors first, then by package,
/// code and message.
pub fn compare(
    plan: &Plan,
    registry: &RegistryTarget,
    observed: &Observed,
    rebuilt: Option<&Rebuilt>,
    checks: Checks,
) -> VerifyReport {
    let mut packages = Vec::new();
    let mut findings = Vec::new();
    for package in packages_to_check(plan, checks) {
        if !package.ecosystem.is_cargo() {
            let (found, expected, served) =
                crate::python::check(package, &observed.python, checks.allow_yanked);
            findings.extend(found);
            packages.push(CheckedPackage {
                name: package.key(),
                version: package.version.clone(),
                ecosystem_version: package
                    .python
                    .as_ref()
                    .map(|p| p.version.clone())
                    .filter(|v| *v != package.version.to_string()),
                expected_cksum: expected,
                observed_cksum: served,
                ok: true,
            });
            continue;
        }
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
        packages.push(CheckedPackage {
            name: package.name.clone(),
            version: package.version.clone(),
            ecosystem_version: None,
            expected_cksum: expected,
            observed_cksum: entry.map(|e| e.cksum.clone()),
            ok: true,
        });
    }
    if let Some(rebuilt) = rebuilt {
        findings.extend(rebuild_findings(plan, rebuilt, checks));
    }
    for package in &mut packages {
        package.ok = !findings
            .iter()
            .any(|f| f.package == package.name && f.severity == Severity::Error);
    }
    findings.sort_by(|a, b| {
        (a.severity, &a.package, a.code.as_str(), &a.message).cmp(&(
            b.severity,
            &b.package,
            b.code.as_str(),
            &b.message,
        ))
    });
    VerifyReport {
        format_version: REPORT_FORMAT_VERSION,
        plan_digest: plan.digest.clone(),
        registry: registry.clone(),
        packages,
        findings,
    }
}

/// A finding of `code` about `package`, with the code's severity.
fn finding(code: FindingCode, package: &Package, message: String) -> Finding {
    Finding {
        code,
        severity: code.severity(),
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
            FindingCode::MissingVersion,
            package,
            format!("the registry's index has no `{name}` {version}"),
        ));
        return;
    };
    if let Some(expected) = expected {
        if entry.cksum != expected {
            findings.push(finding(
                FindingCode::ChecksumMismatch,
                package,
                format!(
                    "`{name}` {version} has cksum {} in the index; the plan expects {expected}",
                    entry.cksum
                ),
            ));
        }
    }
    if entry.yanked {
        let mut yanked = finding(
            FindingCode::Yanked,
            package,
            format!("`{name}` {version} is yanked"),
        );
        if checks.allow_yanked {
            yanked.severity = Severity::Warning;
        }
        findings.push(yanked);
    }
    if !entry.unknown.is_empty() {
        let fields: Vec<String> = entry
            .unknown
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        findings.push(finding(
            FindingCode::UnknownState,
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
                FindingCode::DependenciesDiffer,
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
                FindingCode::FeaturesDiffer,
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
            FindingCode::DownloadFailed,
            package,
            format!("`{name}` {version} could not be downloaded: {why}"),
        )),
        Some(Ok(bytes)) => {
            let actual = sha256_hex(bytes);
            if expected.is_some_and(|e| e != actual) || actual != entry.cksum {
                findings.push(finding(
                    FindingCode::DownloadChecksumMismatch,
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
                let files = CrateArchive::describe_difference(planned, bytes, &prefix);
                findings.push(finding(
                    FindingCode::DownloadDiffers,
                    package,
                    format!("the `.crate` served for `{name}` {version} differs from the bundle's: {files}"),
                ));
            }
        }
    }
}

/// Findings of a rebuild: each package the plan packaged must rebuild to its recorded sha256.
/// `rebuilt` maps package names to the bytes packaging produced now, or cargo's failure.
pub fn rebuild_findings(plan: &Plan, rebuilt: &Rebuilt, checks: Checks) -> Vec<Finding> {
    let mut findings = Vec::new();
    for package in packages_to_check(plan, checks) {
        let Some(artifact) = &package.artifact else {
            continue;
        };
        match rebuilt {
            Err(why) => findings.push(finding(
                FindingCode::RebuildFailed,
                package,
                format!("packaging the plan's commit failed: {why}"),
            )),
            Ok(crates) => match crates.get(&package.name) {
                None => findings.push(finding(
                    FindingCode::RebuildFailed,
                    package,
                    "packaging produced no .crate for it".to_owned(),
                )),
                Some(bytes) if sha256_hex(bytes) != artifact.sha256 => findings.push(finding(
                    FindingCode::NotReproduced,
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

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_schema::plan::{
        Artifact, Inputs, ManifestPlan, ObservationSource, Observations, PublishMetadata,
        PLAN_FORMAT_VERSION,
    };
    use convoy_schema::snapshot::ObservedVersion;
    use serde_json::json;

    fn registry() -> RegistryTarget {
        RegistryTarget {
            name: Some("testkit".into()),
            index: "sparse+http://127.0.0.1:1/index/".into(),
        }
    }

    /// `name` 0.1.0: published from the bundle's `bytes`, skipped (`None`: already in the
    /// registry when planned), or excluded.
    fn package(name: &str, action: Action, bytes: Option<&[u8]>) -> Package {
        Package {
            name: name.into(),
            ecosystem: Default::default(),
            version: "0.1.0".parse().unwrap(),
            manifest_path: format!("{name}/Cargo.toml"),
            action,
            reason: "test".into(),
            wave: (action == Action::Publish).then_some(0),
            dependencies: vec![],
            manifest: ManifestPlan {
                edits: vec![],
                published: String::new(),
            },
            artifact: bytes.map(|bytes| Artifact {
                file: format!("{name}-0.1.0.crate"),
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
                lockfile: None,
                packaged_against: BTreeMap::new(),
                files: vec![],
            }),
            publish_metadata: bytes.map(|_| PublishMetadata::new(name, "0.1.0")),
            release: None,
            python: None,
        }
    }

    /// Publishes `a` (bytes `A`) and `b` (bytes `B`), skips `s` (observed with the cksum of `S`
    /// when planned), excludes `x`.
    fn plan() -> Plan {
        let mut plan = Plan {
            format_version: PLAN_FORMAT_VERSION,
            digest: String::new(),
            inputs: Inputs {
                registry_observations: Observations {
                    source: ObservationSource::Index,
                    crates: [(
                        "s".to_owned(),
                        vec![ObservedVersion {
                            version: "0.1.0".parse().unwrap(),
                            cksum: sha256_hex(b"S"),
                            yanked: false,
                        }],
                    )]
                    .into(),
                },
                ..Inputs::new("cargo 1.95.0")
            },
            registry: registry(),
            python: None,
            packaging: None,
            packages: vec![
                package("a", Action::Publish, Some(b"A")),
                package("b", Action::Publish, Some(b"B")),
                package("s", Action::Skip, None),
                package("x", Action::Excluded, None),
            ],
            waves: vec![vec!["a".into(), "b".into()]],
            diagnostics: vec![],
            lockfile_edits: vec![],
        };
        plan.seal();
        plan
    }

    /// The index line of `name` 0.1.0 with the cksum of `bytes`, as a registry serves it.
    fn entry(name: &str, bytes: &[u8]) -> IndexEntry {
        serde_json::from_value(json!({
            "name": name,
            "vers": "0.1.0",
            "deps": [],
            "cksum": sha256_hex(bytes),
            "features": {},
            "yanked": false,
        }))
        .unwrap()
    }

    /// A registry that serves exactly what [`plan`] says.
    fn observed() -> Observed {
        Observed {
            index: [("a", b"A"), ("b", b"B"), ("s", b"S")]
                .into_iter()
                .map(|(name, bytes)| (name.to_owned(), Some(vec![entry(name, bytes)])))
                .collect(),
            downloads: BTreeMap::new(),
            ..Observed::default()
        }
    }

    struct Case {
        plan: Plan,
        observed: Observed,
        rebuilt: Option<Rebuilt>,
        checks: Checks,
    }

    impl Case {
        fn entry(&mut self, name: &str) -> &mut IndexEntry {
            &mut self.observed.index.get_mut(name).unwrap().as_mut().unwrap()[0]
        }

        fn report(&self) -> VerifyReport {
            compare(
                &self.plan,
                &registry(),
                &self.observed,
                self.rebuilt.as_ref(),
                self.checks,
            )
        }
    }

    fn case(change: fn(&mut Case)) -> VerifyReport {
        let mut case = Case {
            plan: plan(),
            observed: observed(),
            rebuilt: None,
            checks: Checks::default(),
        };
        change(&mut case);
        case.report()
    }

    fn downloads(case: &mut Case, served: &[(&str, Result<&[u8], &str>)]) {
        case.observed.downloads = served
            .iter()
            .map(|(name, result)| {
                (
                    (*name).to_owned(),
                    result.map(<[u8]>::to_vec).map_err(str::to_owned),
                )
            })
            .collect();
    }

    use FindingCode::*;
    use Severity::{Error, Warning};

    /// What is changed from a registry that serves the plan exactly; the findings expected
    /// (code, severity, package); the packages that are not `ok`.
    type Row = (
        &'static str,
        fn(&mut Case),
        &'static [(FindingCode, Severity, &'static str)],
        &'static [&'static str],
    );

    const ROWS: &[Row] = &[
        ("nothing: everything matches", |_| {}, &[], &[]),
        (
            "the index has no such crate",
            |c| {
                c.observed.index.insert("b".into(), None);
            },
            &[(MissingVersion, Error, "b")],
            &["b"],
        ),
        (
            "the index has the crate but not the version",
            |c| c.entry("b").vers = "0.2.0".parse().unwrap(),
            &[(MissingVersion, Error, "b")],
            &["b"],
        ),
        (
            "the index's cksum is not the artifact's",
            |c| c.entry("a").cksum = "00".repeat(32),
            &[(ChecksumMismatch, Error, "a")],
            &["a"],
        ),
        (
            "the skipped package's cksum is not the one observed when planned",
            |c| c.entry("s").cksum = sha256_hex(b"other"),
            &[(ChecksumMismatch, Error, "s")],
            &["s"],
        ),
        (
            "the index has a dependency the plan does not",
            |c| {
                c.entry("a").deps = serde_json::from_value(json!([
                    {"name": "evil", "req": "^1", "kind": "normal"}
                ]))
                .unwrap()
            },
            &[(DependenciesDiffer, Error, "a")],
            &["a"],
        ),
        (
            "the index has a feature the plan does not",
            |c| c.entry("b").features2 = Some([("extra".to_owned(), vec!["dep:x".into()])].into()),
            &[(FeaturesDiffer, Error, "b")],
            &["b"],
        ),
        (
            "yanked",
            |c| c.entry("a").yanked = true,
            &[(Yanked, Error, "a")],
            &["a"],
        ),
        (
            "yanked, with --allow-yanked",
            |c| {
                c.entry("a").yanked = true;
                c.checks.allow_yanked = true;
            },
            &[(Yanked, Warning, "a")],
            &[],
        ),
        (
            "a field this verifier does not know",
            |c| {
                c.entry("s").unknown.insert("withheld".into(), json!(true));
            },
            &[(UnknownState, Warning, "s")],
            &[],
        ),
        (
            "a download fails",
            |c| downloads(c, &[("a", Ok(b"A")), ("b", Err("HTTP 404"))]),
            &[(DownloadFailed, Error, "b")],
            &["b"],
        ),
        (
            "the served bytes are not the index's or the plan's",
            |c| downloads(c, &[("a", Ok(b"not A"))]),
            &[(DownloadChecksumMismatch, Error, "a")],
            &["a"],
        ),
        (
            "the served bytes are the plan's but not the bundle's",
            |c| {
                downloads(c, &[("a", Ok(b"A"))]);
                c.observed
                    .bundle
                    .insert("a-0.1.0.crate".into(), b"tampered".to_vec());
            },
            &[(DownloadDiffers, Error, "a")],
            &["a"],
        ),
        (
            "the served bytes are neither the plan's nor the bundle's",
            |c| {
                downloads(c, &[("a", Ok(b"not A")), ("b", Ok(b"B"))]);
                c.observed.bundle = [
                    ("a-0.1.0.crate".to_owned(), b"A".to_vec()),
                    ("b-0.1.0.crate".to_owned(), b"B".to_vec()),
                ]
                .into();
            },
            &[
                (DownloadChecksumMismatch, Error, "a"),
                (DownloadDiffers, Error, "a"),
            ],
            &["a"],
        ),
        (
            "the rebuild reproduces every artifact",
            |c| {
                c.rebuilt = Some(Ok([("a", b"A"), ("b", b"B")]
                    .map(|(n, b)| (n.to_owned(), b.to_vec()))
                    .into()))
            },
            &[],
            &[],
        ),
        (
            "the rebuild gives other bytes",
            |c| {
                c.rebuilt = Some(Ok([("a", b"A"), ("b", b"C")]
                    .map(|(n, b)| (n.to_owned(), b.to_vec()))
                    .into()))
            },
            &[(NotReproduced, Error, "b")],
            &["b"],
        ),
        (
            "the rebuild makes no .crate for a package",
            |c| c.rebuilt = Some(Ok([("a".to_owned(), b"A".to_vec())].into())),
            &[(RebuildFailed, Error, "b")],
            &["b"],
        ),
        (
            "the rebuild fails: every packaged package",
            |c| c.rebuilt = Some(Err("cargo package failed".into())),
            &[(RebuildFailed, Error, "a"), (RebuildFailed, Error, "b")],
            &["a", "b"],
        ),
        (
            "--only-published: the skipped package is not checked",
            |c| {
                c.checks.only_published = true;
                c.observed.index.insert("s".into(), None);
            },
            &[],
            &[],
        ),
    ];

    #[test]
    fn each_difference_gives_its_finding_and_nothing_else() {
        let mut covered = std::collections::BTreeSet::new();
        for (what, change, expected, not_ok) in ROWS {
            let report = case(*change);
            let found: Vec<(FindingCode, Severity, &str)> = report
                .findings
                .iter()
                .map(|f| (f.code, f.severity, f.package.as_str()))
                .collect();
            let mut wanted = expected.to_vec();
            wanted.sort_by_key(|(code, severity, package)| (*severity, *package, code.as_str()));
            assert_eq!(found, wanted, "{what}");
            let failed: Vec<&str> = report
                .packages
                .iter()
                .filter(|p| !p.ok)
                .map(|p| p.name.as_str())
                .collect();
            assert_eq!(failed, *not_ok, "{what}: packages not ok");
            assert_eq!(report.has_errors(), !not_ok.is_empty(), "{what}");
            assert_eq!(report.plan_digest, plan().digest);
            covered.extend(expected.iter().map(|(code, _, _)| code.as_str()));
        }
        // The codes only Python files have are covered by `crate::python`'s table.
        let all: std::collections::BTreeSet<&str> = FindingCode::ALL
            .iter()
            .filter(|c| ![FindingCode::MissingFile, FindingCode::UnplannedFile].contains(c))
            .map(|c| c.as_str())
            .collect();
        assert_eq!(covered, all, "a row for every finding code");
    }

    #[test]
    fn published_and_skipped_packages_are_checked_excluded_ones_never() {
        let report = case(|_| {});
        let checked: Vec<(&str, Option<&str>, Option<&str>, bool)> = report
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.expected_cksum.as_deref(),
                    p.observed_cksum.as_deref(),
                    p.ok,
                )
            })
            .collect();
        let (a, b, s) = (sha256_hex(b"A"), sha256_hex(b"B"), sha256_hex(b"S"));
        assert_eq!(
            checked,
            [
                ("a", Some(a.as_str()), Some(a.as_str()), true),
                ("b", Some(b.as_str()), Some(b.as_str()), true),
                ("s", Some(s.as_str()), Some(s.as_str()), true),
            ]
        );
        let only = case(|c| {
            c.checks.only_published = true;
            c.entry("b").vers = "9.9.9".parse().unwrap();
        });
        let names: Vec<(&str, Option<&str>, bool)> = only
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.observed_cksum.as_deref(), p.ok))
            .collect();
        assert_eq!(names, [("a", Some(a.as_str()), true), ("b", None, false)]);
    }

    #[test]
    fn findings_are_errors_first_then_by_package_code_and_message() {
        let report = case(|c| {
            c.entry("a").yanked = true;
            c.entry("a").unknown.insert("withheld".into(), json!(1));
            c.entry("s").cksum = "00".repeat(32);
            c.observed.index.insert("b".into(), None);
            c.checks.allow_yanked = true;
            downloads(c, &[("a", Err("timeout")), ("s", Err("HTTP 500"))]);
            c.rebuilt = Some(Ok([("a".to_owned(), b"A2".to_vec())].into()));
        });
        let order: Vec<(Severity, &str, &str)> = report
            .findings
            .iter()
            .map(|f| (f.severity, f.package.as_str(), f.code.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (Error, "a", "download-failed"),
                (Error, "a", "not-reproduced"),
                (Error, "b", "missing-version"),
                (Error, "b", "rebuild-failed"),
                (Error, "s", "checksum-mismatch"),
                (Error, "s", "download-failed"),
                (Warning, "a", "unknown-state"),
                (Warning, "a", "yanked"),
            ],
            "by the codes' words, as the report always sorted them"
        );
        let ok: Vec<(&str, bool)> = report
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.ok))
            .collect();
        assert_eq!(
            ok,
            [("a", false), ("b", false), ("s", false)],
            "a rebuild finding fails its package too"
        );
    }
}
