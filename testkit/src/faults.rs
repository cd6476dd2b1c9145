//! Fault injection: the ways real registries misbehave, each switchable, all timed by the
//! server's clock so tests never sleep.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

/// A crates.io-style token bucket: `burst` uploads at once, then one per `refill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Uploads allowed at once.
    pub burst: u32,
    /// Time to earn one more.
    pub refill: Duration,
}

impl RateLimit {
    /// crates.io's new-crate bucket: burst 5, then one per 10 minutes.
    pub const CRATES_IO_NEW_CRATES: Self = Self {
        burst: 5,
        refill: Duration::from_secs(600),
    };
    /// crates.io's new-version bucket: burst 30, then one per minute.
    pub const CRATES_IO_NEW_VERSIONS: Self = Self {
        burst: 30,
        refill: Duration::from_secs(60),
    };
}

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

/// A token bucket's state.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    limit: RateLimit,
    tokens: u32,
    last_refill: SystemTime,
}

impl Bucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: SystemTime) -> Self {
        Self {
            limit,
            tokens: limit.burst,
            last_refill: now,
        }
    }

    fn refill(&mut self, now: SystemTime) {
        let elapsed = now.duration_since(self.last_refill).unwrap_or_default();
        if self.limit.refill.is_zero() {
            self.tokens = self.limit.burst;
            self.last_refill = now;
            return;
        }
        let earned = (elapsed.as_nanos() / self.limit.refill.as_nanos()) as u32;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(self.limit.burst);
            self.last_refill += self.limit.refill * earned;
        }
    }

    /// Takes a token, or says when the next one will be there.
    pub fn take(&mut self, now: SystemTime) -> Result<(), SystemTime> {
        self.refill(now);
        if self.tokens > 0 {
            self.tokens -= 1;
            if self.tokens + 1 == self.limit.burst {
                self.last_refill = now;
            }
            Ok(())
        } else {
            Err(self.last_refill + self.limit.refill)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_refills() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut bucket = Bucket::new(
            RateLimit {
                burst: 2,
                refill: Duration::from_secs(60),
            },
            start,
        );
        assert!(bucket.take(start).is_ok());
        assert!(bucket.take(start).is_ok());
        assert_eq!(bucket.take(start), Err(start + Duration::from_secs(60)));
        assert!(bucket.take(start + Duration::from_secs(59)).is_err());
        assert!(bucket.take(start + Duration::from_secs(60)).is_ok());
        assert!(bucket.take(start + Duration::from_secs(61)).is_err());
    }
}
