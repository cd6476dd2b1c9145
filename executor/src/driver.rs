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

use crate::journal::EarlierRuns;
use crate::schedule::{Schedule, Seen, State, UploadResult};
use crate::validate::Upload;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Uploads in flight at most.
    pub concurrency: usize,
    /// How long an upload may take to become visible (accepted, unknown outcome, or "already
    /// exists"), and how long the index may fail to answer before the run stops.
    pub poll_timeout: Duration,
    /// First wait between index polls; doubles up to `poll_cap`.
    pub poll_start: Duration,
    /// Longest wait between index polls.
    pub poll_cap: Duration,
    /// Upload buckets to pace by (crates.io's when publishing there).
    pub pacing: Option<(RateLimit, RateLimit)>,
    /// End the run (cleanly, resumable) this long after the start: no upload starts and no
    /// confirmation is waited for after it.
    pub max_wait: Option<Duration>,
    /// Attempts per crate for retryable failures.
    pub max_attempts: u32,
    /// Without `max_wait`: a registry that asks to wait longer than this before one retry stops
    /// the run (resumable) instead of sleeping unseen.
    pub longest_retry_wait: Duration,
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
            longest_retry_wait: Duration::from_secs(3600),
        }
    }
}

/// Something that happened, for progress output and the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Already visible with the planned cksum before this run uploaded anything.
    AlreadyPresent(String),
    /// Visible with the planned cksum, uploaded by an earlier run of this plan (its journal
    /// says so).
    PublishedEarlier(String),
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
    /// Whether an upload happened is being settled by reading the index.
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
    /// The run stops before it is done; a rerun of the same plan continues after `until`.
    Stopping {
        /// Why.
        reason: String,
        /// Rerun after this.
        until: SystemTime,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Uploaded by this run and visible.
    pub published: Vec<String>,
    /// Uploaded by an earlier run of the plan (its journal says so) and visible.
    pub published_earlier: Vec<String>,
    /// Visible before this run, not uploaded by an earlier run of this plan.
    pub already_present: Vec<String>,
    /// Not published, with why.
    pub failed: Vec<(String, String)>,
    /// Stopped before the end (`--max-wait`, or a registry asking for a very long wait): the
    /// time to rerun from.
    pub stopped_until: Option<SystemTime>,
    /// The registry refused the credentials.
    pub auth_failure: Option<String>,
    /// The registry's index could not be read for the whole poll timeout.
    pub registry_failure: Option<String>,
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
    /// What earlier runs of this plan did (from its journal).
    pub earlier: &'a EarlierRuns,
}

/// One run's state: the schedule plus what the IO loop keeps around it.
struct Run<'a> {
    client: &'a RegistryClient,
    token: &'a Token,
    clock: &'a dyn Clock,
    options: &'a RunOptions,
    events: &'a mut dyn FnMut(Event),
    by_name: BTreeMap<&'a str, &'a Upload>,
    new_crates: &'a BTreeSet<String>,
    schedule: Schedule,
    buckets: Option<(Bucket, Bucket)>,
    paced: BTreeSet<String>,
    deadline: Option<SystemTime>,
    in_flight: FuturesUnordered<UploadFuture<'a>>,
    poll_delay: Duration,
    next_poll: SystemTime,
    last_poll_error: Option<String>,
    stopped_until: Option<SystemTime>,
    auth_failure: Option<String>,
    registry_failure: Option<String>,
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
    let order: Vec<(String, Vec<String>)> = release
        .uploads
        .iter()
        .map(|u| (u.name.clone(), u.after.clone()))
        .collect();
    let start = clock.now();
    let mut run = Run {
        client,
        token,
        clock,
        options,
        events,
        by_name: release
            .uploads
            .iter()
            .map(|u| (u.name.as_str(), u))
            .collect(),
        new_crates: release.new_crates,
        schedule: Schedule::new(&order, options.concurrency)
            .with_max_attempts(options.max_attempts),
        buckets: options
            .pacing
            .map(|(new, versions)| (Bucket::new(new, start), Bucket::new(versions, start))),
        paced: BTreeSet::new(),
        deadline: options.max_wait.and_then(|wait| start.checked_add(wait)),
        in_flight: FuturesUnordered::new(),
        poll_delay: options.poll_start,
        next_poll: start,
        last_poll_error: None,
        stopped_until: None,
        auth_failure: None,
        registry_failure: None,
    };
    run.begin(release, start);
    loop {
        let now = clock.now();
        run.check_deadline(now);
        if !run.stopping() {
            run.pace_ready(now);
            run.start_uploads(now);
            run.poll_index(now).await;
        }
        run.expire(clock.now());
        if run.is_done() {
            break;
        }
        if let Some((name, result)) = run.wait().await {
            run.upload_finished(name, result);
        }
    }
    run.outcome(release)
}

