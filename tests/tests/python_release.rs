//! A mixed Rust + Python release end to end, with the real binaries: a repository with a Cargo
//! workspace and eight Python projects (hatchling and setuptools) that require each other, one
//! plan (`--bundle` builds the Python projects with PyPA `build`), one publish run to the
//! testkit's Cargo registry and Python index, `convoy-verify` clean, real `pip install` from the
//! index in a fresh virtual environment pulling the internal requirements, and a replan that
//! skips every package. Needs PyPA `build` (`scripts/python-tools install`, run here if needed)
//! and the build backends from PyPI (or `$PIP_INDEX_URL`).

use std::path::Path;
use std::process::Command;

use convoy_schema::plan::{Action, Ecosystem, Plan};
use convoy_schema::report::VerifyReport;
use convoy_testkit::{Options, TestRegistry, TrustedPublishing};
use convoy_tests::python::{ensure_build_tool, publish_to_index, repository};
use convoy_tests::{binary, isolated_cargo, run, Fixture};

const TOKEN: &str = "mixed-release-cargo-token";
const PYPI_TOKEN: &str = "pypi-mixed-release-python-token";
/// GitHub's `ACTIONS_ID_TOKEN_REQUEST_TOKEN` for the testkit's identity-token service.
const REQUEST_TOKEN: &str = "oidc-request-mixed-release-secret";

fn plan_release(
    fixture: &Fixture,
    home: &Path,
    registry: &TestRegistry,
    bundle: &Path,
) -> (convoy_tests::Run, Plan) {
    let mut command = Command::new(binary("convoy-plan"));
    let result = run(isolated_cargo(&mut command, home)
        .current_dir(fixture.root())
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .env("CARGO_NET_OFFLINE", "true")
        .args(["--registry", "testkit", "--python-index"])
        .arg(registry.python_index_url())
        .arg("--bundle")
        .arg(bundle));
    let text = std::fs::read_to_string(bundle.join("plan.json"))
        .unwrap_or_else(|e| panic!("no plan ({e}): {}", result.stderr()));
    (result, Plan::from_json(&text).expect("a plan"))
}

fn publish(registry: &TestRegistry, bundle: &Path) -> convoy_tests::Run {
    run(Command::new(binary("convoy-publish"))
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .env("CARGO_REGISTRIES_TESTKIT_TOKEN", TOKEN)
        // The Python packages go up with trusted publishing: a token the index mints for the
        // CI's identity token (PyPI's `mint-token`); no Python token is in the environment.
        .env_remove("UV_PUBLISH_TOKEN")
        .env_remove("TWINE_PASSWORD")
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", registry.oidc_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
        .arg("--trusted-publishing")
        .arg(bundle.join("plan.json"))
        .args(["--registry", "testkit", "--python-index"])
        .arg(registry.python_index_url())
        .arg("--python-upload")
        .arg(registry.python_upload_url()))
}

