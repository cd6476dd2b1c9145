//! What a publish run shows: each event as a typed JSON line (the event stream and the journal,
//! [`PublishEvent`]) or as words, the outcome as a terminal summary and as Markdown for a CI's
//! step summary, and the [`dry_run`]'s schedule. Pure: the caller decides where each goes.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convoy_cli::markdown::{cell_code, code, text};
use convoy_registry::error::format_date;
use convoy_schema::events::{
    CredentialLane, EventKind, PublishEvent, UploadKind, EVENTS_FORMAT_VERSION,
};

use crate::credentials::{Lanes, TokenEvent};
use crate::driver::{Event, Outcome};
use crate::release::{Expected, Release, ASSUMED};
use crate::schedule::pace::Pacing;
use crate::schedule::{Kind, Seen};
use convoy_schema::plan::Ecosystem;

/// Seconds since the epoch.
pub fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The wire form of a rate-limit bucket.
pub fn upload_kind(kind: Kind) -> UploadKind {
    match kind {
        Kind::NewCrate => UploadKind::NewCrate,
        Kind::NewVersion => UploadKind::NewVersion,
        Kind::Python => UploadKind::Python,
    }
}

/// `event` as one line of the stream and journal, for the plan with `digest` at `now`;
/// `versions` gives each crate's planned version.
pub fn event_record(
    event: &Event,
    versions: &BTreeMap<String, String>,
    digest: &str,
    now: SystemTime,
) -> PublishEvent {
    let version = |name: &str| versions.get(name).cloned().unwrap_or_default();
    let named = |name: &String| (name.clone(), version(name));
    let kind = match event {
        Event::AlreadyPresent(name) => {
            let (name, version) = named(name);
            EventKind::AlreadyPresent { name, version }
        }
        Event::PublishedEarlier(name) => {
            let (name, version) = named(name);
            EventKind::PublishedEarlier { name, version }
        }
        Event::Uploading {
            name,
            attempt,
            credential,
        } => {
            let (name, version) = named(name);
            EventKind::Uploading {
                name,
                version,
                attempt: *attempt,
                credential: *credential,
            }
        }
        Event::Accepted(name) => {
            let (name, version) = named(name);
            EventKind::Accepted { name, version }
        }
        Event::Warnings { name, warnings } => {
            let (name, version) = named(name);
            EventKind::RegistryWarning {
                name,
                version,
                warnings: warnings.clone(),
            }
        }
        Event::Retrying { name, reason, at } => {
            let (name, version) = named(name);
            EventKind::Retrying {
                name,
                version,
                reason: reason.clone(),
                at: unix(*at),
            }
        }
        Event::Resolving { name, reason } => {
            let (name, version) = named(name);
            EventKind::Resolving {
                name,
                version,
                reason: reason.clone(),
            }
        }
        Event::Visible(name) => {
            let (name, version) = named(name);
            EventKind::Visible { name, version }
        }
        Event::Failed { name, reason } => {
            let (name, version) = named(name);
            EventKind::Failed {
                name,
                version,
                reason: reason.clone(),
            }
        }
        Event::NeedsApiToken(name) => {
            let (name, version) = named(name);
            EventKind::NeedsApiToken { name, version }
        }
        Event::Pacing { name, at } => {
            let (name, version) = named(name);
            EventKind::Paced {
                name,
                version,
                at: unix(*at),
            }
        }
        Event::RateLimited {
            name,
            kind,
            until,
            refill,
        } => {
            let (name, version) = named(name);
            EventKind::RateLimited {
                name,
                version,
                kind: upload_kind(*kind),
                until: unix(*until),
                refill_ms: refill.map(millis),
            }
        }
        Event::Token(TokenEvent::Issued {
            python,
            refreshed,
            refresh_at,
        }) => EventKind::TokenIssued {
            ecosystem: if *python {
                Ecosystem::Python
            } else {
                Ecosystem::Cargo
            },
            refreshed: *refreshed,
            refresh_at: unix(*refresh_at),
        },
        Event::Token(TokenEvent::Revoked(result)) => EventKind::TokenRevoked {
            ok: result.is_ok(),
            detail: result.as_ref().err().cloned(),
        },
        Event::Stopping { reason, until } => EventKind::Stopping {
            reason: reason.clone(),
            until: unix(*until),
        },
        Event::Finished {
            paced_for,
            rate_limited,
            index_reads,
        } => EventKind::Finished {
            paced_ms: millis(*paced_for),
            rate_limited: *rate_limited,
            index_reads: *index_reads,
        },
    };
    PublishEvent {
        format_version: EVENTS_FORMAT_VERSION,
        plan: digest.to_owned(),
        time: unix(now),
        time_ms: unix_ms(now),
        event: kind,
    }
}

