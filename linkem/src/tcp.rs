//! The TCP proxy, for peers that sync over HTTP: devices connect to [`TcpProxy::addr`],
//! the proxy opens a connection to the server for each and forwards both byte streams
//! through a model of the same bad link ([`Faults`], [`Profile`]).
//!
//! TCP hides loss from the application: a lost segment is sent again and everything
//! behind it on that connection waits (head-of-line blocking). The proxy cannot drop
//! bytes from a stream the kernel has already acknowledged, so it models what the
//! sender's TCP would have done on the emulated link, per segment of [`MSS`] bytes:
//!
//! - **rate**: every transmission (retransmissions too) occupies the direction's link for
//!   `(len + 40) * 8 / rate` seconds, shared by all connections, as on the UDP proxy;
//! - **delay and jitter**: one-way delay plus up to `jitter`, never reordering a
//!   connection's bytes (TCP delivers in order);
//! - **loss** (random or bursty, as on UDP): a lost segment arrives later by a recovery
//!   penalty — one RTT when at least three more segments follow it in the same write
//!   (fast retransmit on duplicate ACKs), otherwise a retransmission timeout of
//!   `RTT + max(200 ms, 2 * jitter)` (Linux's `SRTT + max(rto_min, 4 * RTTVAR)`),
//!   doubling for each further loss of the same segment; the later bytes wait behind it;
//! - **blackouts**: a segment sent into a blackout is lost the same way, so it arrives
//!   after the blackout by the timeout backoff, as a real TCP stream resumes;
//! - **connection set-up**: a connection's first bytes leave one RTT after it was
//!   accepted (the SYN / SYN-ACK exchange the loopback connect did not pay);
//! - **rebinding**: a NAT rebinding cuts every open connection (TCP cannot migrate);
//!   the peer sees the connection end and must reconnect.
//!
//! Not modelled, all in TCP's favour: slow start and congestion-window reductions after a
//! loss (the kernel's TCP between the peer and the proxy sees loopback), the ACK traffic
//! of the reverse direction on the rate limit, duplication and reordering (TCP would
//! hide them behind a little delay). The peer measured through this proxy is therefore
//! at least as fast as it would be on the real link.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::profile::Profile;
use crate::rng::Rng;
use crate::udp::Faults;

/// Payload bytes of one TCP segment (Ethernet MSS).
pub const MSS: usize = 1460;
/// Bytes of IPv4 + TCP header a segment costs on the link beyond its payload.
pub const SEGMENT_OVERHEAD: usize = 40;
/// The smallest retransmission timeout beyond the RTT (Linux `rto_min`).
pub const RTO_MIN: Duration = Duration::from_millis(200);
/// Retransmissions of one segment modelled before it is delivered regardless (a real
/// TCP gives up after minutes; a bench must stay bounded).
const MAX_ATTEMPTS: u32 = 12;
/// Segments a connection direction may hold in the proxy before the sender blocks
/// (about a socket buffer).
const QUEUE_SEGMENTS: usize = 128;

/// Direction of a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Device to server.
    Up = 0,
    /// Server to device.
    Down = 1,
}

/// Counters of the TCP proxy (`up` = device to server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections cut by a rebinding.
    pub cut: u64,
    /// Rebinds done.
    pub rebinds: u64,
    /// Turns: writes from the device that open a connection or follow an answer from the
    /// server on it — the HTTP requests when requests are not pipelined.
    pub requests: u64,
    /// Payload bytes forwarded device -> server (each byte once).
    pub bytes_up: u64,
    /// Payload bytes forwarded server -> device.
    pub bytes_down: u64,
    /// Segments forwarded device -> server (first transmissions).
    pub segments_up: u64,
    /// Segments forwarded server -> device.
    pub segments_down: u64,
    /// Segment transmissions lost (by loss or blackout), each resent.
    pub lost: u64,
    /// Losses recovered by fast retransmit (one RTT).
    pub fast_retransmits: u64,
    /// Losses recovered by a retransmission timeout.
    pub timeouts: u64,
}

/// The link model, sans I/O: given when a segment is handed to the link, when it
/// arrives. The proxy calls it for every segment; tests call it with their own clock.
#[derive(Debug)]
pub struct TcpLink {
    faults: Faults,
    rng: Rng,
    busy_until: [Option<Instant>; 2],
    bad: [bool; 2],
    stats: TcpStats,
}

/// Per connection and direction: arrivals stay in order.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamLane {
    /// No byte leaves before this (connection set-up).
    pub not_before: Option<Instant>,
    /// Latest arrival scheduled.
    pub last_arrival: Option<Instant>,
}

