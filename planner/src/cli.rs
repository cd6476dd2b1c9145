//! The `convoy-plan` command line: arguments in, plan and renderings out, errors mapped to exit
//! codes in one place.

// An IO edge: planner/clippy.toml forbids these calls everywhere else in the planner.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use convoy_schema::exit;
use convoy_schema::plan::{Plan, ReleaseRequest, Selection};

use crate::discover::{self, DiscoverRequest};
use crate::error::PlanError;
use crate::model::GitState;
use crate::package::{self, PackageOptions};
use crate::{bundle, planning, python, render};
use convoy_package::PackageError;
use convoy_registry::resolve::RegistryChoice;

/// Plan a release of a Cargo workspace: waves, manifests, versions and preflight checks, as a
/// deterministic JSON plan. Never writes to the workspace and needs no token.
#[derive(Debug, Parser)]
#[command(name = "convoy-plan", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    plan: PlanArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render an existing plan file (after checking its format version and digest).
    Show(ShowArgs),
    /// Write a plan's source edits (versions, requirements, Cargo.lock, changelog sections)
    /// into the tree, for the release pull request. Refuses if the tree changed since the plan.
    Apply(ApplyArgs),
    /// After a verified release, create the annotated tags the plan names at the plan's commit.
    Tag(TagArgs),
    /// What NEW changes in the release OLD describes (for a pull request: the base branch's plan
    /// against the pull request's): packages that start or stop being published, versions, other
    /// bytes under the same version, the target registry, diagnostics that appear or go away.
    /// Exits 0 whether or not anything changed.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The plan to compare from (the base branch's).
    old: PathBuf,
    /// The plan to compare to (the pull request's).
    new: PathBuf,
    /// Output form: Markdown (for a pull-request comment) or JSON.
    #[arg(long, value_enum, default_value_t = DiffFormat::Markdown)]
    format: DiffFormat,
}

/// Output forms of a plan diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    /// For a pull-request comment (and a terminal).
    Markdown,
    /// For scripts.
    Json,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// The plan file.
    plan: PathBuf,
    /// Path to the workspace's Cargo.toml.
    #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
    manifest_path: PathBuf,
    /// The repository's top directory, for a plan of a repository without a Cargo workspace.
    #[arg(long, value_name = "DIR", conflicts_with = "manifest_path")]
    root: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct TagArgs {
    /// The plan file.
    plan: PathBuf,
    /// Path to the workspace's Cargo.toml (the tags go to its repository).
    #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
    manifest_path: PathBuf,
    /// The repository's top directory, for a plan of a repository without a Cargo workspace.
    #[arg(long, value_name = "DIR", conflicts_with = "manifest_path")]
    root: Option<PathBuf>,
    /// Push the tags to the remote (`--remote`, default origin).
    #[arg(long)]
    push: bool,
    /// The remote to push to.
    #[arg(long, value_name = "NAME", default_value = "origin", requires = "push")]
    remote: String,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The plan file.
    plan: PathBuf,
    /// Output form.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// Path to the workspace's Cargo.toml.
    #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
    manifest_path: PathBuf,
    /// The repository's top directory, for a repository without a Cargo workspace (its Python
    /// projects are planned); with a Cargo.toml there it is --manifest-path DIR/Cargo.toml.
    #[arg(long, value_name = "DIR", conflicts_with = "manifest_path")]
    root: Option<PathBuf>,
    /// Plan only these packages (repeatable). `NAME=LEVEL` (or `NAME=VERSION`) releases NAME at
    /// that level without restricting the selection.
    #[arg(short = 'p', long = "package", value_name = "NAME[=LEVEL]")]
    packages: Vec<String>,
    /// Raise the version of every selected package: major, minor, patch, prerelease[=ID],
    /// release (drop the pre-release), or auto (from Conventional Commits since the last tag).
    /// 0.x versions follow Cargo's compatibility rules.
    #[arg(long, value_name = "LEVEL", conflicts_with = "set_version")]
    bump: Option<String>,
    /// Set the version of every selected package.
    #[arg(long, value_name = "VERSION")]
    set_version: Option<semver::Version>,
    /// Select every publishable package, changed since its last release tag or not.
    #[arg(long)]
    all: bool,
    /// Leave these packages out (repeatable).
    #[arg(long, value_name = "NAME")]
    exclude: Vec<String>,
    /// The target registry (default: cargo's `registry.default`, else crates-io); naming one
    /// reads its live index, unless --registry-state is given.
    #[command(flatten)]
    target: convoy_cli::RegistryArgs,
    /// The Python index's simple API base the repository's Python projects are published to
    /// (default: PyPI's, https://pypi.org/simple/); naming it reads what it serves for them.
    #[arg(long, value_name = "URL")]
    python_index: Option<String>,
    /// What the registry holds, as a registry snapshot file; versions present there are skipped.
    #[arg(long, value_name = "FILE")]
    registry_state: Option<PathBuf>,
    /// Write the plan JSON here (default: to stdout, unless --format is given).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print this form on stdout instead of the plan JSON.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Package every crate to publish into DIR (`<name>-<version>.crate`) and record the
    /// artifacts in the plan, written to DIR/plan.json unless --out says otherwise.
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// With --bundle: build each packaged crate against the staged siblings before writing the plan.
    #[arg(long, requires = "bundle")]
    verify_build: bool,
    /// With --bundle: package twice in different directories and fail if any byte differs.
    #[arg(long, requires = "bundle")]
    check_reproducible: bool,
    /// With --bundle: package the last commit even though the tree has uncommitted changes.
    #[arg(long, requires = "bundle")]
    allow_dirty: bool,
}