impl<'a> Run<'a> {
    /// Records what the index showed before the run and what an earlier run sent.
    fn begin(&mut self, release: Release<'_>, now: SystemTime) {
        for (name, seen) in release.initial {
            if *seen == Seen::Present {
                (self.events)(
                    if release.earlier.published.contains(name)
                        || release.earlier.in_doubt.contains_key(name)
                    {
                        Event::PublishedEarlier(name.clone())
                    } else {
                        Event::AlreadyPresent(name.clone())
                    },
                );
            }
            self.schedule.initially_seen(name, seen.clone());
            if let Some(sent) = release
                .earlier
                .in_doubt
                .get(name)
                .filter(|_| *seen == Seen::Absent)
            {
                // The wait for it to show runs from when it was sent, not from this start.
                self.schedule.sent_by_earlier_run(name, (*sent).min(now));
                (self.events)(Event::Resolving {
                    name: name.clone(),
                    reason: "an earlier run of this plan sent it (journal); the index decides before anything is sent again".to_owned(),
                });
            }
        }
    }

    fn stopping(&self) -> bool {
        self.stopped_until.is_some()
            || self.auth_failure.is_some()
            || self.registry_failure.is_some()
    }

    fn stop(&mut self, until: SystemTime, reason: String) {
        if self.stopped_until.is_none() {
            self.stopped_until = Some(until);
            (self.events)(Event::Stopping { reason, until });
        }
    }

    /// `--max-wait` ends the run: nothing starts and nothing is waited for after it.
    fn check_deadline(&mut self, now: SystemTime) {
        if let Some(deadline) = self.deadline.filter(|d| now >= *d) {
            let until = self.schedule.next_start().unwrap_or(now).max(deadline);
            self.stop(until, "--max-wait reached".to_owned());
        }
    }

    /// Paces newly ready crates by the registry's buckets, in name order.
    fn pace_ready(&mut self, now: SystemTime) {
        for name in self.schedule.names(|s| matches!(s, State::Ready { .. })) {
            if self.paced.contains(&name) {
                continue;
            }
            let Some((new_bucket, version_bucket)) = self.buckets.as_mut() else {
                return;
            };
            let bucket = if self.new_crates.contains(&name) {
                new_bucket
            } else {
                version_bucket
            };
            let at = bucket.reserve(now);
            self.paced.insert(name.clone());
            if at > now {
                if self.deadline.is_some_and(|d| at > d) {
                    self.stop(
                        at,
                        format!("the next paced upload (`{name}`) would start after --max-wait"),
                    );
                    return;
                }
                (self.events)(Event::Pacing {
                    name: name.clone(),
                    at,
                });
                self.schedule
                    .upload_finished(&name, UploadResult::Retry { not_before: at }, now);
            }
        }
    }

    fn start_uploads(&mut self, now: SystemTime) {
        for name in self.schedule.start_uploads(now) {
            let Some(upload) = self.by_name.get(name.as_str()).copied() else {
                continue;
            };
            (self.events)(Event::Uploading {
                name: name.clone(),
                attempt: self.schedule.attempts(&name),
            });
            let (client, token, now) = (self.client, self.token, self.clock.now());
            self.in_flight.push(Box::pin(async move {
                let result = client
                    .publish(token, &upload.metadata, &upload.bytes, now)
                    .await
                    .map(|_| ());
                (upload.name.clone(), result)
            }));
        }
    }

