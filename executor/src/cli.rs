//! The `convoy-publish` command line: parses the arguments into a [`Request`], runs
//! [`publish`] and reports its error, if any. Nothing else.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use convoy_registry::rate::RateLimit;
use convoy_registry::resolve::RegistryChoice;

use crate::publish::{publish, PythonRequest, Request, TrustedRequest};
use crate::schedule::{Order, Settings};
use crate::sink::Format;

/// Upload a reviewed plan's exact artifacts to a registry, in dependency order, as fast as the
/// registry allows; resumable. The only Convoy stage that reads a token (from the environment).
// The field docs are `--help` text, where `<NAME>` reads as meant.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Debug, Parser)]
#[command(name = "convoy-publish", version)]
pub struct Cli {
    /// The plan file, as written by `convoy-plan --bundle`.
    plan: PathBuf,
    /// The bundle directory (default: the plan's directory).
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// The target registry (default: cargo's `registry.default`, else crates-io); never taken
    /// from the plan.
    #[command(flatten)]
    target: convoy_cli::RegistryArgs,
    /// Environment variable holding the token (default: CARGO_REGISTRY_TOKEN for crates.io,
    /// CARGO_REGISTRIES_<NAME>_TOKEN for a named registry).
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// The Python index's simple API base, polled until each file is served; must be the one
    /// the plan names.
    #[arg(long, value_name = "URL", default_value = convoy_schema::python::PYPI_INDEX)]
    python_index: String,
    /// The Python index's upload URL (the legacy upload API).
    #[arg(long, value_name = "URL", default_value = convoy_schema::python::PYPI_UPLOAD)]
    python_upload: String,
    /// The user the Python index's token is sent as: `__token__` (PyPI's API tokens), or a
    /// user of a self-hosted index (devpi), whose password is then read from the environment.
    #[arg(long, value_name = "NAME")]
    python_username: Option<String>,
    /// Environment variable holding the Python index's token (default: UV_PUBLISH_TOKEN, then
    /// TWINE_PASSWORD; with --python-username: UV_PUBLISH_PASSWORD, then TWINE_PASSWORD).
    #[arg(long, value_name = "VAR")]
    python_token_env: Option<String>,
    /// Publish with a short-lived token from trusted publishing: the CI's OIDC identity token
    /// (GitHub Actions: from a job with `permissions: id-token: write`) exchanged at the
    /// registry, replaced before it expires, revoked when the run ends. New crates still need
    /// the API token; without it they and their dependents are left for a rerun (exit 1).
    #[arg(long)]
    trusted_publishing: bool,
    /// With --trusted-publishing: the variable that holds the identity token itself (GitLab's
    /// `id_tokens:`), instead of asking GitHub's token service.
    #[arg(long, value_name = "VAR", requires = "trusted_publishing")]
    oidc_token_env: Option<String>,
    /// With --trusted-publishing: the variable that holds the Python index's identity token
    /// (audience `pypi`; GitLab's `id_tokens:`), instead of asking GitHub's token service. With
    /// --trusted-publishing the Python packages are uploaded with a token the index mints
    /// (PyPI's `mint-token`) unless --python-token-env names a token.
    #[arg(long, value_name = "VAR", requires = "trusted_publishing")]
    python_oidc_token_env: Option<String>,
    /// With --trusted-publishing: the identity token's audience (default: the registry API's
    /// host, `crates.io` for crates.io).
    #[arg(long, value_name = "AUDIENCE", requires = "trusted_publishing")]
    oidc_audience: Option<String>,
    /// Refuse unless the plan's digest is exactly this (pin the reviewed plan).
    #[arg(long, value_name = "sha256:HEX")]
    expect_digest: Option<String>,
    /// Check everything and print the schedule and its expected duration; upload nothing.
    #[arg(long)]
    dry_run: bool,
    /// Uploads in flight at most.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds an accepted upload may take to become visible in the index.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    poll_timeout: u64,
    /// Stop cleanly (exit 4) rather than start an upload later than this, e.g. `50m`, `2h`, `90s`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_wait: Option<Duration>,
    /// The registry's new-crate limit as BURST/SECONDS (e.g. `5/600`): where pacing starts.
    /// Default: crates.io's published limits on crates.io, none elsewhere. The registry's 429s
    /// always win: pacing adapts to what it says.
    #[arg(long, value_name = "BURST/SECONDS", value_parser = RateLimit::parse)]
    rate_limit_new_crates: Option<RateLimit>,
    /// The registry's limit for new versions of existing crates, as BURST/SECONDS (`30/60`).
    #[arg(long, value_name = "BURST/SECONDS", value_parser = RateLimit::parse)]
    rate_limit_new_versions: Option<RateLimit>,
    /// Which ready crates start first when not all may: the longest chain of dependents first
    /// (the default), or by name (only to compare).
    #[arg(long, value_enum, default_value_t = StartOrder::CriticalPath, hide = true)]
    start_order: StartOrder,
    /// Journal of every transition (default: the plan's path with `.journal` appended).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Output: human lines, or one JSON event per line.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StartOrder {
    CriticalPath,
    Name,
}

/// The longest `--max-wait`: a release paced for longer than a month is a mistake.
const LONGEST_MAX_WAIT: Duration = Duration::from_secs(31 * 24 * 3600);

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 50m or 2h"))?;
    let unit_seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("`{text}`: use s, m or h")),
    };
    value
        .checked_mul(unit_seconds)
        .map(Duration::from_secs)
        .filter(|d| *d <= LONGEST_MAX_WAIT)
        .ok_or_else(|| format!("`{text}` is longer than 31 days (744h), the longest --max-wait"))
}

impl Cli {
    fn request(self) -> Request {
        Request {
            registry: self.target.choice().unwrap_or(RegistryChoice::Default),
            allow_http: self.target.allow_http,
            plan: self.plan,
            bundle: self.bundle,
            token_env: self.token_env,
            python: PythonRequest {
                index: self.python_index,
                upload: self.python_upload,
                username: self.python_username,
                token_env: self.python_token_env,
            },
            trusted: self.trusted_publishing.then_some(TrustedRequest {
                oidc_token_env: self.oidc_token_env,
                python_oidc_token_env: self.python_oidc_token_env,
                audience: self.oidc_audience,
            }),
            expect_digest: self.expect_digest,
            dry_run: self.dry_run,
            settings: Settings {
                concurrency: self.concurrency,
                poll_timeout: Duration::from_secs(self.poll_timeout),
                order: match self.start_order {
                    StartOrder::CriticalPath => Order::CriticalPath,
                    StartOrder::Name => Order::Name,
                },
                ..Settings::default()
            },
            rate_limits: (self.rate_limit_new_crates, self.rate_limit_new_versions),
            max_wait: self.max_wait,
            journal: self.journal,
            format: self.format,
        }
    }
}

/// Runs `convoy-publish` with the process arguments; returns the exit code.
pub fn main() -> i32 {
    convoy_cli::init_logging();
    let cli: Cli = match convoy_cli::parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    publish(&cli.request()).unwrap_or_else(|error| convoy_cli::report(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_s_m_h_and_stop_at_31_days() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("50m"), Ok(Duration::from_secs(3000)));
        assert_eq!(parse_duration("744h"), Ok(LONGEST_MAX_WAIT));
        assert!(parse_duration("745h").unwrap_err().contains("31 days"));
        assert!(parse_duration("5d").unwrap_err().contains("use s, m or h"));
        assert!(parse_duration("h").is_err());
    }
}
