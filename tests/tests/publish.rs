//! `convoy-publish` end to end against the testkit registry, and its IO loop under faults on a
//! manual clock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convoy_executor::credentials::{Credentials, Lifetime, TokenEvent};
use convoy_executor::driver::{self, Release, RunOptions};
use convoy_executor::journal::EarlierRuns;
use convoy_executor::schedule::poll::PollPolicy;
use convoy_executor::schedule::{Seen, Settings};
use convoy_executor::validate::{registry_state, RegistryState, Upload};
use convoy_registry::clock::{Clock, ManualClock};
use convoy_registry::trusted::IdTokenSource;
use convoy_registry::{ClientOptions, RegistryClient};
use convoy_schema::plan::{Plan, PublishMetadata};
use convoy_testkit::{Faults, Options, RateLimit, TestRegistry, TrustedPublishing};
use convoy_tests::{binary, manifest, run, Fixture, Run};

const TOKEN: &str = "publish-secret-7c4b1e";

fn toolchain(command: &mut Command, home: &Path) {
    convoy_tests::isolated_cargo(command, home);
}

/// A chain `pu-c → pu-b → pu-a` and an independent `pu-d`, publishing to the registry `testkit`.
fn workspace() -> Fixture {
    let to = "publish = [\"testkit\"]\n";
    let dep = |name: &str| {
        format!("[dependencies]\n{name} = {{ path = \"../{name}\", version = \"0.1\", registry = \"testkit\" }}\n")
    };
    let fixture = Fixture::new(
        &[
            ("pu-a", manifest("pu-a", "0.1.0", to)),
            (
                "pu-b",
                manifest("pu-b", "0.1.0", &format!("{to}{}", dep("pu-a"))),
            ),
            (
                "pu-c",
                manifest("pu-c", "0.1.0", &format!("{to}{}", dep("pu-b"))),
            ),
            ("pu-d", manifest("pu-d", "0.1.0", to)),
        ],
        "",
    );
    fixture.write("pu-c/src/lib.rs", "pub fn depth() -> u32 { 3 }\n");
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    fixture
}

struct Story {
    _storage: Fixture,
    registry: TestRegistry,
    home: Fixture,
    fixture: Fixture,
    bundle: Fixture,
}

impl Story {
    fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// The story against a registry that misbehaves as `faults` say.
    fn with_faults(faults: Faults) -> Self {
        let storage = Fixture::empty();
        let mut options = Options::new(storage.root().join("registry"), TOKEN);
        options.faults = faults;
        let registry = TestRegistry::start(options).expect("registry");
        let story = Self {
            _storage: storage,
            registry,
            home: Fixture::empty(),
            fixture: workspace(),
            bundle: Fixture::empty(),
        };
        let mut plan = Command::new(binary("convoy-plan"));
        plan.current_dir(story.fixture.root())
            .env("CARGO_REGISTRIES_TESTKIT_INDEX", story.registry.index_url())
            .args(["--registry", "testkit", "--bundle"])
            .arg(story.bundle_dir());
        toolchain(&mut plan, story.home.root());
        let planned = run(&mut plan);
        assert_eq!(planned.code(), 0, "{}", planned.stderr());
        story
    }

    fn bundle_dir(&self) -> PathBuf {
        self.bundle.root().join("bundle")
    }

    fn plan(&self) -> Plan {
        Plan::from_json(&std::fs::read_to_string(self.bundle_dir().join("plan.json")).unwrap())
            .unwrap()
    }

    fn publish(&self, args: &[&str], token: Option<&str>) -> Run {
        let mut command = Command::new(binary("convoy-publish"));
        command
            .current_dir(self.bundle.root())
            .env_remove("CARGO_REGISTRIES_TESTKIT_TOKEN")
            .env("CARGO_REGISTRIES_TESTKIT_INDEX", self.registry.index_url())
            .arg(self.bundle_dir().join("plan.json"))
            .args(args);
        if let Some(token) = token {
            command.env("CARGO_REGISTRIES_TESTKIT_TOKEN", token);
        }
        run(&mut command)
    }

    fn uploads(&self) -> usize {
        self.registry
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/crates/new")
            .count()
    }
}

