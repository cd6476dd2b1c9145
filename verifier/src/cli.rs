//! The `convoy-verify` command line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use convoy_registry::auth::{token_from_env, token_variable};
use convoy_registry::resolve::{cargo_config_files, resolve};
use convoy_registry::{ClientOptions, RegistryClient};
use convoy_schema::exit;
use convoy_schema::plan::{Plan, Severity};
use convoy_schema::report::VerifyReport;
use convoy_schema::snapshot::RegistryTarget;

use crate::compare::{compare, expected_cksum, packages_to_check, rebuild_findings, Checks};
use crate::observe::observe;

/// Check that what a registry serves is exactly what a plan said: versions, cksums, dependency
/// lists, features, yanked state, and with --download the bytes. Needs no token.
#[derive(Debug, Parser)]
#[command(name = "convoy-verify", version)]
pub struct Cli {
    /// The plan file.
    plan: PathBuf,
    /// The registry to read (default: the one the plan names).
    #[command(flatten)]
    target: convoy_cli::RegistryArgs,
    /// Check only the packages the plan publishes, not those it skipped.
    #[arg(long)]
    only_published: bool,
    /// A yanked version is a warning, not an error.
    #[arg(long)]
    allow_yanked: bool,
    /// Download every `.crate` through the registry's `dl` template and hash it.
    #[arg(long)]
    download: bool,
    /// With --download: compare the downloads byte for byte with this bundle.
    #[arg(long, value_name = "DIR", requires = "download")]
    bundle: Option<PathBuf>,
    /// Package the plan's commit again in a clean checkout and check every artifact reproduces.
    #[arg(long, requires = "manifest_path")]
    rebuild: bool,
    /// With --rebuild: the workspace's Cargo.toml in a git checkout that has the plan's commit.
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Output: a table (problems first), the JSON report, or Markdown.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Markdown,
}

fn fail(code: &str, message: impl std::fmt::Display, help: &str, exit_code: i32) -> i32 {
    eprintln!("error[{code}]: {message}\n  help: {help}");
    exit_code
}

/// Runs `convoy-verify` with the process arguments; returns the exit code.
pub fn main() -> i32 {
    convoy_cli::init_logging();
    let cli: Cli = match convoy_cli::parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    verify(&cli)
}

fn target(cli: &Cli, plan: &Plan) -> Result<RegistryTarget, String> {
    let Some(choice) = cli.target.choice() else {
        return Ok(plan.registry.clone());
    };
    let configs = cargo_config_files(&std::env::current_dir().unwrap_or_default())
        .map_err(|(path, e)| format!("{}: {e}", path.display()))?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    resolve(&choice, &env, &configs).map_err(|e| format!("{e:?}"))
}

