//! A real S3-compatible server for the S3 blob store's tests (docs/adr/0018): `s3s-fs`
//! from crates.io (`ensure_s3s_fs` in scripts/lib.sh installs it; scripts/test-all calls
//! it) on 127.0.0.1, on a temporary folder, with its own access key and secret. Stopped
//! (killed) when dropped.
//!
//! A missing `s3s-fs` binary fails the test with the install command: these tests are
//! never skipped.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fieldsync_server::blobstore::s3::{S3BlobStore, S3Config};

/// The s3s-fs version scripts/lib.sh installs.
pub const S3S_FS_VERSION: &str = "0.14.1";
/// Overrides where the `s3s-fs` binary is.
pub const S3S_FS_ENV: &str = "FIELDSYNC_S3S_FS";

const ACCESS_KEY: &str = "fieldsync-test";
const SECRET_KEY: &str = "fieldsync-test-secret-0123456789";

/// A running s3s-fs.
pub struct S3Server {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl std::fmt::Debug for S3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Server")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn install_hint() -> String {
    format!(
        "s3s-fs {S3S_FS_VERSION} is needed by the S3 blob store tests and was not found \
         (looked at ${S3S_FS_ENV}, PATH and $CARGO_HOME/bin): install it with \
         `cargo install s3s-fs --version {S3S_FS_VERSION} --locked --features binary` \
         (scripts/test-all does this through ensure_s3s_fs in scripts/lib.sh)"
    )
}

/// The s3s-fs binary, or a failure saying how to install it.
fn binary() -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os(S3S_FS_ENV) {
        candidates.push(p.into());
    }
    candidates.push("s3s-fs".into());
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        candidates.push(Path::new(&h).join("bin/s3s-fs"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        candidates.push(Path::new(&h).join(".cargo/bin/s3s-fs"));
    }
    for c in candidates {
        let ok = Command::new(&c)
            .arg("--version")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return c;
        }
    }
    panic!("{}", install_hint());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl S3Server {
    /// Start s3s-fs on a free port of 127.0.0.1 and wait until it accepts connections.
    pub fn start() -> S3Server {
        let bin = binary();
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("data");
        std::fs::create_dir_all(&root).expect("s3s-fs root");
        // The port is free when picked but could be taken before s3s-fs binds it: a
        // few attempts, each bounded.
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("s3s-fs.log")).expect("log file");
            let mut child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&root)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            // Up to 20 s for the process to listen (a readiness wait, not a timing check).
            for _ in 0..400 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return S3Server {
                        child,
                        dir,
                        endpoint: format!("http://{addr}"),
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log.clear();
            if let Ok(mut f) = std::fs::File::open(dir.path().join("s3s-fs.log")) {
                let _ = f.read_to_string(&mut last_log);
            }
        }
        panic!("s3s-fs did not start on 127.0.0.1; its log:\n{last_log}");
    }

    /// A configuration for `bucket` on this server (not created).
    pub fn config(&self, bucket: &str) -> S3Config {
        S3Config {
            endpoint: self.endpoint.clone(),
            bucket: bucket.into(),
            region: "us-east-1".into(),
            access_key_id: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
        }
    }

    /// Create `bucket` through the S3 API and return its configuration.
    pub fn bucket(&self, bucket: &str) -> S3Config {
        let c = self.config(bucket);
        S3BlobStore::create_bucket(&c).expect("create the bucket");
        c
    }

    /// The folder where s3s-fs keeps `bucket`'s objects (one file per key).
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.dir.path().join("data").join(bucket)
    }

    /// Keys stored under `prefix` of `bucket`, read from s3s-fs's own folder (not through
    /// the store under test), sorted. s3s-fs's internal files (`.…`) are left out.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with('.') {
                    continue;
                }
                if p.is_dir() {
                    walk(base, &p, out);
                } else if let Ok(rel) = p.strip_prefix(base) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let base = self.bucket_dir(bucket);
        let mut out = Vec::new();
        walk(&base, &base.join(prefix), &mut out);
        out.sort();
        out
    }

    /// The last lines s3s-fs logged (for failure messages).
    pub fn log_tail(&self) -> String {
        let Ok(f) = std::fs::File::open(self.dir.path().join("s3s-fs.log")) else {
            return String::new();
        };
        let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