#[test]
fn plan_publish_and_build_a_consumer_then_rerun_uploads_nothing() {
    let story = Story::new();
    let plan = story.plan();
    let published = story.publish(
        &["--registry", "testkit", "--expect-digest", &plan.digest],
        Some(TOKEN),
    );
    assert_eq!(published.code(), 0, "{}", published.stderr());
    assert!(
        published
            .stderr()
            .contains("4 published, 0 already present, 0 failed"),
        "{}",
        published.stderr()
    );

    // Every crate in the index with its planned cksum, uploaded exactly once.
    for package in &plan.packages {
        let entries = story.registry.store().entries(&package.name);
        assert_eq!(entries.len(), 1, "{}", package.name);
        assert_eq!(entries[0].cksum, package.artifact.as_ref().unwrap().sha256);
    }
    assert_eq!(story.uploads(), 4);
    // Dependencies were visible before their dependents were uploaded.
    let order: Vec<String> = story
        .registry
        .requests()
        .into_iter()
        .filter_map(|r| r.stored.map(|(name, _, _)| name))
        .collect();
    let position = |name: &str| order.iter().position(|n| n == name).unwrap();
    assert!(
        position("pu-a") < position("pu-b") && position("pu-b") < position("pu-c"),
        "{order:?}"
    );

    // The token went to the publish API and nowhere else, and appears in no output or file.
    for request in story.registry.requests() {
        if request.authorization.is_some() {
            assert_eq!(
                request.path, "/api/v1/crates/new",
                "token sent to {}",
                request.path
            );
        }
    }
    let journal = std::fs::read_to_string(story.bundle_dir().join("plan.json.journal")).unwrap();
    assert!(journal.lines().count() >= 8, "{journal}");
    for text in [published.stdout(), published.stderr(), journal.clone()] {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
    let listing = convoy_tests::tree_listing(story.bundle.root());
    for path in listing.keys() {
        let bytes = std::fs::read(story.bundle.root().join(path)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "token in {}",
            path.display()
        );
    }

    // Real cargo builds a consumer from the registry.
    let consumer = Fixture::empty();
    consumer.write(
        "Cargo.toml",
        "[package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n[dependencies]\npu-c = { version = \"0.1\", registry = \"testkit\" }\n",
    );
    consumer.write(
        "src/main.rs",
        "fn main() { assert_eq!(pu_c::depth(), 3); }\n",
    );
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(consumer.root())
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", story.registry.index_url())
        .args(["run", "--quiet"]);
    toolchain(&mut cargo, story.home.root());
    let built = run(&mut cargo);
    assert_eq!(built.code(), 0, "{}", built.stderr());

    // Rerunning the same plan converges without a second upload; the journal beside the plan
    // says the first run published them, so they are not counted as "already present".
    let again = story.publish(&["--registry", "testkit", "--format", "json"], Some(TOKEN));
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert_eq!(story.uploads(), 4);
    assert_eq!(
        again
            .stdout()
            .lines()
            .filter(|l| l.contains("\"published-earlier\""))
            .count(),
        4
    );
    // Without that journal, the registry is all there is to go by.
    let elsewhere = story.bundle.root().join("other.journal");
    let without = story.publish(
        &[
            "--registry",
            "testkit",
            "--journal",
            elsewhere.to_str().unwrap(),
        ],
        Some(TOKEN),
    );
    assert!(
        without
            .stderr()
            .contains("0 published, 4 already present, 0 failed"),
        "{}",
        without.stderr()
    );
    assert_eq!(story.uploads(), 4);
}

#[test]
fn refusals_upload_nothing() {
    let story = Story::new();
    let plan_path = story.bundle_dir().join("plan.json");
    let original = std::fs::read_to_string(&plan_path).unwrap();
    let expect = |args: &[&str], token: Option<&str>, code: i32, error: &str| {
        let result = story.publish(args, token);
        assert_eq!(result.code(), code, "{args:?}: {}", result.stderr());
        assert!(
            result.stderr().contains(error),
            "{args:?}: {}",
            result.stderr()
        );
        assert!(!result.stderr().contains(TOKEN));
    };
    expect(
        &["--registry", "testkit", "--expect-digest", "sha256:00"],
        Some(TOKEN),
        2,
        "error[unexpected-plan-digest]",
    );
    expect(&["--registry", "testkit"], None, 3, "error[token-missing]");
    expect(
        &[
            "--index",
            "sparse+http://127.0.0.1:1/other/",
            "--token-env",
            "CARGO_REGISTRIES_TESTKIT_TOKEN",
        ],
        Some(TOKEN),
        2,
        "error[plan-for-other-registry]",
    );
    expect(&["--registry", "testkit", "--dry-run"], None, 0, "");

    std::fs::write(
        &plan_path,
        original.replacen("\"reason\": \"", "\"reason\": \"edited ", 1),
    )
    .unwrap();
    expect(
        &["--registry", "testkit"],
        Some(TOKEN),
        2,
        "error[plan-digest-mismatch]",
    );
    std::fs::write(&plan_path, &original).unwrap();

    let crate_file = story.bundle_dir().join("pu-a-0.1.0.crate");
    let bytes = std::fs::read(&crate_file).unwrap();
    std::fs::write(&crate_file, b"not the planned bytes").unwrap();
    expect(
        &["--registry", "testkit"],
        Some(TOKEN),
        2,
        "error[artifact-changed]",
    );
    std::fs::remove_file(&crate_file).unwrap();
    expect(
        &["--registry", "testkit"],
        Some(TOKEN),
        2,
        "error[artifact-missing]",
    );
    // Only regular files inside the bundle are read: a FIFO would hang, /dev/zero fill memory.
    let started = std::time::Instant::now();
    let made = Command::new("mkfifo").arg(&crate_file).status().unwrap();
    assert!(made.success());
    expect(
        &["--registry", "testkit"],
        Some(TOKEN),
        2,
        "error[artifact-unreadable]",
    );
    std::fs::remove_file(&crate_file).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &crate_file).unwrap();
    expect(
        &["--registry", "testkit"],
        Some(TOKEN),
        2,
        "outside the bundle",
    );
    std::fs::remove_file(&crate_file).unwrap();
    let outside = story.bundle.root().join("pu-a-0.1.0.crate");
    std::fs::write(&outside, &bytes).unwrap();
    std::os::unix::fs::symlink(&outside, &crate_file).unwrap();
    expect(
        &["--registry", "testkit"],
        Some(TOKEN),
        2,
        "error[artifact-unreadable]",
    );
    std::fs::remove_file(&crate_file).unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    std::fs::write(&crate_file, bytes).unwrap();

    // A plan that names a package twice, or whose waves disagree, is sealed but refused.
    let mut twice = story.plan();
    twice.packages.push(twice.packages[0].clone());
    twice.seal();
    std::fs::write(&plan_path, twice.to_pretty_json()).unwrap();
    expect(
        &["--registry", "testkit"],
        Some(TOKEN),
        2,
        "error[plan-inconsistent]",
    );
    let mut no_waves = story.plan();
    no_waves.waves.clear();
    no_waves.seal();
    std::fs::write(&plan_path, no_waves.to_pretty_json()).unwrap();
    expect(
        &["--registry", "testkit"],
        Some(TOKEN),
        2,
        "error[plan-inconsistent]",
    );
    expect(
        &["--registry", "testkit", "--dry-run"],
        None,
        2,
        "error[plan-inconsistent]",
    );
    std::fs::write(&plan_path, &original).unwrap();

    // Durations that do not fit are usage errors, not a panic or a wrap.
    expect(
        &[
            "--registry",
            "testkit",
            "--max-wait",
            "18446744073709551615s",
        ],
        Some(TOKEN),
        2,
        "longest --max-wait",
    );
    expect(
        &["--registry", "testkit", "--max-wait", "5124095576030431h"],
        Some(TOKEN),
        2,
        "longest --max-wait",
    );

    // No journal, no run; and one publisher per plan at a time.
    expect(
        &[
            "--registry",
            "testkit",
            "--journal",
            "/proc/no-such-dir/plan.journal",
        ],
        Some(TOKEN),
        2,
        "error[journal-unwritable]",
    );
    let journal = story.bundle.root().join("held.journal");
    let held = convoy_executor::journal::Journal::open(&journal).unwrap();
    expect(
        &[
            "--registry",
            "testkit",
            "--journal",
            journal.to_str().unwrap(),
        ],
        Some(TOKEN),
        2,
        "error[publish-already-running]",
    );
    drop(held);

    assert_eq!(story.uploads(), 0, "a refused run uploads nothing");

    // The registry showing a planned version with other bytes is a refusal too.
    story
        .registry
        .store()
        .publish(
            r#"{"name":"pu-d","vers":"0.1.0","deps":[],"features":{}}"#,
            b"someone else's bytes",
        )
        .unwrap();
    expect(
        &["--registry", "testkit"],
        Some(TOKEN),
        2,
        "error[version-exists-with-different-content]",
    );
    assert_eq!(story.uploads(), 0);
}

