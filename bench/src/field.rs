//! Suite `field`: fieldsync and PouchDB side by side on the links field teams have.
//!
//! Per link profile (`fieldsync-linkem`: loopback, 2G/EDGE, bad 3G, satellite, flapping,
//! and EDGE without its loss for the "within 2x the loss-free time" goal), the same
//! workload on both systems: N survey responses of the telecom survey (24 answers,
//! `core::sample`), then 20 one-field edits, then a sync with nothing new, for N = 100
//! and 1,000. Each line gives fieldsync's figure with PouchDB's beside it (`baseline`):
//! wall time, bytes on the wire (the proxies' counters, both directions), round trips,
//! attempts, and the physical limit of the link for that system's own bytes.
//!
//! - fieldsync: a real device store (SQLite file, sealed) and real QUIC through the UDP
//!   proxy to a real server (SQLite, synchronous=FULL, materializing) in this process.
//!   Round trips: one per connection (the QUIC handshake) plus the exchange's own
//!   (`WireStats::round_trips`).
//! - PouchDB: `bench/pouchdb/peer.js` in two Node.js processes — express-pouchdb (in
//!   memory) and a device PouchDB (in memory) replicating one-shot over HTTP through the
//!   TCP proxy, the remote opened once with the http adapter. Round trips: HTTP requests
//!   counted at the server plus TCP connections (each costs a handshake RTT).
//! - Physical limit: `bytes / rate` (headers included) for the bytes the system moved on
//!   the loss-free loopback run of the same step, plus two RTTs (a connection handshake
//!   and one request/answer). Loss, jitter and blackouts are not in it.
//!
//! Both are retried on failure (fieldsync: up to 15 connections; PouchDB: up to 15
//! replications, resuming from its checkpoint), each attempt bounded by a timeout.
//! `FIELDSYNC_BENCH_QUICK=1` runs N = 100 only; `FIELDSYNC_BENCH_PROFILES=edge,satellite`
//! picks profiles (loopback always runs first: the limits need it).
//!
//! The 2G/EDGE goals are judged on the median of `FIELDSYNC_BENCH_EDGE_RUNS` (5) runs of
//! the 100-response push, each with its own loss pattern, on both systems (`_median`
//! lines; the spread is printed as `_max`): at 5% loss a single 14 KB push loses one of
//! its ~25 datagrams three times in four, and where in the flight it falls moves the
//! time by a probe timeout.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fieldsync_core::model::{Answer, Response};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::ClientConfig;
use fieldsync_core::sync::quic;
use fieldsync_core::{DocId, Scope};
use fieldsync_linkem::{Faults, Profile, Proxy, TcpProxy};
use serde_json::{Value, json};

use crate::BenchResult;
use crate::enrol::Rig;
use crate::report::{Goal, Reporter};

#[path = "../../tests/src/pouchdb.rs"]
#[allow(dead_code)]
mod pouchdb;

const TENANT: &str = "field";
const SCOPE: &str = "team:field";
const KEY: [u8; 32] = [9u8; 32];
const EDITS: usize = 20;
const MAX_ATTEMPTS: u32 = 15;
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(180);

/// The steps of the workload, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    Push,
    Edits,
    PullNothing,
}

impl Step {
    fn tag(self, n: usize) -> String {
        match self {
            Step::Push => format!("push{n}"),
            Step::Edits => format!("edit{EDITS}_after{n}"),
            Step::PullNothing => format!("nothing_new_after{n}"),
        }
    }
}

/// One measured step of one system.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    ms: f64,
    bytes: u64,
    /// Datagrams (UDP) or segments (TCP).
    packets: u64,
    round_trips: u64,
    attempts: u32,
    /// HTTP requests at the server (PouchDB only).
    requests: u64,
}

/// 2G/EDGE without its loss: the loss-free time of the goal.
fn edge_lossless() -> Profile {
    let mut p = Profile::edge();
    p.name = "edge-lossless";
    p.description = "2G/EDGE without loss: 256 kbit/s, 300 ms RTT";
    p.faults = Faults {
        loss: 0.0,
        ..p.faults
    };
    p
}

fn profiles() -> Vec<Profile> {
    let mut all = Profile::all();
    all.insert(2, edge_lossless());
    match std::env::var("FIELDSYNC_BENCH_PROFILES") {
        Ok(list) if !list.trim().is_empty() => {
            let want: Vec<&str> = list.split(',').map(str::trim).collect();
            all.into_iter()
                .filter(|p| p.name == "loopback" || want.contains(&p.name))
                .collect()
        }
        _ => all,
    }
}

