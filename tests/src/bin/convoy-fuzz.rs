//! `convoy-fuzz`: long, time-boxed property runs over everything Convoy parses from outside, on
//! the stable toolchain (proptest's generators and shrinking-free runner, not the default case
//! count). A benchmark-style command, not a CI test: figures go to RELIABILITY.md.
//!
//! ```text
//! convoy-fuzz [--seconds S] [TARGET …]     default: every target, 600 s each
//! ```
//!
//! Targets: `plan`, `snapshot`, `index`, `config`, `publish-response`, `retry-after`, `manifest`,
//! `url`. Each input is a valid seed document with random byte mutations, or random text; each
//! target asserts no panic (caught and counted), and the run reports inputs tried, panics, the
//! largest input and the process's peak resident memory, so an allocation that grows with a
//! number inside the input (not with its size) shows.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use convoy_registry::auth::checked_url;
use convoy_registry::config::RegistryConfig;
use convoy_registry::error::{classify_response, parse_date, retry_time};
use convoy_registry::index::parse_index_file;
use convoy_schema::plan::Plan;
use convoy_schema::snapshot::RegistrySnapshot;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

const TARGETS: [&str; 8] = [
    "plan",
    "snapshot",
    "index",
    "config",
    "publish-response",
    "retry-after",
    "manifest",
    "url",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = 600u64;
    let mut targets = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--seconds" => match iter.next().and_then(|v| v.parse().ok()) {
                Some(s) => seconds = s,
                None => return usage("--seconds takes a number"),
            },
            target if TARGETS.contains(&target) => targets.push(target.to_owned()),
            other => return usage(&format!("unknown target `{other}`")),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    // Panics are counted, not printed one by one.
    std::panic::set_hook(Box::new(|_| {}));
    let seeds = Seeds::new();
    println!("| target | seconds | inputs | panics | largest input | peak RSS |");
    println!("|---|---|---|---|---|---|");
    let mut failed = false;
    for target in &targets {
        let result = fuzz(target, &seeds, Duration::from_secs(seconds));
        println!(
            "| `{target}` | {seconds} | {} | {} | {} B | {} MiB |",
            result.inputs,
            result.panics,
            result.largest,
            peak_rss_mib()
        );
        if let Some(example) = &result.first_panic {
            eprintln!("{target}: first panicking input: {example:?}");
        }
        failed |= result.panics > 0;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!(
        "error: {message}\nusage: convoy-fuzz [--seconds S] [{}]",
        TARGETS.join("|")
    );
    ExitCode::from(2)
}

/// Valid documents of each kind, to mutate.
struct Seeds {
    plan: String,
    snapshot: String,
    index: String,
    config: String,
    manifest: String,
    root: String,
    url: String,
}

impl Seeds {
    fn new() -> Self {
        let member = "[package]\nname = \"fz-b\"\nversion.workspace = true\nedition = \"2021\"\n\
             description = \"b\"\nlicense = \"MIT\"\n\n[dependencies]\nfz-a = { path = \"../a\", features = [\"x\"] }\n\
             serde = { workspace = true, optional = true }\n\n[target.'cfg(unix)'.dev-dependencies]\nfz-a = { workspace = true }\n";
        let root = "[workspace]\nmembers = [\"a\", \"b\"]\n\n[workspace.package]\nversion = \"1.2.3\"\n\n\
             [workspace.dependencies]\nfz-a = { path = \"a\", version = \"1.2.3\" }\nserde = \"1\"\n";
        let fixture = convoy_tests::Fixture::new(
            &[
                ("a", convoy_tests::manifest("fz-a", "1.2.3", "")),
                (
                    "b",
                    convoy_tests::manifest(
                        "fz-b",
                        "1.2.3",
                        "[dependencies]\nfz-a = { path = \"../a\", version = \"1\" }\n",
                    ),
                ),
            ],
            "",
        );
        let plan = fixture.plan();
        let snapshot = r#"{"format_version":"1.0","registry":{"name":"crates-io","index":"sparse+https://index.crates.io/"},"crates":{"fz-a":{"versions":[{"version":"1.2.3","cksum":"00","yanked":false}]}}}"#;
        Self {
            plan: plan.to_pretty_json(),
            snapshot: snapshot.to_owned(),
            index: concat!(
                r#"{"name":"fz-a","vers":"1.2.3","deps":[{"name":"serde","req":"^1","features":["derive"],"optional":true,"default_features":true,"target":null,"kind":"normal","package":"serde_real"}],"cksum":"aa","features":{"x":["serde?/std"]},"features2":{"y":["dep:serde"]},"yanked":false,"links":null,"v":2,"rust_version":"1.70"}"#,
                "\n",
                r#"{"name":"fz-a","vers":"1.2.4-rc.1+build","deps":[],"cksum":"bb","features":{},"yanked":true}"#,
                "\n"
            )
            .to_owned(),
            config: r#"{"dl":"https://dl/{prefix}/{lowerprefix}/{crate}/{version}/{sha256-checksum}","api":"https://api.example","auth-required":true}"#.to_owned(),
            manifest: member.to_owned(),
            root: root.to_owned(),
            url: "sparse+http://127.0.0.1:8080/index/".to_owned(),
        }
    }
}

