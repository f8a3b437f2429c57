//! Test harness: a real server on 127.0.0.1:0 in this process, devices with real
//! SQLite stores syncing over real QUIC, and the userspace UDP proxy for bad links
//! (`fieldsync-linkem`); the PouchDB peer's driver (`pouchdb`); a local S3-compatible
//! server for the S3 blob store (`s3`).

pub mod fuzz;
pub mod harness;
pub mod http;
pub mod memnet;
pub mod pouchdb;
pub mod proxy;
pub mod s3;
