//! `convoy-plan --bundle` as a process on generated workspaces, compared with what real
//! `cargo package` makes: exact bytes, checksum chains, publish metadata, side-effect freedom.
//! Packaging runs with `CARGO_NET_OFFLINE=true`: these workspaces have only path dependencies.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use convoy_schema::digest::sha256_hex;
use convoy_schema::plan::{Action, PackagingSource, Plan};
use convoy_tests::{binary, codes, git, manifest, run, tree_listing, Fixture, Run};

/// `pk-a` (readme, features), `pk-b` (renamed optional, target-specific, build and dev
/// dependencies on a, a version-less dev-dependency on an unpublished helper), `pk-helper`.
fn packaged_workspace() -> Fixture {
    let b_extra = r#"authors = ["Convoy Test <test@convoy.invalid>"]
keywords = ["release"]
categories = ["development-tools"]
repository = "https://example.invalid/pk"
homepage = "https://example.invalid/pk-home"
rust-version = "1.70"

[dependencies]
core-a = { package = "pk-a", path = "../a", version = "0.1", default-features = false, features = ["std"], optional = true }

[target.'cfg(unix)'.dependencies]
pk-a = { path = "../a", version = "0.1" }

[build-dependencies]
pk-a = { path = "../a", version = "0.1.0" }

[dev-dependencies]
pk-a = { path = "../a", version = "=0.1.0" }
pk-helper = { path = "../helper" }

[features]
fancy = ["dep:core-a"]

[badges]
maintenance = { status = "experimental" }
"#;
    let fixture = Fixture::new(
        &[
            (
                "a",
                manifest(
                    "pk-a",
                    "0.1.0",
                    "[features]\ndefault = [\"std\"]\nstd = []\n",
                ),
            ),
            ("b", manifest("pk-b", "0.1.0", b_extra)),
            (
                "helper",
                manifest("pk-helper", "0.1.0", "publish = false\n"),
            ),
        ],
        "",
    );
    fixture.write("a/README.md", "# pk-a\n");
    fixture.write("b/README.md", "# pk-b\n");
    fixture.write("b/build.rs", "fn main() {}\n");
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    fixture
}

fn convoy_plan(cwd: &Path, args: &[&std::ffi::OsStr]) -> Run {
    run(Command::new(binary("convoy-plan"))
        .current_dir(cwd)
        .env("CARGO_NET_OFFLINE", "true")
        .args(args))
}