fn verify(cli: &Cli) -> i32 {
    let text = match convoy_cli::read_document(&cli.plan) {
        Ok(text) => text,
        Err(e) => {
            return fail(
                "file-unreadable",
                format!("plan {}: {e}", cli.plan.display()),
                "give the plan.json that convoy-plan wrote",
                exit::REFUSED,
            )
        }
    };
    let plan = match Plan::from_json(&text) {
        Ok(plan) => plan,
        Err(e) => {
            return fail(
                e.code(),
                format!("plan {}: {e}", cli.plan.display()),
                &e.help(),
                exit::REFUSED,
            )
        }
    };
    if !plan.digest_is_valid() {
        return fail(
            "plan-digest-mismatch",
            "the plan's digest does not match its content",
            "verify against the plan as it was made",
            exit::REFUSED,
        );
    }
    if let Some(detail) = plan.inconsistency() {
        return fail(
            "plan-inconsistent",
            format!("the plan contradicts itself: {detail}"),
            "verify against the plan as convoy-plan wrote it",
            exit::REFUSED,
        );
    }
    let mut bundle = BTreeMap::new();
    if let Some(dir) = &cli.bundle {
        for (file, read) in convoy_cli::read_bundle(&plan, dir) {
            match read {
                Ok(bytes) => {
                    bundle.insert(file, bytes);
                }
                Err(reason) => return fail(
                    "artifact-unreadable",
                    format!("bundle file `{file}` is refused: {reason}"),
                    "give the bundle directory convoy-plan --bundle wrote, with regular files only",
                    exit::REFUSED,
                ),
            }
        }
    }
    let registry = match target(cli, &plan) {
        Ok(registry) => registry,
        Err(e) => {
            return fail(
                "unknown-registry",
                e,
                "name a configured registry or pass --index URL",
                exit::REFUSED,
            )
        }
    };
    let checks = Checks {
        only_published: cli.only_published,
        allow_yanked: cli.allow_yanked,
    };
    let packages = packages_to_check(&plan, checks);
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    let downloads: Vec<_> = if cli.download {
        packages
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.version.to_string(),
                    expected_cksum(&plan, p).unwrap_or_default(),
                    // Skipped packages without an artifact: crates.io's own upload limit.
                    p.artifact.as_ref().map_or(10 << 20, |a| a.size),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let read_token = token_variable(registry.name.as_deref(), None)
        .and_then(|v| token_from_env(&v, &|v| std::env::var(v).ok()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail("runtime-failed", e, "retry", exit::FAILED),
    };
    let observed = runtime.block_on(async {
        let client = RegistryClient::connect(
            &registry.index,
            ClientOptions {
                allow_http: cli.target.allow_http,
                read_token,
            },
        )
        .await?;
        observe(&client, &names, &downloads).await
    });
    let mut observed = match observed {
        Ok(observed) => observed,
        Err(e) => {
            let code = match e {
                convoy_registry::RegistryError::Protocol { .. }
                | convoy_registry::RegistryError::InsecureUrl { .. } => exit::REFUSED,
                _ => exit::REGISTRY,
            };
            return fail(
                e.code(),
                format!("registry {}: {e}", registry.index),
                "check the registry URL and the network",
                code,
            );
        }
    };
    observed.bundle = bundle;
    let mut report = compare(&plan, &registry, &observed, checks);
    if cli.rebuild {
        let rebuilt = match crate::rebuild::rebuild(
            &plan,
            cli.manifest_path
                .as_deref()
                .unwrap_or(Path::new("Cargo.toml")),
        ) {
            Ok(rebuilt) => rebuilt,
            Err(error) => {
                return fail(
                    error.code(),
                    error,
                    "rebuild with the cargo version and checkout the plan was made with",
                    exit::REFUSED,
                )
            }
        };
        report
            .findings
            .extend(rebuild_findings(&plan, &rebuilt, checks));
        let failed: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.package.clone())
            .collect();
        for package in &mut report.packages {
            package.ok = !failed.contains(&package.name);
        }
        report.findings.sort_by(|a, b| {
            (a.severity, &a.package, &a.code, &a.message)
                .cmp(&(b.severity, &b.package, &b.code, &b.message))
        });
    }
    let rendered = match cli.format {
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        Format::Human => human(&report),
        Format::Markdown => markdown(&report),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(rendered.as_bytes())
        .and_then(|()| stdout.flush());
    if report.has_errors() {
        exit::FAILED
    } else {
        exit::OK
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A table, problems first.
pub fn human(report: &VerifyReport) -> String {
    let mut out = String::new();
    let problems = report.packages.iter().filter(|p| !p.ok).count();
    out.push_str(&format!(
        "verified {} packages against {} for plan {}: {} with problems\n",
        report.packages.len(),
        report.registry.index,
        report.plan_digest,
        problems
    ));
    for finding in &report.findings {
        out.push_str(&format!(
            "{}[{}] {}: {}\n",
            severity(finding.severity),
            finding.code,
            finding.package,
            finding.message
        ));
    }
    let width = report
        .packages
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    let mut rows: Vec<_> = report.packages.iter().collect();
    rows.sort_by_key(|p| (p.ok, p.name.clone()));
    for package in rows {
        out.push_str(&format!(
            "  {}  {:width$}  {}  {}\n",
            if package.ok { "ok  " } else { "FAIL" },
            package.name,
            package.version,
            package
                .observed_cksum
                .as_deref()
                .unwrap_or("(not in the index)")
        ));
    }
    out
}

/// For pull requests and `$GITHUB_STEP_SUMMARY`.
pub fn markdown(report: &VerifyReport) -> String {
    // Everything here comes from the plan or from what the registry served: all of it escaped.
    use convoy_cli::markdown::{cell_code, code, text};
    let mut out = format!(
        "## Convoy verification\n\nPlan {} against {}: **{}**\n\n| Package | Version | Result | cksum in the index |\n|---|---|---|---|\n",
        code(&report.plan_digest),
        code(&report.registry.index),
        if report.has_errors() { "problems found" } else { "everything matches" }
    );
    let mut rows: Vec<_> = report.packages.iter().collect();
    rows.sort_by_key(|p| (p.ok, p.name.clone()));
    for package in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell_code(&package.name),
            text(&package.version.to_string()),
            if package.ok { "ok" } else { "problem" },
            cell_code(package.observed_cksum.as_deref().unwrap_or("—"))
        ));
    }
    if !report.findings.is_empty() {
        out.push_str("\n### Findings\n\n");
        for finding in &report.findings {
            out.push_str(&format!(
                "- **{}** {} {}: {}\n",
                severity(finding.severity),
                code(&finding.code),
                code(&finding.package),
                text(&finding.message)
            ));
        }
    }
    out
}
