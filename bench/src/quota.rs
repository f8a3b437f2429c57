//! `quota`: what one abusive device costs everyone else. A server on its default quotas
//! (120 exchanges a minute per device), `FIELDSYNC_QUOTA_DEVICES` (16) well-behaved
//! devices each writing and syncing every 500 ms on a kept connection, measured for
//! `FIELDSYNC_QUOTA_SECS` (20) alone, then again while one more device hammers the
//! server with exchanges as fast as it can (at least 10x its quota; the factor is
//! printed). Printed side by side: the others' sync p50/p99 with the abuser (value)
//! and without (baseline), how often each side was throttled.

use std::time::{Duration, Instant};

use fieldsync_core::sample;
use fieldsync_core::store::{Store, StoreOptions};
use fieldsync_core::sync::{ClientConfig, quic};
use fieldsync_core::{Error, Scope};
use fieldsync_server::server::{RunningServer, ServerConfig, start};

use crate::BenchResult;
use crate::enrol::{DeviceSpec, enrolled_device};
use crate::report::{Goal, Reporter, Samples, env_usize};

const TENANT: &str = "quota";
const KEY: [u8; 32] = [4u8; 32];

struct Dev {
    store: Store,
    ep: quinn::Endpoint,
    conn: quinn::Connection,
}

async fn device(srv: &RunningServer, dir: &std::path::Path, name: &str) -> BenchResult<Dev> {
    let path = dir.join(format!("{name}.db"));
    let (store, ep, ident) = enrolled_device(
        srv,
        DeviceSpec {
            tenant: TENANT,
            path: &path,
            key: &KEY,
            name,
            scope: "team:q",
            read: true,
            options: StoreOptions::new(name, name),
        },
    )
    .await?;
    let conn = quic::connect_to(
        &ep,
        &ident.server,
        srv.local_addr,
        None,
        Duration::from_secs(20),
        &ClientConfig::default(),
    )
    .await?;
    Ok(Dev { store, ep, conn })
}

#[derive(Default)]
struct Phase {
    syncs: Samples,
    throttled: u64,
}

/// The well-behaved devices for `secs`: write, sync, wait out the rest of 500 ms.
async fn others(devs: &[Dev], secs: u64) -> BenchResult<Phase> {
    let s = Scope::new("team:q")?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (i, d) in devs.iter().enumerate() {
        let (store, conn, s) = (d.store.clone(), d.conn.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            let mut p = Phase::default();
            // Spread the devices over the period.
            tokio::time::sleep(Duration::from_millis((i as u64 * 31) % 500)).await;
            let mut n = 0;
            while Instant::now() < deadline {
                let tick = Instant::now();
                store.create(&s, &sample::account(&format!("O{n}"), "o", "north"))?;
                n += 1;
                let t = Instant::now();
                match quic::run_exchange(&conn, &store, ClientConfig::default()).await {
                    Ok(_) => p.syncs.push(t.elapsed()),
                    Err(Error::Throttled { .. }) => p.throttled += 1,
                    Err(e) => return Err(e),
                }
                let next = tick + Duration::from_millis(500);
                tokio::time::sleep_until(next.into()).await;
            }
            Ok::<_, Error>(p)
        }));
    }
    let mut all = Phase::default();
    for t in tasks {
        let p = t.await??;
        all.syncs.extend(&p.syncs);
        all.throttled += p.throttled;
    }
    Ok(all)
}

pub fn run() -> BenchResult<()> {
    let r = Reporter::new("quota");
    let n = env_usize("FIELDSYNC_QUOTA_DEVICES", 16);
    let secs = env_usize("FIELDSYNC_QUOTA_SECS", 20) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    rt.block_on(async {
        let cfg = ServerConfig::new(dir.path().join("server"), "127.0.0.1:0".parse()?);
        let quota_per_s = f64::from(cfg.quotas.exchanges_per_minute.unwrap_or(120)) / 60.0;
        let srv = start(cfg).await?;
        srv.storage.ensure_tenant(TENANT)?;
        srv.storage.create_scope(TENANT, "team:q")?;
        let mut devs = Vec::with_capacity(n);
        for i in 0..n {
            devs.push(device(&srv, dir.path(), &format!("o{i}")).await?);
        }
        let abuser = device(&srv, dir.path(), "abuser").await?;
        eprintln!("quota: {n} devices, {secs} s without the abuser");
        let alone = others(&devs, secs).await?;
        eprintln!("quota: {secs} s with the abuser");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hammer = {
            let stop = stop.clone();
            let (store, conn) = (abuser.store.clone(), abuser.conn.clone());
            tokio::spawn(async move {
                let s = Scope::new("team:q")?;
                let (mut attempts, mut throttled) = (0u64, 0u64);
                let t0 = Instant::now();
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    if attempts % 10 == 0 {
                        store.create(&s, &sample::account("A", "abuser", "north"))?;
                    }
                    attempts += 1;
                    // Ignores retry-after on purpose.
                    match quic::run_exchange(&conn, &store, ClientConfig::default()).await {
                        Ok(_) => {}
                        Err(Error::Throttled { .. }) => throttled += 1,
                        Err(e) => return Err(e),
                    }
                }
                Ok::<_, Error>((attempts, throttled, t0.elapsed()))
            })
        };
        let with = others(&devs, secs).await?;
        stop.store(true, std::sync::atomic::Ordering::Release);
        let (attempts, abuser_throttled, took) = hammer.await??;
        let rate = attempts as f64 / took.as_secs_f64();
        // The abuser's data still gets through once it backs off.
        for _ in 0..100 {
            match quic::run_exchange(&abuser.conn, &abuser.store, ClientConfig::default()).await {
                Ok(_) if abuser.store.unacked_count()? == 0 => break,
                Ok(_) => {}
                Err(Error::Throttled { retry_after_ms, .. }) => {
                    tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        r.emit(
            "others_sync_p50",
            with.syncs.p50(),
            "ms",
            Some(alone.syncs.p50()),
            Goal::Text("<= 1.1x baseline"),
        );
        r.emit(
            "others_sync_p99",
            with.syncs.p99(),
            "ms",
            Some(alone.syncs.p99()),
            Goal::Text("<= 1.1x baseline"),
        );
        r.emit(
            "others_exchanges",
            with.syncs.len() as f64,
            "exchanges",
            Some(alone.syncs.len() as f64),
            Goal::None,
        );
        r.emit(
            "others_throttled",
            with.throttled as f64,
            "exchanges",
            Some(alone.throttled as f64),
            Goal::AtMost(0.0),
        );
        r.emit(
            "abuser_attempts_per_s",
            rate,
            "exchanges/s",
            Some(quota_per_s),
            Goal::Text(">= 10x quota"),
        );
        r.emit(
            "abuser_throttled",
            abuser_throttled as f64,
            "exchanges",
            Some(attempts as f64),
            Goal::None,
        );
        r.emit(
            "abuser_unacked_after_backoff",
            abuser.store.unacked_count()? as f64,
            "changes",
            None,
            Goal::AtMost(0.0),
        );
        for d in devs.iter().chain(std::iter::once(&abuser)) {
            d.conn.close(0u32.into(), b"done");
            d.ep.close(0u32.into(), b"done");
        }
        srv.shutdown().await;
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })
}
