//! The testkit registry against real cargo: cargo publishes to it and builds a consumer from it
//! (so the server is faithful), and what Convoy predicted — checksums and publish metadata —
//! equals what cargo actually uploaded.

use std::path::Path;
use std::process::Command;

use convoy_schema::plan::Plan;
use convoy_testkit::{Options, TestRegistry};
use convoy_tests::{binary, git, manifest, run, Fixture, Run};
use serde_json::Value;

const TOKEN: &str = "convoy-test-token-9f8e7d";

/// A cargo isolated from the user's: its own CARGO_HOME (registry caches keyed by port would
/// pile up otherwise), the real toolchain, the test registry named `testkit`.
fn cargo(home: &Path, registry: &TestRegistry, cwd: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    convoy_tests::isolated_cargo(&mut command, home)
        .current_dir(cwd)
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .env("CARGO_REGISTRIES_TESTKIT_TOKEN", TOKEN);
    command
}

fn workspace() -> Fixture {
    let publish_to = "publish = [\"testkit\"]\n";
    let b_extra = format!(
        "{publish_to}keywords = [\"release\"]\nrust-version = \"1.70\"\n\n[dependencies]\n\
         core-a = {{ package = \"rk-a\", path = \"../a\", version = \"0.1\", registry = \"testkit\", default-features = false, features = [\"std\"], optional = true }}\n\
         \n[target.'cfg(unix)'.dependencies]\nrk-c = {{ path = \"../c\", version = \"0.1\", registry = \"testkit\" }}\n\
         \n[build-dependencies]\nrk-c = {{ path = \"../c\", version = \"0.1.0\", registry = \"testkit\" }}\n\
         \n[dev-dependencies]\nrk-a = {{ path = \"../a\", version = \"=0.1.0\", registry = \"testkit\" }}\n\
         \n[features]\nfancy = [\"dep:core-a\"]\n"
    );
    let fixture = Fixture::new(
        &[
            (
                "a",
                manifest(
                    "rk-a",
                    "0.1.0",
                    &format!("{publish_to}[features]\ndefault = [\"std\"]\nstd = []\n"),
                ),
            ),
            ("b", manifest("rk-b", "0.1.0", &b_extra)),
            ("c", manifest("rk-c", "0.1.0", publish_to)),
        ],
        "",
    );
    fixture.write("a/README.md", "# rk-a\n");
    fixture.write("b/build.rs", "fn main() {}\n");
    fixture.write("b/src/lib.rs", "pub fn answer() -> u32 { 42 }\n");
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    fixture
}

fn plan_bundle(fixture: &Fixture, registry: &TestRegistry, home: &Path) -> (Run, Plan, Fixture) {
    let out = Fixture::empty();
    let mut command = Command::new(binary("convoy-plan"));
    convoy_tests::isolated_cargo(&mut command, home)
        .current_dir(fixture.root())
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .args(["--registry", "testkit", "--bundle"])
        .arg(out.root().join("bundle"));
    let result = run(&mut command);
    let plan = Plan::from_json(
        &std::fs::read_to_string(out.root().join("bundle/plan.json")).expect("plan written"),
    )
    .expect("plan reads");
    (result, plan, out)
}

/// Deps sorted the same way on both sides, so order does not matter and everything else does.
fn with_sorted_deps(mut metadata: Value) -> Value {
    if let Some(deps) = metadata.get_mut("deps").and_then(Value::as_array_mut) {
        deps.sort_by_key(|d| d.to_string());
    }
    metadata
}

