//! `convoy-bench python`: a release of N Python projects to an index whose pages lag, by
//! `convoy-publish` against the tools a release script uses instead — `twine upload` project by
//! project in dependency order, and one `uv publish` of every file — beside the lower bound.
//!
//! The repository: N hatchling projects (1 core, 12 requiring it, an app requiring three of
//! those, the rest independent: three levels; `python_only` of the tests), committed; `convoy-plan --bundle` builds them
//! once, and every tool uploads those same files. Each run gets a fresh testkit index on the
//! same port (the plan names the index) with `--index-delay L`. twine and uv do not wait for
//! anything, so a dependent can be served before what it requires; their figures are "all
//! uploaded" and "all served", the second measured by polling every project's page every 20 ms
//! from the start, which is the least a script could wait (not a `sleep`). Convoy's figure is
//! everything served with its sha256, each project uploaded only once its requirements are
//! served. The lower bound in order: the longest requirement chain × (L + one project's
//! upload), or every project's upload through the concurrency limit, whichever is longer; the
//! unordered bound, what a tool that does not wait could reach: every upload through the
//! limit, then L. One project's upload (sdist and wheel) is the median over the bundle's
//! projects on a fresh index.
//!
//! twine and uv come pinned from PyPI into a virtual environment under the tools directory
//! (`$CONVOY_TOOLS`, default `/opt/convoy`), made once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use convoy_registry::python::{Login, PythonIndex};
use convoy_registry::Freshness;
use convoy_schema::plan::{Ecosystem, Plan};
use convoy_testkit::{Faults, Options, TestRegistry};
use convoy_tests::python::{ensure_build_tool, python_only};
use convoy_tests::{binary, Fixture};

use crate::publish::{secs, timed};

const TOKEN: &str = "bench-cargo-token-5a6b";
const PYPI_TOKEN: &str = "pypi-bench-python-token-7c8d";
const TWINE: &str = "twine==7.0.0";
const UV: &str = "uv==0.13.9";

/// Each project's requirements, by index (all earlier): three levels.
fn shape(count: usize) -> Vec<Vec<usize>> {
    let mut deps: Vec<Vec<usize>> = vec![Vec::new()];
    deps.extend((1..13.min(count)).map(|_| vec![0]));
    if count > 13 {
        deps.push(vec![1, 2, 3]);
    }
    deps.extend((deps.len()..count).map(|_| Vec::new()));
    deps
}

fn depth(deps: &[Vec<usize>]) -> usize {
    let mut depth = vec![1usize; deps.len()];
    for (i, d) in deps.iter().enumerate() {
        depth[i] = 1 + d.iter().map(|d| depth[*d]).max().unwrap_or(0);
    }
    depth.into_iter().max().unwrap_or(0)
}

fn name(i: usize) -> String {
    format!("bench-py-{i:03}")
}

fn repository(deps: &[Vec<usize>]) -> Fixture {
    let names: Vec<String> = (0..deps.len()).map(name).collect();
    let requirements: Vec<Vec<&str>> = deps
        .iter()
        .map(|d| d.iter().map(|i| names[*i].as_str()).collect())
        .collect();
    let projects: Vec<(&str, &str, &[&str])> = names
        .iter()
        .zip(&requirements)
        .map(|(name, requires)| (name.as_str(), "hatchling", requires.as_slice()))
        .collect();
    python_only(&projects)
}

/// The virtual environment with twine and uv, made once.
fn upload_tools() -> PathBuf {
    let tools = std::env::var_os("CONVOY_TOOLS")
        .map_or_else(|| PathBuf::from("/opt/convoy"), PathBuf::from);
    let venv = tools.join(format!("upload-tools-{TWINE}-{UV}").replace("==", "-"));
    if !venv.join(".installed").is_file() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        assert!(
            made.is_ok_and(|s| s.success()),
            "python3 -m venv {}",
            venv.display()
        );
        let installed = Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                TWINE,
                UV,
            ])
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "pip install {TWINE} {UV}"
        );
        std::fs::write(venv.join(".installed"), "").expect("stamp");
    }
    venv.join("bin")
}

