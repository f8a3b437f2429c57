//! Named link profiles: the links field teams actually have.

use std::sync::Weak;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::udp::{Burst, Faults};

/// A link that goes away and comes back: `up`, then a blackout of `down`, repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flap {
    /// Time the link works.
    pub up: Duration,
    /// Time it drops everything.
    pub down: Duration,
}

impl Flap {
    /// Drive a proxy's flapping while it lives: after `up`, `black_out(proxy, until)`
    /// for `down`, and again. One schedule for the UDP and TCP proxies.
    pub(crate) fn spawn<T: Send + Sync + 'static>(
        self,
        proxy: Weak<T>,
        black_out: fn(&T, Instant),
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(self.up).await;
                let Some(p) = proxy.upgrade() else { return };
                black_out(&p, Instant::now() + self.down);
                drop(p);
                tokio::time::sleep(self.down).await;
            }
        })
    }
}

/// A named link: faults, plus optional flapping and NAT rebinding on a schedule.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Stable name (`edge`, `3g-bad`, `satellite`, `flapping`, `loopback`).
    pub name: &'static str,
    /// What it is, for reports.
    pub description: &'static str,
    /// Faults in each direction.
    pub faults: Faults,
    /// Periodic blackouts.
    pub flap: Option<Flap>,
    /// Move the device to a new source port this often.
    pub rebind_every: Option<Duration>,
}

impl Profile {
    /// No faults: loopback as it is.
    pub fn loopback() -> Profile {
        Profile {
            name: "loopback",
            description: "loopback, no faults",
            faults: Faults::default(),
            flap: None,
            rebind_every: None,
        }
    }

    /// 2G/EDGE in a rural area: 256 kbit/s, 300 ms round trip, 5% loss.
    pub fn edge() -> Profile {
        Profile {
            name: "edge",
            description: "2G/EDGE: 256 kbit/s, 300 ms RTT, 5% loss",
            faults: Faults {
                rate_bps: Some(256_000),
                delay: Duration::from_millis(150),
                loss: 0.05,
                ..Faults::default()
            },
            flap: None,
            rebind_every: None,
        }
    }

    /// A bad 3G cell: 1 Mbit/s, 200 ms round trip with 40 ms jitter, bursty loss
    /// averaging about 3%, some duplication and reordering.
    pub fn bad_3g() -> Profile {
        Profile {
            name: "3g-bad",
            description: "bad 3G: 1 Mbit/s, 200 ms RTT +40 ms jitter, bursty loss ~3%, 1% dup, 2% reorder",
            faults: Faults {
                rate_bps: Some(1_000_000),
                delay: Duration::from_millis(100),
                jitter: Duration::from_millis(40),
                loss: 0.01,
                // Bursts of ~4 datagrams, entered about every 100: ~2% more on average.
                burst: Some(Burst {
                    enter: 0.01,
                    leave: 0.25,
                    loss: 0.5,
                }),
                duplicate: 0.01,
                reorder: 0.02,
                ..Faults::default()
            },
            flap: None,
            rebind_every: None,
        }
    }

    /// A satellite link (VSAT at a remote site): 2 Mbit/s, 600 ms round trip, 1% loss.
    pub fn satellite() -> Profile {
        Profile {
            name: "satellite",
            description: "satellite: 2 Mbit/s, 600 ms RTT, 1% loss",
            faults: Faults {
                rate_bps: Some(2_000_000),
                delay: Duration::from_millis(300),
                loss: 0.01,
                ..Faults::default()
            },
            flap: None,
            rebind_every: None,
        }
    }

    /// Signal that comes and goes: a 1 Mbit/s, 100 ms link up for 4 s, gone for 2 s,
    /// and the device's address changing every 10 s.
    pub fn flapping() -> Profile {
        Profile {
            name: "flapping",
            description: "flapping: 1 Mbit/s, 100 ms RTT, 2% loss, 4 s up / 2 s down, rebinding every 10 s",
            faults: Faults {
                rate_bps: Some(1_000_000),
                delay: Duration::from_millis(50),
                loss: 0.02,
                ..Faults::default()
            },
            flap: Some(Flap {
                up: Duration::from_secs(4),
                down: Duration::from_secs(2),
            }),
            rebind_every: Some(Duration::from_secs(10)),
        }
    }

    /// Every named profile, loopback first.
    pub fn all() -> Vec<Profile> {
        vec![
            Profile::loopback(),
            Profile::edge(),
            Profile::bad_3g(),
            Profile::satellite(),
            Profile::flapping(),
        ]
    }

    /// The profile with this name.
    pub fn named(name: &str) -> Option<Profile> {
        Profile::all().into_iter().find(|p| p.name == name)
    }

    /// The round-trip time without jitter or queueing.
    pub fn rtt(&self) -> Duration {
        self.faults.delay * 2
    }

    /// The physical limit of a transfer on this link: `round_trips` round trips plus
    /// the time to put `bytes` of UDP payload in `datagrams` datagrams on the wire at
    /// the link rate (headers included); loss, jitter and blackouts not counted.
    pub fn physical_limit(&self, bytes: u64, datagrams: u64, round_trips: u32) -> Duration {
        self.limit_with(
            bytes,
            datagrams * crate::DATAGRAM_OVERHEAD as u64,
            round_trips,
        )
    }

    /// [`Profile::physical_limit`] for a TCP transfer: `bytes` of stream payload in
    /// `segments` segments of 40 header bytes each.
    pub fn physical_limit_tcp(&self, bytes: u64, segments: u64, round_trips: u32) -> Duration {
        self.limit_with(
            bytes,
            segments * crate::SEGMENT_OVERHEAD as u64,
            round_trips,
        )
    }

    fn limit_with(&self, bytes: u64, headers: u64, round_trips: u32) -> Duration {
        let wire = match self.faults.rate_bps.filter(|r| *r > 0) {
            Some(rate) => {
                let bits = (bytes + headers) * 8;
                Duration::from_secs_f64(bits as f64 / rate as f64)
            }
            None => Duration::ZERO,
        };
        self.rtt() * round_trips + wire
    }
}