impl TcpLink {
    /// A link with these faults; `seed` fixes the loss schedule.
    pub fn new(faults: Faults, seed: u64) -> TcpLink {
        TcpLink {
            faults,
            rng: Rng::new(seed),
            busy_until: [None, None],
            bad: [false, false],
            stats: TcpStats::default(),
        }
    }

    /// The faults in force.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replace the faults (queues and burst state carry over).
    pub fn set_faults(&mut self, f: Faults) {
        self.faults = f;
    }

    /// Counters so far.
    pub fn stats(&self) -> TcpStats {
        self.stats
    }

    /// Round trip without jitter.
    pub fn rtt(&self) -> Duration {
        self.faults.delay * 2
    }

    /// The retransmission timeout of the first loss: `RTT + max(200 ms, 2 * jitter)`.
    pub fn rto(&self) -> Duration {
        self.rtt() + RTO_MIN.max(self.faults.jitter * 2)
    }

    fn serialise(&self, len: usize) -> Duration {
        match self.faults.rate_bps.filter(|r| *r > 0) {
            Some(rate) => {
                let bits = (len + SEGMENT_OVERHEAD) as u64 * 8;
                Duration::from_nanos(bits.saturating_mul(1_000_000_000) / rate)
            }
            None => Duration::ZERO,
        }
    }

    fn lost_on_air(&mut self, dir: Direction) -> bool {
        let f = &self.faults;
        let loss = match f.burst {
            Some(b) => {
                let bad = &mut self.bad[dir as usize];
                *bad = if *bad {
                    !self.rng.chance(b.leave)
                } else {
                    self.rng.chance(b.enter)
                };
                if *bad { b.loss } else { f.loss }
            }
            None => f.loss,
        };
        self.rng.chance(loss)
    }

    /// Hand one segment of `len` payload bytes to the link at `now`; `behind` is how
    /// many segments of the same write follow it (fast retransmit needs three). Returns
    /// when it arrives at the other end, in order on `lane`.
    pub fn segment(
        &mut self,
        now: Instant,
        dir: Direction,
        len: usize,
        behind: usize,
        lane: &mut StreamLane,
    ) -> Instant {
        let d = dir as usize;
        let ser = self.serialise(len);
        let start = [Some(now), self.busy_until[d], lane.not_before]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now);
        let sent = start + ser;
        self.busy_until[d] = Some(sent);
        let mut extra = Duration::ZERO;
        let mut timeouts = 0u32;
        for attempt in 1..=MAX_ATTEMPTS {
            let at = sent + extra;
            let blackout = self.faults.blackout_until.is_some_and(|b| at < b);
            // Draw the loss even in a blackout, so the schedule does not depend on it.
            let on_air = self.lost_on_air(dir);
            if !(blackout || on_air) {
                break;
            }
            self.stats.lost += 1;
            if attempt == 1 && behind >= 3 && !blackout {
                self.stats.fast_retransmits += 1;
                extra += self.rtt();
            } else {
                self.stats.timeouts += 1;
                extra += self.rto() * (1u32 << timeouts.min(6));
                timeouts += 1;
            }
            // The retransmission uses the link once more.
            if let Some(b) = self.busy_until[d].as_mut() {
                *b += ser;
            }
            extra += ser;
        }
        let jitter_us = u64::try_from(self.faults.jitter.as_micros()).unwrap_or(u64::MAX);
        let mut arrival =
            sent + extra + self.faults.delay + Duration::from_micros(self.rng.below(jitter_us));
        arrival = lane.last_arrival.map_or(arrival, |l| l.max(arrival));
        lane.last_arrival = Some(arrival);
        match dir {
            Direction::Up => {
                self.stats.segments_up += 1;
                self.stats.bytes_up += len as u64;
            }
            Direction::Down => {
                self.stats.segments_down += 1;
                self.stats.bytes_down += len as u64;
            }
        }
        arrival
    }
}

