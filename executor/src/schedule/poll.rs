//! When to read a crate's index file while its upload is being confirmed or resolved.
//!
//! Each crate waits on its own clock, counted from when the registry accepted it (or from when
//! its outcome came into doubt). How often it is read depends on who waits for it:
//!
//! - An *urgent* crate (another crate waits to upload after it, or nothing is left to upload so
//!   the run's end waits for it) is read first when the index is expected to show it, then at
//!   intervals of a twentieth of its age (at least [`PollPolicy::min_interval`]), so it is seen at most
//!   about 5 % later than it appeared.
//! - A *lazy* crate (a leaf while other uploads still go on) is read once the index is expected
//!   to show it, then at doubling intervals; it turns urgent when the run has nothing else to do.
//!
//! What the index is expected to do is learned ([`Latency`], [`learn`]): each crate seen tells
//! that the latency lies between the age of its last miss and the age at which it was seen.
//! Close bounds (an urgent crate's reads) set the estimate; loose ones (a lazy crate read late,
//! or found at its first read) only keep it within them. The first read of the next urgent crate
//! comes at 98 % of the estimate. Usually that one read finds
//! it, and the estimate creeps down 2 % a time until a read misses; the crate is then seen within
//! a twentieth of its age and the estimate moves up again.
//! So an urgent crate costs one or two reads and is seen a few per cent late on average, and the
//! estimate follows a registry that gets faster or slower. Before anything has
//! been seen, only the crate waiting longest is read closely (one probe); the others wait for
//! what it teaches (at least twice the age at which it was still missing). A wait never ends without a read at its deadline (the poll timeout).

use std::time::{Duration, SystemTime};

/// The polling budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// First read of the probe while nothing is known of the index's latency.
    pub first: Duration,
    /// Shortest interval between two reads of one crate.
    pub min_interval: Duration,
    /// An urgent crate is read again after its age divided by this.
    pub precision: u32,
    /// Shortest interval between reads of a lazy crate.
    pub lazy_min: Duration,
    /// Longest interval between reads of any crate.
    pub cap: Duration,
    /// Index reads in flight at most.
    pub in_flight: usize,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            // Many registries (kellnr, private ones) show a version as they accept it.
            first: Duration::ZERO,
            min_interval: Duration::from_millis(50),
            precision: 20,
            lazy_min: Duration::from_secs(1),
            cap: Duration::from_secs(10),
            in_flight: 16,
        }
    }
}

/// What the run has learned about how long the index takes to show an accepted upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Age at which the most recently confirmed crate was first seen.
    pub estimate: Option<Duration>,
    /// Before any estimate: the greatest age at which a crate was read and not shown.
    pub lower: Duration,
}

/// The latency estimate after a crate was missed at age `missed` (zero if never) and seen at
/// age `seen`: the index showed it somewhere in between. Bounds within a tenth of each other set
/// the estimate to the upper one; looser bounds only keep the estimate between them.
pub fn learn(estimate: Option<Duration>, missed: Duration, seen: Duration) -> Duration {
    match estimate {
        Some(estimate) if seen.saturating_sub(missed) > seen / 10 => estimate.max(missed).min(seen),
        _ => seen,
    }
}

/// One crate's polling state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollClock {
    /// Accepted (or in doubt) since.
    pub since: SystemTime,
    /// Whether `since` is an acceptance this run saw (its age teaches the latency).
    pub measured: bool,
    /// Age at the start of the last read that did not show it.
    pub last_absent: Option<Duration>,
    /// Start of the read in flight.
    pub in_flight: Option<SystemTime>,
}

impl PollClock {
    /// A clock starting at `since`.
    pub fn new(since: SystemTime, measured: bool) -> Self {
        Self {
            since,
            measured,
            last_absent: None,
            in_flight: None,
        }
    }

