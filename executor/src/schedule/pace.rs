//! Pacing: when the registry lets the next upload of a kind (new crate, new version) start.
//!
//! A [`Gate`] per kind holds what the run believes of the registry's limit. It may start from an
//! estimate (crates.io's published buckets, or limits the user declares), or from nothing. The
//! registry's answers are authoritative: a 429 closes the gate until the time it gave, drops the
//! estimate, and lets uploads of that kind resume one at a time until one is accepted. The time
//! between the last accepted upload and the retry time it gave is the refill interval; from then
//! on the gate spaces uploads by it, so a registry that keeps limiting answers 429 at most once
//! per refill period while the run learns, and then not at all.

use std::time::{Duration, SystemTime};

use convoy_registry::rate::{Bucket, RateLimit};

/// Retry time assumed for a 429 that gives none, when no refill interval is known yet.
pub const UNTIMED_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Whether an upload of a kind may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Now.
    Open,
    /// Not before this time.
    At(SystemTime),
    /// After the upload of this kind now in flight answers (probing after a 429).
    AfterProbe,
}

/// Where a gate's limit comes from, for the dry run and the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimate {
    /// No limit known: uploads start freely until the registry answers 429.
    None,
    /// A token bucket given at the start (built in for crates.io, or declared).
    Bucket(RateLimit),
    /// One upload per this interval, learned from the registry's 429s.
    Learned(Duration),
}

/// The pacing of one kind of upload.
#[derive(Debug, Clone)]
pub struct Gate {
    bucket: Option<Bucket>,
    declared: Option<RateLimit>,
    learned: Option<Duration>,
    next_token: Option<SystemTime>,
    closed_until: Option<SystemTime>,
    probing: bool,
    in_flight: usize,
    last_accepted_start: Option<SystemTime>,
    rate_limited: u32,
}

impl Gate {
    /// A gate starting from `estimate` (none: unpaced until the registry says otherwise).
    pub fn new(estimate: Option<RateLimit>, now: SystemTime) -> Self {
        Self {
            bucket: estimate.map(|limit| Bucket::new(limit, now)),
            declared: estimate,
            learned: None,
            next_token: None,
            closed_until: None,
            probing: false,
            in_flight: 0,
            last_accepted_start: None,
            rate_limited: 0,
        }
    }

    /// What the gate currently goes by.
    pub fn estimate(&self) -> Estimate {
        match (self.learned, self.bucket, self.declared) {
            (Some(refill), _, _) => Estimate::Learned(refill),
            (None, Some(_), Some(limit)) => Estimate::Bucket(limit),
            _ => Estimate::None,
        }
    }

    /// 429s received so far.
    pub fn rate_limited(&self) -> u32 {
        self.rate_limited
    }

    /// Whether an upload may start at `now`.
    pub fn opening(&self, now: SystemTime) -> Opening {
        if self.probing && self.in_flight > 0 {
            return Opening::AfterProbe;
        }
        let mut at = now;
        if let Some(closed) = self.closed_until {
            at = at.max(closed);
        }
        if let Some(token) = self.next_token {
            at = at.max(token);
        }
        if let Some(bucket) = self.bucket {
            let mut peek = bucket;
            if let Err(token) = peek.take(at) {
                at = at.max(token);
            }
        }
        if at > now {
            Opening::At(at)
        } else {
            Opening::Open
        }
    }

    /// An upload starts at `now` (only after [`Gate::opening`] said `Open`).
    pub fn started(&mut self, now: SystemTime) {
        if let Some(bucket) = self.bucket.as_mut() {
            let _ = bucket.take(now);
        }
        if let Some(refill) = self.learned {
            self.next_token = now.checked_add(refill);
        }
        self.in_flight += 1;
    }

