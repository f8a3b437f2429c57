//! `scale`: server nodes on one PostgreSQL database (1, 2 and 3 nodes) beside the
//! single SQLite node, in the same run: responses durably committed per second with
//! many devices pushing at once, and the latency of a pull that brings one new change
//! pushed through another node.
//!
//! PostgreSQL: `FIELDSYNC_BENCH_POSTGRES` (a libpq string without `dbname`, of a server
//! where databases may be created); unset, the bench starts a throw-away cluster of
//! Debian's PostgreSQL in a temp folder (fsync on) and removes it afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use fieldsync_core::model::Form;
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Durability, Store, StoreOptions};
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust, code_hash, new_enrolment_code};
use fieldsync_core::sync::{ClientConfig, quic};
use fieldsync_core::{Scope, now_ms};
use fieldsync_server::server::{RunningServer, ServerConfig, start};
use fieldsync_server::storage::StorageConfig;

use crate::BenchResult;
use crate::report::{Goal, Reporter, Samples};

const TENANT: &str = "bench";
const KEY: [u8; 32] = [5u8; 32];

/// A PostgreSQL cluster this bench started (stopped on drop).
struct OwnCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl OwnCluster {
    fn start() -> BenchResult<OwnCluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("pg_ctl").exists())
            .ok_or("no PostgreSQL in /usr/lib/postgresql (apt install postgresql)")?;
        let dir = tempfile::Builder::new()
            .prefix("fieldsync-bench-pg")
            .tempdir()?;
        let root = is_root();
        if root {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()?
                .success();
            if !ok {
                return Err("chown to postgres failed".into());
            }
        }
        let data = dir.path().join("data");
        run_as_owner(
            root,
            &bin.join("initdb"),
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        )?;
        let opts = format!(
            "-k {} -c listen_addresses='' -c max_connections=200",
            path_str(dir.path())?
        );
        let log = dir.path().join("server.log");
        run_as_owner(
            root,
            &bin.join("pg_ctl"),
            &[
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&log)?,
                "-w",
                "-o",
                &opts,
                "start",
            ],
        )?;
        Ok(OwnCluster { bin, dir })
    }

    fn base(&self) -> String {
        format!("host={} user=postgres", self.dir.path().display())
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = run_as_owner(
            is_root(),
            &self.bin.join("pg_ctl"),
            &["-D", &data.to_string_lossy(), "-m", "fast", "-w", "stop"],
        );
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn path_str(p: &Path) -> BenchResult<&str> {
    p.to_str().ok_or_else(|| "non-UTF-8 path".into())
}

fn run_as_owner(root: bool, prog: &Path, args: &[&str]) -> BenchResult<()> {
    let out = if root {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(prog)
            .args(args)
            .output()?
    } else {
        Command::new(prog).args(args).output()?
    };
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            prog.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// A fresh database on the server at `base`; its connection string. (On a helper
/// thread: the blocking client must not run inside the bench's runtime.)
fn fresh_database(base: &str, n: usize) -> BenchResult<String> {
    let name = format!("fs_bench_{}_{n}", std::process::id());
    let b = base.to_string();
    let created = std::thread::spawn(move || -> Result<(), String> {
        let mut c = postgres::Client::connect(&format!("{b} dbname=postgres"), postgres::NoTls)
            .map_err(|e| e.to_string())?;
        // Two statements: CREATE DATABASE refuses to run inside a (implicit) transaction.
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .and_then(|()| c.batch_execute(&format!("CREATE DATABASE {name}")))
            .map_err(|e| fieldsync_server::storage::postgres::describe(&e))
    })
    .join()
    .map_err(|_| "database thread panicked")?;
    created?;
    Ok(format!("{base} dbname=fs_bench_{}_{n}", std::process::id()))
}

struct Cluster {
    rt: tokio::runtime::Runtime,
    nodes: Vec<RunningServer>,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start(storage: StorageConfig, n: usize) -> BenchResult<Cluster> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let dir = tempfile::tempdir()?;
        let mut nodes: Vec<RunningServer> = Vec::new();
        for i in 0..n {
            let d = dir.path().join(format!("node-{i}"));
            std::fs::create_dir_all(&d)?;
            if i > 0 {
                for f in ["tls-cert.der", "tls-key.der"] {
                    std::fs::copy(dir.path().join("node-0").join(f), d.join(f))?;
                }
            }
            let mut cfg = ServerConfig::new(&d, "127.0.0.1:0".parse()?);
            // Protocol cost, not quotas: one device reconnects in a tight loop here.
            cfg.quotas = fieldsync_server::quota::QuotaConfig::unlimited();
            cfg.materialize = false;
            cfg.storage = Some(storage.clone());
            nodes.push(rt.block_on(start(cfg))?);
        }
        let st = nodes[0].storage.clone();
        st.ensure_tenant(TENANT)?;
        st.create_scope(TENANT, "team:b")?;
        Ok(Cluster { rt, nodes, dir })
    }

    /// A device of user `name` enrolled through node `node`.
    fn device(&self, name: &str, node: usize, read: bool) -> BenchResult<(Store, quinn::Endpoint)> {
        let st = self.nodes[0].storage.clone();
        let _ = st.create_user(TENANT, name, name);
        st.set_grant(TENANT, name, "team:b", read, true)?;
        let mut o = StoreOptions::new(name, name);
        o.durability = Durability::Normal;
        o.cache_capacity = 64;
        let store = Store::open(self.dir.path().join(format!("{name}.db")), &KEY, o)?;
        let code = new_enrolment_code()?;
        let now = now_ms();
        st.create_enrolment(
            TENANT,
            name,
            code_hash(&code).ok_or("code")?,
            now,
            now + 3_600_000,
        )?;
        let srv = &self.nodes[node];
        let link = EnrolmentLink {
            host: "127.0.0.1".into(),
            port: srv.local_addr.port(),
            server_name: "localhost".into(),
            trust: ServerTrust::PinnedKey(srv.identity.pin),
            code,
        };
        let ep = self.rt.block_on(async { quic::client_endpoint() })?;
        self.rt
            .block_on(quic::enrol(&ep, &store, &link, name, name, None))?;
        Ok((store, ep))
    }

    fn sync(&self, store: &Store, ep: &quinn::Endpoint) -> BenchResult<()> {
        for _ in 0..100 {
            self.rt.block_on(quic::sync_once(
                ep,
                store,
                ClientConfig::default(),
                None,
                None,
            ))?;
            if store.unacked_count()? == 0 {
                return Ok(());
            }
        }
        Err("could not push everything".into())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.drain(..) {
            self.rt.block_on(n.shutdown());
        }
    }
}

struct Figures {
    ingest_per_s: f64,
    pull_p50_ms: f64,
}

/// Ingest: `devices` devices spread over the nodes, `per_device` new 24-field responses
/// each, all pushing at once. Pull latency: a reader on the last node syncs after a
/// writer pushed one response through the first.
fn measure(
    label: &str,
    storage: StorageConfig,
    nodes: usize,
    devices: usize,
    per_device: usize,
) -> BenchResult<Figures> {
    eprintln!("scale: {label} — {devices} devices × {per_device} responses");
    let c = Cluster::start(storage, nodes)?;
    let form: Form = sample::telecom_form(1);
    let s = Scope::new("team:b")?;
    let (office, oep) = c.device("office", 0, true)?;
    let form_id = office.create(&s, &form)?;
    c.sync(&office, &oep)?;
    let mut devs = Vec::with_capacity(devices);
    for d in 0..devices {
        let (store, ep) = c.device(&format!("enum-{d}"), d % nodes, false)?;
        store.apply_changes(
            form_id,
            fieldsync_core::Kind::Form,
            &s,
            &office.changes_since(form_id, &[])?,
            true,
        )?;
        let mut rng = Rng::new(d as u64);
        for i in 0..per_device {
            let resp = sample::telecom_response(
                &mut rng,
                form_id,
                &form,
                "south/county-1/district-1",
                "e",
                i as i64,
            );
            store.create(&s, &resp)?;
        }
        devs.push((store, ep));
    }
    let total = devices * per_device;
    let (_, before) = c.nodes[0].storage.counts(TENANT)?;
    let t0 = Instant::now();
    c.rt.block_on(async {
        let mut tasks = Vec::new();
        for (store, ep) in &devs {
            let (store, ep) = (store.clone(), ep.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..20 {
                    quic::sync_once(&ep, &store, ClientConfig::default(), None, None).await?;
                    if store.unacked_count()? == 0 {
                        break;
                    }
                }
                Ok::<(), fieldsync_core::Error>(())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    let took = t0.elapsed();
    let (_, after) = c.nodes[0].storage.counts(TENANT)?;
    let committed = (after - before) as usize;
    if committed != total {
        return Err(format!("{label}: {committed} committed, expected {total}").into());
    }
    // Pull latency: the writer pushes through node 0, the reader pulls from node n-1.
    let (writer, wep) = c.device("writer", 0, true)?;
    let (reader, rep) = c.device("reader", nodes - 1, true)?;
    writer.apply_changes(
        form_id,
        fieldsync_core::Kind::Form,
        &s,
        &office.changes_since(form_id, &[])?,
        true,
    )?;
    c.sync(&reader, &rep)?; // catch up with the ingest first (not timed)
    let mut rng = Rng::new(99);
    let mut samples = Samples::with_capacity(30);
    for i in 0..30 {
        writer.create(
            &s,
            &sample::telecom_response(&mut rng, form_id, &form, "south/county-2", "w", i),
        )?;
        c.sync(&writer, &wep)?;
        let t = Instant::now();
        c.sync(&reader, &rep)?;
        samples.push(t.elapsed());
    }
    let f = Figures {
        ingest_per_s: total as f64 / took.as_secs_f64(),
        pull_p50_ms: samples.percentile(50.0),
    };
    eprintln!(
        "scale: {label}: {:.0} responses/s, pull p50 {:.2} ms ({took:?} for {total})",
        f.ingest_per_s, f.pull_p50_ms
    );
    Ok(f)
}

pub fn run() -> BenchResult<()> {
    let r = Reporter::new("scale");
    let quick = std::env::var("FIELDSYNC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (devices, per_device) = if quick { (12, 20) } else { (30, 100) };
    let own;
    let base = match std::env::var("FIELDSYNC_BENCH_POSTGRES") {
        Ok(b) if !b.trim().is_empty() => b,
        _ => {
            own = OwnCluster::start()?;
            own.base()
        }
    };
    let sqlite_dir = tempfile::tempdir()?;
    let lite = measure(
        "SQLite, 1 node",
        StorageConfig::Sqlite(sqlite_dir.path().join("server.db")),
        1,
        devices,
        per_device,
    )?;
    r.emit(
        "ingest_sqlite_1_node_responses_per_s",
        lite.ingest_per_s,
        "responses/s",
        None,
        Goal::None,
    );
    r.emit(
        "pull_latency_sqlite_1_node_p50",
        lite.pull_p50_ms,
        "ms",
        None,
        Goal::None,
    );
    for nodes in 1..=3 {
        let url = fresh_database(&base, nodes)?;
        let pg = measure(
            &format!("PostgreSQL, {nodes} node(s)"),
            StorageConfig::Postgres(url),
            nodes,
            devices,
            per_device,
        )?;
        r.emit(
            &format!("ingest_pg_{nodes}_nodes_responses_per_s"),
            pg.ingest_per_s,
            "responses/s",
            Some(lite.ingest_per_s),
            Goal::None,
        );
        r.emit(
            &format!("pull_latency_pg_{nodes}_nodes_p50"),
            pg.pull_p50_ms,
            "ms",
            Some(lite.pull_p50_ms),
            Goal::None,
        );
    }
    Ok(())
}