fn metadata(name: &str) -> PublishMetadata {
    PublishMetadata::new(name, "1.0.0")
}

fn upload(name: &str, after: &[&str]) -> Upload {
    let bytes = format!("{name} bytes").into_bytes();
    Upload::new_crate(
        name,
        "1.0.0".parse().unwrap(),
        bytes,
        metadata(name),
        after.iter().map(|a| (*a).to_owned()).collect(),
    )
}

/// Runs the IO loop against a testkit with `faults`, both on one manual clock.
fn run_with_faults(
    faults: Faults,
    options: RunOptions,
) -> (TestRegistry, driver::Outcome, Arc<ManualClock>, Fixture) {
    let storage = Fixture::empty();
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let mut server = Options::new(storage.root().join("registry"), TOKEN);
    server.faults = faults;
    server.clock = clock.clone();
    let registry = TestRegistry::start(server).unwrap();
    let (outcome, _events) = run_against(&registry, &clock, &options, &EarlierRuns::default());
    (registry, outcome, clock, storage)
}

/// The four fixture uploads.
fn fixture_uploads() -> Vec<Upload> {
    vec![
        upload("fx-a", &[]),
        upload("fx-b", &["fx-a"]),
        upload("fx-c", &["fx-b"]),
        upload("fx-d", &[]),
    ]
}

/// One run of the IO loop on `clock` (which the client waits on too), reading the index first
/// as the command does; returns the outcome and every event.
fn run_against(
    registry: &TestRegistry,
    clock: &Arc<ManualClock>,
    options: &RunOptions,
    earlier: &EarlierRuns,
) -> (driver::Outcome, Vec<driver::Event>) {
    let (outcome, events) = run_uploads(registry, clock, options, earlier, fixture_uploads());
    (
        outcome,
        events.into_iter().map(|(event, _)| event).collect(),
    )
}

/// One run of the IO loop publishing `uploads`; every event with the clock's time when it
/// happened.
fn run_uploads(
    registry: &TestRegistry,
    clock: &Arc<ManualClock>,
    options: &RunOptions,
    earlier: &EarlierRuns,
    uploads: Vec<Upload>,
) -> (driver::Outcome, Vec<(driver::Event, SystemTime)>) {
    run_uploads_with(registry, clock, options, earlier, uploads, None)
}

/// [`run_uploads`] with trusted publishing from `trusted` (no API token) when given; the
/// credentials are closed after the run, as the command closes them.
fn run_uploads_with(
    registry: &TestRegistry,
    clock: &Arc<ManualClock>,
    options: &RunOptions,
    earlier: &EarlierRuns,
    uploads: Vec<Upload>,
    trusted: Option<IdTokenSource>,
) -> (driver::Outcome, Vec<(driver::Event, SystemTime)>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut events = Vec::new();
    let outcome = runtime.block_on(async {
        let client = RegistryClient::connect(&registry.index_url(), ClientOptions::default())
            .await
            .unwrap()
            .with_clock(clock.clone());
        let names: Vec<String> = uploads.iter().map(|u| u.name.clone()).collect();
        let files = client
            .index_files(&names, 4, convoy_registry::Freshness::Fresh)
            .await
            .unwrap();
        let RegistryState {
            initial,
            new_crates,
        } = registry_state(&uploads, &files, &Default::default()).unwrap();
        let mut credentials = match trusted {
            None => Credentials::api(convoy_registry::auth::Token::new(TOKEN.into())),
            Some(source) => {
                let (credentials, issued) = Credentials::trusted(
                    None,
                    &client,
                    source,
                    "127.0.0.1".into(),
                    Lifetime::CRATES_IO,
                    clock.now(),
                )
                .await
                .unwrap();
                events.push((driver::Event::Token(issued), clock.now()));
                credentials
            }
        };
        let release = Release {
            uploads: &uploads,
            initial: &initial,
            new_crates: &new_crates,
            earlier,
        };
        let outcome = driver::run(
            &client,
            &mut credentials,
            release,
            clock.as_ref(),
            options,
            &mut |event| events.push((event, clock.now())),
        )
        .await;
        for event in credentials.close(&client).await {
            events.push((driver::Event::Token(event), clock.now()));
        }
        outcome
    });
    (outcome, events)
}