struct Inner {
    link: Mutex<TcpLink>,
    server: SocketAddr,
    /// Bumped by a rebinding: connections of an older generation are cut.
    generation: watch::Sender<u64>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A running TCP proxy; dropping it stops it (open connections are cut).
pub struct TcpProxy {
    /// Where devices connect.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl TcpProxy {
    /// Start a proxy in front of the TCP server at `server`.
    pub async fn start(server: SocketAddr, faults: Faults, seed: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (generation, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            link: Mutex::new(TcpLink::new(faults, seed)),
            server,
            generation,
            tasks: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&inner);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Some(inner) = weak.upgrade() else { return };
                let accepted = Instant::now();
                {
                    let mut l = lock(&inner.link);
                    l.stats.connections += 1;
                }
                tokio::spawn(connection(inner, client, accepted));
            }
        });
        lock_tasks(&inner).push(accept);
        Ok(TcpProxy { addr, inner })
    }

    /// Start a proxy with a profile's faults, flapping and rebinding.
    pub async fn with_profile(
        server: SocketAddr,
        profile: &Profile,
        seed: u64,
    ) -> std::io::Result<Self> {
        let proxy = TcpProxy::start(server, profile.faults.clone(), seed).await?;
        if let Some(flap) = profile.flap {
            let task = flap.spawn(Arc::downgrade(&proxy.inner), |inner, until| {
                lock(&inner.link).faults.blackout_until = Some(until);
            });
            lock_tasks(&proxy.inner).push(task);
        }
        if let Some(every) = profile.rebind_every {
            let weak = Arc::downgrade(&proxy.inner);
            let task = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(inner) = weak.upgrade() else { return };
                    rebind(&inner);
                }
            });
            lock_tasks(&proxy.inner).push(task);
        }
        Ok(proxy)
    }

    /// Change the faults.
    pub fn set_faults(&self, f: Faults) {
        lock(&self.inner.link).set_faults(f);
    }

    /// Lose everything sent for `d` from now (TCP resends it afterwards).
    pub fn blackout(&self, d: Duration) {
        lock(&self.inner.link).faults.blackout_until = Some(Instant::now() + d);
    }

    /// A NAT rebinding: every open connection is cut.
    pub fn rebind(&self) {
        rebind(&self.inner);
    }

    /// Counters so far.
    pub fn stats(&self) -> TcpStats {
        lock(&self.inner.link).stats
    }

    /// Zero the counters (e.g. after a warm-up).
    pub fn reset_stats(&self) {
        lock(&self.inner.link).stats = TcpStats::default();
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        rebind(&self.inner);
        for t in lock_tasks(&self.inner).iter() {
            t.abort();
        }
    }
}

fn rebind(inner: &Inner) {
    lock(&inner.link).stats.rebinds += 1;
    inner.generation.send_modify(|g| *g += 1);
}

fn lock(s: &Mutex<TcpLink>) -> MutexGuard<'_, TcpLink> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock_tasks(inner: &Inner) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
    inner.tasks.lock().unwrap_or_else(|p| p.into_inner())
}

/// Last direction that carried data on a connection: 0 none, 1 up, 2 down.
type LastDir = Arc<AtomicU8>;

async fn connection(inner: Arc<Inner>, client: TcpStream, accepted: Instant) {
    let mut gen_rx = inner.generation.subscribe();
    let Ok(upstream) = TcpStream::connect(inner.server).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let rtt = lock(&inner.link).rtt();
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let last: LastDir = Arc::new(AtomicU8::new(0));
    let up = pump(
        inner.clone(),
        Direction::Up,
        cr,
        uw,
        last.clone(),
        Some(accepted + rtt),
    );
    let down = pump(inner.clone(), Direction::Down, ur, cw, last, None);
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = gen_rx.changed() => {
            lock(&inner.link).stats.cut += 1;
            // Dropping both halves of both sockets ends the connection mid-stream.
        }
    }
}

/// One direction of a connection: read what the sender writes, hand it to the link
/// segment by segment, write each segment out when it arrives, then pass the end of
/// stream on.
async fn pump(
    inner: Arc<Inner>,
    dir: Direction,
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    last: LastDir,
    not_before: Option<Instant>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE_SEGMENTS);
    let reader = async move {
        let mut lane = StreamLane {
            not_before,
            last_arrival: None,
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let me = dir as u8 + 1;
            let before = last.swap(me, Ordering::Relaxed);
            let segments: Vec<&[u8]> = buf[..n].chunks(MSS).collect();
            let count = segments.len();
            let mut scheduled = Vec::with_capacity(count);
            {
                let mut link = lock(&inner.link);
                if dir == Direction::Up && before != me {
                    link.stats.requests += 1;
                }
                let now = Instant::now();
                for (i, seg) in segments.iter().enumerate() {
                    let at = link.segment(now, dir, seg.len(), count - 1 - i, &mut lane);
                    scheduled.push((at, seg.to_vec()));
                }
            }
            for s in scheduled {
                if tx.send(s).await.is_err() {
                    return;
                }
            }
        }
        // End of stream: passed on after the last byte.
        let at = lane.last_arrival.unwrap_or_else(Instant::now);
        let _ = tx.send((at, Vec::new())).await;
    };
    let writer = async move {
        while let Some((at, data)) = rx.recv().await {
            tokio::time::sleep_until(at.into()).await;
            if data.is_empty() {
                break;
            }
            if to.write_all(&data).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