/// Output forms of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For a terminal.
    Human,
    /// For a pull-request comment.
    Markdown,
    /// The plan file itself.
    Json,
}

/// Runs `convoy-plan` with the process arguments; returns the exit code.
pub fn main() -> i32 {
    convoy_cli::init_logging();
    let cli: Cli = match convoy_cli::parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = match cli.command {
        Some(Command::Show(args)) => show(&args),
        Some(Command::Apply(args)) => apply(&args),
        Some(Command::Tag(args)) => tag(&args),
        Some(Command::Diff(args)) => diff(&args),
        None => plan(&cli.plan),
    };
    match result {
        Ok(code) => code,
        Err(error) => convoy_cli::report(&error),
    }
}

fn plan(args: &PlanArgs) -> Result<i32, PlanError> {
    let registry = args.target.choice().unwrap_or(RegistryChoice::Default);
    let request = DiscoverRequest {
        manifest_path: args.manifest_path.clone(),
        root: args.root.clone(),
        registry,
        registry_state: args.registry_state.clone(),
        selection: Selection {
            packages: args
                .packages
                .iter()
                .filter(|p| !p.contains('='))
                .cloned()
                .collect(),
            exclude: args.exclude.clone(),
        },
        release: ReleaseRequest {
            all: args.all,
            level: match (&args.bump, &args.set_version) {
                (Some(level), _) => Some(level.clone()),
                (None, Some(version)) => Some(format!("={version}")),
                (None, None) => None,
            },
            packages: args
                .packages
                .iter()
                .filter_map(|p| p.split_once('='))
                .map(|(name, level)| (name.to_owned(), level.to_owned()))
                .collect(),
        },
        own_outputs: args.out.iter().chain(&args.bundle).cloned().collect(),
        allow_http: args.target.allow_http,
        python_index: args.python_index.clone(),
    };
    let discovered = discover::discover(&request)?;
    let input = &discovered.input;
    let mut plan = planning::plan(input)?;
    if let Some(bundle) = &args.bundle {
        plan = package_into(bundle, plan, &discovered, args)?;
    }
    let out = args
        .out
        .clone()
        .or_else(|| args.bundle.as_ref().map(|dir| dir.join("plan.json")));
    if let Some(bundle) = &args.bundle {
        create_dir(bundle)?;
    }
    if let Some(out) = &out {
        write_atomically(out, plan.to_pretty_json().as_bytes())?;
    }
    match (args.format, &out) {
        (Some(format), _) => print_stdout(&rendered(&plan, format)),
        (None, None) => print_stdout(&plan.to_pretty_json()),
        (None, Some(_)) => {}
    }
    report_to_stderr(&plan, args);
    Ok(if plan.has_errors() {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// A short account on stderr, so CI logs show the outcome whatever stdout carries.
fn report_to_stderr(plan: &Plan, args: &PlanArgs) {
    let mut lines = String::new();
    if args.format != Some(Format::Human) {
        for d in &plan.diagnostics {
            lines.push_str(&render::diagnostic_line(d));
            lines.push('\n');
        }
    }
    let written = args
        .out
        .clone()
        .or_else(|| args.bundle.as_ref().map(|dir| dir.join("plan.json")))
        .map(|out| format!(", written to {}", out.display()))
        .unwrap_or_default();
    lines.push_str(&format!(
        "convoy-plan: {} ({}{written})\n",
        render::summary_line(plan),
        plan.digest
    ));
    let _ = std::io::stderr().write_all(lines.as_bytes());
}

/// Packages the plan's crates and builds its Python projects into `bundle`, and attaches them to
/// the plan. A plan with error diagnostics is not packaged: it cannot be executed anyway, and
/// stays review-only.
fn package_into(
    bundle: &Path,
    plan: Plan,
    discovered: &discover::Discovered,
    args: &PlanArgs,
) -> Result<Plan, PlanError> {
    if plan.has_errors() {
        eprintln!("convoy-plan: not packaged: the plan has error diagnostics (a review-only plan is written)");
        return Ok(plan);
    }
    let input = &discovered.input;
    if let GitState::Checkout(git) = &input.git {
        if git.dirty && !args.allow_dirty {
            return Err(PlanError::UncommittedChanges {
                commit: git.commit.clone(),
            });
        }
    }
    let options = PackageOptions {
        workspace_root: discovered.root.clone(),
        verify_build: args.verify_build,
        check_reproducible: args.check_reproducible,
    };
    package::clean_up_on_interrupt();
    let (cargo_plan, others) = bundle::split_cargo(plan);
    let outcome = package::package(input, &cargo_plan, &options)?;
    let mut plan = bundle::rejoin(bundle::attach(cargo_plan, input, &outcome), others);
    let built = match &input.git {
        GitState::Checkout(git) => package::build_python(&python::bundle::requests(
            &plan,
            &discovered.repository,
            &git.commit,
            args.check_reproducible,
        )),
        GitState::Absent(_) => python::bundle::outside_git(&plan),
    };
    let served = match &plan.python {
        Some(target) => package::download_served(
            &target.index,
            &python::bundle::differing_served(&plan, &built),
            args.target.allow_http,
        )?,
        None => Default::default(),
    };
    python::bundle::attach(&mut plan, &built, &served);
    create_dir(bundle)?;
    // Each file the plan records, with the bytes it records: the build's, or the index's for a
    // skipped version a rebuild makes with other timestamps.
    for package in &plan.packages {
        let Some(python) = &package.python else {
            continue;
        };
        let key = package.key();
        for file in &python.files {
            let built_bytes = built
                .get(&key)
                .and_then(|b| b.as_ref().ok())
                .and_then(|b| b.files.iter().find(|f| f.file.filename == file.filename))
                .map(|f| f.bytes.as_slice());
            let served_bytes = served
                .get(&(key.clone(), file.filename.clone()))
                .and_then(|r| r.as_ref().ok())
                .map(Vec::as_slice);
            let recorded = [built_bytes, served_bytes]
                .into_iter()
                .flatten()
                .find(|bytes| convoy_schema::digest::sha256_hex(bytes) == file.sha256);
            if let Some(bytes) = recorded {
                write_atomically(&bundle.join(&file.filename), bytes)?;
            }
        }
    }
    if let Ok(crates) = &outcome.result {
        create_dir(bundle)?;
        for package in &plan.packages {
            let (Some(artifact), Some(packaged)) = (
                &package.artifact,
                crates.iter().find(|c| c.name == package.name),
            ) else {
                continue;
            };
            write_atomically(&bundle.join(&artifact.file), &packaged.bytes)?;
        }
    }
    Ok(plan)
}

/// The workspace root a `--manifest-path` names, or the `--root` directory.
fn workspace_root(manifest_path: &Path, root: Option<&Path>) -> Result<PathBuf, PlanError> {
    if let Some(root) = root {
        if !root.is_dir() {
            return Err(PlanError::NothingToPlan {
                root: root.display().to_string(),
            });
        }
        return Ok(root.to_path_buf());
    }
    if !manifest_path.is_file() {
        return Err(PackageError::NoManifest {
            path: manifest_path.display().to_string(),
        }
        .into());
    }
    let dir = manifest_path.parent().unwrap_or(Path::new(""));
    Ok(if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    })
}

fn apply(args: &ApplyArgs) -> Result<i32, PlanError> {
    let plan = read_plan(&args.plan)?;
    let root = workspace_root(&args.manifest_path, args.root.as_deref())?;
    let applied = crate::apply::apply(&plan, &root)?;
    let mut out = String::new();
    if applied.files.is_empty() {
        out.push_str(
            "convoy-plan apply: nothing to change; the tree already has the plan's edits\n",
        );
    } else {
        for edit in render::source_edits(&plan) {
            out.push_str(&format!("  {edit}\n"));
        }
        out.push_str(&format!(
            "convoy-plan apply: wrote {} ({})\n",
            applied.files.join(", "),
            plan.digest
        ));
    }
    print_stdout(&out);
    if let Some(warning) = applied.lockfile_warning {
        eprintln!("warning: cargo would still change Cargo.lock (it was stale before the release edits); run `cargo update --workspace --offline` and commit the result:\n{warning}");
    }
    Ok(exit::OK)
}

fn tag(args: &TagArgs) -> Result<i32, PlanError> {
    let plan = read_plan(&args.plan)?;
    let root = workspace_root(&args.manifest_path, args.root.as_deref())?;
    let tagged = crate::apply::tag(&plan, &root, args.push.then_some(args.remote.as_str()))?;
    let mut out = String::new();
    for name in &tagged.created {
        out.push_str(&format!("created tag {name}\n"));
    }
    for name in &tagged.existing {
        out.push_str(&format!("tag {name} already points at the plan's commit\n"));
    }
    if tagged.created.is_empty() && tagged.existing.is_empty() {
        out.push_str("the plan releases nothing; no tag to create\n");
    }
    if tagged.pushed {
        out.push_str(&format!("pushed to {}\n", args.remote));
    }
    print_stdout(&out);
    Ok(exit::OK)
}

/// Reads a plan file, refusing unknown formats and a digest that does not match the content.
fn read_plan(plan_path: &Path) -> Result<Plan, PlanError> {
    Ok(convoy_cli::read_plan(plan_path)?)
}

fn show(args: &ShowArgs) -> Result<i32, PlanError> {
    let plan = read_plan(&args.plan)?;
    print_stdout(&rendered(&plan, args.format));
    Ok(exit::OK)
}

fn diff(args: &DiffArgs) -> Result<i32, PlanError> {
    let changes = crate::diff::diff(&read_plan(&args.old)?, &read_plan(&args.new)?);
    print_stdout(&match args.format {
        DiffFormat::Markdown => crate::diff::markdown(&changes),
        DiffFormat::Json => changes.to_pretty_json(),
    });
    Ok(exit::OK)
}

fn rendered(plan: &Plan, format: Format) -> String {
    match format {
        Format::Human => render::human(plan),
        Format::Markdown => render::markdown(plan),
        Format::Json => plan.to_pretty_json(),
    }
}

/// Writes to stdout; a closed pipe (`convoy-plan | head`) is not an error.
fn print_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

fn create_dir(dir: &Path) -> Result<(), PlanError> {
    std::fs::create_dir_all(dir).map_err(|source| PlanError::Write {
        path: dir.display().to_string(),
        source,
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so a reader never
/// sees half a plan.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PlanError> {
    let failed = |source| PlanError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan.json".to_owned());
    let temporary = dir.join(format!(".{file_name}.convoy-tmp"));
    std::fs::write(&temporary, bytes).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        failed(error)
    })
}
