//! `convoy-bench`: Convoy's benchmarks, each against the cargo command it is measured by.
//!
//! - `convoy-bench plan [--crates N] [--runs R]` generates an N-crate workspace (a layered DAG
//!   with path dependencies, workspace inheritance and dev-dependencies, committed to git), then
//!   times `cargo metadata --no-deps` and `convoy-plan --out` alternately.
//! - `convoy-bench bundle [--crates N] [--runs R]` generates the same shape with every path
//!   dependency versioned (so cargo itself can package it), then times
//!   `cargo package --workspace --no-verify` in a clean checkout and `convoy-plan --bundle`
//!   alternately, both offline.
//!
//! Each prints the medians of R runs and their ratio. Run with `--release`; figures go to
//! BENCHMARKS.md.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use convoy_tests::{binary, Fixture};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
        (_, Err(message), _) | (_, _, Err(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        _ => {
            eprintln!("usage: convoy-bench plan|bundle [--crates N] [--runs R]");
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
