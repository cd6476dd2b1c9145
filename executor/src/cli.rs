//! The `convoy-publish` command line: refusals first, then the run, errors mapped to exit codes
//! in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use convoy_registry::auth::{token_from_env, token_variable};
use convoy_registry::clock::{Clock, SystemClock};
use convoy_registry::rate::RateLimit;
use convoy_registry::resolve::{cargo_config_files, resolve, RegistryChoice, ResolveError};
use convoy_registry::trusted::{self, IdTokenSource, SourceError};
use convoy_registry::{ClientOptions, Freshness, RegistryClient, RegistryError, CRATES_IO};
use convoy_schema::exit;
use convoy_schema::plan::Plan;
use convoy_schema::snapshot::RegistryTarget;

use crate::credentials::{self, Credentials, Lifetime};
use crate::driver::{self, Event, Outcome, Release, RunOptions};
use crate::journal::{self, EarlierRuns, Journal, JournalError};
use crate::output::{self, words_duration};
use crate::schedule::simulate::{simulate, Assumptions, Simulation};
use crate::schedule::{Kind, Order, Schedule, Seen, Settings};
use crate::validate::{validate, Refusal};

/// Upload a reviewed plan's exact artifacts to a registry, in dependency order, as fast as the
/// registry allows; resumable. The only Convoy stage that reads a token (from the environment).
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
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

/// Why a run stopped before uploading, with its exit code.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        help: String,
    },
    #[error("registry {index}: {source}")]
    Registry {
        index: String,
        source: RegistryError,
    },
    #[error("no token: {variable} is not set")]
    NoToken { variable: String },
    #[error("{0}")]
    Oidc(SourceError),
    #[error("trusted publishing failed: {source}")]
    TrustedPublishing { source: RegistryError },
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("`{name}` {version} is already in the registry with cksum {cksum}, not the planned {planned}")]
    OtherContent {
        name: String,
        version: String,
        cksum: String,
        planned: String,
    },
}

