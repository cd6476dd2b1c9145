//! Against the real kellnr registry (gated: runs when `scripts/kellnr install` has installed it,
//! or `CONVOY_KELLNR` names a binary; `CONVOY_REQUIRE_KELLNR=1`, set by CI, makes its absence a
//! failure). Real cargo publishes a workspace to kellnr; Convoy's plan read from kellnr's live
//! index then sees every version already present with exactly the bytes it packages itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use convoy_schema::plan::{Action, ObservationSource, Plan};
use convoy_tests::{binary, manifest, run, Fixture};

const TOKEN: &str = "Zy9HhJ02RJmg0GCrgLfaCVfU6IwDfhXD";

fn kellnr_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CONVOY_KELLNR") {
        return Some(PathBuf::from(path));
    }
    let root = std::env::var_os("CONVOY_TOOLS_DIR")
        .map_or_else(|| PathBuf::from("/opt/convoy"), PathBuf::from);
    let installed = root.join("kellnr-6.5.0/bin/kellnr");
    installed.is_file().then_some(installed)
}

/// A kellnr process on a free loopback port, killed on drop.
struct Kellnr {
    child: Child,
    port: u16,
    _data: Fixture,
}

impl Drop for Kellnr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Kellnr {
    fn start(binary: &Path) -> Self {
        let data = Fixture::empty();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(data.root().join("kellnr.log")).unwrap();
        let child = Command::new(binary)
            .arg("start")
            .env("KELLNR_REGISTRY__DATA_DIR", data.root())
            .env("KELLNR_LOCAL__IP", "127.0.0.1")
            .env("KELLNR_LOCAL__PORT", port.to_string())
            .env("KELLNR_ORIGIN__PORT", port.to_string())
            .env("KELLNR_SETUP__ADMIN_TOKEN", TOKEN)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("kellnr starts");
        let kellnr = Self {
            child,
            port,
            _data: data,
        };
        // A real server process needs real time to come up: poll, bounded to 60 s.
        for _ in 0..240 {
            if kellnr.answers() {
                return kellnr;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        let log =
            std::fs::read_to_string(kellnr._data.root().join("kellnr.log")).unwrap_or_default();
        panic!("kellnr did not serve its config.json on port {port} within 60 s; its log:\n{log}");
    }

    /// Whether the index's config.json answers 200 (listening is not enough: it migrates first).
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        let request = "GET /api/v1/crates/config.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let mut response = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut response).is_ok()
            && response.starts_with("HTTP/1.1 200")
    }

    fn index_url(&self) -> String {
        format!("sparse+http://127.0.0.1:{}/api/v1/crates/", self.port)
    }
}

fn cargo_env(command: &mut Command, home: &Path, index: &str) {
    convoy_tests::isolated_cargo(command, home)
        .env("CARGO_REGISTRIES_KELLNR_INDEX", index)
        .env("CARGO_REGISTRIES_KELLNR_TOKEN", TOKEN);
}

/// Plans and packages `fixture` for kellnr; returns the plan and the directory holding
/// `bundle/plan.json`.
fn plan(fixture: &Fixture, home: &Path, index: &str) -> (Plan, Fixture) {
    let out = Fixture::empty();
    let mut command = Command::new(binary("convoy-plan"));
    command
        .current_dir(fixture.root())
        .args(["--registry", "kellnr", "--bundle"])
        .arg(out.root().join("bundle"));
    cargo_env(&mut command, home, index);
    let result = run(&mut command);
    assert!(
        result.code() == 0 || result.code() == 1,
        "{}",
        result.stderr()
    );
    let plan =
        Plan::from_json(&std::fs::read_to_string(out.root().join("bundle/plan.json")).unwrap())
            .unwrap();
    (plan, out)
}

#[test]
fn planner_reads_kellnr_and_predicts_the_bytes_cargo_published_there() {
    let Some(kellnr_bin) = kellnr_binary() else {
        assert!(
            std::env::var_os("CONVOY_REQUIRE_KELLNR").is_none(),
            "CONVOY_REQUIRE_KELLNR is set but kellnr is not installed (scripts/kellnr install)"
        );
        eprintln!("kellnr not installed: skipping (scripts/kellnr install)");
        return;
    };
    let kellnr = Kellnr::start(&kellnr_bin);
    let index = kellnr.index_url();
    let home = Fixture::empty();
    let publish_to = "publish = [\"kellnr\"]\n";
    let fixture = Fixture::new(
        &[
            ("a", manifest("kl-a", "0.1.0", publish_to)),
            (
                "b",
                manifest("kl-b", "0.1.0", &format!("{publish_to}[dependencies]\nkl-a = {{ path = \"../a\", version = \"0.1\", registry = \"kellnr\" }}\n")),
            ),
        ],
        "",
    );
    fixture.write(".gitignore", "/target\n");
    fixture.commit();

    let (before, before_dir) = plan(&fixture, home.root(), &index);
    assert_eq!(
        before.inputs.registry_observations.source,
        ObservationSource::Index
    );
    assert!(before.packages.iter().all(|p| p.action == Action::Publish));
    assert_eq!(
        before
            .diagnostics
            .iter()
            .filter(|d| d.code == "new-crate")
            .count(),
        2
    );

    let (_holder, clone) = fixture.clone_commit();
    let mut publish = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    publish.current_dir(&clone).args([
        "publish",
        "--workspace",
        "--registry",
        "kellnr",
        "--no-verify",
    ]);
    cargo_env(&mut publish, home.root(), &index);
    let published = run(&mut publish);
    assert_eq!(
        published.code(),
        0,
        "cargo publish to kellnr failed:\n{}",
        published.stderr()
    );

    // Convoy audits a release it did not make: the plan from the same commit verifies.
    let verified = run(Command::new(binary("convoy-verify"))
        .arg(before_dir.root().join("bundle/plan.json"))
        .arg("--download")
        .env("CARGO_REGISTRIES_KELLNR_INDEX", &index)
        .env_remove("CARGO_REGISTRIES_KELLNR_TOKEN"));
    assert_eq!(
        verified.code(),
        0,
        "cargo's release does not verify:\n{}{}",
        verified.stdout(),
        verified.stderr()
    );

    let (after, _after_dir) = plan(&fixture, home.root(), &index);
    for package in &after.packages {
        assert_eq!(
            package.action,
            Action::Skip,
            "{}: {}",
            package.name,
            package.reason
        );
        assert!(package.reason.contains("same bytes"), "{}", package.reason);
        let predicted = before
            .package(&package.name)
            .unwrap()
            .artifact
            .as_ref()
            .unwrap();
        let observed = &after.inputs.registry_observations.crates[&package.name][0];
        assert_eq!(
            observed.cksum, predicted.sha256,
            "{}: kellnr's cksum is the one Convoy predicted",
            package.name
        );
    }
}

#[test]
fn convoy_publishes_to_kellnr_and_cargo_builds_from_it() {
    let Some(kellnr_bin) = kellnr_binary() else {
        assert!(
            std::env::var_os("CONVOY_REQUIRE_KELLNR").is_none(),
            "CONVOY_REQUIRE_KELLNR is set but kellnr is not installed"
        );
        eprintln!("kellnr not installed: skipping (scripts/kellnr install)");
        return;
    };
    let kellnr = Kellnr::start(&kellnr_bin);
    let index = kellnr.index_url();
    let home = Fixture::empty();
    let publish_to = "publish = [\"kellnr\"]\n";
    let fixture = Fixture::new(
        &[
            ("a", manifest("kp-a", "0.1.0", publish_to)),
            (
                "b",
                manifest("kp-b", "0.1.0", &format!("{publish_to}[dependencies]\nkp-a = {{ path = \"../a\", version = \"0.1\", registry = \"kellnr\" }}\n")),
            ),
        ],
        "",
    );
    fixture.write("b/src/lib.rs", "pub fn from_kellnr() -> bool { true }\n");
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    let (plan, _plan_dir) = plan(&fixture, home.root(), &index);
    assert!(!plan.has_errors(), "{:?}", plan.diagnostics);

    let bundle = Fixture::empty();
    let planned = {
        let mut command = Command::new(binary("convoy-plan"));
        command
            .current_dir(fixture.root())
            .args(["--registry", "kellnr", "--bundle"])
            .arg(bundle.root().join("b"));
        cargo_env(&mut command, home.root(), &index);
        run(&mut command)
    };
    assert_eq!(planned.code(), 0, "{}", planned.stderr());
    let summary = bundle.root().join("summary.md");
    let mut publish = Command::new(binary("convoy-publish"));
    publish
        .arg(bundle.root().join("b/plan.json"))
        .args(["--registry", "kellnr"])
        .env("GITHUB_STEP_SUMMARY", &summary);
    cargo_env(&mut publish, home.root(), &index);
    let published = run(&mut publish);
    assert_eq!(
        published.code(),
        0,
        "convoy-publish to kellnr failed:\n{}",
        published.stderr()
    );
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(
        summary.contains("| `kp-a` | published |") && summary.contains("| `kp-b` | published |"),
        "{summary}"
    );

    let consumer = Fixture::empty();
    consumer.write(
        "Cargo.toml",
        "[package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n[dependencies]\nkp-b = { version = \"0.1\", registry = \"kellnr\" }\n",
    );
    consumer.write(
        "src/main.rs",
        "fn main() { assert!(kp_b::from_kellnr()); }\n",
    );
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(consumer.root()).args(["run", "--quiet"]);
    cargo_env(&mut cargo, home.root(), &index);
    let built = run(&mut cargo);
    assert_eq!(
        built.code(),
        0,
        "consumer build from kellnr failed:\n{}",
        built.stderr()
    );
}
