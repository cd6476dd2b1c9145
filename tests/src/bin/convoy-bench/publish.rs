//! `convoy-bench publish`: the makespan of a release against the lower bound and against
//! `cargo publish --workspace`, on a registry whose index lags.
//!
//! For each shape and index delay L, one testkit registry (`--index-delay L`, on loopback) gets
//! two twin workspaces of the same shape under different crate names: one released by
//! `convoy-plan --bundle` then `convoy-publish --concurrency 8`, the other by
//! `cargo publish --workspace --no-verify` (which packages as it goes). Which tool goes first
//! alternates. The lower bound is what the dependency graph allows: the longest chain of
//! crates, each needing one upload and L before the next may start, or all uploads through
//! the concurrency limit, whichever is longer; the upload time is measured on the same
//! registry first. Index reads are counted from the registry's request log.
//!
//! `convoy-bench paced` runs the 93-crate release of new crates (and a chain with leaves) against
//! the testkit with crates.io's buckets on a clock scaled down 1000×, once with the start order
//! by critical path and once by name, and twelve new crates against an unnamed registry that
//! limits to 5 per 20 s with no limit declared.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use convoy_registry::rate::RateLimit;
use convoy_schema::plan::PublishMetadata;
use convoy_testkit::{Faults, Options, TestRegistry};
use convoy_tests::{binary, isolated_cargo, Fixture};

const TOKEN: &str = "bench-token-0c1d2e3f";

/// A release's shape: each crate with the indices of the crates it depends on (all earlier).
pub struct Shape {
    /// Label for the table.
    pub label: &'static str,
    /// Dependencies by index.
    pub deps: Vec<Vec<usize>>,
}

impl Shape {
    /// 1 core, 13 crates depending on it, 79 independent.
    pub fn core_93() -> Self {
        let mut deps = vec![Vec::new()];
        deps.extend((0..13).map(|_| vec![0]));
        deps.extend((0..79).map(|_| Vec::new()));
        Self {
            label: "93: 1 core, 13 dependents, 79 independent",
            deps,
        }
    }

    /// 200 crates in 7 layers, each depending on three of the layer below.
    pub fn layers_200() -> Self {
        let widths = [29, 29, 29, 29, 28, 28, 28];
        let mut deps = Vec::new();
        let mut below: Vec<usize> = Vec::new();
        for width in widths {
            let start = deps.len();
            for i in 0..width {
                deps.push(if below.is_empty() {
                    Vec::new()
                } else {
                    (0..3)
                        .map(|j| below[(i * 7 + j * 11) % below.len()])
                        .collect()
                });
            }
            below = (start..deps.len()).collect();
        }
        Self {
            label: "200 in 7 layers",
            deps,
        }
    }

    /// A chain.
    pub fn chain(length: usize) -> Self {
        Self {
            label: "chain of 20",
            deps: (0..length)
                .map(|i| if i == 0 { Vec::new() } else { vec![i - 1] })
                .collect(),
        }
    }

    /// `count` crates, each depending on up to three random earlier ones (fixed seed).
    pub fn random(count: usize) -> Self {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let deps = (0..count)
            .map(|i| {
                let mut deps: Vec<usize> = if i == 0 {
                    Vec::new()
                } else {
                    (0..next() % 4)
                        .map(|_| (next() % i as u64) as usize)
                        .collect()
                };
                deps.sort_unstable();
                deps.dedup();
                deps
            })
            .collect();
        Self {
            label: "1000 random",
            deps,
        }
    }

    /// Crates on the longest dependency chain.
    pub fn depth(&self) -> usize {
        let mut depth = vec![1usize; self.deps.len()];
        for (i, deps) in self.deps.iter().enumerate() {
            depth[i] = 1 + deps.iter().map(|d| depth[*d]).max().unwrap_or(0);
        }
        depth.into_iter().max().unwrap_or(0)
    }

