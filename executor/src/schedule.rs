//! The publish schedule as a pure state machine, driven by one IO loop.
//!
//! A crate becomes ready when every crate it must wait for is visible in the index with its
//! planned cksum — there are no wave barriers. Ready crates start uploading up to the
//! concurrency limit, never before their `not_before` (rate limits, retry backoff). An accepted
//! upload is confirmed by polling the index; an upload whose outcome is unknown, or that the
//! registry says already exists, is resolved by reading the index, never by sending it again
//! while it may still appear. A crate whose dependency failed fails too.
//!
//! The schedule owns the confirmation deadlines: a crate polled for longer than the poll
//! timeout ([`Schedule::expire`]) fails if it was accepted or the registry said it exists, and
//! may be sent again (within the attempt limit) only if its upload's outcome was unknown and the
//! index has not shown it for the whole timeout — then the registry did not store it, and
//! sending again is the only way to publish it. If it was stored after all and its index is merely
//! slower than the timeout, the registry answers "already exists", which is never re-sent.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Where one crate is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Waiting for dependencies to be visible.
    Waiting,
    /// May upload from `not_before` (when set).
    Ready {
        /// Earliest start (rate limit, backoff).
        not_before: Option<SystemTime>,
    },
    /// Upload request in flight.
    Uploading,
    /// Accepted at `since`; polling the index until the version is visible with the planned
    /// cksum.
    Confirming {
        /// When the registry accepted it.
        since: SystemTime,
    },
    /// Outcome unknown or "already exists" since `since`: reading the index decides.
    Resolving {
        /// When the doubt began.
        since: SystemTime,
        /// Whether sending again is allowed once the index has not shown the version for the
        /// whole poll timeout (an unknown outcome, not yet re-sent; never for "already exists").
        may_resend: bool,
    },
    /// Visible with the planned cksum; `uploaded` says whether this run uploaded it.
    Visible {
        /// Uploaded by this run (false: it was already there).
        uploaded: bool,
    },
    /// Will not be published by this run.
    Failed(String),
}

/// How an upload request ended, as the registry layer classified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadResult {
    /// 200: accepted.
    Accepted,
    /// The registry says the version exists.
    AlreadyExists,
    /// Sent, no answer.
    OutcomeUnknown,
    /// Safe to send again, not before the given time (5xx, network, 429).
    Retry {
        /// Earliest retry.
        not_before: SystemTime,
    },
    /// Will not succeed by retrying (4xx, auth).
    Fatal(String),
}

/// What the index showed for the planned version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Present with the planned cksum.
    Present,
    /// Not there (yet).
    Absent,
    /// Present with another cksum.
    OtherContent(String),
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    after: Vec<String>,
    attempts: u32,
}

/// The schedule of one run.
#[derive(Debug, Clone)]
pub struct Schedule {
    entries: BTreeMap<String, Entry>,
    concurrency: usize,
    max_attempts: u32,
}

impl Schedule {
    /// A schedule for crates with the crates each must wait for (names outside the schedule are
    /// taken as already available), uploading at most `concurrency` at a time.
    pub fn new(crates: &[(String, Vec<String>)], concurrency: usize) -> Self {
        let names: Vec<&String> = crates.iter().map(|(name, _)| name).collect();
        let entries = crates
            .iter()
            .map(|(name, after)| {
                let after: Vec<String> = after
                    .iter()
                    .filter(|a| names.contains(a))
                    .cloned()
                    .collect();
                (
                    name.clone(),
                    Entry {
                        state: State::Waiting,
                        after,
                        attempts: 0,
                    },
                )
            })
            .collect();
        let mut schedule = Self {
            entries,
            concurrency: concurrency.max(1),
            max_attempts: 8,
        };
        schedule.settle();
        schedule
    }