impl Stop {
    fn code(&self) -> &'static str {
        match self {
            Self::Refused(refusal) => refusal.code(),
            Self::Invalid { code, .. } => code,
            Self::Registry { source, .. } => source.code(),
            Self::NoToken { .. } => "token-missing",
            Self::Oidc(_) => "oidc-token-unavailable",
            Self::TrustedPublishing { .. } => "trusted-publishing-failed",
            Self::Journal(error) => error.code(),
            Self::OtherContent { .. } => "version-exists-with-different-content",
        }
    }

    fn help(&self) -> String {
        match self {
            Self::Refused(Refusal::UnexpectedDigest { .. }) => "publish the plan that was reviewed; the digest is not a signature, so compare it with the one shown in the reviewed pull request".to_owned(),
            Self::Refused(_) => "make the plan again with convoy-plan --bundle, review it, and publish that plan unmodified".to_owned(),
            Self::Invalid { help, .. } => help.clone(),
            Self::Registry { .. } => "check the registry URL, the network and the token".to_owned(),
            Self::NoToken { .. } => "set the token in that variable (never on the command line), name another with --token-env, or publish from CI with --trusted-publishing".to_owned(),
            Self::Oidc(_) => "run in a GitHub Actions job with `permissions: id-token: write`, or pass --oidc-token-env VAR naming the variable that holds the identity token (GitLab: `id_tokens:`)".to_owned(),
            Self::TrustedPublishing { .. } => "configure this repository and workflow (and environment) as a trusted publisher of the crates on the registry (crates.io: the crate's Settings, Trusted Publishing), check the audience (--oidc-audience), or publish with an API token".to_owned(),
            Self::Journal(error) => error.help().to_owned(),
            Self::OtherContent { .. } => "the sources changed since that version was published: bump the version and plan again".to_owned(),
        }
    }

    fn exit_code(&self) -> i32 {
        match self {
            Self::Registry {
                source: RegistryError::Protocol { .. } | RegistryError::InsecureUrl { .. },
                ..
            } => exit::REFUSED,
            Self::Registry { .. }
            | Self::NoToken { .. }
            | Self::Oidc(_)
            | Self::TrustedPublishing { .. } => exit::REGISTRY,
            _ => exit::REFUSED,
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
    match publish(&cli) {
        Ok(code) => code,
        Err(stop) => {
            eprintln!("error[{}]: {stop}\n  help: {}", stop.code(), stop.help());
            stop.exit_code()
        }
    }
}

fn invalid(code: &'static str, message: String, help: &str) -> Stop {
    Stop::Invalid {
        code,
        message,
        help: help.to_owned(),
    }
}

fn read_plan(path: &Path) -> Result<Plan, Stop> {
    let text = convoy_cli::read_document(path).map_err(|e| {
        invalid(
            "file-unreadable",
            format!("plan {}: {e}", path.display()),
            "give the plan.json that convoy-plan wrote",
        )
    })?;
    Plan::from_json(&text).map_err(|e| Stop::Invalid {
        code: e.code(),
        message: format!("plan {}: {e}", path.display()),
        help: e.help(),
    })
}

fn target_registry(cli: &Cli) -> Result<RegistryTarget, Stop> {
    let choice = cli.target.choice().unwrap_or(RegistryChoice::Default);
    let cwd = std::env::current_dir().unwrap_or_default();
    let configs = cargo_config_files(&cwd).map_err(|(path, e)| {
        invalid(
            "file-unreadable",
            format!("cannot read {}: {e}", path.display()),
            "check the file",
        )
    })?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    resolve(&choice, &env, &configs).map_err(|error| match error {
        ResolveError::Unknown { name, variable } => invalid(
            "unknown-registry",
            format!("registry `{name}` is not configured (no {variable}, no [registries.{name}])"),
            "configure it as cargo would, or pass --index URL",
        ),
        ResolveError::Config { path, message } => invalid(
            "cargo-config-invalid",
            format!("{path}: {message}"),
            "fix the file",
        ),
        ResolveError::BadIndex { url, why } => invalid(
            "invalid-index-url",
            format!("--index {url}: {why}"),
            "give a sparse+https://… URL",
        ),
    })
}

/// The bundle's files that the plan names, read from `dir`.
fn publish(cli: &Cli) -> Result<i32, Stop> {
    let plan = read_plan(&cli.plan)?;
    let registry = target_registry(cli)?;
    let bundle_dir = cli
        .bundle
        .clone()
        .unwrap_or_else(|| cli.plan.parent().map(Path::to_path_buf).unwrap_or_default());
    let uploads = validate(
        &plan,
        cli.expect_digest.as_deref(),
        &registry,
        &convoy_cli::read_bundle(&plan, &bundle_dir),
    )?;
    let variable = token_variable(registry.name.as_deref(), cli.token_env.as_deref());
    if variable.is_none() && !cli.trusted_publishing {
        return Err(invalid(
            "token-variable-unknown",
            "a registry given only by --index has no standard token variable".to_owned(),
            "name the variable with --token-env VAR, or publish with --trusted-publishing",
        ));
    }
    let env = |name: &str| std::env::var(name).ok();
    let api_token = variable.as_deref().and_then(|v| token_from_env(v, &env));
    if api_token.is_none() && !cli.trusted_publishing && !cli.dry_run {
        return Err(Stop::NoToken {
            variable: variable.unwrap_or_default(),
        });
    }
    // The identity token's source is checked before anything is read or uploaded; the dry run
    // does not need one (it runs where no identity token is offered).
    let id_source = match (cli.trusted_publishing, cli.dry_run) {
        (true, false) => Some(
            IdTokenSource::from_env(cli.oidc_token_env.as_deref(), &env, cli.target.allow_http)
                .map_err(Stop::Oidc)?,
        ),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| invalid("runtime-failed", e.to_string(), "retry"))?;
    runtime.block_on(async {
        let registry_error = |source| Stop::Registry {
            index: registry.index.clone(),
            source,
        };
        let client = RegistryClient::connect(
            &registry.index,
            ClientOptions {
                allow_http: cli.target.allow_http,
                read_token: api_token.clone(),
            },
        )
        .await
        .map_err(registry_error)?;
        if client.api().is_none() {
            return Err(invalid(
                "registry-read-only",
                format!("the registry {}'s config.json names no `api`: it accepts no publishes", registry.index),
                "publish to a registry that has a publish API (check the index URL)",
            ));
        }
        let names: Vec<String> = uploads.iter().map(|u| u.name.clone()).collect();
        let files = client
            .index_files(&names, 16, Freshness::Fresh)
            .await
            .map_err(registry_error)?;
        let mut initial = BTreeMap::new();
        let mut new_crates = BTreeSet::new();
        for upload in &uploads {
            let entries = files.get(&upload.name).and_then(|f| f.as_deref());
            if entries.is_none_or(<[_]>::is_empty) {
                new_crates.insert(upload.name.clone());
            }
            let seen = driver::seen_in(entries, &upload.version, &upload.sha256);
            if let Seen::OtherContent(cksum) = &seen {
                return Err(Stop::OtherContent {
                    name: upload.name.clone(),
                    version: upload.version.to_string(),
                    cksum: cksum.clone(),
                    planned: upload.sha256.clone(),
                });
            }
            initial.insert(upload.name.clone(), seen);
        }
        let pacing = Pacing::choose(
            registry.name.as_deref() == Some(CRATES_IO),
            cli.rate_limit_new_crates,
            cli.rate_limit_new_versions,
        );
        let options = RunOptions {
            schedule: Settings {
                concurrency: cli.concurrency,
                poll_timeout: Duration::from_secs(cli.poll_timeout),
                new_crates: pacing.new_crates.0,
                new_versions: pacing.new_versions.0,
                order: match cli.start_order {
                    StartOrder::CriticalPath => Order::CriticalPath,
                    StartOrder::Name => Order::Name,
                },
                ..Settings::default()
            },
            max_wait: cli.max_wait,
            ..RunOptions::default()
        };
        let release = Release {
            uploads: &uploads,
            initial: &initial,
            new_crates: &new_crates,
            earlier: &EarlierRuns::default(),
        };
        // A dry run without --trusted-publishing plans as if the API token were set.
        let lanes = Lanes {
            api: api_token.is_some() || !cli.trusted_publishing,
            trusted: cli.trusted_publishing,
        };
        let expected = expected_run(release, &options.schedule, lanes);
        if cli.dry_run {
            print_dry_run(&plan, release, &expected, &pacing, lanes);
            return Ok(exit::OK);
        }
        if expected.paced_for > Duration::from_secs(60) {
            eprintln!(
                "convoy-publish: paced by the registry's rate limits ({}): expected to take at least {}",
                pacing.source(),
                words_duration(expected.duration)
            );
        }
        let mut options = options;
        let journal_path = cli.journal.clone().unwrap_or_else(|| {
            let mut path = cli.plan.clone().into_os_string();
            path.push(".journal");
            PathBuf::from(path)
        });
        let (mut journal, earlier) = Journal::open(&journal_path)?;
        let earlier = journal::earlier_runs(&earlier, &plan.digest);
        let clock = SystemClock;
        let format = cli.format;
        let versions: BTreeMap<String, String> = uploads
            .iter()
            .map(|u| (u.name.clone(), u.version.to_string()))
            .collect();
        // Crash testing: abort (no cleanup, like a kill) right after the Nth journaled event.
        let abort_after: Option<usize> = std::env::var("CONVOY_FAILPOINT_ABORT_AFTER_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok());
        let mut events_seen = 0usize;
        // On a terminal: a bar with overall progress and ETA, event lines printed above it.
        let progress = (format == Format::Human && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(uploads.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} visible  {msg}  eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let mut on_event = |event: Event| {
            let line = output::event_record(&event, &versions, &plan.digest, clock.now()).to_line();
            if let Err(error) = journal.append(&line) {
                tracing::warn!(%error, "cannot append to the journal");
            }
            events_seen += 1;
            if abort_after == Some(events_seen) {
                std::process::abort();
            }
            let words = output::event_words(&event, &versions);
            match (format, &progress) {
                (Format::Json, _) => println!("{line}"),
                (Format::Human, Some(bar)) => {
                    if matches!(
                        event,
                        Event::Visible(_) | Event::AlreadyPresent(_) | Event::PublishedEarlier(_)
                    ) {
                        bar.inc(1);
                    }
                    bar.set_message(words.trim().to_owned());
                    bar.println(words);
                }
                (Format::Human, None) => eprintln!("{words}"),
            }
        };
        let mut credentials = match (id_source, api_token) {
            (Some(source), api_token) => {
                let audience = cli.oidc_audience.clone().unwrap_or_else(|| {
                    client.api().map(trusted::audience).unwrap_or_default()
                });
                let (credentials, issued) = Credentials::trusted(
                    api_token,
                    &client,
                    source,
                    audience,
                    Lifetime::CRATES_IO,
                    clock.now(),
                )
                .await
                .map_err(|source| Stop::TrustedPublishing { source })?;
                on_event(Event::Token(issued));
                if !credentials.refreshable() {
                    // An identity token is exchanged once: end (resumably) before its token expires.
                    options.max_wait = Some(Lifetime::CRATES_IO.bound_wait(options.max_wait));
                }
                credentials
            }
            (None, Some(token)) => Credentials::api(token),
            (None, None) => return Err(Stop::NoToken { variable: variable.unwrap_or_default() }),
        };
        options.interrupt = Some(interrupt_on_signals());
        let release = Release {
            earlier: &earlier,
            ..release
        };
        let outcome =
            driver::run(&client, &mut credentials, release, &clock, &options, &mut on_event).await;
        // However the run ended: no trusted-publishing token outlives it.
        for event in credentials.close(&client).await {
            on_event(Event::Token(event));
        }
        if let Some(bar) = &progress {
            bar.finish_and_clear();
        }
        report(&outcome, &plan, format);
        Ok(exit_code(&outcome))
    })
}

/// A flag set by the first SIGINT, SIGTERM or SIGHUP (a CI cancelling the job): the run stops
/// starting uploads, waits for the answers in flight and revokes its token. A second signal
/// ends the process at once.
fn interrupt_on_signals() -> tokio::sync::watch::Receiver<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (sender, receiver) = tokio::sync::watch::channel(false);
    let streams: Vec<_> = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ]
    .into_iter()
    .filter_map(|kind| signal(kind).ok())
    .collect();
    async fn any(streams: &mut [tokio::signal::unix::Signal]) {
        if streams.is_empty() {
            std::future::pending::<()>().await;
        }
        let waits = streams.iter_mut().map(|stream| Box::pin(stream.recv()));
        futures_util::future::select_all(waits).await;
    }
    tokio::spawn(async move {
        let mut streams = streams;
        any(&mut streams).await;
        eprintln!("convoy-publish: interrupted: no new upload starts; waiting for the uploads in flight, then revoking the token (interrupt again to stop at once)");
        let _ = sender.send(true);
        any(&mut streams).await;
        std::process::exit(exit::INTERRUPTED);
    });
    receiver
}

fn report(outcome: &Outcome, plan: &Plan, format: Format) {
    if format == Format::Human {
        eprintln!("{}", output::summary(outcome, &plan.digest));
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{}", output::step_summary(outcome, &plan.digest));
        }
    }
}