    /// The workspace, committed; crate `i` is named `{prefix}-{i:04}`, path dependencies carry
    /// a version and name the registry `bench`, as a release to a private registry does.
    pub fn workspace(&self, prefix: &str) -> Fixture {
        let fixture = Fixture::empty();
        let name = |i: usize| format!("{prefix}-{i:04}");
        let members: Vec<String> = (0..self.deps.len())
            .map(|i| format!("\"crates/{}\"", name(i)))
            .collect();
        fixture.write(
            "Cargo.toml",
            &format!(
                "[workspace]\nresolver = \"2\"\nmembers = [{}]\n",
                members.join(", ")
            ),
        );
        for (i, deps) in self.deps.iter().enumerate() {
            let mut manifest = format!(
                "[package]\nname = \"{}\"\nversion = \"1.0.0\"\nedition = \"2021\"\nlicense = \"MIT\"\n\
                 description = \"Benchmark crate {i}.\"\npublish = [\"bench\"]\n\n[dependencies]\n",
                name(i)
            );
            for d in deps {
                manifest.push_str(&format!(
                    "{} = {{ path = \"../{}\", version = \"1.0.0\", registry = \"bench\" }}\n",
                    name(*d),
                    name(*d)
                ));
            }
            fixture.write(&format!("crates/{}/Cargo.toml", name(i)), &manifest);
            fixture.write(&format!("crates/{}/src/lib.rs", name(i)), "");
        }
        fixture.write(".gitignore", "/target\n");
        fixture.commit();
        fixture
    }
}

/// Environment naming the registry `bench` for cargo and Convoy.
fn bench_env(command: &mut Command, registry: &TestRegistry, home: &Path) {
    isolated_cargo(command, home)
        .env("CARGO_REGISTRIES_BENCH_INDEX", registry.index_url())
        .env("CARGO_REGISTRIES_BENCH_TOKEN", TOKEN)
        .env("CARGO_NET_OFFLINE", "false");
}

pub(crate) fn timed(command: &mut Command) -> Duration {
    let start = Instant::now();
    let output = command.output().expect("benchmark command runs");
    let elapsed = start.elapsed();
    assert!(
        output.status.success(),
        "{command:?} failed ({:?}): {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

/// Median time of one upload request on this registry (sequential, loopback).
fn upload_time(registry: &TestRegistry) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = convoy_registry::RegistryClient::connect(
            &registry.index_url(),
            convoy_registry::ClientOptions::default(),
        )
        .await
        .expect("connects");
        let token = convoy_registry::auth::Token::new(TOKEN.into());
        let mut samples = Vec::new();
        for i in 0..21 {
            let metadata = PublishMetadata::new(format!("upload-probe-{i}"), "1.0.0");
            let start = Instant::now();
            client
                .publish(&token, &metadata, b"probe", std::time::SystemTime::now())
                .await
                .expect("probe upload");
            samples.push(start.elapsed());
        }
        samples.sort();
        samples[samples.len() / 2]
    })
}

/// One tool's run.
struct Measured {
    publish: Duration,
    total: Duration,
    index_reads: usize,
    rate_limited: usize,
    peak_reads_per_second: usize,
}

/// Index file reads, 429s and the most index reads within one second, in the request log after
/// the first `from` requests.
fn count(registry: &TestRegistry, from: usize) -> (usize, usize, usize) {
    let requests = registry.requests();
    let later = requests.iter().skip(from);
    let reads: Vec<std::time::SystemTime> = later
        .clone()
        .filter(|r| {
            r.method == "GET" && r.path.starts_with("/index/") && !r.path.ends_with("config.json")
        })
        .map(|r| r.received)
        .collect();
    let mut peak = 0;
    let mut first = 0;
    for (last, at) in reads.iter().enumerate() {
        while at.duration_since(reads[first]).unwrap_or_default() >= Duration::from_secs(1) {
            first += 1;
        }
        peak = peak.max(last + 1 - first);
    }
    let limited = later.filter(|r| r.status == Some(429)).count();
    (reads.len(), limited, peak)
}

