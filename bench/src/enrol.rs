//! One bench device, set up the way a real one is: its user and grant on the server,
//! its own store file, and enrolment with a fresh one-time code over real QUIC.

use std::path::Path;

use fieldsync_core::now_ms;
use fieldsync_core::store::{Store, StoreOptions, SyncIdentity};
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust, code_hash, new_enrolment_code};
use fieldsync_core::sync::quic;
use fieldsync_server::server::{RunningServer, ServerConfig, start};

use crate::BenchResult;

/// Where and how a bench device lives.
pub(crate) struct DeviceSpec<'a> {
    /// The server tenant.
    pub tenant: &'a str,
    /// Its store file.
    pub path: &'a Path,
    /// The store key.
    pub key: &'a [u8; 32],
    /// Device and user id.
    pub name: &'a str,
    /// The scope it writes, and reads when `read`.
    pub scope: &'a str,
    pub read: bool,
    /// Store options (durability, cache).
    pub options: StoreOptions,
}

/// Create the user and grant, open the store and enrol it on `srv`.
pub(crate) async fn enrolled_device(
    srv: &RunningServer,
    spec: DeviceSpec<'_>,
) -> BenchResult<(Store, quinn::Endpoint, SyncIdentity)> {
    let st = srv.storage.clone();
    let name = spec.name;
    // The user may exist already (several devices of one user).
    let _ = st.create_user(spec.tenant, name, name);
    st.set_grant(spec.tenant, name, spec.scope, spec.read, true)?;
    let store = Store::open(spec.path, spec.key, spec.options)?;
    let code = new_enrolment_code()?;
    let now = now_ms();
    st.create_enrolment(
        spec.tenant,
        name,
        code_hash(&code).ok_or("code")?,
        now,
        now + 3_600_000,
    )?;
    let link = EnrolmentLink {
        host: "127.0.0.1".into(),
        port: srv.local_addr.port(),
        server_name: "localhost".into(),
        trust: ServerTrust::PinnedKey(srv.identity.pin),
        code,
    };
    let ep = quic::client_endpoint()?;
    let ident = quic::enrol(&ep, &store, &link, name, name, None).await?;
    Ok((store, ep, ident))
}

/// A bench's world: a runtime, a temporary folder, a real server in it on 127.0.0.1
/// with one tenant and one scope, and enrolled devices with store files beside it. The
/// server shuts down when the rig is dropped.
pub(crate) struct Rig {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    server: Option<RunningServer>,
    tenant: &'static str,
    scope: &'static str,
    key: [u8; 32],
}

impl Rig {
    /// Start the server (its config adjusted by `configure`) and create `tenant` and
    /// `scope`; devices' stores are sealed with `key`.
    pub fn start(
        tenant: &'static str,
        scope: &'static str,
        key: [u8; 32],
        configure: impl FnOnce(&mut ServerConfig),
    ) -> BenchResult<Rig> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let dir = tempfile::tempdir()?;
        let mut cfg = ServerConfig::new(dir.path().join("server"), "127.0.0.1:0".parse()?);
        configure(&mut cfg);
        let server = rt.block_on(start(cfg))?;
        server.storage.ensure_tenant(tenant)?;
        server.storage.create_scope(tenant, scope)?;
        Ok(Rig {
            rt,
            dir,
            server: Some(server),
            tenant,
            scope,
            key,
        })
    }

    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("server runs until drop")
    }

    /// A device with its own store file (`<name>.db`), its user writing the rig's scope
    /// (and reading it when `read`), enrolled directly: enrolment is once in a device's
    /// life, not part of a workload.
    pub fn device(
        &self,
        name: &str,
        read: bool,
        options: StoreOptions,
    ) -> BenchResult<(Store, quinn::Endpoint)> {
        let path = self.dir.path().join(format!("{name}.db"));
        let (store, ep, _) = self.rt.block_on(enrolled_device(
            self.server(),
            DeviceSpec {
                tenant: self.tenant,
                path: &path,
                key: &self.key,
                name,
                scope: self.scope,
                read,
                options,
            },
        ))?;
        Ok((store, ep))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}
