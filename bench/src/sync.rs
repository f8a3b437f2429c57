//! Suite `sync`: what a reconnect costs on the wire, beside per-document Automerge sync
//! over the same documents; round trips; bytes per new survey response beside deflated
//! JSON; server ingest with 50 devices pushing at once, beside Automerge alone.
//!
//! Everything runs here: a real server on 127.0.0.1 (QUIC, TLS, SQLite with
//! synchronous=FULL), real device stores. Wire bytes are protocol frames (what the
//! goal formula counts); UDP bytes (QUIC + TLS, handshake included) are printed too.

use std::io::Write;
use std::time::{Duration, Instant};

use automerge::sync::{State as SyncState, SyncDoc};
use automerge::{AutoCommit, Change};
use fieldsync_core::model::{Account, Form, Response};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{Durability, Store, StoreOptions};
use fieldsync_core::sync::ClientConfig;
use fieldsync_core::sync::quic;
use fieldsync_core::{DocId, Scope};

use crate::BenchResult;
use crate::enrol::Rig;
use crate::report::{Goal, Reporter};

const TENANT: &str = "bench";
const KEY: [u8; 32] = [4u8; 32];

/// The suite's rig: a server without quotas (one device reconnects in a tight loop
/// here: protocol cost, not quotas), devices on `Durability::Normal`.
struct Bench(Rig);

impl std::ops::Deref for Bench {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.0
    }
}

impl Bench {
    fn new(materialize: bool) -> BenchResult<Bench> {
        Ok(Bench(Rig::start(TENANT, "team:b", KEY, |cfg| {
            cfg.quotas = fieldsync_server::quota::QuotaConfig::unlimited();
            cfg.materialize = materialize;
        })?))
    }

    fn device(&self, name: &str) -> BenchResult<(Store, quinn::Endpoint)> {
        self.device_with(name, true)
    }

    /// A device whose user may write `team:b`, and read it when `read`.
    fn device_with(&self, name: &str, read: bool) -> BenchResult<(Store, quinn::Endpoint)> {
        let mut o = StoreOptions::new(name, name);
        o.durability = Durability::Normal;
        o.cache_capacity = 64;
        self.0.device(name, read, o)
    }

    fn sync(&self, store: &Store, ep: &quinn::Endpoint) -> BenchResult<quic::WireStats> {
        self.sync_with(store, ep, ClientConfig::default())
    }

    fn sync_with(
        &self,
        store: &Store,
        ep: &quinn::Endpoint,
        cfg: ClientConfig,
    ) -> BenchResult<quic::WireStats> {
        let (_, w) = self
            .rt
            .block_on(quic::sync_once(ep, store, cfg, None, None))?;
        Ok(w)
    }

    /// Sync until nothing is pending (large first pushes take several exchanges).
    fn sync_all(&self, store: &Store, ep: &quinn::Endpoint) -> BenchResult<()> {
        for _ in 0..100 {
            self.sync(store, ep)?;
            if store.unacked_count()? == 0 {
                return Ok(());
            }
        }
        Err("could not push everything".into())
    }
}

