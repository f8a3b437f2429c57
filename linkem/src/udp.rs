//! The UDP proxy: devices send to [`Proxy::addr`], the proxy forwards to the server
//! from its own upstream socket and sends the replies back, applying [`Faults`] in each
//! direction.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::DATAGRAM_OVERHEAD;
use crate::profile::Profile;
use crate::rng::Rng;

/// Bursty loss after Gilbert–Elliott: the link is either good (losing with
/// [`Faults::loss`]) or in a burst (losing with [`Burst::loss`]); each datagram first
/// moves the state with the given probabilities. Mean burst length is `1 / leave`
/// datagrams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    /// Probability of entering a burst from the good state.
    pub enter: f64,
    /// Probability of leaving a burst.
    pub leave: f64,
    /// Loss probability inside a burst.
    pub loss: f64,
}

/// Fault settings, the same in both directions.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Probability a datagram is dropped (in the good state when `burst` is set).
    pub loss: f64,
    /// Bursty loss on top of `loss`.
    pub burst: Option<Burst>,
    /// Probability a datagram is sent twice.
    pub duplicate: f64,
    /// Probability a datagram is held back (reordered behind later ones).
    pub reorder: f64,
    /// Base one-way delay (the round trip is twice this).
    pub delay: Duration,
    /// Up to this much extra random delay; without `reorder` the link stays in order
    /// (jitter delays the datagrams behind too, as on a real radio link).
    pub jitter: Duration,
    /// Link rate in bits per second per direction, IP/UDP headers included; `None` is
    /// unlimited.
    pub rate_bps: Option<u64>,
    /// The router queue in front of a rate-limited link, as time to drain it: a datagram
    /// that would wait longer is dropped (drop-tail). `None` is 1 s.
    pub queue: Option<Duration>,
    /// Drop everything until this instant.
    pub blackout_until: Option<Instant>,
}

/// Counters, per direction where it matters (`up` = device to server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Datagrams forwarded (each duplicate counted once).
    pub forwarded: u64,
    /// Dropped by loss or blackout.
    pub dropped: u64,
    /// Dropped because the rate-limited queue was full.
    pub queue_dropped: u64,
    /// Duplicated.
    pub duplicated: u64,
    /// Reordered.
    pub reordered: u64,
    /// Rebinds done.
    pub rebinds: u64,
    /// Datagrams forwarded device -> server.
    pub datagrams_up: u64,
    /// Datagrams forwarded server -> device.
    pub datagrams_down: u64,
    /// UDP payload bytes forwarded device -> server.
    pub bytes_up: u64,
    /// UDP payload bytes forwarded server -> device.
    pub bytes_down: u64,
}

#[derive(Debug, Clone, Copy)]
enum Dir {
    Up = 0,
    Down = 1,
}

/// One direction of the link.
#[derive(Debug, Default)]
struct Lane {
    /// When the link finishes serialising what is queued.
    busy_until: Option<Instant>,
    /// Latest scheduled arrival, to keep the lane in order.
    last_arrival: Option<Instant>,
    /// In a loss burst.
    bad: bool,
}

struct State {
    faults: Faults,
    rng: Rng,
    stats: ProxyStats,
    lanes: [Lane; 2],
    client: Option<SocketAddr>,
    upstream: Arc<UdpSocket>,
    generation: u64,
}

struct Inner {
    state: Mutex<State>,
    server: SocketAddr,
    front: Arc<UdpSocket>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A running proxy; dropping it stops it.
pub struct Proxy {
    /// Where devices send.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Proxy {
    /// Start a proxy in front of `server`.
    pub async fn start(server: SocketAddr, faults: Faults, seed: u64) -> std::io::Result<Proxy> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = front.local_addr()?;
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                faults,
                rng: Rng::new(seed),
                stats: ProxyStats::default(),
                lanes: [Lane::default(), Lane::default()],
                client: None,
                upstream: upstream.clone(),
                generation: 0,
            }),
            server,
            front,
            tasks: Mutex::new(Vec::new()),
        });
        spawn_front(&inner);
        spawn_back(&inner, upstream, 0);
        Ok(Proxy { addr, inner })
    }

    /// Start a proxy with a profile's faults, flapping and rebinding.
    pub async fn with_profile(
        server: SocketAddr,
        profile: &Profile,
        seed: u64,
    ) -> std::io::Result<Proxy> {
        let proxy = Proxy::start(server, profile.faults.clone(), seed).await?;
        if let Some(flap) = profile.flap {
            let task = flap.spawn(Arc::downgrade(&proxy.inner), |inner, until| {
                lock(&inner.state).faults.blackout_until = Some(until);
            });
            lock_tasks(&proxy.inner).push(task);
        }
        if let Some(every) = profile.rebind_every {
            let weak = Arc::downgrade(&proxy.inner);
            let task = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(inner) = weak.upgrade() else { return };
                    if rebind(&inner).await.is_err() {
                        return;
                    }
                }
            });
            lock_tasks(&proxy.inner).push(task);
        }
        Ok(proxy)
    }

    /// Change the faults (queues and burst state carry over).
    pub fn set_faults(&self, f: Faults) {
        lock(&self.inner.state).faults = f;
    }

    /// Drop everything for `d` from now.
    pub fn blackout(&self, d: Duration) {
        lock(&self.inner.state).faults.blackout_until = Some(Instant::now() + d);
    }

    /// Move the device to a new source port towards the server, as after a NAT
    /// rebinding: replies to the old port are lost.
    pub async fn rebind(&self) -> std::io::Result<()> {
        rebind(&self.inner).await
    }

    /// Counters so far.
    pub fn stats(&self) -> ProxyStats {
        lock(&self.inner.state).stats
    }

    /// Zero the counters (e.g. after a warm-up).
    pub fn reset_stats(&self) {
        let mut s = lock(&self.inner.state);
        let rebinds = s.stats.rebinds;
        s.stats = ProxyStats {
            rebinds,
            ..ProxyStats::default()
        };
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in lock_tasks(&self.inner).iter() {
            t.abort();
        }
    }
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock_tasks(inner: &Inner) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
    inner.tasks.lock().unwrap_or_else(|p| p.into_inner())
}

