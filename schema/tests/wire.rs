//! Wire-format guarantees: the checked-in JSON Schemas match the types, every wire type
//! round-trips through JSON, and the plan digest follows the documented rule.

use std::collections::BTreeMap;
use std::path::PathBuf;

use convoy_schema::plan::{
    Action, Artifact, ChangelogEdit, Commit, DependencyKind, Diagnostic, Ecosystem, GitInputs,
    Inputs, LockedCrate, LockfileEdit, ManifestEdit, ManifestPlan, ObservationSource, Observations,
    Package, PackageDependency, PackageHistory, Packaging, PackagingSource, Plan,
    PublishDependency, PublishMetadata, PythonInputs, Release, ReleaseInputs, ReleaseRequest,
    Selection, Severity, TagRef, PLAN_FORMAT_VERSION,
};
use convoy_schema::python::{
    CoreMetadata, DistFile, DistKind, PythonBuild, PythonRelease, PythonTarget, RequirementEdit,
    ServedFile,
};
use convoy_schema::snapshot::{ObservedVersion, RegistryTarget, SNAPSHOT_FORMAT_VERSION};
use convoy_schema::RegistrySnapshot;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Compares a generated schema with the checked-in file; `CONVOY_BLESS=1` rewrites the file.
fn check_schema(file: &str, generated: &str) {
    let path = schemas_dir().join(file);
    if std::env::var_os("CONVOY_BLESS").is_some() {
        std::fs::write(&path, generated).expect("write schema");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} differs from the types; run `CONVOY_BLESS=1 cargo nextest run -p convoy-schema` and commit it \
         (and bump the format version if the change is not only documentation)",
        path.display()
    );
}

#[test]
fn plan_schema_is_checked_in() {
    check_schema("plan.v2.schema.json", &Plan::json_schema());
}

#[test]
fn verify_report_schema_is_checked_in() {
    check_schema(
        "verify-report.v1.schema.json",
        &convoy_schema::report::VerifyReport::json_schema(),
    );
}

#[test]
fn publish_event_schema_is_checked_in() {
    check_schema(
        "publish-event.v1.schema.json",
        &convoy_schema::events::PublishEvent::json_schema(),
    );
}

#[test]
fn registry_snapshot_schema_is_checked_in() {
    check_schema(
        "registry-snapshot.v1.schema.json",
        &RegistrySnapshot::json_schema(),
    );
}

fn text() -> impl Strategy<Value = String> {
    // Includes quotes, backslashes, control characters and non-ASCII, which JSON must escape.
    "[a-z0-9 _\\-\"\\\\/\\n\\tä→]{0,12}"
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,10}"
}

fn version() -> impl Strategy<Value = semver::Version> {
    (
        0u64..5,
        0u64..20,
        0u64..20,
        proptest::option::of("[a-z]{1,5}(\\.(0|[1-9][0-9]?))?"),
    )
        .prop_map(|(major, minor, patch, pre)| {
            let mut version = semver::Version::new(major, minor, patch);
            if let Some(pre) = pre {
                version.pre = semver::Prerelease::new(&pre).expect("prerelease");
            }
            version
        })
}

fn observed() -> impl Strategy<Value = ObservedVersion> {
    (version(), "[0-9a-f]{64}", any::<bool>()).prop_map(|(version, cksum, yanked)| {
        ObservedVersion {
            version,
            cksum,
            yanked,
        }
    })
}

fn crates() -> impl Strategy<Value = BTreeMap<String, Vec<ObservedVersion>>> {
    proptest::collection::btree_map(name(), proptest::collection::vec(observed(), 0..3), 0..3)
}

fn registry() -> impl Strategy<Value = RegistryTarget> {
    (proptest::option::of(name()), text()).prop_map(|(name, index)| RegistryTarget { name, index })
}

fn diagnostic() -> impl Strategy<Value = Diagnostic> {
    (
        name(),
        any::<bool>(),
        proptest::option::of(name()),
        text(),
        text(),
    )
        .prop_map(|(code, error, package, message, help)| Diagnostic {
            code,
            severity: if error {
                Severity::Error
            } else {
                Severity::Warning
            },
            package,
            message,
            help,
        })
}