    /// The same schedule sending a crate at most `max_attempts` times in all (default 8).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// The state of a crate.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.entries.get(name).map(|e| &e.state)
    }

    /// Upload attempts made for a crate.
    pub fn attempts(&self, name: &str) -> u32 {
        self.entries.get(name).map_or(0, |e| e.attempts)
    }

    /// What the index showed before anything was uploaded (a resumed run skips what is there).
    pub fn initially_seen(&mut self, name: &str, seen: Seen) {
        if let Some(entry) = self.entries.get_mut(name) {
            match seen {
                Seen::Present => entry.state = State::Visible { uploaded: false },
                Seen::OtherContent(cksum) => {
                    entry.state = State::Failed(format!(
                        "the registry already has this version with other bytes (cksum {cksum})"
                    ));
                }
                Seen::Absent => {}
            }
        }
        self.settle();
    }

    /// Crates to start uploading now, in name order; they become `Uploading`.
    pub fn start_uploads(&mut self, now: SystemTime) -> Vec<String> {
        let in_flight = self.count(|s| matches!(s, State::Uploading));
        let free = self.concurrency.saturating_sub(in_flight);
        let ready: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Ready { not_before } if not_before.is_none_or(|t| t <= now)))
            .map(|(name, _)| name.clone())
            .take(free)
            .collect();
        for name in &ready {
            if let Some(entry) = self.entries.get_mut(name) {
                entry.state = State::Uploading;
                entry.attempts += 1;
            }
        }
        ready
    }

    /// An earlier run sent this crate at `sent` (its journal says so) and the index does not show
    /// it yet: it is resolved by reading the index like an unknown outcome, not sent again while
    /// it may still appear.
    pub fn sent_by_earlier_run(&mut self, name: &str, sent: SystemTime) {
        if let Some(entry) = self.entries.get_mut(name) {
            if matches!(entry.state, State::Waiting | State::Ready { .. }) {
                entry.state = State::Resolving {
                    since: sent,
                    may_resend: true,
                };
            }
        }
    }

    /// Records how an upload ended at `now`.
    pub fn upload_finished(&mut self, name: &str, result: UploadResult, now: SystemTime) {
        if let Some(entry) = self.entries.get_mut(name) {
            entry.state = match result {
                UploadResult::Accepted => State::Confirming { since: now },
                UploadResult::AlreadyExists => State::Resolving {
                    since: now,
                    may_resend: false,
                },
                UploadResult::OutcomeUnknown => State::Resolving {
                    since: now,
                    may_resend: true,
                },
                UploadResult::Retry { not_before } => State::Ready {
                    not_before: Some(not_before),
                },
                UploadResult::Fatal(why) => State::Failed(why),
            };
        }
        self.settle();
    }

    /// Crates whose index entry must be read: confirming or resolving.
    pub fn to_poll(&self) -> Vec<String> {
        self.names(|s| matches!(s, State::Confirming { .. } | State::Resolving { .. }))
    }

    /// Records what the index shows for a crate being confirmed or resolved. Absence changes
    /// nothing: only [`Schedule::expire`] ends the wait.
    pub fn seen(&mut self, name: &str, seen: Seen) {
        if let Some(entry) = self.entries.get_mut(name) {
            if !matches!(
                entry.state,
                State::Confirming { .. } | State::Resolving { .. }
            ) {
                return;
            }
            match seen {
                Seen::Present => entry.state = State::Visible { uploaded: true },
                Seen::OtherContent(cksum) => {
                    entry.state = State::Failed(format!(
                        "the index shows this version with other bytes (cksum {cksum})"
                    ));
                }
                Seen::Absent => {}
            }
        }
        self.settle();
    }

    /// Ends the waits older than `poll_timeout` at `now`; returns the crates that changed.
    pub fn expire(&mut self, now: SystemTime, poll_timeout: Duration) -> Vec<String> {
        let mut changed = Vec::new();
        let max_attempts = self.max_attempts;
        for (name, entry) in &mut self.entries {
            let (since, resend) = match entry.state {
                State::Confirming { since } => (since, None),
                State::Resolving { since, may_resend } => (since, Some(may_resend)),
                _ => continue,
            };
            if now.duration_since(since).unwrap_or_default() < poll_timeout {
                continue;
            }
            entry.state = match resend {
                None => State::Failed(
                    "accepted, but not visible in the index with its planned cksum before --poll-timeout"
                        .to_owned(),
                ),
                Some(true) if entry.attempts < max_attempts => State::Ready { not_before: None },
                Some(true) => State::Failed(format!(
                    "sent {} times without an answer, and the index never showed it within --poll-timeout",
                    entry.attempts
                )),
                Some(false) => State::Failed(
                    "the registry did not confirm this upload and its index has not shown the version within --poll-timeout; it was not sent again"
                        .to_owned(),
                ),
            };
            changed.push(name.clone());
        }
        self.settle();
        changed
    }

    /// When the earliest confirmation wait ends, for the loop's wake-up.
    pub fn next_expiry(&self, poll_timeout: Duration) -> Option<SystemTime> {
        self.entries
            .values()
            .filter_map(|e| match e.state {
                State::Confirming { since } | State::Resolving { since, .. } => {
                    since.checked_add(poll_timeout)
                }
                _ => None,
            })
            .min()
    }

    /// Every crate visible or failed.
    pub fn is_finished(&self) -> bool {
        self.entries
            .values()
            .all(|e| matches!(e.state, State::Visible { .. } | State::Failed(_)))
    }

    /// The earliest time a ready crate may start, when none may start now.
    pub fn next_start(&self) -> Option<SystemTime> {
        self.entries
            .values()
            .filter_map(|e| match e.state {
                State::Ready { not_before } => not_before,
                _ => None,
            })
            .min()
    }

    /// Crates in a given state, by name.
    pub fn names(&self, matches: impl Fn(&State) -> bool) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| matches(&e.state))
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn count(&self, matches: impl Fn(&State) -> bool) -> usize {
        self.entries.values().filter(|e| matches(&e.state)).count()
    }

    /// Moves waiting crates forward: ready when every dependency is visible, failed when one failed.
    fn settle(&mut self) {
        loop {
            let mut changed = false;
            let snapshot: BTreeMap<String, State> = self
                .entries
                .iter()
                .map(|(n, e)| (n.clone(), e.state.clone()))
                .collect();
            for entry in self
                .entries
                .values_mut()
                .filter(|e| e.state == State::Waiting)
            {
                if let Some(failed) = entry
                    .after
                    .iter()
                    .find(|d| matches!(snapshot.get(*d), Some(State::Failed(_))))
                {
                    entry.state =
                        State::Failed(format!("its dependency `{failed}` was not published"));
                    changed = true;
                } else if entry
                    .after
                    .iter()
                    .all(|d| matches!(snapshot.get(d), Some(State::Visible { .. })))
                {
                    entry.state = State::Ready { not_before: None };
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(300);

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn chain() -> Schedule {
        // c waits for b and a; b waits for a; d is independent.
        Schedule::new(
            &[
                ("a".into(), vec![]),
                ("b".into(), vec!["a".into()]),
                ("c".into(), vec!["a".into(), "b".into()]),
                ("d".into(), vec!["outside".into()]),
            ],
            2,
        )
    }

    #[test]
    fn crates_start_as_soon_as_their_own_dependencies_are_visible() {
        let mut schedule = chain();
        assert_eq!(schedule.start_uploads(at(0)), ["a", "d"]);
        assert!(
            schedule.start_uploads(at(0)).is_empty(),
            "concurrency 2 is full"
        );
        schedule.upload_finished("a", UploadResult::Accepted, at(1));
        assert_eq!(schedule.to_poll(), ["a"]);
        assert!(
            schedule.start_uploads(at(1)).is_empty(),
            "b waits until a is visible"
        );
        schedule.seen("a", Seen::Absent);
        assert_eq!(
            schedule.state("a"),
            Some(&State::Confirming { since: at(1) })
        );
        schedule.seen("a", Seen::Present);
        // d is still uploading; b starts without waiting for d (no wave barrier).
        assert_eq!(schedule.start_uploads(at(2)), ["b"]);
        schedule.upload_finished("b", UploadResult::Accepted, at(3));
        schedule.seen("b", Seen::Present);
        schedule.upload_finished("d", UploadResult::Accepted, at(3));
        schedule.seen("d", Seen::Present);
        assert_eq!(schedule.start_uploads(at(4)), ["c"]);
        schedule.upload_finished("c", UploadResult::Accepted, at(5));
        schedule.seen("c", Seen::Present);
        assert!(schedule.is_finished());
        assert_eq!(
            schedule
                .names(|s| *s == State::Visible { uploaded: true })
                .len(),
            4
        );
    }

    #[test]
    fn unknown_outcomes_are_resolved_by_the_index_not_by_resending() {
        let mut schedule = chain();
        schedule.start_uploads(at(0));
        schedule.upload_finished("a", UploadResult::OutcomeUnknown, at(0));
        for second in [1, 10, 100, 299] {
            schedule.seen("a", Seen::Absent);
            assert!(schedule.expire(at(second), TIMEOUT).is_empty());
            assert!(
                schedule.start_uploads(at(second)).is_empty(),
                "a is not sent again while the index may still show it"
            );
        }
        schedule.seen("a", Seen::Present);
        assert_eq!(
            schedule.state("a"),
            Some(&State::Visible { uploaded: true })
        );
        assert_eq!(schedule.attempts("a"), 1);
    }

    #[test]
    fn an_unknown_outcome_absent_for_the_whole_timeout_is_sent_again_within_the_attempt_limit() {
        let mut schedule = chain().with_max_attempts(2);
        schedule.start_uploads(at(0));
        schedule.upload_finished("a", UploadResult::OutcomeUnknown, at(0));
        assert_eq!(schedule.next_expiry(TIMEOUT), Some(at(300)));
        assert_eq!(schedule.expire(at(300), TIMEOUT), ["a"]);
        assert_eq!(
            schedule.state("a"),
            Some(&State::Ready { not_before: None })
        );
        assert_eq!(schedule.start_uploads(at(300)), ["a"]);
        schedule.upload_finished("a", UploadResult::OutcomeUnknown, at(301));
        assert_eq!(schedule.expire(at(601), TIMEOUT), ["a"]);
        assert!(
            matches!(schedule.state("a"), Some(State::Failed(why)) if why.contains("sent 2 times")),
            "{:?}",
            schedule.state("a")
        );
        assert_eq!(schedule.attempts("a"), 2);
    }

    #[test]
    fn already_exists_is_never_answered_by_sending_again() {
        let mut schedule = chain();
        schedule.start_uploads(at(0));
        schedule.upload_finished("d", UploadResult::AlreadyExists, at(0));
        for second in (0..300).step_by(7) {
            schedule.seen("d", Seen::Absent);
            schedule.expire(at(second), TIMEOUT);
            assert!(!schedule.start_uploads(at(second)).contains(&"d".to_owned()));
        }
        assert_eq!(schedule.expire(at(300), TIMEOUT), ["d"]);
        assert!(matches!(schedule.state("d"), Some(State::Failed(_))));
        assert_eq!(schedule.attempts("d"), 1);
    }

    #[test]
    fn an_accepted_upload_that_never_shows_fails_at_the_timeout() {
        let mut schedule = chain();
        schedule.start_uploads(at(0));
        schedule.upload_finished("a", UploadResult::Accepted, at(10));
        assert!(schedule.expire(at(309), TIMEOUT).is_empty());
        assert_eq!(schedule.expire(at(310), TIMEOUT), ["a"]);
        assert!(matches!(schedule.state("a"), Some(State::Failed(_))));
        assert!(matches!(schedule.state("c"), Some(State::Failed(why)) if why.contains("`a`")));
    }

    #[test]
    fn a_crate_an_earlier_run_sent_is_resolved_before_it_is_sent_again() {
        let mut schedule = chain();
        schedule.sent_by_earlier_run("a", at(0));
        assert_eq!(schedule.start_uploads(at(0)), ["d"]);
        assert_eq!(schedule.to_poll(), ["a"]);
        schedule.seen("a", Seen::Present);
        assert_eq!(schedule.attempts("a"), 0);
        assert_eq!(schedule.start_uploads(at(1)), ["b"]);
    }

    #[test]
    fn retries_wait_and_failures_propagate_to_dependents() {
        let mut schedule = chain();
        schedule.start_uploads(at(0));
        schedule.upload_finished("a", UploadResult::Retry { not_before: at(60) }, at(0));
        assert!(!schedule.start_uploads(at(59)).contains(&"a".to_owned()));
        assert_eq!(schedule.next_start(), Some(at(60)));
        assert_eq!(schedule.start_uploads(at(60)), ["a"]);
        assert_eq!(schedule.attempts("a"), 2);
        schedule.upload_finished("a", UploadResult::Fatal("400: bad".into()), at(61));
        assert!(matches!(schedule.state("b"), Some(State::Failed(why)) if why.contains("`a`")));
        assert!(matches!(schedule.state("c"), Some(State::Failed(_))));
        schedule.upload_finished("d", UploadResult::Accepted, at(61));
        schedule.expire(at(400), TIMEOUT);
        assert!(schedule.is_finished());
    }

    #[test]
    fn a_resumed_run_skips_what_the_index_already_shows() {
        let mut schedule = chain();
        schedule.initially_seen("a", Seen::Present);
        schedule.initially_seen("b", Seen::OtherContent("ff".into()));
        assert_eq!(
            schedule.state("a"),
            Some(&State::Visible { uploaded: false })
        );
        assert!(matches!(schedule.state("c"), Some(State::Failed(_))));
        assert_eq!(schedule.start_uploads(at(0)), ["d"]);
    }
}