#[test]
fn a_mixed_release_plans_publishes_verifies_and_installs_with_pip() {
    ensure_build_tool();
    let fixture = repository();
    let storage = Fixture::empty();
    // One server: the Cargo registry takes the crates' token, the Python index its own.
    let mut options = Options::new(storage.root().join("registry"), TOKEN);
    options.python_token = Some(PYPI_TOKEN.to_owned());
    options.trusted = Some(TrustedPublishing::new(REQUEST_TOKEN));
    let registry = TestRegistry::start(options).expect("registry");

    let home = storage.root().join("cargo-home");
    let bundle = storage.root().join("bundle");
    let (planned, plan) = plan_release(&fixture, &home, &registry, &bundle);
    assert_eq!(planned.code(), 0, "{}", planned.stderr());
    assert_eq!(plan.format_version.to_string(), "2.0");
    let python: Vec<&convoy_schema::plan::Package> = plan
        .packages
        .iter()
        .filter(|p| p.ecosystem == Ecosystem::Python)
        .collect();
    assert_eq!(python.len(), 8);
    assert!(python.iter().all(|p| p.action == Action::Publish));
    // Waves: crates and projects side by side, each after what it requires.
    assert_eq!(
        plan.waves,
        [
            vec!["mix-core", "python:mix-base", "python:mix-util"],
            vec![
                "mix-app",
                "python:mix-model",
                "python:mix-plugin-b",
                "python:mix-store"
            ],
            vec!["python:mix-api"],
            vec!["python:mix-cli", "python:mix-plugin-a"],
        ]
    );
    let api = plan.package("python:mix-api").unwrap();
    let requires: Vec<&str> = api
        .python
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap()
        .all("Requires-Dist")
        .collect();
    assert!(
        requires.iter().any(|r| r.starts_with("mix-model==0.1.0a1")),
        "{requires:?}"
    );
    assert!(
        requires
            .iter()
            .any(|r| r.starts_with("mix-store==0.1.0a1") && r.contains("python_version")),
        "{requires:?}"
    );
    for package in &python {
        let files = &package.python.as_ref().unwrap().files;
        assert_eq!(files.len(), 2, "{}: an sdist and a wheel", package.name);
        assert!(files[0].filename.ends_with(".tar.gz"));
        for file in files {
            assert!(bundle.join(&file.filename).is_file(), "{}", file.filename);
        }
    }

    let published = publish(&registry, &bundle);
    assert_eq!(
        published.code(),
        0,
        "{}\n{}",
        published.stdout(),
        published.stderr()
    );
    // One upload token was minted for one identity token, and every Python file carried it.
    let minted = registry.minted_python_tokens();
    assert_eq!(minted.len(), 1, "{minted:?}");
    let basic = |user_password: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    };
    let carried = basic(&format!("__token__:{}", minted[0].token));
    assert!(registry
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/pypi/legacy"))
        .all(|r| r.authorization.as_deref() == Some(carried.as_str())));
    assert!(
        published
            .stderr()
            .contains("trusted-publishing token for the Python index"),
        "{}",
        published.stderr()
    );
    for secret in [TOKEN, PYPI_TOKEN, REQUEST_TOKEN, minted[0].token.as_str()] {
        assert!(!published.stdout().contains(secret) && !published.stderr().contains(secret));
    }
    // Every Python file was uploaded exactly once, sdist before wheel, each project after
    // what it requires was served.
    let requests = registry.requests();
    let stored: Vec<(String, String)> = requests
        .iter()
        .filter(|r| r.path.starts_with("/pypi/legacy"))
        .filter_map(|r| r.stored.clone().map(|(name, file, _)| (name, file)))
        .collect();
    assert_eq!(stored.len(), 16, "{stored:?}");
    let posts = requests
        .iter()
        .filter(|r| r.path.starts_with("/pypi/legacy"))
        .count();
    assert_eq!(posts, 16, "nothing sent twice");
    let position = |file: &str| stored.iter().position(|(_, f)| f == file).unwrap();
    assert!(position("mix_api-0.1.0a1.tar.gz") < position("mix_api-0.1.0a1-py3-none-any.whl"));
    assert!(position("mix_model-0.1.0a1-py3-none-any.whl") < position("mix_api-0.1.0a1.tar.gz"));
    let cargo_uploads = requests
        .iter()
        .filter(|r| r.path == "/api/v1/crates/new")
        .count();
    assert_eq!(cargo_uploads, 2);

    let verified = run(Command::new(binary("convoy-verify"))
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .env_remove("UV_PUBLISH_TOKEN")
        .arg(bundle.join("plan.json"))
        .args(["--registry", "testkit", "--download", "--format", "json"]));
    let report = VerifyReport::from_json(&verified.stdout()).expect("report");
    assert_eq!(verified.code(), 0, "{:?}", report.findings);
    assert_eq!(report.packages.len(), 10);
    assert!(report.findings.is_empty(), "{:?}", report.findings);

    // Tampering is found: a wheel replaced behind the index's back.
    let wheel = "mix_base-0.1.0a1-py3-none-any.whl";
    assert!(registry
        .python_store()
        .replace("mix-base", wheel, b"not the wheel"));
    let tampered = run(Command::new(binary("convoy-verify"))
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .arg(bundle.join("plan.json"))
        .args(["--registry", "testkit", "--format", "json"]));
    assert_eq!(tampered.code(), 1);
    let report = VerifyReport::from_json(&tampered.stdout()).expect("report");
    let codes: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.package.as_str()))
        .collect();
    assert_eq!(codes, [("checksum-mismatch", "python:mix-base")]);
    let original = std::fs::read(bundle.join(wheel)).unwrap();
    assert!(registry
        .python_store()
        .replace("mix-base", wheel, &original));
    // A yanked file is found too (an error unless --allow-yanked).
    let sdist = "mix_util-0.1.0a1.tar.gz";
    assert!(registry.python_store().set_yanked("mix-util", sdist, true));
    let verify_yanked = |extra: &[&str]| {
        run(Command::new(binary("convoy-verify"))
            .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
            .arg(bundle.join("plan.json"))
            .args(["--registry", "testkit", "--format", "json"])
            .args(extra))
    };
    let yanked = verify_yanked(&[]);
    assert_eq!(yanked.code(), 1);
    let report = VerifyReport::from_json(&yanked.stdout()).expect("report");
    let codes: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.package.as_str()))
        .collect();
    assert_eq!(codes, [("yanked", "python:mix-util")]);
    assert_eq!(verify_yanked(&["--allow-yanked"]).code(), 0);
    assert!(registry.python_store().set_yanked("mix-util", sdist, false));

    // A real pip, in a fresh virtual environment, installs from the index alone and pulls the
    // internal requirements.
    let venv = storage.root().join("venv");
    let made = run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    assert_eq!(made.code(), 0, "{}", made.stderr());
    let installed = run(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--index-url",
        ])
        .arg(registry.python_index_url())
        .arg("mix-cli==0.1.0a1"));
    assert_eq!(
        installed.code(),
        0,
        "{}\n{}",
        installed.stdout(),
        installed.stderr()
    );
    let imported = run(Command::new(venv.join("bin/python")).args([
        "-c",
        "import mix_cli, mix_api, mix_model, mix_store, mix_base, mix_util; print(mix_api.NAME)",
    ]));
    assert_eq!(imported.stdout().trim(), "mix-api", "{}", imported.stderr());

    // Planning again: every package is there with the same files, nothing to publish.
    let again = storage.root().join("again");
    let (replanned, replan) = plan_release(&fixture, &home, &registry, &again);
    assert_eq!(replanned.code(), 0, "{}", replanned.stderr());
    let actions: Vec<(String, Action)> = replan
        .packages
        .iter()
        .map(|p| (p.key(), p.action))
        .filter(|(_, a)| *a != Action::Skip)
        .collect();
    assert_eq!(actions, [], "{}", replanned.stderr());
    // hatchling builds the same bytes again; setuptools' sdists keep file times, so the
    // replan compares the served sdist's members and says so.
    let reason = |key: &str| replan.package(key).unwrap().reason.clone();
    assert!(
        reason("python:mix-base").contains("with the same files (mix_base-0.1.0a1.tar.gz"),
        "{}",
        reason("python:mix-base")
    );
    assert!(
        reason("python:mix-util").contains("not byte-reproducible"),
        "{}",
        reason("python:mix-util")
    );
    assert!(
        reason("python:mix-util").contains("timestamps"),
        "{}",
        reason("python:mix-util")
    );
}