/// Words for a credential lane.
pub fn lane_words(lane: CredentialLane) -> &'static str {
    match lane {
        CredentialLane::ApiToken => "API token",
        CredentialLane::TrustedPublishing => "trusted publishing",
    }
}

/// `event` as one line of words for a terminal.
pub fn event_words(event: &Event, versions: &BTreeMap<String, String>) -> String {
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
        Event::Uploading {
            name,
            attempt,
            credential,
        } => format!(
            "  uploading        {name} {} (attempt {attempt}, {})",
            v(name),
            lane_words(*credential)
        ),
        Event::Accepted(name) => format!(
            "  accepted         {name} {}; waiting for the index",
            v(name)
        ),
        Event::Warnings { name, warnings } => format!(
            "  registry warns   {name} {}: {}",
            v(name),
            warnings.join("; ")
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
        Event::NeedsApiToken(name) => format!(
            "  needs API token  {name} {}: a new crate; crates.io creates crates only with an API token",
            v(name)
        ),
        Event::Pacing { name, at } => format!(
            "  paced            {name} {} until {} (registry rate limit)",
            v(name),
            format_date(*at)
        ),
        Event::RateLimited {
            name,
            kind,
            until,
            refill,
        } => format!(
            "  rate limited     {name} {}: {} uploads wait until {}{} (not a failed attempt)",
            v(name),
            kind.words(),
            format_date(*until),
            refill.map_or(String::new(), |r| format!(
                "; learned: 1 per {}",
                words_duration(r)
            ))
        ),
        Event::Token(TokenEvent::Issued {
            python,
            refreshed,
            refresh_at,
        }) => format!(
            "  token            {} trusted-publishing token{}; replaced after {} if still needed",
            if *refreshed { "replaced the" } else { "obtained a" },
            if *python { " for the Python index" } else { "" },
            format_date(*refresh_at)
        ),
        Event::Token(TokenEvent::Revoked(Ok(()))) => {
            "  token            revoked the trusted-publishing token".to_owned()
        }
        Event::Token(TokenEvent::Revoked(Err(detail))) => format!(
            "  token            could not revoke a trusted-publishing token (it expires by itself within 30 min): {detail}"
        ),
        Event::Finished {
            paced_for,
            rate_limited,
            index_reads,
        } => format!(
            "  finished         waited {} for the registry's rate limits ({} answered 429); {index_reads} index reads",
            words_duration(*paced_for),
            uploads(*rate_limited)
        ),
    }
}

/// What a rerun needs to finish the crates a trusted-publishing-only run could not create.
fn needs_api_token_words(outcome: &Outcome) -> Option<String> {
    if outcome.needs_api_token.is_empty() {
        return None;
    }
    let waiting: Vec<&str> = outcome
        .failed
        .iter()
        .filter(|(name, _)| !outcome.needs_api_token.contains(name))
        .filter(|(_, reason)| reason.starts_with("its dependency"))
        .map(|(name, _)| name.as_str())
        .collect();
    let mut words = format!(
        "{} new crate(s) need an API token (the registry creates crates only with one): {}",
        outcome.needs_api_token.len(),
        outcome.needs_api_token.join(", ")
    );
    if !waiting.is_empty() {
        words.push_str(&format!("; waiting on them: {}", waiting.join(", ")));
    }
    words.push_str(
        ". Rerun the same plan with the API token in the environment (with or without --trusted-publishing) to publish them.",
    );
    Some(words)
}

