//! Per-device quotas and rate limits: a token bucket per device for exchanges started
//! and one for pushed change bytes. A device over its quota is answered
//! `ServerMsg::Throttled { retry_after_ms, limit }` (docs/protocol.md, "Quotas"); what it
//! already stored stays stored, what it was about to push stays on the device, and the
//! device retries after the time given. Other devices have their own buckets and are
//! never slowed by one device's excess beyond the work of refusing it.
//!
//! The buckets are "debt" buckets: a request is admitted while the bucket is not in
//! debt, and its whole cost is then taken (the level may go below zero). A push larger
//! than the burst is therefore admitted once the bucket is full, never starved, and the
//! debt it leaves is paid back at the sustained rate before the next one. State is kept
//! per node in memory (a restart forgets it; several nodes each enforce their own).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fieldsync_core::sync::wire::QuotaLimit;

/// Limits per device. `None` for a limit turns it off.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaConfig {
    /// Exchanges (a `Hello` on a stream) per minute, sustained.
    pub exchanges_per_minute: Option<u32>,
    /// Exchanges a device may start at once after being quiet.
    pub exchange_burst: u32,
    /// Pushed change bytes per second, sustained.
    pub push_bytes_per_s: Option<u64>,
    /// Pushed change bytes a device may send at once after being quiet.
    pub push_burst_bytes: u64,
}

impl Default for QuotaConfig {
    /// Two exchanges a second sustained with bursts of 60 (a device in background sync
    /// makes one per debounced burst of local writes or per notification), and 1 MiB/s
    /// of change bytes with a 32 MiB burst (a week offline of surveys is a few MiB).
    /// Generous for a field device; a loop hammering the server hits them in seconds.
    fn default() -> Self {
        QuotaConfig {
            exchanges_per_minute: Some(120),
            exchange_burst: 60,
            push_bytes_per_s: Some(1 << 20),
            push_burst_bytes: 32 << 20,
        }
    }
}

impl QuotaConfig {
    /// No limits at all.
    pub fn unlimited() -> Self {
        QuotaConfig {
            exchanges_per_minute: None,
            exchange_burst: 0,
            push_bytes_per_s: None,
            push_burst_bytes: 0,
        }
    }
}

/// A token bucket that may run into debt (see the module doc).
#[derive(Debug, Clone)]
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn full(capacity: f64, now: Instant) -> Self {
        Bucket {
            level: capacity,
            at: now,
        }
    }

    fn refill(&mut self, rate_per_s: f64, capacity: f64, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + dt * rate_per_s).min(capacity);
        self.at = now;
    }

    /// Take `cost` if the bucket is not in debt; otherwise the wait until it is not.
    fn take(
        &mut self,
        cost: f64,
        rate_per_s: f64,
        capacity: f64,
        now: Instant,
    ) -> Option<Duration> {
        self.refill(rate_per_s, capacity, now);
        // Admit at a level of at least one token's worth (an exchange costs 1).
        let need = cost.min(1.0);
        if self.level >= need {
            self.level -= cost;
            return None;
        }
        let wait = (need - self.level) / rate_per_s;
        Some(Duration::from_secs_f64(wait.max(0.001)))
    }
}

#[derive(Debug)]
struct DeviceBuckets {
    exchanges: Bucket,
    push: Bucket,
}

/// What a throttled request is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Which limit.
    pub limit: QuotaLimit,
    /// When to try again.
    pub retry_after: Duration,
}

/// Counters since start (operators, the quota benchmark).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaStats {
    /// Exchanges refused.
    pub exchanges_throttled: u64,
    /// Pushes refused.
    pub pushes_throttled: u64,
}

/// Every device's buckets on this node.
#[derive(Debug)]
pub struct Quotas {
    cfg: QuotaConfig,
    devices: Mutex<HashMap<(String, String), DeviceBuckets>>,
    stats: Mutex<QuotaStats>,
}

impl Quotas {
    /// Quotas with these limits.
    pub fn new(cfg: QuotaConfig) -> Self {
        Quotas {
            cfg,
            devices: Mutex::new(HashMap::new()),
            stats: Mutex::new(QuotaStats::default()),
        }
    }

    /// The limits.
    pub fn config(&self) -> &QuotaConfig {
        &self.cfg
    }

