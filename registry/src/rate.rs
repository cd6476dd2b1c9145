//! crates.io's upload rate limits as token buckets: the registry's view (the testkit answers 429
//! from them) and the publisher's (it paces uploads so a release does not hit 429 by design).

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

impl RateLimit {
    /// Parses `BURST/SECONDS`, seconds possibly fractional (`5/600`, `30/0.6`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (burst, seconds) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: expected BURST/SECONDS, e.g. 5/600"))?;
        let burst: u32 = burst
            .trim()
            .parse()
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| format!("`{text}`: BURST must be a whole number above 0"))?;
        let refill = seconds
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(31 * 24 * 3600))
            .ok_or_else(|| {
                format!("`{text}`: SECONDS must be a number above 0 and at most 31 days")
            })?;
        Ok(Self { burst, refill })
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at once, then 1 per {} s",
            self.burst,
            self.refill.as_secs_f64()
        )
    }
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

    /// Takes the next token, waiting for it if need be: returns when the upload may start.
    pub fn reserve(&mut self, now: SystemTime) -> SystemTime {
        match self.take(now) {
            Ok(()) => now,
            Err(at) => {
                // Cannot fail: a token is earned at `at`.
                let _ = self.take(at);
                at
            }
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

    #[test]
    fn limits_parse_with_fractional_seconds_and_refuse_nonsense() {
        assert_eq!(
            RateLimit::parse("5/600"),
            Ok(RateLimit::CRATES_IO_NEW_CRATES)
        );
        assert_eq!(
            RateLimit::parse("30/0.6").map(|l| l.refill),
            Ok(Duration::from_millis(600))
        );
        for bad in ["5", "0/10", "x/10", "5/0", "5/-1", "5/NaN", "5/1e300"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            RateLimit::CRATES_IO_NEW_CRATES.to_string(),
            "5 at once, then 1 per 600 s"
        );
    }

    #[test]
    fn reservations_pace_a_long_release() {
        let start = SystemTime::UNIX_EPOCH;
        let mut bucket = Bucket::new(RateLimit::CRATES_IO_NEW_CRATES, start);
        let times: Vec<u64> = (0..8)
            .map(|_| {
                bucket
                    .reserve(start)
                    .duration_since(start)
                    .unwrap()
                    .as_secs()
            })
            .collect();
        assert_eq!(times, [0, 0, 0, 0, 0, 600, 1200, 1800]);
    }
}