/// The workload's records: the same responses for both systems.
fn responses(form_id: DocId, n: usize) -> Vec<Response> {
    let form = sample::telecom_form(1);
    let mut rng = Rng::new(42);
    (0..n)
        .map(|i| {
            sample::telecom_response(
                &mut rng,
                form_id,
                &form,
                "north/county-2/district-3",
                "enumerator",
                1_700_000_000_000 + i as i64 * 60_000,
            )
        })
        .collect()
}

/// The edit of step 2: the overall score moves by one (always a change).
fn edited_overall(r: &Response) -> i64 {
    match r.answers.get("overall") {
        Some(Answer::Score(s)) => s.value % 10 + 1,
        _ => 5,
    }
}

// ---------------------------------------------------------------- fieldsync

/// The suite's rig, with the field workload's sync loop.
struct FieldsyncRig(Rig);

impl std::ops::Deref for FieldsyncRig {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.0
    }
}

impl FieldsyncRig {
    fn new() -> BenchResult<Self> {
        Ok(FieldsyncRig(Rig::start(TENANT, SCOPE, KEY, |_| {})?))
    }

    fn device(&self, name: &str) -> BenchResult<(Store, quinn::Endpoint)> {
        self.0.device(name, true, StoreOptions::new(name, name))
    }

    /// Sync through `proxy` until nothing is unacknowledged (at least one complete
    /// exchange), counting what the link carried.
    fn sync(&self, store: &Store, ep: &quinn::Endpoint, proxy: &Proxy) -> BenchResult<Run> {
        proxy.reset_stats();
        let mut run = Run::default();
        let t0 = Instant::now();
        loop {
            run.attempts += 1;
            if run.attempts > MAX_ATTEMPTS {
                return Err(
                    format!("fieldsync: no complete sync in {MAX_ATTEMPTS} attempts").into(),
                );
            }
            // The QUIC handshake: one round trip per connection.
            run.round_trips += 1;
            let r = self.rt.block_on(async {
                tokio::time::timeout(
                    ATTEMPT_TIMEOUT,
                    quic::sync_once(ep, store, ClientConfig::default(), None, Some(proxy.addr)),
                )
                .await
            });
            match r {
                Ok(Ok((_, w))) => {
                    run.round_trips += w.round_trips;
                    if store.unacked_count()? == 0 {
                        break;
                    }
                }
                Ok(Err(e)) => eprintln!("field: fieldsync attempt {}: {e}", run.attempts),
                Err(_) => eprintln!("field: fieldsync attempt {} timed out", run.attempts),
            }
        }
        run.ms = t0.elapsed().as_secs_f64() * 1e3;
        let s = proxy.stats();
        run.bytes = s.bytes_up + s.bytes_down;
        run.packets = s.datagrams_up + s.datagrams_down;
        Ok(run)
    }
}

fn fieldsync_runs(profile: &Profile, n: usize, seed: u64) -> BenchResult<HashMap<Step, Run>> {
    let rig = FieldsyncRig::new()?;
    let scope = Scope::new(SCOPE)?;
    let form = sample::telecom_form(1);
    let (office, oep) = rig.device("office")?;
    let form_id = office.create(&scope, &form)?;
    rig.rt.block_on(quic::sync_once(
        &oep,
        &office,
        ClientConfig::default(),
        None,
        None,
    ))?;
    // The enumerator's phone has the form (pulled before going out).
    let (dev, ep) = rig.device("enumerator")?;
    rig.rt.block_on(quic::sync_once(
        &ep,
        &dev,
        ClientConfig::default(),
        None,
        None,
    ))?;
    let records = responses(form_id, n);
    let mut ids = Vec::with_capacity(n);
    for r in &records {
        ids.push(dev.create(&scope, r)?);
    }
    let proxy = rig
        .rt
        .block_on(Proxy::with_profile(rig.server().local_addr, profile, seed))?;
    let mut out = HashMap::new();
    out.insert(Step::Push, rig.sync(&dev, &ep, &proxy)?);
    for (id, r) in ids.iter().zip(&records).take(EDITS) {
        let v = edited_overall(r);
        dev.update::<Response>(*id, |resp| {
            if let Some(Answer::Score(s)) = resp.answers.get_mut("overall") {
                s.value = v;
            }
            Ok(())
        })?;
    }
    out.insert(Step::Edits, rig.sync(&dev, &ep, &proxy)?);
    out.insert(Step::PullNothing, rig.sync(&dev, &ep, &proxy)?);
    let (docs, _) = rig.server().storage.counts(TENANT)?;
    if docs != (n + 1) as u64 {
        return Err(format!(
            "fieldsync: server holds {docs} documents, expected {}",
            n + 1
        )
        .into());
    }
    drop(proxy);
    Ok(out)
}

