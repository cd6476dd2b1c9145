//! The one IO loop that drives the [`Schedule`]: uploads, index polls, pacing and retries, all
//! timed by a [`Clock`] so tests run it on a manual clock without sleeping.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use convoy_registry::auth::Token;
use convoy_registry::clock::Clock;
use convoy_registry::index::IndexEntry;
use convoy_registry::rate::{Bucket, RateLimit};
use convoy_registry::{Freshness, RegistryClient, RegistryError};
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::schedule::{Schedule, Seen, State, UploadResult};
use crate::validate::Upload;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Uploads in flight at most.
    pub concurrency: usize,
    /// How long an accepted upload may take to become visible.
    pub poll_timeout: Duration,
    /// First wait between index polls; doubles up to `poll_cap`.
    pub poll_start: Duration,
    /// Longest wait between index polls.
    pub poll_cap: Duration,
    /// Upload buckets to pace by (crates.io's when publishing there).
    pub pacing: Option<(RateLimit, RateLimit)>,
    /// Stop cleanly instead of starting an upload later than this after the start.
    pub max_wait: Option<Duration>,
    /// Attempts per crate for retryable failures.
    pub max_attempts: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            poll_timeout: Duration::from_secs(300),
            poll_start: Duration::from_millis(500),
            poll_cap: Duration::from_secs(10),
            pacing: None,
            max_wait: None,
            max_attempts: 8,
        }
    }
}

/// Something that happened, for progress output and the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Already visible with the planned cksum before this run uploaded anything.
    AlreadyPresent(String),
    /// An upload starts.
    Uploading {
        /// Crate.
        name: String,
        /// 1-based attempt.
        attempt: u32,
    },
    /// The registry accepted an upload.
    Accepted(String),
    /// An upload will be retried.
    Retrying {
        /// Crate.
        name: String,
        /// Why.
        reason: String,
        /// Not before.
        at: SystemTime,
    },
    /// The outcome of an upload is being resolved by reading the index.
    Resolving {
        /// Crate.
        name: String,
        /// Why.
        reason: String,
    },
    /// Visible in the index with the planned cksum.
    Visible(String),
    /// Will not be published by this run.
    Failed {
        /// Crate.
        name: String,
        /// Why.
        reason: String,
    },
    /// Uploads are paced: the next starts at `at`.
    Pacing {
        /// Crate.
        name: String,
        /// When.
        at: SystemTime,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Uploaded and visible.
    pub published: Vec<String>,
    /// Visible before this run.
    pub already_present: Vec<String>,
    /// Not published, with why.
    pub failed: Vec<(String, String)>,
    /// Stopped at `--max-wait`: the time to rerun from.
    pub stopped_until: Option<SystemTime>,
    /// The registry refused the credentials.
    pub auth_failure: Option<String>,
}

/// What the index shows for `version` with `sha256`.
pub fn seen_in(entries: Option<&[IndexEntry]>, version: &semver::Version, sha256: &str) -> Seen {
    match entries.and_then(|entries| entries.iter().find(|e| &e.vers == version)) {
        Some(entry) if entry.cksum == sha256 => Seen::Present,
        Some(entry) => Seen::OtherContent(entry.cksum.clone()),
        None => Seen::Absent,
    }
}

/// A deterministic jitter in [0.5, 1.5) of `base`, from the crate name and attempt.
fn jittered(base: Duration, name: &str, attempt: u32) -> Duration {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes().chain(attempt.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let factor = 0.5 + (hash % 1000) as f64 / 1000.0;
    base.mul_f64(factor)
}

fn retry_delay(attempt: u32, name: &str) -> Duration {
    let base = Duration::from_secs(1) * 2u32.saturating_pow(attempt.saturating_sub(1)).min(64);
    jittered(base, name, attempt)
}

type UploadFuture<'a> = Pin<Box<dyn Future<Output = (String, Result<(), RegistryError>)> + 'a>>;

/// What to publish, and what the index showed before the run.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    /// Validated uploads.
    pub uploads: &'a [Upload],
    /// Crate → what the index showed before anything was uploaded.
    pub initial: &'a BTreeMap<String, Seen>,
    /// Crates with no version in the registry yet (they use the new-crate bucket).
    pub new_crates: &'a BTreeSet<String>,
}