/// Per-document Automerge sync between two copies of each document, fresh sync states
/// (a reconnect): messages and bytes until both sides are quiet.
fn automerge_per_doc_sync(pairs: &mut [(AutoCommit, AutoCommit)]) -> (u64, u64) {
    let (mut msgs, mut bytes) = (0u64, 0u64);
    for (a, b) in pairs.iter_mut() {
        let (mut sa, mut sb) = (SyncState::new(), SyncState::new());
        for _ in 0..50 {
            let mut moved = false;
            if let Some(m) = a.sync().generate_sync_message(&mut sa) {
                let enc = m.clone().encode();
                msgs += 1;
                bytes += enc.len() as u64;
                b.sync().receive_sync_message(&mut sb, m).ok();
                moved = true;
            }
            if let Some(m) = b.sync().generate_sync_message(&mut sb) {
                let enc = m.clone().encode();
                msgs += 1;
                bytes += enc.len() as u64;
                a.sync().receive_sync_message(&mut sa, m).ok();
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }
    (msgs, bytes)
}

fn doc_of(store: &Store, id: DocId) -> BenchResult<AutoCommit> {
    let mut d = AutoCommit::new();
    let changes: Vec<Change> = store
        .changes_since(id, &[])?
        .into_iter()
        .map(Change::from_bytes)
        .collect::<Result<_, _>>()?;
    d.apply_changes(changes)?;
    Ok(d)
}

fn reconnect(r: &Reporter, n: usize, k: usize) -> BenchResult<()> {
    eprintln!("sync: reconnect with N={n}, K={k}: populating");
    let b = Bench::new(false)?;
    let (writer, wep) = b.device("writer")?;
    let (reader, rep) = b.device("reader")?;
    let s = Scope::new("team:b")?;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(writer.create(
            &s,
            &sample::account(&format!("Account {i}"), "writer", "north/county-1"),
        )?);
    }
    b.sync_all(&writer, &wep)?;
    b.sync_all(&reader, &rep)?;
    // K documents change elsewhere.
    let mut new_bytes = 0usize;
    for (j, id) in ids.iter().step_by(n / k).take(k).enumerate() {
        writer.update::<Account>(*id, |a| {
            a.industry = Some(format!("retail {j}"));
            Ok(())
        })?;
    }
    for p in writer.pending_changes(0, 1 << 20)? {
        new_bytes += p.bytes.len();
    }
    b.sync_all(&writer, &wep)?;
    // Baseline input: both copies of every document as they are now (the reader lacks
    // exactly the K new changes).
    eprintln!("sync: baseline per-document Automerge sync over {n} documents");
    let mut pairs = Vec::with_capacity(n);
    for id in &ids {
        pairs.push((doc_of(&reader, *id)?, doc_of(&writer, *id)?));
    }
    // The reader reconnects: one exchange.
    let t0 = Instant::now();
    let conn = b.rt.block_on(quic::connect(
        &rep,
        &reader.sync_identity()?.ok_or("enrolled")?.server,
        None,
        Duration::from_secs(10),
        &ClientConfig::default(),
    ))?;
    let (report, w) =
        b.rt.block_on(quic::run_exchange(&conn, &reader, ClientConfig::default()))?;
    let udp = conn.stats();
    conn.close(0u32.into(), b"done");
    let took = t0.elapsed();
    if report.pulled as usize != k {
        return Err(format!("reader pulled {} changes, expected {k}", report.pulled).into());
    }
    let wire = w.bytes_sent + w.bytes_received;
    let goal = 256.0 + 1.15 * new_bytes as f64 + 16.0 * k as f64;
    let t1 = Instant::now();
    let (am_msgs, am_bytes) = automerge_per_doc_sync(&mut pairs);
    let am_took = t1.elapsed();
    let tag = format!("n{n}_k{k}");
    r.emit(
        &format!("reconnect_{tag}_wire_bytes"),
        wire as f64,
        "bytes",
        Some(am_bytes as f64),
        Goal::AtMost(goal.round()),
    );
    r.emit(
        &format!("reconnect_{tag}_messages"),
        (w.messages_sent + w.messages_received) as f64,
        "messages",
        Some(am_msgs as f64),
        Goal::None,
    );
    r.emit(
        &format!("reconnect_{tag}_new_change_bytes"),
        new_bytes as f64,
        "bytes",
        None,
        Goal::None,
    );
    r.emit(
        &format!("reconnect_{tag}_udp_bytes"),
        (udp.udp_tx.bytes + udp.udp_rx.bytes) as f64,
        "bytes",
        None,
        Goal::None,
    );
    r.emit(
        &format!("reconnect_{tag}_round_trips"),
        w.round_trips as f64,
        "round_trips",
        None,
        Goal::AtMost(1.0),
    );
    r.emit(
        &format!("reconnect_{tag}_ms"),
        took.as_secs_f64() * 1e3,
        "ms",
        Some(am_took.as_secs_f64() * 1e3),
        Goal::None,
    );
    Ok(())
}

fn response_bytes(r: &Reporter, batch: usize) -> BenchResult<()> {
    let b = Bench::new(false)?;
    let (dev, ep) = b.device("enumerator")?;
    let form = sample::telecom_form(1);
    let s = Scope::new("team:b")?;
    let form_id = dev.create(&s, &form)?;
    b.sync_all(&dev, &ep)?;
    // The same responses from a second device that speaks only protocol v1 (an old
    // app), for the v1 figure beside the v2 one.
    let (old, old_ep) = b.device("enumerator-v1")?;
    b.sync_all(&old, &old_ep)?;
    let mut rng = Rng::new(42);
    let mut json = Vec::new();
    for i in 0..batch {
        let resp = sample::telecom_response(
            &mut rng,
            form_id,
            &form,
            "north/county-2/district-3",
            "enumerator",
            1_700_000_000_000 + i as i64 * 60_000,
        );
        json.push(response_json(&resp));
        dev.create(&s, &resp)?;
        old.create(&s, &resp)?;
    }
    // What the device sends: every frame of the exchange (Hello, pushes, pull, Bye) in
    // the version it negotiated (v2 against this server).
    let w = b.sync(&dev, &ep)?;
    let ours = w.bytes_sent as f64 / batch as f64;
    let v1_only = ClientConfig {
        protocols: vec![fieldsync_core::sync::wire::PROTOCOL_V1],
        ..ClientConfig::default()
    };
    let w1 = b.sync_with(&old, &old_ep, v1_only)?;
    let ours_v1 = w1.bytes_sent as f64 / batch as f64;
    let raw = serde_json::to_vec(&json)?;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&raw)?;
    let deflated = enc.finish()?.len() as f64 / batch as f64;
    r.emit(
        &format!("bytes_per_response_batch{batch}"),
        ours,
        "bytes",
        Some(deflated),
        Goal::Text("<= 1.15x baseline"),
    );
    r.emit(
        &format!("bytes_per_response_batch{batch}_ratio"),
        ours / deflated,
        "x",
        None,
        Goal::AtMost(1.15),
    );
    r.emit(
        &format!("bytes_per_response_batch{batch}_v1"),
        ours_v1,
        "bytes",
        Some(deflated),
        Goal::None,
    );
    r.emit(
        &format!("bytes_per_response_batch{batch}_json_raw"),
        raw.len() as f64 / batch as f64,
        "bytes",
        None,
        Goal::None,
    );
    // A real submission carries an id so that a retry is not stored twice (ODK's
    // instanceID, Kobo's _uuid): the same JSON with one, for a like-for-like figure.
    let with_ids: Vec<serde_json::Value> = json
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let mut j = j.clone();
            let id = (i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834);
            j["instance_id"] = serde_json::json!(format!("uuid:{id:032x}"));
            j
        })
        .collect();
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&serde_json::to_vec(&with_ids)?)?;
    let deflated_ids = enc.finish()?.len() as f64 / batch as f64;
    r.emit(
        &format!("bytes_per_response_batch{batch}_ratio_vs_json_with_ids"),
        ours / deflated_ids,
        "x",
        None,
        Goal::None,
    );
    Ok(())
}

