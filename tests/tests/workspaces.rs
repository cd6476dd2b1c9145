//! Planning real workspaces generated in temporary directories: shapes of dependency graphs,
//! manifest features cargo supports, and every diagnostic code, through discovery and the core.

use std::collections::BTreeMap;

use convoy_cli::ExpectedError;
use convoy_planner::error::PlanError;
use convoy_registry::resolve::RegistryChoice;
use convoy_schema::plan::{Action, DependencyKind, ObservationSource, Plan, Severity};
use convoy_schema::snapshot::{ObservedVersion, RegistryTarget, SNAPSHOT_FORMAT_VERSION};
use convoy_schema::RegistrySnapshot;
use convoy_tests::{codes, manifest, Fixture};

fn member(name: &str, extra: &str) -> (&'static str, String) {
    (leak(name), manifest(name, "0.1.0", extra))
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

/// An empty live registry to plan against.
fn test_registry() -> (Fixture, convoy_testkit::TestRegistry) {
    let storage = Fixture::empty();
    let registry = convoy_testkit::TestRegistry::start(convoy_testkit::Options::new(
        storage.root().join("registry"),
        "token",
    ))
    .expect("registry starts");
    (storage, registry)
}

fn waves(plan: &Plan) -> Vec<Vec<&str>> {
    plan.waves
        .iter()
        .map(|w| w.iter().map(String::as_str).collect())
        .collect()
}

fn action(plan: &Plan, name: &str) -> Action {
    plan.package(name).expect("package in plan").action
}

fn errors(plan: &Plan) -> Vec<&str> {
    plan.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.code.as_str())
        .collect()
}

/// Writes a registry snapshot into the fixture and returns its path.
fn snapshot(fixture: &Fixture, crates: &[(&str, &str, bool)]) -> std::path::PathBuf {
    let mut map: BTreeMap<String, Vec<ObservedVersion>> = BTreeMap::new();
    for (name, version, yanked) in crates {
        map.entry((*name).to_owned())
            .or_default()
            .push(ObservedVersion {
                version: version.parse().expect("version"),
                cksum: "ab".repeat(32),
                yanked: *yanked,
            });
    }
    let snapshot = RegistrySnapshot {
        format_version: SNAPSHOT_FORMAT_VERSION,
        registry: None,
        crates: map,
    };
    let path = fixture.root().join("target/registry-state.json");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, serde_json::to_string(&snapshot).expect("json")).expect("write");
    path
}

#[test]
fn chain_orders_one_wave_per_link() {
    let fixture = Fixture::new(
        &[
            member("a", ""),
            member(
                "b",
                "[dependencies]\na = { path = \"../a\", version = \"0.1\" }\n",
            ),
            member(
                "c",
                "[dependencies]\nb = { path = \"../b\", version = \"0.1.0\" }\n",
            ),
        ],
        "",
    );
    let plan = fixture.plan();
    assert_eq!(waves(&plan), [["a"], ["b"], ["c"]]);
    assert_eq!(plan.package("c").unwrap().wave, Some(2));
    let edge = &plan.package("b").unwrap().dependencies[0];
    assert_eq!(
        (edge.name.as_str(), edge.kind),
        ("a", DependencyKind::Normal)
    );
    assert_eq!(edge.requirement.as_deref(), Some("^0.1"));
    assert!(edge.orders_publishing);
    assert!(errors(&plan).is_empty(), "{:?}", plan.diagnostics);
}

#[test]
fn diamond_and_independent_crates_share_waves() {
    let dep = |name: &str| format!("{name} = {{ path = \"../{name}\", version = \"0.1\" }}\n");
    let fixture = Fixture::new(
        &[
            member("base", ""),
            member("left", &format!("[dependencies]\n{}", dep("base"))),
            member("right", &format!("[dependencies]\n{}", dep("base"))),
            member(
                "top",
                &format!("[dependencies]\n{}{}", dep("left"), dep("right")),
            ),
            member("alone", ""),
        ],
        "",
    );
    let plan = fixture.plan();
    assert_eq!(
        waves(&plan),
        vec![vec!["alone", "base"], vec!["left", "right"], vec!["top"]]
    );
}

