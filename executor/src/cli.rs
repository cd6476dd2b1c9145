//! The `convoy-publish` command line: refusals first, then the run, errors mapped to exit codes
//! in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use convoy_registry::auth::{token_from_env, token_variable};
use convoy_registry::clock::{Clock, SystemClock};
use convoy_registry::error::format_date;
use convoy_registry::rate::RateLimit;
use convoy_registry::resolve::{cargo_config_files, resolve, RegistryChoice, ResolveError};
use convoy_registry::{ClientOptions, Freshness, RegistryClient, RegistryError, CRATES_IO};
use convoy_schema::exit;
use convoy_schema::plan::Plan;
use convoy_schema::snapshot::RegistryTarget;

use crate::driver::{self, Event, Outcome, Release, RunOptions};
use crate::journal::{self, EarlierRuns, Journal, JournalError};
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
            Self::NoToken { .. } => "set the token in that variable (never on the command line), or name another with --token-env".to_owned(),
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
            Self::Registry { .. } | Self::NoToken { .. } => exit::REGISTRY,
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
    let variable =
        token_variable(registry.name.as_deref(), cli.token_env.as_deref()).ok_or_else(|| {
            invalid(
                "token-variable-unknown",
                "a registry given only by --index has no standard token variable".to_owned(),
                "name the variable with --token-env VAR",
            )
        })?;
    let token = token_from_env(&variable, &|v| std::env::var(v).ok());
    if token.is_none() && !cli.dry_run {
        return Err(Stop::NoToken { variable });
    }
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
                read_token: token.clone(),
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
        let expected = expected_run(release, &options.schedule);
        if cli.dry_run {
            print_dry_run(&plan, release, &expected, &pacing);
            return Ok(exit::OK);
        }
        let Some(token) = token else {
            return Err(Stop::NoToken { variable });
        };
        if expected.paced_for > Duration::from_secs(60) {
            eprintln!(
                "convoy-publish: paced by the registry's rate limits ({}): expected to take at least {}",
                pacing.source(),
                words_duration(expected.duration)
            );
        }
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
            let line = event_json(&event, &versions, &plan.digest, clock.now());
            if let Err(error) = journal.append(&line) {
                tracing::warn!(%error, "cannot append to the journal");
            }
            events_seen += 1;
            if abort_after == Some(events_seen) {
                std::process::abort();
            }
            match (format, &progress) {
                (Format::Json, _) => println!("{line}"),
                (Format::Human, Some(bar)) => {
                    if matches!(
                        event,
                        Event::Visible(_) | Event::AlreadyPresent(_) | Event::PublishedEarlier(_)
                    ) {
                        bar.inc(1);
                    }
                    bar.set_message(event_words(&event, &versions).trim().to_owned());
                    bar.println(event_words(&event, &versions));
                }
                (Format::Human, None) => eprintln!("{}", event_words(&event, &versions)),
            }
        };
        let release = Release {
            earlier: &earlier,
            ..release
        };
        let outcome = driver::run(&client, &token, release, &clock, &options, &mut on_event).await;
        if let Some(bar) = &progress {
            bar.finish_and_clear();
        }
        report(&outcome, &plan, format);
        Ok(exit_code(&outcome))
    })
}