#[test]
fn cargo_publishes_to_the_testkit_and_convoy_predicted_every_byte() {
    let storage = Fixture::empty();
    let registry = TestRegistry::start(Options::new(storage.root().join("registry"), TOKEN))
        .expect("registry starts");
    let home = Fixture::empty();
    let fixture = workspace();

    // Convoy plans and packages first, from the commit.
    let (planned, plan, _bundle) = plan_bundle(&fixture, &registry, home.root());
    assert_eq!(planned.code(), 0, "{}", planned.stderr());
    assert_eq!(plan.registry.name.as_deref(), Some("testkit"));

    // Real cargo publishes the same commit from a clean clone.
    cargo_publish(&fixture, &registry, home.root());

    let uploads: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path == "/api/v1/crates/new")
        .collect();
    assert_eq!(uploads.len(), 3, "one upload per crate");
    for upload in &uploads {
        assert_eq!(
            upload.authorization.as_deref(),
            Some(TOKEN),
            "cargo sends the token verbatim"
        );
        let (name, version, cksum) = upload.stored.clone().expect("stored");
        let package = plan.package(&name).expect("planned");
        assert_eq!(package.version.to_string(), version);
        let artifact = package.artifact.as_ref().expect("artifact");
        assert_eq!(
            artifact.sha256, cksum,
            "{name}: the registry's cksum is the one Convoy predicted"
        );
        let sent: Value = serde_json::from_str(upload.metadata_json.as_deref().unwrap()).unwrap();
        let ours: Value = serde_json::from_str(&convoy_registry::body::metadata_json(
            package.publish_metadata.as_ref().unwrap(),
        ))
        .unwrap();
        assert_eq!(
            with_sorted_deps(ours),
            with_sorted_deps(sent),
            "{name}: publish metadata differs from cargo's"
        );
    }
    let index_entries = registry.store().entries("rk-b");
    assert_eq!(index_entries.len(), 1);
    assert_eq!(
        index_entries[0].cksum,
        plan.package("rk-b")
            .unwrap()
            .artifact
            .as_ref()
            .unwrap()
            .sha256
    );
    assert_eq!(
        index_entries[0].v,
        Some(2),
        "`dep:` features go to features2"
    );

    // A consumer resolves and downloads from the registry with real cargo.
    let consumer = Fixture::empty();
    consumer.write(
        "Cargo.toml",
        "[package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nrk-b = { version = \"0.1\", registry = \"testkit\", features = [\"fancy\"] }\n",
    );
    consumer.write(
        "src/main.rs",
        "fn main() { assert_eq!(rk_b::answer(), 42); }\n",
    );
    let built = run(cargo(home.root(), &registry, consumer.root()).args(["run", "--quiet"]));
    assert_eq!(
        built.code(),
        0,
        "consumer build failed:\n{}",
        built.stderr()
    );
    let downloads: Vec<String> = registry
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/download"))
        .map(|r| r.path)
        .collect();
    assert_eq!(downloads.len(), 3, "{downloads:?}");
    let lock = std::fs::read_to_string(consumer.root().join("Cargo.lock")).unwrap();
    assert!(
        lock.contains(
            &plan
                .package("rk-a")
                .unwrap()
                .artifact
                .as_ref()
                .unwrap()
                .sha256
        ),
        "{lock}"
    );
}

/// Publishes the fixture's commit with real cargo from a clean clone.
fn cargo_publish(fixture: &Fixture, registry: &TestRegistry, home: &Path) {
    let (_holder, clone) = fixture.clone_commit();
    let published = run(cargo(home, registry, &clone).args([
        "publish",
        "--workspace",
        "--registry",
        "testkit",
        "--no-verify",
    ]));
    assert_eq!(
        published.code(),
        0,
        "cargo publish failed:\n{}",
        published.stderr()
    );
}

#[test]
fn live_observations_skip_identical_versions_and_refuse_changed_ones() {
    let storage = Fixture::empty();
    let registry = TestRegistry::start(Options::new(storage.root().join("registry"), TOKEN))
        .expect("registry starts");
    let home = Fixture::empty();
    let fixture = workspace();
    cargo_publish(&fixture, &registry, home.root());

    let (same, plan, _bundle) = plan_bundle(&fixture, &registry, home.root());
    assert_eq!(same.code(), 0, "{}", same.stderr());
    assert_eq!(
        plan.inputs.registry_observations.source,
        convoy_schema::plan::ObservationSource::Index
    );
    for package in &plan.packages {
        assert_eq!(
            package.action,
            convoy_schema::plan::Action::Skip,
            "{}",
            package.name
        );
        assert!(package.reason.contains("same bytes"), "{}", package.reason);
        let observed = &plan.inputs.registry_observations.crates[&package.name][0];
        assert_eq!(
            Some(&observed.cksum),
            package.artifact.as_ref().map(|a| &a.sha256)
        );
    }
    assert!(plan.waves.is_empty());
    // A dependent of a skipped crate is packaged against the registry's bytes of it.
    let registry_cksum = &plan.inputs.registry_observations.crates["rk-a"][0].cksum;
    let pinned = &plan
        .package("rk-b")
        .unwrap()
        .artifact
        .as_ref()
        .unwrap()
        .packaged_against["rk-a"];
    assert_eq!(&pinned.cksum, registry_cksum);

    // Change rk-a's sources without bumping its version.
    fixture.write("a/src/lib.rs", "pub fn changed() {}\n");
    git(
        fixture.root(),
        &[
            "commit",
            "--quiet",
            "--all",
            "--message",
            "change without a bump",
        ],
    );
    let (changed, plan, _bundle) = plan_bundle(&fixture, &registry, home.root());
    assert_eq!(changed.code(), 1, "{}", changed.stderr());
    let found = plan
        .diagnostics
        .iter()
        .find(|d| d.code == "version-exists-with-different-content")
        .expect("version-exists-with-different-content");
    assert_eq!(found.package.as_deref(), Some("rk-a"));
    assert!(found.help.contains("bump the version"), "{}", found.help);
}

