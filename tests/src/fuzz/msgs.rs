//! Structured protocol messages for the harnesses: every variant of [`ClientMsg`] and
//! [`ServerMsg`], their fields drawn from the fuzz input and their change bytes and
//! sync messages from the [`pool`](super::pool) (whole or mutated).

use arbitrary::{Result, Unstructured};
use fieldsync_core::sync::wire::*;
use serde_bytes::ByteBuf;

use super::pool::{self, Pool};

fn bytebuf(u: &mut Unstructured<'_>) -> Result<ByteBuf> {
    Ok(ByteBuf::from(u.arbitrary::<Vec<u8>>()?))
}

fn string(u: &mut Unstructured<'_>) -> Result<String> {
    u.arbitrary()
}

/// Changes of up to four documents, mostly real.
pub fn doc_changes(u: &mut Unstructured<'_>, p: &Pool) -> Result<Vec<DocChanges>> {
    let n = u.int_in_range(0u8..=4)?;
    let mut docs = Vec::new();
    for _ in 0..n {
        let d = pool::pick_doc(u, p)?;
        let honest = u.ratio(2u8, 3u8)?;
        let changes = if honest {
            d.changes.iter().cloned().map(ByteBuf::from).collect()
        } else {
            let k = u.int_in_range(0u8..=3)?;
            (0..k)
                .map(|_| pool::change(u, p).map(ByteBuf::from))
                .collect::<Result<_>>()?
        };
        docs.push(DocChanges {
            id: if honest { d.id } else { pool::id(u, p)? },
            kind: if honest { d.kind } else { pool::kind(u)? },
            scope: pool::scope(u)?,
            changes,
        });
    }
    Ok(docs)
}

/// Cursors over known scopes.
pub fn cursors(u: &mut Unstructured<'_>) -> Result<Vec<Cursor>> {
    let n = u.int_in_range(0u8..=3)?;
    (0..n)
        .map(|_| {
            Ok(Cursor {
                scope: pool::scope(u)?,
                position: if u.arbitrary()? {
                    u.int_in_range(0u64..=64)?
                } else {
                    u.arbitrary()?
                },
            })
        })
        .collect()
}

fn doc_sync(u: &mut Unstructured<'_>, p: &Pool) -> Result<DocSync> {
    let message = if u.ratio(1u8, 6u8)? {
        Vec::new()
    } else {
        let m = u.choose(&p.sync_msgs)?;
        pool::mutate(u, m)?
    };
    Ok(DocSync {
        id: pool::id(u, p)?,
        kind: pool::kind(u)?,
        scope: pool::scope(u)?,
        message: ByteBuf::from(message),
    })
}

/// One client message. `hello` is a valid `Hello` for the harness's server world.
pub fn client_msg(u: &mut Unstructured<'_>, p: &Pool, hello: Option<&Hello>) -> Result<ClientMsg> {
    Ok(match u.int_in_range(0u8..=8)? {
        0 => match hello {
            Some(h) if u.ratio(3u8, 4u8)? => ClientMsg::Hello(h.clone()),
            _ => ClientMsg::Hello(Hello {
                protocol: u.arbitrary()?,
                device_id: match hello {
                    Some(h) if u.arbitrary()? => h.device_id.clone(),
                    _ => string(u)?,
                },
                replica: u.arbitrary()?,
                proof: bytebuf(u)?,
            }),
        },
        1 => ClientMsg::Enrol(Enrol {
            protocol: if u.arbitrary()? {
                PROTOCOL_VERSION
            } else {
                u.arbitrary()?
            },
            code: string(u)?,
            device_id: string(u)?,
            public_key: bytebuf(u)?,
            device_name: string(u)?,
            replica: u.arbitrary()?,
        }),
        2 | 3 => ClientMsg::Push(Push {
            batch: u.arbitrary()?,
            docs: doc_changes(u, p)?,
        }),
        4 => ClientMsg::Pull(Pull {
            epoch: u.arbitrary()?,
            cursors: cursors(u)?,
            max_bytes: u.arbitrary()?,
        }),
        5 => {
            let n = u.int_in_range(0u8..=4)?;
            let mut docs = Vec::new();
            for _ in 0..n {
                let d = pool::pick_doc(u, p)?;
                let heads = if u.ratio(3u8, 4u8)? {
                    d.heads.clone()
                } else {
                    u.arbitrary()?
                };
                docs.push(DocHeads {
                    id: d.id,
                    kind: d.kind,
                    scope: pool::scope(u)?,
                    heads,
                });
            }
            ClientMsg::RepairHeads(RepairHeads {
                docs,
                last: u.ratio(3u8, 4u8)?,
            })
        }
        6 => ClientMsg::RepairSync(doc_sync(u, p)?),
        7 => ClientMsg::Subscribe,
        _ => ClientMsg::Bye,
    })
}