/// Upload requests per crate, from the request log.
fn uploads_by_crate(registry: &TestRegistry) -> BTreeMap<String, usize> {
    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    for request in registry.requests() {
        let Some(metadata) = request.metadata_json.as_deref() else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_str(metadata).unwrap();
        *sent
            .entry(value["name"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    sent
}

fn stored_once_each(registry: &TestRegistry) {
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    for request in registry.requests() {
        if let Some((name, _, _)) = request.stored {
            *stored.entry(name).or_default() += 1;
        }
    }
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert!(
        stored.values().all(|n| *n == 1),
        "each crate stored exactly once: {stored:?}"
    );
}

#[test]
fn five_hundreds_resets_and_dropped_responses_converge_with_one_upload_each() {
    let faults = Faults {
        fail_upload: [(1, 503), (2, 502)].into(),
        reset_upload: [3].into(),
        drop_upload_response: [4, 6].into(),
        ..Faults::default()
    };
    let (registry, outcome, _clock, _storage) = run_with_faults(faults, RunOptions::default());
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(outcome.published.len(), 4);
    stored_once_each(&registry);
}

#[test]
fn index_delay_stale_reads_and_rate_limits_are_waited_out() {
    let faults = Faults {
        index_delay: Duration::from_secs(20),
        stale_for: Duration::from_secs(600),
        new_crate_limit: Some(RateLimit {
            burst: 2,
            refill: Duration::from_secs(600),
        }),
        ..Faults::default()
    };
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let (registry, outcome, clock, _storage) = run_with_faults(faults, RunOptions::default());
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(outcome.published.len(), 4);
    stored_once_each(&registry);
    let rate_limited = registry
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert!(
        rate_limited >= 1,
        "the registry's bucket was hit and waited out"
    );
    assert!(
        clock.now().duration_since(start).unwrap() >= Duration::from_secs(1200),
        "two refills of 600 s were waited for"
    );
}

#[test]
fn pacing_by_the_buckets_avoids_429s_and_max_wait_stops_cleanly() {
    let limits = (
        RateLimit {
            burst: 2,
            refill: Duration::from_secs(600),
        },
        RateLimit::CRATES_IO_NEW_VERSIONS,
    );
    let faults = Faults {
        new_crate_limit: Some(limits.0),
        ..Faults::default()
    };
    let paced = RunOptions {
        schedule: Settings {
            new_crates: Some(limits.0),
            new_versions: Some(limits.1),
            ..Settings::default()
        },
        ..RunOptions::default()
    };
    let (registry, outcome, _clock, _storage) = run_with_faults(faults.clone(), paced.clone());
    assert_eq!(outcome.published.len(), 4);
    assert_eq!(
        registry
            .requests()
            .iter()
            .filter(|r| r.status == Some(429))
            .count(),
        0,
        "paced uploads never hit 429"
    );

    let limited = RunOptions {
        max_wait: Some(Duration::from_secs(900)),
        ..paced
    };
    let (registry, outcome, _clock, _storage) = run_with_faults(faults, limited);
    assert!(outcome.stopped_until.is_some(), "{outcome:?}");
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(
        outcome.published.len(),
        3,
        "two at once, one after 600 s, the fourth would start after the 900 s limit: {outcome:?}"
    );
    assert_eq!(
        registry
            .requests()
            .iter()
            .filter(|r| r.stored.is_some())
            .count(),
        3
    );
}

#[test]
fn a_wrong_token_stops_the_run() {
    let storage = Fixture::empty();
    let registry = TestRegistry::start(Options::new(
        storage.root().join("registry"),
        "the-right-one",
    ))
    .unwrap();
    let uploads = vec![upload("tk-a", &[]), upload("tk-b", &["tk-a"])];
    let initial: BTreeMap<String, Seen> = uploads
        .iter()
        .map(|u| (u.name.clone(), Seen::Absent))
        .collect();
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = RegistryClient::connect(&registry.index_url(), ClientOptions::default())
                .await
                .unwrap();
            let mut credentials =
                Credentials::api(convoy_registry::auth::Token::new("wrong".into()));
            let release = Release {
                uploads: &uploads,
                initial: &initial,
                new_crates: &BTreeSet::new(),
                earlier: &EarlierRuns::default(),
            };
            driver::run(
                &client,
                &mut credentials,
                release,
                &convoy_registry::clock::SystemClock,
                &RunOptions::default(),
                &mut |_| {},
            )
            .await
        });
    assert!(outcome.auth_failure.is_some());
    assert_eq!(
        registry
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/crates/new")
            .count(),
        1,
        "no further uploads after an auth failure"
    );
}

#[test]
fn a_publisher_killed_at_any_point_converges_on_rerun_without_reuploading_visible_crates() {
    let story = Story::new();
    let events_in_a_full_run = {
        let full = story.publish(&["--registry", "testkit", "--format", "json"], Some(TOKEN));
        assert_eq!(full.code(), 0, "{}", full.stderr());
        full.stdout().lines().count()
    };
    assert!(
        events_in_a_full_run >= 12,
        "uploading, accepted and visible for 4 crates"
    );
    let port: u16 = story
        .registry
        .base_url()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let plan = story.plan();
    let plan_file = story.bundle_dir().join("plan.json");
    let Story {
        registry: first_registry,
        bundle: _bundle,
        ..
    } = story;
    drop(first_registry);
    for crash_after in 1..events_in_a_full_run {
        // A fresh, empty registry on the same port, so the plan's index URL still matches.
        let storage = Fixture::empty();
        let mut options = Options::new(storage.root().join("registry"), TOKEN);
        options.port = port;
        let registry = TestRegistry::start(options).expect("registry restarts on the same port");
        // One journal per fresh registry: the journal remembers what was sent to *this* one. A
        // crash between journaling an upload and sending it costs the rerun one short
        // --poll-timeout of reading the index before it sends.
        let journal = storage.root().join("plan.journal");
        let publish = |crash: Option<usize>| {
            let mut command = Command::new(binary("convoy-publish"));
            command
                .env("CARGO_REGISTRIES_TESTKIT_INDEX", registry.index_url())
                .env("CARGO_REGISTRIES_TESTKIT_TOKEN", TOKEN)
                .arg(&plan_file)
                .args([
                    "--registry",
                    "testkit",
                    "--format",
                    "json",
                    "--poll-timeout",
                    "2",
                ])
                .arg("--journal")
                .arg(&journal);
            if let Some(n) = crash {
                command.env("CONVOY_FAILPOINT_ABORT_AFTER_EVENTS", n.to_string());
            }
            run(&mut command)
        };
        let crashed = publish(Some(crash_after));
        assert_ne!(
            crashed.code(),
            0,
            "the failpoint aborts after event {crash_after}"
        );
        let visible_before_rerun: BTreeSet<String> = ["pu-a", "pu-b", "pu-c", "pu-d"]
            .into_iter()
            .filter(|name| !registry.store().entries(name).is_empty())
            .map(str::to_owned)
            .collect();
        let uploads_before = registry.requests().len();
        let rerun = publish(None);
        assert_eq!(
            rerun.code(),
            0,
            "after a crash at event {crash_after}: {}{}",
            rerun.stderr(),
            rerun.stdout()
        );
        for package in plan.packages.clone() {
            let entries = registry.store().entries(&package.name);
            assert_eq!(entries.len(), 1, "crash at {crash_after}: {}", package.name);
            assert_eq!(entries[0].cksum, package.artifact.unwrap().sha256);
        }
        let reuploaded: Vec<String> = registry.requests()[uploads_before..]
            .iter()
            .filter(|r| r.path == "/api/v1/crates/new")
            .filter_map(|r| {
                let metadata: serde_json::Value =
                    serde_json::from_str(r.metadata_json.as_deref()?).ok()?;
                Some(metadata["name"].as_str()?.to_owned())
            })
            .filter(|name| visible_before_rerun.contains(name))
            .collect();
        assert!(
            reuploaded.is_empty(),
            "crash at {crash_after}: visible crates uploaded again: {reuploaded:?}"
        );
    }
}

#[test]
fn a_registry_that_always_says_already_uploaded_gets_one_upload_per_crate_and_the_run_ends() {
    let faults = Faults {
        always_already_exists: true,
        ..Faults::default()
    };
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let (registry, outcome, clock, _storage) = run_with_faults(faults, RunOptions::default());
    assert_eq!(
        uploads_by_crate(&registry),
        BTreeMap::from([("fx-a".to_owned(), 1), ("fx-d".to_owned(), 1)]),
        "settled by reading the index, never by sending again"
    );
    assert_eq!(outcome.failed.len(), 4, "{outcome:?}");
    let elapsed = clock.now().duration_since(start).unwrap();
    assert!(
        elapsed >= Duration::from_secs(300) && elapsed < Duration::from_secs(330),
        "ends at --poll-timeout: {elapsed:?}"
    );
}

#[test]
fn a_dropped_response_during_the_index_delay_is_settled_by_reading_not_by_resending() {
    let faults = Faults {
        index_delay: Duration::from_secs(20),
        drop_upload_response: [1, 3].into(),
        ..Faults::default()
    };
    let (registry, outcome, _clock, _storage) = run_with_faults(faults, RunOptions::default());
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.published.len(), 4);
    assert!(
        uploads_by_crate(&registry).values().all(|n| *n == 1),
        "{:?}",
        uploads_by_crate(&registry)
    );
}

