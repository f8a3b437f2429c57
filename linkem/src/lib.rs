//! Link emulation for tests and benchmarks, without netem (this kernel has none): a
//! userspace UDP proxy on loopback that makes a bad mobile link — a rate limit with a
//! router queue, one-way delay and jitter, random and bursty (Gilbert–Elliott) loss,
//! duplication, reordering, blackouts and source-port rebinding — driven by named
//! [`Profile`]s (2G/EDGE, bad 3G, satellite, flapping). [`TcpProxy`] puts TCP peers
//! (HTTP replication) through the same profiles, with loss shown as TCP shows it: as
//! retransmission delay (see the `tcp` module for the model).
//!
//! Everything binds to 127.0.0.1 and every knob can change while traffic flows.

mod profile;
mod rng;
mod tcp;
mod udp;

pub use profile::{Flap, Profile};
pub use tcp::{Direction, MSS, RTO_MIN, SEGMENT_OVERHEAD, StreamLane, TcpLink, TcpProxy, TcpStats};
pub use udp::{Burst, Faults, Proxy, ProxyStats};

/// Bytes of IPv4 + UDP header a datagram costs on the link beyond its payload; counted
/// by the rate limit and by [`Profile::physical_limit`].
pub const DATAGRAM_OVERHEAD: usize = 28;
