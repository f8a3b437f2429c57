//! The demo: the sync server on its embedded SQLite store, and a survey team of two plus
//! an account manager (and a back-office publisher) as simulated devices, each with its
//! own encrypted store file, syncing over real QUIC on loopback. They work offline,
//! edit the same visit concurrently, reconnect in turn, and the server's merged view is
//! printed at the end.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use autosurgeon::Text;
use fieldsync_core::doc::FieldValue;
use fieldsync_core::model::{Band, CheckPoint, Form, GeoPoint, Visit};
use fieldsync_core::sample::{self, Rng};
use fieldsync_core::store::{CommitmentFilter, ResponseFilter, Store, StoreOptions};
use fieldsync_core::sync::ClientConfig;
use fieldsync_core::sync::auth::EnrolmentLink;
use fieldsync_core::sync::quic;
use fieldsync_core::{Error, Scope, now_ms};

use fieldsync_i18n::{Lang, t};

use crate::admin;
use crate::server::{ServerConfig, ServerError, start, write_private};
use crate::storage::StorageError;

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The engine failed.
    #[error(transparent)]
    Core(#[from] Error),
    /// The server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Files or terminal.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Load a device key from `path`, creating a random one on first use. On a phone the key
/// lives in the Android Keystore or the iOS Keychain instead.
pub fn device_key(path: &Path) -> Result<[u8; 32], DemoError> {
    if let Ok(hex_key) = std::fs::read_to_string(path) {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| Error::WrongKey)?;
        return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| Error::WrongKey.into());
    }
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| Error::Crypto("random"))?;
    write_private(path, hex::encode(key).as_bytes())?;
    Ok(key)
}

struct DemoDevice {
    name: &'static str,
    ui: Lang,
    store: Store,
    endpoint: quinn::Endpoint,
    server: std::net::SocketAddr,
}

impl DemoDevice {
    fn open(
        ui: Lang,
        dir: &Path,
        id: &'static str,
        user: &str,
        server: std::net::SocketAddr,
    ) -> Result<Self, DemoError> {
        let d = dir.join("devices").join(id);
        std::fs::create_dir_all(&d)?;
        let key = device_key(&d.join("device.key"))?;
        let store = Store::open(d.join("device.db"), &key, StoreOptions::new(id, user))?;
        Ok(DemoDevice {
            name: id,
            ui,
            store,
            endpoint: quic::client_endpoint()?,
            server,
        })
    }

    async fn enrol(&self, link: &EnrolmentLink, out: &mut dyn Write) -> Result<(), DemoError> {
        if self
            .store
            .sync_identity()?
            .is_some_and(|i| i.server.pin == link_pin(link))
        {
            return Ok(());
        }
        quic::enrol(
            &self.endpoint,
            &self.store,
            link,
            self.name,
            self.name,
            None,
        )
        .await?;
        writeln!(
            out,
            "  {:<14} {}",
            self.name,
            t!(self.ui, "demo-enrolled", code = &link.code)
        )?;
        Ok(())
    }

    async fn sync(&self, out: &mut dyn Write) -> Result<(), DemoError> {
        // The server listens on a new port each run: connect there (a phone would use DNS).
        let (r, w) = quic::sync_once(
            &self.endpoint,
            &self.store,
            ClientConfig::default(),
            None,
            Some(self.server),
        )
        .await?;
        writeln!(
            out,
            "  {:<14} {}",
            self.name,
            t!(
                self.ui,
                "demo-synced",
                pushed = format!("{:>3}", r.accepted + r.duplicates),
                pulled = format!("{:>3}", r.pulled),
                trips = w.round_trips,
                up = format!("{:>6}", w.bytes_sent),
                down = format!("{:>6}", w.bytes_received)
            )
        )?;
        Ok(())
    }
}

fn link_pin(l: &EnrolmentLink) -> Option<[u8; 32]> {
    match l.trust {
        fieldsync_core::sync::auth::ServerTrust::PinnedKey(p) => Some(p),
        fieldsync_core::sync::auth::ServerTrust::CaIssued => None,
    }
}

