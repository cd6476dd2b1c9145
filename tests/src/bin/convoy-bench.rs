//! `convoy-bench`: Convoy's benchmarks, each against the cargo command it is measured by.
//!
//! `convoy-bench plan [--crates N] [--runs R]` generates an N-crate workspace (a layered DAG with
//! path dependencies, workspace inheritance and dev-dependencies, committed to git), then times
//! `cargo metadata --no-deps` and `convoy-plan --out` alternately R times each and prints the
//! medians and their ratio. Run it with `--release`; figures go to BENCHMARKS.md.

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
    match (
        args.first().map(String::as_str),
        number("--crates", 1000),
        number("--runs", 10),
    ) {
        (Some("plan"), Ok(crates), Ok(runs)) if crates > 0 && runs > 0 => {
            bench_plan(crates, runs);
            ExitCode::SUCCESS
        }
        (_, Err(message), _) | (_, _, Err(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        _ => {
            eprintln!("usage: convoy-bench plan [--crates N] [--runs R]");
            ExitCode::from(2)
        }
    }
}

/// A workspace of `count` crates in layers of 20: each crate depends on up to three crates of
/// the layer below (some by `workspace = true`, some by path without a version), and every
/// tenth has a versioned dev-dependency.
fn generate(count: usize) -> Fixture {
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
                    manifest.push_str(&format!(
                        "{} = {{ path = \"../{}\" }}\n",
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
    let fixture = generate(crates);
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