fn exit_code(outcome: &Outcome) -> i32 {
    if outcome.auth_failure.is_some() || outcome.registry_failure.is_some() {
        exit::REGISTRY
    } else if !outcome.failed.is_empty() {
        exit::FAILED
    } else if outcome.interrupted {
        exit::INTERRUPTED
    } else if outcome.stopped_until.is_some() {
        exit::RESUMABLE
    } else {
        exit::OK
    }
}

/// Where the starting estimate of a bucket comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    CratesIo,
    Declared,
    Unknown,
}

/// The starting estimates of the registry's limits, with where they come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pacing {
    new_crates: (Option<RateLimit>, Source),
    new_versions: (Option<RateLimit>, Source),
}

impl Pacing {
    /// Declared limits win; crates.io's published ones are the default there; elsewhere none
    /// (unpaced until the registry answers 429, then paced by what it says).
    fn choose(
        crates_io: bool,
        new_crates: Option<RateLimit>,
        new_versions: Option<RateLimit>,
    ) -> Self {
        let pick = |declared: Option<RateLimit>, built_in: RateLimit| match declared {
            Some(limit) => (Some(limit), Source::Declared),
            None if crates_io => (Some(built_in), Source::CratesIo),
            None => (None, Source::Unknown),
        };
        Self {
            new_crates: pick(new_crates, RateLimit::CRATES_IO_NEW_CRATES),
            new_versions: pick(new_versions, RateLimit::CRATES_IO_NEW_VERSIONS),
        }
    }

