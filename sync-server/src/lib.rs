//! fieldsync-server: the QUIC sync server, its storage, the merged view, and the
//! operator CLI behind the `fieldsync` binary.
//!
//! `server::start(config)` (or `server::run(config, shutdown)`) is what tests call on
//! `127.0.0.1:0`; `main.rs` only parses the command line and sets up logging.

pub mod admin;
pub mod blobs;
pub mod blobstore;
pub mod console;
pub mod demo;
pub mod materialize;
pub mod quota;
pub mod server;
pub mod session;
pub mod storage;
