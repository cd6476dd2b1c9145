//! The `convoy-verify` command line: parses the arguments into a [`Request`], calls
//! [`verify::run`] and prints the report in the `--format` asked for
//! ([`crate::render`]), or the error through [`convoy_cli::report`].

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use convoy_schema::exit;

use crate::compare::Checks;
use crate::render;
use crate::verify::{self, Request};

/// Check that what a registry serves is exactly what a plan said: versions, cksums, dependency
/// lists, features, yanked state, and with --download the bytes; for Python packages, every
/// planned file with its sha256, nothing unplanned, Requires-Dist. Needs no token.
#[derive(Debug, Parser)]
#[command(name = "convoy-verify", version)]
pub struct Cli {
    /// The plan file.
    plan: PathBuf,
    /// The registry to read (default: the one the plan names).
    #[command(flatten)]
    target: convoy_cli::RegistryArgs,
    /// The Python index's simple API base (default: the one the plan names).
    #[arg(long, value_name = "URL")]
    python_index: Option<String>,
    /// Check only the packages the plan publishes, not those it skipped.
    #[arg(long)]
    only_published: bool,
    /// A yanked version is a warning, not an error.
    #[arg(long)]
    allow_yanked: bool,
    /// Download every `.crate` through the registry's `dl` template (and every planned Python
    /// file) and hash it.
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

impl Cli {
    /// What the arguments ask for.
    pub fn request(&self) -> Request {
        Request {
            plan: self.plan.clone(),
            registry: self.target.choice(),
            allow_http: self.target.allow_http,
            python_index: self.python_index.clone(),
            checks: Checks {
                only_published: self.only_published,
                allow_yanked: self.allow_yanked,
            },
            download: self.download,
            bundle: self.bundle.clone(),
            rebuild: self.rebuild.then(|| {
                self.manifest_path
                    .clone()
                    .unwrap_or_else(|| Path::new("Cargo.toml").to_path_buf())
            }),
        }
    }
}

/// Runs `convoy-verify` with the process arguments; returns the exit code: 0 when everything
/// matches, 1 when a finding is an error, or the error's.
pub fn main() -> i32 {
    convoy_cli::init_logging();
    let cli: Cli = match convoy_cli::parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let report = match verify::run(&cli.request()) {
        Ok(report) => report,
        Err(error) => return convoy_cli::report(&error),
    };
    let rendered = match cli.format {
        Format::Json => render::json(&report),
        Format::Human => render::human(&report),
        Format::Markdown => render::markdown(&report),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_become_the_request() {
        let cli = Cli::try_parse_from([
            "convoy-verify",
            "plan.json",
            "--index",
            "sparse+https://example.invalid/",
            "--allow-yanked",
            "--download",
            "--bundle",
            "b",
            "--rebuild",
            "--manifest-path",
            "w/Cargo.toml",
        ])
        .unwrap();
        assert_eq!(
            cli.request(),
            Request {
                plan: "plan.json".into(),
                registry: Some(convoy_registry::resolve::RegistryChoice::Index(
                    "sparse+https://example.invalid/".into()
                )),
                allow_http: false,
                python_index: None,
                checks: Checks {
                    only_published: false,
                    allow_yanked: true,
                },
                download: true,
                bundle: Some("b".into()),
                rebuild: Some("w/Cargo.toml".into()),
            }
        );
        let plain = Cli::try_parse_from(["convoy-verify", "plan.json"]).unwrap();
        assert_eq!(plain.request().registry, None);
        assert_eq!(plain.request().rebuild, None);
        assert!(Cli::try_parse_from(["convoy-verify", "p", "--bundle", "b"]).is_err());
        assert!(Cli::try_parse_from(["convoy-verify", "p", "--rebuild"]).is_err());
    }
}