/// A seed with up to 16 random edits (replace, insert, delete a byte), or random text.
fn mutated(seed: String) -> impl Strategy<Value = String> {
    let edits = prop::collection::vec(
        (any::<u8>(), any::<prop::sample::Index>(), any::<u8>()),
        0..16,
    );
    prop_oneof![
        4 => edits.prop_map(move |edits| {
            let mut bytes = seed.clone().into_bytes();
            for (op, at, byte) in edits {
                let i = at.index(bytes.len().max(1));
                match op % 3 {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i.min(bytes.len()), byte),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => {}
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }),
        1 => "\\PC{0,512}",
        1 => "[0-9a-zA-Z:/.@\\\\%\\[\\]{}\",#?+ -]{0,128}",
    ]
}

#[derive(Default)]
struct Fuzzed {
    inputs: u64,
    panics: u64,
    largest: usize,
    first_panic: Option<String>,
}

fn fuzz(target: &str, seeds: &Seeds, budget: Duration) -> Fuzzed {
    let seed = match target {
        "plan" => seeds.plan.clone(),
        "snapshot" => seeds.snapshot.clone(),
        "index" => seeds.index.clone(),
        "config" => seeds.config.clone(),
        "manifest" => seeds.manifest.clone(),
        "url" => seeds.url.clone(),
        "publish-response" => {
            r#"{"errors":[{"detail":"crate version `x` is already uploaded"}]}"#.to_owned()
        }
        _ => "Sat, 21 Nov 2026 14:00:00 GMT".to_owned(),
    };
    let strategy = (mutated(seed), any::<u16>(), mutated(seeds.root.clone()));
    let mut runner = TestRunner::deterministic();
    let started = Instant::now();
    let now = UNIX_EPOCH + Duration::from_secs(1_795_269_600);
    let mut result = Fuzzed::default();
    while started.elapsed() < budget {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let (text, number, root) = tree.current();
        result.inputs += 1;
        result.largest = result.largest.max(text.len());
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            exercise(target, &text, number, &root, now)
        }));
        if outcome.is_err() {
            result.panics += 1;
            result.first_panic.get_or_insert(text);
        }
    }
    result
}

/// Feeds one input to one target; panics only on a defect.
fn exercise(target: &str, text: &str, number: u16, root: &str, now: SystemTime) {
    match target {
        "plan" => {
            if let Ok(plan) = Plan::from_json(text) {
                let _ = plan.inconsistency();
                let _ = plan.compute_digest();
            }
        }
        "snapshot" => {
            let _ = RegistrySnapshot::from_json(text);
        }
        "index" => {
            let _ = convoy_registry::index::index_path(root);
            if let Ok(entries) = parse_index_file(text) {
                for entry in entries {
                    let _ = entry.all_features();
                }
            }
        }
        "config" => {
            if let Ok(config) = serde_json::from_str::<RegistryConfig>(text) {
                // Names and versions come from a plan, which may be hostile too.
                for name in ["fz-a", root] {
                    let url = config.download_url(name, root, "ab");
                    let _ = checked_url(&url, false);
                }
            }
        }
        "publish-response" => {
            let _ = classify_response(number, Some(root), text, now);
        }
        "retry-after" => {
            let _ = parse_date(text);
            let _ = retry_time(Some(text), text, now);
            let _ = retry_time(None, &format!("Please try again after {text}"), now);
        }
        "manifest" => {
            if let Ok(root) = convoy_planner::manifest::parse(root) {
                let _ = convoy_planner::manifest::published_manifest(
                    text,
                    "b",
                    &root,
                    &BTreeMap::new(),
                );
            }
        }
        _ => {
            for allow_http in [false, true] {
                if let Ok(url) = checked_url(text, allow_http) {
                    // What was judged is what a client would connect to.
                    let again =
                        checked_url(url.as_str(), allow_http).expect("a checked URL stays valid");
                    assert_eq!(again.host(), url.host());
                    if !allow_http && url.scheme() == "http" {
                        assert!(convoy_registry::auth::is_loopback(&url), "{url}");
                    }
                }
            }
        }
    }
}

/// The process's peak resident memory (`VmHWM`), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}