#[test]
fn publish_false_members_are_excluded_and_block_their_dependents() {
    let fixture = Fixture::new(
        &[
            member("internal", "publish = false\n"),
            member(
                "user",
                "[dependencies]\ninternal = { path = \"../internal\", version = \"0.1\" }\n",
            ),
            member(
                "tested",
                "[dev-dependencies]\ninternal = { path = \"../internal\" }\n",
            ),
        ],
        "",
    );
    let plan = fixture.plan();
    let internal = plan.package("internal").unwrap();
    assert_eq!(internal.action, Action::Excluded);
    assert_eq!(internal.wave, None);
    assert!(
        internal.reason.contains("publish = false"),
        "{}",
        internal.reason
    );
    let blocked: Vec<_> = plan
        .diagnostics
        .iter()
        .filter(|d| d.code == "excluded-dependency")
        .collect();
    assert_eq!(blocked.len(), 1, "{:?}", plan.diagnostics);
    assert_eq!(blocked[0].package.as_deref(), Some("user"));
    assert!(blocked[0].message.contains("`internal`"));
    // A version-less dev-dependency is dropped on publish: no edge, not in the published manifest.
    let tested = plan.package("tested").unwrap();
    assert!(!tested.dependencies[0].orders_publishing);
    assert_eq!(tested.dependencies[0].requirement, None);
    assert!(!tested.manifest.published.contains("internal"));
    assert_eq!(waves(&plan), [["tested", "user"]]);
}

#[test]
fn publish_lists_are_checked_against_the_registry_name() {
    let (_storage, registry) = test_registry();
    let fixture = Fixture::new(
        &[
            member("only-other", "publish = [\"other\"]\n"),
            member("anywhere", ""),
        ],
        "",
    );
    fixture.write(
        ".cargo/config.toml",
        &format!("[registries.other]\nindex = \"{}\"\n", registry.index_url()),
    );
    let plan = fixture.plan();
    assert_eq!(action(&plan, "only-other"), Action::Excluded);
    assert!(plan
        .package("only-other")
        .unwrap()
        .reason
        .contains("crates-io"));

    let other = fixture
        .plan_with(|r| r.registry = RegistryChoice::Named("other".into()))
        .unwrap();
    assert_eq!(other.registry.name.as_deref(), Some("other"));
    assert_eq!(other.registry.index, registry.index_url());
    assert_eq!(
        other.inputs.registry_observations.source,
        ObservationSource::Index
    );
    assert_eq!(action(&other, "only-other"), Action::Publish);

    let by_index = fixture
        .plan_with(|r| r.registry = RegistryChoice::Index(registry.index_url()))
        .unwrap();
    assert_eq!(by_index.registry.name, None);
    assert_eq!(action(&by_index, "only-other"), Action::Excluded);
    assert_eq!(action(&by_index, "anywhere"), Action::Publish);
}