const TENANT: &str = "demo";

/// Run the demo with its data in `data` (kept between runs), printing to `out` in
/// `ui`'s language (the demo's own notes and names too).
pub async fn run(data: &Path, ui: Lang, out: &mut dyn Write) -> Result<(), DemoError> {
    std::fs::create_dir_all(data)?;
    let server = start(ServerConfig::new(
        data.join("server"),
        "127.0.0.1:0"
            .parse()
            .map_err(|_| Error::Malformed("addr".into()))?,
    ))
    .await?;
    let st = server.storage.clone();
    writeln!(out, "{}", t!(ui, "demo-title"))?;
    writeln!(
        out,
        "{}",
        t!(
            ui,
            "demo-server",
            addr = server.local_addr.to_string(),
            path = data.join("server").display().to_string()
        )
    )?;
    writeln!(
        out,
        "{}",
        t!(
            ui,
            "demo-server-pin",
            pin = hex::encode(server.identity.pin)
        )
    )?;

    // Tenant, scopes, users, grants (what an operator does with `fieldsync admin`).
    let fresh = !st.tenants()?.iter().any(|t| t == TENANT);
    st.ensure_tenant(TENANT)?;
    if fresh {
        for s in ["team:north", "account:acme", "forms"] {
            st.create_scope(TENANT, s)?;
        }
        for (u, name) in [
            ("zhang.min", t!(ui, "demo-name-zhang")),
            ("liu.yang", t!(ui, "demo-name-liu")),
            ("li.wei", t!(ui, "demo-name-li")),
            ("office", t!(ui, "demo-name-office")),
        ] {
            st.create_user(TENANT, u, &name)?;
        }
        for (u, s, r, w) in [
            ("zhang.min", "team:north", true, true),
            ("liu.yang", "team:north", true, true),
            ("liu.yang", "account:acme", true, true),
            ("li.wei", "account:acme", true, true),
            ("office", "forms", true, true),
            ("office", "team:north", true, false),
        ] {
            st.set_grant(TENANT, u, s, r, w)?;
        }
        for u in ["zhang.min", "liu.yang", "li.wei"] {
            st.set_grant(TENANT, u, "forms", true, false)?;
        }
    }
    let port = server.local_addr.port();
    let pin = server.identity.pin;
    writeln!(out, "\n{}", t!(ui, "demo-step-enrol"))?;
    let sample_link = admin::enrolment_link(&*st, TENANT, "zhang.min", "127.0.0.1", port, pin, 24)?;
    writeln!(out, "   {}", sample_link.to_uri())?;

    let zhang = DemoDevice::open(ui, data, "phone-zhang", "zhang.min", server.local_addr)?;
    let liu = DemoDevice::open(ui, data, "phone-liu", "liu.yang", server.local_addr)?;
    let li = DemoDevice::open(ui, data, "phone-li", "li.wei", server.local_addr)?;
    let office = DemoDevice::open(ui, data, "office-pc", "office", server.local_addr)?;
    zhang.enrol(&sample_link, out).await?;
    for (d, u) in [(&liu, "liu.yang"), (&li, "li.wei"), (&office, "office")] {
        let link = admin::enrolment_link(&*st, TENANT, u, "127.0.0.1", port, pin, 24)?;
        d.enrol(&link, out).await?;
    }

    // The back office publishes the survey.
    let forms = Scope::new("forms")?;
    let form_id = match office.store.list_forms(Some("telecom-sat"))?.first() {
        Some(f) => f.id,
        None => office
            .store
            .create(&forms, &sample::telecom_form_bilingual(1))?,
    };
    writeln!(out, "\n{}", t!(ui, "demo-step-publish"))?;
    office.sync(out).await?;
    for d in [&zhang, &liu, &li] {
        d.sync(out).await?;
    }
    let form: Form = zhang.store.get(form_id)?;

    // Offline: the survey team interviews; the account manager visits Acme.
    writeln!(out, "\n{}", t!(ui, "demo-step-offline"))?;
    let team = Scope::new("team:north")?;
    let acme = Scope::new("account:acme")?;
    let now = now_ms();
    let mut rng = Rng::new(now.unsigned_abs());
    for (d, region, n) in [
        (&zhang, "north/county-3/district-2", 6),
        (&liu, "north/county-3/district-5", 5),
    ] {
        for i in 0..n {
            let r = sample::telecom_response(
                &mut rng,
                form_id,
                &form,
                region,
                d.store.user_id(),
                now + i * 600_000,
            );
            d.store.create(&team, &r)?;
        }
        writeln!(out, "  {:<14} {}", d.name, t!(ui, "demo-filled", n = n))?;
    }
    let acc = li.store.create(
        &acme,
        &sample::account(&t!(ui, "demo-account"), "li.wei", "north/county-3"),
    )?;
    let mut v = sample::visit(acc, "li.wei", now, &t!(ui, "demo-visit-purpose"));
    v.check_in = Some(CheckPoint {
        at: now,
        location: Some(GeoPoint {
            lat: 30.59,
            lon: 114.30,
            altitude_m: None,
            accuracy_m: Some(6.0),
        }),
    });
    v.notes = Text::with_value(t!(ui, "demo-visit-notes"));
    v.commitments.push(sample::commitment(
        "c1",
        "li.wei",
        now + 72 * 3_600_000,
        &t!(ui, "demo-commitment"),
    ));
    let vid = li.store.create(&acme, &v)?;
    writeln!(out, "  {:<14} {}", li.name, t!(ui, "demo-visit-recorded"))?;

    writeln!(out, "\n{}", t!(ui, "demo-step-signal"))?;
    for d in [&li, &zhang, &liu] {
        d.sync(out).await?;
    }

    writeln!(out, "\n{}", t!(ui, "demo-step-concurrent"))?;
    li.store.update::<Visit>(vid, |v| {
        v.notes.splice(0, 0, t!(ui, "demo-note-li"));
        v.scores.overall = Some(6);
        Ok(())
    })?;
    liu.store.update::<Visit>(vid, |v| {
        // Text positions are byte offsets (see the workspace Cargo.toml).
        let end = v.notes.as_str().len();
        v.notes.splice(end, 0, t!(ui, "demo-note-liu"));
        v.scores.overall = Some(8);
        v.scores.network = Some(3);
        Ok(())
    })?;
    for d in [&liu, &li, &liu] {
        d.sync(out).await?;
    }
    let conflicts = li.store.conflicts(vid)?;
    for c in &conflicts {
        writeln!(
            out,
            "  {}",
            t!(
                ui,
                "demo-conflict",
                path = c.path.to_string(),
                shown = show(&c.winner),
                others = c.others.iter().map(show).collect::<Vec<_>>().join(", ")
            )
        )?;
    }
    if let Some(c) = conflicts.first() {
        li.store
            .resolve_conflict(vid, &c.path, &FieldValue::Int(7))?;
        writeln!(out, "  {}", t!(ui, "demo-resolved", value = 7))?;
        li.sync(out).await?;
        liu.sync(out).await?;
    }

    // A low score gets a follow-up on the enumerator's device after review.
    writeln!(out, "\n{}", t!(ui, "demo-step-merged"))?;
    server.wait_materialized(Duration::from_secs(10)).await;
    let merged = server
        .merged
        .clone()
        .ok_or_else(|| Error::Malformed("no merged view".into()))?;
    let all = merged
        .list_responses(&ResponseFilter::default(), 500, None)?
        .items;
    let band = |b: Band| {
        all.iter()
            .filter(|r| r.band.as_deref() == Some(b.as_str()))
            .count()
    };
    let mean = all.iter().filter_map(|r| r.overall).sum::<f64>() / all.len().max(1) as f64;
    writeln!(
        out,
        "  {}",
        t!(
            ui,
            "demo-responses",
            n = all.len(),
            high = band(Band::High),
            middle = band(Band::Middle),
            low = band(Band::Low),
            mean = fieldsync_i18n::format::decimal(ui, mean, 1)
        )
    )?;
    let core_low = all
        .iter()
        .filter(|r| r.core && r.band.as_deref() == Some("low"))
        .count();
    writeln!(out, "  {}", t!(ui, "demo-core-low", n = core_low))?;
    let mv: Visit = merged.get(vid)?;
    writeln!(
        out,
        "  {}",
        t!(ui, "demo-visit-notes-merged", notes = mv.notes.as_str())
    )?;
    let scores = mv
        .scores
        .given()
        .map(|(d, s)| format!("{d}={s}"))
        .collect::<Vec<_>>()
        .join(" ");
    writeln!(out, "  {}", t!(ui, "demo-visit-scores", scores = scores))?;
    writeln!(
        out,
        "  {}",
        t!(ui, "demo-conflicts-left", n = merged.conflicts(vid)?.len())
    )?;
    let open = merged.open_commitments(&CommitmentFilter::default(), 10, None)?;
    for c in open.items {
        writeln!(
            out,
            "  {}",
            t!(
                ui,
                "demo-open-commitment",
                description = &c.description,
                owner = &c.owner
            )
        )?;
    }
    writeln!(out, "  {}", t!(ui, "demo-history"))?;
    for e in merged.field_history(
        vid,
        &fieldsync_core::doc::FieldPath::parse("scores.overall")?,
    )? {
        writeln!(
            out,
            "    {}",
            t!(
                ui,
                "demo-history-line",
                user = e.user_id.unwrap_or_default(),
                device = e.device_id.unwrap_or_default()
            )
        )?;
    }
    let (docs, changes) = st.counts(TENANT)?;
    writeln!(
        out,
        "  {}",
        t!(ui, "demo-server-log", docs = docs, changes = changes)
    )?;
    for d in [zhang, liu, li, office] {
        d.store.close();
    }
    server.shutdown().await;
    Ok(())
}