    fn describe(limit: (Option<RateLimit>, Source)) -> String {
        match limit {
            (Some(limit), Source::CratesIo) => {
                format!("{limit} (crates.io's published limit; its 429s override it)")
            }
            (Some(limit), _) => format!("{limit} (declared; the registry's 429s override it)"),
            (None, _) => {
                "no limit known: unpaced until the registry answers 429, then paced by what it says"
                    .to_owned()
            }
        }
    }

    fn source(&self) -> &'static str {
        match (self.new_crates.1, self.new_versions.1) {
            (Source::Declared, _) | (_, Source::Declared) => "declared limits",
            (Source::CratesIo, _) => "crates.io's published limits",
            _ => "no known limits",
        }
    }
}

/// What the dry run expects of a registry: one upload takes about this long, and the index
/// shows a version this long after it accepted it.
const ASSUMED: Assumptions = Assumptions {
    upload: Duration::from_secs(1),
    index_latency: Duration::from_secs(5),
};

/// The run as the schedule would make it on [`ASSUMED`] timings: the same rules (critical path
/// first, pacing by the starting estimates, reads) as the real run.
fn expected_run(release: Release<'_>, settings: &Settings, lanes: Lanes) -> Expected {
    let start = std::time::UNIX_EPOCH;
    let crates = release.crates();
    let mut schedule = Schedule::new(&crates, settings.clone(), start);
    for (name, seen) in release.initial {
        schedule.initially_seen(name, seen.clone());
    }
    for krate in &crates {
        if lanes.of(krate.kind).is_none() {
            schedule.hold(&krate.name, "needs an API token".to_owned());
        }
    }
    let Simulation {
        starts,
        finish,
        paced_for,
        ..
    } = simulate(schedule, start, ASSUMED);
    Expected {
        starts: starts
            .into_iter()
            .map(|(name, at)| (name, at.duration_since(start).unwrap_or_default()))
            .collect(),
        duration: finish
            .and_then(|f| f.duration_since(start).ok())
            .unwrap_or_default(),
        paced_for,
    }
}

