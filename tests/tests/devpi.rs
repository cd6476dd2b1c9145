//! Against the real devpi-server (gated: runs when `scripts/devpi install` has installed it;
//! `CONVOY_REQUIRE_DEVPI=1`, set by CI, makes its absence a failure). The mixed repository — two
//! crates and eight Python projects (hatchling and setuptools) that require each other — is
//! planned with devpi as the Python index, published in one run (the crates to the testkit's
//! registry, the projects to devpi as one of its users), verified clean, installed by a real pip
//! from devpi alone, published again without sending anything, and replanned to all skips. devpi
//! then refuses other bytes under a published file name, and Convoy says so without sending.

use std::path::{Path, PathBuf};
use std::process::Command;

use convoy_registry::auth::Token;
use convoy_registry::python::{Login, PythonIndex};
use convoy_registry::RegistryError;
use convoy_schema::plan::{Action, Plan};
use convoy_schema::report::VerifyReport;
use convoy_testkit::{Options, TestRegistry};
use convoy_tests::python::{ensure_build_tool, repository};
use convoy_tests::{binary, isolated_cargo, run, Fixture};

const TOKEN: &str = "devpi-release-cargo-token";
const PASSWORD: &str = "devpi-root-password-for-tests";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/devpi")
}

fn installed() -> bool {
    let root = std::env::var_os("CONVOY_TOOLS_DIR")
        .map_or_else(|| PathBuf::from("/opt/convoy"), PathBuf::from);
    root.join("devpi-6.20.3/.installed").is_file()
}

/// A devpi-server on a free loopback port (started by `scripts/devpi start`, which waits until
/// it answers and creates the index `root/convoy`), stopped on drop.
struct Devpi {
    dir: Fixture,
    url: String,
}

impl Drop for Devpi {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.root())
            .status();
    }
}

impl Devpi {
    fn start() -> Self {
        let dir = Fixture::empty();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = run(Command::new(script())
            .arg("start")
            .arg(dir.root().join("devpi"))
            .arg(port.to_string())
            .arg(PASSWORD));
        let devpi = Self {
            url: started.stdout().trim().to_owned(),
            dir,
        };
        assert_eq!(started.code(), 0, "devpi start: {}", started.stderr());
        assert!(devpi.url.ends_with("/root/convoy/"), "{}", devpi.url);
        devpi
    }

    fn simple(&self) -> String {
        format!("{}+simple/", self.url)
    }
}

fn plan_release(
    fixture: &Fixture,
    home: &Path,
    registry: &TestRegistry,
    devpi: &Devpi,
    bundle: &Path,
) -> Plan {
    let mut command = Command::new(binary("convoy-plan"));
    let planned = run(isolated_cargo(&mut command, home)
        .current_dir(fixture.root())
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .env("CARGO_NET_OFFLINE", "true")
        .args(["--registry", "testkit", "--allow-http", "--python-index"])
        .arg(devpi.simple())
        .arg("--bundle")
        .arg(bundle));
    assert_eq!(planned.code(), 0, "{}", planned.stderr());
    let text = std::fs::read_to_string(bundle.join("plan.json")).unwrap();
    Plan::from_json(&text).expect("a plan")
}

fn publish(registry: &TestRegistry, devpi: &Devpi, bundle: &Path) -> convoy_tests::Run {
    run(Command::new(binary("convoy-publish"))
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .env("CARGO_REGISTRIES_TESTKIT_TOKEN", TOKEN)
        .env("UV_PUBLISH_PASSWORD", PASSWORD)
        .env_remove("UV_PUBLISH_TOKEN")
        .env_remove("TWINE_PASSWORD")
        .arg(bundle.join("plan.json"))
        .args(["--registry", "testkit", "--allow-http", "--python-index"])
        .arg(devpi.simple())
        .arg("--python-upload")
        .arg(&devpi.url)
        .args(["--python-username", "root", "--format", "json"]))
}

