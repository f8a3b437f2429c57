//! What the device keeps for sync: its enrolment identity, its signing key (sealed),
//! the server's epoch and a cursor per scope, and per-document Automerge sync for repair.

use automerge::ChangeHash;
use automerge::sync::{Message, State as SyncState, SyncDoc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{ApplyOutcome, Store, parse_change};
use crate::crypto::row_aad;
use crate::doc::guarded;
use crate::error::{Error, Result};
use crate::ids::{DocId, Kind, Scope};
use crate::sync::auth::{DeviceKey, ServerTrust};
use crate::sync::wire::MAX_FRAME;

/// Where the device's server is and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerEndpoint {
    /// Host name or IP.
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// TLS server name.
    pub server_name: String,
    /// SHA-256 of the server's SubjectPublicKeyInfo, when pinned; `None` = CA-issued.
    pub pin: Option<[u8; 32]>,
}

impl ServerEndpoint {
    /// The trust mode.
    pub fn trust(&self) -> ServerTrust {
        self.pin
            .map_or(ServerTrust::CaIssued, ServerTrust::PinnedKey)
    }
}

/// The identity a device received at enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncIdentity {
    /// Device id known to the server.
    pub device_id: String,
    /// Tenant.
    pub tenant: String,
    /// The user the device acts for.
    pub user_id: String,
    /// The server.
    pub server: ServerEndpoint,
}

/// A server epoch and the cursors issued in it.
pub type Cursors = ([u8; 16], Vec<(Scope, u64)>);
/// A document's id, kind, scope and heads.
pub type DocHeadsRow = (DocId, Kind, Scope, Vec<ChangeHash>);

const IDENTITY: &str = "identity";
const DEVICE_KEY: &str = "device_key";
const EPOCH: &str = "epoch";