fn run_convoy(
    registry: &TestRegistry,
    workspace: &Fixture,
    home: &Path,
    concurrency: usize,
    extra: &[&str],
) -> Measured {
    let bundle = workspace.root().join("bundle");
    let mut plan = Command::new(binary("convoy-plan"));
    plan.current_dir(workspace.root())
        .args(["--registry", "bench", "--bundle"])
        .arg(&bundle);
    bench_env(&mut plan, registry, home);
    let planning = timed(&mut plan);
    let from = registry.requests().len();
    let mut publish = Command::new(binary("convoy-publish"));
    publish
        .current_dir(workspace.root())
        .arg(bundle.join("plan.json"))
        .args(["--registry", "bench", "--concurrency"])
        .arg(concurrency.to_string())
        .args(extra);
    bench_env(&mut publish, registry, home);
    let publishing = timed(&mut publish);
    let (index_reads, rate_limited, peak_reads_per_second) = count(registry, from);
    Measured {
        publish: publishing,
        total: planning + publishing,
        index_reads,
        rate_limited,
        peak_reads_per_second,
    }
}

fn run_cargo(registry: &TestRegistry, workspace: &Fixture, home: &Path) -> Measured {
    let from = registry.requests().len();
    let mut publish = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    publish.current_dir(workspace.root()).args([
        "publish",
        "--workspace",
        "--no-verify",
        "--registry",
        "bench",
    ]);
    bench_env(&mut publish, registry, home);
    let publishing = timed(&mut publish);
    let (index_reads, rate_limited, peak_reads_per_second) = count(registry, from);
    Measured {
        publish: publishing,
        total: publishing,
        index_reads,
        rate_limited,
        peak_reads_per_second,
    }
}