#[test]
fn an_upload_lost_before_the_registry_stored_it_is_sent_once_more_after_the_poll_timeout() {
    // The connection is reset before the registry handles the upload: nothing is stored, the
    // outcome is unknown, the index never shows it; after --poll-timeout it is sent once more.
    let faults = Faults {
        reset_upload: [1].into(),
        ..Faults::default()
    };
    let (registry, outcome, _clock, _storage) = run_with_faults(faults, RunOptions::default());
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.published.len(), 4);
    stored_once_each(&registry);
    assert_eq!(uploads_by_crate(&registry).values().sum::<usize>(), 4);
}

#[test]
fn a_registry_whose_index_dies_after_accepting_an_upload_ends_the_run_within_the_poll_timeout() {
    let faults = Faults {
        index_fails_after_upload: Some(503),
        ..Faults::default()
    };
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let options = RunOptions {
        schedule: Settings {
            poll_timeout: Duration::from_secs(120),
            ..Settings::default()
        },
        ..RunOptions::default()
    };
    let (_registry, outcome, clock, _storage) = run_with_faults(faults, options);
    let failure = outcome
        .registry_failure
        .clone()
        .expect("a registry failure");
    assert!(failure.contains("503"), "{failure}");
    let elapsed = clock.now().duration_since(start).unwrap();
    assert!(elapsed <= Duration::from_secs(135), "{elapsed:?}");
}

#[test]
fn max_wait_ends_the_run_while_it_waits_for_the_index() {
    let faults = Faults {
        index_delay: Duration::from_secs(3600),
        ..Faults::default()
    };
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let options = RunOptions {
        max_wait: Some(Duration::from_secs(600)),
        schedule: Settings {
            poll_timeout: Duration::from_secs(7200),
            ..Settings::default()
        },
        ..RunOptions::default()
    };
    let (registry, outcome, clock, _storage) = run_with_faults(faults, options);
    assert!(outcome.stopped_until.is_some(), "{outcome:?}");
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(
        uploads_by_crate(&registry).len(),
        2,
        "fx-a and fx-d were sent"
    );
    // Typically 600 s and a few; on a loaded machine the manual clock may finish a poll's
    // sleep (a fraction of the upload's age, under 300 s here) before a request in flight has
    // answered, so the bound is the deadline plus that sleep — still far from the index's
    // 3600 s and the 7200 s poll timeout the run would otherwise wait for.
    let elapsed = clock.now().duration_since(start).unwrap();
    assert!(elapsed <= Duration::from_secs(900), "{elapsed:?}");
}