    /// When the next read is due (the deadline read included), given whether the crate is
    /// urgent, whether it is the probe, and what is known of the latency.
    pub fn next_read(
        &self,
        urgent: bool,
        probe: bool,
        latency: Latency,
        policy: &PollPolicy,
        timeout: Duration,
    ) -> SystemTime {
        let age = match (self.last_absent, latency.estimate) {
            (None, Some(estimate)) if urgent => estimate.mul_f64(0.98),
            (None, Some(estimate)) => estimate,
            (None, None) if probe => policy.first,
            // Not the probe and nothing known: wait for what the probe finds, and never read
            // before twice the age at which it was still missing.
            (None, None) => (latency.lower * 2).max(policy.lazy_min),
            // The probe before any estimate searches once, coarsely: every fifth of its age,
            // at least twice the shortest interval (about ten reads to find a 1 s latency).
            (Some(absent), None) if probe => {
                absent + (absent / 5).max(policy.min_interval * 2).min(policy.cap)
            }
            (Some(absent), _) => absent + self.interval(absent, urgent || probe, policy),
        };
        let deadline = self.since.checked_add(timeout);
        let at = self.since.checked_add(age).unwrap_or(self.since);
        match deadline {
            Some(deadline) => at.min(deadline),
            None => at,
        }
    }

    fn interval(&self, age: Duration, close: bool, policy: &PollPolicy) -> Duration {
        if close {
            (age / policy.precision.max(1)).max(policy.min_interval)
        } else {
            age.max(policy.lazy_min)
        }
        .min(policy.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_ms(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    const TIMEOUT: Duration = Duration::from_secs(300);

    #[test]
    fn an_urgent_crate_is_read_just_before_the_expected_latency_then_closely() {
        let policy = PollPolicy::default();
        let latency = Latency {
            estimate: Some(Duration::from_secs(1)),
            ..Latency::default()
        };
        let mut clock = PollClock::new(at_ms(1000), true);
        assert_eq!(
            clock.next_read(true, false, latency, &policy, TIMEOUT),
            at_ms(1980)
        );
        clock.last_absent = Some(Duration::from_millis(980));
        assert_eq!(
            clock.next_read(true, false, latency, &policy, TIMEOUT),
            at_ms(2030)
        );
        // Lazy: at the estimate, then doubling.
        let fresh = PollClock::new(at_ms(1000), true);
        assert_eq!(
            fresh.next_read(false, false, latency, &policy, TIMEOUT),
            at_ms(2000)
        );
        assert_eq!(
            clock.next_read(false, false, latency, &policy, TIMEOUT),
            at_ms(2980)
        );
    }

    #[test]
    fn before_anything_is_known_only_the_probe_is_read_closely() {
        let policy = PollPolicy::default();
        let none = Latency::default();
        let clock = PollClock::new(at_ms(0), true);
        assert_eq!(
            clock.next_read(true, true, none, &policy, TIMEOUT),
            at_ms(0)
        );
        assert_eq!(
            clock.next_read(true, false, none, &policy, TIMEOUT),
            at_ms(1000)
        );
    }

    #[test]
    fn close_bounds_set_the_estimate_and_loose_ones_only_bound_it() {
        let s = Duration::from_millis;
        assert_eq!(learn(None, s(0), s(700)), s(700));
        // Missed at 980 ms, seen at 1030 ms: the latency is about 1 s.
        assert_eq!(learn(Some(s(500)), s(980), s(1030)), s(1030));
        // A lazy crate missed at 500 ms and seen at 1.5 s says only "between".
        assert_eq!(learn(Some(s(520)), s(500), s(1500)), s(520));
        assert_eq!(learn(Some(s(400)), s(500), s(1500)), s(500));
        // Seen at the first read: an upper bound.
        assert_eq!(learn(Some(s(1000)), s(0), s(980)), s(980));
        assert_eq!(learn(Some(s(1000)), s(0), s(5000)), s(1000));
    }

    #[test]
    fn intervals_are_capped_and_the_deadline_is_always_read() {
        let policy = PollPolicy::default();
        let mut clock = PollClock::new(at_ms(0), true);
        clock.last_absent = Some(Duration::from_secs(200));
        assert_eq!(
            clock.next_read(false, false, Latency::default(), &policy, TIMEOUT),
            at_ms(210_000)
        );
        clock.last_absent = Some(Duration::from_secs(295));
        assert_eq!(
            clock.next_read(false, false, Latency::default(), &policy, TIMEOUT),
            at_ms(300_000)
        );
    }
}
