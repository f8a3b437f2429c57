//! A userspace UDP proxy that makes a bad link (this kernel has no netem): loss,
//! duplication, reordering, delay and jitter, blackouts, and source-port rebinding
//! (the server sees the device move to a new address, as after a NAT rebinding).
//! Loopback only; every knob can change while traffic flows.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fieldsync_core::sample::Rng;
use tokio::net::UdpSocket;

/// Fault settings.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is sent twice.
    pub duplicate: f64,
    /// Probability a datagram is held back (reordered behind later ones).
    pub reorder: f64,
    /// Base one-way delay.
    pub delay: Duration,
    /// Up to this much extra random delay.
    pub jitter: Duration,
    /// Drop everything until this instant.
    pub blackout_until: Option<Instant>,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyStats {
    /// Datagrams forwarded.
    pub forwarded: u64,
    /// Dropped.
    pub dropped: u64,
    /// Duplicated.
    pub duplicated: u64,
    /// Reordered.
    pub reordered: u64,
    /// Rebinds done.
    pub rebinds: u64,
}

struct State {
    faults: Faults,
    rng: Rng,
    stats: ProxyStats,
    client: Option<SocketAddr>,
    upstream: Arc<UdpSocket>,
    generation: u64,
}

/// A running proxy.
pub struct Proxy {
    /// Where devices send.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: SocketAddr,
    front: Arc<UdpSocket>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// Start a proxy in front of `server`.
    pub async fn start(server: SocketAddr, faults: Faults, seed: u64) -> std::io::Result<Proxy> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = front.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            faults,
            rng: Rng::new(seed),
            stats: ProxyStats::default(),
            client: None,
            upstream: upstream.clone(),
            generation: 0,
        }));
        let mut p = Proxy {
            addr,
            state,
            server,
            front,
            tasks: Vec::new(),
        };
        p.spawn_front();
        p.spawn_back(upstream, 0);
        Ok(p)
    }

    fn spawn_front(&mut self) {
        let (front, state, server) = (self.front.clone(), self.state.clone(), self.server);
        self.tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, from)) = front.recv_from(&mut buf).await {
                let up = {
                    let mut s = lock(&state);
                    s.client = Some(from);
                    s.upstream.clone()
                };
                forward(&state, up, server, buf[..n].to_vec());
            }
        }));
    }

    fn spawn_back(&mut self, upstream: Arc<UdpSocket>, generation: u64) {
        let (front, state) = (self.front.clone(), self.state.clone());
        self.tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, _)) = upstream.recv_from(&mut buf).await {
                let (client, current) = {
                    let s = lock(&state);
                    (s.client, s.generation)
                };
                if current != generation {
                    // The old binding is gone: replies to it are lost, as after a NAT rebinding.
                    break;
                }
                if let Some(c) = client {
                    forward(&state, front.clone(), c, buf[..n].to_vec());
                }
            }
        }));
    }

    /// Change the faults.
    pub fn set_faults(&self, f: Faults) {
        lock(&self.state).faults = f;
    }

    /// Drop everything for `d` from now.
    pub fn blackout(&self, d: Duration) {
        lock(&self.state).faults.blackout_until = Some(Instant::now() + d);
    }

    /// Move the device to a new source port towards the server.
    pub async fn rebind(&mut self) -> std::io::Result<()> {
        let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let generation = {
            let mut s = lock(&self.state);
            s.upstream = up.clone();
            s.generation += 1;
            s.stats.rebinds += 1;
            s.generation
        };
        self.spawn_back(up, generation);
        Ok(())
    }

    /// Counters so far.
    pub fn stats(&self) -> ProxyStats {
        lock(&self.state).stats
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn forward(state: &Arc<Mutex<State>>, sock: Arc<UdpSocket>, to: SocketAddr, data: Vec<u8>) {
    let plan: Vec<Duration> = {
        let mut s = lock(state);
        let f = s.faults.clone();
        if f.blackout_until.is_some_and(|t| Instant::now() < t) || s.rng.chance(f.loss) {
            s.stats.dropped += 1;
            return;
        }
        let mut delays = Vec::new();
        let copies = if s.rng.chance(f.duplicate) {
            s.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter_us = u64::try_from(f.jitter.as_micros()).unwrap_or(0);
            let mut d = f.delay
                + Duration::from_micros(if jitter_us > 0 {
                    s.rng.next_u64() % jitter_us
                } else {
                    0
                });
            if s.rng.chance(f.reorder) {
                s.stats.reordered += 1;
                d += Duration::from_millis(5) + Duration::from_micros(s.rng.next_u64() % 20_000);
            }
            delays.push(d);
        }
        s.stats.forwarded += 1;
        delays
    };
    for d in plan {
        let (sock, data) = (sock.clone(), data.clone());
        if d.is_zero() {
            let _ = sock.try_send_to(&data, to);
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                let _ = sock.send_to(&data, to).await;
            });
        }
    }
}
