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
    let real_home = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let rustup =
        std::env::var_os("RUSTUP_HOME").map_or_else(|| real_home.join(".rustup"), Into::into);
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(cwd)
        .env("CARGO_HOME", home)
        .env("RUSTUP_HOME", rustup)
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .env("CARGO_REGISTRIES_TESTKIT_TOKEN", TOKEN)
        .env("CARGO_TERM_COLOR", "never");
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
    let real_home = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let rustup =
        std::env::var_os("RUSTUP_HOME").map_or_else(|| real_home.join(".rustup"), Into::into);
    let result = run(Command::new(binary("convoy-plan"))
        .current_dir(fixture.root())
        .env("CARGO_HOME", home)
        .env("RUSTUP_HOME", rustup)
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .args(["--registry", "testkit", "--bundle"])
        .arg(out.root().join("bundle")));
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
    let clone_dir = Fixture::empty();
    let clone = clone_dir.root().join("clone");
    git(
        clone_dir.root(),
        &[
            "clone",
            "--quiet",
            fixture.root().to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let published = run(cargo(home.root(), &registry, &clone).args([
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
