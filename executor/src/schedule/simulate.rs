//! The schedule run on assumed timings instead of a registry: what `--dry-run` prints, and
//! what tests use to check the scheduling rules (critical path first, the reading budget, the
//! distance to the lower bound) without any IO.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use super::{Schedule, Seen, State, UploadResult};

/// What a simulated registry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assumptions {
    /// How long an upload request takes.
    pub upload: Duration,
    /// How long after acceptance the index shows a version.
    pub index_latency: Duration,
}

/// A simulated run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simulation {
    /// When each uploaded crate started uploading.
    pub starts: BTreeMap<String, SystemTime>,
    /// When the last crate was seen visible (or the start, if nothing was uploaded).
    pub finish: Option<SystemTime>,
    /// Index reads made.
    pub reads: u64,
    /// Time ready crates waited for nothing but the rate limits.
    pub paced_for: Duration,
}

/// Runs `schedule` from `start` against a registry behaving as `assumed`, to the end. Bounded:
/// a schedule that would need more than a million steps stops there.
pub fn simulate(mut schedule: Schedule, start: SystemTime, assumed: Assumptions) -> Simulation {
    let mut now = start;
    let mut simulation = Simulation::default();
    let mut finishing: BTreeSet<(SystemTime, String)> = BTreeSet::new();
    let mut accepted: BTreeMap<String, SystemTime> = BTreeMap::new();
    let mut finish = start;
    for _ in 0..1_000_000 {
        let actions = schedule.actions(now);
        for name in &actions.uploads {
            simulation.starts.insert(name.clone(), now);
            finishing.insert((now + assumed.upload, name.clone()));
        }
        for name in &actions.reads {
            let visible = accepted
                .get(name)
                .is_some_and(|at| now >= *at + assumed.index_latency);
            let seen = if visible { Seen::Present } else { Seen::Absent };
            if schedule.read_finished(name, Some(seen), now) == super::ReadOutcome::Visible {
                finish = finish.max(now);
            }
        }
        if !actions.uploads.is_empty() || !actions.reads.is_empty() {
            continue;
        }
        if schedule.is_finished() {
            break;
        }
        let next_upload = finishing.first().map(|(at, _)| *at);
        let wake = [next_upload, schedule.next_wake(now)]
            .into_iter()
            .flatten()
            .min();
        let Some(wake) = wake else {
            break;
        };
        if wake <= now && next_upload.is_none_or(|at| at > now) {
            // Nothing can move (a defect, not a registry): stop rather than spin.
            break;
        }
        now = now.max(wake);
        while let Some((at, name)) = finishing.pop_first() {
            if at > now {
                finishing.insert((at, name));
                break;
            }
            accepted.insert(name.clone(), at);
            schedule.upload_finished(&name, UploadResult::Accepted, at);
        }
    }
    simulation.finish = Some(finish);
    simulation.reads = schedule.reads();
    simulation.paced_for = schedule.paced_for(finish);
    debug_assert!(schedule.names(|s| matches!(s, State::Uploading)).is_empty());
    simulation
}