/// A free port on loopback, for every index of the run (the plan names it).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn index(storage: &Path, port: u16, latency: Duration) -> TestRegistry {
    let dir = tempfile::Builder::new()
        .prefix("index-")
        .tempdir_in(storage)
        .expect("index directory")
        .keep();
    let mut options = Options::new(dir, TOKEN);
    options.port = port;
    options.python_token = Some(PYPI_TOKEN.to_owned());
    options.faults = Faults {
        index_delay: latency,
        ..Faults::default()
    };
    // The port of the previous index may take a moment to be free again.
    for _ in 0..50 {
        if let Ok(registry) = TestRegistry::start(options.clone()) {
            return registry;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("cannot listen on 127.0.0.1:{port}");
}

/// The bundle's files of each project, in wave order: (project, file paths).
fn files(plan: &Plan, bundle: &Path) -> Vec<(String, Vec<PathBuf>)> {
    plan.waves
        .iter()
        .flatten()
        .filter_map(|key| plan.package(key))
        .filter(|p| p.ecosystem == Ecosystem::Python)
        .map(|p| {
            let files = p.python.as_ref().map_or_else(Vec::new, |py| {
                py.files.iter().map(|f| bundle.join(&f.filename)).collect()
            });
            (p.name.clone(), files)
        })
        .collect()
}

/// Waits until every project's page lists all its files; how long since `start`.
fn served(
    registry: &TestRegistry,
    projects: &[(String, Vec<PathBuf>)],
    start: Instant,
) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = PythonIndex::new(&registry.python_index_url(), None, true).expect("client");
        let mut waiting: Vec<&(String, Vec<PathBuf>)> = projects.iter().collect();
        let deadline = start + Duration::from_secs(600);
        while !waiting.is_empty() {
            assert!(Instant::now() < deadline, "files never served");
            let mut still = Vec::new();
            for project in waiting {
                let listed = client
                    .project(&project.0, Freshness::Fresh)
                    .await
                    .ok()
                    .flatten()
                    .map_or(0, |links| links.len());
                if listed < project.1.len() {
                    still.push(project);
                }
            }
            waiting = still;
            if !waiting.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        start.elapsed()
    })
}

/// The median time to upload one project's files (sequentially) to a fresh index.
fn project_upload_time(
    storage: &Path,
    plan: &Plan,
    bundle: &Path,
    projects: &[(String, Vec<PathBuf>)],
) -> Duration {
    let registry = index(storage, free_port(), Duration::ZERO);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut samples = runtime.block_on(async {
        let client = PythonIndex::new(
            &registry.python_index_url(),
            Some(&registry.python_upload_url()),
            true,
        )
        .expect("client");
        let login = Login::token(convoy_registry::auth::Token::new(PYPI_TOKEN.into()));
        let mut samples = Vec::new();
        for (name, _) in projects {
            let Some(python) = plan
                .package(&format!("python:{name}"))
                .and_then(|p| p.python.as_ref())
            else {
                continue;
            };
            let Some(metadata) = &python.metadata else {
                continue;
            };
            let start = Instant::now();
            for file in &python.files {
                let bytes = std::fs::read(bundle.join(&file.filename)).expect("bundle file");
                client
                    .upload(&login, file, &bytes, metadata)
                    .await
                    .expect("probe upload");
            }
            samples.push(start.elapsed());
        }
        samples
    });
    samples.sort();
    samples[samples.len() / 2]
}

/// One uploader's figures: all uploaded, all served.
struct Uploaded {
    uploaded: Duration,
    served: Duration,
}