pub(crate) fn secs(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// `convoy-bench publish`.
pub fn bench_publish(shapes: &[Shape], latencies: &[f64], concurrency: usize) {
    println!(
        "| shape | L | lower bound | convoy-publish | plan + bundle + publish | cargo publish --workspace | publish / bound | publish / cargo | total / cargo | index reads per crate (convoy / cargo) | peak index reads/s (convoy / cargo) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut run = 0usize;
    for shape in shapes {
        for latency in latencies {
            run += 1;
            let storage = Fixture::empty();
            let mut options = Options::new(storage.root().join("registry"), TOKEN);
            options.faults = Faults {
                index_delay: Duration::from_secs_f64(*latency),
                ..Faults::default()
            };
            let registry = TestRegistry::start(options).expect("registry starts");
            let upload = upload_time(&registry);
            let n = shape.deps.len();
            let l = Duration::from_secs_f64(*latency);
            let depth = shape.depth() as u32;
            let bound = ((upload + l) * depth).max(upload * n as u32 / concurrency as u32);
            let convoy_ws = shape.workspace("cv");
            let cargo_ws = shape.workspace("cg");
            let (convoy_home, cargo_home) = (Fixture::empty(), Fixture::empty());
            let (convoy, cargo) = if run % 2 == 1 {
                let convoy =
                    run_convoy(&registry, &convoy_ws, convoy_home.root(), concurrency, &[]);
                let cargo = run_cargo(&registry, &cargo_ws, cargo_home.root());
                (convoy, cargo)
            } else {
                let cargo = run_cargo(&registry, &cargo_ws, cargo_home.root());
                let convoy =
                    run_convoy(&registry, &convoy_ws, convoy_home.root(), concurrency, &[]);
                (convoy, cargo)
            };
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
            println!(
                "| {} | {latency} s | {} | {} | {} | {} | {:.2}× | {:.2}× | {:.2}× | {:.2} / {:.2} | {} / {} |",
                shape.label,
                secs(bound),
                secs(convoy.publish),
                secs(convoy.total),
                secs(cargo.publish),
                ratio(convoy.publish, bound),
                ratio(convoy.publish, cargo.publish),
                ratio(convoy.total, cargo.publish),
                convoy.index_reads as f64 / n as f64,
                cargo.index_reads as f64 / n as f64,
                convoy.peak_reads_per_second,
                cargo.peak_reads_per_second,
            );
            assert_eq!(convoy.rate_limited + cargo.rate_limited, 0);
        }
    }
}

/// crates.io's buckets on a clock scaled down by `scale`.
fn scaled(limit: RateLimit, scale: u32) -> RateLimit {
    RateLimit {
        burst: limit.burst,
        refill: limit.refill / scale,
    }
}

fn limit_arg(limit: RateLimit) -> String {
    format!("{}/{}", limit.burst, limit.refill.as_secs_f64())
}

/// `convoy-bench paced`.
pub fn bench_paced(latency: f64) {
    let new_crates = scaled(RateLimit::CRATES_IO_NEW_CRATES, 1000);
    let new_versions = scaled(RateLimit::CRATES_IO_NEW_VERSIONS, 1000);
    let chain_and_leaves = {
        let mut deps: Vec<Vec<usize>> = (0..80).map(|_| Vec::new()).collect();
        deps.push(Vec::new());
        deps.extend((81..100).map(|i| vec![i - 1]));
        // Names follow indices, so by name the 80 leaves go first and the chain last.
        Shape {
            label: "chain of 20 after 80 leaves by name",
            deps,
        }
    };
    println!(
        "crates.io buckets scaled 1000×: new crates {new_crates}, new versions {new_versions}; index delay {latency} s"
    );
    println!("| shape | start order | convoy-publish | bucket minimum | 429s |");
    println!("|---|---|---|---|---|");
    for shape in [Shape::core_93(), chain_and_leaves] {
        let tokens = shape.deps.len().saturating_sub(new_crates.burst as usize) as u32;
        let minimum = new_crates.refill * tokens + Duration::from_secs_f64(latency);
        for order in ["critical-path", "name"] {
            let storage = Fixture::empty();
            let mut options = Options::new(storage.root().join("registry"), TOKEN);
            options.faults = Faults {
                index_delay: Duration::from_secs_f64(latency),
                new_crate_limit: Some(new_crates),
                new_version_limit: Some(new_versions),
                ..Faults::default()
            };
            let registry = TestRegistry::start(options).expect("registry starts");
            let workspace = shape.workspace("pc");
            let home = Fixture::empty();
            let (crates_arg, versions_arg) = (limit_arg(new_crates), limit_arg(new_versions));
            let measured = run_convoy(
                &registry,
                &workspace,
                home.root(),
                8,
                &[
                    "--rate-limit-new-crates",
                    &crates_arg,
                    "--rate-limit-new-versions",
                    &versions_arg,
                    "--start-order",
                    order,
                ],
            );
            println!(
                "| {} | {order} | {} | {} | {} |",
                shape.label,
                secs(measured.publish),
                secs(minimum),
                measured.rate_limited
            );
        }
    }
    // An unnamed registry limiting new crates to 5, then 1 per 20 s; nothing declared.
    let limit = RateLimit {
        burst: 5,
        refill: Duration::from_secs(20),
    };
    let storage = Fixture::empty();
    let mut options = Options::new(storage.root().join("registry"), TOKEN);
    options.faults = Faults {
        new_crate_limit: Some(limit),
        new_version_limit: Some(limit),
        ..Faults::default()
    };
    let registry = TestRegistry::start(options).expect("registry starts");
    let shape = Shape {
        label: "12 independent new crates",
        deps: (0..12).map(|_| Vec::new()).collect(),
    };
    let workspace = shape.workspace("ad");
    let home = Fixture::empty();
    let measured = run_convoy(&registry, &workspace, home.root(), 4, &[]);
    let limited: Vec<f64> = registry
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .filter_map(|r| r.received.elapsed().ok())
        .map(|ago| ago.as_secs_f64())
        .collect();
    println!(
        "12 new crates, registry limit {limit} (not declared): publish {} (bucket minimum 140 s), {} answered 429, seconds ago: {limited:.1?}",
        secs(measured.publish),
        measured.rate_limited
    );
}
