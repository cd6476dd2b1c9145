//! `convoy-bench`: Convoy's benchmarks, each against the cargo command it is measured by.
//!
//! - `convoy-bench plan [--crates N] [--runs R]` generates an N-crate workspace (a layered DAG
//!   with path dependencies, workspace inheritance and dev-dependencies, committed to git), then
//!   times `cargo metadata --no-deps` and `convoy-plan --out` alternately.
//! - `convoy-bench bundle [--crates N] [--runs R]` generates the same shape with every path
//!   dependency versioned (so cargo itself can package it), then times
//!   `cargo package --workspace --no-verify` in a clean checkout and `convoy-plan --bundle`
//!   alternately, both offline.
//! - `convoy-bench verify [--crates N] [--runs R]` publishes N crates (each depending on the
//!   previous one) into a testkit registry on loopback and times `convoy-verify` of a plan naming
//!   all of them.
//!
//! - `convoy-bench publish [--shapes 93,layers,chain,random] [--latencies 0,0.5,1,2]
//!   [--concurrency 8]` releases twin workspaces with `convoy-publish` and
//!   `cargo publish --workspace` to a registry whose index lags, beside the lower bound
//!   ([`publish`]).
//! - `convoy-bench python [--projects 90] [--latencies 0,0.5,1,2] [--concurrency 8]` releases
//!   N Python projects with `convoy-publish` against `twine upload` and `uv publish` to an index
//!   whose pages lag, beside the lower bound ([`python`]).
//! - `convoy-bench paced [--latency 1]` releases under crates.io's buckets on a scaled clock,
//!   critical path first against name order, and against an undeclared limit.
//!
//! Each prints the medians of R runs (and, against cargo, their ratio). Run with `--release`; figures go to
//! BENCHMARKS.md.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use convoy_tests::{binary, Fixture};

mod publish;
mod python;

/// The value after `flag`, split at commas.
fn list(args: &[String], flag: &str, default: &str) -> Vec<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map_or(default, String::as_str)
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// `--latencies` in seconds (each under a minute).
fn latencies(args: &[String]) -> Option<Vec<f64>> {
    list(args, "--latencies", "0,0.5,1,2")
        .iter()
        .map(|l| l.parse().ok().filter(|l: &f64| (0.0..60.0).contains(l)))
        .collect()
}