    /// Refusals so far.
    pub fn stats(&self) -> QuotaStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_device<T>(
        &self,
        tenant: &str,
        device: &str,
        now: Instant,
        f: impl FnOnce(&mut DeviceBuckets) -> T,
    ) -> T {
        let mut m = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        let cfg = &self.cfg;
        let b = m
            .entry((tenant.to_string(), device.to_string()))
            .or_insert_with(|| DeviceBuckets {
                exchanges: Bucket::full(f64::from(cfg.exchange_burst.max(1)), now),
                push: Bucket::full(cfg.push_burst_bytes.max(1) as f64, now),
            });
        f(b)
    }

    /// A device starts an exchange (its `Hello`).
    pub fn exchange(&self, tenant: &str, device: &str) -> Result<(), Throttle> {
        self.exchange_at(tenant, device, Instant::now())
    }

    /// [`Quotas::exchange`] at a given time (tests).
    pub fn exchange_at(&self, tenant: &str, device: &str, now: Instant) -> Result<(), Throttle> {
        let Some(per_min) = self.cfg.exchanges_per_minute else {
            return Ok(());
        };
        let rate = f64::from(per_min.max(1)) / 60.0;
        let cap = f64::from(self.cfg.exchange_burst.max(1));
        let wait = self.with_device(tenant, device, now, |b| {
            b.exchanges.take(1.0, rate, cap, now)
        });
        self.verdict(wait, QuotaLimit::Exchanges)
    }

    /// A device pushes `bytes` of changes.
    pub fn push(&self, tenant: &str, device: &str, bytes: u64) -> Result<(), Throttle> {
        self.push_at(tenant, device, bytes, Instant::now())
    }

    /// [`Quotas::push`] at a given time (tests).
    pub fn push_at(
        &self,
        tenant: &str,
        device: &str,
        bytes: u64,
        now: Instant,
    ) -> Result<(), Throttle> {
        let Some(rate) = self.cfg.push_bytes_per_s else {
            return Ok(());
        };
        let rate = rate.max(1) as f64;
        let cap = self.cfg.push_burst_bytes.max(1) as f64;
        let wait = self.with_device(tenant, device, now, |b| {
            b.push.take(bytes as f64, rate, cap, now)
        });
        self.verdict(wait, QuotaLimit::PushBytes)
    }

    fn verdict(&self, wait: Option<Duration>, limit: QuotaLimit) -> Result<(), Throttle> {
        let Some(retry_after) = wait else {
            return Ok(());
        };
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        match limit {
            QuotaLimit::Exchanges => s.exchanges_throttled += 1,
            QuotaLimit::PushBytes => s.pushes_throttled += 1,
        }
        Err(Throttle { limit, retry_after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> QuotaConfig {
        QuotaConfig {
            exchanges_per_minute: Some(60),
            exchange_burst: 3,
            push_bytes_per_s: Some(1000),
            push_burst_bytes: 5000,
        }
    }

    #[test]
    fn burst_then_sustained_rate() {
        let q = Quotas::new(cfg());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(q.exchange_at("t", "a", t0).is_ok());
        }
        let th = q.exchange_at("t", "a", t0).unwrap_err();
        assert_eq!(th.limit, QuotaLimit::Exchanges);
        // One per second sustained: the wait is about a second.
        assert!(th.retry_after > Duration::from_millis(900));
        assert!(th.retry_after <= Duration::from_millis(1001));
        // Another device is not affected.
        assert!(q.exchange_at("t", "b", t0).is_ok());
        // After the wait, one more.
        let t1 = t0 + th.retry_after;
        assert!(q.exchange_at("t", "a", t1).is_ok());
        assert!(q.exchange_at("t", "a", t1).is_err());
        assert_eq!(q.stats().exchanges_throttled, 2);
    }

    #[test]
    fn a_push_larger_than_the_burst_is_admitted_then_paid_back() {
        let q = Quotas::new(cfg());
        let t0 = Instant::now();
        assert!(q.push_at("t", "a", 12_000, t0).is_ok(), "never starved");
        let th = q.push_at("t", "a", 10, t0).unwrap_err();
        assert_eq!(th.limit, QuotaLimit::PushBytes);
        // 7,000 bytes of debt plus one at 1,000 B/s.
        assert!(th.retry_after >= Duration::from_millis(7000));
        assert!(q.push_at("t", "a", 10, t0 + th.retry_after).is_ok());
        assert_eq!(q.stats().pushes_throttled, 1);
    }

    #[test]
    fn unlimited_never_throttles() {
        let q = Quotas::new(QuotaConfig::unlimited());
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(q.exchange_at("t", "a", t0).is_ok());
            assert!(q.push_at("t", "a", 1 << 30, t0).is_ok());
        }
    }
}