#[test]
fn renamed_target_specific_and_build_dependencies_order_publishing() {
    let fixture = Fixture::new(
        &[
            member("core", ""),
            member("macros", ""),
            member("gen", ""),
            member(
                "app",
                "[dependencies]\nengine = { package = \"core\", path = \"../core\", version = \"0.1\" }\n\
                 [target.'cfg(unix)'.dependencies]\nmacros = { path = \"../macros\" }\n\
                 [build-dependencies]\ngen = { path = \"../gen\", version = \"0.1\" }\n",
            ),
        ],
        "",
    );
    let plan = fixture.plan();
    assert_eq!(
        waves(&plan),
        vec![vec!["core", "gen", "macros"], vec!["app"]]
    );
    let app = plan.package("app").unwrap();
    let renamed = app.dependencies.iter().find(|d| d.name == "core").unwrap();
    assert_eq!(renamed.rename.as_deref(), Some("engine"));
    let build = app.dependencies.iter().find(|d| d.name == "gen").unwrap();
    assert_eq!(build.kind, DependencyKind::Build);
    assert!(build.orders_publishing);
    let targeted = app
        .dependencies
        .iter()
        .find(|d| d.name == "macros")
        .unwrap();
    assert_eq!(targeted.target.as_deref(), Some("cfg(unix)"));
    assert_eq!(targeted.requirement.as_deref(), Some("^0.1.0"));
    // The version-less path dependency gets a version, as an edit at the exact table.
    let edit = &app.manifest.edits[0];
    assert_eq!(edit.file, "app/Cargo.toml");
    assert_eq!(
        edit.table,
        ["target", "cfg(unix)", "dependencies", "macros"]
    );
    assert_eq!(
        (edit.key.as_str(), edit.value.as_str()),
        ("version", "^0.1.0")
    );
    assert!(codes(&plan).contains(&"path-dependency-version-added".to_owned()));
    let published = &app.manifest.published;
    assert!(
        published.contains("macros = { version = \"^0.1.0\" }"),
        "{published}"
    );
    assert!(!published.contains("path"), "{published}");
}

#[test]
fn workspace_inheritance_is_resolved_and_root_entries_are_edited() {
    let root_extra = "\n[workspace.package]\nversion = \"1.2.3\"\nlicense = \"MIT\"\n\
                      description = \"Shared description.\"\nedition = \"2021\"\n\
                      \n[workspace.dependencies]\nbase = { path = \"base\", features = [\"std\"] }\n";
    let inherits =
        "[package]\nname = \"NAME\"\nversion.workspace = true\nlicense.workspace = true\n\
                    description.workspace = true\nedition.workspace = true\n";
    let fixture = Fixture::new(
        &[
            (
                "base",
                inherits.replace("NAME", "base") + "[features]\nstd = []\nextra = []\n",
            ),
            (
                "user",
                inherits.replace("NAME", "user")
                    + "[dependencies]\nbase = { workspace = true, features = [\"extra\"] }\n",
            ),
        ],
        root_extra,
    );
    let plan = fixture.plan();
    assert!(errors(&plan).is_empty(), "{:?}", plan.diagnostics);
    let user = plan.package("user").unwrap();
    assert_eq!(user.version.to_string(), "1.2.3");
    assert_eq!(user.dependencies[0].requirement.as_deref(), Some("^1.2.3"));
    let edit = &user.manifest.edits[0];
    assert_eq!(edit.file, "Cargo.toml");
    assert_eq!(edit.table, ["workspace", "dependencies", "base"]);
    let published = &user.manifest.published;
    for expected in [
        "version = \"1.2.3\"",
        "license = \"MIT\"",
        "description = \"Shared description.\"",
        "base = { features = [\"std\", \"extra\"], version = \"^1.2.3\" }",
    ] {
        assert!(
            published.contains(expected),
            "{expected} missing from\n{published}"
        );
    }
    assert!(!published.contains("workspace"), "{published}");
    assert_eq!(waves(&plan), [["base"], ["user"]]);
}