/// `--concurrency`, at least 1.
fn concurrency(args: &[String]) -> Option<usize> {
    list(args, "--concurrency", "8")[0]
        .parse()
        .ok()
        .filter(|c| *c > 0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("publish") => {
            let shapes: Option<Vec<publish::Shape>> =
                list(&args, "--shapes", "93,layers,chain,random")
                    .iter()
                    .map(|s| match s.as_str() {
                        "93" => Some(publish::Shape::core_93()),
                        "layers" => Some(publish::Shape::layers_200()),
                        "chain" => Some(publish::Shape::chain(20)),
                        "random" => Some(publish::Shape::random(1000)),
                        _ => None,
                    })
                    .collect();
            let latencies = latencies(&args);
            let concurrency = concurrency(&args);
            return match (shapes, latencies, concurrency) {
                (Some(shapes), Some(latencies), Some(concurrency)) => {
                    publish::bench_publish(&shapes, &latencies, concurrency);
                    ExitCode::SUCCESS
                }
                _ => {
                    eprintln!("usage: convoy-bench publish [--shapes 93,layers,chain,random] [--latencies 0,0.5,1,2] [--concurrency 8]");
                    ExitCode::from(2)
                }
            };
        }
        Some("python") => {
            let count = list(&args, "--projects", "90")[0]
                .parse()
                .ok()
                .filter(|c| (14..=1000).contains(c));
            let latencies = latencies(&args);
            let concurrency = concurrency(&args);
            return match (count, latencies, concurrency) {
                (Some(count), Some(latencies), Some(concurrency)) => {
                    python::bench_python(count, &latencies, concurrency);
                    ExitCode::SUCCESS
                }
                _ => {
                    eprintln!("usage: convoy-bench python [--projects 14..1000 (90)] [--latencies 0,0.5,1,2] [--concurrency 8]");
                    ExitCode::from(2)
                }
            };
        }
        Some("paced") => {
            return match list(&args, "--latency", "1")[0].parse::<f64>() {
                Ok(latency) if (0.0..60.0).contains(&latency) => {
                    publish::bench_paced(latency);
                    ExitCode::SUCCESS
                }
                _ => {
                    eprintln!("usage: convoy-bench paced [--latency SECONDS]");
                    ExitCode::from(2)
                }
            };
        }
        _ => {}
    }
    let number = |flag: &str, default: usize| -> Result<usize, String> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} takes a positive number")),
            None => Ok(default),
        }
    };
    let command = args.first().map(String::as_str);
    let default_crates = if command == Some("bundle") { 100 } else { 1000 };
    match (
        command,
        number("--crates", default_crates),
        number("--runs", 10),
    ) {
        (Some("plan"), Ok(crates), Ok(runs)) if crates > 0 && runs > 0 => {
            bench_plan(crates, runs);
            ExitCode::SUCCESS
        }
        (Some("bundle"), Ok(crates), Ok(runs)) if crates > 0 && runs > 0 => {
            bench_bundle(crates, runs);
            ExitCode::SUCCESS
        }
        (Some("verify"), Ok(crates), Ok(runs)) if crates > 0 && runs > 0 => {
            bench_verify(crates, runs);
            ExitCode::SUCCESS
        }
        (_, Err(message), _) | (_, _, Err(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        _ => {
            eprintln!("usage: convoy-bench plan|bundle|verify [--crates N] [--runs R] | publish … | paced …");
            ExitCode::from(2)
        }
    }
}

/// A workspace of `count` crates in layers of 20: each crate depends on up to three crates of
/// the layer below (two by `workspace = true`, one by path — without a version unless
/// `all_versioned`), and every tenth has a versioned dev-dependency.
fn generate(count: usize, all_versioned: bool) -> Fixture {
    let fixture = Fixture::empty();
    let name = |i: usize| format!("bench-crate-{i:04}");
    let mut root = String::from(
        "[workspace]\nresolver = \"2\"\nmembers = [\"crates/*\"]\n\n[workspace.package]\n\
         version = \"1.0.0\"\nedition = \"2021\"\nlicense = \"MIT\"\n\n[workspace.dependencies]\n",
    );
    for i in 0..count {
        root.push_str(&format!(
            "{} = {{ path = \"crates/{}\", version = \"1.0.0\" }}\n",
            name(i),
            name(i)
        ));
    }
    fixture.write("Cargo.toml", &root);
    for i in 0..count {
        let layer = i / 20;
        let mut manifest = format!(
            "[package]\nname = \"{}\"\ndescription = \"Benchmark crate {i}.\"\nversion.workspace = true\n\
             edition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n",
            name(i)
        );
        if layer > 0 {
            for step in 0..3 {
                let dep = (layer - 1) * 20 + (i * 7 + step * 11) % 20;
                if dep >= count {
                    continue;
                }
                if step == 2 {
                    let version = if all_versioned {
                        ", version = \"1\""
                    } else {
                        ""
                    };
                    manifest.push_str(&format!(
                        "{} = {{ path = \"../{}\"{version} }}\n",
                        name(dep),
                        name(dep)
                    ));
                } else {
                    manifest.push_str(&format!("{}.workspace = true\n", name(dep)));
                }
            }
            if i % 10 == 0 {
                let dev = (layer - 1) * 20;
                manifest.push_str(&format!("\n[dev-dependencies]\n{}-dev = {{ package = \"{}\", path = \"../{}\", version = \"1\" }}\n", name(dev), name(dev), name(dev)));
            }
        }
        fixture.write(&format!("crates/{}/Cargo.toml", name(i)), &manifest);
        fixture.write(&format!("crates/{}/src/lib.rs", name(i)), "");
    }
    fixture.write(".gitignore", "/target\n/plan.json\n");
    fixture.commit();
    fixture
}

fn time(command: &mut Command) -> Duration {
    let start = Instant::now();
    let output = command.output().expect("benchmark command runs");
    let elapsed = start.elapsed();
    // Exit 1 means the plan has error diagnostics, which is still a complete plan.
    assert!(
        output.status.code().is_some_and(|c| c == 0 || c == 1),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn bench_plan(crates: usize, runs: usize) {
    let planner = binary("convoy-plan");
    eprintln!("generating a {crates}-crate workspace…");
    let fixture = generate(crates, false);
    let root = fixture.root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = || {
        let mut command = Command::new(&cargo);
        command
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(root);
        command
    };
    let plan = || {
        let mut command = Command::new(&planner);
        command.args(["--out", "plan.json"]).current_dir(root);
        command
    };
    // One warm-up run each fills the OS caches.
    time(&mut metadata());
    time(&mut plan());
    let (mut cargo_samples, mut plan_samples) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        cargo_samples.push(time(&mut metadata()));
        plan_samples.push(time(&mut plan()));
    }
    let (cargo_median, plan_median) = (median(cargo_samples), median(plan_samples));
    report(root, crates, runs, cargo_median, plan_median);
}

fn bench_bundle(crates: usize, runs: usize) {
    let planner = binary("convoy-plan");
    eprintln!("generating a {crates}-crate workspace…");
    let fixture = generate(crates, true);
    let root = fixture.root();
    let clean = Fixture::empty();
    let checkout = clean.root().join("checkout");
    convoy_tests::git(
        clean.root(),
        &[
            "clone",
            "--quiet",
            root.to_str().expect("utf-8 path"),
            checkout.to_str().expect("utf-8 path"),
        ],
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let bundle_dir = clean.root().join("bundle");
    // A release job packages in a fresh checkout: cargo's target directory starts empty, as
    // Convoy's staging area does. Removing it happens outside the timed region.
    let fresh_target = || {
        let _ = std::fs::remove_dir_all(checkout.join("target"));
    };
    let package = || {
        let mut command = Command::new(&cargo);
        command
            .args(["package", "--workspace", "--no-verify", "--quiet"])
            .env("CARGO_NET_OFFLINE", "true")
            .current_dir(&checkout);
        command
    };
    let plan = || {
        let mut command = Command::new(&planner);
        command
            .arg("--bundle")
            .arg(&bundle_dir)
            .env("CARGO_NET_OFFLINE", "true")
            .current_dir(root);
        command
    };
    fresh_target();
    time(&mut package());
    time(&mut plan());
    let (mut cargo_samples, mut plan_samples) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        fresh_target();
        cargo_samples.push(time(&mut package()));
        plan_samples.push(time(&mut plan()));
    }
    let (cargo_median, plan_median) = (median(cargo_samples), median(plan_samples));
    let crate_files = std::fs::read_dir(&bundle_dir)
        .map(|entries| {
            entries
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "crate"))
                })
                .count()
        })
        .unwrap_or(0);
    println!("workspace: {crates} crates, {crate_files} packaged; {runs} runs each, medians:");
    println!(
        "  cargo package --workspace --no-verify (fresh target)  {:>8.1} ms",
        cargo_median.as_secs_f64() * 1e3
    );
    println!(
        "  convoy-plan --bundle                                  {:>8.1} ms",
        plan_median.as_secs_f64() * 1e3
    );
    println!(
        "  ratio                                                 {:>8.2}x",
        plan_median.as_secs_f64() / cargo_median.as_secs_f64()
    );
}