#[test]
fn a_registry_asking_for_an_absurd_wait_stops_the_run_instead_of_sleeping() {
    let faults = Faults {
        new_crate_limit: Some(RateLimit {
            burst: 1,
            refill: Duration::from_secs(30 * 365 * 86_400),
        }),
        ..Faults::default()
    };
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let (_registry, outcome, clock, _storage) = run_with_faults(faults, RunOptions::default());
    let until = outcome.stopped_until.expect("stopped, resumable");
    assert!(until.duration_since(start).unwrap() > Duration::from_secs(365 * 86_400));
    assert!(
        clock.now().duration_since(start).unwrap() < Duration::from_secs(3600),
        "did not sleep"
    );
    assert!(outcome.failed.is_empty(), "{outcome:?}");
}

#[test]
fn a_rerun_reads_the_index_for_what_an_interrupted_run_sent_before_sending_it_again() {
    // The first run is cut off by --max-wait while its uploads are still invisible (index delay);
    // the rerun, told by the journal what was sent, waits for them instead of sending again.
    let storage = Fixture::empty();
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let mut server = Options::new(storage.root().join("registry"), TOKEN);
    server.faults = Faults {
        index_delay: Duration::from_secs(40),
        ..Faults::default()
    };
    server.clock = clock.clone();
    let registry = TestRegistry::start(server).unwrap();
    let first = RunOptions {
        max_wait: Some(Duration::from_secs(5)),
        ..RunOptions::default()
    };
    let (outcome, events) = run_against(&registry, &clock, &first, &EarlierRuns::default());
    assert!(outcome.stopped_until.is_some(), "{outcome:?}");
    let in_doubt: BTreeMap<String, std::time::SystemTime> = events
        .iter()
        .filter_map(|e| match e {
            driver::Event::Uploading { name, .. } => Some((name.clone(), clock.now())),
            _ => None,
        })
        .collect();
    assert_eq!(in_doubt.keys().collect::<Vec<_>>(), ["fx-a", "fx-d"]);
    let earlier = EarlierRuns {
        in_doubt,
        ..EarlierRuns::default()
    };

    let (outcome, _events) = run_against(&registry, &clock, &RunOptions::default(), &earlier);
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.published_earlier, ["fx-a", "fx-d"]);
    assert_eq!(outcome.published, ["fx-b", "fx-c"]);
    assert!(
        uploads_by_crate(&registry).values().all(|n| *n == 1),
        "{:?}",
        uploads_by_crate(&registry)
    );
}

#[test]
fn a_token_the_registry_echoes_is_never_shown_or_stored() {
    let story = Story::with_faults(Faults {
        echo_token: true,
        ..Faults::default()
    });
    let wrong = "wrong-publish-secret-0a1b2c3d";
    let summary = story.bundle.root().join("summary.md");
    let journal = story.bundle.root().join("echo.journal");
    let mut command = Command::new(binary("convoy-publish"));
    command
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", story.registry.index_url())
        .env("CARGO_REGISTRIES_TESTKIT_TOKEN", wrong)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .arg(story.bundle_dir().join("plan.json"))
        .args(["--registry", "testkit", "--journal"])
        .arg(&journal);
    let human = run(&mut command);
    let json = run(command.args(["--format", "json"]));
    assert_eq!(human.code(), 3, "{}", human.stderr());
    let registry_said = story
        .registry
        .requests()
        .iter()
        .any(|r| r.status == Some(403));
    assert!(registry_said, "the registry echoed the token in a 403");
    for (what, text) in [
        ("stderr", human.stderr()),
        ("json stdout", json.stdout()),
        ("json stderr", json.stderr()),
        ("journal", std::fs::read_to_string(&journal).unwrap()),
        ("step summary", std::fs::read_to_string(&summary).unwrap()),
    ] {
        assert!(!text.contains(wrong), "{what} shows the token: {text}");
    }
    assert!(human.stderr().contains("<redacted>"), "{}", human.stderr());
}

#[test]
fn a_registry_without_a_publish_api_is_refused_before_uploading() {
    let story = Story::with_faults(Faults {
        omit_api: true,
        ..Faults::default()
    });
    let result = story.publish(&["--registry", "testkit"], Some(TOKEN));
    assert_eq!(result.code(), 2, "{}", result.stderr());
    assert!(
        result.stderr().contains("error[registry-read-only]"),
        "{}",
        result.stderr()
    );
    assert_eq!(story.uploads(), 0);
}

#[test]
fn a_wait_is_never_given_up_without_a_poll_at_its_deadline() {
    // The first poll right after acceptance sees nothing; the doubled interval would put the
    // next one after the 3 s deadline, by which time the version (visible after 2.5 s) is there.
    let faults = Faults {
        index_delay: Duration::from_millis(2500),
        ..Faults::default()
    };
    let options = RunOptions {
        schedule: Settings {
            poll_timeout: Duration::from_secs(3),
            polling: PollPolicy {
                first: Duration::from_secs(2),
                ..PollPolicy::default()
            },
            ..Settings::default()
        },
        ..RunOptions::default()
    };
    let (_registry, outcome, _clock, _storage) = run_with_faults(faults, options);
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.published.len(), 4);
}

fn upload_version(name: &str, version: &str) -> Upload {
    let bytes = format!("{name} {version} bytes").into_bytes();
    Upload::new_crate(
        name,
        version.parse().unwrap(),
        bytes,
        PublishMetadata::new(name, version),
        Vec::new(),
    )
}