/// The same answers, as the JSON a plain REST client would send.
pub(crate) fn response_json(r: &Response) -> serde_json::Value {
    use fieldsync_core::model::Answer;
    let answers: serde_json::Map<String, serde_json::Value> = r
        .answers
        .iter()
        .map(|(k, a)| {
            let v = match a {
                Answer::Text(t)
                | Answer::Choice(t)
                | Answer::Date(t)
                | Answer::Time(t)
                | Answer::DateTime(t) => serde_json::json!(t),
                Answer::Integer(i) => serde_json::json!(i),
                Answer::Decimal(d) => serde_json::json!(d),
                Answer::Score(s) => serde_json::json!(s.value),
                Answer::Choices(c) => serde_json::json!(c),
                Answer::Geo(g) => serde_json::json!([g.lat, g.lon, g.altitude_m, g.accuracy_m]),
                Answer::GeoTrace(ps) | Answer::GeoShape(ps) => {
                    serde_json::json!(ps.iter().map(|g| [g.lat, g.lon]).collect::<Vec<_>>())
                }
                Answer::Attachment(a) => serde_json::json!(a.sha256),
                Answer::Acknowledged(b) => serde_json::json!(b),
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::json!({
        "form_id": r.form_id, "form_version": r.form_version, "status": "complete",
        "respondent": {"name": r.respondent.name, "phone": r.respondent.phone, "customer_id": r.respondent.customer_id,
            "segment": r.respondent.segment.kind.as_str(), "core": r.respondent.segment.core},
        "region": r.region, "started_at": r.started_at, "completed_at": r.completed_at, "enumerator": r.enumerator,
        "location": r.location.map(|g| [g.lat, g.lon]), "note": r.note.as_str(), "answers": answers,
    })
}

fn ingest(r: &Reporter, devices: usize, per_device: usize) -> BenchResult<()> {
    eprintln!("sync: ingest — {devices} devices × {per_device} responses");
    let b = Bench::new(false)?;
    let form: Form = sample::telecom_form(1);
    let s = Scope::new("team:b")?;
    let (office, oep) = b.device("office")?;
    let form_id = office.create(&s, &form)?;
    b.sync_all(&office, &oep)?;
    let mut devs = Vec::with_capacity(devices);
    let mut all_changes: Vec<Vec<u8>> = Vec::new();
    for d in 0..devices {
        // Enumerators submit: they write the team scope but do not read the whole
        // team's responses (the form reaches them in their own copy here), so the
        // figure is the server's ingest, not 50 devices downloading each other.
        let (store, ep) = b.device_with(&format!("enum-{d}"), false)?;
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
        all_changes.extend(
            store
                .pending_changes(0, 1 << 20)?
                .into_iter()
                .map(|p| p.bytes),
        );
        devs.push((store, ep));
    }
    let total = devices * per_device;
    let (_, before) = b.server().storage.counts(TENANT)?;
    let t0 = Instant::now();
    b.rt.block_on(async {
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
    let (_, after) = b.server().storage.counts(TENANT)?;
    let committed = (after - before) as usize;
    if committed != total {
        return Err(format!("{committed} committed, expected {total}").into());
    }
    let server_only = ingest_server_only(r, &b, devices, per_device, form_id, &office)?;
    // Baseline: Automerge alone, one core, no storage: each response merged into a
    // fresh document (what the server's merge costs per document).
    let t1 = Instant::now();
    for c in &all_changes {
        let mut d = AutoCommit::new();
        d.apply_changes(vec![Change::from_bytes(c.clone())?])?;
    }
    let am = all_changes.len() as f64 / t1.elapsed().as_secs_f64();
    let rate = total as f64 / took.as_secs_f64();
    r.emit(
        &format!("ingest_{devices}_devices_responses_per_s"),
        rate,
        "responses/s",
        Some(am),
        Goal::Text(">= 20000"),
    );
    eprintln!("sync: {total} responses from {devices} devices committed in {took:?}");
    r.emit(
        &format!("ingest_{devices}_devices_server_only_responses_per_s"),
        server_only,
        "responses/s",
        Some(am),
        Goal::Text(">= 20000"),
    );
    // The merged view follows the log: how fast it catches up (single thread).
    let merged = {
        let mut o = StoreOptions::new("server", "server");
        o.durability = Durability::Normal;
        o.cache_capacity = 1024;
        Store::open(b.dir.path().join("merged-bench.db"), &KEY, o)?
    };
    let t2 = Instant::now();
    let mut applied = 0;
    loop {
        let n = fieldsync_server::materialize::catch_up(&*b.server().storage, &merged, 5000)?;
        if n == 0 {
            break;
        }
        applied += n;
    }
    r.emit(
        "materialize_changes_per_s",
        applied as f64 / t2.elapsed().as_secs_f64(),
        "changes/s",
        Some(am),
        Goal::None,
    );
    Ok(())
}

/// Server ingest without the devices' own work on this machine: each of `devices`
/// fresh devices connects and authenticates, its push frames are encoded in advance,
/// then the clock runs from the first byte sent to the last acknowledgement received.
fn ingest_server_only(
    r: &Reporter,
    b: &Bench,
    devices: usize,
    per_device: usize,
    form_id: DocId,
    office: &Store,
) -> BenchResult<f64> {
    use fieldsync_core::sync::wire::{self, ServerMsg};
    let form: Form = sample::telecom_form(1);
    let s = Scope::new("team:b")?;
    let mut prepared = Vec::new();
    for d in 0..devices {
        let (store, ep) = b.device_with(&format!("raw-{d}"), false)?;
        store.apply_changes(
            form_id,
            fieldsync_core::Kind::Form,
            &s,
            &office.changes_since(form_id, &[])?,
            true,
        )?;
        let mut rng = Rng::new(1000 + d as u64);
        for i in 0..per_device {
            store.create(
                &s,
                &sample::telecom_response(
                    &mut rng,
                    form_id,
                    &form,
                    "south/county-1/district-1",
                    "e",
                    i as i64,
                ),
            )?;
        }
        let server = store.sync_identity()?.ok_or("enrolled")?.server;
        let conn = b.rt.block_on(quic::connect(
            &ep,
            &server,
            None,
            Duration::from_secs(10),
            &ClientConfig::default(),
        ))?;
        let exp = quic::exporter(&conn)?;
        let version = quic::negotiated_version(&conn)?;
        let mut session = fieldsync_core::sync::ClientSession::new(
            store.clone(),
            ClientConfig {
                push_window: 64,
                ..ClientConfig::default()
            },
        )
        .with_protocol(version);
        let msgs = session.start(&exp)?;
        let pushes = msgs
            .iter()
            .filter(|m| matches!(m, fieldsync_core::sync::wire::ClientMsg::Push(_)))
            .count();
        let frames: Vec<u8> = msgs
            .iter()
            .flat_map(|m| wire::encode_for(version, m))
            .collect();
        prepared.push((conn, frames, pushes, version));
    }
    let cpu0 = process_cpu_seconds();
    let threads0 = thread_cpu_seconds();
    let t0 = Instant::now();
    b.rt.block_on(async {
        let mut tasks = Vec::new();
        for (conn, frames, pushes, version) in prepared {
            tasks.push(tokio::spawn(async move {
                let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
                send.write_all(&frames).await.map_err(|e| e.to_string())?;
                let mut acked = 0;
                while acked < pushes {
                    match quic::read_msg::<ServerMsg>(&mut recv, version)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        Some((ServerMsg::PushAck(a), _)) if a.rejected.is_empty() => acked += 1,
                        Some((ServerMsg::PushAck(a), _)) => {
                            return Err(format!("rejected: {:?}", a.rejected[0].reason));
                        }
                        Some(_) => {}
                        None => return Err("stream ended".to_string()),
                    }
                }
                conn.close(0u32.into(), b"done");
                Ok::<(), String>(())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu0;
    let n = (devices * per_device) as f64;
    eprintln!(
        "sync: server-only ingest: {wall:.2} s wall, {cpu:.2} s CPU (process), {:.0} µs CPU per response",
        cpu * 1e6 / n
    );
    // Where the CPU went, per thread name (the tokio workers also run the simulated
    // devices' QUIC sends, so the process figure is an upper bound for the server).
    let mut ingest_thread = 0.0;
    for (name, after) in thread_cpu_seconds() {
        let used = after - threads0.get(&name).copied().unwrap_or(0.0);
        if used > 0.0 {
            eprintln!(
                "sync:   thread {name:<16} {used:.2} s CPU, {:.1} µs per response",
                used * 1e6 / n
            );
        }
        // Linux keeps 15 bytes of a thread name: "fieldsync-ingest" reads back so.
        if name == "fieldsync-inges" {
            ingest_thread += used;
        }
    }
    r.emit(
        "ingest_server_only_cpu_us_per_response",
        cpu * 1e6 / n,
        "µs",
        None,
        Goal::None,
    );
    r.emit(
        "ingest_thread_cpu_us_per_response",
        ingest_thread * 1e6 / n,
        "µs",
        None,
        Goal::None,
    );
    Ok(n / wall)
}

/// User + system CPU time of this process so far (Linux /proc), in seconds.
fn process_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .map(|s| stat_cpu_seconds(&s))
        .unwrap_or(0.0)
}

/// User + system CPU seconds of this process's threads so far, summed per thread
/// name (Linux /proc/self/task): CPU time, unlike wall time, barely moves when other
/// work shares the machine, so it tells where the server's time goes even on a busy
/// machine. Threads that exit in between are not counted.
fn thread_cpu_seconds() -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(t.path().join("comm")),
            std::fs::read_to_string(t.path().join("stat")),
        ) else {
            continue;
        };
        *out.entry(comm.trim().to_string()).or_insert(0.0) += stat_cpu_seconds(&stat);
    }
    out
}

/// utime + stime of a /proc `stat` line, in seconds.
fn stat_cpu_seconds(stat: &str) -> f64 {
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command name: state is 0, utime is 11, stime is 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// Run the suite.
pub fn run() -> BenchResult<()> {
    let r = Reporter::new("sync");
    let quick = std::env::var("FIELDSYNC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    // FIELDSYNC_BENCH_ONLY=reconnect|bytes|ingest runs one part.
    let only = std::env::var("FIELDSYNC_BENCH_ONLY").unwrap_or_default();
    let part = |p: &str| only.is_empty() || only == p;
    if part("reconnect") {
        reconnect(&r, 2_000, 20)?;
        if !quick {
            reconnect(&r, 20_000, 20)?;
        }
    }
    if part("bytes") {
        response_bytes(&r, 20)?;
        response_bytes(&r, 100)?;
    }
    if part("ingest") {
        ingest(&r, 50, if quick { 40 } else { 400 })?;
    }
    Ok(())
}