/// The outcome for a terminal, after the run.
pub fn summary(outcome: &Outcome, digest: &str) -> String {
    let earlier = match outcome.published_earlier.len() {
        0 => String::new(),
        n => format!(" (+{n} by an earlier run)"),
    };
    let mut summary = format!(
        "convoy-publish: {} published{earlier}, {} already present, {} failed (plan {digest})",
        outcome.published.len(),
        outcome.already_present.len(),
        outcome.failed.len(),
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
    if let Some(words) = needs_api_token_words(outcome) {
        summary.push_str(&format!("\n  stopped: {words}"));
    }
    if let Some(detail) = &outcome.registry_failure {
        summary.push_str(&format!("\n  stopped: {detail}"));
    }
    if let Some(detail) = &outcome.auth_failure {
        summary.push_str(&format!(
            "\n  stopped: the registry refused the token: {detail}"
        ));
    }
    if outcome.interrupted {
        summary.push_str("\n  interrupted: rerun the same plan to continue");
    } else if let Some(at) = outcome.stopped_until {
        summary.push_str(&format!(
            "\n  stopped at --max-wait: rerun the same plan after {} to continue",
            format_date(at)
        ));
    }
    summary
}

/// The outcome as Markdown for a CI's step summary. Crate names come from the plan and reasons
/// from what the registry said: every one is escaped.
pub fn step_summary(outcome: &Outcome, digest: &str) -> String {
    let mut markdown = format!(
        "### convoy-publish\n\nPlan {}\n\n| Crate | Result |\n|---|---|\n",
        code(digest)
    );
    let mut row = |name: &str, result: &str| {
        markdown.push_str(&format!("| {} | {result} |\n", cell_code(name)));
    };
    for name in &outcome.published {
        row(name, "published");
    }
    for name in &outcome.published_earlier {
        row(name, "published by an earlier run");
    }
    for name in &outcome.already_present {
        row(name, "already present");
    }
    for name in &outcome.needs_api_token {
        row(name, "needs an API token (new crate)");
    }
    for (name, reason) in outcome
        .failed
        .iter()
        .filter(|(name, _)| !outcome.needs_api_token.contains(name))
    {
        row(name, &format!("failed: {}", text(reason)));
    }
    if let Some(words) = needs_api_token_words(outcome) {
        markdown.push_str(&format!("\nStopped: {}\n", text(&words)));
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
    if outcome.interrupted {
        markdown.push_str("\nInterrupted: rerun the same plan to continue.\n");
    } else if let Some(at) = outcome.stopped_until {
        markdown.push_str(&format!(
            "\nStopped before the end: rerun the same plan after {}.\n",
            format_date(at)
        ));
    }
    markdown
}

/// `1 upload`, `2 uploads`.
pub fn uploads(count: u32) -> String {
    match count {
        1 => "1 upload".to_owned(),
        n => format!("{n} uploads"),
    }
}

/// `90 s`, `12 min 5 s`, `2 h 3 min`.
pub fn words_duration(duration: Duration) -> String {
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

/// What `--dry-run` prints: the credentials and pacing the run would use, then each wave's crates
/// with what happens to them and when each would start, and the expected duration on the
/// assumed timings.
pub fn dry_run(
    digest: &str,
    waves: &[Vec<String>],
    release: Release<'_>,
    expected: &Expected,
    pacing: &Pacing,
    lanes: Lanes,
) -> String {
    let mut out = format!(
        "dry run of plan {}: nothing will be uploaded\ncredentials: {}\npacing of new crates: {}\npacing of new versions: {}\n",
        digest,
        lanes.describe(),
        Pacing::describe(pacing.new_crates),
        Pacing::describe(pacing.new_versions)
    );
    let held = release.needs_api_token(&|kind| lanes.of(kind));
    for (wave, names) in waves.iter().enumerate() {
        out.push_str(&format!("wave {wave}\n"));
        for name in names {
            let Some(upload) = release.uploads.iter().find(|u| &u.name == name) else {
                continue;
            };
            let version = upload.version_text();
            let what = match expected.starts.get(name) {
                None if release.initial.get(name) == Some(&Seen::Present) => {
                    "already present".to_owned()
                }
                None if held.contains(name) => {
                    "new crate: needs an API token, left for a rerun with one".to_owned()
                }
                None => "not started".to_owned(),
                Some(at) => {
                    let kind = release.kind(name);
                    let lane = lanes.of(kind).map_or("no credential", lane_words);
                    format!(
                        "{}, {lane}, starts after +{}",
                        kind.words(),
                        words_duration(*at)
                    )
                }
            };
            out.push_str(&format!("  {name} {version}  {what}\n"));
        }
    }
    out.push_str(&format!(
        "expected duration: {} ({} of it waiting for rate limits), if each upload takes {} and the index shows a version {} after accepting it\n",
        words_duration(expected.duration),
        words_duration(expected.paced_for),
        words_duration(ASSUMED.upload),
        words_duration(ASSUMED.index_latency)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dry_run_shows_credentials_pacing_and_each_crates_start() {
        use crate::credentials::Lanes;
        use crate::journal::EarlierRuns;
        use crate::schedule::Settings;
        use convoy_registry::rate::RateLimit;
        use std::collections::BTreeSet;

        use crate::release::upload;
        let uploads = [
            upload("base", &[]),
            upload("done", &[]),
            upload("fresh", &[]),
            upload("mid", &["base"]),
            upload("top", &["mid", "fresh"]),
        ];
        let initial: BTreeMap<String, Seen> = uploads
            .iter()
            .map(|u| {
                let seen = if u.name == "done" {
                    Seen::Present
                } else {
                    Seen::Absent
                };
                (u.name.clone(), seen)
            })
            .collect();
        let new_crates = BTreeSet::from(["fresh".to_owned()]);
        let earlier = EarlierRuns::default();
        let release = Release {
            uploads: &uploads,
            initial: &initial,
            new_crates: &new_crates,
            earlier: &earlier,
        };
        let waves: Vec<Vec<String>> = [vec!["base", "done", "fresh"], vec!["mid"], vec!["top"]]
            .iter()
            .map(|w| w.iter().map(|s| (*s).to_owned()).collect())
            .collect();
        let pacing = Pacing::choose(
            true,
            None,
            Some(RateLimit {
                burst: 1,
                refill: Duration::from_secs(60),
            }),
        );
        let settings = Settings {
            new_crates: pacing.new_crates.0,
            new_versions: pacing.new_versions.0,
            ..Settings::default()
        };
        let mut shown = String::new();
        for lanes in [
            Lanes {
                api: true,
                trusted: false,
            },
            Lanes {
                api: false,
                trusted: true,
            },
        ] {
            let expected = release.expected(settings.clone(), &|kind| lanes.of(kind));
            shown.push_str(&dry_run(
                "sha256:abc",
                &waves,
                release,
                &expected,
                &pacing,
                lanes,
            ));
        }
        insta::assert_snapshot!(shown);
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(words_duration(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(words_duration(Duration::from_secs(59)), "59 s");
        assert_eq!(words_duration(Duration::from_secs(725)), "12 min 5 s");
        assert_eq!(words_duration(Duration::from_secs(7380)), "2 h 3 min");
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
    }

    /// One of every event, in a run's order.
    fn every_event() -> Vec<Event> {
        let name = |n: &str| n.to_owned();
        vec![
            Event::Token(TokenEvent::Issued {
                python: false,
                refreshed: false,
                refresh_at: at(1200),
            }),
            Event::Token(TokenEvent::Issued {
                python: true,
                refreshed: false,
                refresh_at: at(600),
            }),
            Event::AlreadyPresent(name("base")),
            Event::PublishedEarlier(name("core")),
            Event::NeedsApiToken(name("fresh")),
            Event::Uploading {
                name: name("app"),
                attempt: 1,
                credential: CredentialLane::TrustedPublishing,
            },
            Event::Retrying {
                name: name("app"),
                reason: "the registry failed (HTTP 503): busy".into(),
                at: at(2),
            },
            Event::RateLimited {
                name: name("app"),
                kind: Kind::NewVersion,
                until: at(60),
                refill: Some(Duration::from_millis(60_500)),
            },
            Event::Pacing {
                name: name("app"),
                at: at(60),
            },
            Event::Accepted(name("app")),
            Event::Warnings {
                name: name("app"),
                warnings: vec!["category `gamez` is not one the registry knows; ignored".into()],
            },
            Event::Resolving {
                name: name("app"),
                reason: "outcome unknown".into(),
            },
            Event::Visible(name("app")),
            Event::Failed {
                name: name("cli"),
                reason: "its dependency `fresh` was not published".into(),
            },
            Event::Token(TokenEvent::Issued {
                python: false,
                refreshed: true,
                refresh_at: at(2400),
            }),
            Event::Token(TokenEvent::Revoked(Ok(()))),
            Event::Token(TokenEvent::Revoked(Err("HTTP 500".into()))),
            Event::Stopping {
                reason: "--max-wait reached".into(),
                until: at(3600),
            },
            Event::Finished {
                paced_for: Duration::from_secs(58),
                rate_limited: 1,
                index_reads: 7,
            },
        ]
    }

    #[test]
    fn the_event_stream_snapshot() {
        let versions: BTreeMap<String, String> = ["base", "core", "fresh", "app", "cli"]
            .iter()
            .map(|n| ((*n).to_owned(), "1.2.0".to_owned()))
            .collect();
        let mut json = String::new();
        let mut words = String::new();
        for (i, event) in every_event().iter().enumerate() {
            let record = event_record(event, &versions, "sha256:abc", at(i as u64));
            let line = record.to_line();
            // Every line reads back as the typed event it was written from.
            assert_eq!(PublishEvent::from_line(&line).unwrap(), record);
            json.push_str(&line);
            json.push('\n');
            words.push_str(&event_words(event, &versions));
            words.push('\n');
        }
        insta::assert_snapshot!("event_stream_json", json);
        insta::assert_snapshot!("event_stream_words", words);
    }

    fn mixed_outcome() -> Outcome {
        Outcome {
            published: vec!["app".into()],
            published_earlier: vec!["core".into()],
            already_present: vec!["base".into()],
            needs_api_token: vec!["fresh".into()],
            failed: vec![
                ("fresh".into(), "a new crate: …".into()),
                (
                    "cli".into(),
                    "its dependency `fresh` was not published".into(),
                ),
                ("we|ird`<b>".into(), "HTTP 400: bad | *thing*".into()),
            ],
            paced_for: Duration::from_secs(61),
            rate_limited: 2,
            ..Outcome::default()
        }
    }

    #[test]
    fn the_step_summary_snapshot() {
        insta::assert_snapshot!(step_summary(&mixed_outcome(), "sha256:abc"));
        let stopped = Outcome {
            published: vec!["a".into()],
            stopped_until: Some(at(3600)),
            auth_failure: Some("token expired".into()),
            ..Outcome::default()
        };
        insta::assert_snapshot!("step_summary_stopped", step_summary(&stopped, "sha256:abc"));
    }

    #[test]
    fn the_terminal_summary_lists_new_crates_and_what_waits_on_them() {
        let text = summary(&mixed_outcome(), "sha256:abc");
        assert!(
            text.contains("1 new crate(s) need an API token (the registry creates crates only with one): fresh; waiting on them: cli."),
            "{text}"
        );
        insta::assert_snapshot!(text);
    }
}