fn kind() -> impl Strategy<Value = DependencyKind> {
    prop_oneof![
        Just(DependencyKind::Normal),
        Just(DependencyKind::Build),
        Just(DependencyKind::Dev)
    ]
}

fn package() -> impl Strategy<Value = Package> {
    let dependency = (
        name(),
        proptest::option::of(name()),
        kind(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        any::<bool>(),
        proptest::option::of(name()),
    )
        .prop_map(
            |(name, rename, kind, target, requirement, orders_publishing, extra)| {
                PackageDependency {
                    name,
                    rename,
                    kind,
                    target,
                    requirement,
                    orders_publishing,
                    extra,
                }
            },
        );
    let edit = (
        text(),
        proptest::collection::vec(text(), 1..4),
        text(),
        text(),
        text(),
        proptest::option::of(text()),
    )
        .prop_map(
            |(file, table, key, value, summary, previous)| ManifestEdit {
                file,
                table,
                key,
                value,
                summary,
                previous,
            },
        );
    let action = prop_oneof![
        Just(Action::Publish),
        Just(Action::Skip),
        Just(Action::Excluded)
    ];
    (
        name(),
        version(),
        text(),
        action,
        text(),
        proptest::option::of(0u32..9),
        proptest::collection::vec(dependency, 0..3),
        proptest::collection::vec(edit, 0..2),
        text(),
    )
        .prop_map(
            |(
                name,
                version,
                manifest_path,
                action,
                reason,
                wave,
                dependencies,
                edits,
                published,
            )| Package {
                name,
                ecosystem: Ecosystem::Cargo,
                version,
                manifest_path,
                action,
                reason,
                wave,
                dependencies,
                manifest: ManifestPlan { edits, published },
                artifact: None,
                publish_metadata: None,
                release: None,
                python: None,
            },
        )
        .prop_flat_map(|package| {
            (
                Just(package),
                proptest::option::of(artifact()),
                proptest::option::of(publish_metadata()),
                proptest::option::of(release()),
                proptest::option::of(python_release()),
            )
        })
        .prop_map(
            |(mut package, artifact, publish_metadata, release, python)| {
                package.artifact = artifact;
                package.publish_metadata = publish_metadata;
                package.release = release;
                if python.is_some() {
                    package.ecosystem = Ecosystem::Python;
                }
                package.python = python;
                package
            },
        )
}

fn dist_file() -> impl Strategy<Value = DistFile> {
    (
        text(),
        prop_oneof![Just(DistKind::Sdist), Just(DistKind::BdistWheel)],
        text(),
        any::<u64>(),
        "[0-9a-f]{64}",
    )
        .prop_map(|(filename, kind, pyversion, size, sha256)| DistFile {
            filename,
            kind,
            pyversion,
            size,
            sha256,
        })
}

fn python_release() -> impl Strategy<Value = PythonRelease> {
    let edit =
        (text(), text(), text(), text()).prop_map(|(file, field, from, to)| RequirementEdit {
            file,
            field,
            from,
            to,
        });
    let metadata = (
        proptest::collection::vec((text(), text()), 0..4),
        proptest::option::of(text()),
    )
        .prop_map(|(fields, description)| CoreMetadata {
            fields,
            description,
        });
    let build = (
        text(),
        proptest::option::of(text()),
        any::<i64>(),
        any::<bool>(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(tool, backend, source_date_epoch, native, reproducible)| PythonBuild {
                tool,
                backend,
                source_date_epoch,
                native,
                reproducible,
            },
        );
    (
        text(),
        text(),
        text(),
        proptest::collection::vec(edit, 0..2),
        proptest::collection::vec(dist_file(), 0..3),
        proptest::option::of(metadata),
        proptest::option::of(build),
    )
        .prop_map(
            |(project_name, version, project_path, requirement_edits, files, metadata, build)| {
                PythonRelease {
                    project_name,
                    version,
                    project_path,
                    requirement_edits,
                    files,
                    metadata,
                    build,
                }
            },
        )
}

fn python_inputs() -> impl Strategy<Value = PythonInputs> {
    let served = (text(), proptest::option::of("[0-9a-f]{64}"), any::<bool>()).prop_map(
        |(filename, sha256, yanked)| ServedFile {
            filename,
            sha256,
            yanked,
        },
    );
    (
        proptest::collection::btree_map(text(), "sha256:[0-9a-f]{64}", 0..3),
        prop_oneof![
            Just(ObservationSource::Absent),
            Just(ObservationSource::Index)
        ],
        proptest::collection::btree_map(
            name(),
            proptest::collection::btree_map(text(), proptest::collection::vec(served, 0..2), 0..2),
            0..2,
        ),
    )
        .prop_map(|(projects, source, observations)| PythonInputs {
            projects,
            source,
            observations,
        })
}

fn tag() -> impl Strategy<Value = TagRef> {
    (text(), version(), "[0-9a-f]{40}").prop_map(|(name, version, commit)| TagRef {
        name,
        version,
        commit,
    })
}

fn commit() -> impl Strategy<Value = Commit> {
    ("[0-9a-f]{40}", text(), any::<bool>()).prop_map(|(hash, subject, breaking_note)| Commit {
        hash,
        subject,
        breaking_note,
    })
}

fn release() -> impl Strategy<Value = Release> {
    (
        version(),
        proptest::option::of(tag()),
        text(),
        text(),
        proptest::collection::vec(commit(), 0..3),
        proptest::option::of((text(), text())),
    )
        .prop_map(
            |(previous_version, last_tag, level, tag, commits, changelog)| Release {
                previous_version,
                last_tag,
                level,
                tag,
                commits,
                changelog: changelog.map(|(file, section)| ChangelogEdit { file, section }),
            },
        )
}

fn release_inputs() -> impl Strategy<Value = ReleaseInputs> {
    let history = (
        proptest::option::of(tag()),
        proptest::collection::vec(text(), 0..3),
        proptest::collection::vec(commit(), 0..3),
    )
        .prop_map(|(last_tag, changed_files, commits)| PackageHistory {
            last_tag,
            changed_files,
            commits,
        });
    (
        proptest::option::of(text()),
        any::<bool>(),
        proptest::option::of(text()),
        proptest::collection::btree_map(name(), text(), 0..2),
        proptest::option::of(text()),
        proptest::collection::btree_map(name(), history, 0..3),
        proptest::collection::btree_map(text(), text(), 0..2),
    )
        .prop_map(
            |(config, all, level, packages, date, history, changelogs)| ReleaseInputs {
                config,
                request: ReleaseRequest {
                    all,
                    level,
                    packages,
                },
                date,
                history,
                changelogs,
            },
        )
}

fn artifact() -> impl Strategy<Value = Artifact> {
    let locked =
        (version(), "[0-9a-f]{64}").prop_map(|(version, cksum)| LockedCrate { version, cksum });
    (
        text(),
        any::<u64>(),
        "[0-9a-f]{64}",
        proptest::option::of(text()),
        proptest::collection::btree_map(name(), locked, 0..3),
        proptest::collection::vec(text(), 0..4),
    )
        .prop_map(
            |(file, size, sha256, lockfile, packaged_against, files)| Artifact {
                file,
                size,
                sha256,
                lockfile,
                packaged_against,
                files,
            },
        )
}

fn publish_metadata() -> impl Strategy<Value = PublishMetadata> {
    let dep = (
        any::<(bool, bool)>(),
        name(),
        proptest::collection::vec(name(), 0..2),
        text(),
        proptest::option::of(text()),
        kind(),
        proptest::option::of(text()),
        proptest::option::of(name()),
    )
        .prop_map(
            |(
                (optional, default_features),
                name,
                features,
                version_req,
                target,
                kind,
                registry,
                explicit_name_in_toml,
            )| {
                PublishDependency {
                    optional,
                    default_features,
                    name,
                    features,
                    version_req,
                    target,
                    kind,
                    registry,
                    explicit_name_in_toml,
                }
            },
        );
    let optional_texts = proptest::collection::vec(proptest::option::of(text()), 10);
    let badges = proptest::collection::btree_map(
        name(),
        proptest::collection::btree_map(name(), text(), 0..2),
        0..2,
    );
    (
        (name(), text(), proptest::collection::vec(dep, 0..3)),
        proptest::collection::btree_map(name(), proptest::collection::vec(text(), 0..2), 0..3),
        proptest::collection::vec(proptest::collection::vec(text(), 0..2), 3),
        optional_texts,
        badges,
    )
        .prop_map(
            |((name, vers, deps), features, lists, texts, badges)| PublishMetadata {
                name,
                vers,
                deps,
                features,
                authors: lists[0].clone(),
                description: texts[0].clone(),
                documentation: texts[1].clone(),
                homepage: texts[2].clone(),
                readme: texts[3].clone(),
                readme_file: texts[4].clone(),
                keywords: lists[1].clone(),
                categories: lists[2].clone(),
                license: texts[5].clone(),
                license_file: texts[6].clone(),
                repository: texts[7].clone(),
                badges,
                links: texts[8].clone(),
                rust_version: texts[9].clone(),
            },
        )
}

fn packaging() -> impl Strategy<Value = Packaging> {
    (text(), any::<(bool, bool, bool, bool)>()).prop_map(
        |(cargo_version, (copy, edits_applied, build_verified, reproducibility_checked))| {
            Packaging {
                cargo_version,
                source: if copy {
                    PackagingSource::Copy
                } else {
                    PackagingSource::GitCommit
                },
                edits_applied,
                build_verified,
                reproducibility_checked,
            }
        },
    )
}

fn plan() -> impl Strategy<Value = Plan> {
    let git = proptest::option::of(
        ("[0-9a-f]{40}", "[0-9a-f]{40}", any::<bool>(), text()).prop_map(
            |(commit, tree, dirty, workspace_path)| GitInputs {
                commit,
                tree,
                dirty,
                workspace_path,
            },
        ),
    );
    let source = prop_oneof![
        Just(ObservationSource::Absent),
        Just(ObservationSource::Snapshot)
    ];
    let inputs = (
        text(),
        git,
        proptest::collection::btree_map(text(), text(), 0..3),
        proptest::option::of(text()),
        proptest::collection::vec(name(), 0..2),
        proptest::collection::vec(name(), 0..2),
        source,
        crates(),
        proptest::option::of(release_inputs()),
        proptest::option::of(python_inputs()),
    )
        .prop_map(
            |(
                cargo_version,
                git,
                manifests,
                lockfile,
                packages,
                exclude,
                source,
                crates,
                release,
                python,
            )| {
                Inputs {
                    cargo_version,
                    git,
                    manifests,
                    lockfile,
                    selection: Selection { packages, exclude },
                    registry_observations: Observations { source, crates },
                    release,
                    python,
                }
            },
        );
    let lockfile_edit =
        (name(), version(), version()).prop_map(|(name, from, to)| LockfileEdit { name, from, to });
    (
        inputs,
        registry(),
        proptest::option::of(text().prop_map(|index| PythonTarget { index })),
        proptest::option::of(packaging()),
        proptest::collection::vec(package(), 0..4),
        proptest::collection::vec(proptest::collection::vec(name(), 0..3), 0..3),
        proptest::collection::vec(diagnostic(), 0..3),
        proptest::collection::vec(lockfile_edit, 0..2),
    )
        .prop_map(
            |(
                inputs,
                registry,
                python,
                packaging,
                packages,
                waves,
                diagnostics,
                lockfile_edits,
            )| {
                let mut plan = Plan {
                    format_version: PLAN_FORMAT_VERSION,
                    digest: String::new(),
                    inputs,
                    registry,
                    python,
                    packaging,
                    packages,
                    waves,
                    diagnostics,
                    lockfile_edits,
                };
                plan.seal();
                plan
            },
        )
}

/// Removes JSON whitespace outside strings: the pretty file becomes the compact form.
fn strip_insignificant_whitespace(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The digest recomputed from the file text alone, following docs/plan-format.md: compact the
/// JSON, drop the `"digest":"…",` member, SHA-256 what is left.
fn digest_from_file_text(file: &str) -> String {
    let compact = strip_insignificant_whitespace(file);
    let start = compact.find(",\"digest\":\"").expect("digest member");
    let value_start = start + ",\"digest\":\"".len();
    let end = value_start + compact[value_start..].find('"').expect("digest end") + 1;
    let without = format!("{}{}", &compact[..start], &compact[end..]);
    convoy_schema::digest::sha256_digest(without.as_bytes())
}

proptest! {
    #[test]
    fn plans_round_trip_through_json(plan in plan()) {
        let text = plan.to_pretty_json();
        prop_assert!(text.ends_with("}\n"), "plan file must end with a newline");
        let back = Plan::from_json(&text).expect("reads back");
        prop_assert_eq!(&back, &plan);
        prop_assert!(back.digest_is_valid());
    }

    #[test]
    fn snapshots_round_trip_through_json(registry in proptest::option::of(registry()), crates in crates()) {
        let snapshot = RegistrySnapshot { format_version: SNAPSHOT_FORMAT_VERSION, registry, crates };
        let text = serde_json::to_string_pretty(&snapshot).expect("serializes");
        prop_assert_eq!(RegistrySnapshot::from_json(&text).expect("reads back"), snapshot);
    }

    #[test]
    fn digest_matches_an_independent_recomputation(plan in plan()) {
        prop_assert_eq!(digest_from_file_text(&plan.to_pretty_json()), plan.digest.clone());
    }

    #[test]
    fn any_content_change_changes_the_digest(plan in plan(), reason in text()) {
        let mut edited = plan.clone();
        edited.inputs.cargo_version.push_str(&reason);
        edited.inputs.cargo_version.push('!');
        prop_assert!(!edited.digest_is_valid());
    }
}

#[test]
fn digest_rule_worked_example_from_the_docs() {
    // The example in docs/plan-format.md, "The digest": keep the two in step.
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        digest: String::new(),
        inputs: Inputs {
            cargo_version: "cargo 1.95.0".into(),
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
        },
        registry: RegistryTarget {
            name: Some("crates-io".into()),
            index: "sparse+https://index.crates.io/".into(),
        },
        python: None,
        packaging: None,
        packages: Vec::new(),
        waves: Vec::new(),
        diagnostics: Vec::new(),
        lockfile_edits: Vec::new(),
    };
    let compact = r#"{"format_version":"2.0","inputs":{"cargo_version":"cargo 1.95.0","git":null,"manifests":{},"lockfile":null,"selection":{"packages":[],"exclude":[]},"registry_observations":{"source":"absent","crates":{}}},"registry":{"name":"crates-io","index":"sparse+https://index.crates.io/"},"packaging":null,"packages":[],"waves":[],"diagnostics":[]}"#;
    assert_eq!(
        plan.compute_digest(),
        convoy_schema::digest::sha256_digest(compact.as_bytes())
    );
    let docs = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/plan-format.md"),
    )
    .expect("docs/plan-format.md");
    assert!(
        docs.contains(compact),
        "docs/plan-format.md must show the compact form"
    );
    assert!(
        docs.contains(&plan.compute_digest()),
        "docs/plan-format.md must show the digest {}",
        plan.compute_digest()
    );
}

#[test]
fn unknown_fields_are_refused() {
    let mut value: serde_json::Value =
        serde_json::from_str(&plan_example().to_pretty_json()).unwrap();
    value["extra"] = serde_json::json!(1);
    let error = Plan::from_json(&value.to_string()).unwrap_err();
    assert_eq!(error.code(), "document-invalid");
}

#[test]
fn invalid_documents_name_the_json_path_of_the_offending_field() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut plan = plan_example();
    let mut package = package().new_tree(&mut runner).unwrap().current();
    package.artifact = Some(artifact().new_tree(&mut runner).unwrap().current());
    plan.packages = vec![package; 4];
    let mut value: serde_json::Value = serde_json::from_str(&plan.to_pretty_json()).unwrap();
    value["packages"][3]["artifact"]["sha256"] = serde_json::json!(5);
    let error = Plan::from_json(&value.to_string()).unwrap_err();
    assert_eq!(error.code(), "document-invalid");
    assert!(
        error
            .to_string()
            .contains("packages[3].artifact.sha256: invalid type: integer `5`, expected a string"),
        "{error}"
    );

    let mut value: serde_json::Value = serde_json::from_str(&plan.to_pretty_json()).unwrap();
    value["packages"][1]["manifest"]["extra"] = serde_json::json!(true);
    let error = Plan::from_json(&value.to_string()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("packages[1].manifest.extra: unknown field `extra`"),
        "{error}"
    );

    let snapshot = format!(
        r#"{{"format_version":"{SNAPSHOT_FORMAT_VERSION}","registry":{{"name":null,"index":"x"}},"crates":{{"a":[{{"version":"1.0.0","cksum":"00","yanked":"no"}}]}}}}"#
    );
    let error = RegistrySnapshot::from_json(&snapshot).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("crates.a[0].yanked: invalid type: string"),
        "{error}"
    );
}