// ---------------------------------------------------------------- PouchDB

fn pouch_replicate(
    dev: &mut pouchdb::PouchDevice,
    direct: &str,
    url: &str,
    proxy: &TcpProxy,
    pull: bool,
) -> BenchResult<Run> {
    dev.reset_server_counts(direct)?;
    proxy.reset_stats();
    let mut run = Run::default();
    let t0 = Instant::now();
    loop {
        run.attempts += 1;
        if run.attempts > MAX_ATTEMPTS {
            return Err(
                format!("pouchdb: no complete replication in {MAX_ATTEMPTS} attempts").into(),
            );
        }
        let timeout = ATTEMPT_TIMEOUT.as_millis() as u64;
        let r = if pull {
            dev.pull(url, timeout)?
        } else {
            dev.push(url, timeout)?
        };
        if r.ok {
            break;
        }
        eprintln!(
            "field: pouchdb attempt {}: {}",
            run.attempts,
            r.error.unwrap_or_default()
        );
    }
    run.ms = t0.elapsed().as_secs_f64() * 1e3;
    let c = dev.server_counts(direct)?;
    let s = proxy.stats();
    run.requests = c.requests;
    run.round_trips = c.requests + s.connections;
    run.bytes = s.bytes_up + s.bytes_down;
    run.packets = s.segments_up + s.segments_down;
    Ok(run)
}

fn pouchdb_runs(profile: &Profile, n: usize, seed: u64) -> BenchResult<HashMap<Step, Run>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let server = pouchdb::PouchServer::start()?;
    let proxy = rt.block_on(TcpProxy::with_profile(server.addr(), profile, seed))?;
    let direct = format!("http://127.0.0.1:{}", server.port);
    let url = format!("http://{}/survey", proxy.addr);
    let records = responses(DocId::random()?, n);
    let docs: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut d = crate::sync::response_json(r);
            d["_id"] = json!(DocId::random().map(|i| i.to_string()).unwrap_or_default());
            d
        })
        .collect();
    let mut dev = pouchdb::PouchDevice::start()?;
    dev.load(&docs)?;
    let mut out = HashMap::new();
    out.insert(
        Step::Push,
        pouch_replicate(&mut dev, &direct, &url, &proxy, false)?,
    );
    for (d, r) in docs.iter().zip(&records).take(EDITS) {
        let id = d["_id"].as_str().unwrap_or_default().to_string();
        dev.edit(&[id], &["answers", "overall"], &json!(edited_overall(r)))?;
    }
    out.insert(
        Step::Edits,
        pouch_replicate(&mut dev, &direct, &url, &proxy, false)?,
    );
    // Nothing new: what a device does when it comes back into coverage (CHT replicates
    // both ways; the pull is the half that finds nothing).
    out.insert(
        Step::PullNothing,
        pouch_replicate(&mut dev, &direct, &url, &proxy, true)?,
    );
    let count = dev.remote_doc_count(&format!("{direct}/survey"))?;
    if count != n as u64 {
        return Err(format!("pouchdb: server holds {count} documents, expected {n}").into());
    }
    drop(proxy);
    Ok(out)
}

// ---------------------------------------------------------------- report

fn limit_ms(profile: &Profile, need: Run, tcp: bool) -> f64 {
    let d = if tcp {
        profile.physical_limit_tcp(need.bytes, need.packets, 2)
    } else {
        profile.physical_limit(need.bytes, need.packets, 2)
    };
    d.as_secs_f64() * 1e3
}

