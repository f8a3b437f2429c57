//! The PouchDB peer (`bench/pouchdb/peer.js`, Node.js): a CouchDB-protocol server
//! (express-pouchdb) and a device (PouchDB) as child processes, driven by JSON lines.
//! Shared by the peer's test (`tests/tests/pouchdb_peer.rs`) and the `field` benchmark
//! (which includes this file), so it depends on std and serde_json only and blocks:
//! call it off the async runtime.
//!
//! `bench/pouchdb/node_modules` comes from `scripts/install-pouchdb` (`npm ci`, pinned by
//! `bench/pouchdb/package-lock.json`; `scripts/test-all` runs it through `ensure_pouchdb`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

/// Errors of the peer: it could not start, or a command failed (with its message).
#[derive(Debug)]
pub struct PeerError(pub String);

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pouchdb peer: {}", self.0)
    }
}

impl std::error::Error for PeerError {}

type Result<T> = std::result::Result<T, PeerError>;

fn err(e: impl std::fmt::Display) -> PeerError {
    PeerError(e.to_string())
}

/// `bench/pouchdb` in this workspace.
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(
        || PathBuf::from("bench/pouchdb"),
        |w| w.join("bench/pouchdb"),
    )
}

fn spawn(mode: &str) -> Result<(Child, ChildStdin, BufReader<ChildStdout>)> {
    let dir = peer_dir();
    if !dir
        .join("node_modules/express-pouchdb/package.json")
        .exists()
    {
        return Err(PeerError(format!(
            "{} has no node_modules: run scripts/install-pouchdb",
            dir.display()
        )));
    }
    let mut child = Command::new("node")
        .arg("peer.js")
        .arg(mode)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| PeerError(format!("node: {e}")))?;
    let stdin = child.stdin.take().ok_or_else(|| err("no stdin"))?;
    let stdout = BufReader::new(child.stdout.take().ok_or_else(|| err("no stdout"))?);
    Ok((child, stdin, stdout))
}

fn read_line(out: &mut BufReader<ChildStdout>) -> Result<Value> {
    let mut line = String::new();
    if out.read_line(&mut line).map_err(err)? == 0 {
        return Err(err("the peer process ended"));
    }
    serde_json::from_str(&line).map_err(err)
}

/// The CouchDB-protocol server (express-pouchdb, in memory) on 127.0.0.1.
pub struct PouchServer {
    child: Child,
    _stdin: ChildStdin,
    /// Its port.
    pub port: u16,
}

impl PouchServer {
    /// Start a server with no databases.
    pub fn start() -> Result<PouchServer> {
        let (child, stdin, mut out) = spawn("server")?;
        let hello = read_line(&mut out)?;
        let port = hello["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| err(format!("no port in {hello}")))?;
        Ok(PouchServer {
            child,
            _stdin: stdin,
            port,
        })
    }

    /// Its address.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for PouchServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's counters: HTTP requests and bytes (request line and headers as sent,
/// bodies by content-length; response headers and bodies as written).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCounts {
    /// HTTP requests.
    pub requests: u64,
    /// Bytes received (requests).
    pub bytes_in: u64,
    /// Bytes sent (responses).
    pub bytes_out: u64,
}

/// The outcome of one replication.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replication {
    /// It completed.
    pub ok: bool,
    /// Time inside the device process, milliseconds.
    pub ms: f64,
    /// Documents written to the target.
    pub docs_written: u64,
    /// The error, when it did not complete.
    pub error: Option<String>,
}

/// A device: one in-memory PouchDB database.
pub struct PouchDevice {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
}

impl PouchDevice {
    /// Start a device process.
    pub fn start() -> Result<PouchDevice> {
        let (child, stdin, out) = spawn("client")?;
        Ok(PouchDevice { child, stdin, out })
    }

    /// Send one command and read its answer; an answer with `ok: false` from a command
    /// other than a replication is an error.
    pub fn call(&mut self, cmd: &Value) -> Result<Value> {
        let mut line = serde_json::to_vec(cmd).map_err(err)?;
        line.push(b'\n');
        self.stdin.write_all(&line).map_err(err)?;
        self.stdin.flush().map_err(err)?;
        read_line(&mut self.out)
    }

    fn call_ok(&mut self, cmd: &Value) -> Result<Value> {
        let v = self.call(cmd)?;
        if v["ok"] != json!(true) {
            return Err(PeerError(format!("{}: {}", cmd["op"], v["error"])));
        }
        Ok(v)
    }

    /// Write new documents (each with its `_id`) into the device database.
    pub fn load(&mut self, docs: &[Value]) -> Result<()> {
        self.call_ok(&json!({"op": "load", "docs": docs}))?;
        Ok(())
    }

    /// Set the field at `path` of each document to `value` (one new revision each).
    pub fn edit(&mut self, ids: &[String], path: &[&str], value: &Value) -> Result<()> {
        self.call_ok(&json!({"op": "edit", "ids": ids, "path": path, "value": value}))?;
        Ok(())
    }

    fn replicate(&mut self, op: &str, url: &str, timeout_ms: u64) -> Result<Replication> {
        let v = self.call(&json!({"op": op, "url": url, "timeout_ms": timeout_ms}))?;
        Ok(Replication {
            ok: v["ok"] == json!(true),
            ms: v["ms"].as_f64().unwrap_or(f64::NAN),
            docs_written: v["docs_written"].as_u64().unwrap_or(0),
            error: v["error"].as_str().map(str::to_string),
        })
    }

    /// One-shot replication device -> `url` (a database URL), cancelled after
    /// `timeout_ms`.
    pub fn push(&mut self, url: &str, timeout_ms: u64) -> Result<Replication> {
        self.replicate("push", url, timeout_ms)
    }

    /// One-shot replication `url` -> device.
    pub fn pull(&mut self, url: &str, timeout_ms: u64) -> Result<Replication> {
        self.replicate("pull", url, timeout_ms)
    }

    /// Documents in the remote database at `url`.
    pub fn remote_doc_count(&mut self, url: &str) -> Result<u64> {
        let v = self.call_ok(&json!({"op": "info", "url": url}))?;
        v["doc_count"].as_u64().ok_or_else(|| err("no doc_count"))
    }

    /// Documents in the device database.
    pub fn local_doc_count(&mut self) -> Result<u64> {
        let v = self.call_ok(&json!({"op": "local_info"}))?;
        v["doc_count"].as_u64().ok_or_else(|| err("no doc_count"))
    }

    /// The counters of the server at `server_url` (asked directly, not counted).
    pub fn server_counts(&mut self, server_url: &str) -> Result<ServerCounts> {
        let v = self.call_ok(&json!({"op": "stats", "url": server_url}))?;
        Ok(ServerCounts {
            requests: v["requests"].as_u64().unwrap_or(0),
            bytes_in: v["bytes_in"].as_u64().unwrap_or(0),
            bytes_out: v["bytes_out"].as_u64().unwrap_or(0),
        })
    }

    /// Zero the counters of the server at `server_url`.
    pub fn reset_server_counts(&mut self, server_url: &str) -> Result<()> {
        self.call_ok(&json!({"op": "reset", "url": server_url}))?;
        Ok(())
    }
}

impl Drop for PouchDevice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
