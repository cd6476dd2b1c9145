//! Version planning end to end, on scripted git histories with real git and cargo: change
//! detection as `cargo package --list` sees files, `convoy-plan apply` (format-preserving, golden
//! files; refusal on drift), the round trip plan → apply → commit → replan, the bytes `cargo
//! package` makes of the applied tree, and `convoy-plan tag`.

use std::path::{Path, PathBuf};
use std::process::Command;

use convoy_schema::digest::sha256_hex;
use convoy_schema::plan::{Action, Plan, ReleaseRequest};
use convoy_tests::{binary, git, manifest, run, tree_listing, Fixture, Run};

const B_MANIFEST: &str = r#"[package]
name = "rel-b"
version = "0.1.0"   # bumped by convoy-plan apply
edition = "2021"
description = "The rel-b test crate."
license = "MIT"

# Dependencies keep their layout: comments, key order, spacing inside inline tables.
[dependencies]
rel-a = { path = "../a",   version = "0.1" }    # trailing comment

[target.'cfg(unix)'.dependencies]
core-a = { package = "rel-a", version = "0.1.0", path = "../a", features = [] }

[dev-dependencies]
rel-a = {path="../a",version="0.1"}
"#;

const B_CHANGELOG: &str = "# Changelog\n\nAll notable changes to rel-b.\n\n## [Unreleased]\n\n## [0.1.0] - 2025-12-01\n\n- First release.\n";

/// `rel-a` (readme outside its directory, an excluded file), `rel-b` (depends on a three ways,
/// has a changelog), `rel-c` (an `include` list); each tagged at 0.1.0.
fn history() -> Fixture {
    let fixture = Fixture::new(
        &[
            (
                "a",
                manifest(
                    "rel-a",
                    "0.1.0",
                    "readme = \"../README.md\"\nexclude = [\"notes.txt\"]\n",
                ),
            ),
            ("b", B_MANIFEST.to_owned()),
            (
                "c",
                manifest("rel-c", "0.1.0", "include = [\"src/**\", \"Cargo.toml\"]\n"),
            ),
        ],
        "",
    );
    fixture.write("README.md", "# The rel workspace\n");
    fixture.write("a/notes.txt", "not packaged\n");
    fixture.write("c/docs.md", "not included\n");
    fixture.write("b/CHANGELOG.md", B_CHANGELOG);
    fixture.write(".gitignore", "target/\n");
    let lock = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["generate-lockfile", "--offline"])
        .current_dir(fixture.root())
        .output()
        .expect("cargo runs");
    assert!(
        lock.status.success(),
        "{}",
        String::from_utf8_lossy(&lock.stderr)
    );
    fixture.commit();
    for name in ["rel-a", "rel-b", "rel-c"] {
        git(
            fixture.root(),
            &[
                "tag",
                "--annotate",
                "--message",
                "release",
                &format!("{name}-v0.1.0"),
            ],
        );
    }
    fixture
}

fn change(fixture: &Fixture, path: &str, subject: &str) {
    let file = fixture.root().join(path);
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    text.push_str("// changed\n");
    fixture.write(path, &text);
    git(fixture.root(), &["add", "--all"]);
    git(fixture.root(), &["commit", "--quiet", "--message", subject]);
}

fn plan_auto(fixture: &Fixture) -> Plan {
    fixture
        .plan_with(|request| {
            request.release = ReleaseRequest {
                level: Some("auto".to_owned()),
                ..ReleaseRequest::default()
            };
        })
        .expect("planning succeeds")
}

fn released(plan: &Plan) -> Vec<(String, String)> {
    plan.packages
        .iter()
        .filter(|p| p.action != Action::Excluded)
        .map(|p| (p.name.clone(), p.version.to_string()))
        .collect()
}

fn convoy_plan(dir: &Path, args: &[&str]) -> Run {
    run(Command::new(binary("convoy-plan"))
        .current_dir(dir)
        .args(args)
        .env("CARGO_NET_OFFLINE", "true")
        .env("GIT_COMMITTER_NAME", "Convoy Test")
        .env("GIT_COMMITTER_EMAIL", "test@convoy.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null"))
}