/// A sealed plan publishing `count` crates to `index`, each depending on the previous one, with
/// the bytes each artifact stands for.
fn verify_plan(count: usize, index: &str) -> (convoy_schema::Plan, Vec<Vec<u8>>) {
    use convoy_schema::plan::*;
    use convoy_schema::snapshot::RegistryTarget;
    let name = |i: usize| format!("bench-verify-{i:04}");
    let mut packages = Vec::with_capacity(count);
    let mut bytes = Vec::with_capacity(count);
    for i in 0..count {
        let content = format!("crate {i}").into_bytes();
        let deps = if i == 0 {
            vec![]
        } else {
            vec![PublishDependency {
                optional: false,
                default_features: true,
                name: name(i - 1),
                features: vec![],
                version_req: "^1.0.0".into(),
                target: None,
                kind: DependencyKind::Normal,
                registry: None,
                explicit_name_in_toml: None,
            }]
        };
        packages.push(Package {
            name: name(i),
            ecosystem: Default::default(),
            version: semver::Version::new(1, 0, 0),
            manifest_path: format!("{}/Cargo.toml", name(i)),
            action: Action::Publish,
            reason: "new".into(),
            wave: Some(i as u32),
            dependencies: vec![],
            manifest: ManifestPlan {
                edits: vec![],
                published: String::new(),
            },
            artifact: Some(Artifact {
                file: format!("{}-1.0.0.crate", name(i)),
                size: content.len() as u64,
                sha256: convoy_schema::digest::sha256_hex(&content),
                lockfile: None,
                packaged_against: Default::default(),
                files: vec![],
            }),
            publish_metadata: Some(PublishMetadata {
                deps,
                ..PublishMetadata::new(name(i), "1.0.0")
            }),
            release: None,
            python: None,
        });
        bytes.push(content);
    }
    let mut plan = convoy_schema::Plan {
        format_version: PLAN_FORMAT_VERSION,
        digest: String::new(),
        inputs: Inputs::new("cargo"),
        registry: RegistryTarget {
            name: None,
            index: index.to_owned(),
        },
        python: None,
        packaging: Some(Packaging {
            cargo_version: "cargo".into(),
            source: PackagingSource::Copy,
            edits_applied: false,
            build_verified: false,
            reproducibility_checked: false,
        }),
        waves: packages.iter().map(|p| vec![p.name.clone()]).collect(),
        packages,
        diagnostics: vec![],
        lockfile_edits: vec![],
    };
    plan.seal();
    (plan, bytes)
}

