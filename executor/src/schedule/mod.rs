//! The publish schedule as a pure state machine, driven by one IO loop.
//!
//! A crate becomes ready when every crate it must wait for is visible in the index with its
//! planned cksum — there are no wave barriers, and a dependent is started in the same step
//! that sees its last dependency. Ready crates start uploading up to the concurrency limit,
//! longest chain of dependents first (critical path first), never before their `not_before`
//! (retry backoff) nor before the registry's limits allow ([`pace`]). An accepted upload is
//! confirmed by reading the index on its own clock ([`poll`]); an upload whose outcome is
//! unknown, or that the registry says already exists, is resolved by reading the index, never
//! by sending it again while it may still appear. A crate whose dependency failed fails too.
//!
//! The schedule owns every deadline: a crate whose read at the end of the poll timeout still
//! does not show it fails if it was accepted or the registry said it exists, and may be sent
//! again (within the attempt limit) only if its upload's outcome was unknown — then the registry
//! did not store it, and sending again is the only way to publish it. If it was stored after
//! all and its index is merely slower than the timeout, the registry answers "already exists",
//! which is never re-sent. A 429 is pacing information for the whole run, not a failed attempt.
//!
//! The IO loop asks [`Schedule::actions`] what to start, reports how uploads and reads ended,
//! and sleeps until [`Schedule::next_wake`]; [`simulate`] runs the same machine on assumed
//! timings for the dry run and for tests.

pub mod pace;
pub mod poll;
pub mod simulate;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use convoy_registry::rate::RateLimit;

use pace::{Estimate, Gate, Opening};
use poll::{Latency, PollClock, PollPolicy};

/// Where one crate is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Waiting for dependencies to be visible.
    Waiting,
    /// May upload from `not_before` (when set) and when the registry's limits allow.
    Ready {
        /// Earliest start (retry backoff).
        not_before: Option<SystemTime>,
    },
    /// Upload request in flight.
    Uploading,
    /// Accepted at `since`; reading the index until the version is visible with the planned
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
        /// whole poll timeout (an unknown outcome; never for "already exists").
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
    /// 429: not an attempt; uploads of this kind wait until `retry_at` (when the registry said).
    RateLimited {
        /// When the registry said to try again.
        retry_at: Option<SystemTime>,
    },
    /// Safe to send again, not before the given time (5xx, network).
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

/// What an index read changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Still waiting.
    Waiting,
    /// Now visible.
    Visible,
    /// Now failed, with why.
    Failed(String),
    /// Absent for the whole poll timeout after an unknown outcome: it will be sent again.
    Resend,
}

/// Which rate bucket an upload takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The first version of a crate.
    NewCrate,
    /// A further version of an existing crate.
    NewVersion,
    /// A Python project's files, to the Python index (unpaced until it answers 429).
    Python,
}

impl Kind {
    /// Lower-case words for messages.
    pub fn words(self) -> &'static str {
        match self {
            Self::NewCrate => "new crate",
            Self::NewVersion => "new version",
            Self::Python => "Python upload",
        }
    }
}

/// One crate to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    /// Name.
    pub name: String,
    /// Crates that must be visible first (names outside the schedule count as available).
    pub after: Vec<String>,
    /// Its rate bucket.
    pub kind: Kind,
}

impl Crate {
    /// A crate of `kind` waiting for `after`.
    pub fn new(name: &str, after: &[&str], kind: Kind) -> Self {
        Self {
            name: name.to_owned(),
            after: after.iter().map(|a| (*a).to_owned()).collect(),
            kind,
        }
    }
}

/// In which order ready crates start when not all may start at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Longest chain of dependents first, then by name.
    CriticalPath,
    /// By name (for comparison only).
    Name,
}

/// How the schedule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Uploads in flight at most.
    pub concurrency: usize,
    /// Sends per crate at most (429s do not count).
    pub max_attempts: u32,
    /// How long a crate may take to show in the index after acceptance (or doubt).
    pub poll_timeout: Duration,
    /// The index reading budget.
    pub polling: PollPolicy,
    /// Starting estimate of the registry's new-crate bucket (none: unpaced until a 429).
    pub new_crates: Option<RateLimit>,
    /// Starting estimate of the new-version bucket.
    pub new_versions: Option<RateLimit>,
    /// Start order.
    pub order: Order,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_attempts: 8,
            poll_timeout: Duration::from_secs(300),
            polling: PollPolicy::default(),
            new_crates: None,
            new_versions: None,
            order: Order::CriticalPath,
        }
    }
}

/// What the IO loop should do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    /// Crates to upload (now `Uploading`), in start order.
    pub uploads: Vec<String>,
    /// Crates whose index file to read.
    pub reads: Vec<String>,
    /// Ready crates held back only by the registry's limits, with when they may start (none:
    /// after the probe in flight answers).
    pub held: Vec<(String, Option<SystemTime>)>,
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    after: Vec<String>,
    dependents: Vec<String>,
    kind: Kind,
    chain: u32,
    attempts: u32,
    sends: u32,
    started: Option<SystemTime>,
    poll: Option<PollClock>,
}