#[test]
fn changes_count_only_for_files_cargo_would_package() {
    let fixture = history();
    change(
        &fixture,
        "a/notes.txt",
        "docs: notes, excluded from the package",
    );
    change(&fixture, "c/docs.md", "docs: not in c's include list");
    let plan = plan_auto(&fixture);
    assert!(released(&plan).is_empty(), "{:?}", released(&plan));
    assert_eq!(
        plan.package("rel-a").unwrap().reason,
        "unchanged since rel-a-v0.1.0"
    );
    let history = &plan.inputs.release.as_ref().unwrap().history;
    assert!(history["rel-a"].changed_files.is_empty());

    // The readme lives outside a's directory, and cargo packages it.
    change(&fixture, "README.md", "fix: readme wording");
    change(&fixture, "c/src/lib.rs", "feat: c grows");
    let plan = plan_auto(&fixture);
    assert_eq!(
        released(&plan),
        [
            ("rel-a".to_owned(), "0.1.1".to_owned()),
            ("rel-c".to_owned(), "0.1.1".to_owned())
        ]
    );
    let history = &plan.inputs.release.as_ref().unwrap().history;
    assert_eq!(history["rel-a"].changed_files, ["README.md"]);
    assert_eq!(history["rel-c"].changed_files, ["c/src/lib.rs"]);
    let subjects: Vec<&str> = history["rel-a"]
        .commits
        .iter()
        .map(|c| c.subject.as_str())
        .collect();
    assert_eq!(subjects, ["fix: readme wording"]);
    // An inherited field changing in the root manifest changes what a member publishes.
    let root = std::fs::read_to_string(fixture.root().join("Cargo.toml")).unwrap();
    fixture.write(
        "Cargo.toml",
        &format!("{root}\n[workspace.package]\nrepository = \"https://example.invalid/rel\"\n"),
    );
    git(
        fixture.root(),
        &[
            "commit",
            "--quiet",
            "--all",
            "--message",
            "chore: unused root field",
        ],
    );
    let plan = plan_auto(&fixture);
    let history = &plan.inputs.release.as_ref().unwrap().history;
    assert!(
        !history["rel-b"]
            .changed_files
            .contains(&"Cargo.toml".to_owned()),
        "b inherits nothing from the root: {:?}",
        history["rel-b"]
    );
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden/release")
        .join(name)
}

/// Compares `actual` with the golden file; `CONVOY_BLESS=1` rewrites it.
fn check_golden(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("CONVOY_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual,
        expected,
        "{} differs (CONVOY_BLESS=1 rewrites it)",
        path.display()
    );
}

