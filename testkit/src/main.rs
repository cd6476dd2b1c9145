//! `convoy-testkit serve`: the test registry as a process, for the demo and benchmarks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use convoy_testkit::{Faults, Options, RateLimit, TestRegistry, TrustedPublishing};

/// A Cargo registry on 127.0.0.1 for tests and demos, with fault injection.
#[derive(Parser)]
#[command(name = "convoy-testkit", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a registry; prints its sparse index URL on the first line, serves until killed.
    Serve(Serve),
}

#[derive(clap::Args)]
struct Serve {
    /// Storage directory (created if missing; state survives a restart).
    #[arg(long)]
    dir: PathBuf,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Token that publishes must carry. Read from this variable's value when it starts with `env:`.
    #[arg(long)]
    token: String,
    /// Require the token for index reads and downloads too.
    #[arg(long)]
    auth_required: bool,
    /// Seconds a published version stays invisible in the index (fractions allowed: 0.5).
    #[arg(long, default_value_t = 0.0, value_parser = parse_seconds)]
    index_delay: f64,
    /// Seconds after a publish during which reads that do not defeat caches get the old file.
    #[arg(long, default_value_t = 0)]
    stale_for: u64,
    /// New-crate bucket as BURST/SECONDS (crates.io: 5/600; fractions allowed: 5/0.6).
    #[arg(long, value_parser = RateLimit::parse)]
    rate_limit_new_crates: Option<RateLimit>,
    /// New-version bucket as BURST/SECONDS (crates.io: 30/60).
    #[arg(long, value_parser = RateLimit::parse)]
    rate_limit_new_versions: Option<RateLimit>,
    /// Answer the Nth upload with STATUS, as N=STATUS (repeatable).
    #[arg(long, value_parser = parse_failure)]
    fail_upload: Vec<(u64, u16)>,
    /// Close the Nth upload's connection before handling it (repeatable).
    #[arg(long)]
    reset_upload: Vec<u64>,
    /// Store the Nth upload, then close the connection without a response (repeatable).
    #[arg(long)]
    drop_upload_response: Vec<u64>,
    /// Milliseconds every response waits.
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    /// Answer every upload "already uploaded" without storing it (a lying registry).
    #[arg(long)]
    always_already_exists: bool,
    /// After the first stored upload, answer every index read with STATUS (the index dies).
    #[arg(long, value_name = "STATUS")]
    index_fails_after_upload: Option<u16>,
    /// Index-read bucket as BURST/SECONDS (429 with Retry-After when empty).
    #[arg(long, value_parser = RateLimit::parse)]
    rate_limit_index: Option<RateLimit>,
    /// Quote the Authorization header sent in auth failures (a registry that echoes tokens).
    #[arg(long)]
    echo_token: bool,
    /// config.json names this `api` URL instead of the server's own.
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// config.json names no `api` (a read-only registry).
    #[arg(long)]
    omit_api: bool,
    /// The Python index answers an identical re-upload with 400 (an index that is not
    /// idempotent).
    #[arg(long)]
    python_not_idempotent: bool,
    /// The Python index serves only PEP 503 HTML pages.
    #[arg(long)]
    python_html_only: bool,
    /// Serve trusted publishing (an identity-token service at /oidc/token, the exchange and
    /// revoke endpoints) with this request token; `env:VAR` reads it from VAR.
    #[arg(long, value_name = "TOKEN")]
    trusted_publishing: Option<String>,
    /// Minutes an exchanged trusted-publishing token is valid.
    #[arg(long, default_value_t = 30)]
    trusted_token_minutes: u64,
    /// Append every request to FILE as one JSON line (method, path, status, what was stored;
    /// whether a token was sent, never its value).
    #[arg(long, value_name = "FILE")]
    request_log: Option<PathBuf>,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && (0.0..=86_400.0).contains(s))
        .ok_or_else(|| format!("`{text}`: seconds from 0 to 86400"))
}

fn parse_failure(text: &str) -> Result<(u64, u16), String> {
    let (n, status) = text.split_once('=').ok_or("expected N=STATUS")?;
    Ok((
        n.parse().map_err(|_| "N must be a number")?,
        status.parse().map_err(|_| "STATUS must be a number")?,
    ))
}

/// `value`, or the value of the variable it names as `env:VAR`.
fn secret(value: &str) -> String {
    match value.strip_prefix("env:") {
        Some(variable) => std::env::var(variable).unwrap_or_default(),
        None => value.to_owned(),
    }
}

fn main() -> std::process::ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    let token = secret(&args.token);
    let mut options = Options::new(args.dir, &token);
    options.port = args.port;
    options.auth_required = args.auth_required;
    options.faults = Faults {
        index_delay: Duration::from_secs_f64(args.index_delay),
        stale_for: Duration::from_secs(args.stale_for),
        new_crate_limit: args.rate_limit_new_crates,
        new_version_limit: args.rate_limit_new_versions,
        fail_upload: args.fail_upload.into_iter().collect::<BTreeMap<_, _>>(),
        reset_upload: args.reset_upload.into_iter().collect::<BTreeSet<_>>(),
        drop_upload_response: args
            .drop_upload_response
            .into_iter()
            .collect::<BTreeSet<_>>(),
        slow: Duration::from_millis(args.slow_ms),
        always_already_exists: args.always_already_exists,
        index_fails_after_upload: args.index_fails_after_upload,
        index_limit: args.rate_limit_index,
        echo_token: args.echo_token,
        api_url: args.api_url,
        omit_api: args.omit_api,
        python_not_idempotent: args.python_not_idempotent,
        python_html_only: args.python_html_only,
    };
    options.request_log = args.request_log;
    options.trusted = args
        .trusted_publishing
        .as_deref()
        .map(|request| TrustedPublishing {
            token_lifetime: Duration::from_secs(args.trusted_token_minutes * 60),
            ..TrustedPublishing::new(&secret(request))
        });
    let registry = match TestRegistry::start(options) {
        Ok(registry) => registry,
        Err(error) => {
            eprintln!("error: cannot start the registry: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    println!("{}", registry.index_url());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
