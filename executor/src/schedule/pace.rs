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

/// Where the starting estimate of a bucket comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// crates.io's published limits.
    CratesIo,
    /// `--rate-limit-new-crates` / `--rate-limit-new-versions`.
    Declared,
    /// None known: unpaced until the registry answers 429.
    Unknown,
}

/// The starting estimates of the registry's limits, with where they come from: what both the
/// dry run and the real run start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// The new-crate bucket.
    pub new_crates: (Option<RateLimit>, Source),
    /// The new-version bucket.
    pub new_versions: (Option<RateLimit>, Source),
}

impl Pacing {
    /// Declared limits win; crates.io's published ones are the default there; elsewhere none
    /// (unpaced until the registry answers 429, then paced by what it says).
    pub fn choose(
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

    /// One bucket's estimate in words.
    pub fn describe(limit: (Option<RateLimit>, Source)) -> String {
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

    /// Where the estimates come from, in words.
    pub fn source(&self) -> &'static str {
        match (self.new_crates.1, self.new_versions.1) {
            (Source::Declared, _) | (_, Source::Declared) => "declared limits",
            (Source::CratesIo, _) => "crates.io's published limits",
            _ => "no known limits",
        }
    }
}

/// Retry time assumed for a 429 that gives none, when no refill interval is known yet.
pub const UNTIMED_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// How coarse a registry's retry time is: `Retry-After` counts whole seconds and crates.io's
/// "try again after" date has no fractions, so an interval measured from one may be this much
/// too long.
pub const RETRY_TIME_GRANULARITY: Duration = Duration::from_secs(1);

/// A paced upload starts this much after the token the estimate predicts: the registry's bucket
/// counts from when it received the upload that took its first token, a little after this run
/// sent it, and an upload that arrives a moment early is refused.
fn margin(refill: Duration) -> Duration {
    (refill / 100).max(Duration::from_millis(25))
}

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
        if let (Some(bucket), Some(declared)) = (self.bucket, self.declared) {
            let mut peek = bucket;
            if let Err(token) = peek.take(at) {
                at = at.max(token + margin(declared.refill));
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
            self.next_token = now.checked_add(refill + margin(refill));
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
        let estimated = self.learned.or(self.declared.map(|d| d.refill));
        self.bucket = None;
        let measured = self
            .last_accepted_start
            .and_then(|accepted| until.duration_since(accepted).ok())
            .filter(|refill| !refill.is_zero());
        self.learned = match (measured, estimated) {
            // Within the retry time's granularity of the estimate: the estimate's interval was
            // right and only its phase was off (the registry's bucket started a moment later).
            (Some(measured), Some(estimated))
                if measured.saturating_sub(RETRY_TIME_GRANULARITY)
                    <= estimated + estimated / 10 =>
            {
                Some(estimated)
            }
            // Never a shorter interval than one already seen: one measured from an upload that
            // started late in its period is short, and would cost a 429 each time.
            (Some(measured), Some(estimated)) => Some(measured.max(estimated)),
            (Some(measured), None) => Some(measured),
            (None, estimated) => estimated,
        };
        self.closed_until = Some(self.closed_until.map_or(until, |c| c.max(until)));
        self.next_token = None;
        self.probing = true;
        until
    }
}

#[cfg(test)]
mod tests {
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
        let next = at(40) + Duration::from_millis(200);
        assert_eq!(gate.opening(at(21)), Opening::At(next));
        gate.started(next);
        gate.accepted(next);
        assert_eq!(
            gate.opening(next),
            Opening::At(next + Duration::from_millis(20_200))
        );
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
        assert_eq!(gate.opening(at(1)), Opening::At(at(606)));
        // The registry's real bucket was tighter: it refuses the third at 600, retry at 900.
        gate.started(at(600));
        gate.limited(at(600), Some(at(900)));
        assert_eq!(gate.estimate(), Estimate::Learned(Duration::from_secs(900)));
        assert_eq!(gate.opening(at(600)), Opening::At(at(900)));
    }

    #[test]
    fn a_429_a_moment_before_the_estimated_token_keeps_the_estimates_interval() {
        let ms = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let limit = RateLimit {
            burst: 1,
            refill: Duration::from_millis(600),
        };
        let mut gate = Gate::new(Some(limit), ms(0));
        gate.started(ms(0));
        gate.accepted(ms(0));
        // The registry's bucket started 30 ms later than ours: the upload at 625 ms is early,
        // and Retry-After (whole seconds) says 1 s.
        assert_eq!(gate.opening(ms(1)), Opening::At(ms(625)));
        gate.started(ms(625));
        assert_eq!(gate.limited(ms(626), Some(ms(1626))), ms(1626));
        assert_eq!(
            gate.estimate(),
            Estimate::Learned(Duration::from_millis(600))
        );
        gate.started(ms(1626));
        gate.accepted(ms(1626));
        assert_eq!(gate.opening(ms(1627)), Opening::At(ms(2251)));
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
        assert_eq!(gate.rate_limited(), 3);
    }
}