#[test]
fn plan_apply_commit_replan_round_trip_and_tags() {
    let fixture = history();
    change(&fixture, "a/src/lib.rs", "feat!: a breaks its API");
    let root = fixture.root();
    let bundle = Fixture::empty();
    let bundle_dir = bundle.root().join("bundle");
    let out = convoy_plan(
        root,
        &["--bump", "auto", "--bundle", &bundle_dir.to_string_lossy()],
    );
    assert_eq!(out.code(), 0, "{}", out.stderr());
    let plan_path = bundle_dir.join("plan.json");
    let first = Plan::from_json(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    // a: breaking on 0.1 → 0.2.0; b requires a "0.1", so it is rewritten and b released.
    assert_eq!(
        released(&first),
        [
            ("rel-a".to_owned(), "0.2.0".to_owned()),
            ("rel-b".to_owned(), "0.1.1".to_owned())
        ]
    );
    let b = first.package("rel-b").unwrap();
    assert!(
        b.reason.contains("rel-a 0.1.0 → 0.2.0 is outside ^0.1"),
        "{}",
        b.reason
    );
    assert_eq!(first.lockfile_edits.len(), 2);
    let markdown = convoy_plan(
        root,
        &["show", "--format", "markdown", &plan_path.to_string_lossy()],
    );
    assert!(
        markdown
            .stdout()
            .contains("| `rel-a` | 0.1.0 → 0.2.0 | major |"),
        "{}",
        markdown.stdout()
    );
    assert!(
        markdown.stdout().contains("a breaks its API"),
        "{}",
        markdown.stdout()
    );

    // Drift: apply refuses and writes nothing.
    // The work tree (git's index is refreshed by the checkout below, which is not apply's doing).
    let work_tree = |root: &Path| {
        let mut listing = tree_listing(root);
        listing.retain(|path, _| !path.starts_with(".git"));
        listing
    };
    let before = work_tree(root);
    std::fs::write(root.join("c/Cargo.toml"), manifest("rel-c", "0.1.0", "")).unwrap();
    let refused = convoy_plan(root, &["apply", &plan_path.to_string_lossy()]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("error[tree-changed-since-plan]"),
        "{}",
        refused.stderr()
    );
    assert!(
        refused.stderr().contains("c/Cargo.toml was modified"),
        "{}",
        refused.stderr()
    );
    git(root, &["checkout", "--quiet", "--", "c/Cargo.toml"]);
    assert!(work_tree(root) == before, "a refused apply writes nothing");

    let applied = convoy_plan(root, &["apply", &plan_path.to_string_lossy()]);
    assert_eq!(applied.code(), 0, "{}", applied.stderr());
    assert!(
        applied
            .stdout()
            .contains("wrote Cargo.lock, a/Cargo.toml, b/CHANGELOG.md, b/Cargo.toml"),
        "{}",
        applied.stdout()
    );
    for file in [
        "b/Cargo.toml",
        "b/CHANGELOG.md",
        "a/Cargo.toml",
        "Cargo.lock",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        check_golden(&file.replace('/', "."), &text);
    }
    let again = convoy_plan(root, &["apply", &plan_path.to_string_lossy()]);
    assert_eq!(
        again.code(),
        2,
        "a second apply sees its own edits as drift: {}",
        again.stderr()
    );

    // The applied tree packages to the bytes the plan predicted.
    let target = Fixture::empty();
    let packaged = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "package",
            "--offline",
            "--no-verify",
            "--allow-dirty",
            "-p",
            "rel-a",
            "-p",
            "rel-b",
            "--target-dir",
        ])
        .arg(target.root())
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        packaged.status.success(),
        "{}",
        String::from_utf8_lossy(&packaged.stderr)
    );
    for (name, version) in [("rel-a", "0.2.0"), ("rel-b", "0.1.1")] {
        let bytes = std::fs::read(
            target
                .root()
                .join(format!("package/{name}-{version}.crate")),
        )
        .unwrap();
        assert_eq!(
            Some(sha256_hex(&bytes)),
            first
                .package(name)
                .unwrap()
                .artifact
                .as_ref()
                .map(|a| a.sha256.clone()),
            "{name}: cargo package of the applied tree gives the planned bytes"
        );
    }

    // Commit the release pull request; planning again finds nothing left to edit.
    git(
        root,
        &["commit", "--quiet", "--all", "--message", "chore: release"],
    );
    let replan = convoy_plan(
        root,
        &["--out", &bundle.root().join("again.json").to_string_lossy()],
    );
    assert_eq!(replan.code(), 0, "{}", replan.stderr());
    let again =
        Plan::from_json(&std::fs::read_to_string(bundle.root().join("again.json")).unwrap())
            .unwrap();
    assert_eq!(released(&again), released(&first));
    assert!(again.packages.iter().all(|p| p.manifest.edits.is_empty()));
    assert!(again.lockfile_edits.is_empty());
    assert_eq!(
        again
            .package("rel-a")
            .unwrap()
            .release
            .as_ref()
            .unwrap()
            .level,
        "manifest"
    );

    // Tags: created at the plan's commit, idempotent, refused when one exists elsewhere.
    let again_path = bundle.root().join("again.json");
    let tagged = convoy_plan(root, &["tag", &again_path.to_string_lossy()]);
    assert_eq!(tagged.code(), 0, "{}", tagged.stderr());
    assert_eq!(
        tagged.stdout(),
        "created tag rel-a-v0.2.0\ncreated tag rel-b-v0.1.1\n"
    );
    let head = git(root, &["rev-parse", "HEAD"]);
    assert_eq!(git(root, &["rev-parse", "rel-a-v0.2.0^{commit}"]), head);
    let twice = convoy_plan(root, &["tag", &again_path.to_string_lossy()]);
    assert_eq!(twice.code(), 0, "{}", twice.stderr());
    assert!(twice
        .stdout()
        .contains("tag rel-a-v0.2.0 already points at the plan's commit"));
    // After tagging, nothing has changed since the last release.
    assert!(released(&plan_auto(&fixture)).is_empty());
    change(&fixture, "c/src/lib.rs", "fix: c");
    let elsewhere = bundle.root().join("elsewhere.json");
    let planned = convoy_plan(
        root,
        &["-p", "rel-a", "--out", &elsewhere.to_string_lossy()],
    );
    assert_eq!(planned.code(), 0, "{}", planned.stderr());
    let refused = convoy_plan(root, &["tag", &elsewhere.to_string_lossy()]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("error[tag-exists-elsewhere]"),
        "{}",
        refused.stderr()
    );
}