/// Plans `fixture` into a fresh bundle directory; returns the run, the plan and the directory.
fn bundle(fixture_root: &Path, extra: &[&str]) -> (Run, Option<Plan>, Fixture) {
    let out = Fixture::empty();
    let dir = out.root().join("bundle");
    let mut args: Vec<&std::ffi::OsStr> = vec!["--bundle".as_ref(), dir.as_os_str()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    let result = convoy_plan(fixture_root, &args);
    let plan = std::fs::read_to_string(dir.join("plan.json"))
        .ok()
        .map(|text| Plan::from_json(&text).expect("plan.json reads back"));
    (result, plan, out)
}

fn bundle_dir(out: &Fixture) -> PathBuf {
    out.root().join("bundle")
}

/// Unpacks a `.crate` with the system's tar, an implementation independent of Convoy's.
fn unpack(crate_file: &Path) -> Fixture {
    let into = Fixture::empty();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(crate_file)
        .arg("-C")
        .arg(into.root())
        .status()
        .expect("tar runs");
    assert!(status.success());
    into
}

#[test]
fn artifacts_hash_to_the_plan_and_equal_cargo_package_of_a_clean_checkout() {
    let fixture = packaged_workspace();
    let (result, plan, out) = bundle(fixture.root(), &[]);
    assert_eq!(result.code(), 0, "{}", result.stderr());
    let plan = plan.expect("plan.json in the bundle");
    let packaging = plan.packaging.as_ref().expect("a packaged plan");
    assert_eq!(packaging.source, PackagingSource::GitCommit);
    assert!(!packaging.edits_applied);
    assert_eq!(packaging.cargo_version, plan.inputs.cargo_version);

    // Real cargo in a clean checkout of the same commit.
    let clean = Fixture::empty();
    let checkout = clean.root().join("checkout");
    git(
        clean.root(),
        &[
            "clone",
            "--quiet",
            fixture.root().to_str().unwrap(),
            checkout.to_str().unwrap(),
        ],
    );
    let cargo = run(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args([
                "package",
                "--workspace",
                "--no-verify",
                "--offline",
                "--quiet",
                "--exclude",
                "pk-helper",
            ])
            .current_dir(&checkout),
    );
    assert_eq!(cargo.code(), 0, "{}", cargo.stderr());

    let published: Vec<_> = plan
        .packages
        .iter()
        .filter(|p| p.action == Action::Publish)
        .collect();
    assert_eq!(published.len(), 2);
    for package in published {
        let artifact = package.artifact.as_ref().expect("artifact");
        let bytes = std::fs::read(bundle_dir(&out).join(&artifact.file)).unwrap();
        assert_eq!(sha256_hex(&bytes), artifact.sha256, "{}", artifact.file);
        assert_eq!(bytes.len() as u64, artifact.size);
        let cargo_bytes =
            std::fs::read(checkout.join("target/package").join(&artifact.file)).unwrap();
        assert!(
            cargo_bytes == bytes,
            "{} differs from cargo package's",
            artifact.file
        );
        assert!(artifact.files.contains(&".cargo_vcs_info.json".to_owned()));
        assert!(package
            .manifest
            .published
            .starts_with("# THIS FILE IS AUTOMATICALLY GENERATED BY CARGO"));
    }
    let helper = plan.package("pk-helper").unwrap();
    assert!(helper.artifact.is_none() && helper.publish_metadata.is_none());
}

#[test]
fn the_same_commit_in_another_clone_path_gives_identical_plans_and_bytes() {
    let fixture = packaged_workspace();
    let (first, plan, out) = bundle(fixture.root(), &[]);
    assert_eq!(first.code(), 0, "{}", first.stderr());
    let elsewhere = Fixture::empty();
    let clone = elsewhere.root().join("a/much/deeper/clone");
    std::fs::create_dir_all(clone.parent().unwrap()).unwrap();
    git(
        elsewhere.root(),
        &[
            "clone",
            "--quiet",
            fixture.root().to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let (second, plan_again, out_again) = bundle(&clone, &[]);
    assert_eq!(second.code(), 0, "{}", second.stderr());
    assert_eq!(plan.unwrap().digest, plan_again.unwrap().digest);
    assert_eq!(
        tree_listing(&bundle_dir(&out)),
        tree_listing(&bundle_dir(&out_again))
    );
}

#[test]
fn a_dependents_lockfile_pins_its_siblings_recorded_checksum() {
    let fixture = packaged_workspace();
    let (result, plan, out) = bundle(fixture.root(), &[]);
    assert_eq!(result.code(), 0, "{}", result.stderr());
    let plan = plan.unwrap();
    let a = plan.package("pk-a").unwrap().artifact.clone().unwrap();
    let b = plan.package("pk-b").unwrap().artifact.clone().unwrap();
    assert_eq!(b.packaged_against["pk-a"].cksum, a.sha256);
    assert_eq!(b.packaged_against["pk-a"].version.to_string(), "0.1.0");

    let unpacked = unpack(&bundle_dir(&out).join(&b.file));
    let lock = std::fs::read_to_string(unpacked.root().join("pk-b-0.1.0/Cargo.lock")).unwrap();
    let a_bytes = std::fs::read(bundle_dir(&out).join(&a.file)).unwrap();
    assert!(
        lock.contains(&format!("name = \"pk-a\"\nversion = \"0.1.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"", sha256_hex(&a_bytes))),
        "{lock}"
    );
    assert_eq!(
        Some(convoy_schema::digest::sha256_digest(lock.as_bytes())),
        b.lockfile
    );
    assert!(!codes(&plan).contains(&"lockfile-checksum-mismatch".to_owned()));
    assert!(
        codes(&plan).contains(&"lockfile-absent".to_owned()),
        "no Cargo.lock is committed"
    );
}

#[test]
fn publish_metadata_is_what_cargo_sends_field_by_field() {
    let fixture = packaged_workspace();
    let (result, plan, _out) = bundle(fixture.root(), &[]);
    assert_eq!(result.code(), 0, "{}", result.stderr());
    let metadata = plan
        .unwrap()
        .package("pk-b")
        .unwrap()
        .publish_metadata
        .clone()
        .unwrap();
    // cargo's `prepare_transmit` for this manifest: the normalized manifest's dependencies
    // (version-less dev-dependencies gone), requirements in semver display form, the real name
    // with `explicit_name_in_toml` for renames, `registry` null for the target registry, the
    // readme text and path, features and badges as maps.
    let dep = |optional: bool,
               default_features: bool,
               features: &[&str],
               req: &str,
               target: Option<&str>,
               kind: &str,
               rename: Option<&str>| {
        serde_json::json!({
            "optional": optional, "default_features": default_features, "name": "pk-a",
            "features": features, "version_req": req, "target": target, "kind": kind,
            "registry": null, "explicit_name_in_toml": rename,
        })
    };
    let expected = serde_json::json!({
        "name": "pk-b",
        "vers": "0.1.0",
        "deps": [
            dep(true, false, &["std"], "^0.1", None, "normal", Some("core-a")),
            dep(false, true, &[], "^0.1", Some("cfg(unix)"), "normal", None),
            dep(false, true, &[], "^0.1.0", None, "build", None),
            dep(false, true, &[], "=0.1.0", None, "dev", None),
        ],
        "features": { "fancy": ["dep:core-a"] },
        "authors": ["Convoy Test <test@convoy.invalid>"],
        "description": "The pk-b test crate.",
        "documentation": null,
        "homepage": "https://example.invalid/pk-home",
        "readme": "# pk-b\n",
        "readme_file": "README.md",
        "keywords": ["release"],
        "categories": ["development-tools"],
        "license": "MIT",
        "license_file": null,
        "repository": "https://example.invalid/pk",
        "badges": { "maintenance": { "status": "experimental" } },
        "links": null,
        "rust_version": "1.70",
    });
    assert_eq!(serde_json::to_value(&metadata).unwrap(), expected);
}

#[test]
fn packaging_leaves_the_users_tree_and_target_untouched() {
    let fixture = packaged_workspace();
    fixture.write("target/debug/keep.txt", "a build product\n");
    let status_before = git(fixture.root(), &["status", "--porcelain", "--ignored"]);
    let before = tree_listing(fixture.root());
    let (result, _plan, _out) = bundle(fixture.root(), &["--check-reproducible"]);
    assert_eq!(result.code(), 0, "{}", result.stderr());
    assert_eq!(
        tree_listing(fixture.root()),
        before,
        "the workspace changed"
    );
    assert_eq!(
        git(fixture.root(), &["status", "--porcelain", "--ignored"]),
        status_before
    );
    assert!(!fixture.root().join("Cargo.lock").exists());
}

#[test]
fn edits_are_applied_in_the_staging_copy_only() {
    let fixture = Fixture::new(
        &[
            ("a", manifest("pk-a", "0.1.0", "")),
            (
                "c",
                manifest(
                    "pk-c",
                    "0.1.0",
                    "[dependencies]\npk-a = { path = \"../a\" }\n",
                ),
            ),
        ],
        "",
    );
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    let original = std::fs::read_to_string(fixture.root().join("c/Cargo.toml")).unwrap();
    let (result, plan, out) = bundle(fixture.root(), &[]);
    assert_eq!(result.code(), 0, "{}", result.stderr());
    let plan = plan.unwrap();
    assert!(plan.packaging.as_ref().unwrap().edits_applied);
    let c = plan.package("pk-c").unwrap();
    assert!(
        c.manifest
            .published
            .contains("[dependencies.pk-a]\nversion = \"^0.1.0\""),
        "{}",
        c.manifest.published
    );
    assert_eq!(
        c.publish_metadata.as_ref().unwrap().deps[0].version_req,
        "^0.1.0"
    );
    let unpacked = unpack(&bundle_dir(&out).join("pk-c-0.1.0.crate"));
    let vcs =
        std::fs::read_to_string(unpacked.root().join("pk-c-0.1.0/.cargo_vcs_info.json")).unwrap();
    assert!(vcs.contains("\"dirty\": true"), "{vcs}");
    assert_eq!(
        std::fs::read_to_string(fixture.root().join("c/Cargo.toml")).unwrap(),
        original
    );
}

#[test]
fn uncommitted_changes_are_refused_unless_allowed() {
    let fixture = packaged_workspace();
    fixture.write("a/src/lib.rs", "pub fn uncommitted() {}\n");
    let (refused, plan, out) = bundle(fixture.root(), &[]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("error[uncommitted-changes]"),
        "{}",
        refused.stderr()
    );
    assert!(refused.stderr().contains("--allow-dirty"));
    assert!(
        plan.is_none() && !bundle_dir(&out).exists(),
        "nothing is written"
    );

    let (allowed, plan, out) = bundle(fixture.root(), &["--allow-dirty"]);
    assert_eq!(allowed.code(), 0, "{}", allowed.stderr());
    assert!(codes(&plan.unwrap()).contains(&"uncommitted-changes-not-packaged".to_owned()));
    let unpacked = unpack(&bundle_dir(&out).join("pk-a-0.1.0.crate"));
    assert_eq!(
        std::fs::read_to_string(unpacked.root().join("pk-a-0.1.0/src/lib.rs")).unwrap(),
        "",
        "the commit is packaged"
    );
}

#[test]
fn a_workspace_outside_git_is_packaged_from_a_copy() {
    let fixture = Fixture::new(&[("a", manifest("pk-a", "0.1.0", ""))], "");
    fixture.write("target/junk.bin", "not packaged\n");
    let (result, plan, _out) = bundle(fixture.root(), &[]);
    assert_eq!(result.code(), 0, "{}", result.stderr());
    let plan = plan.unwrap();
    assert_eq!(
        plan.packaging.as_ref().unwrap().source,
        PackagingSource::Copy
    );
    let files = &plan
        .package("pk-a")
        .unwrap()
        .artifact
        .as_ref()
        .unwrap()
        .files;
    assert_eq!(
        files,
        &["Cargo.lock", "Cargo.toml", "Cargo.toml.orig", "src/lib.rs"]
    );
    assert!(!fixture.root().join("Cargo.lock").exists());
}

#[test]
fn cargo_failures_become_a_diagnostic_with_cargos_message() {
    let fixture = Fixture::new(
        &[(
            "a",
            manifest("pk-a", "0.1.0", "license-file = \"MISSING-LICENSE\"\n"),
        )],
        "",
    );
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    let (result, plan, out) = bundle(fixture.root(), &[]);
    assert_eq!(result.code(), 1, "{}", result.stderr());
    let plan = plan.expect("the plan is still written");
    assert_eq!(
        plan.packaging, None,
        "a failed packaging leaves a review-only plan"
    );
    let failure = plan
        .diagnostics
        .iter()
        .find(|d| d.code == "packaging-failed")
        .expect("packaging-failed");
    assert!(
        failure.message.contains("MISSING-LICENSE"),
        "{}",
        failure.message
    );
    assert!(
        !failure.message.contains("/tmp/"),
        "no staging paths: {}",
        failure.message
    );
    assert!(!bundle_dir(&out).join("pk-a-0.1.0.crate").exists());
}

#[test]
fn verify_build_compiles_what_was_packaged() {
    let fixture = Fixture::new(&[("a", manifest("pk-a", "0.1.0", ""))], "");
    fixture.write("a/src/lib.rs", "pub fn broken( {}\n");
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    let (unverified, _, _out) = bundle(fixture.root(), &[]);
    assert_eq!(
        unverified.code(),
        0,
        "packaging alone does not compile: {}",
        unverified.stderr()
    );
    let (verified, plan, _out) = bundle(fixture.root(), &["--verify-build"]);
    assert_eq!(verified.code(), 1, "{}", verified.stderr());
    let failure = plan
        .unwrap()
        .diagnostics
        .into_iter()
        .find(|d| d.code == "packaging-failed")
        .unwrap();
    assert!(failure.message.contains("error"), "{}", failure.message);
}

#[test]
fn oversized_crates_and_suspicious_files_are_reported() {
    let fixture = Fixture::new(&[("a", manifest("pk-a", "0.1.0", ""))], "");
    // 11 MB that gzip cannot shrink, with NUL bytes so it reads as binary.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..11 * 1024 * 1024)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if i % 4096 == 0 {
                0
            } else {
                state as u8
            }
        })
        .collect();
    std::fs::create_dir_all(fixture.root().join("a/data")).unwrap();
    std::fs::write(fixture.root().join("a/data/blob.bin"), noise).unwrap();
    fixture.write("a/src/target/generated.rs", "// left behind\n");
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    let (result, plan, _out) = bundle(fixture.root(), &[]);
    assert_eq!(result.code(), 1, "{}", result.stderr());
    let plan = plan.unwrap();
    let found = codes(&plan);
    assert!(found.contains(&"crate-too-large".to_owned()), "{found:?}");
    let suspicious: Vec<&str> = plan
        .diagnostics
        .iter()
        .filter(|d| d.code == "suspicious-packaged-file")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(suspicious.len(), 2, "{suspicious:?}");
    assert!(suspicious.iter().any(|m| m.contains("data/blob.bin")));
    assert!(suspicious
        .iter()
        .any(|m| m.contains("src/target/generated.rs")));
}

#[test]
fn bundle_options_require_bundle_and_plans_with_errors_are_not_packaged() {
    let fixture = packaged_workspace();
    let alone = convoy_plan(fixture.root(), &["--verify-build".as_ref()]);
    assert_eq!(alone.code(), 2);
    let broken = Fixture::new(
        &[(
            "a",
            "[package]\nname = \"pk-a\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".to_owned(),
        )],
        "",
    );
    broken.commit();
    let (result, plan, out) = bundle(broken.root(), &[]);
    assert_eq!(result.code(), 1);
    assert!(
        result.stderr().contains("not packaged"),
        "{}",
        result.stderr()
    );
    assert_eq!(plan.unwrap().packaging, None);
    assert!(!bundle_dir(&out).join("pk-a-0.1.0.crate").exists());
}

#[test]
fn an_empty_release_is_a_plan_without_artifacts_in_an_empty_bundle() {
    // Nothing is packaged when nothing is published: `pk-tool` could not be (its license file is
    // missing), and neither is an excluded crate that is not ready.
    let not_ready = "license-file = \"MISSING-LICENSE\"\n";
    let unpublished = Fixture::new(
        &[
            ("a", manifest("pk-a", "0.1.0", "publish = false\n")),
            (
                "tool",
                manifest("pk-tool", "0.1.0", &format!("publish = false\n{not_ready}")),
            ),
        ],
        "",
    );
    let excluded = Fixture::new(
        &[
            ("a", manifest("pk-a", "0.1.0", "")),
            ("c", manifest("pk-c", "0.1.0", not_ready)),
        ],
        "",
    );
    for fixture in [&unpublished, &excluded] {
        fixture.write(".gitignore", "/target\n");
        fixture.commit();
    }
    for (fixture, extra) in [
        (&unpublished, &[][..]),
        (&excluded, &["--exclude", "pk-a", "--exclude", "pk-c"][..]),
    ] {
        let (result, plan, out) = bundle(fixture.root(), extra);
        assert_eq!(result.code(), 0, "{}", result.stderr());
        let plan = plan.expect("plan.json in the bundle");
        assert!(plan.digest_is_valid());
        assert!(plan.waves.is_empty());
        assert!(plan
            .packages
            .iter()
            .all(|p| p.action == Action::Excluded && p.artifact.is_none()));
        assert!(
            plan.packaging.is_some(),
            "an empty release is executable: {:?}",
            plan.diagnostics
        );
        assert!(!codes(&plan).contains(&"packaging-failed".to_owned()));
        let listing: Vec<PathBuf> = tree_listing(&bundle_dir(&out)).into_keys().collect();
        assert_eq!(listing, [PathBuf::from("plan.json")]);

        // With the plan written elsewhere, the bundle directory is there and empty.
        let elsewhere = Fixture::empty();
        let plan_file = elsewhere.root().join("plan.json");
        let (result, _, out) = bundle(
            fixture.root(),
            &[extra, &["--out", plan_file.to_str().unwrap()]].concat(),
        );
        assert_eq!(result.code(), 0, "{}", result.stderr());
        assert!(plan_file.is_file());
        assert!(tree_listing(&bundle_dir(&out)).is_empty());
        assert!(bundle_dir(&out).is_dir());
    }
}

/// Polls `done` every few milliseconds until it holds or `limit` passes; whether it held.
fn poll_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_interrupt_removes_the_staging_areas_and_exits_130() {
    let fixture = packaged_workspace();
    let staging = Fixture::empty();
    let out = Fixture::empty();
    let bundle = out.root().join("bundle");
    // --verify-build keeps cargo (and the compilers it starts) busy long enough to be interrupted.
    let mut child = Command::new(binary("convoy-plan"))
        .current_dir(fixture.root())
        .env("CARGO_NET_OFFLINE", "true")
        .env("CONVOY_STAGING_DIR", staging.root())
        .arg("--bundle")
        .arg(&bundle)
        .arg("--verify-build")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("convoy-plan starts");
    // Interrupt once cargo works in the staging area: it has made its target directory there.
    let cargo_started = poll_until(Duration::from_secs(120), || {
        std::fs::read_dir(staging.root())
            .expect("staging directory")
            .flatten()
            .any(|area| area.path().join("target").is_dir())
            || child.try_wait().expect("try_wait").is_some()
    });
    if !cargo_started || child.try_wait().expect("try_wait").is_some() {
        let _ = child.kill();
        let output = child.wait_with_output().expect("wait");
        panic!(
            "convoy-plan ended, or cargo did not start, before it could be interrupted: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let signal = run(Command::new("kill").args(["-INT", &child.id().to_string()]));
    assert_eq!(signal.code(), 0, "{}", signal.stderr());

    let exited = poll_until(Duration::from_secs(60), || {
        child.try_wait().expect("try_wait").is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(exited, "convoy-plan did not exit after SIGINT: {stderr}");
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(staging.root())
        .expect("staging directory")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert!(left.is_empty(), "staging areas left behind: {left:?}");
    assert!(!bundle.exists(), "nothing is written");
}
