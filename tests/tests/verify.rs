//! `convoy-verify` against the testkit: a clean release verifies; each finding code is produced
//! by one kind of tampering with the registry's state and by nothing else; no token is sent.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use convoy_schema::report::VerifyReport;
use convoy_testkit::{Options, TestRegistry};
use convoy_tests::{binary, isolated_cargo, manifest, run, Fixture, Run};

const TOKEN: &str = "verify-test-token";

/// A release published by Convoy: `vr-a`, `vr-b` (depends on a), `vr-c` (an optional dependency
/// on a behind a `dep:` feature).
struct Released {
    _storage: Fixture,
    _home: Fixture,
    fixture: Fixture,
    bundle: Fixture,
    registry: TestRegistry,
}

impl Released {
    fn new() -> Self {
        let storage = Fixture::empty();
        let registry = TestRegistry::start(Options::new(storage.root().join("registry"), TOKEN))
            .expect("registry");
        let to = "publish = [\"testkit\"]\n";
        let dep = |extra: &str| {
            format!("vr-a = {{ path = \"../vr-a\", version = \"0.1\", registry = \"testkit\"{extra} }}\n")
        };
        let fixture = Fixture::new(
            &[
                ("vr-a", manifest("vr-a", "0.1.0", to)),
                (
                    "vr-b",
                    manifest("vr-b", "0.1.0", &format!("{to}[dependencies]\n{}", dep(""))),
                ),
                (
                    "vr-c",
                    manifest(
                        "vr-c",
                        "0.1.0",
                        &format!(
                            "{to}[dependencies]\n{}[features]\nextra = [\"dep:vr-a\"]\n",
                            dep(", optional = true")
                        ),
                    ),
                ),
            ],
            "",
        );
        fixture.write(".gitignore", "/target\n");
        fixture.commit();
        let home = Fixture::empty();
        let bundle = Fixture::empty();
        let mut plan = Command::new(binary("convoy-plan"));
        isolated_cargo(&mut plan, home.root())
            .current_dir(fixture.root())
            .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
            .env("CARGO_NET_OFFLINE", "true")
            .args(["--registry", "testkit", "--bundle"])
            .arg(bundle.root().join("b"));
        assert_eq!(run(&mut plan).code(), 0);
        let published = run(Command::new(binary("convoy-publish"))
            .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
            .env("CARGO_REGISTRIES_TESTKIT_TOKEN", TOKEN)
            .arg(bundle.root().join("b/plan.json"))
            .args(["--registry", "testkit"]));
        assert_eq!(published.code(), 0, "{}", published.stderr());
        Self {
            _storage: storage,
            _home: home,
            fixture,
            bundle,
            registry,
        }
    }

    fn plan_file(&self) -> PathBuf {
        self.bundle.root().join("b/plan.json")
    }

    /// Runs the verifier with no token variable at all.
    fn verify(&self, args: &[&str]) -> (Run, VerifyReport) {
        let result = run(Command::new(binary("convoy-verify"))
            .env_remove("CARGO_REGISTRIES_TESTKIT_TOKEN")
            .env_remove("CARGO_REGISTRY_TOKEN")
            .arg(self.plan_file())
            .args(["--format", "json"])
            .args(args));
        let report = VerifyReport::from_json(&result.stdout())
            .unwrap_or_else(|e| panic!("{e}: {}", result.stderr()));
        (result, report)
    }
}

fn codes(report: &VerifyReport) -> BTreeSet<(String, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.code.as_str().to_owned(), f.package.clone()))
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn a_clean_release_verifies_without_sending_a_token() {
    let release = Released::new();
    let before = release.registry.requests().len();
    let (result, report) = release.verify(&[]);
    assert_eq!(result.code(), 0, "{}", result.stderr());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.packages.len(), 3);
    assert!(report
        .packages
        .iter()
        .all(|p| p.ok && p.observed_cksum == p.expected_cksum));
    let bundle = release.bundle.root().join("b");
    let (downloaded, report) =
        release.verify(&["--download", "--bundle", bundle.to_str().unwrap()]);
    assert_eq!(downloaded.code(), 0, "{}", downloaded.stderr());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let requests = &release.registry.requests()[before..];
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.ends_with("/download"))
            .count(),
        3
    );
    assert!(
        requests.iter().all(|r| r.authorization.is_none()),
        "the verifier sends no Authorization header"
    );
    let markdown = run(Command::new(binary("convoy-verify"))
        .arg(release.plan_file())
        .args(["--format", "markdown"]));
    assert!(
        markdown.stdout().contains("everything matches"),
        "{}",
        markdown.stdout()
    );
}

