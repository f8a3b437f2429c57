//! The sync client object: enrol, sync now, background sync, status, progress.

use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::sync::{ClientConfig, SyncAgent, SyncObserver};

use crate::error::{FieldsyncError, Result, guard};
use crate::records::{Enrolment, RejectedChange, SyncReport, SyncStatus};
use crate::store::FieldStore;

/// Told how each sync went (background or not). Called on an engine thread.
#[uniffi::export(foreign)]
pub trait SyncProgressListener: Send + Sync {
    /// A sync finished: `report` on success, `error` on failure.
    fn on_sync(&self, report: Option<SyncReport>, error: Option<FieldsyncError>);
}

struct ObserverAdapter(Arc<dyn SyncProgressListener>);

impl SyncObserver for ObserverAdapter {
    fn on_sync(
        &self,
        result: std::result::Result<&fieldsync_core::sync::SyncReport, &fieldsync_core::Error>,
    ) {
        match result {
            Ok(r) => self.0.on_sync(Some(report(r, None)), None),
            Err(e) => self.0.on_sync(None, Some(clone_err(e))),
        }
    }
}

fn clone_err(e: &fieldsync_core::Error) -> FieldsyncError {
    use fieldsync_core::Error as E;
    match e {
        E::Unauthorized(m) => E::Unauthorized(m.clone()).into(),
        E::Network(m) => E::Network(m.clone()).into(),
        E::Remote(m) => E::Remote(m.clone()).into(),
        E::Malformed(m) => E::Malformed(m.clone()).into(),
        other => FieldsyncError::Storage {
            message: other.to_string(),
        },
    }
}

fn report(
    r: &fieldsync_core::sync::SyncReport,
    w: Option<&fieldsync_core::sync::quic::WireStats>,
) -> SyncReport {
    SyncReport {
        pushed: r.pushed,
        accepted: r.accepted,
        duplicates: r.duplicates,
        rejected: r
            .rejected
            .iter()
            .map(|(id, why)| RejectedChange {
                id: id.to_string(),
                reason: why.as_str().to_string(),
            })
            .collect(),
        pulled: r.pulled,
        changed_ids: r.docs_changed.iter().map(ToString::to_string).collect(),
        repaired: r.repaired,
        round_trips: w.map_or(0, |w| w.round_trips),
        bytes_sent: w.map_or(0, |w| w.bytes_sent),
        bytes_received: w.map_or(0, |w| w.bytes_received),
    }
}

/// Syncs one store with its server. Calls block; use them off the main thread.
#[derive(uniffi::Object)]
pub struct SyncClient {
    agent: SyncAgent,
}

impl SyncClient {
    pub(crate) fn agent(&self) -> &SyncAgent {
        &self.agent
    }
}

#[uniffi::export]
impl SyncClient {
    /// A sync client for `store`.
    #[uniffi::constructor]
    pub fn new(store: Arc<FieldStore>) -> Result<Arc<Self>> {
        guard(|| {
            Ok(Arc::new(SyncClient {
                agent: SyncAgent::new(store.inner.clone(), ClientConfig::default())?,
            }))
        })
    }

    /// Enrol this device with the link from an enrolment QR code
    /// (`fieldsync://host:port/enrol?code=…&pin=…`). The code works once.
    pub fn enrol(&self, link: String, device_name: String) -> Result<Enrolment> {
        guard(|| {
            let i = self.agent.enrol(&link, &device_name)?;
            Ok(Enrolment {
                device_id: i.device_id,
                tenant: i.tenant,
                user_id: i.user_id,
                host: i.server.host,
                port: i.server.port,
            })
        })
    }

    /// Push everything not yet on the server and pull everything new, now.
    pub fn sync_now(&self) -> Result<SyncReport> {
        guard(|| {
            let (r, w) = self.agent.sync_now()?;
            Ok(report(&r, Some(&w)))
        })
    }

    /// Keep syncing in the background: stay connected, sync when the server says
    /// something changed, shortly after local writes, and every `interval_seconds`.
    pub fn start_background(&self, interval_seconds: u32) {
        self.agent
            .start_background(Duration::from_secs(u64::from(interval_seconds.max(1))));
    }

    /// Stop background sync.
    pub fn stop_background(&self) {
        self.agent.stop_background();
    }

    /// What the client is doing.
    pub fn status(&self) -> Result<SyncStatus> {
        guard(|| {
            let s = self.agent.status()?;
            Ok(SyncStatus {
                background: s.background,
                connected: s.connected,
                last_sync_at: s.last_sync_at,
                last_error: s.last_error,
                pending_changes: s.pending_changes,
                exchanges: s.exchanges,
            })
        })
    }

    /// Be told how every sync goes (`None` to stop).
    pub fn set_progress_listener(&self, listener: Option<Arc<dyn SyncProgressListener>>) {
        self.agent
            .set_observer(listener.map(|l| Arc::new(ObserverAdapter(l)) as Arc<dyn SyncObserver>));
    }

    /// Connect to `host:port` instead of the enrolled address (emulators, test servers).
    pub fn set_server_address(&self, address: Option<String>) -> Result<()> {
        guard(|| {
            let a = address
                .map(|a| {
                    a.parse().map_err(|_| FieldsyncError::InvalidArgument {
                        message: format!("not an address: {a:?}"),
                    })
                })
                .transpose()?;
            self.agent.set_address_override(a);
            Ok(())
        })
    }
}
