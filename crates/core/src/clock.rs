//! Time as a dependency, so that timeouts can be tested without sleeping.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;

    /// Whole seconds since the Unix epoch (the `timestamp`s and creation dates of the APIs).
    fn now_secs(&self) -> u64 {
        self.now_millis() / 1000
    }

    /// Nanoseconds since the Unix epoch (the LoRaWAN entries' timestamps have nine digits);
    /// by default the milliseconds, scaled.
    fn now_nanos(&self) -> u128 {
        u128::from(self.now_millis()) * 1_000_000
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    fn now_nanos(&self) -> u128 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    }
}
