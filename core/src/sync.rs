//! Sync: the wire protocol (docs/protocol.md), device identity, and the device side of
//! an exchange as a sans-I/O state machine. The QUIC transport lives in
//! `fieldsync-server` (server and client endpoints); nothing here does I/O.

pub mod agent;
pub mod auth;
pub mod blobs;
pub mod client;
pub mod quic;
pub mod wire;

pub use agent::{SyncAgent, SyncObserver, SyncStatus};
pub use client::{ClientConfig, ClientSession, Congestion, SyncReport};