/// The schedule of one run.
#[derive(Debug, Clone)]
pub struct Schedule {
    entries: BTreeMap<String, Entry>,
    order: Vec<String>,
    settings: Settings,
    gates: BTreeMap<Kind, Gate>,
    latency: Latency,
    reads: u64,
    paced_since: Option<SystemTime>,
    paced_for: Duration,
}

impl Schedule {
    /// A schedule for `crates` starting at `start`.
    pub fn new(crates: &[Crate], settings: Settings, start: SystemTime) -> Self {
        let names: BTreeSet<&str> = crates.iter().map(|c| c.name.as_str()).collect();
        let mut entries: BTreeMap<String, Entry> = crates
            .iter()
            .map(|c| {
                let mut after: Vec<String> = c
                    .after
                    .iter()
                    .filter(|a| names.contains(a.as_str()) && **a != c.name)
                    .cloned()
                    .collect();
                after.sort();
                after.dedup();
                (
                    c.name.clone(),
                    Entry {
                        state: State::Waiting,
                        after,
                        dependents: Vec::new(),
                        kind: c.kind,
                        chain: 0,
                        attempts: 0,
                        sends: 0,
                        started: None,
                        poll: None,
                    },
                )
            })
            .collect();
        let edges: Vec<(String, String)> = entries
            .iter()
            .flat_map(|(name, e)| e.after.iter().map(move |a| (a.clone(), name.clone())))
            .collect();
        for (dependency, dependent) in edges {
            if let Some(entry) = entries.get_mut(&dependency) {
                entry.dependents.push(dependent);
            }
        }
        let chains = chains(&entries);
        for (name, chain) in chains {
            if let Some(entry) = entries.get_mut(&name) {
                entry.chain = chain;
            }
        }
        let mut order: Vec<String> = entries.keys().cloned().collect();
        if settings.order == Order::CriticalPath {
            // Stable: ties stay in name order.
            order.sort_by_key(|name| std::cmp::Reverse(entries[name].chain));
        }
        let gates = [
            (Kind::NewCrate, Gate::new(settings.new_crates, start)),
            (Kind::NewVersion, Gate::new(settings.new_versions, start)),
            (Kind::Python, Gate::new(None, start)),
        ]
        .into_iter()
        .collect();
        let mut schedule = Self {
            entries,
            order,
            settings: Settings {
                concurrency: settings.concurrency.max(1),
                max_attempts: settings.max_attempts.max(1),
                ..settings
            },
            gates,
            latency: Latency::default(),
            reads: 0,
            paced_since: None,
            paced_for: Duration::ZERO,
        };
        schedule.settle();
        schedule
    }

