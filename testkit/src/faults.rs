//! Fault injection: the ways real registries misbehave, each switchable, all timed by the
//! server's clock so tests never sleep.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub use convoy_registry::rate::{Bucket, RateLimit};

/// What the server does wrong, and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// A published version appears in the index only this long after the publish.
    pub index_delay: Duration,
    /// For this long after a publish, index reads that do not defeat caches (no
    /// `Cache-Control: no-cache`, no query string) get the file as it was before.
    pub stale_for: Duration,
    /// Bucket for the first version of a crate.
    pub new_crate_limit: Option<RateLimit>,
    /// Bucket for further versions.
    pub new_version_limit: Option<RateLimit>,
    /// The Nth upload (1-based) is answered with this status, without storing anything.
    pub fail_upload: BTreeMap<u64, u16>,
    /// The Nth upload's connection is closed before it is handled.
    pub reset_upload: BTreeSet<u64>,
    /// The Nth upload is stored, then its connection is closed without a response.
    pub drop_upload_response: BTreeSet<u64>,
    /// Every response waits this long first.
    pub slow: Duration,
}