#[test]
fn each_tampering_produces_its_finding_and_nothing_else() {
    type Tamper = fn(&TestRegistry);
    /// What is done, the tampering, the findings expected (code, package), exit code, extra args.
    type Case = (
        &'static str,
        Tamper,
        &'static [(&'static str, &'static str)],
        i32,
        &'static [&'static str],
    );
    let cases: [Case; 7] = [
        (
            "swap a cksum",
            |r| {
                assert!(r
                    .store()
                    .rewrite_entry("vr-a", "0.1.0", |l| l["cksum"] = "00".repeat(32).into()))
            },
            &[("checksum-mismatch", "vr-a")],
            1,
            &[],
        ),
        (
            "drop a version",
            |r| assert!(r.store().remove_entry("vr-b", "0.1.0")),
            &[("missing-version", "vr-b")],
            1,
            &[],
        ),
        (
            "yank",
            |r| assert!(r.store().set_yanked("vr-a", "0.1.0", true)),
            &[("yanked", "vr-a")],
            1,
            &[],
        ),
        (
            "yank, allowed",
            |r| assert!(r.store().set_yanked("vr-a", "0.1.0", true)),
            &[("yanked", "vr-a")],
            0,
            &["--allow-yanked"],
        ),
        (
            "alter a dependency",
            |r| {
                assert!(r
                    .store()
                    .rewrite_entry("vr-b", "0.1.0", |l| l["deps"][0]["req"] = "^9".into()))
            },
            &[("dependencies-differ", "vr-b")],
            1,
            &[],
        ),
        (
            "drop a feature",
            |r| {
                assert!(r.store().rewrite_entry("vr-c", "0.1.0", |l| {
                    l["features2"] = serde_json::json!({});
                }))
            },
            &[("features-differ", "vr-c")],
            1,
            &[],
        ),
        (
            "a state this verifier does not know",
            |r| {
                assert!(r
                    .store()
                    .rewrite_entry("vr-a", "0.1.0", |l| l["withheld"] = true.into()))
            },
            &[("unknown-state", "vr-a")],
            0,
            &[],
        ),
    ];
    for (what, tamper, expected, exit_code, args) in cases {
        let release = Released::new();
        tamper(&release.registry);
        let (result, report) = release.verify(args);
        assert_eq!(result.code(), exit_code, "{what}: {}", result.stderr());
        assert_eq!(codes(&report), set(expected), "{what}");
    }
}

#[test]
fn served_bytes_are_hashed_and_compared_with_the_bundle() {
    let release = Released::new();
    assert!(release
        .registry
        .store()
        .replace_crate("vr-a", "0.1.0", b"other bytes"));
    let (plain, _) = release.verify(&[]);
    assert_eq!(
        plain.code(),
        0,
        "without --download the index alone is checked"
    );
    let bundle = release.bundle.root().join("b");
    let (result, report) = release.verify(&["--download", "--bundle", bundle.to_str().unwrap()]);
    assert_eq!(result.code(), 1);
    assert_eq!(
        codes(&report),
        set(&[
            ("download-checksum-mismatch", "vr-a"),
            ("download-differs", "vr-a")
        ])
    );
}

#[test]
fn unreachable_registries_and_edited_plans_are_refused() {
    let release = Released::new();
    let unreachable = run(Command::new(binary("convoy-verify"))
        .arg(release.plan_file())
        .args(["--index", "sparse+http://127.0.0.1:1/index/"]));
    assert_eq!(unreachable.code(), 3, "{}", unreachable.stderr());
    let text = std::fs::read_to_string(release.plan_file()).unwrap();
    std::fs::write(
        release.plan_file(),
        text.replacen("\"reason\": \"", "\"reason\": \"edited ", 1),
    )
    .unwrap();
    let edited = run(Command::new(binary("convoy-verify")).arg(release.plan_file()));
    assert_eq!(edited.code(), 2);
    assert!(edited.stderr().contains("error[plan-digest-mismatch]"));
}