/// The dry run's expectation, as offsets from the start.
struct Expected {
    starts: BTreeMap<String, Duration>,
    duration: Duration,
    paced_for: Duration,
}

/// Which credentials a run holds.
#[derive(Debug, Clone, Copy)]
struct Lanes {
    api: bool,
    trusted: bool,
}

impl Lanes {
    fn of(self, kind: Kind) -> Option<convoy_schema::events::CredentialLane> {
        credentials::lane(kind, self.api, self.trusted)
    }

    fn describe(self) -> &'static str {
        match (self.api, self.trusted) {
            (true, true) => "trusted publishing for new versions, the API token for new crates",
            (false, true) => "trusted publishing only: new crates need an API token and are left for a rerun with one",
            (true, false) => "the API token",
            (false, false) => "none",
        }
    }
}

fn print_dry_run(
    plan: &Plan,
    release: Release<'_>,
    expected: &Expected,
    pacing: &Pacing,
    lanes: Lanes,
) {
    println!("dry run of plan {}: nothing will be uploaded", plan.digest);
    println!("credentials: {}", lanes.describe());
    println!(
        "pacing of new crates: {}",
        Pacing::describe(pacing.new_crates)
    );
    println!(
        "pacing of new versions: {}",
        Pacing::describe(pacing.new_versions)
    );
    for (wave, names) in plan.waves.iter().enumerate() {
        println!("wave {wave}");
        for name in names {
            let Some(upload) = release.uploads.iter().find(|u| &u.name == name) else {
                continue;
            };
            match expected.starts.get(name) {
                None if release.initial.get(name) == Some(&Seen::Present) => {
                    println!("  {name} {}  already present", upload.version)
                }
                None if release.new_crates.contains(name) && lanes.of(Kind::NewCrate).is_none() => {
                    println!(
                        "  {name} {}  new crate: needs an API token, left for a rerun with one",
                        upload.version
                    )
                }
                None => println!("  {name} {}  not started", upload.version),
                Some(at) => {
                    let kind = if release.new_crates.contains(name) {
                        Kind::NewCrate
                    } else {
                        Kind::NewVersion
                    };
                    let lane = lanes.of(kind).map_or("no credential", output::lane_words);
                    println!(
                        "  {name} {}  {}, {lane}, starts after +{}",
                        upload.version,
                        kind.words(),
                        words_duration(*at)
                    );
                }
            }
        }
    }
    println!(
        "expected duration: {} ({} of it waiting for rate limits), if each upload takes {} and the index shows a version {} after accepting it",
        words_duration(expected.duration),
        words_duration(expected.paced_for),
        words_duration(ASSUMED.upload),
        words_duration(ASSUMED.index_latency)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_starts_from_declared_limits_then_crates_io_then_nothing() {
        let declared = RateLimit {
            burst: 2,
            refill: Duration::from_secs(7),
        };
        let crates_io = Pacing::choose(true, None, Some(declared));
        assert_eq!(
            crates_io.new_crates,
            (Some(RateLimit::CRATES_IO_NEW_CRATES), Source::CratesIo)
        );
        assert_eq!(crates_io.new_versions, (Some(declared), Source::Declared));
        assert_eq!(crates_io.source(), "declared limits");
        let elsewhere = Pacing::choose(false, None, None);
        assert_eq!(elsewhere.new_crates, (None, Source::Unknown));
        assert_eq!(elsewhere.source(), "no known limits");
        assert!(Pacing::describe(elsewhere.new_versions).starts_with("no limit known"));
    }
}