fn show(v: &FieldValue) -> String {
    match v {
        FieldValue::Int(i) => i.to_string(),
        FieldValue::Str(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_runs_end_to_end_twice() -> Result<(), DemoError> {
        let dir = tempfile::tempdir()?;
        let mut out = Vec::new();
        run(dir.path(), Lang::En, &mut out).await?;
        let text = String::from_utf8_lossy(&out);
        for want in [
            "enrolled with code",
            "1 round trip",
            "conflict on scores.overall",
            "Li resolves it",
            "responses: 11",
            "[Li] CFO attended.",
            "[Liu] Measured",
            "conflicts left: 0",
            "Site survey of warehouse B",
            "li.wei on phone-li",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        // A second run reuses the server, the devices and their keys.
        let mut out2 = Vec::new();
        run(dir.path(), Lang::En, &mut out2).await?;
        let text2 = String::from_utf8_lossy(&out2);
        assert!(text2.contains("responses: 22"), "{text2}");
        assert!(
            !text2.contains("enrolled with code"),
            "devices stay enrolled: {text2}"
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_speaks_chinese() -> Result<(), DemoError> {
        let dir = tempfile::tempdir()?;
        let mut out = Vec::new();
        run(dir.path(), Lang::ZhCn, &mut out).await?;
        let text = String::from_utf8_lossy(&out);
        for want in [
            "注册码",
            "1 次往返",
            "scores.overall 冲突",
            "问卷：11 份",
            "[李伟] 财务总监出席。",
            "[刘洋] B 仓库实测 -110 dBm。",
            "剩余冲突：0",
            "B 仓库现场勘察",
            "li.wei（设备 phone-li）",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        for english in ["enrolled", "synced", "round trip", "conflict on", "Agenda"] {
            assert!(!text.contains(english), "{english:?} left in:\n{text}");
        }
        Ok(())
    }
}