impl Store {
    fn state_get(&self, key: &'static str) -> Result<Option<Vec<u8>>> {
        let sealed: Option<Vec<u8>> = self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })?;
        match sealed {
            None => Ok(None),
            Some(s) => self
                .sealer()
                .open(&row_aad("sync_state", b"", key.as_bytes()), &s)
                .map(Some)
                .map_err(|_| Error::Malformed(format!("sync state {key} failed authentication"))),
        }
    }

    fn state_put(
        tx: &rusqlite::Transaction<'_>,
        sealer: &crate::crypto::Sealer,
        key: &'static str,
        v: &[u8],
    ) -> Result<()> {
        let sealed = sealer.seal(&row_aad("sync_state", b"", key.as_bytes()), v)?;
        tx.execute(
            "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, sealed],
        )?;
        Ok(())
    }

    /// Random id of this store file (a rebuilt store has a new one).
    pub fn replica_id(&self) -> Result<[u8; 16]> {
        let v: Vec<u8> = self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = 'replica_id'", [], |r| {
                    r.get(0)
                })?,
            )
        })?;
        <[u8; 16]>::try_from(v.as_slice()).map_err(|_| Error::Malformed("replica id".into()))
    }

    /// This device's signing key, created on first use and kept sealed in the store.
    pub fn device_key(&self) -> Result<DeviceKey> {
        if let Some(pkcs8) = self.state_get(DEVICE_KEY)? {
            return DeviceKey::from_pkcs8(&pkcs8);
        }
        let key = DeviceKey::generate()?;
        let sealer = self.sealer();
        self.write(|tx| {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM sync_state WHERE key = ?1",
                    [DEVICE_KEY],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                Self::state_put(tx, sealer, DEVICE_KEY, key.pkcs8())?;
            }
            Ok(())
        })?;
        // Another thread may have won the race: return what is stored.
        let pkcs8 = self
            .state_get(DEVICE_KEY)?
            .ok_or_else(|| Error::Malformed("device key vanished".into()))?;
        DeviceKey::from_pkcs8(&pkcs8)
    }

    /// The enrolment identity, if the device is enrolled.
    pub fn sync_identity(&self) -> Result<Option<SyncIdentity>> {
        match self.state_get(IDENTITY)? {
            None => Ok(None),
            Some(j) => serde_json::from_slice(&j)
                .map(Some)
                .map_err(|_| Error::Malformed("sync identity".into())),
        }
    }

    /// Record the enrolment identity. Re-enrolling with another server or tenant clears
    /// the cursors and epoch (the next sync starts from the beginning).
    pub fn set_sync_identity(&self, ident: &SyncIdentity) -> Result<()> {
        let old = self.sync_identity()?;
        let json =
            serde_json::to_vec(ident).map_err(|_| Error::Malformed("sync identity".into()))?;
        let sealer = self.sealer();
        let moved = old.is_some_and(|o| o.tenant != ident.tenant || o.server != ident.server);
        self.write(|tx| {
            Self::state_put(tx, sealer, IDENTITY, &json)?;
            if moved {
                tx.execute("DELETE FROM sync_cursors", [])?;
                tx.execute("DELETE FROM sync_state WHERE key = ?1", [EPOCH])?;
            }
            Ok(())
        })
    }

    /// The server epoch the cursors belong to, and the cursors.
    pub fn sync_cursors(&self) -> Result<Cursors> {
        let epoch = match self.state_get(EPOCH)? {
            Some(e) => {
                <[u8; 16]>::try_from(e.as_slice()).map_err(|_| Error::Malformed("epoch".into()))?
            }
            None => [0; 16],
        };
        let rows: Vec<(String, i64)> = self.read(|c| {
            let mut st = c.prepare("SELECT scope, position FROM sync_cursors ORDER BY scope")?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })?;
        let cursors = rows
            .into_iter()
            .map(|(s, p)| Ok((Scope::new(s)?, u64::try_from(p).unwrap_or(0))))
            .collect::<Result<_>>()?;
        Ok((epoch, cursors))
    }

    /// Move cursors forward (never back) and record the epoch.
    pub fn set_sync_cursors(&self, epoch: [u8; 16], cursors: &[(Scope, u64)]) -> Result<()> {
        let sealer = self.sealer();
        self.write(|tx| {
            Self::state_put(tx, sealer, EPOCH, &epoch)?;
            let mut st = tx.prepare_cached(
                "INSERT INTO sync_cursors (scope, position) VALUES (?1, ?2)
                 ON CONFLICT(scope) DO UPDATE SET position = max(position, excluded.position)",
            )?;
            for (s, p) in cursors {
                st.execute(params![s.as_str(), i64::try_from(*p).unwrap_or(i64::MAX)])?;
            }
            Ok(())
        })
    }

    /// Replace every cursor (after repair, or when the server's epoch changed).
    pub fn reset_sync_cursors(&self, epoch: [u8; 16], cursors: &[(Scope, u64)]) -> Result<()> {
        let sealer = self.sealer();
        self.write(|tx| {
            tx.execute("DELETE FROM sync_cursors", [])?;
            Self::state_put(tx, sealer, EPOCH, &epoch)?;
            let mut st =
                tx.prepare_cached("INSERT INTO sync_cursors (scope, position) VALUES (?1, ?2)")?;
            for (s, p) in cursors {
                st.execute(params![s.as_str(), i64::try_from(*p).unwrap_or(i64::MAX)])?;
            }
            Ok(())
        })
    }

    /// Every document's id, kind, scope and heads (not quarantined ones).
    pub fn all_heads(&self) -> Result<Vec<DocHeadsRow>> {
        type Row = (Vec<u8>, i64, Vec<u8>, Vec<u8>);
        let rows: Vec<Row> = self.read(|c| {
            let mut st = c.prepare(
                "SELECT id, kind, scope, heads FROM documents WHERE quarantine IS NULL ORDER BY id",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        super::changelog::text_bytes(r, 2)?,
                        r.get(3)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, k, s, h) in rows {
            let Some(id) = DocId::from_slice(&id) else {
                continue;
            };
            let kind = u8::try_from(k).ok().and_then(Kind::from_code);
            let scope = super::changelog::stored_scope(s);
            let heads = crate::doc::decode_heads(&h).ok();
            match (kind, scope, heads) {
                (Some(kind), Some(scope), Some(heads)) => out.push((id, kind, scope, heads)),
                // A damaged row is quarantined and left out; repair fetches it again.
                _ => self.quarantine(id, "document row failed verification")?,
            }
        }
        Ok(out)
    }

    /// The next Automerge sync message for document `id` (an absent document syncs as
    /// empty). `None`: nothing to send. Always V1 messages (one change per chunk), so
    /// every change received is checked like any other.
    pub fn sync_generate(&self, id: DocId, state: &mut SyncState) -> Result<Option<Vec<u8>>> {
        state.their_capabilities = None;
        let make_msg = |doc: &automerge::Automerge, state: &mut SyncState| {
            doc.generate_sync_message(state).map(Message::encode)
        };
        match self.with_doc(id, |l| Ok(make_msg(l.doc.document(), state))) {
            Ok(m) => Ok(m),
            Err(Error::NotFound { .. }) => Ok(make_msg(&automerge::Automerge::new(), state)),
            Err(e) => Err(e),
        }
    }

    /// Receive an Automerge sync message for `id`: its changes are checked and stored
    /// like any received change (creating the document if new), then the sync state
    /// learns the peer's heads and needs.
    pub fn sync_receive(
        &self,
        id: DocId,
        kind: Kind,
        scope: &Scope,
        state: &mut SyncState,
        message: &[u8],
        acked: bool,
    ) -> Result<ApplyOutcome> {
        if message.len() > MAX_FRAME {
            return Err(Error::TooLarge {
                what: "sync message",
                size: message.len(),
                limit: MAX_FRAME,
            });
        }
        let mut msg = guarded("decode sync message", || {
            Message::decode(message).map_err(|e| Error::Malformed(format!("sync message: {e}")))
        })?;
        let changes: Vec<Vec<u8>> = msg.changes.iter().map(<[u8]>::to_vec).collect();
        for c in &changes {
            parse_change(c)?;
        }
        let outcome = if changes.is_empty() {
            ApplyOutcome::default()
        } else {
            self.apply_changes(id, kind, scope, &changes, acked)?
        };
        msg.changes = automerge::sync::ChunkList::empty();
        let recv = |doc: &mut automerge::AutoCommit, state: &mut SyncState| {
            guarded("receive sync message", || {
                Ok(doc.sync().receive_sync_message(state, msg.clone())?)
            })
        };
        match self.with_doc(id, |l| recv(&mut l.doc, state)) {
            Ok(()) => {}
            Err(Error::NotFound { .. }) => recv(&mut automerge::AutoCommit::new(), state)?,
            Err(e) => return Err(e),
        }
        state.their_capabilities = None;
        Ok(outcome)
    }
}