#[test]
fn new_crates_are_listed_and_names_the_registry_would_confuse_are_refused() {
    let storage = Fixture::empty();
    let registry = TestRegistry::start(Options::new(storage.root().join("registry"), TOKEN))
        .expect("registry starts");
    registry
        .store()
        .publish(
            r#"{"name":"rk_taken","vers":"1.0.0","deps":[],"features":{}}"#,
            b"not a real crate",
        )
        .expect("seeded");
    let fixture = convoy_tests::Fixture::new(
        &[
            ("taken", manifest("rk-taken", "0.1.0", "")),
            ("fresh", manifest("rk-fresh", "0.1.0", "")),
        ],
        "",
    );
    let plan = fixture
        .plan_with(|r| {
            r.registry = convoy_registry::resolve::RegistryChoice::Index(registry.index_url())
        })
        .expect("plans");
    let found = |code: &str| -> Vec<Option<String>> {
        plan.diagnostics
            .iter()
            .filter(|d| d.code == code)
            .map(|d| d.package.clone())
            .collect()
    };
    assert_eq!(
        found("registry-name-collision"),
        [Some("rk-taken".to_owned())]
    );
    assert_eq!(found("new-crate"), [Some("rk-fresh".to_owned())]);
    assert!(plan
        .inputs
        .registry_observations
        .crates
        .contains_key("rk_taken"));
}

#[test]
fn unreachable_insecure_and_token_protected_registries() {
    let fixture = Fixture::new(&[("a", manifest("rk-a", "0.1.0", ""))], "");
    let plan = |args: &[&str], env: &[(&str, &str)]| -> Run {
        let mut command = Command::new(binary("convoy-plan"));
        command.current_dir(fixture.root()).args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        run(&mut command)
    };
    let unreachable = plan(&["--index", "sparse+http://127.0.0.1:1/index/"], &[]);
    assert_eq!(unreachable.code(), 3, "{}", unreachable.stderr());
    assert!(
        unreachable.stderr().contains("error[registry-unreachable]"),
        "{}",
        unreachable.stderr()
    );

    let insecure = plan(&["--index", "sparse+http://registry.invalid/index/"], &[]);
    assert_eq!(insecure.code(), 2, "{}", insecure.stderr());
    assert!(
        insecure.stderr().contains("error[insecure-registry-url]"),
        "{}",
        insecure.stderr()
    );

    let storage = Fixture::empty();
    let mut options = Options::new(storage.root().join("registry"), TOKEN);
    options.auth_required = true;
    let private = TestRegistry::start(options).expect("registry starts");
    let index = private.index_url();
    let env = [("CARGO_REGISTRIES_PRIVATE_INDEX", index.as_str())];
    let refused = plan(&["--registry", "private"], &env);
    assert_eq!(refused.code(), 3, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("error[registry-auth-failed]"),
        "{}",
        refused.stderr()
    );
    assert!(
        refused.stderr().contains("CARGO_REGISTRIES_<NAME>_TOKEN"),
        "{}",
        refused.stderr()
    );

    let env = [
        ("CARGO_REGISTRIES_PRIVATE_INDEX", index.as_str()),
        ("CARGO_REGISTRIES_PRIVATE_TOKEN", TOKEN),
    ];
    let allowed = plan(&["--registry", "private", "--format", "json"], &env);
    assert_eq!(allowed.code(), 0, "{}", allowed.stderr());
    assert!(
        !allowed.stdout().contains(TOKEN) && !allowed.stderr().contains(TOKEN),
        "the token never appears in output"
    );
    let reads: Vec<_> = private
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/index/") && r.path != "/index/config.json")
        .collect();
    assert!(!reads.is_empty());
    assert!(
        reads
            .iter()
            .all(|r| r.authorization.as_deref() == Some(TOKEN)),
        "index reads carry the read token"
    );
}