/// A testkit registry with `faults` on a manual clock.
fn registry_on_manual_clock(faults: Faults) -> (TestRegistry, Arc<ManualClock>, Fixture) {
    let storage = Fixture::empty();
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let mut server = Options::new(storage.root().join("registry"), TOKEN);
    server.faults = faults;
    server.clock = clock.clone();
    (TestRegistry::start(server).unwrap(), clock, storage)
}

/// When the registry answered 429 (from `start`), from its request log after the first `skip`
/// requests.
fn rate_limited_at(registry: &TestRegistry, skip: usize, start: SystemTime) -> Vec<Duration> {
    registry
        .requests()
        .iter()
        .skip(skip)
        .filter(|r| r.status == Some(429))
        .map(|r| r.received.duration_since(start).unwrap())
        .collect()
}

/// At most one 429 in any refill period after the first (the first may answer every upload
/// already in flight when the bucket ran dry).
fn at_most_one_per_period_after_the_first(times: &[Duration], refill: Duration) {
    let later: Vec<&Duration> = times.iter().filter(|t| **t >= refill).collect();
    for pair in later.windows(2) {
        assert!(
            *pair[1] - *pair[0] >= refill - Duration::from_millis(1),
            "two 429s within one refill period: {times:?}"
        );
    }
}

#[test]
fn a_429_from_an_unnamed_registry_paces_the_run_and_is_learned_not_counted_as_a_failure() {
    let limit = RateLimit {
        burst: 5,
        refill: Duration::from_secs(20),
    };
    let (registry, clock, _storage) = registry_on_manual_clock(Faults {
        new_crate_limit: Some(limit),
        new_version_limit: Some(limit),
        ..Faults::default()
    });
    // Twelve new crates, then a new version of each (the other bucket), default options: no
    // limit known, 8 attempts per crate.
    for version in ["1.0.0", "1.1.0"] {
        let before = registry.requests().len();
        let start = clock.now();
        let crates: Vec<Upload> = (0..12)
            .map(|i| upload_version(&format!("rl-{i:02}"), version))
            .collect();
        let (outcome, events) = run_uploads(
            &registry,
            &clock,
            &RunOptions::default(),
            &EarlierRuns::default(),
            crates,
        );
        assert!(outcome.failed.is_empty(), "{version}: {outcome:?}");
        assert_eq!(outcome.published.len(), 12);
        let elapsed = clock.now().duration_since(start).unwrap();
        // The bucket allows 5 at once and then one per 20 s: the twelfth at 140 s at the earliest.
        assert!(
            elapsed >= Duration::from_secs(140) && elapsed <= Duration::from_secs(160),
            "{version}: {elapsed:?}"
        );
        let limited = rate_limited_at(&registry, before, start);
        assert!(
            !limited.is_empty(),
            "{version}: the registry's limit was met"
        );
        assert!(limited.len() <= 4 + 2, "{version}: {limited:?}");
        at_most_one_per_period_after_the_first(&limited, limit.refill);
        assert_eq!(outcome.rate_limited as usize, limited.len());
        assert!(outcome.paced_for >= Duration::from_secs(120), "{outcome:?}");
        assert!(events.iter().any(|(e, _)| matches!(e, driver::Event::RateLimited { refill: Some(r), .. } if r >= &Duration::from_secs(19))));
    }
}

#[test]
fn a_crates_io_estimate_tighter_in_reality_adapts_without_failing() {
    // The built-in crates.io buckets say 5 new crates at once, then one per 600 s; this
    // registry allows 3, then one per 900 s.
    let real = RateLimit {
        burst: 3,
        refill: Duration::from_secs(900),
    };
    let (registry, clock, _storage) = registry_on_manual_clock(Faults {
        new_crate_limit: Some(real),
        ..Faults::default()
    });
    let start = clock.now();
    let options = RunOptions {
        schedule: Settings {
            new_crates: Some(RateLimit::CRATES_IO_NEW_CRATES),
            new_versions: Some(RateLimit::CRATES_IO_NEW_VERSIONS),
            ..Settings::default()
        },
        ..RunOptions::default()
    };
    let crates: Vec<Upload> = (0..6)
        .map(|i| upload_version(&format!("ci-{i:02}"), "1.0.0"))
        .collect();
    let (outcome, _events) =
        run_uploads(&registry, &clock, &options, &EarlierRuns::default(), crates);
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.published.len(), 6);
    let elapsed = clock.now().duration_since(start).unwrap();
    // 3 at once, then 900 s apart: the sixth at 2700 s.
    assert!(
        elapsed >= Duration::from_secs(2700) && elapsed <= Duration::from_secs(2700 + 900),
        "{elapsed:?}"
    );
    let limited = rate_limited_at(&registry, 0, start);
    assert!(limited.len() <= 3, "{limited:?}");
    at_most_one_per_period_after_the_first(&limited, real.refill);
}

#[test]
fn a_dependent_uploads_in_the_same_instant_its_dependency_is_seen() {
    let (registry, clock, _storage) = registry_on_manual_clock(Faults {
        index_delay: Duration::from_secs(2),
        ..Faults::default()
    });
    let (outcome, events) = run_uploads(
        &registry,
        &clock,
        &RunOptions::default(),
        &EarlierRuns::default(),
        fixture_uploads(),
    );
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    let when = |wanted: &dyn Fn(&driver::Event) -> bool| {
        events
            .iter()
            .find(|(e, _)| wanted(e))
            .map(|(_, at)| *at)
            .unwrap()
    };
    for (dependency, dependent) in [("fx-a", "fx-b"), ("fx-b", "fx-c")] {
        let seen = when(&|e| matches!(e, driver::Event::Visible(n) if n == dependency));
        let started =
            when(&|e| matches!(e, driver::Event::Uploading { name, .. } if name == dependent));
        assert_eq!(
            seen, started,
            "{dependent} started when {dependency} was seen"
        );
    }
    // Learning the index's latency costs up to about 16 reads of the first crate (a search from
    // 100 ms up to 2 s in steps of a fifth), once per run; the benchmark measures the average
    // over whole releases. Typically 16 or 17 here; on a loaded machine the virtual clock
    // moves while a real request is in flight, which costs up to a couple of reads per crate.
    assert!(outcome.index_reads <= 28, "{outcome:?}");
}