    /// The state of a crate.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.entries.get(name).map(|e| &e.state)
    }

    /// Counted upload attempts of a crate (429s are not attempts).
    pub fn attempts(&self, name: &str) -> u32 {
        self.entries.get(name).map_or(0, |e| e.attempts)
    }

    /// A crate's rate bucket.
    pub fn kind(&self, name: &str) -> Option<Kind> {
        self.entries.get(name).map(|e| e.kind)
    }

    /// Upload requests sent for a crate, 429s included.
    pub fn sends(&self, name: &str) -> u32 {
        self.entries.get(name).map_or(0, |e| e.sends)
    }

    /// Index reads so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// The longest chain of not-yet-visible crates starting at `name` (1 for a leaf).
    pub fn chain(&self, name: &str) -> u32 {
        self.entries.get(name).map_or(0, |e| e.chain)
    }

    /// What pacing each kind of upload currently goes by.
    pub fn estimate(&self, kind: Kind) -> Estimate {
        self.gates.get(&kind).map_or(Estimate::None, Gate::estimate)
    }

    /// 429s received so far.
    pub fn rate_limited(&self) -> u32 {
        self.gates.values().map(Gate::rate_limited).sum()
    }

    /// How long ready crates waited for nothing but the registry's limits, up to `now`.
    pub fn paced_for(&self, now: SystemTime) -> Duration {
        self.paced_for
            + self
                .paced_since
                .and_then(|since| now.duration_since(since).ok())
                .unwrap_or_default()
    }

    /// What the run has learned of the index's latency.
    pub fn latency(&self) -> Latency {
        self.latency
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

    /// This run cannot upload `name` (it holds no credential the registry would accept for it):
    /// it fails with `why` unless it is already visible, and its dependents with it.
    pub fn hold(&mut self, name: &str, why: String) {
        if let Some(entry) = self.entries.get_mut(name) {
            if matches!(entry.state, State::Waiting | State::Ready { .. }) {
                entry.state = State::Failed(why);
            }
        }
        self.settle();
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
                entry.poll = Some(PollClock::new(sent, false));
            }
        }
    }

    /// What to start at `now`: uploads (they become `Uploading`) and index reads (marked in
    /// flight), within the concurrency, the registry's limits and the reading budget.
    pub fn actions(&mut self, now: SystemTime) -> Actions {
        let mut actions = Actions::default();
        let mut free = self
            .settings
            .concurrency
            .saturating_sub(self.count(|s| matches!(s, State::Uploading)));
        for name in &self.order {
            let Some(entry) = self.entries.get_mut(name) else {
                continue;
            };
            let State::Ready { not_before } = entry.state else {
                continue;
            };
            if free == 0 || not_before.is_some_and(|t| t > now) {
                continue;
            }
            let Some(gate) = self.gates.get_mut(&entry.kind) else {
                continue;
            };
            match gate.opening(now) {
                Opening::Open => {
                    gate.started(now);
                    entry.state = State::Uploading;
                    entry.attempts += 1;
                    entry.sends += 1;
                    entry.started = Some(now);
                    free -= 1;
                    actions.uploads.push(name.clone());
                }
                Opening::At(at) => actions.held.push((name.clone(), Some(at))),
                Opening::AfterProbe => actions.held.push((name.clone(), None)),
            }
        }
        // Time counts as paced while a crate could start but for the registry's limits.
        if free > 0 && !actions.held.is_empty() {
            self.paced_since.get_or_insert(now);
        } else if let Some(since) = self.paced_since.take() {
            self.paced_for += now.duration_since(since).unwrap_or_default();
        }
        actions.reads = self.due_reads(now);
        for name in &actions.reads {
            if let Some(poll) = self.entries.get_mut(name).and_then(|e| e.poll.as_mut()) {
                poll.in_flight = Some(now);
            }
        }
        actions
    }

    /// Index reads due at `now`, most urgent first, within the reading budget.
    fn due_reads(&self, now: SystemTime) -> Vec<String> {
        let in_flight = self
            .entries
            .values()
            .filter(|e| e.poll.is_some_and(|p| p.in_flight.is_some()))
            .count();
        let free = self.settings.polling.in_flight.saturating_sub(in_flight);
        if free == 0 {
            return Vec::new();
        }
        let mut due: Vec<(bool, u32, SystemTime, &String)> = self
            .read_times()
            .into_iter()
            .filter(|(_, _, at, _)| *at <= now)
            .collect();
        due.sort_by_key(|(urgent, chain, at, name)| {
            (!urgent, std::cmp::Reverse(*chain), *at, *name)
        });
        due.into_iter()
            .take(free)
            .map(|(_, _, _, name)| name.clone())
            .collect()
    }

    /// (urgent, chain, next read, name) of every crate waiting on the index with no read in
    /// flight.
    fn read_times(&self) -> Vec<(bool, u32, SystemTime, &String)> {
        let end_waits = !self.entries.values().any(|e| {
            matches!(
                e.state,
                State::Waiting | State::Ready { .. } | State::Uploading
            )
        });
        let probe = if self.latency.estimate.is_none() {
            self.entries
                .iter()
                .filter_map(|(name, e)| e.poll.map(|p| (p.since, name)))
                .min()
                .map(|(_, name)| name)
        } else {
            None
        };
        self.entries
            .iter()
            .filter_map(|(name, entry)| {
                let poll = entry.poll.filter(|p| p.in_flight.is_none())?;
                let urgent = end_waits
                    || entry
                        .dependents
                        .iter()
                        .any(|d| matches!(self.state(d), Some(State::Waiting)));
                let at = poll.next_read(
                    urgent,
                    probe == Some(name),
                    self.latency,
                    &self.settings.polling,
                    self.settings.poll_timeout,
                );
                Some((urgent, entry.chain, at, name))
            })
            .collect()
    }

    /// When the loop should next look at the schedule: the next read due, the next start
    /// possible (when an upload slot is free), or none (only answers can move it).
    pub fn next_wake(&self, now: SystemTime) -> Option<SystemTime> {
        let reads_in_flight = self
            .entries
            .values()
            .filter(|e| e.poll.is_some_and(|p| p.in_flight.is_some()))
            .count();
        let next_read = (reads_in_flight < self.settings.polling.in_flight)
            .then(|| self.read_times().into_iter().map(|(_, _, at, _)| at).min())
            .flatten();
        let uploads_free =
            self.count(|s| matches!(s, State::Uploading)) < self.settings.concurrency;
        let next_start = uploads_free.then(|| self.next_start(now)).flatten();
        [next_read, next_start].into_iter().flatten().min()
    }

    /// The earliest time a ready crate may start, by its backoff and the registry's limits.
    pub fn next_start(&self, now: SystemTime) -> Option<SystemTime> {
        self.entries
            .values()
            .filter_map(|e| match e.state {
                State::Ready { not_before } => {
                    let at = not_before.unwrap_or(now).max(now);
                    match self.gates.get(&e.kind).map(|g| g.opening(at)) {
                        Some(Opening::At(open)) => Some(open),
                        Some(Opening::AfterProbe) => None,
                        _ => Some(at),
                    }
                }
                _ => None,
            })
            .min()
    }

    /// Records how an upload ended at `now`. For a 429, returns when uploads of its kind may
    /// start again.
    pub fn upload_finished(
        &mut self,
        name: &str,
        result: UploadResult,
        now: SystemTime,
    ) -> Option<SystemTime> {
        let entry = self.entries.get_mut(name)?;
        let gate = self.gates.get_mut(&entry.kind)?;
        let started = entry.started.unwrap_or(now);
        let resume = match &result {
            UploadResult::Accepted => {
                gate.accepted(started);
                None
            }
            UploadResult::RateLimited { retry_at } => Some(gate.limited(now, *retry_at)),
            _ => {
                gate.ended();
                None
            }
        };
        entry.state = match result {
            UploadResult::Accepted => {
                entry.poll = Some(PollClock::new(now, true));
                State::Confirming { since: now }
            }
            UploadResult::RateLimited { .. } => {
                // Pacing, not a failed attempt.
                entry.attempts = entry.attempts.saturating_sub(1);
                State::Ready { not_before: None }
            }
            UploadResult::AlreadyExists => {
                entry.poll = Some(PollClock::new(now, false));
                State::Resolving {
                    since: now,
                    may_resend: false,
                }
            }
            UploadResult::OutcomeUnknown => {
                entry.poll = Some(PollClock::new(now, false));
                State::Resolving {
                    since: now,
                    may_resend: true,
                }
            }
            UploadResult::Retry { not_before } => State::Ready {
                not_before: Some(not_before),
            },
            UploadResult::Fatal(why) => State::Failed(why),
        };
        self.settle();
        resume
    }

    /// Records what a read that started at its `actions` time showed, at `now`: `None` when the
    /// index could not be read. A read at or after the deadline that does not show the crate
    /// ends its wait.
    pub fn read_finished(
        &mut self,
        name: &str,
        seen: Option<Seen>,
        now: SystemTime,
    ) -> ReadOutcome {
        let timeout = self.settings.poll_timeout;
        let max_attempts = self.settings.max_attempts;
        let Some(entry) = self.entries.get_mut(name) else {
            return ReadOutcome::Waiting;
        };
        let Some(poll) = entry.poll.as_mut() else {
            return ReadOutcome::Waiting;
        };
        let started = poll.in_flight.take().unwrap_or(now);
        self.reads += 1;
        let age = started.duration_since(poll.since).unwrap_or_default();
        let outcome = match seen {
            Some(Seen::Present) => {
                if poll.measured {
                    self.latency.estimate = Some(poll::learn(
                        self.latency.estimate,
                        poll.last_absent.unwrap_or_default(),
                        age,
                    ));
                }
                entry.state = State::Visible { uploaded: true };
                entry.poll = None;
                ReadOutcome::Visible
            }
            Some(Seen::OtherContent(cksum)) => {
                let why = format!("the index shows this version with other bytes (cksum {cksum})");
                entry.state = State::Failed(why.clone());
                entry.poll = None;
                ReadOutcome::Failed(why)
            }
            Some(Seen::Absent) | None if age >= timeout => {
                entry.poll = None;
                let resend = matches!(
                    entry.state,
                    State::Resolving {
                        may_resend: true,
                        ..
                    }
                );
                let why = match entry.state {
                    State::Confirming { .. } => "accepted, but not visible in the index with its planned cksum before --poll-timeout".to_owned(),
                    State::Resolving { may_resend: true, .. } if entry.attempts < max_attempts => String::new(),
                    State::Resolving { may_resend: true, .. } => format!(
                        "sent {} times without an answer, and the index never showed it within --poll-timeout",
                        entry.attempts
                    ),
                    _ => "the registry did not confirm this upload and its index has not shown the version within --poll-timeout; it was not sent again".to_owned(),
                };
                if resend && why.is_empty() {
                    entry.state = State::Ready { not_before: None };
                    ReadOutcome::Resend
                } else {
                    entry.state = State::Failed(why.clone());
                    ReadOutcome::Failed(why)
                }
            }
            Some(Seen::Absent) | None => {
                poll.last_absent = Some(age);
                if poll.measured && self.latency.estimate.is_none() {
                    self.latency.lower = self.latency.lower.max(age);
                }
                ReadOutcome::Waiting
            }
        };
        self.settle();
        outcome
    }

    /// Every crate visible or failed.
    pub fn is_finished(&self) -> bool {
        self.entries
            .values()
            .all(|e| matches!(e.state, State::Visible { .. } | State::Failed(_)))
    }

    /// Nothing in flight, nothing ready, nothing waiting on the index: nothing can move.
    pub fn is_still(&self) -> bool {
        !self
            .entries
            .values()
            .any(|e| e.poll.is_some() || matches!(e.state, State::Ready { .. } | State::Uploading))
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
            let states: BTreeMap<String, State> = self
                .entries
                .iter()
                .filter(|(_, e)| matches!(e.state, State::Visible { .. } | State::Failed(_)))
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
                    .find(|d| matches!(states.get(*d), Some(State::Failed(_))))
                {
                    entry.state =
                        State::Failed(format!("its dependency `{failed}` was not published"));
                    changed = true;
                } else if entry
                    .after
                    .iter()
                    .all(|d| matches!(states.get(d), Some(State::Visible { .. })))
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

/// The longest chain of dependents from each crate, itself included (1 for a crate nothing
/// waits on), computed from the leaves up (Kahn's order over the dependents). Crates on a cycle
/// (which a consistent plan cannot have) keep what their other dependents give them.
fn chains(entries: &BTreeMap<String, Entry>) -> BTreeMap<String, u32> {
    let mut chains: BTreeMap<String, u32> = entries.keys().map(|n| (n.clone(), 1)).collect();
    let mut remaining: BTreeMap<&str, usize> = entries
        .iter()
        .map(|(n, e)| (n.as_str(), e.dependents.len()))
        .collect();
    let mut queue: Vec<&str> = remaining
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    while let Some(name) = queue.pop() {
        let chain = chains.get(name).copied().unwrap_or(1);
        for dependency in entries.get(name).map(|e| e.after.as_slice()).unwrap_or(&[]) {
            if let Some(known) = chains.get_mut(dependency) {
                *known = (*known).max(chain + 1);
            }
            if let Some(left) = remaining.get_mut(dependency.as_str()) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    queue.push(dependency);
                }
            }
        }
    }
    chains
}