fn bench_verify(crates: usize, runs: usize) {
    let verifier = binary("convoy-verify");
    let storage = Fixture::empty();
    let registry = convoy_testkit::TestRegistry::start(convoy_testkit::Options::new(
        storage.root().join("registry"),
        "t",
    ))
    .expect("registry starts");
    eprintln!("publishing {crates} crates into the test registry…");
    let (plan, bytes) = verify_plan(crates, &registry.index_url());
    for (package, content) in plan.packages.iter().zip(&bytes) {
        let metadata = convoy_registry::body::metadata_json(
            package.publish_metadata.as_ref().expect("metadata"),
        );
        registry
            .store()
            .publish(&metadata, content)
            .expect("stored");
    }
    let plan_file = storage.root().join("plan.json");
    std::fs::write(&plan_file, plan.to_pretty_json()).expect("plan written");
    let verify = || {
        let mut command = Command::new(&verifier);
        command.arg(&plan_file).args(["--format", "json"]);
        command
    };
    let first = verify().output().expect("convoy-verify runs");
    let report =
        convoy_schema::report::VerifyReport::from_json(&String::from_utf8_lossy(&first.stdout))
            .expect("a report");
    assert!(
        first.status.success() && report.packages.len() == crates && report.findings.is_empty(),
        "the benchmark must measure a clean verification"
    );
    let samples: Vec<Duration> = (0..runs).map(|_| time(&mut verify())).collect();
    let median = median(samples);
    println!(
        "verify {crates} packages on loopback; {runs} runs, median: {:.1} ms",
        median.as_secs_f64() * 1e3
    );
}

fn report(root: &Path, crates: usize, runs: usize, cargo: Duration, plan: Duration) {
    let waves = std::fs::read_to_string(root.join("plan.json"))
        .ok()
        .and_then(|text| convoy_schema::Plan::from_json(&text).ok())
        .map_or(0, |plan| plan.waves.len());
    println!("workspace: {crates} crates, {waves} waves; {runs} runs each, medians:");
    println!(
        "  cargo metadata --no-deps  {:>8.1} ms",
        cargo.as_secs_f64() * 1e3
    );
    println!(
        "  convoy-plan --out         {:>8.1} ms",
        plan.as_secs_f64() * 1e3
    );
    println!(
        "  ratio                     {:>8.2}x",
        plan.as_secs_f64() / cargo.as_secs_f64()
    );
}