    /// Reads the index for every crate being confirmed or resolved, in one round, when due.
    async fn poll_index(&mut self, now: SystemTime) {
        let to_poll = self.schedule.to_poll();
        if to_poll.is_empty() {
            self.poll_delay = self.options.poll_start;
            return;
        }
        // A wait is never given up without a poll at its deadline.
        let expiring = self
            .schedule
            .next_expiry(self.options.poll_timeout)
            .is_some_and(|at| at <= now);
        if now < self.next_poll && !expiring {
            return;
        }
        match self
            .client
            .index_files(&to_poll, 16, Freshness::Fresh)
            .await
        {
            Ok(files) => {
                self.last_poll_error = None;
                for name in &to_poll {
                    let Some(upload) = self.by_name.get(name.as_str()) else {
                        continue;
                    };
                    let seen = seen_in(
                        files.get(name).and_then(|f| f.as_deref()),
                        &upload.version,
                        &upload.sha256,
                    );
                    self.schedule.seen(name, seen);
                    match self.schedule.state(name) {
                        Some(State::Visible { .. }) => (self.events)(Event::Visible(name.clone())),
                        Some(State::Failed(reason)) => (self.events)(Event::Failed {
                            name: name.clone(),
                            reason: reason.clone(),
                        }),
                        _ => {}
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "index poll failed; will poll again until --poll-timeout");
                if let RegistryError::RateLimited {
                    retry_at: Some(at), ..
                } = &error
                {
                    self.next_poll = self.next_poll.max(*at);
                }
                self.last_poll_error = Some(error.to_string());
            }
        }
        self.poll_delay = (self.poll_delay * 2).min(self.options.poll_cap);
        self.next_poll = self.next_poll.max(self.clock.now() + self.poll_delay);
    }

    /// Ends the confirmation waits that ran out; a run whose index stayed unreadable that long
    /// stops with the registry's error.
    fn expire(&mut self, now: SystemTime) {
        for name in self.schedule.expire(now, self.options.poll_timeout) {
            match self.schedule.state(&name) {
                Some(State::Ready { .. }) => (self.events)(Event::Retrying {
                    name: name.clone(),
                    reason: "the index has not shown it for the whole --poll-timeout after an unknown outcome: the upload did not reach the registry, so it is sent again".to_owned(),
                    at: now,
                }),
                Some(State::Failed(reason)) => {
                    let reason = reason.clone();
                    (self.events)(Event::Failed { name, reason });
                    if let Some(error) = &self.last_poll_error {
                        self.registry_failure.get_or_insert_with(|| {
                            format!("the index could not be read for --poll-timeout: {error}")
                        });
                    }
                }
                _ => {}
            }
        }
    }

    fn is_done(&self) -> bool {
        if !self.in_flight.is_empty() {
            return false;
        }
        if self.schedule.is_finished() || self.stopping() {
            return true;
        }
        // Nothing can move (every remaining crate waits on a failed one): settle and stop.
        self.schedule.to_poll().is_empty()
            && self
                .schedule
                .names(|s| matches!(s, State::Ready { .. }))
                .is_empty()
    }

    /// Waits for an upload to finish, the next poll, the next start, the next expiry or the
    /// deadline, whichever comes first.
    async fn wait(&mut self) -> Option<(String, Result<(), RegistryError>)> {
        let polling = !self.stopping() && !self.schedule.to_poll().is_empty();
        let wake = [
            polling.then_some(self.next_poll),
            (!self.stopping())
                .then(|| self.schedule.next_start())
                .flatten(),
            (!self.stopping())
                .then(|| self.schedule.next_expiry(self.options.poll_timeout))
                .flatten(),
            // With an upload in flight, the deadline is acted on when it returns (nothing starts
            // meanwhile anyway).
            self.deadline
                .filter(|_| !self.stopping() && self.in_flight.is_empty()),
        ]
        .into_iter()
        .flatten()
        .min();
        let pause = wake
            .and_then(|at| at.duration_since(self.clock.now()).ok())
            .unwrap_or(Duration::ZERO);
        if self.in_flight.is_empty() {
            self.clock.sleep(pause.max(Duration::from_millis(1))).await;
            None
        } else if wake.is_none() {
            self.in_flight.next().await
        } else {
            tokio::select! {
                finished = self.in_flight.next() => finished,
                () = self.clock.sleep(pause) => None,
            }
        }
    }

    /// Records how an upload ended.
    fn upload_finished(&mut self, name: String, result: Result<(), RegistryError>) {
        let now = self.clock.now();
        let attempts = self.schedule.attempts(&name);
        let outcome = match result {
            Ok(()) => {
                (self.events)(Event::Accepted(name.clone()));
                UploadResult::Accepted
            }
            Err(RegistryError::AlreadyExists { detail }) => {
                (self.events)(Event::Resolving {
                    name: name.clone(),
                    reason: detail,
                });
                UploadResult::AlreadyExists
            }
            Err(RegistryError::OutcomeUnknown { detail }) => {
                (self.events)(Event::Resolving {
                    name: name.clone(),
                    reason: detail,
                });
                UploadResult::OutcomeUnknown
            }
            Err(RegistryError::Auth { detail, .. }) => {
                self.auth_failure = Some(detail.clone());
                UploadResult::Fatal(format!("the registry refused the token: {detail}"))
            }
            Err(error) if error.is_retryable() && attempts < self.options.max_attempts => {
                let at = match &error {
                    RegistryError::RateLimited {
                        retry_at: Some(at), ..
                    } => *at,
                    RegistryError::RateLimited { .. } => now + Duration::from_secs(60),
                    _ => now + retry_delay(attempts, &name),
                };
                (self.events)(Event::Retrying {
                    name: name.clone(),
                    reason: error.to_string(),
                    at,
                });
                if self.deadline.is_some_and(|d| at > d) {
                    self.stop(at, format!("`{name}` may be retried only after --max-wait"));
                } else if self.deadline.is_none()
                    && at.duration_since(now).unwrap_or_default() > self.options.longest_retry_wait
                {
                    self.stop(
                        at,
                        format!(
                            "the registry asked to wait more than {} s before retrying `{name}`; pass --max-wait to bound waits explicitly",
                            self.options.longest_retry_wait.as_secs()
                        ),
                    );
                }
                UploadResult::Retry { not_before: at }
            }
            Err(error) => UploadResult::Fatal(error.to_string()),
        };
        self.schedule.upload_finished(&name, outcome, now);
        if let Some(State::Failed(reason)) = self.schedule.state(&name) {
            (self.events)(Event::Failed {
                name: name.clone(),
                reason: reason.clone(),
            });
        }
    }

    fn outcome(self, release: Release<'_>) -> Outcome {
        let mut outcome = Outcome {
            stopped_until: self.stopped_until,
            auth_failure: self.auth_failure,
            registry_failure: self.registry_failure,
            ..Outcome::default()
        };
        let stopped = outcome.stopped_until.is_some()
            || outcome.auth_failure.is_some()
            || outcome.registry_failure.is_some();
        for upload in release.uploads {
            let name = upload.name.clone();
            match self.schedule.state(&upload.name) {
                Some(State::Visible { .. }) if self.schedule.attempts(&name) > 0 => {
                    outcome.published.push(name)
                }
                Some(State::Visible { .. })
                    if release.earlier.published.contains(&name)
                        || release.earlier.in_doubt.contains_key(&name) =>
                {
                    outcome.published_earlier.push(name)
                }
                Some(State::Visible { .. }) => outcome.already_present.push(name),
                Some(State::Failed(reason)) => outcome.failed.push((name, reason.clone())),
                _ if stopped => {}
                _ => outcome.failed.push((name, "not published".to_owned())),
            }
        }
        outcome
    }
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