#[cfg(test)]
mod tests {
    use super::simulate::{simulate, Assumptions};
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn ms(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn settings(concurrency: usize) -> Settings {
        Settings {
            concurrency,
            ..Settings::default()
        }
    }

    fn chain() -> Schedule {
        // c waits for b and a; b waits for a; d is independent.
        Schedule::new(
            &[
                Crate::new("a", &[], Kind::NewCrate),
                Crate::new("b", &["a"], Kind::NewCrate),
                Crate::new("c", &["a", "b"], Kind::NewCrate),
                Crate::new("d", &["outside"], Kind::NewCrate),
            ],
            settings(2),
            at(0),
        )
    }

    /// One step of the IO loop at `now`: starts what the schedule asks for and answers every
    /// read at once, `present` crates shown and the rest absent.
    fn step(schedule: &mut Schedule, now: SystemTime, present: &[&str]) -> Actions {
        let actions = schedule.actions(now);
        for name in &actions.reads {
            let seen = if present.contains(&name.as_str()) {
                Seen::Present
            } else {
                Seen::Absent
            };
            schedule.read_finished(name, Some(seen), now);
        }
        actions
    }

    /// The reads a step makes.
    fn read_all(schedule: &mut Schedule, now: SystemTime, present: &[&str]) -> Vec<String> {
        step(schedule, now, present).reads
    }

    #[test]
    fn crates_start_as_soon_as_their_own_dependencies_are_visible() {
        let mut schedule = chain();
        assert_eq!(schedule.actions(at(0)).uploads, ["a", "d"]);
        assert!(
            schedule.actions(at(0)).uploads.is_empty(),
            "concurrency 2 is full"
        );
        schedule.upload_finished("a", UploadResult::Accepted, at(1));
        // Read at once (nothing is known of the index yet), not there yet.
        let first = step(&mut schedule, at(1), &[]);
        assert!(first.uploads.is_empty(), "b waits until a is visible");
        assert_eq!(first.reads, ["a"]);
        assert_eq!(
            schedule.state("a"),
            Some(&State::Confirming { since: at(1) })
        );
        assert_eq!(schedule.next_wake(at(1)), Some(ms(1100)));
        assert_eq!(read_all(&mut schedule, ms(1100), &["a"]), ["a"]);
        // d is still uploading; b starts without waiting for d (no wave barrier).
        assert_eq!(schedule.actions(ms(1100)).uploads, ["b"]);
        schedule.upload_finished("b", UploadResult::Accepted, at(3));
        schedule.upload_finished("d", UploadResult::Accepted, at(3));
        read_all(&mut schedule, at(4), &["b", "d"]);
        assert_eq!(schedule.actions(at(4)).uploads, ["c"]);
        schedule.upload_finished("c", UploadResult::Accepted, at(5));
        read_all(&mut schedule, at(6), &["c"]);
        assert!(schedule.is_finished());
        assert_eq!(
            schedule
                .names(|s| *s == State::Visible { uploaded: true })
                .len(),
            4
        );
    }

    #[test]
    fn a_dependent_starts_in_the_same_instant_its_dependency_is_seen_visible() {
        let mut schedule = chain();
        schedule.actions(at(0));
        schedule.upload_finished("a", UploadResult::Accepted, at(0));
        schedule.upload_finished("d", UploadResult::Accepted, at(0));
        let seen = schedule.next_wake(at(0)).unwrap();
        assert_eq!(read_all(&mut schedule, seen, &["a"]), ["a"]);
        // The same instant: no tick, no poll interval in between.
        assert_eq!(schedule.actions(seen).uploads, ["b"]);
    }

    #[test]
    fn the_longest_chain_of_dependents_starts_first() {
        // "aa-leaf" sorts first by name, but "zz-core" has a chain of 3 behind it.
        let crates = [
            Crate::new("aa-leaf", &[], Kind::NewCrate),
            Crate::new("ab-leaf", &[], Kind::NewCrate),
            Crate::new("zz-core", &[], Kind::NewCrate),
            Crate::new("zz-mid", &["zz-core"], Kind::NewCrate),
            Crate::new("zz-top", &["zz-mid"], Kind::NewCrate),
        ];
        let mut schedule = Schedule::new(&crates, settings(1), at(0));
        assert_eq!(schedule.chain("zz-core"), 3);
        assert_eq!(schedule.chain("aa-leaf"), 1);
        assert_eq!(schedule.actions(at(0)).uploads, ["zz-core"]);
        let by_name = Settings {
            order: Order::Name,
            ..settings(1)
        };
        let mut schedule = Schedule::new(&crates, by_name, at(0));
        assert_eq!(schedule.actions(at(0)).uploads, ["aa-leaf"]);
    }

    #[test]
    fn unknown_outcomes_are_resolved_by_the_index_not_by_resending() {
        let mut schedule = chain();
        schedule.actions(at(0));
        schedule.upload_finished("a", UploadResult::OutcomeUnknown, at(0));
        for second in [1, 10, 100, 299] {
            assert!(
                !step(&mut schedule, at(second), &[])
                    .uploads
                    .contains(&"a".to_owned()),
                "a is not sent again while the index may still show it"
            );
        }
        let next = schedule.next_wake(at(299)).unwrap();
        assert_eq!(read_all(&mut schedule, next, &["a"]), ["a"]);
        assert_eq!(
            schedule.state("a"),
            Some(&State::Visible { uploaded: true })
        );
        assert_eq!(schedule.attempts("a"), 1);
    }

    #[test]
    fn an_unknown_outcome_absent_for_the_whole_timeout_is_sent_again_within_the_attempt_limit() {
        let mut schedule = Schedule::new(
            &[Crate::new("a", &[], Kind::NewCrate)],
            Settings {
                max_attempts: 2,
                ..settings(1)
            },
            at(0),
        );
        schedule.actions(at(0));
        schedule.upload_finished("a", UploadResult::OutcomeUnknown, at(0));
        read_all(&mut schedule, at(299), &[]);
        assert_eq!(
            schedule.next_wake(at(299)),
            Some(at(300)),
            "a read at the deadline"
        );
        let actions = schedule.actions(at(300));
        assert_eq!(actions.reads, ["a"]);
        assert_eq!(
            schedule.read_finished("a", Some(Seen::Absent), at(300)),
            ReadOutcome::Resend
        );
        assert_eq!(schedule.actions(at(300)).uploads, ["a"]);
        schedule.upload_finished("a", UploadResult::OutcomeUnknown, at(301));
        schedule.actions(at(601));
        let outcome = schedule.read_finished("a", None, at(601));
        assert!(
            matches!(&outcome, ReadOutcome::Failed(why) if why.contains("sent 2 times")),
            "{outcome:?}"
        );
        assert_eq!(schedule.attempts("a"), 2);
    }

    #[test]
    fn already_exists_is_never_answered_by_sending_again() {
        let mut schedule = chain();
        schedule.actions(at(0));
        schedule.upload_finished("d", UploadResult::AlreadyExists, at(0));
        for second in (1..300).step_by(7) {
            assert!(!step(&mut schedule, at(second), &[])
                .uploads
                .contains(&"d".to_owned()));
        }
        read_all(&mut schedule, at(300), &[]);
        assert!(matches!(schedule.state("d"), Some(State::Failed(_))));
        assert_eq!(schedule.attempts("d"), 1);
    }

    #[test]
    fn an_accepted_upload_that_never_shows_fails_at_the_deadline_read() {
        let mut schedule = chain();
        schedule.actions(at(0));
        schedule.upload_finished("a", UploadResult::Accepted, at(10));
        read_all(&mut schedule, at(299), &[]);
        assert!(matches!(
            schedule.state("a"),
            Some(State::Confirming { .. })
        ));
        // A read that started before the deadline and answers after it does not end the wait.
        assert_eq!(schedule.actions(at(309)).reads, ["a"]);
        schedule.read_finished("a", Some(Seen::Absent), at(311));
        assert!(matches!(
            schedule.state("a"),
            Some(State::Confirming { .. })
        ));
        assert_eq!(read_all(&mut schedule, at(311), &[]), ["a"]);
        assert!(matches!(schedule.state("a"), Some(State::Failed(_))));
        assert!(matches!(schedule.state("c"), Some(State::Failed(why)) if why.contains("`a`")));
    }

    #[test]
    fn a_crate_an_earlier_run_sent_is_resolved_before_it_is_sent_again() {
        let mut schedule = chain();
        schedule.sent_by_earlier_run("a", at(0));
        let actions = step(&mut schedule, at(0), &[]);
        assert_eq!(actions.uploads, ["d"]);
        assert_eq!(actions.reads, ["a"], "read before anything is sent");
        let next = schedule.next_wake(at(0)).unwrap();
        assert_eq!(read_all(&mut schedule, next, &["a"]), ["a"]);
        assert_eq!(schedule.attempts("a"), 0);
        assert_eq!(schedule.actions(next).uploads, ["b"]);
        assert_eq!(
            schedule.latency().estimate,
            None,
            "an earlier run's send time teaches nothing"
        );
    }

    #[test]
    fn retries_wait_and_failures_propagate_to_dependents() {
        let mut schedule = chain();
        schedule.actions(at(0));
        schedule.upload_finished("a", UploadResult::Retry { not_before: at(60) }, at(0));
        assert!(!schedule.actions(at(59)).uploads.contains(&"a".to_owned()));
        assert_eq!(schedule.next_start(at(59)), Some(at(60)));
        assert_eq!(schedule.actions(at(60)).uploads, ["a"]);
        assert_eq!(schedule.attempts("a"), 2);
        schedule.upload_finished("a", UploadResult::Fatal("400: bad".into()), at(61));
        assert!(matches!(schedule.state("b"), Some(State::Failed(why)) if why.contains("`a`")));
        assert!(matches!(schedule.state("c"), Some(State::Failed(_))));
        schedule.upload_finished("d", UploadResult::Accepted, at(61));
        read_all(&mut schedule, at(400), &[]);
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
        assert_eq!(schedule.actions(at(0)).uploads, ["d"]);
    }

    #[test]
    fn a_429_paces_every_upload_of_its_kind_and_is_not_an_attempt() {
        let crates: Vec<Crate> = (0..4)
            .map(|i| Crate::new(&format!("n{i}"), &[], Kind::NewCrate))
            .chain([Crate::new("v", &[], Kind::NewVersion)])
            .collect();
        let mut schedule = Schedule::new(
            &crates,
            Settings {
                max_attempts: 1,
                ..settings(2)
            },
            at(0),
        );
        assert_eq!(schedule.actions(at(0)).uploads, ["n0", "n1"]);
        schedule.upload_finished("n0", UploadResult::Accepted, at(0));
        let resume = schedule.upload_finished(
            "n1",
            UploadResult::RateLimited {
                retry_at: Some(at(20)),
            },
            at(1),
        );
        assert_eq!(resume, Some(at(20)));
        assert_eq!(schedule.attempts("n1"), 0, "a 429 is not an attempt");
        assert_eq!(schedule.sends("n1"), 1);
        // The other kind is not held; new crates are.
        let actions = schedule.actions(at(1));
        assert_eq!(actions.uploads, ["v"]);
        assert_eq!(actions.held[0], ("n1".to_owned(), Some(at(20))));
        schedule.upload_finished("v", UploadResult::Accepted, at(1));
        assert_eq!(schedule.next_start(at(1)), Some(at(20)));
        // One probe at 20, the rest after it is accepted, spaced by the learned 20 s.
        assert_eq!(schedule.actions(at(20)).uploads, ["n1"]);
        assert!(schedule.actions(at(20)).uploads.is_empty());
        schedule.upload_finished("n1", UploadResult::Accepted, at(20));
        // Spaced by the learned 20 s, plus a margin of 1 % for the registry's clock.
        assert_eq!(schedule.next_start(at(20)), Some(ms(40_200)));
        assert_eq!(schedule.actions(ms(40_200)).uploads, ["n2"]);
        assert_eq!(
            schedule.paced_for(ms(40_200)),
            Duration::from_millis(39_200)
        );
        assert!(!matches!(schedule.state("n1"), Some(State::Failed(_))));
    }

    #[test]
    fn before_the_index_latency_is_known_only_the_probe_is_read_closely() {
        let crates: Vec<Crate> = (0..10)
            .map(|i| Crate::new(&format!("c{i}"), &[], Kind::NewCrate))
            .collect();
        let mut schedule = Schedule::new(&crates, settings(10), at(0));
        schedule.actions(at(0));
        for i in 0..10 {
            schedule.upload_finished(&format!("c{i}"), UploadResult::Accepted, ms(i * 10));
        }
        // Only c0 (waiting longest) is read while nothing is known.
        let mut now = ms(0);
        while now < ms(990) {
            now = schedule.next_wake(now).unwrap();
            let reads = read_all(&mut schedule, now, &[]);
            assert_eq!(reads, ["c0"], "at {now:?}");
        }
        assert!(schedule.reads() <= 20, "{}", schedule.reads());
        // It shows at ~1 s: everything else is read once, at 90 % of that age.
        now = schedule.next_wake(now).unwrap();
        assert_eq!(read_all(&mut schedule, now, &["c0"]), ["c0"]);
        let learned = schedule.latency().estimate.unwrap();
        assert_eq!(
            learned,
            now.duration_since(ms(0)).unwrap(),
            "c0's age when seen"
        );
        let next = schedule.next_wake(now).unwrap();
        assert!(next <= now, "c1..c9 are past 90 % of the learned latency");
    }

    #[test]
    fn a_crate_first_read_late_does_not_slow_the_reads_of_the_others() {
        let crates: Vec<Crate> = ["a", "b", "c"]
            .iter()
            .map(|n| Crate::new(n, &[], Kind::NewCrate))
            .collect();
        let mut schedule = Schedule::new(&crates, settings(3), at(0));
        schedule.actions(at(0));
        schedule.upload_finished("a", UploadResult::Accepted, at(0));
        // a: missed at 0, seen at 100 ms: the latency is learned as 100 ms.
        read_all(&mut schedule, at(0), &[]);
        read_all(&mut schedule, ms(100), &["a"]);
        assert_eq!(
            schedule.latency().estimate,
            Some(Duration::from_millis(100))
        );
        // b is read only 5 s after acceptance (as a lazy crate may be), and is there.
        schedule.upload_finished("b", UploadResult::Accepted, at(0));
        schedule.actions(at(5));
        schedule.read_finished("b", Some(Seen::Present), at(5));
        assert_eq!(
            schedule.latency().estimate,
            Some(Duration::from_millis(100))
        );
        // c is read at 98 ms, as before.
        schedule.upload_finished("c", UploadResult::Accepted, at(10));
        assert_eq!(schedule.next_wake(at(10)), Some(ms(10_098)));
    }

    /// Layers of crates, each depending on three of the layer below; names do not follow the
    /// layers (as in a real workspace), so name order is no accidental critical path.
    fn layered(layers: &[usize], kind: Kind) -> Vec<Crate> {
        let name = |layer: usize, i: usize| {
            let n = layers[..layer].iter().sum::<usize>() + i;
            format!("c{:04}-{layer}", (n * 7919) % 10_000)
        };
        let mut crates = Vec::new();
        for (layer, width) in layers.iter().enumerate() {
            for i in 0..*width {
                let after: Vec<String> = if layer == 0 {
                    Vec::new()
                } else {
                    (0..layers[layer - 1].min(3))
                        .map(|j| name(layer - 1, (i + j) % layers[layer - 1]))
                        .collect()
                };
                crates.push(Crate {
                    name: name(layer, i),
                    after,
                    kind,
                });
            }
        }
        crates
    }

    fn shape_93() -> Vec<Crate> {
        let mut crates = vec![Crate::new("core", &[], Kind::NewCrate)];
        crates
            .extend((0..13).map(|i| Crate::new(&format!("dep-{i:02}"), &["core"], Kind::NewCrate)));
        crates.extend((0..79).map(|i| Crate::new(&format!("app-{i:02}"), &[], Kind::NewCrate)));
        crates
    }

    #[test]
    fn simulated_makespans_stay_within_15_percent_of_the_lower_bound_on_three_reads_per_crate() {
        for (shape, crates, depth) in [
            ("93", shape_93(), 2u32),
            (
                "200 in 7 layers",
                layered(&[30, 30, 30, 30, 30, 25, 25], Kind::NewCrate),
                7,
            ),
            ("chain of 20", layered(&[1; 20], Kind::NewCrate), 20),
        ] {
            for latency_ms in [500, 1000, 2000] {
                let assumed = Assumptions {
                    upload: Duration::from_millis(10),
                    index_latency: Duration::from_millis(latency_ms),
                };
                let schedule = Schedule::new(&crates, settings(8), at(0));
                let run = simulate(schedule, at(0), assumed);
                let makespan = run.finish.unwrap().duration_since(at(0)).unwrap();
                let bound = (assumed.upload + assumed.index_latency) * depth;
                let ratio = makespan.as_secs_f64() / bound.as_secs_f64();
                let per_crate = run.reads as f64 / crates.len() as f64;
                assert!(
                    ratio <= 1.15,
                    "{shape} at {latency_ms} ms: {makespan:?} vs {bound:?}"
                );
                assert!(
                    per_crate <= 3.0,
                    "{shape} at {latency_ms} ms: {per_crate} reads per crate"
                );
            }
        }
    }

    #[test]
    fn critical_path_first_shortens_a_rate_limited_release() {
        // A chain of 20 whose names sort after 80 independent crates.
        let mut crates: Vec<Crate> = (0..80)
            .map(|i| Crate::new(&format!("a-{i:02}"), &[], Kind::NewCrate))
            .collect();
        crates.push(Crate::new("z-00", &[], Kind::NewCrate));
        for i in 1..20 {
            crates.push(Crate::new(
                &format!("z-{i:02}"),
                &[&format!("z-{:02}", i - 1)],
                Kind::NewCrate,
            ));
        }
        let limit = RateLimit {
            burst: 5,
            refill: Duration::from_millis(600),
        };
        let assumed = Assumptions {
            upload: Duration::from_millis(10),
            index_latency: Duration::from_secs(1),
        };
        let makespan = |order| {
            let settings = Settings {
                new_crates: Some(limit),
                order,
                ..settings(8)
            };
            let run = simulate(Schedule::new(&crates, settings, at(0)), at(0), assumed);
            run.finish.unwrap().duration_since(at(0)).unwrap()
        };
        let critical = makespan(Order::CriticalPath);
        let by_name = makespan(Order::Name);
        // 95 tokens after the burst of 5 take 57 s whatever the order; the chain fits inside.
        assert!(critical >= Duration::from_secs(57), "{critical:?}");
        assert!(critical <= Duration::from_millis(58_500), "{critical:?}");
        assert!(by_name >= Duration::from_secs(64), "{by_name:?}");
    }
}