/// The 100-response push on 2G/EDGE, repeated with other loss patterns on both
/// systems: median and worst of the time over the physical limit and over loss-free.
fn edge_repeats(
    r: &Reporter,
    all: &HashMap<(&'static str, usize, Step), (Run, Run)>,
) -> BenchResult<()> {
    let (Some(&(ef, ep)), Some(&(lf, lp)), Some(&(nf, np))) = (
        all.get(&("edge", 100, Step::Push)),
        all.get(&("edge-lossless", 100, Step::Push)),
        all.get(&("loopback", 100, Step::Push)),
    ) else {
        return Ok(());
    };
    let runs = crate::report::env_usize("FIELDSYNC_BENCH_EDGE_RUNS", 5).max(1);
    let edge = Profile::edge();
    let (mut f_ms, mut p_ms) = (vec![ef.ms], vec![ep.ms]);
    for i in 1..runs as u64 {
        let seed = 7_000 + i;
        eprintln!("field: edge — 100 responses, repeat {i} of {}", runs - 1);
        f_ms.push(fieldsync_runs(&edge, 100, seed)?[&Step::Push].ms);
        p_ms.push(pouchdb_runs(&edge, 100, seed)?[&Step::Push].ms);
    }
    eprintln!("field: edge push of 100, fieldsync ms {f_ms:?}, PouchDB ms {p_ms:?}");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let worst = |v: &[f64]| v.iter().copied().fold(f64::MIN, f64::max);
    let (fl, pl) = (limit_ms(&edge, nf, false), limit_ms(&edge, np, true));
    let (fm, pm) = (median(&mut f_ms), median(&mut p_ms));
    r.emit(
        "edge_push100_over_physical_limit_median",
        fm / fl,
        "x",
        Some(pm / pl),
        Goal::AtMost(1.3),
    );
    r.emit(
        "edge_push100_over_physical_limit_max",
        worst(&f_ms) / fl,
        "x",
        Some(worst(&p_ms) / pl),
        Goal::None,
    );
    r.emit(
        "edge_push100_over_lossless_median",
        fm / lf.ms,
        "x",
        Some(pm / lp.ms),
        Goal::AtMost(2.0),
    );
    r.emit(
        "edge_push100_runs",
        f_ms.len() as f64,
        "runs",
        Some(p_ms.len() as f64),
        Goal::None,
    );
    Ok(())
}

/// Run the suite.
pub fn run() -> BenchResult<()> {
    let r = Reporter::new("field");
    let quick = std::env::var("FIELDSYNC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let sizes: &[usize] = if quick { &[100] } else { &[100, 1_000] };
    // (profile, n, step) -> (fieldsync, pouchdb)
    let mut all: HashMap<(&'static str, usize, Step), (Run, Run)> = HashMap::new();
    for (pi, profile) in profiles().iter().enumerate() {
        for &n in sizes {
            let seed = 1_000 + pi as u64 * 10 + n as u64;
            eprintln!("field: {} — {n} responses: fieldsync", profile.name);
            let fs = fieldsync_runs(profile, n, seed)?;
            eprintln!("field: {} — {n} responses: PouchDB", profile.name);
            let pd = pouchdb_runs(profile, n, seed)?;
            for step in [Step::Push, Step::Edits, Step::PullNothing] {
                let (f, p) = (fs[&step], pd[&step]);
                all.insert((profile.name, n, step), (f, p));
                let (nf, np) = all[&("loopback", n, step)];
                let tag = format!("{}_{}", profile.name, step.tag(n));
                let row = |m: &str, v: f64, b: f64, unit: &str| {
                    r.emit(&format!("{tag}_{m}"), v, unit, Some(b), Goal::None);
                };
                row("ms", f.ms, p.ms, "ms");
                row("bytes", f.bytes as f64, p.bytes as f64, "bytes");
                row(
                    "round_trips",
                    f.round_trips as f64,
                    p.round_trips as f64,
                    "round_trips",
                );
                row(
                    "physical_limit_ms",
                    limit_ms(profile, nf, false),
                    limit_ms(profile, np, true),
                    "ms",
                );
                row(
                    "attempts",
                    f64::from(f.attempts),
                    f64::from(p.attempts),
                    "attempts",
                );
                if profile.name == "loopback" {
                    r.emit(
                        &format!("{tag}_pouchdb_http_requests"),
                        p.requests as f64,
                        "requests",
                        None,
                        Goal::None,
                    );
                }
                if profile.name == "satellite" {
                    r.emit(
                        &format!("{tag}_pouchdb_time_over_fieldsync"),
                        p.ms / f.ms,
                        "x",
                        None,
                        Goal::Text(">= 3"),
                    );
                }
            }
        }
    }
    edge_repeats(&r, &all)?;
    // The 2G/EDGE goals, for 100 responses (single run).
    let key = |p: &'static str| all.get(&(p, 100, Step::Push)).copied();
    if let (Some((ef, ep)), Some((lf, lp)), Some((nf, np))) =
        (key("edge"), key("edge-lossless"), key("loopback"))
    {
        let edge = Profile::edge();
        r.emit(
            "edge_push100_over_lossless",
            ef.ms / lf.ms,
            "x",
            Some(ep.ms / lp.ms),
            Goal::AtMost(2.0),
        );
        r.emit(
            "edge_push100_over_physical_limit",
            ef.ms / limit_ms(&edge, nf, false),
            "x",
            Some(ep.ms / limit_ms(&edge, np, true)),
            Goal::AtMost(1.3),
        );
        r.emit(
            "edge-lossless_push100_over_physical_limit",
            lf.ms / limit_ms(&edge, nf, false),
            "x",
            Some(lp.ms / limit_ms(&edge, np, true)),
            Goal::AtMost(1.3),
        );
    }
    Ok(())
}