#[test]
fn cycle_through_versioned_dev_dependency_is_an_error_that_names_the_fix() {
    let fixture = Fixture::new(
        &[
            member(
                "foo",
                "[dependencies]\nfoo-macros = { path = \"../foo-macros\", version = \"0.1\" }\n",
            ),
            member(
                "foo-macros",
                "[dev-dependencies]\nfoo = { path = \"../foo\", version = \"0.1\" }\n",
            ),
        ],
        "",
    );
    let plan = fixture.plan();
    let cycle: Vec<_> = plan
        .diagnostics
        .iter()
        .filter(|d| d.code == "dependency-cycle")
        .collect();
    assert_eq!(cycle.len(), 1, "{:?}", plan.diagnostics);
    assert_eq!(cycle[0].severity, Severity::Error);
    assert!(
        cycle[0]
            .message
            .contains("`foo` → `foo-macros` (normal dependency ^0.1, foo/Cargo.toml)"),
        "{}",
        cycle[0].message
    );
    assert!(
        cycle[0]
            .message
            .contains("`foo-macros` → `foo` (dev-dependency ^0.1, foo-macros/Cargo.toml)"),
        "{}",
        cycle[0].message
    );
    assert!(
        cycle[0]
            .help
            .contains("remove `version` from the dev-dependency on `foo` in foo-macros/Cargo.toml"),
        "{}",
        cycle[0].help
    );
    // Every package still has a wave, so the plan stays complete for review.
    assert!(plan.packages.iter().all(|p| p.wave.is_some()));
}

#[test]
fn cycle_through_version_less_dev_dependency_is_not_a_cycle() {
    let fixture = Fixture::new(
        &[
            member(
                "foo",
                "[dependencies]\nfoo-macros = { path = \"../foo-macros\", version = \"0.1\" }\n",
            ),
            member(
                "foo-macros",
                "[dev-dependencies]\nfoo = { path = \"../foo\" }\n",
            ),
        ],
        "",
    );
    let plan = fixture.plan();
    assert!(errors(&plan).is_empty(), "{:?}", plan.diagnostics);
    assert_eq!(waves(&plan), [["foo-macros"], ["foo"]]);
    assert!(!plan
        .package("foo-macros")
        .unwrap()
        .manifest
        .published
        .contains("foo ="));
}