fn exit_code(outcome: &Outcome) -> i32 {
    if outcome.auth_failure.is_some() || outcome.registry_failure.is_some() {
        exit::REGISTRY
    } else if !outcome.failed.is_empty() {
        exit::FAILED
    } else if outcome.stopped_until.is_some() {
        exit::RESUMABLE
    } else {
        exit::OK
    }
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn event_json(
    event: &Event,
    versions: &BTreeMap<String, String>,
    digest: &str,
    now: SystemTime,
) -> String {
    let version = |name: &str| versions.get(name).cloned().unwrap_or_default();
    let value = match event {
        Event::AlreadyPresent(name) => {
            serde_json::json!({"event": "already-present", "crate": name, "version": version(name)})
        }
        Event::PublishedEarlier(name) => {
            serde_json::json!({"event": "published-earlier", "crate": name, "version": version(name)})
        }
        Event::Stopping { reason, until } => {
            serde_json::json!({"event": "stopping", "reason": reason, "until": unix(*until)})
        }
        Event::Uploading { name, attempt } => {
            serde_json::json!({"event": "uploading", "crate": name, "version": version(name), "attempt": attempt})
        }
        Event::Accepted(name) => {
            serde_json::json!({"event": "accepted", "crate": name, "version": version(name)})
        }
        Event::Retrying { name, reason, at } => {
            serde_json::json!({"event": "retrying", "crate": name, "version": version(name), "reason": reason, "at": unix(*at)})
        }
        Event::Resolving { name, reason } => {
            serde_json::json!({"event": "resolving", "crate": name, "version": version(name), "reason": reason})
        }
        Event::Visible(name) => {
            serde_json::json!({"event": "visible", "crate": name, "version": version(name)})
        }
        Event::Failed { name, reason } => {
            serde_json::json!({"event": "failed", "crate": name, "version": version(name), "reason": reason})
        }
        Event::Pacing { name, at } => {
            serde_json::json!({"event": "paced", "crate": name, "version": version(name), "at": unix(*at)})
        }
        Event::RateLimited {
            name,
            kind,
            until,
            refill,
        } => {
            serde_json::json!({"event": "rate-limited", "crate": name, "version": version(name), "kind": kind_code(*kind), "until": unix(*until), "refill_ms": refill.map(|r| r.as_millis() as u64)})
        }
        Event::Finished {
            paced_for,
            rate_limited,
            index_reads,
        } => {
            serde_json::json!({"event": "finished", "paced_ms": paced_for.as_millis() as u64, "rate_limited": rate_limited, "index_reads": index_reads})
        }
    };
    let mut value = value;
    value["plan"] = serde_json::json!(digest);
    value["time"] = serde_json::json!(unix(now));
    // Milliseconds too: a release's timeline is read at that resolution.
    value["time_ms"] = serde_json::json!(now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64));
    value.to_string()
}

fn event_words(event: &Event, versions: &BTreeMap<String, String>) -> String {
    let v = |name: &str| versions.get(name).cloned().unwrap_or_default();
    match event {
        Event::AlreadyPresent(name) => format!("  already present  {name} {}", v(name)),
        Event::PublishedEarlier(name) => {
            format!("  published        {name} {} (by an earlier run)", v(name))
        }
        Event::Stopping { reason, until } => format!(
            "  stopping         {reason}; rerun the same plan after {}",
            format_date(*until)
        ),
        Event::Uploading { name, attempt } => {
            format!("  uploading        {name} {} (attempt {attempt})", v(name))
        }
        Event::Accepted(name) => format!(
            "  accepted         {name} {}; waiting for the index",
            v(name)
        ),
        Event::Retrying { name, reason, at } => format!(
            "  retrying         {name} {} after {}: {reason}",
            v(name),
            format_date(*at)
        ),
        Event::Resolving { name, reason } => format!(
            "  resolving        {name} {} by reading the index: {reason}",
            v(name)
        ),
        Event::Visible(name) => format!("  visible          {name} {}", v(name)),
        Event::Failed { name, reason } => {
            format!("  failed           {name} {}: {reason}", v(name))
        }
        Event::Pacing { name, at } => format!(
            "  paced            {name} {} until {} (registry rate limit)",
            v(name),
            format_date(*at)
        ),
        Event::RateLimited { name, kind, until, refill } => format!(
            "  rate limited     {name} {}: {} uploads wait until {}{} (not a failed attempt)",
            v(name),
            kind.words(),
            format_date(*until),
            refill.map_or(String::new(), |r| format!("; learned: 1 per {}", words_duration(r)))
        ),
        Event::Finished { paced_for, rate_limited, index_reads } => format!(
            "  finished         waited {} for the registry's rate limits ({} answered 429); {index_reads} index reads",
            words_duration(*paced_for),
            uploads(*rate_limited)
        ),
    }
}