#[test]
fn a_repository_without_a_cargo_workspace_is_planned_with_root_and_published_without_the_cargo_registry(
) {
    ensure_build_tool();
    let fixture = convoy_tests::python::python_only(&[
        ("solo-core", "hatchling", &[]),
        ("solo-app", "hatchling", &["solo-core"]),
    ]);
    let storage = Fixture::empty();
    let mut options = Options::new(storage.root().join("registry"), TOKEN);
    options.python_token = Some(PYPI_TOKEN.to_owned());
    let registry = TestRegistry::start(options).expect("registry");
    let bundle = storage.root().join("bundle");
    // Anything the publisher or verifier asks of crates.io (or any HTTPS host) goes to a proxy
    // that is not there.
    let no_https = |command: &mut Command| {
        command
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("https_proxy", "http://127.0.0.1:9")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
    };

    // Planned from another directory, by --root (the build backends come from PyPI).
    let mut command = Command::new(binary("convoy-plan"));
    let planned = run(command
        .current_dir(storage.root())
        .arg("--root")
        .arg(fixture.root())
        .arg("--python-index")
        .arg(registry.python_index_url())
        .arg("--bundle")
        .arg(&bundle));
    assert_eq!(planned.code(), 0, "{}", planned.stderr());
    let plan = Plan::from_json(&std::fs::read_to_string(bundle.join("plan.json")).unwrap())
        .expect("a plan");
    let keys: Vec<String> = plan.packages.iter().map(|p| p.key()).collect();
    assert_eq!(keys, ["python:solo-app", "python:solo-core"]);
    assert_eq!(
        plan.waves,
        [vec!["python:solo-core"], vec!["python:solo-app"]]
    );

    publish_to_index(
        &registry,
        &bundle.join("plan.json"),
        PYPI_TOKEN,
        |command| {
            no_https(command);
            command.env_remove("CARGO_REGISTRY_TOKEN");
        },
    );
    assert_eq!(registry.python_store().files("solo-app").len(), 2);

    let mut command = Command::new(binary("convoy-verify"));
    no_https(&mut command);
    let verified =
        run(command
            .arg(bundle.join("plan.json"))
            .args(["--download", "--format", "json"]));
    assert_eq!(verified.code(), 0, "{}", verified.stdout());

    // A directory with neither a workspace nor a Python project: a clear refusal.
    let empty = Fixture::empty();
    let refused = run(Command::new(binary("convoy-plan"))
        .arg("--root")
        .arg(empty.root()));
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("nothing-to-plan"),
        "{}",
        refused.stderr()
    );
}
