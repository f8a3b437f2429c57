//! Test harness: a real server on 127.0.0.1:0 in this process, devices with real
//! SQLite stores syncing over real QUIC, and a userspace UDP proxy for bad links.

pub mod harness;
pub mod http;
pub mod memnet;
pub mod proxy;