fn reject_reason(u: &mut Unstructured<'_>) -> Result<RejectReason> {
    Ok(*u.choose(&[
        RejectReason::Forbidden,
        RejectReason::ScopeMismatch,
        RejectReason::UnknownScope,
        RejectReason::Malformed,
        RejectReason::TooLarge,
        RejectReason::MissingDeps,
        RejectReason::Quarantined,
    ])?)
}

/// One server message. `batches` bounds the batch numbers acknowledged (a device's
/// session numbers its pushes from 1).
pub fn server_msg(u: &mut Unstructured<'_>, p: &Pool, batches: u32) -> Result<ServerMsg> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => ServerMsg::Welcome(Welcome {
            tenant: string(u)?,
            user_id: string(u)?,
            epoch: u.arbitrary()?,
            server_time: u.arbitrary()?,
            scopes: {
                let n = u.int_in_range(0u8..=3)?;
                (0..n)
                    .map(|_| {
                        Ok(ScopeGrant {
                            scope: pool::scope(u)?,
                            read: u.arbitrary()?,
                            write: u.arbitrary()?,
                        })
                    })
                    .collect::<Result<_>>()?
            },
        }),
        1 => ServerMsg::Enrolled(Enrolled {
            device_id: string(u)?,
            tenant: string(u)?,
            user_id: string(u)?,
        }),
        2 => {
            let n = u.int_in_range(0u8..=3)?;
            let mut rejected = Vec::new();
            for _ in 0..n {
                rejected.push(Rejected {
                    doc: pool::id(u, p)?,
                    hash: u.arbitrary()?,
                    index: u.int_in_range(0u32..=8)?,
                    reason: reject_reason(u)?,
                });
            }
            ServerMsg::PushAck(PushAck {
                batch: if u.ratio(3u8, 4u8)? {
                    u.int_in_range(0..=batches.max(1))?
                } else {
                    u.arbitrary()?
                },
                accepted: u.int_in_range(0u32..=16)?,
                duplicates: u.int_in_range(0u32..=16)?,
                rejected,
            })
        }
        3 | 4 => ServerMsg::PullBatch(PullBatch {
            docs: doc_changes(u, p)?,
            actors: {
                let n = u.int_in_range(0u8..=2)?;
                (0..n)
                    .map(|_| {
                        Ok(ActorInfo {
                            actor: bytebuf(u)?,
                            device: string(u)?,
                            user: string(u)?,
                        })
                    })
                    .collect::<Result<_>>()?
            },
            cursors: cursors(u)?,
            more: u.arbitrary()?,
        }),
        5 => ServerMsg::RepairNeeded(RepairNeeded {
            reason: *u.choose(&[
                RepairReason::EpochChanged,
                RepairReason::NewReplica,
                RepairReason::Requested,
            ])?,
        }),
        6 => ServerMsg::RepairPlan(RepairPlan {
            reconcile: {
                let n = u.int_in_range(0u8..=3)?;
                (0..n).map(|_| pool::id(u, p)).collect::<Result<_>>()?
            },
            cursors: cursors(u)?,
            epoch: u.arbitrary()?,
        }),
        7 => ServerMsg::RepairSync(doc_sync(u, p)?),
        8 => {
            if u.arbitrary()? {
                ServerMsg::ScopesChanged(ScopesChanged {
                    scopes: vec![pool::scope(u)?],
                    position: u.arbitrary()?,
                })
            } else {
                ServerMsg::Error(ErrorMsg {
                    code: *u.choose(&[
                        ErrorCode::Unauthorized,
                        ErrorCode::BadEnrolmentCode,
                        ErrorCode::UnsupportedVersion,
                        ErrorCode::Protocol,
                        ErrorCode::Busy,
                        ErrorCode::Internal,
                    ])?,
                    message: string(u)?,
                })
            }
        }
        _ => ServerMsg::Done,
    })
}
