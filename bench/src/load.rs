//! `load`: simulated devices against one real server on loopback, checking that no
//! acknowledged change is lost and that the server's memory and file descriptors stay
//! bounded, with handshake and sync latencies.
//!
//! - The server is `fieldsync_server::server::start` (what `run` and `fieldsync serve`
//!   call) in a **child process** (this binary re-run as `__load-server`), so its RSS
//!   and descriptors are read from `/proc/<pid>` alone, on its default configuration
//!   (SQLite storage, merged view, quotas on).
//! - Every device has its own Ed25519 key and enrols with its own one-time code over
//!   real QUIC, its own SQLite store file (`synchronous=FULL`, as on a phone; one
//!   connection, no extra readers, to keep 2,000 stores within the descriptor limit),
//!   its own UDP endpoint, and its own documents (accounts and visits in its team's
//!   scope, created and edited). Devices keep a connection open as the background agent
//!   does, run an exchange after each write, and reconnect every few exchanges.
//! - Lost changes: after each exchange a device records which of its changes are no
//!   longer pending (acknowledged). At the end, every acknowledged change must be in the
//!   server's log, and every device must hold exactly the server's heads for every
//!   document of its scope (it reached the other devices in scope).
//!
//! Environment: `FIELDSYNC_LOAD_DEVICES` (500), `FIELDSYNC_LOAD_SECS` (300),
//! `FIELDSYNC_LOAD_TEAM` (devices per scope, 10), `FIELDSYNC_LOAD_INTERVAL_MS` (mean
//! time between a device's writes, 10,000), `FIELDSYNC_LOAD_RECONNECT_EVERY` (5),
//! `FIELDSYNC_LOAD_STORM` (1: after the soak, every device reconnects within
//! `FIELDSYNC_LOAD_STORM_SECS`, 60). Exit code 1 on any lost or undelivered change,
//! a device left with unacknowledged changes, or fd/RSS growth past the bounds below.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync_core::model::{Account, Visit};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust, code_hash, new_enrolment_code};
use fieldsync_core::sync::{ClientConfig, quic};
use fieldsync_core::{DocId, Error, Scope, now_ms};
use fieldsync_server::server::{ServerConfig, start};
use fieldsync_server::storage::StorageConfig;
use serde_json::json;

use crate::BenchResult;
use crate::report::{Goal, Reporter, Samples, env_usize};

const TENANT: &str = "load";
const KEY: [u8; 32] = [6u8; 32];
/// Descriptors the server may gain between the warm point and the end.
const FD_SLACK: i64 = 64;
/// RSS bound at the end: `warm * RSS_FACTOR + RSS_SLACK_MIB`.
const RSS_FACTOR: f64 = 1.5;
const RSS_SLACK_MIB: f64 = 64.0;