async fn rebind(inner: &Arc<Inner>) -> std::io::Result<()> {
    let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let generation = {
        let mut s = lock(&inner.state);
        s.upstream = up.clone();
        s.generation += 1;
        s.stats.rebinds += 1;
        s.generation
    };
    spawn_back(inner, up, generation);
    Ok(())
}

fn spawn_front(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    let front = inner.front.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = front.recv_from(&mut buf).await {
            let Some(inner) = weak.upgrade() else { return };
            let up = {
                let mut s = lock(&inner.state);
                s.client = Some(from);
                s.upstream.clone()
            };
            forward(&inner.state, Dir::Up, up, inner.server, &buf[..n]);
        }
    });
    lock_tasks(inner).push(task);
}

fn spawn_back(inner: &Arc<Inner>, upstream: Arc<UdpSocket>, generation: u64) {
    let weak = Arc::downgrade(inner);
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, _)) = upstream.recv_from(&mut buf).await {
            let Some(inner) = weak.upgrade() else { return };
            let (client, current) = {
                let s = lock(&inner.state);
                (s.client, s.generation)
            };
            if current != generation {
                // The old binding is gone: replies to it are lost.
                break;
            }
            if let Some(c) = client {
                forward(&inner.state, Dir::Down, inner.front.clone(), c, &buf[..n]);
            }
        }
    });
    lock_tasks(inner).push(task);
}

/// Decide the fate of one datagram and schedule its arrival(s).
fn forward(state: &Mutex<State>, dir: Dir, sock: Arc<UdpSocket>, to: SocketAddr, data: &[u8]) {
    let now = Instant::now();
    let arrivals = {
        let mut guard = lock(state);
        let s = &mut *guard;
        let f = &s.faults;
        let lane = &mut s.lanes[dir as usize];
        if f.blackout_until.is_some_and(|t| now < t) {
            s.stats.dropped += 1;
            return;
        }
        // Serialisation on a rate-limited link, behind what is already queued.
        let mut sent = now;
        if let Some(rate) = f.rate_bps.filter(|r| *r > 0) {
            let start = lane.busy_until.map_or(now, |b| b.max(now));
            if start.duration_since(now) > f.queue.unwrap_or(Duration::from_secs(1)) {
                s.stats.queue_dropped += 1;
                return;
            }
            let bits = (data.len() + DATAGRAM_OVERHEAD) as u64 * 8;
            sent = start + Duration::from_nanos(bits.saturating_mul(1_000_000_000) / rate);
            lane.busy_until = Some(sent);
        }
        // Loss on the air: the datagram used its share of the link first.
        let loss = match f.burst {
            Some(b) => {
                lane.bad = if lane.bad {
                    !s.rng.chance(b.leave)
                } else {
                    s.rng.chance(b.enter)
                };
                if lane.bad { b.loss } else { f.loss }
            }
            None => f.loss,
        };
        if s.rng.chance(loss) {
            s.stats.dropped += 1;
            return;
        }
        let copies = if s.rng.chance(f.duplicate) {
            s.stats.duplicated += 1;
            2
        } else {
            1
        };
        let jitter_us = u64::try_from(f.jitter.as_micros()).unwrap_or(u64::MAX);
        let mut arrivals = Vec::with_capacity(copies);
        for _ in 0..copies {
            let mut at = sent + f.delay + Duration::from_micros(s.rng.below(jitter_us));
            if s.rng.chance(f.reorder) {
                s.stats.reordered += 1;
                at += Duration::from_millis(5) + Duration::from_micros(s.rng.below(20_000));
            } else {
                at = lane.last_arrival.map_or(at, |l| l.max(at));
                lane.last_arrival = Some(at);
            }
            arrivals.push(at);
        }
        s.stats.forwarded += 1;
        match dir {
            Dir::Up => {
                s.stats.datagrams_up += 1;
                s.stats.bytes_up += data.len() as u64;
            }
            Dir::Down => {
                s.stats.datagrams_down += 1;
                s.stats.bytes_down += data.len() as u64;
            }
        }
        arrivals
    };
    for at in arrivals {
        if at <= now {
            let _ = sock.try_send_to(data, to);
        } else {
            let (sock, data) = (sock.clone(), data.to_vec());
            tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                let _ = sock.send_to(&data, to).await;
            });
        }
    }
}
