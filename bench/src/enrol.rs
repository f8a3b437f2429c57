//! One bench device, set up the way a real one is: its user and grant on the server,
//! its own store file, and enrolment with a fresh one-time code over real QUIC.

use std::path::Path;

use fieldsync_core::now_ms;
use fieldsync_core::store::{Store, StoreOptions, SyncIdentity};
use fieldsync_core::sync::auth::{EnrolmentLink, ServerTrust, code_hash, new_enrolment_code};
use fieldsync_core::sync::quic;
use fieldsync_server::server::RunningServer;

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