fn twine(tools: &Path, registry: &TestRegistry, projects: &[(String, Vec<PathBuf>)]) -> Uploaded {
    let start = Instant::now();
    for (_, files) in projects {
        timed(
            Command::new(tools.join("twine"))
                .args(["upload", "--non-interactive", "--disable-progress-bar"])
                .arg("--repository-url")
                .arg(registry.python_upload_url())
                .env("TWINE_USERNAME", "__token__")
                .env("TWINE_PASSWORD", PYPI_TOKEN)
                .args(files),
        );
    }
    let uploaded = start.elapsed();
    Uploaded {
        uploaded,
        served: served(registry, projects, start),
    }
}

fn uv(tools: &Path, registry: &TestRegistry, projects: &[(String, Vec<PathBuf>)]) -> Uploaded {
    let start = Instant::now();
    timed(
        Command::new(tools.join("uv"))
            .args(["publish", "--no-progress", "--publish-url"])
            .arg(registry.python_upload_url())
            .env("UV_PUBLISH_TOKEN", PYPI_TOKEN)
            .env("UV_NO_CACHE", "1")
            .args(projects.iter().flat_map(|(_, files)| files)),
    );
    let uploaded = start.elapsed();
    Uploaded {
        uploaded,
        served: served(registry, projects, start),
    }
}

/// Runs the benchmark and prints its table.
pub fn bench_python(count: usize, latencies: &[f64], concurrency: usize) {
    ensure_build_tool();
    let tools = upload_tools();
    let deps = shape(count);
    let fixture = repository(&deps);
    let storage = Fixture::empty();
    let port = free_port();
    let bundle = storage.root().join("bundle");
    let planning = {
        let registry = index(storage.root(), port, Duration::ZERO);
        let took = timed(
            Command::new(binary("convoy-plan"))
                .arg("--root")
                .arg(fixture.root())
                .arg("--python-index")
                .arg(registry.python_index_url())
                .arg("--bundle")
                .arg(&bundle),
        );
        drop(registry);
        took
    };
    let plan = Plan::from_json(&std::fs::read_to_string(bundle.join("plan.json")).expect("plan"))
        .expect("a plan");
    let projects = files(&plan, &bundle);
    let one = project_upload_time(storage.root(), &plan, &bundle, &projects);
    let levels = depth(&deps);
    println!(
        "{count} projects ({levels} levels), built once by convoy-plan --bundle in {}; one project's upload {:.1} ms",
        secs(planning),
        one.as_secs_f64() * 1000.0
    );
    println!("| L | lower bound, in order | lower bound, unordered | convoy-publish | twine upload per project: uploaded / served | uv publish: uploaded / served | convoy / bound in order | convoy / twine served | convoy / uv served |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &latency in latencies {
        let l = Duration::from_secs_f64(latency);
        let bound = (l + one) * levels as u32;
        let through = one * count as u32 / concurrency as u32;
        let bound = bound.max(through);
        // Without the ordering guarantee: every upload through the limit, then one delay.
        let unordered = through + l;

        let registry = index(storage.root(), port, l);
        let convoy = timed(
            Command::new(binary("convoy-publish"))
                .arg(bundle.join("plan.json"))
                .env("UV_PUBLISH_TOKEN", PYPI_TOKEN)
                .arg("--python-index")
                .arg(registry.python_index_url())
                .arg("--python-upload")
                .arg(registry.python_upload_url())
                .arg("--concurrency")
                .arg(concurrency.to_string()),
        );
        drop(registry);
        let registry = index(storage.root(), port, l);
        let twine = twine(&tools, &registry, &projects);
        drop(registry);
        let registry = index(storage.root(), port, l);
        let uv = uv(&tools, &registry, &projects);
        drop(registry);
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        println!(
            "| {latency} s | {} | {} | {} | {} / {} | {} / {} | {:.2}× | {:.2}× | {:.2}× |",
            secs(bound),
            secs(unordered),
            secs(convoy),
            secs(twine.uploaded),
            secs(twine.served),
            secs(uv.uploaded),
            secs(uv.served),
            ratio(convoy, bound),
            ratio(convoy, twine.served),
            ratio(convoy, uv.served),
        );
    }
}
