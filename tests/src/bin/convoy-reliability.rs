//! `convoy-reliability`: the publisher under faults and interrupts, as processes against the
//! testkit registry on loopback, counted from the registry's request log. Figures go to
//! RELIABILITY.md.
//!
//! ```text
//! convoy-reliability kill-trials [--runs N] [--seed S]
//!     N times: a fresh registry with faults (index delay, a dropped response, a 503, a 429
//!     bucket), `convoy-publish` killed with SIGKILL at a random moment, then rerun until it
//!     exits 0; counts converged runs, duplicate uploads (separating those after a lost
//!     response), and a clean `convoy-verify` at the end of each.
//! convoy-reliability fault-matrix [--crates N] [--only TEXT]
//!     every fault class × concurrency 1/4/16 on an N-crate workspace: exit code, uploads,
//!     retries, 429s and wall time.
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use convoy_testkit::{Faults, LoggedRequest, Options, RateLimit, TestRegistry};
use convoy_tests::{binary, isolated_cargo, manifest, run, Fixture};

const TOKEN: &str = "reliability-token-5e1f";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |flag: &str, default: u64| -> Option<u64> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()),
            None => Some(default),
        }
    };
    match (
        args.first().map(String::as_str),
        number("--runs", 200),
        number("--seed", 1),
        number("--crates", 50),
    ) {
        (Some("kill-trials"), Some(runs), Some(seed), _) if runs > 0 => kill_trials(runs, seed),
        (Some("fault-matrix"), _, _, Some(crates)) if crates > 1 => {
            // `--only TEXT`: just the fault classes whose label contains TEXT.
            let only = args
                .iter()
                .position(|a| a == "--only")
                .and_then(|i| args.get(i + 1))
                .cloned();
            fault_matrix(crates as usize, only.as_deref())
        }
        _ => {
            eprintln!("usage: convoy-reliability kill-trials [--runs N] [--seed S] | fault-matrix [--crates N] [--only TEXT]");
            ExitCode::from(2)
        }
    }
}

/// A small deterministic generator (xorshift), so a trial series can be repeated by its seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A workspace of `count` crates publishing to the registry `trial`: crate i depends on i-1 and
/// i-3 when those exist and i % 4 != 0 (so it has chains and independent crates).
fn workspace(count: usize) -> Fixture {
    let to = "publish = [\"trial\"]\n";
    let name = |i: usize| format!("rel-{i:03}");
    let members: Vec<(String, String)> = (0..count)
        .map(|i| {
            let mut deps = String::from("[dependencies]\n");
            if i % 4 != 0 {
                for back in [1, 3] {
                    if i >= back {
                        let dep = name(i - back);
                        deps.push_str(&format!(
                            "{dep} = {{ path = \"../{dep}\", version = \"0.1\", registry = \"trial\" }}\n"
                        ));
                    }
                }
            }
            (name(i), manifest(&name(i), "0.1.0", &format!("{to}{deps}")))
        })
        .collect();
    let borrowed: Vec<(&str, String)> = members
        .iter()
        .map(|(d, m)| (d.as_str(), m.clone()))
        .collect();
    let fixture = Fixture::new(&borrowed, "");
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    fixture
}

/// A planned, bundled release of `count` crates for a registry on `port`.
struct Release {
    _workspace: Fixture,
    _home: Fixture,
    bundle: Fixture,
    port: u16,
}

impl Release {
    fn new(count: usize) -> Self {
        let storage = Fixture::empty();
        let registry =
            TestRegistry::start(Options::new(storage.root().join("r"), TOKEN)).expect("registry");
        let port: u16 = registry
            .base_url()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let workspace = workspace(count);
        let home = Fixture::empty();
        let bundle = Fixture::empty();
        let mut plan = Command::new(binary("convoy-plan"));
        plan.current_dir(workspace.root())
            .env("CARGO_REGISTRIES_TRIAL_INDEX", registry.index_url())
            .args(["--registry", "trial", "--bundle"])
            .arg(bundle.root().join("bundle"));
        isolated_cargo(&mut plan, home.root());
        let planned = run(&mut plan);
        assert_eq!(planned.code(), 0, "{}", planned.stderr());
        Self {
            _workspace: workspace,
            _home: home,
            bundle,
            port,
        }
    }