#[test]
fn rebuild_reproduces_the_plans_bytes_and_refuses_another_cargo() {
    let release = Released::new();
    let rebuild = |plan_file: &std::path::Path| {
        run(Command::new(binary("convoy-verify"))
            .env(
                "CARGO_REGISTRIES_TESTKIT_INDEX",
                release.registry.index_url(),
            )
            .env("CARGO_NET_OFFLINE", "true")
            .arg(plan_file)
            .args(["--format", "json", "--rebuild", "--manifest-path"])
            .arg(release.fixture.root().join("Cargo.toml")))
    };
    let reproduced = rebuild(&release.plan_file());
    assert_eq!(
        reproduced.code(),
        0,
        "{}{}",
        reproduced.stdout(),
        reproduced.stderr()
    );

    let original =
        convoy_schema::Plan::from_json(&std::fs::read_to_string(release.plan_file()).unwrap())
            .unwrap();
    let edited = |change: &dyn Fn(&mut convoy_schema::Plan), name: &str| {
        let mut plan = original.clone();
        change(&mut plan);
        plan.seal();
        let path = release.bundle.root().join(name);
        std::fs::write(&path, plan.to_pretty_json()).unwrap();
        path
    };
    let other_cargo = edited(
        &|p| p.packaging.as_mut().unwrap().cargo_version = "cargo 0.1.0 (elsewhere)".into(),
        "other-cargo.json",
    );
    let refused = rebuild(&other_cargo);
    assert_eq!(refused.code(), 2);
    assert!(
        refused.stderr().contains("error[cargo-version-mismatch]"),
        "{}",
        refused.stderr()
    );

    let other_bytes = edited(
        &|p| p.packages[0].artifact.as_mut().unwrap().sha256 = "ab".repeat(32),
        "other-bytes.json",
    );
    let result = rebuild(&other_bytes);
    assert_eq!(result.code(), 1);
    let report = VerifyReport::from_json(&result.stdout()).unwrap();
    assert_eq!(
        codes(&report),
        set(&[("not-reproduced", "vr-a"), ("checksum-mismatch", "vr-a")]),
        "the sources rebuild to the registry's bytes, not to what this plan claims"
    );
}

#[test]
fn a_read_token_goes_only_to_registries_that_require_one() {
    let release = Released::new();
    let storage = Fixture::empty();
    let mut options = Options::new(storage.root().join("private"), TOKEN);
    options.auth_required = true;
    let private = TestRegistry::start(options).unwrap();
    let verify = |token: Option<&str>| {
        let mut command = Command::new(binary("convoy-verify"));
        command
            .env("CARGO_REGISTRIES_PRIVATE_INDEX", private.index_url())
            .env_remove("CARGO_REGISTRIES_PRIVATE_TOKEN")
            .arg(release.plan_file())
            .args(["--registry", "private", "--format", "json"]);
        if let Some(token) = token {
            command.env("CARGO_REGISTRIES_PRIVATE_TOKEN", token);
        }
        run(&mut command)
    };
    let refused = verify(None);
    assert_eq!(refused.code(), 3, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("error[registry-auth-failed]"),
        "{}",
        refused.stderr()
    );
    let with_token = verify(Some(TOKEN));
    assert_eq!(
        with_token.code(),
        1,
        "the private registry has none of the versions: {}",
        with_token.stderr()
    );
    let report = VerifyReport::from_json(&with_token.stdout()).unwrap();
    assert!(report
        .findings
        .iter()
        .all(|f| f.code == convoy_schema::report::FindingCode::MissingVersion));
    let reads: Vec<_> = private
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/index/") && r.path != "/index/config.json")
        .collect();
    assert!(
        !reads.is_empty()
            && reads
                .iter()
                .all(|r| r.authorization.as_deref() == Some(TOKEN))
    );
    assert!(!with_token.stdout().contains(TOKEN) && !with_token.stderr().contains(TOKEN));
}

#[test]
fn skipped_packages_are_verified_unless_only_published_is_asked() {
    let release = Released::new();
    let again = Fixture::empty();
    let home = Fixture::empty();
    let mut plan = Command::new(binary("convoy-plan"));
    isolated_cargo(&mut plan, home.root())
        .current_dir(release.fixture.root())
        .env(
            "CARGO_REGISTRIES_TESTKIT_INDEX",
            release.registry.index_url(),
        )
        .env("CARGO_NET_OFFLINE", "true")
        .args(["--registry", "testkit", "--bundle"])
        .arg(again.root().join("b"));
    assert_eq!(run(&mut plan).code(), 0);
    let plan_file = again.root().join("b/plan.json");
    let skipped =
        convoy_schema::Plan::from_json(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert!(skipped
        .packages
        .iter()
        .all(|p| p.action == convoy_schema::plan::Action::Skip));
    let verify = |args: &[&str]| {
        let result = run(Command::new(binary("convoy-verify"))
            .arg(&plan_file)
            .args(["--format", "json"])
            .args(args));
        (
            result.code(),
            VerifyReport::from_json(&result.stdout()).unwrap(),
        )
    };
    let (code, report) = verify(&[]);
    assert_eq!(code, 0);
    assert_eq!(report.packages.len(), 3);
    let (code, report) = verify(&["--only-published"]);
    assert_eq!(code, 0);
    assert!(report.packages.is_empty());
    assert!(release
        .registry
        .store()
        .rewrite_entry("vr-b", "0.1.0", |l| l["cksum"] = "11".repeat(32).into()));
    let (code, report) = verify(&[]);
    assert_eq!(code, 1);
    assert_eq!(codes(&report), set(&[("checksum-mismatch", "vr-b")]));
}