/// The hidden child mode: `__load-server <dir> <devices> <team>`. Starts the server,
/// creates users, scopes and one enrolment code per device, writes `ready.json`, serves
/// until its stdin closes, then writes `final.json` (quota counters) and exits.
pub fn serve_child(args: &[String]) -> BenchResult<()> {
    let [dir, devices, team] = args else {
        return Err("usage: __load-server <dir> <devices> <team>".into());
    };
    let dir = PathBuf::from(dir);
    let devices: usize = devices.parse()?;
    let team: usize = team.parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let cfg = ServerConfig::new(&dir, "127.0.0.1:0".parse()?);
        let server = start(cfg).await?;
        let st = server.storage.clone();
        st.ensure_tenant(TENANT)?;
        let mut codes = Vec::with_capacity(devices);
        for t in 0..devices.div_ceil(team) {
            st.create_scope(TENANT, &format!("team:{t}"))?;
        }
        let now = now_ms();
        for i in 0..devices {
            let user = format!("u{i}");
            st.create_user(TENANT, &user, &user)?;
            st.set_grant(TENANT, &user, &format!("team:{}", i / team), true, true)?;
            let code = new_enrolment_code()?;
            st.create_enrolment(
                TENANT,
                &user,
                code_hash(&code).ok_or("code")?,
                now,
                now + 24 * 3_600_000,
            )?;
            codes.push(code);
        }
        let ready = json!({
            "port": server.local_addr.port(),
            "pin": hex(&server.identity.pin),
            "codes": codes,
        });
        let tmp = dir.join("ready.json.tmp");
        std::fs::write(&tmp, ready.to_string())?;
        std::fs::rename(&tmp, dir.join("ready.json"))?;
        // Serve until the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await?;
        let q = server.quota_stats();
        server.shutdown().await;
        let fin = json!({
            "exchanges_throttled": q.exchanges_throttled,
            "pushes_throttled": q.pushes_throttled,
        });
        std::fs::write(dir.join("final.json"), fin.to_string())?;
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> BenchResult<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return Err("pin length".into());
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

/// The server child: killed on drop if still running.
struct Child {
    proc: std::process::Child,
    dir: PathBuf,
}

impl Child {
    fn spawn(dir: &Path, devices: usize, team: usize) -> BenchResult<Child> {
        std::fs::create_dir_all(dir)?;
        let proc = Command::new(std::env::current_exe()?)
            .arg("__load-server")
            .arg(dir)
            .arg(devices.to_string())
            .arg(team.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Child {
            proc,
            dir: dir.to_path_buf(),
        })
    }

    fn pid(&self) -> u32 {
        self.proc.id()
    }

    fn wait_ready(&mut self, timeout: Duration) -> BenchResult<serde_json::Value> {
        let t0 = Instant::now();
        let path = self.dir.join("ready.json");
        loop {
            if let Ok(s) = std::fs::read_to_string(&path) {
                return Ok(serde_json::from_str(&s)?);
            }
            if let Some(st) = self.proc.try_wait()? {
                return Err(format!("server child exited early: {st}").into());
            }
            if t0.elapsed() > timeout {
                return Err("server child not ready in time".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Close stdin (graceful shutdown) and wait for the exit.
    fn stop(&mut self, timeout: Duration) -> BenchResult<serde_json::Value> {
        drop(self.proc.stdin.take());
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.proc.try_wait()? {
                if !st.success() {
                    return Err(format!("server child failed: {st}").into());
                }
                break;
            }
            if t0.elapsed() > timeout {
                let _ = self.proc.kill();
                return Err("server child did not stop in time".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let s = std::fs::read_to_string(self.dir.join("final.json"))?;
        Ok(serde_json::from_str(&s)?)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.proc.try_wait() {
            let _ = self.proc.kill();
            let _ = self.proc.wait();
        }
    }
}

/// RSS (KiB) and open descriptors of a process.
fn proc_usage(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((rss, fds))
}

type Change = (DocId, [u8; 32]);
/// A document and its sorted heads, as the server holds them.
type DocHeads = (DocId, Vec<[u8; 32]>);

/// One simulated device.
struct Sim {
    idx: usize,
    store: Store,
    ep: quinn::Endpoint,
    scope: Scope,
    conn: Option<quinn::Connection>,
    own: Vec<(DocId, bool)>,
    made: HashSet<Change>,
    acked: HashSet<Change>,
    rng: Rng,
    exchanges: u64,
}

#[derive(Default)]
struct Tally {
    handshakes: Samples,
    syncs: Samples,
    errors: u64,
    throttled: u64,
}

impl Sim {
    fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// One local write: create (an account or a visit) or edit one of ours.
    fn write(&mut self) -> BenchResult<()> {
        let user = format!("u{}", self.idx);
        let id = if self.own.is_empty() || self.rng.chance(0.3) {
            let visit = self.rng.chance(0.5);
            let id = if visit {
                self.store.create(
                    &self.scope,
                    &sample::visit(DocId::random()?, &user, now_ms(), "review"),
                )?
            } else {
                self.store.create(
                    &self.scope,
                    &sample::account(&format!("Acct {}", self.idx), &user, "north"),
                )?
            };
            self.own.push((id, visit));
            id
        } else {
            let (id, visit) = *self.rng.pick(&self.own);
            let word = format!(" n{}", self.rng.range(0, 9999));
            if visit {
                let score = self.rng.range(1, 10);
                self.store.update::<Visit>(id, |v| {
                    v.scores.overall = Some(score);
                    let n = v.notes.as_str().len();
                    v.notes.splice(n, 0, &word);
                    Ok(())
                })?;
            } else {
                self.store.update::<Account>(id, |a| {
                    a.core = !a.core;
                    a.industry = Some(word.clone());
                    Ok(())
                })?;
            }
            id
        };
        let heads = self.store.heads(id)?;
        if let [h] = heads.as_slice() {
            self.made.insert((id, h.0));
        } else {
            return Err(format!("a local write left {} heads", heads.len()).into());
        }
        Ok(())
    }

    fn note_acks(&mut self) -> BenchResult<()> {
        let pending: HashSet<Change> = self
            .store
            .pending_changes(0, 1 << 30)?
            .into_iter()
            .map(|p| (p.doc_id, p.hash.0))
            .collect();
        for c in &self.made {
            if !pending.contains(c) {
                self.acked.insert(*c);
            }
        }
        Ok(())
    }

    /// Connect if needed (or when `fresh`), then run one exchange. Errors are counted,
    /// not fatal: the device retries as an app would.
    async fn exchange(&mut self, port: u16, fresh: bool, tally: &mut Tally) -> BenchResult<bool> {
        let cfg = ClientConfig::default();
        if fresh && let Some(c) = self.conn.take() {
            c.close(0u32.into(), b"reconnect");
        }
        if self
            .conn
            .as_ref()
            .is_some_and(|c| c.close_reason().is_some())
        {
            self.conn = None;
        }
        if self.conn.is_none() {
            let ident = self.store.sync_identity()?.ok_or("not enrolled")?;
            let t = Instant::now();
            match quic::connect_to(
                &self.ep,
                &ident.server,
                self.addr(port),
                None,
                Duration::from_secs(30),
                &cfg,
            )
            .await
            {
                Ok(c) => {
                    tally.handshakes.push(t.elapsed());
                    self.conn = Some(c);
                }
                Err(_) => {
                    tally.errors += 1;
                    return Ok(false);
                }
            }
        }
        let Some(conn) = self.conn.clone() else {
            return Ok(false);
        };
        let t = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            quic::run_exchange(&conn, &self.store, cfg),
        )
        .await
        .unwrap_or_else(|_| Err(Error::Network("exchange timed out".into())));
        self.exchanges += 1;
        let ok = match r {
            Ok(_) => {
                tally.syncs.push(t.elapsed());
                true
            }
            Err(Error::Throttled { retry_after_ms, .. }) => {
                tally.throttled += 1;
                tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
                false
            }
            Err(_) => {
                tally.errors += 1;
                self.conn = None;
                false
            }
        };
        self.note_acks()?;
        Ok(ok)
    }
}

struct Params {
    devices: usize,
    secs: u64,
    team: usize,
    interval_ms: u64,
    reconnect_every: u64,
    storm: bool,
    storm_secs: u64,
}

fn params() -> Params {
    Params {
        devices: env_usize("FIELDSYNC_LOAD_DEVICES", 500),
        secs: env_usize("FIELDSYNC_LOAD_SECS", 300) as u64,
        team: env_usize("FIELDSYNC_LOAD_TEAM", 10),
        interval_ms: env_usize("FIELDSYNC_LOAD_INTERVAL_MS", 10_000) as u64,
        reconnect_every: env_usize("FIELDSYNC_LOAD_RECONNECT_EVERY", 5) as u64,
        storm: std::env::var("FIELDSYNC_LOAD_STORM").is_ok_and(|v| v == "1"),
        storm_secs: env_usize("FIELDSYNC_LOAD_STORM_SECS", 60) as u64,
    }
}

fn open_device(dir: &Path, i: usize, team: usize) -> BenchResult<(Store, Scope)> {
    let mut o = StoreOptions::new(format!("dev-{i}"), format!("u{i}"));
    o.readers = 0;
    o.cache_capacity = 16;
    let store = Store::open(dir.join(format!("dev-{i}.db")), &KEY, o)?;
    Ok((store, Scope::new(format!("team:{}", i / team))?))
}

pub fn run() -> BenchResult<()> {
    let r = Reporter::new("load");
    let p = params();
    eprintln!(
        "load: {} devices, {} s, {} per scope, a write every ~{} ms each",
        p.devices, p.secs, p.team, p.interval_ms
    );
    let root = tempfile::Builder::new()
        .prefix("fieldsync-load")
        .tempdir()?;
    let mut child = Child::spawn(&root.path().join("server"), p.devices, p.team)?;
    let pid = child.pid();
    let ready = child.wait_ready(Duration::from_secs(600))?;
    let port = u16::try_from(ready["port"].as_u64().ok_or("port")?)?;
    let pin = unhex32(ready["pin"].as_str().ok_or("pin")?)?;
    let codes: Vec<String> = ready["codes"]
        .as_array()
        .ok_or("codes")?
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    let (rss0, fds0) = proc_usage(pid).ok_or("no /proc for the server")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let devdir = root.path().join("devices");
    std::fs::create_dir_all(&devdir)?;

    // Enrolment: every device, its own key and code, over QUIC (32 at a time).
    let t_enrol = Instant::now();
    let mut sims = Vec::with_capacity(p.devices);
    let mut enrol_samples = Samples::with_capacity(p.devices);
    for chunk in (0..p.devices).collect::<Vec<_>>().chunks(32) {
        let mut tasks = Vec::new();
        for &i in chunk {
            let (store, scope) = open_device(&devdir, i, p.team)?;
            let ep = rt.block_on(async { quic::client_endpoint() })?;
            let link = EnrolmentLink {
                host: "127.0.0.1".into(),
                port,
                server_name: "localhost".into(),
                trust: ServerTrust::PinnedKey(pin),
                code: codes[i].clone(),
            };
            tasks.push(rt.spawn(async move {
                let t = Instant::now();
                quic::enrol(&ep, &store, &link, &format!("dev-{i}"), "load", None).await?;
                Ok::<_, Error>((i, store, scope, ep, t.elapsed()))
            }));
        }
        for t in tasks {
            let (i, store, scope, ep, took) = rt.block_on(t)??;
            enrol_samples.push(took);
            sims.push(Sim {
                idx: i,
                store,
                ep,
                scope,
                conn: None,
                own: Vec::new(),
                made: HashSet::new(),
                acked: HashSet::new(),
                rng: Rng::new(i as u64 * 7919 + 1),
                exchanges: 0,
            });
        }
    }
    eprintln!(
        "load: {} devices enrolled in {:?}",
        sims.len(),
        t_enrol.elapsed()
    );

    // Soak.
    let soak = Duration::from_secs(p.secs);
    let warm_at = (soak / 3).min(Duration::from_millis(p.interval_ms * 2));
    let t0 = Instant::now();
    let deadline = tokio::time::Instant::now() + soak;
    let sampler_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = sampler_stop.clone();
        std::thread::spawn(move || {
            let mut v: Vec<(Duration, u64, u64)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                if let Some((rss, fds)) = proc_usage(pid) {
                    v.push((t0.elapsed(), rss, fds));
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            v
        })
    };
    let (interval, every) = (p.interval_ms, p.reconnect_every);
    let handles: Vec<_> = sims
        .into_iter()
        .map(|mut s| {
            rt.spawn(async move {
                let mut tally = Tally::default();
                // Spread the devices over the first interval.
                let first = s.rng.range(0, interval as i64) as u64;
                tokio::time::sleep(Duration::from_millis(first)).await;
                while tokio::time::Instant::now() < deadline {
                    s.write()?;
                    let fresh = s.exchanges % every == every - 1;
                    s.exchange(port, fresh, &mut tally).await?;
                    let think = s.rng.range(interval as i64 / 2, interval as i64 * 3 / 2) as u64;
                    tokio::time::sleep_until(
                        (tokio::time::Instant::now() + Duration::from_millis(think)).min(deadline),
                    )
                    .await;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((s, tally))
            })
        })
        .collect();
    let mut sims = Vec::with_capacity(p.devices);
    let mut tally = Tally::default();
    for h in handles {
        let (s, t) = rt.block_on(h)??;
        merge(&mut tally, t);
        sims.push(s);
    }
    let soak_took = t0.elapsed();
    eprintln!(
        "load: soak done in {soak_took:?}: {} exchanges, {} errors, {} throttled",
        tally.syncs.len(),
        tally.errors,
        tally.throttled
    );

    // Reconnect storm: every device drops its connection and reconnects, spread over
    // the storm window.
    let mut storm = Tally::default();
    let storm_took = if p.storm {
        let window = Duration::from_secs(p.storm_secs);
        let ts = Instant::now();
        let handles: Vec<_> = sims
            .into_iter()
            .map(|mut s| {
                let at = Duration::from_millis(
                    s.rng.range(0, window.as_millis() as i64 - 1).max(0) as u64,
                );
                rt.spawn(async move {
                    let mut t = Tally::default();
                    if let Some(c) = s.conn.take() {
                        c.close(0u32.into(), b"storm");
                    }
                    tokio::time::sleep(at).await;
                    s.exchange(port, true, &mut t).await?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>((s, t))
                })
            })
            .collect();
        sims = Vec::with_capacity(p.devices);
        for h in handles {
            let (s, t) = rt.block_on(h)??;
            merge(&mut storm, t);
            sims.push(s);
        }
        Some(ts.elapsed())
    } else {
        None
    };

    // Drain: everyone pushes what is left, then everyone pulls once more.
    let mut unacked = 0u64;
    for round in 0..2 {
        let handles: Vec<_> = sims
            .into_iter()
            .map(|mut s| {
                rt.spawn(async move {
                    let mut t = Tally::default();
                    for _ in 0..50 {
                        let ok = s.exchange(port, false, &mut t).await?;
                        if ok && s.store.unacked_count()? == 0 {
                            break;
                        }
                        if !ok {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>((s, t))
                })
            })
            .collect();
        sims = Vec::with_capacity(p.devices);
        for h in handles {
            let (s, _) = rt.block_on(h)??;
            if round == 1 {
                unacked += s.store.unacked_count()?;
            }
            sims.push(s);
        }
    }
    for s in &sims {
        if let Some(c) = &s.conn {
            c.close(0u32.into(), b"done");
        }
    }
    sampler_stop.store(true, std::sync::atomic::Ordering::Release);
    let usage = sampler.join().map_err(|_| "sampler panicked")?;
    let fin = child.stop(Duration::from_secs(120))?;

    // The server's log, read from its file after it stopped.
    let server_db = root.path().join("server").join("server.db");
    let mut logged: HashSet<Change> = HashSet::new();
    {
        let c = rusqlite::Connection::open_with_flags(
            &server_db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut st = c.prepare("SELECT doc_id, hash FROM changes WHERE tenant = ?1")?;
        let rows = st.query_map([TENANT], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (d, h) = row?;
            let d: [u8; 16] = d.as_slice().try_into()?;
            let h: [u8; 32] = h.as_slice().try_into()?;
            logged.insert((DocId::from_bytes(d), h));
        }
    }
    let storage = fieldsync_server::storage::open(&StorageConfig::Sqlite(server_db))?;
    let mut server_heads: HashMap<String, Vec<DocHeads>> = HashMap::new();
    for t in 0..p.devices.div_ceil(p.team) {
        let sc = format!("team:{t}");
        let docs = storage.docs_in_scopes(TENANT, std::slice::from_ref(&sc))?;
        let v = docs
            .into_iter()
            .map(|m| {
                let mut h: Vec<[u8; 32]> = m.heads.iter().map(|x| x.0).collect();
                h.sort_unstable();
                (m.id, h)
            })
            .collect();
        server_heads.insert(sc, v);
    }
    storage.shutdown();
    let mut made = 0usize;
    let mut acked = 0usize;
    let mut lost = 0usize;
    let mut missing = 0usize;
    for s in &sims {
        made += s.made.len();
        acked += s.acked.len();
        lost += s.acked.iter().filter(|c| !logged.contains(c)).count();
        for (id, want) in server_heads.get(s.scope.as_str()).into_iter().flatten() {
            let mut h: Vec<[u8; 32]> = s
                .store
                .heads(*id)
                .map(|v| v.iter().map(|x| x.0).collect())
                .unwrap_or_default();
            h.sort_unstable();
            if &h != want {
                missing += 1;
            }
        }
    }
    for s in sims {
        s.store.close();
    }

    // Figures.
    let at_warm = usage
        .iter()
        .find(|(t, ..)| *t >= warm_at)
        .or(usage.first())
        .copied()
        .unwrap_or((Duration::ZERO, rss0, fds0));
    let peak_rss = usage.iter().map(|u| u.1).max().unwrap_or(rss0);
    let end = usage.last().copied().unwrap_or(at_warm);
    let peak_fds = usage
        .iter()
        .filter(|u| u.0 >= warm_at)
        .map(|u| u.2)
        .max()
        .unwrap_or(fds0);
    let mib = |kib: u64| kib as f64 / 1024.0;
    r.emit("devices", p.devices as f64, "devices", None, Goal::None);
    r.emit(
        "soak_duration",
        soak_took.as_secs_f64(),
        "s",
        None,
        Goal::None,
    );
    r.emit("changes_made", made as f64, "changes", None, Goal::None);
    r.emit(
        "changes_acknowledged",
        acked as f64,
        "changes",
        None,
        Goal::None,
    );
    r.emit(
        "lost_acknowledged_changes",
        lost as f64,
        "changes",
        None,
        Goal::AtMost(0.0),
    );
    r.emit(
        "documents_not_converged_on_peers",
        missing as f64,
        "device-documents",
        None,
        Goal::AtMost(0.0),
    );
    r.emit(
        "unacknowledged_after_drain",
        unacked as f64,
        "changes",
        None,
        Goal::AtMost(0.0),
    );
    r.emit("enrol_p50", enrol_samples.p50(), "ms", None, Goal::None);
    r.emit(
        "handshake_p50",
        tally.handshakes.p50(),
        "ms",
        None,
        Goal::None,
    );
    r.emit(
        "handshake_p99",
        tally.handshakes.p99(),
        "ms",
        None,
        Goal::None,
    );
    r.emit(
        "handshakes",
        tally.handshakes.len() as f64,
        "handshakes",
        None,
        Goal::None,
    );
    r.emit("sync_p50", tally.syncs.p50(), "ms", None, Goal::None);
    r.emit("sync_p99", tally.syncs.p99(), "ms", None, Goal::None);
    r.emit(
        "exchanges",
        tally.syncs.len() as f64,
        "exchanges",
        None,
        Goal::None,
    );
    r.emit(
        "exchange_errors",
        tally.errors as f64,
        "errors",
        None,
        Goal::None,
    );
    r.emit(
        "throttled",
        tally.throttled as f64,
        "exchanges",
        None,
        Goal::None,
    );
    r.emit(
        "server_throttled_total",
        fin["exchanges_throttled"].as_u64().unwrap_or(0) as f64
            + fin["pushes_throttled"].as_u64().unwrap_or(0) as f64,
        "requests",
        None,
        Goal::None,
    );
    r.emit("server_rss_idle", mib(rss0), "MiB", None, Goal::None);
    r.emit("server_rss_warm", mib(at_warm.1), "MiB", None, Goal::None);
    r.emit(
        "server_rss_peak",
        mib(peak_rss),
        "MiB",
        Some(mib(at_warm.1)),
        Goal::None,
    );
    r.emit(
        "server_rss_end",
        mib(end.1),
        "MiB",
        Some(mib(at_warm.1)),
        Goal::Text("<= 1.5x warm + 64 MiB"),
    );
    r.emit("server_fds_idle", fds0 as f64, "fds", None, Goal::None);
    r.emit("server_fds_warm", at_warm.2 as f64, "fds", None, Goal::None);
    r.emit(
        "server_fds_peak_after_warm",
        peak_fds as f64,
        "fds",
        Some(at_warm.2 as f64),
        Goal::Text("<= warm + 64"),
    );
    if let Some(took) = storm_took {
        r.emit("storm_window", p.storm_secs as f64, "s", None, Goal::None);
        r.emit("storm_duration", took.as_secs_f64(), "s", None, Goal::None);
        r.emit(
            "storm_handshakes",
            storm.handshakes.len() as f64,
            "handshakes",
            Some(p.devices as f64),
            Goal::None,
        );
        r.emit(
            "storm_handshake_p50",
            storm.handshakes.p50(),
            "ms",
            None,
            Goal::None,
        );
        r.emit(
            "storm_handshake_p99",
            storm.handshakes.p99(),
            "ms",
            None,
            Goal::None,
        );
        r.emit("storm_sync_p99", storm.syncs.p99(), "ms", None, Goal::None);
        r.emit(
            "storm_errors",
            storm.errors as f64,
            "errors",
            None,
            Goal::None,
        );
    }
    let mut failures = Vec::new();
    if lost > 0 {
        failures.push(format!(
            "{lost} acknowledged changes are not in the server's log"
        ));
    }
    if missing > 0 {
        failures.push(format!("{missing} device-documents differ from the server"));
    }
    if unacked > 0 {
        failures.push(format!(
            "{unacked} changes still unacknowledged after the drain"
        ));
    }
    if made != acked {
        failures.push(format!("{made} changes made, {acked} acknowledged"));
    }
    if peak_fds as i64 > at_warm.2 as i64 + FD_SLACK {
        failures.push(format!(
            "server descriptors grew from {} to {peak_fds}",
            at_warm.2
        ));
    }
    if mib(end.1) > mib(at_warm.1) * RSS_FACTOR + RSS_SLACK_MIB {
        failures.push(format!(
            "server RSS grew from {:.0} MiB to {:.0} MiB",
            mib(at_warm.1),
            mib(end.1)
        ));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; ").into())
    }
}

fn merge(into: &mut Tally, t: Tally) {
    into.handshakes.extend(&t.handshakes);
    into.syncs.extend(&t.syncs);
    into.errors += t.errors;
    into.throttled += t.throttled;
}