/// The packages a JSON-lines event stream says were sent (`uploading` events).
fn uploads(events: &str) -> Vec<String> {
    events
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "uploading")
        .filter_map(|event| event["crate"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_mixed_release_to_devpi_publishes_verifies_installs_and_replans_to_skips() {
    if !installed() {
        assert!(
            std::env::var_os("CONVOY_REQUIRE_DEVPI").is_none(),
            "CONVOY_REQUIRE_DEVPI is set but devpi is not installed: run scripts/devpi install"
        );
        eprintln!("skipped: devpi is not installed (scripts/devpi install)");
        return;
    }
    ensure_build_tool();
    let fixture = repository();
    let storage = Fixture::empty();
    let registry = TestRegistry::start(Options::new(storage.root().join("registry"), TOKEN))
        .expect("registry");
    let devpi = Devpi::start();
    let home = storage.root().join("cargo-home");
    let bundle = storage.root().join("bundle");

    let plan = plan_release(&fixture, &home, &registry, &devpi, &bundle);
    assert_eq!(plan.python.as_ref().unwrap().index, devpi.simple());
    assert_eq!(
        plan.packages
            .iter()
            .filter(|p| p.action == Action::Publish)
            .count(),
        10
    );

    let published = publish(&registry, &devpi, &bundle);
    assert_eq!(
        published.code(),
        0,
        "{}\n{}",
        published.stdout(),
        published.stderr()
    );
    assert!(!published.stdout().contains(PASSWORD) && !published.stderr().contains(PASSWORD));
    let sent = uploads(&published.stdout());
    assert_eq!(sent.len(), 10, "{sent:?}");

    // Tokenless verification against devpi's JSON simple API, hashing the files themselves.
    let verified = run(Command::new(binary("convoy-verify"))
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
        .env_remove("UV_PUBLISH_PASSWORD")
        .arg(bundle.join("plan.json"))
        .args([
            "--registry",
            "testkit",
            "--allow-http",
            "--download",
            "--format",
            "json",
        ]));
    let report = VerifyReport::from_json(&verified.stdout()).expect("report");
    assert_eq!(verified.code(), 0, "{:?}", report.findings);
    assert_eq!(report.packages.len(), 10);
    assert!(report.findings.is_empty(), "{:?}", report.findings);

    // A real pip, in a fresh virtual environment, installs from devpi alone.
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
        .arg(devpi.simple())
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
        "import mix_cli, mix_api, mix_model, mix_store, mix_base, mix_util; print(mix_model.NAME)",
    ]));
    assert_eq!(
        imported.stdout().trim(),
        "mix-model",
        "{}",
        imported.stderr()
    );

    // Publishing the same plan again sends nothing: every file is served with its sha256.
    let again = publish(&registry, &devpi, &bundle);
    assert_eq!(again.code(), 0, "{}\n{}", again.stdout(), again.stderr());
    assert_eq!(
        uploads(&again.stdout()),
        Vec::<String>::new(),
        "{}",
        again.stdout()
    );

    // Replanning reads devpi: every package is there with the same files.
    let replan = plan_release(
        &fixture,
        &home,
        &registry,
        &devpi,
        &storage.root().join("again"),
    );
    let not_skipped: Vec<String> = replan
        .packages
        .iter()
        .filter(|p| p.action != Action::Skip)
        .map(|p| p.key())
        .collect();
    assert_eq!(not_skipped, Vec::<String>::new());

    // Other bytes under a published name: the plan is refused before anything is sent.
    let wheel = "mix_base-0.1.0a1-py3-none-any.whl";
    let mut edited =
        Plan::from_json(&std::fs::read_to_string(bundle.join("plan.json")).unwrap()).unwrap();
    let base = edited
        .packages
        .iter_mut()
        .find(|p| p.key() == "python:mix-base")
        .unwrap();
    let file = base
        .python
        .as_mut()
        .unwrap()
        .files
        .iter_mut()
        .find(|f| f.filename == wheel)
        .unwrap();
    let other = b"other wheel bytes";
    file.sha256 = convoy_schema::digest::sha256_hex(other);
    file.size = other.len() as u64;
    let tampered = storage.root().join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    for entry in std::fs::read_dir(&bundle).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tampered.join(entry.file_name())).unwrap();
    }
    std::fs::write(tampered.join(wheel), other).unwrap();
    edited.seal();
    std::fs::write(tampered.join("plan.json"), edited.to_pretty_json()).unwrap();
    let refused = publish(&registry, &devpi, &tampered);
    assert_ne!(refused.code(), 0, "{}", refused.stdout());
    let text = format!("{}{}", refused.stdout(), refused.stderr());
    assert!(text.contains(wheel), "{text}");
    assert!(
        !uploads(&refused.stdout())
            .iter()
            .any(|p| p.contains("mix-base")),
        "{text}"
    );

    // devpi's own answers, through the same client: an identical re-upload is accepted (the
    // index is not volatile), other bytes under the name are refused as a conflict, and a wrong
    // password is an authentication failure that never quotes it.
    let index = PythonIndex::new(&devpi.simple(), Some(&devpi.url), true).unwrap();
    let login = Login {
        user: "root".into(),
        password: Token::new(PASSWORD.into()),
    };
    let release = plan
        .package("python:mix-base")
        .unwrap()
        .python
        .clone()
        .unwrap();
    let metadata = release.metadata.clone().unwrap();
    let sdist = &release.files[0];
    let sdist_bytes = std::fs::read(bundle.join(&sdist.filename)).unwrap();
    let wrong = Login {
        user: "root".into(),
        password: Token::new("not-the-devpi-password".into()),
    };
    let planned_wheel = release.files.iter().find(|f| f.filename == wheel).unwrap();
    let mut other_wheel = planned_wheel.clone();
    other_wheel.sha256 = convoy_schema::digest::sha256_hex(other);
    other_wheel.size = other.len() as u64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        index
            .upload(&login, sdist, &sdist_bytes, &metadata)
            .await
            .expect("an identical re-upload is accepted");
        let conflict = index
            .upload(&login, &other_wheel, other, &metadata)
            .await
            .unwrap_err();
        assert!(
            matches!(conflict, RegistryError::AlreadyExists { .. }),
            "{conflict:?}"
        );
        let refused = index
            .upload(&wrong, &other_wheel, other, &metadata)
            .await
            .unwrap_err();
        assert!(matches!(refused, RegistryError::Auth { .. }), "{refused:?}");
        assert!(!format!("{refused} {refused:?}").contains("not-the-devpi-password"));
    });
}
