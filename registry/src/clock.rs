//! Time as a dependency: retries, polling and rate limits ask a [`Clock`] for the time and to
//! sleep, so tests drive them with a [`ManualClock`] instead of waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A source of time that can also wait.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told to, or when something sleeps on it (sleeping advances it
/// after a few real milliseconds, so code under test never waits for the time it sleeps).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
    slept: Mutex<Vec<Duration>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
            slept: Mutex::new(Vec::new()),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.slept.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.now
            .lock()
            .map(|now| *now)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        if let Ok(mut slept) = self.slept.lock() {
            slept.push(duration);
        }
        // Requests in flight to a loopback server answer within a moment of real time; letting
        // them answer before the clock jumps keeps a test's timeline what it would be for real
        // (an upload answered in 1 ms does not take the whole sleep).
        let grace = tokio::runtime::Handle::try_current()
            .is_ok()
            .then(|| tokio::time::sleep(MANUAL_GRACE));
        Box::pin(async move {
            if let Some(grace) = grace {
                grace.await;
            }
            self.advance(duration);
        })
    }
}

/// Real time a [`ManualClock`] sleep lets other tasks run before it moves the clock.
pub const MANUAL_GRACE: Duration = Duration::from_millis(3);