#[test]
fn max_wait_shorter_than_the_registrys_pacing_stops_cleanly_with_the_rerun_time() {
    let story = Story::with_faults(Faults {
        new_crate_limit: Some(RateLimit {
            burst: 1,
            refill: Duration::from_secs(3600),
        }),
        ..Faults::default()
    });
    let dry = story.publish(
        &[
            "--registry",
            "testkit",
            "--dry-run",
            "--rate-limit-new-crates",
            "1/3600",
        ],
        None,
    );
    assert_eq!(dry.code(), 0, "{}", dry.stderr());
    assert!(
        dry.stdout()
            .contains("pacing of new crates: 1 at once, then 1 per 3600 s (declared"),
        "{}",
        dry.stdout()
    );
    assert!(
        dry.stdout()
            .contains("pacing of new versions: no limit known"),
        "{}",
        dry.stdout()
    );
    assert!(
        dry.stdout().contains("starts after +1 h 0 min"),
        "the second crate waits a refill: {}",
        dry.stdout()
    );

    let started = std::time::Instant::now();
    let result = story.publish(&["--registry", "testkit", "--max-wait", "60s"], Some(TOKEN));
    assert_eq!(result.code(), 4, "{}", result.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped as soon as the wait was known to pass --max-wait"
    );
    let stderr = result.stderr();
    assert!(stderr.contains("rerun the same plan after"), "{stderr}");
    assert!(stderr.contains("rate limited"), "{stderr}");
    assert!(stderr.contains("not a failed attempt"), "{stderr}");
    // The run does not know the limit (only the dry run was told): the first upload is
    // accepted, and the one or two others already sent before the first 429 arrived (the
    // uploads race) are answered 429 — none of them counted as a failure, none sent again.
    let limited = if stderr.contains("(1 upload answered 429") {
        1
    } else if stderr.contains("(2 uploads answered 429") {
        2
    } else {
        panic!("no count of 429 answers: {stderr}")
    };
    assert_eq!(
        story.uploads(),
        1 + limited,
        "one accepted, the rest answered 429 once each, nothing more"
    );
}

#[test]
fn a_trusted_token_is_replaced_before_it_expires_during_a_long_paced_run() {
    let storage = Fixture::empty();
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let every = Duration::from_secs(15 * 60);
    let mut server = Options::new(storage.root().join("registry"), TOKEN);
    server.faults.new_version_limit = Some(RateLimit {
        burst: 1,
        refill: every,
    });
    server.trusted = Some(TrustedPublishing::new("request-secret-9f2"));
    server.clock = clock.clone();
    let registry = TestRegistry::start(server).unwrap();
    let names = ["tp-a", "tp-b", "tp-c", "tp-d"];
    // The crates exist (an API token created them); their next versions go by trusted publishing.
    let first: Vec<Upload> = names.iter().map(|n| upload_version(n, "1.0.0")).collect();
    let (created, _) = run_uploads(
        &registry,
        &clock,
        &RunOptions::default(),
        &EarlierRuns::default(),
        first,
    );
    assert_eq!(created.published.len(), 4);
    let url = registry.oidc_url();
    let env = |name: &str| match name {
        "ACTIONS_ID_TOKEN_REQUEST_URL" => Some(url.clone()),
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN" => Some("request-secret-9f2".to_owned()),
        _ => None,
    };
    let source = IdTokenSource::from_env(None, &env, false).unwrap();
    let mut options = RunOptions::default();
    options.schedule.new_versions = Some(RateLimit {
        burst: 1,
        refill: every,
    });
    let start = clock.now();
    let before = registry.requests().len();
    let next: Vec<Upload> = names.iter().map(|n| upload_version(n, "1.1.0")).collect();
    let (outcome, events) = run_uploads_with(
        &registry,
        &clock,
        &options,
        &EarlierRuns::default(),
        next,
        Some(source),
    );
    // Paced one per 15 minutes, the run outlives a 30-minute token and still publishes all.
    assert_eq!(outcome.published.len(), 4, "{outcome:?}");
    assert!(outcome.auth_failure.is_none());
    assert!(clock.now().duration_since(start).unwrap() >= 3 * every);
    let tokens = registry.trusted_tokens();
    assert_eq!(tokens.len(), 2, "one token, replaced once: {tokens:?}");
    // Each token: used only while valid (the registry refused none), revoked by the end.
    let uploads: Vec<_> = registry
        .requests()
        .into_iter()
        .skip(before)
        .filter(|r| r.path == "/api/v1/crates/new")
        .collect();
    assert_eq!(uploads.len(), 4);
    for upload in &uploads {
        assert_eq!(upload.status, Some(200));
        let sent = upload.authorization.as_deref().unwrap();
        let token = tokens
            .iter()
            .find(|t| t.token == sent)
            .expect("a trusted token");
        assert!(upload.received < token.issued + Duration::from_secs(30 * 60));
    }
    for token in &tokens {
        assert!(token.revoked.is_some(), "{token:?}");
    }
    let refreshed = events
        .iter()
        .filter(|(e, _)| {
            matches!(
                e,
                driver::Event::Token(TokenEvent::Issued {
                    refreshed: true,
                    ..
                })
            )
        })
        .count();
    assert_eq!(refreshed, 1);
    let revoked = events
        .iter()
        .filter(|(e, _)| matches!(e, driver::Event::Token(TokenEvent::Revoked(Ok(())))))
        .count();
    assert_eq!(revoked, 2);
}
