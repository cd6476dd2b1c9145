//! A release as the publish schedule starts it: the validated uploads, what the registry held
//! before the run, and what earlier runs of the plan did. One function turns it into the
//! starting [`Schedule`] for both the real run ([`crate::driver`]) and the dry run
//! ([`Release::expected`], the same schedule on assumed registry timings), so the two cannot
//! disagree about order, pacing or which crates a credential leaves out.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use convoy_schema::events::CredentialLane;

use crate::journal::EarlierRuns;
use crate::schedule::simulate::{simulate, Assumptions, Simulation};
use crate::schedule::{Crate, Kind, Schedule, Seen, Settings};
use crate::validate::Upload;

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

/// Which credential an upload of a kind carries, if the run holds one the registry accepts.
pub type LaneOf<'a> = &'a dyn Fn(Kind) -> Option<CredentialLane>;

/// What the dry run assumes of a registry: one upload takes about this long, and the index shows
/// a version this long after it accepted it.
pub const ASSUMED: Assumptions = Assumptions {
    upload: Duration::from_secs(1),
    index_latency: Duration::from_secs(5),
};

/// The run the schedule would make on [`ASSUMED`] timings, as offsets from its start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// When each crate that uploads starts.
    pub starts: BTreeMap<String, Duration>,
    /// When the last crate is visible.
    pub duration: Duration,
    /// How long ready crates wait for nothing but the rate limits.
    pub paced_for: Duration,
}

impl Release<'_> {
    /// The crates as the schedule sees them.
    pub fn crates(&self) -> Vec<Crate> {
        self.uploads
            .iter()
            .map(|u| Crate {
                name: u.name.clone(),
                after: u.after.clone(),
                kind: self.kind(&u.name),
            })
            .collect()
    }

    /// The rate-limit bucket (and credential rule) of a crate's upload.
    pub fn kind(&self, name: &str) -> Kind {
        let python = self
            .uploads
            .iter()
            .any(|u| u.name == name && matches!(u.payload, crate::validate::Payload::Python(_)));
        if python {
            Kind::Python
        } else if self.new_crates.contains(name) {
            Kind::NewCrate
        } else {
            Kind::NewVersion
        }
    }

    /// The crates this run cannot upload because it holds no credential the registry accepts
    /// for them (a new crate with only a trusted-publishing token), by name.
    pub fn needs_api_token(&self, lane: LaneOf<'_>) -> BTreeSet<String> {
        self.initial
            .iter()
            .filter(|(name, seen)| **seen == Seen::Absent && lane(self.kind(name)).is_none())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The schedule a run starts from at `start`: what the index showed, and the crates no
    /// credential can upload held (they fail, and their dependents with them).
    pub fn schedule(&self, settings: Settings, lane: LaneOf<'_>, start: SystemTime) -> Schedule {
        let mut schedule = Schedule::new(&self.crates(), settings, start);
        for (name, seen) in self.initial {
            schedule.initially_seen(name, seen.clone());
        }
        for name in self.needs_api_token(lane) {
            schedule.hold(
                &name,
                "a new crate: the registry creates crates only with an API token, and this run holds only a trusted-publishing token".to_owned(),
            );
        }
        schedule
    }

    /// The run as [`Release::schedule`] would make it on [`ASSUMED`] timings: what `--dry-run`
    /// shows.
    pub fn expected(&self, settings: Settings, lane: LaneOf<'_>) -> Expected {
        let start = std::time::UNIX_EPOCH;
        let Simulation {
            starts,
            finish,
            paced_for,
            ..
        } = simulate(self.schedule(settings, lane, start), start, ASSUMED);
        let offset = |at: SystemTime| at.duration_since(start).unwrap_or_default();
        Expected {
            starts: starts
                .into_iter()
                .map(|(name, at)| (name, offset(at)))
                .collect(),
            duration: finish.map(offset).unwrap_or_default(),
            paced_for,
        }
    }
}

/// An upload of `name` 1.0.0 without bytes that waits for `after`, for the schedule's tests.
#[cfg(test)]
pub(crate) fn upload(name: &str, after: &[&str]) -> Upload {
    Upload::new_crate(
        name,
        semver::Version::new(1, 0, 0),
        Vec::new(),
        convoy_schema::plan::PublishMetadata::new(name, "1.0.0"),
        after.iter().map(|s| (*s).to_owned()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Lanes;

    #[test]
    fn the_dry_run_leaves_out_what_the_run_cannot_upload_and_paces_like_it() {
        let uploads = [
            upload("new", &[]),
            upload("old", &[]),
            upload("app", &["new"]),
        ];
        let initial: BTreeMap<String, Seen> = ["new", "old", "app"]
            .into_iter()
            .map(|n| (n.to_owned(), Seen::Absent))
            .collect();
        let new_crates: BTreeSet<String> = ["new".to_owned(), "app".to_owned()].into();
        let earlier = EarlierRuns::default();
        let release = Release {
            uploads: &uploads,
            initial: &initial,
            new_crates: &new_crates,
            earlier: &earlier,
        };
        let trusted_only = Lanes {
            api: false,
            trusted: true,
        };
        let lane = |kind| trusted_only.of(kind);
        assert_eq!(
            release.needs_api_token(&lane),
            BTreeSet::from(["app".to_owned(), "new".to_owned()])
        );
        let expected = release.expected(Settings::default(), &lane);
        assert_eq!(expected.starts.keys().collect::<Vec<_>>(), ["old"]);
        let visible = ASSUMED.upload + ASSUMED.index_latency;
        assert!(
            (visible..visible * 2).contains(&expected.duration),
            "{expected:?}"
        );

        let both = Lanes {
            api: true,
            trusted: true,
        };
        let expected = release.expected(Settings::default(), &|kind| both.of(kind));
        assert_eq!(expected.starts.len(), 3);
        // `app` waits for `new` to be visible (read on the schedule's clock, so a little later).
        assert!(
            (visible..visible * 2).contains(&expected.starts["app"]),
            "{expected:?}"
        );
    }
}