fn plan_example() -> Plan {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    plan().new_tree(&mut runner).unwrap().current()
}

#[test]
fn plans_of_format_1_0_are_read_by_1_1() {
    // A 1.0 plan has no `packaging`, `artifact` or `publish_metadata`; the minor bump keeps it
    // readable, as a review-only plan.
    let mut value: serde_json::Value =
        serde_json::from_str(&plan_example().to_pretty_json()).unwrap();
    value["format_version"] = serde_json::json!("1.0");
    value.as_object_mut().unwrap().remove("packaging");
    for package in value["packages"].as_array_mut().unwrap() {
        package.as_object_mut().unwrap().remove("artifact");
        package.as_object_mut().unwrap().remove("publish_metadata");
    }
    let plan = Plan::from_json(&value.to_string()).expect("1.0 plans are readable");
    assert_eq!(plan.packaging, None);
    assert!(plan.packages.iter().all(|p| p.artifact.is_none()));
}

proptest! {
    #[test]
    fn reports_round_trip_through_json(
        digest in text(),
        registry in registry(),
        packages in proptest::collection::vec((name(), version(), proptest::option::of("[0-9a-f]{64}"), proptest::option::of("[0-9a-f]{64}"), any::<bool>()), 0..3),
        findings in proptest::collection::vec((proptest::sample::select(&convoy_schema::report::FindingCode::ALL[..]), any::<bool>(), name(), text()), 0..3),
    ) {
        use convoy_schema::report::{CheckedPackage, Finding, VerifyReport, REPORT_FORMAT_VERSION};
        let report = VerifyReport {
            format_version: REPORT_FORMAT_VERSION,
            plan_digest: digest,
            registry,
            packages: packages.into_iter().map(|(name, version, expected_cksum, observed_cksum, ok)| CheckedPackage { name, version, ecosystem_version: None, expected_cksum, observed_cksum, ok }).collect(),
            findings: findings.into_iter().map(|(code, error, package, message)| Finding { code, severity: if error { Severity::Error } else { Severity::Warning }, package, message }).collect(),
        };
        let text = serde_json::to_string_pretty(&report).unwrap();
        prop_assert_eq!(VerifyReport::from_json(&text).unwrap(), report);
    }
}

#[test]
fn a_plan_written_by_format_1_3_reads_as_a_cargo_only_plan_with_its_digest() {
    // Written by `convoy-plan` before format 2.0 (the demo workspace, review-only).
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/plans/format-1.3.json");
    let text = std::fs::read_to_string(path).unwrap();
    let plan = Plan::from_json(&text).expect("1.3 plans are readable");
    assert_eq!(plan.format_version.to_string(), "1.3");
    assert!(plan.digest_is_valid(), "the 1.3 digest still verifies");
    assert!(plan
        .packages
        .iter()
        .all(|p| p.ecosystem == Ecosystem::Cargo && p.python.is_none()));
    assert_eq!(plan.python, None);
    assert_eq!(plan.inconsistency(), None);
    // Nothing 2.0 added appears when it is written again: the same bytes.
    assert_eq!(plan.to_pretty_json(), text);
}