fn report(outcome: &Outcome, plan: &Plan, format: Format) {
    let earlier = match outcome.published_earlier.len() {
        0 => String::new(),
        n => format!(" (+{n} by an earlier run)"),
    };
    let mut summary = format!(
        "convoy-publish: {} published{earlier}, {} already present, {} failed (plan {})",
        outcome.published.len(),
        outcome.already_present.len(),
        outcome.failed.len(),
        plan.digest
    );
    if !outcome.paced_for.is_zero() || outcome.rate_limited > 0 {
        summary.push_str(&format!(
            "\n  waited {} for the registry's rate limits ({} answered 429, none counted as a failed attempt)",
            words_duration(outcome.paced_for),
            uploads(outcome.rate_limited)
        ));
    }
    for (name, reason) in &outcome.failed {
        summary.push_str(&format!("\n  failed: {name}: {reason}"));
    }
    if let Some(detail) = &outcome.registry_failure {
        summary.push_str(&format!("\n  stopped: {detail}"));
    }
    if let Some(detail) = &outcome.auth_failure {
        summary.push_str(&format!(
            "\n  stopped: the registry refused the token: {detail}"
        ));
    }
    if let Some(at) = outcome.stopped_until {
        summary.push_str(&format!(
            "\n  stopped at --max-wait: rerun the same plan after {} to continue",
            format_date(at)
        ));
    }
    if format == Format::Human {
        eprintln!("{summary}");
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        // Crate names come from the plan, reasons from what the registry said: escaped.
        use convoy_cli::markdown::{cell_code, code, text};
        let mut markdown = format!(
            "### convoy-publish\n\nPlan {}\n\n| Crate | Result |\n|---|---|\n",
            code(&plan.digest)
        );
        for name in &outcome.published {
            markdown.push_str(&format!("| {} | published |\n", cell_code(name)));
        }
        for name in &outcome.published_earlier {
            markdown.push_str(&format!(
                "| {} | published by an earlier run |\n",
                cell_code(name)
            ));
        }
        for name in &outcome.already_present {
            markdown.push_str(&format!("| {} | already present |\n", cell_code(name)));
        }
        for (name, reason) in &outcome.failed {
            markdown.push_str(&format!(
                "| {} | failed: {} |\n",
                cell_code(name),
                text(reason)
            ));
        }
        for stop in [&outcome.registry_failure, &outcome.auth_failure]
            .into_iter()
            .flatten()
        {
            markdown.push_str(&format!("\nStopped: {}\n", text(stop)));
        }
        if !outcome.paced_for.is_zero() || outcome.rate_limited > 0 {
            markdown.push_str(&format!(
                "\nWaited {} for the registry's rate limits ({} answered 429).\n",
                words_duration(outcome.paced_for),
                uploads(outcome.rate_limited)
            ));
        }
        if let Some(at) = outcome.stopped_until {
            markdown.push_str(&format!(
                "\nStopped before the end: rerun the same plan after {}.\n",
                format_date(at)
            ));
        }
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{markdown}");
        }
    }
}

/// `1 upload`, `2 uploads`.
fn uploads(count: u32) -> String {
    match count {
        1 => "1 upload".to_owned(),
        n => format!("{n} uploads"),
    }
}

fn kind_code(kind: Kind) -> &'static str {
    match kind {
        Kind::NewCrate => "new-crate",
        Kind::NewVersion => "new-version",
    }
}

/// `90 s`, `12 min 5 s`, `2 h 3 min`.
fn words_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 10.0 {
        return format!("{seconds:.1} s");
    }
    let seconds = seconds.round() as u64;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
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
fn expected_run(release: Release<'_>, settings: &Settings) -> Expected {
    let start = std::time::UNIX_EPOCH;
    let mut schedule = Schedule::new(&release.crates(), settings.clone(), start);
    for (name, seen) in release.initial {
        schedule.initially_seen(name, seen.clone());
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

fn print_dry_run(plan: &Plan, release: Release<'_>, expected: &Expected, pacing: &Pacing) {
    println!("dry run of plan {}: nothing will be uploaded", plan.digest);
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
                None => println!("  {name} {}  not started", upload.version),
                Some(at) => {
                    let kind = if release.new_crates.contains(name) {
                        "new crate"
                    } else {
                        "new version"
                    };
                    println!(
                        "  {name} {}  {kind}, starts after +{}",
                        upload.version,
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

    #[test]
    fn durations_read_as_words() {
        assert_eq!(words_duration(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(words_duration(Duration::from_secs(59)), "59 s");
        assert_eq!(words_duration(Duration::from_secs(725)), "12 min 5 s");
        assert_eq!(words_duration(Duration::from_secs(7380)), "2 h 3 min");
    }
}