    /// The upload started at `started` was accepted.
    pub fn accepted(&mut self, started: SystemTime) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.probing = false;
        self.last_accepted_start =
            Some(self.last_accepted_start.map_or(started, |t| t.max(started)));
    }

    /// The upload ended some other way than accepted or rate limited.
    pub fn ended(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// The registry answered 429 at `now`, saying to retry at `retry_at` (when it said). Returns
    /// when uploads of this kind may resume.
    pub fn limited(&mut self, now: SystemTime, retry_at: Option<SystemTime>) -> SystemTime {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.rate_limited += 1;
        let fallback = self.learned.unwrap_or(UNTIMED_RATE_LIMIT_WAIT);
        let until = retry_at
            .unwrap_or_else(|| now.checked_add(fallback).unwrap_or(now))
            .max(now);
        // The registry's answer outranks any estimate: its bucket is not what we thought.
        self.bucket = None;
        if let Some(refill) = self
            .last_accepted_start
            .and_then(|accepted| until.duration_since(accepted).ok())
            .filter(|refill| !refill.is_zero())
        {
            // Never learn a shorter interval than one already seen: an interval measured from
            // an upload that started late in its period is short, and would cost a 429 each time.
            self.learned = Some(self.learned.map_or(refill, |known| known.max(refill)));
        }
        self.closed_until = Some(self.closed_until.map_or(until, |c| c.max(until)));
        self.next_token = None;
        self.probing = true;
        until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn an_unknown_limit_is_learned_from_the_429s_then_never_hit_again() {
        let mut gate = Gate::new(None, at(0));
        assert_eq!(gate.estimate(), Estimate::None);
        for _ in 0..5 {
            assert_eq!(gate.opening(at(0)), Opening::Open);
            gate.started(at(0));
            gate.accepted(at(0));
        }
        gate.started(at(0));
        // Burst used up: the registry says the next token comes at 20.
        assert_eq!(gate.limited(at(0), Some(at(20))), at(20));
        assert_eq!(gate.estimate(), Estimate::Learned(Duration::from_secs(20)));
        assert_eq!(gate.opening(at(5)), Opening::At(at(20)));
        // One probe at a time until one is accepted.
        gate.started(at(20));
        assert_eq!(gate.opening(at(20)), Opening::AfterProbe);
        gate.accepted(at(20));
        assert_eq!(gate.opening(at(21)), Opening::At(at(40)));
        gate.started(at(40));
        gate.accepted(at(40));
        assert_eq!(gate.opening(at(40)), Opening::At(at(60)));
        assert_eq!(gate.rate_limited(), 1);
    }

    #[test]
    fn a_built_in_estimate_paces_until_the_registry_disagrees() {
        let limit = RateLimit {
            burst: 2,
            refill: Duration::from_secs(600),
        };
        let mut gate = Gate::new(Some(limit), at(0));
        assert_eq!(gate.estimate(), Estimate::Bucket(limit));
        gate.started(at(0));
        gate.accepted(at(0));
        gate.started(at(0));
        gate.accepted(at(0));
        assert_eq!(gate.opening(at(1)), Opening::At(at(600)));
        // The registry's real bucket was tighter: it refuses the third at 600, retry at 900.
        gate.started(at(600));
        gate.limited(at(600), Some(at(900)));
        assert_eq!(gate.estimate(), Estimate::Learned(Duration::from_secs(900)));
        assert_eq!(gate.opening(at(600)), Opening::At(at(900)));
    }

    #[test]
    fn a_429_without_a_time_waits_the_learned_interval_or_a_minute() {
        let mut gate = Gate::new(None, at(0));
        gate.started(at(0));
        assert_eq!(gate.limited(at(0), None), at(60));
        gate.started(at(60));
        gate.accepted(at(60));
        gate.started(at(61));
        assert_eq!(gate.limited(at(61), Some(at(90))), at(90));
        assert_eq!(gate.estimate(), Estimate::Learned(Duration::from_secs(30)));
        gate.started(at(90));
        assert_eq!(gate.limited(at(90), None), at(120));
    }
}