#[test]
fn metadata_and_dependency_checks_each_have_their_code() {
    let long_name = "a".repeat(65);
    let fixture = Fixture::new(
        &[
            (
                "bare",
                "[package]\nname = \"bare\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".to_owned(),
            ),
            member(
                "gitdep",
                "[dependencies]\ng = { git = \"https://example.invalid/g.git\" }\n",
            ),
            member(
                "outside-user",
                "[dependencies]\noutside = { path = \"../outside\" }\n",
            ),
            member("wild", "[dependencies]\nserde = \"*\"\n"),
            member(
                "needs-newer",
                "[dependencies]\nbare = { path = \"../bare\", version = \"0.2\" }\n",
            ),
            (leak(&long_name), manifest(&long_name, "0.1.0", "")),
            member(
                "keywords",
                "keywords = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]\n",
            ),
            member("foo-bar", ""),
            member("foo_bar", ""),
        ],
        "exclude = [\"outside\"]\n",
    );
    fixture.write("outside/Cargo.toml", &manifest("outside", "0.1.0", ""));
    fixture.write("outside/src/lib.rs", "");
    let plan = fixture.plan();
    let found = |code: &str| -> Vec<Option<&str>> {
        plan.diagnostics
            .iter()
            .filter(|d| d.code == code)
            .map(|d| d.package.as_deref())
            .collect()
    };
    assert_eq!(found("missing-description"), [Some("bare")]);
    assert_eq!(found("missing-license"), [Some("bare")]);
    assert_eq!(found("git-dependency-without-version"), [Some("gitdep")]);
    assert_eq!(
        found("path-dependency-outside-workspace"),
        [Some("outside-user")]
    );
    assert_eq!(found("wildcard-requirement"), [Some("wild")]);
    assert_eq!(found("requirement-not-satisfied"), [Some("needs-newer")]);
    assert_eq!(found("invalid-crate-name"), [Some(long_name.as_str())]);
    assert_eq!(found("too-many-keywords"), [Some("keywords")]);
    assert_eq!(found("name-collision"), [Some("foo-bar")]);
    for d in plan
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
    {
        assert!(!d.help.is_empty(), "{} has no help", d.code);
    }
    let not_satisfied = plan
        .diagnostics
        .iter()
        .find(|d| d.code == "requirement-not-satisfied")
        .unwrap();
    assert!(not_satisfied.message.contains("^0.2") && not_satisfied.message.contains("0.1.0"));
    // Errors are listed before warnings.
    let severities: Vec<Severity> = plan.diagnostics.iter().map(|d| d.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort();
    assert_eq!(severities, sorted);
}

#[test]
fn wildcard_is_a_warning_for_registries_other_than_crates_io() {
    let (_storage, registry) = test_registry();
    let fixture = Fixture::new(&[member("wild", "[dependencies]\nserde = \"*\"\n")], "");
    let plan = fixture
        .plan_with(|r| r.registry = RegistryChoice::Index(registry.index_url()))
        .unwrap();
    let wildcard = plan
        .diagnostics
        .iter()
        .find(|d| d.code == "wildcard-requirement")
        .unwrap();
    assert_eq!(wildcard.severity, Severity::Warning);
}

#[test]
fn registry_observations_skip_present_versions_and_warn_on_yanked() {
    let fixture = Fixture::new(
        &[
            member("old", ""),
            member("gone", ""),
            member(
                "fresh",
                "[dependencies]\nold = { path = \"../old\", version = \"0.1\" }\n",
            ),
        ],
        "",
    );
    let state = snapshot(
        &fixture,
        &[
            ("old", "0.1.0", false),
            ("old", "0.0.9", false),
            ("gone", "0.1.0", true),
            ("fresh", "0.0.1", false),
        ],
    );
    let plan = fixture
        .plan_with(|r| r.registry_state = Some(state))
        .unwrap();
    assert_eq!(
        plan.inputs.registry_observations.source,
        ObservationSource::Snapshot
    );
    assert_eq!(action(&plan, "old"), Action::Skip);
    let old = plan.package("old").unwrap();
    assert!(
        old.reason.contains("already in the registry"),
        "{}",
        old.reason
    );
    assert!(old.reason.contains("cannot be compared"), "{}", old.reason);
    assert_eq!(old.wave, None);
    assert_eq!(action(&plan, "gone"), Action::Skip);
    assert_eq!(action(&plan, "fresh"), Action::Publish);
    // fresh's dependency is already published, so fresh starts in the first wave.
    assert_eq!(waves(&plan), [["fresh"]]);
    assert!(codes(&plan).contains(&"planned-version-yanked".to_owned()));
    assert!(!codes(&plan).contains(&"registry-observations-absent".to_owned()));
    // Observed versions are recorded in the inputs, sorted.
    let recorded: Vec<String> = plan.inputs.registry_observations.crates["old"]
        .iter()
        .map(|v| v.version.to_string())
        .collect();
    assert_eq!(recorded, ["0.0.9", "0.1.0"]);
}

#[test]
fn without_observations_nothing_is_skipped_and_a_warning_says_so() {
    let fixture = Fixture::new(&[member("a", "")], "");
    let plan = fixture.plan();
    assert_eq!(
        plan.inputs.registry_observations.source,
        ObservationSource::Absent
    );
    assert_eq!(action(&plan, "a"), Action::Publish);
    assert!(codes(&plan).contains(&"registry-observations-absent".to_owned()));
}

#[test]
fn selection_excludes_and_errors_only_when_the_registry_lacks_the_dependency() {
    let fixture = Fixture::new(
        &[
            member("lib", ""),
            member(
                "app",
                "[dependencies]\nlib = { path = \"../lib\", version = \"0.1\" }\n",
            ),
            member("other", ""),
        ],
        "",
    );
    let only_app = fixture
        .plan_with(|r| r.selection.packages = vec!["app".into()])
        .unwrap();
    assert_eq!(action(&only_app, "lib"), Action::Excluded);
    assert_eq!(action(&only_app, "other"), Action::Excluded);
    assert_eq!(
        only_app.package("other").unwrap().reason,
        "not selected with --package"
    );
    assert_eq!(errors(&only_app), ["excluded-dependency"]);
    assert_eq!(only_app.inputs.selection.packages, ["app"]);

    let state = snapshot(&fixture, &[("lib", "0.1.0", false)]);
    let satisfied = fixture
        .plan_with(|r| {
            r.selection.exclude = vec!["lib".into()];
            r.registry_state = Some(state);
        })
        .unwrap();
    assert_eq!(
        satisfied.package("lib").unwrap().reason,
        "excluded with --exclude"
    );
    assert!(errors(&satisfied).is_empty(), "{:?}", satisfied.diagnostics);
    assert_eq!(waves(&satisfied), [["app", "other"]]);
}

#[test]
fn invalid_inputs_are_refused_with_codes() {
    let fixture = Fixture::new(&[member("a", "")], "");
    let unknown = fixture
        .plan_with(|r| r.selection.packages = vec!["nope".into()])
        .unwrap_err();
    assert_eq!(unknown.code(), "unknown-package");
    assert!(unknown.help().contains("a"));
    assert!(matches!(
        unknown,
        PlanError::UnknownPackage {
            option: "--package",
            ..
        }
    ));

    let registry = fixture
        .plan_with(|r| r.registry = RegistryChoice::Named("nowhere".into()))
        .unwrap_err();
    assert_eq!(registry.code(), "unknown-registry");
    assert!(registry
        .to_string()
        .contains("CARGO_REGISTRIES_NOWHERE_INDEX"));

    fixture.write("state.json", "{\"format_version\":\"2.0\",\"crates\":{}}");
    let state = fixture.root().join("state.json");
    let newer = fixture
        .plan_with(|r| r.registry_state = Some(state.clone()))
        .unwrap_err();
    assert_eq!(newer.code(), "format-version-unsupported");
    assert!(newer.to_string().contains("state.json"));

    let snapshot = RegistrySnapshot {
        format_version: SNAPSHOT_FORMAT_VERSION,
        registry: Some(RegistryTarget {
            name: None,
            index: "sparse+https://elsewhere.invalid/".into(),
        }),
        crates: BTreeMap::new(),
    };
    fixture.write("state.json", &serde_json::to_string(&snapshot).unwrap());
    let mismatch = fixture
        .plan_with(|r| r.registry_state = Some(state))
        .unwrap_err();
    assert_eq!(mismatch.code(), "registry-snapshot-mismatch");

    let missing = fixture
        .plan_with(|r| r.manifest_path = r.manifest_path.with_file_name("Nope.toml"))
        .unwrap_err();
    assert_eq!(missing.code(), "manifest-not-found");

    fixture.write("a/Cargo.toml", "[package\nname = ");
    let broken = fixture.plan_with(|_| {}).unwrap_err();
    assert_eq!(broken.code(), "workspace-unreadable");
    for error in [&unknown, &registry, &newer, &mismatch, &missing, &broken] {
        assert_eq!(error.exit_code(), 2, "{error}");
    }
}

#[test]
fn git_state_is_recorded_and_dirty_trees_warned_about() {
    let fixture = Fixture::new(&[member("a", "")], "");
    let outside_git = fixture.plan();
    assert_eq!(outside_git.inputs.git, None);
    assert!(codes(&outside_git).contains(&"not-a-git-checkout".to_owned()));

    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    let clean = fixture.plan();
    let git = clean.inputs.git.clone().expect("git inputs");
    assert_eq!(git.commit.len(), 40);
    assert_eq!(git.tree.len(), 40);
    assert!(!git.dirty);
    assert_eq!(git.workspace_path, "");
    assert!(!codes(&clean)
        .iter()
        .any(|c| c == "not-a-git-checkout" || c == "dirty-working-tree"));

    // The plan's own output file does not make the tree dirty; anything else does.
    fixture.write("plan.json", "{}");
    let own_output = fixture
        .plan_with(|r| r.own_outputs = vec![fixture.root().join("plan.json")])
        .unwrap();
    assert!(!own_output.inputs.git.as_ref().unwrap().dirty);
    fixture.write("a/src/lib.rs", "pub fn changed() {}\n");
    let dirty = fixture.plan();
    assert!(dirty.inputs.git.as_ref().unwrap().dirty);
    assert!(codes(&dirty).contains(&"dirty-working-tree".to_owned()));
}

#[test]
fn workspace_in_a_repository_subdirectory_records_its_path() {
    let fixture = Fixture::empty();
    fixture.write(
        "crates/Cargo.toml",
        "[workspace]\nresolver = \"2\"\nmembers = [\"a\"]\n",
    );
    fixture.write("crates/a/Cargo.toml", &manifest("a", "0.1.0", ""));
    fixture.write("crates/a/src/lib.rs", "");
    fixture.commit();
    let plan = fixture
        .plan_with(|r| r.manifest_path = fixture.root().join("crates/Cargo.toml"))
        .unwrap();
    assert_eq!(plan.inputs.git.as_ref().unwrap().workspace_path, "crates");
    assert_eq!(plan.package("a").unwrap().manifest_path, "a/Cargo.toml");
}

#[test]
fn inputs_hash_every_manifest_and_the_lockfile() {
    let fixture = Fixture::new(&[member("a", ""), member("b", "")], "");
    let plan = fixture.plan();
    let keys: Vec<&str> = plan.inputs.manifests.keys().map(String::as_str).collect();
    assert_eq!(keys, ["Cargo.toml", "a/Cargo.toml", "b/Cargo.toml"]);
    assert_eq!(plan.inputs.lockfile, None);
    assert!(plan.inputs.cargo_version.starts_with("cargo "));
    fixture.write("Cargo.lock", "version = 4\n");
    let locked = fixture.plan();
    assert_eq!(
        locked.inputs.lockfile.as_deref(),
        Some(convoy_schema::digest::sha256_digest(b"version = 4\n").as_str())
    );
    assert_ne!(locked.digest, plan.digest);
    assert!(plan.digest_is_valid() && locked.digest_is_valid());
}

#[test]
fn a_published_version_breaks_a_cycle_through_a_versioned_dev_dependency() {
    let fixture = Fixture::new(
        &[
            (
                "foo",
                manifest("foo", "0.1.1", "[dependencies]\nfoo-macros = { path = \"../foo-macros\", version = \"0.1\" }\n"),
            ),
            member("foo-macros", "[dev-dependencies]\nfoo = { path = \"../foo\", version = \"0.1\" }\n"),
        ],
        "",
    );
    let state = snapshot(&fixture, &[("foo", "0.1.0", false)]);
    let plan = fixture
        .plan_with(|r| r.registry_state = Some(state))
        .unwrap();
    assert!(errors(&plan).is_empty(), "{:?}", plan.diagnostics);
    let broken = plan
        .diagnostics
        .iter()
        .find(|d| d.code == "dev-dependency-cycle-broken")
        .expect("the cycle is broken with a warning");
    assert_eq!(broken.package.as_deref(), Some("foo-macros"));
    assert!(broken.message.contains("`foo` 0.1.0"), "{}", broken.message);
    assert_eq!(waves(&plan), [["foo-macros"], ["foo"]]);
    let dev = &plan.package("foo-macros").unwrap().dependencies[0];
    assert_eq!(
        (dev.kind, dev.orders_publishing),
        (DependencyKind::Dev, false)
    );

    // A yanked version does not count: the cycle stays an error.
    let fixture_state = snapshot(&fixture, &[("foo", "0.1.0", true)]);
    let yanked = fixture
        .plan_with(|r| r.registry_state = Some(fixture_state))
        .unwrap();
    assert_eq!(errors(&yanked), ["dependency-cycle"]);
}