/// Publishes a release through `client`.
pub async fn run(
    client: &RegistryClient,
    token: &Token,
    release: Release<'_>,
    clock: &dyn Clock,
    options: &RunOptions,
    events: &mut dyn FnMut(Event),
) -> Outcome {
    let Release {
        uploads,
        initial,
        new_crates,
    } = release;
    let by_name: BTreeMap<&str, &Upload> = uploads.iter().map(|u| (u.name.as_str(), u)).collect();
    let order: Vec<(String, Vec<String>)> = uploads
        .iter()
        .map(|u| (u.name.clone(), u.after.clone()))
        .collect();
    let mut schedule = Schedule::new(&order, options.concurrency);
    for (name, seen) in initial {
        if *seen == Seen::Present {
            events(Event::AlreadyPresent(name.clone()));
        }
        schedule.initially_seen(name, seen.clone());
    }
    let start = clock.now();
    let deadline = options.max_wait.map(|wait| start + wait);
    let mut buckets = options
        .pacing
        .map(|(new, versions)| (Bucket::new(new, start), Bucket::new(versions, start)));
    let mut paced: BTreeSet<String> = BTreeSet::new();
    let mut stopped_until: Option<SystemTime> = None;
    let mut auth_failure: Option<String> = None;
    let mut in_flight: FuturesUnordered<UploadFuture<'_>> = FuturesUnordered::new();
    let mut waiting_since: BTreeMap<String, SystemTime> = BTreeMap::new();
    let mut poll_delay = options.poll_start;
    let mut next_poll = start;

    loop {
        let now = clock.now();
        // Pace newly ready crates by the registry's buckets, in name order.
        if stopped_until.is_none() && auth_failure.is_none() {
            for name in schedule.names(|s| matches!(s, State::Ready { .. })) {
                if paced.contains(&name) {
                    continue;
                }
                let Some((new_bucket, version_bucket)) = buckets.as_mut() else {
                    break;
                };
                let bucket = if new_crates.contains(&name) {
                    new_bucket
                } else {
                    version_bucket
                };
                let at = bucket.reserve(now);
                paced.insert(name.clone());
                if at > now {
                    if deadline.is_some_and(|d| at > d) {
                        stopped_until = Some(at);
                        break;
                    }
                    events(Event::Pacing {
                        name: name.clone(),
                        at,
                    });
                    schedule.upload_finished(&name, UploadResult::Retry { not_before: at });
                }
            }
        }
        if stopped_until.is_none() && auth_failure.is_none() {
            for name in schedule.start_uploads(now) {
                let Some(upload) = by_name.get(name.as_str()).copied() else {
                    continue;
                };
                events(Event::Uploading {
                    name: name.clone(),
                    attempt: schedule.attempts(&name),
                });
                let now = clock.now();
                in_flight.push(Box::pin(async move {
                    let result = client
                        .publish(token, &upload.metadata, &upload.bytes, now)
                        .await
                        .map(|_| ());
                    (upload.name.clone(), result)
                }));
            }
        }

        // Poll the index for crates being confirmed or resolved, all in one round.
        let to_poll = schedule.to_poll();
        for name in &to_poll {
            waiting_since.entry(name.clone()).or_insert(now);
        }
        if !to_poll.is_empty() && now >= next_poll {
            match client.index_files(&to_poll, 16, Freshness::Fresh).await {
                Ok(files) => {
                    for name in &to_poll {
                        let Some(upload) = by_name.get(name.as_str()) else {
                            continue;
                        };
                        let seen = seen_in(
                            files.get(name).and_then(|f| f.as_deref()),
                            &upload.version,
                            &upload.sha256,
                        );
                        let was_resolving = schedule.state(name) == Some(&State::Resolving);
                        schedule.seen(name, seen.clone());
                        match schedule.state(name) {
                            Some(State::Visible { .. }) => {
                                waiting_since.remove(name);
                                events(Event::Visible(name.clone()));
                            }
                            Some(State::Failed(reason)) => {
                                waiting_since.remove(name);
                                events(Event::Failed {
                                    name: name.clone(),
                                    reason: reason.clone(),
                                });
                            }
                            Some(State::Ready { .. }) if was_resolving => {
                                waiting_since.remove(name);
                            }
                            _ => {
                                let since = waiting_since.get(name).copied().unwrap_or(now);
                                if now.duration_since(since).unwrap_or_default()
                                    > options.poll_timeout
                                {
                                    schedule.visibility_timed_out(name);
                                    waiting_since.remove(name);
                                    if let Some(State::Failed(reason)) = schedule.state(name) {
                                        events(Event::Failed {
                                            name: name.clone(),
                                            reason: reason.clone(),
                                        });
                                    }
                                }
                            }
                        }
                    }
                    poll_delay = (poll_delay * 2).min(options.poll_cap);
                }
                Err(error) => {
                    tracing::warn!(%error, "index poll failed; will poll again");
                    poll_delay = (poll_delay * 2).min(options.poll_cap);
                }
            }
            next_poll = clock.now() + poll_delay;
        }
        if to_poll.is_empty() {
            poll_delay = options.poll_start;
        }

        let nothing_left = in_flight.is_empty() && schedule.to_poll().is_empty();
        if schedule.is_finished()
            || (nothing_left && (stopped_until.is_some() || auth_failure.is_some()))
        {
            break;
        }
        if nothing_left
            && schedule
                .names(|s| matches!(s, State::Ready { .. }))
                .is_empty()
        {
            // Nothing can move (every remaining crate waits on a failed one): settle and stop.
            break;
        }

        // Wait for an upload to finish, the next poll, or the next paced start.
        let wake = [
            (!schedule.to_poll().is_empty()).then_some(next_poll),
            schedule.next_start(),
        ]
        .into_iter()
        .flatten()
        .min();
        let pause = wake
            .and_then(|at| at.duration_since(clock.now()).ok())
            .unwrap_or(Duration::ZERO);
        let finished = if in_flight.is_empty() {
            clock.sleep(pause.max(Duration::from_millis(1))).await;
            None
        } else if wake.is_none() {
            in_flight.next().await
        } else {
            tokio::select! {
                finished = in_flight.next() => finished,
                () = clock.sleep(pause) => None,
            }
        };
        if let Some((name, result)) = finished {
            let now = clock.now();
            let attempts = schedule.attempts(&name);
            let outcome = match result {
                Ok(()) => {
                    events(Event::Accepted(name.clone()));
                    UploadResult::Accepted
                }
                Err(RegistryError::AlreadyExists { detail }) => {
                    events(Event::Resolving {
                        name: name.clone(),
                        reason: detail,
                    });
                    UploadResult::AlreadyExists
                }
                Err(RegistryError::OutcomeUnknown { detail }) => {
                    events(Event::Resolving {
                        name: name.clone(),
                        reason: detail,
                    });
                    UploadResult::OutcomeUnknown
                }
                Err(RegistryError::Auth { detail, .. }) => {
                    auth_failure = Some(detail.clone());
                    UploadResult::Fatal(format!("the registry refused the token: {detail}"))
                }
                Err(error) if error.is_retryable() && attempts < options.max_attempts => {
                    let at = match &error {
                        RegistryError::RateLimited {
                            retry_at: Some(at), ..
                        } => *at,
                        RegistryError::RateLimited { .. } => now + Duration::from_secs(60),
                        _ => now + retry_delay(attempts, &name),
                    };
                    if deadline.is_some_and(|d| at > d) {
                        stopped_until = Some(at);
                    }
                    events(Event::Retrying {
                        name: name.clone(),
                        reason: error.to_string(),
                        at,
                    });
                    UploadResult::Retry { not_before: at }
                }
                Err(error) => UploadResult::Fatal(error.to_string()),
            };
            schedule.upload_finished(&name, outcome);
            if let Some(State::Failed(reason)) = schedule.state(&name) {
                events(Event::Failed {
                    name: name.clone(),
                    reason: reason.clone(),
                });
            }
        }
    }

    let mut outcome = Outcome {
        stopped_until,
        auth_failure,
        ..Outcome::default()
    };
    for upload in uploads {
        match schedule.state(&upload.name) {
            Some(State::Visible { uploaded: true }) => outcome.published.push(upload.name.clone()),
            Some(State::Visible { uploaded: false }) => {
                outcome.already_present.push(upload.name.clone())
            }
            Some(State::Failed(reason)) => {
                outcome.failed.push((upload.name.clone(), reason.clone()))
            }
            _ if outcome.stopped_until.is_some() || outcome.auth_failure.is_some() => {}
            _ => outcome
                .failed
                .push((upload.name.clone(), "not published".to_owned())),
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_to_one_and_a_half() {
        for attempt in 1..20 {
            let d = jittered(Duration::from_secs(10), "crate", attempt);
            assert!(
                d >= Duration::from_secs(5) && d < Duration::from_secs(15),
                "{d:?}"
            );
        }
        assert_ne!(
            jittered(Duration::from_secs(10), "a", 1),
            jittered(Duration::from_secs(10), "b", 1)
        );
        assert!(retry_delay(30, "x") <= Duration::from_secs(96));
    }
}