    fn plan_file(&self) -> PathBuf {
        self.bundle.root().join("bundle").join("plan.json")
    }

    /// A fresh, empty registry with `faults` on the plan's port.
    fn registry(&self, faults: Faults, storage: &Path) -> TestRegistry {
        let mut options = Options::new(storage.join("registry"), TOKEN);
        options.port = self.port;
        options.faults = faults;
        // The port was just released by the previous registry; retry briefly.
        for _ in 0..50 {
            if let Ok(registry) = TestRegistry::start(options.clone()) {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the registry cannot listen on port {}", self.port);
    }

    fn publish(&self, registry: &TestRegistry, journal: &Path, extra: &[&str]) -> Command {
        let mut command = Command::new(binary("convoy-publish"));
        command
            .env("CARGO_REGISTRIES_TRIAL_INDEX", registry.index_url())
            .env("CARGO_REGISTRIES_TRIAL_TOKEN", TOKEN)
            .arg(self.plan_file())
            .args(["--registry", "trial", "--format", "json", "--journal"])
            .arg(journal)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }
}

/// Runs `command` to its end, killing it after `limit`; the exit code, or None when killed.
fn run_bounded(command: &mut Command, limit: Duration) -> Option<i32> {
    let mut child = command.spawn().expect("spawn");
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Upload requests by crate, in order.
fn uploads(requests: &[LoggedRequest]) -> BTreeMap<String, Vec<&LoggedRequest>> {
    let mut by_crate: BTreeMap<String, Vec<&LoggedRequest>> = BTreeMap::new();
    for request in requests {
        let Some(metadata) = request.metadata_json.as_deref() else {
            continue;
        };
        let name = serde_json::from_str::<serde_json::Value>(metadata)
            .ok()
            .and_then(|v| v["name"].as_str().map(str::to_owned))
            .unwrap_or_default();
        by_crate.entry(name).or_default().push(request);
    }
    by_crate
}

/// Uploads sent after one of the same crate was stored: (after a lost response, after an
/// answered one).
fn duplicates(requests: &[LoggedRequest]) -> (usize, usize) {
    let (mut after_lost, mut avoidable) = (0, 0);
    for sent in uploads(requests).values() {
        let mut stored: Option<&LoggedRequest> = None;
        for request in sent {
            match stored {
                Some(first) if first.status.is_none() => after_lost += 1,
                Some(_) => avoidable += 1,
                None => {}
            }
            if request.stored.is_some() && stored.is_none() {
                stored = Some(request);
            }
        }
    }
    (after_lost, avoidable)
}

fn kill_trials(runs: u64, seed: u64) -> ExitCode {
    let release = Release::new(8);
    let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (mut converged, mut verified, mut after_lost, mut avoidable, mut reruns) = (0, 0, 0, 0, 0);
    let mut durations = Vec::new();
    for trial in 0..runs {
        let storage = Fixture::empty();
        let faults = Faults {
            index_delay: Duration::from_secs(1),
            drop_upload_response: [1 + random.below(8)].into(),
            fail_upload: [(1 + random.below(8), 503)].into(),
            new_crate_limit: Some(RateLimit {
                burst: 4,
                refill: Duration::from_secs(1),
            }),
            ..Faults::default()
        };
        let registry = release.registry(faults, storage.root());
        let journal = storage.root().join("plan.journal");
        let started = Instant::now();
        let kill_after = Duration::from_millis(random.below(4000));
        let mut child = release
            .publish(&registry, &journal, &["--poll-timeout", "5"])
            .spawn()
            .expect("spawn");
        std::thread::sleep(kill_after);
        let _ = child.kill();
        let _ = child.wait();
        let mut done = false;
        for _ in 0..5 {
            reruns += 1;
            let code = run_bounded(
                &mut release.publish(&registry, &journal, &["--poll-timeout", "5"]),
                Duration::from_secs(120),
            );
            if code == Some(0) {
                done = true;
                break;
            }
        }
        durations.push(started.elapsed());
        converged += u64::from(done);
        let (lost, extra) = duplicates(&registry.requests());
        after_lost += lost;
        avoidable += extra;
        let mut verify = Command::new(binary("convoy-verify"));
        verify
            .env("CARGO_REGISTRIES_TRIAL_INDEX", registry.index_url())
            .arg(release.plan_file())
            .args(["--registry", "trial"]);
        let clean = run(&mut verify).code() == 0;
        verified += u64::from(clean);
        if !done || !clean || extra > 0 {
            eprintln!(
                "trial {trial}: killed after {kill_after:?}, converged {done}, verified {clean}, duplicates after an answered upload {extra}"
            );
        }
    }
    durations.sort();
    let median = durations[durations.len() / 2];
    println!("| trials | converged | clean convoy-verify | reruns | duplicates after a lost response | duplicates after an answered upload | median time to done |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {runs} | {converged}/{runs} | {verified}/{runs} | {reruns} | {after_lost} | {avoidable} | {:.1} s |",
        median.as_secs_f64()
    );
    if converged == runs && verified == runs && avoidable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fault_matrix(crates: usize, only: Option<&str>) -> ExitCode {
    let release = Release::new(crates);
    let every = |n: u64| -> std::collections::BTreeSet<u64> {
        (1..=crates as u64 * 2).filter(|i| i % n == 0).collect()
    };
    let classes: Vec<(&str, Faults)> = vec![
        ("none", Faults::default()),
        (
            "index delay 2 s",
            Faults {
                index_delay: Duration::from_secs(2),
                ..Faults::default()
            },
        ),
        (
            "stale reads 5 s",
            Faults {
                stale_for: Duration::from_secs(5),
                ..Faults::default()
            },
        ),
        (
            "503 on every 5th upload",
            Faults {
                fail_upload: every(5).into_iter().map(|n| (n, 503)).collect(),
                ..Faults::default()
            },
        ),
        (
            "reset every 9th upload",
            Faults {
                reset_upload: every(9),
                ..Faults::default()
            },
        ),
        (
            "response lost on every 7th upload, index delay 1 s",
            Faults {
                drop_upload_response: every(7),
                index_delay: Duration::from_secs(1),
                ..Faults::default()
            },
        ),
        (
            "new-crate 429 bucket 10/1 s",
            Faults {
                new_crate_limit: Some(RateLimit {
                    burst: 10,
                    refill: Duration::from_secs(1),
                }),
                ..Faults::default()
            },
        ),
        (
            "index 429 bucket 20/1 s",
            Faults {
                index_limit: Some(RateLimit {
                    burst: 20,
                    refill: Duration::from_secs(1),
                }),
                ..Faults::default()
            },
        ),
        (
            "every response 100 ms late",
            Faults {
                slow: Duration::from_millis(100),
                ..Faults::default()
            },
        ),
    ];
    println!("| fault | concurrency | exit | uploads sent | stored | retries and re-sends | 429s | duplicates after an answered upload | wall time |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for (label, faults) in classes
        .iter()
        .filter(|(label, _)| only.is_none_or(|only| label.contains(only)))
    {
        for concurrency in [1, 4, 16] {
            let storage = Fixture::empty();
            let registry = release.registry(faults.clone(), storage.root());
            let journal = storage.root().join("plan.journal");
            let started = Instant::now();
            let code = run_bounded(
                &mut release.publish(
                    &registry,
                    &journal,
                    &[
                        "--poll-timeout",
                        "10",
                        "--concurrency",
                        &concurrency.to_string(),
                    ],
                ),
                Duration::from_secs(600),
            );
            let elapsed = started.elapsed();
            let requests = registry.requests();
            let sent: usize = uploads(&requests).values().map(Vec::len).sum();
            let stored = requests.iter().filter(|r| r.stored.is_some()).count();
            let limited = requests.iter().filter(|r| r.status == Some(429)).count();
            let (_, avoidable) = duplicates(&requests);
            ok &= code == Some(0) && stored == crates && avoidable == 0;
            println!(
                "| {label} | {concurrency} | {} | {sent} | {stored} | {} | {limited} | {avoidable} | {:.1} s |",
                code.map_or("killed".to_owned(), |c| c.to_string()),
                sent - stored,
                elapsed.as_secs_f64()
            );
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
