//! Projection rows: the few plaintext columns lists and filters need, per kind, plus a
//! sealed summary of display fields. Written in the same transaction as the change that
//! produced them, so a change is never on disk without its projection or the reverse.

use automerge::AutoCommit;
use autosurgeon::hydrate;
use rusqlite::{Transaction, params};
use serde::{Deserialize, Serialize};

use crate::crypto::{Sealer, row_aad};
use crate::error::{Error, Result};
use crate::ids::{DocId, Kind};
use crate::model::{Account, BlobRefs, Case, Form, Response, Visit};

/// Writes the projection rows of one document inside the write transaction.
pub struct Projector<'a> {
    tx: &'a Transaction<'a>,
    sealer: &'a Sealer,
    id: DocId,
    /// The document was created in this transaction: it has no rows to replace.
    fresh: bool,
}

impl<'a> Projector<'a> {
    pub(crate) fn new(tx: &'a Transaction<'a>, sealer: &'a Sealer, id: DocId) -> Self {
        Projector {
            tx,
            sealer,
            id,
            fresh: false,
        }
    }

    /// For a document whose `documents` row this transaction inserted: no projection
    /// row can exist yet (every one references that row), so nothing is deleted first.
    pub(crate) fn new_document(tx: &'a Transaction<'a>, sealer: &'a Sealer, id: DocId) -> Self {
        Projector {
            fresh: true,
            ..Projector::new(tx, sealer, id)
        }
    }

    /// Delete this document's rows from a child table (`sql` takes the id as `?1`),
    /// unless the document is new.
    fn clear_rows(&self, sql: &str) -> Result<()> {
        if !self.fresh {
            self.tx.prepare_cached(sql)?.execute([self.idb()])?;
        }
        Ok(())
    }

    /// Replace this document's rows in `blob_refs` (the blobs it references: what lazy
    /// download fetches and what the server's fetch authorisation reads).
    fn blob_refs<R: BlobRefs>(&self, r: &R) -> Result<()> {
        self.clear_rows("DELETE FROM blob_refs WHERE doc_id = ?1")?;
        let mut ins = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO blob_refs (hash, doc_id, size) VALUES (?1, ?2, ?3)",
        )?;
        for a in r.blob_refs() {
            // Shapes are validated on local writes; a remote reference that does not
            // parse references nothing fetchable.
            if let Ok(h) = a.hash() {
                ins.execute(params![&h[..], self.idb(), a.size])?;
            }
        }
        Ok(())
    }

    fn idb(&self) -> &[u8] {
        &self.id.as_bytes()[..]
    }

    fn seal<T: Serialize>(&self, table: &'static str, row: &[u8], v: &T) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(v).map_err(|_| Error::Malformed("summary".into()))?;
        self.sealer.seal(&summary_aad(table, self.id, row), &json)
    }
}

pub(crate) fn summary_aad(table: &'static str, id: DocId, row: &[u8]) -> Vec<u8> {
    row_aad(table, &id.as_bytes()[..], row)
}

/// A record kind that can write its projection rows.
pub trait Projectable {
    /// Replace this document's rows in the projection tables.
    fn project(&self, p: &mut Projector<'_>) -> Result<()>;
}

/// Sealed display fields of a form.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FormSummary {
    pub title: String,
    pub questions: usize,
}

/// Sealed display fields of a response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ResponseSummary {
    pub respondent_name: Option<String>,
    pub customer_id: Option<String>,
}

/// Sealed display fields of an account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AccountSummary {
    pub name: String,
    pub industry: Option<String>,
}

/// Sealed display fields of a visit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct VisitSummary {
    pub purpose: String,
    pub open_commitments: usize,
}

/// Sealed display fields of a commitment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CommitmentSummary {
    pub description: String,
}

/// Sealed display fields of a case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CaseSummary {
    pub resolution: Option<String>,
    pub dispatches: usize,
}

impl Projectable for Form {
    fn project(&self, p: &mut Projector<'_>) -> Result<()> {
        let summary = p.seal(
            "forms",
            b"",
            &FormSummary {
                title: self.title.clone(),
                questions: self.questions.len(),
            },
        )?;
        p.tx.prepare_cached(
            "INSERT OR REPLACE INTO forms (doc_id, form_key, version, published, summary)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            p.idb(),
            self.form_key,
            self.version,
            self.published,
            summary
        ])?;
        Ok(())
    }
}

impl Projectable for Response {
    fn project(&self, p: &mut Projector<'_>) -> Result<()> {
        let summary = p.seal(
            "responses",
            b"",
            &ResponseSummary {
                respondent_name: self.respondent.name.clone(),
                customer_id: self.respondent.customer_id.clone(),
            },
        )?;
        let form_id = self
            .form_id
            .parse::<DocId>()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        let seg = &self.respondent.segment;
        p.tx.prepare_cached(
            "INSERT OR REPLACE INTO responses (doc_id, form_id, form_version, status, region, segment,
                value_tier, core, overall, band, started_at, completed_at, enumerator, summary,
                customer_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?
        .execute(params![
            p.idb(),
            form_id,
            self.form_version,
            self.status.as_str(),
            self.region,
            seg.kind.as_str(),
            seg.value_tier.map(|v| v.as_str()),
            seg.core,
            self.overall(),
            self.band().map(|b| b.as_str()),
            self.started_at,
            self.completed_at,
            self.enumerator,
            summary,
            self.respondent.customer_id
        ])?;
        p.clear_rows("DELETE FROM response_regions WHERE doc_id = ?1")?;
        let mut reg = p.tx.prepare_cached(
            "INSERT OR IGNORE INTO response_regions (prefix, doc_id, band, started_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let band = self.band().map(|b| b.as_str());
        for prefix in region_prefixes(&self.region) {
            reg.execute(params![prefix, p.idb(), band, self.started_at])?;
        }
        p.clear_rows("DELETE FROM response_scores WHERE doc_id = ?1")?;
        let mut ins = p.tx.prepare_cached(
            "INSERT INTO response_scores (doc_id, question_id, dimension, value, normalized, band)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (qid, s) in self.scores() {
            ins.execute(params![
                p.idb(),
                qid,
                s.dimension.map(|d| d.as_str()),
                s.value,
                s.normalized(),
                s.band().as_str()
            ])?;
        }
        p.blob_refs(self)?;
        Ok(())
    }
}

/// `a/b/c` -> `a`, `a/b`, `a/b/c` (the same prefixes migration 3 computes in SQL).
pub(crate) fn region_prefixes(region: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut acc = String::new();
    for (i, part) in region.split('/').enumerate() {
        if i > 0 {
            acc.push('/');
        }
        acc.push_str(part);
        out.push(acc.clone());
    }
    out
}

impl Projectable for Account {
    fn project(&self, p: &mut Projector<'_>) -> Result<()> {
        let summary = p.seal(
            "accounts",
            b"",
            &AccountSummary {
                name: self.name.clone(),
                industry: self.industry.clone(),
            },
        )?;
        p.tx.prepare_cached(
            "INSERT OR REPLACE INTO accounts (doc_id, region, segment, value_tier, core, owner, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            p.idb(),
            self.region,
            self.segment.as_str(),
            self.value_tier.map(|v| v.as_str()),
            self.core,
            self.owner,
            summary
        ])?;
        p.clear_rows("DELETE FROM account_owners WHERE doc_id = ?1")?;
        let mut ins = p.tx.prepare_cached(
            "INSERT OR IGNORE INTO account_owners (user_id, doc_id) VALUES (?1, ?2)",
        )?;
        for u in std::iter::once(&self.owner).chain(self.co_owners.iter()) {
            ins.execute(params![u, p.idb()])?;
        }
        Ok(())
    }
}

impl Projectable for Visit {
    fn project(&self, p: &mut Projector<'_>) -> Result<()> {
        let open = self
            .commitments
            .iter()
            .filter(|c| c.done_at.is_none())
            .count();
        let summary = p.seal(
            "visits",
            b"",
            &VisitSummary {
                purpose: self.purpose.clone(),
                open_commitments: open,
            },
        )?;
        let account = self
            .account_id
            .parse::<DocId>()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        p.tx.prepare_cached(
            "INSERT OR REPLACE INTO visits (doc_id, account_id, owner, planned_at, checked_in_at,
                checked_out_at, cancelled, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            p.idb(),
            account,
            self.owner,
            self.planned_at,
            self.check_in.map(|c| c.at),
            self.check_out.map(|c| c.at),
            self.cancelled,
            summary
        ])?;
        p.blob_refs(self)?;
        p.clear_rows("DELETE FROM commitments WHERE visit_id = ?1")?;
        let mut ins = p.tx.prepare_cached(
            "INSERT OR REPLACE INTO commitments (visit_id, commitment_id, account_id, owner, due_at,
                done_at, refund, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for c in &self.commitments {
            let s = p.seal(
                "commitments",
                c.id.as_bytes(),
                &CommitmentSummary {
                    description: c.description.clone(),
                },
            )?;
            ins.execute(params![
                p.idb(),
                c.id,
                account,
                c.owner,
                c.due_at,
                c.done_at,
                c.refund,
                s
            ])?;
        }
        Ok(())
    }
}

impl Projectable for Case {
    fn project(&self, p: &mut Projector<'_>) -> Result<()> {
        let summary = p.seal(
            "cases",
            b"",
            &CaseSummary {
                resolution: self.resolution.clone(),
                dispatches: self.dispatches.len(),
            },
        )?;
        let account = self
            .account_id
            .as_deref()
            .and_then(|a| a.parse::<DocId>().ok())
            .map(|d| d.as_bytes().to_vec());
        p.tx.prepare_cached(
            "INSERT OR REPLACE INTO cases (doc_id, account_id, customer_id, category, severity, stage,
                owner, received_at, stage_deadline, closed_at, summary, first_response_at,
                dispatches, follow_up_score)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            p.idb(),
            account,
            self.customer_id,
            self.category.as_str(),
            self.severity.as_str(),
            self.stage.as_str(),
            self.first_contact_owner,
            self.received_at,
            self.stage_deadline,
            self.closed_at,
            summary,
            self.first_response_at,
            i64::try_from(self.dispatches.len()).unwrap_or(i64::MAX),
            self.follow_up_score
        ])?;
        Ok(())
    }
}

/// Remove every projection row of a document.
fn clear(tx: &Transaction<'_>, id: DocId, kind: Kind) -> Result<()> {
    let idb = &id.as_bytes()[..];
    let stmts: &[&str] = match kind {
        Kind::Form => &["DELETE FROM forms WHERE doc_id = ?1"],
        Kind::Response => &[
            "DELETE FROM responses WHERE doc_id = ?1",
            "DELETE FROM response_scores WHERE doc_id = ?1",
            "DELETE FROM response_regions WHERE doc_id = ?1",
            "DELETE FROM blob_refs WHERE doc_id = ?1",
        ],
        Kind::Account => &[
            "DELETE FROM accounts WHERE doc_id = ?1",
            "DELETE FROM account_owners WHERE doc_id = ?1",
        ],
        Kind::Visit => &[
            "DELETE FROM visits WHERE doc_id = ?1",
            "DELETE FROM commitments WHERE visit_id = ?1",
            "DELETE FROM blob_refs WHERE doc_id = ?1",
        ],
        Kind::Case => &["DELETE FROM cases WHERE doc_id = ?1"],
    };
    for s in stmts {
        tx.prepare_cached(s)?.execute([idb])?;
    }
    Ok(())
}

/// Project a document of any kind (after changes from another replica). A document
/// whose content does not fit its kind's shape keeps its data but loses its projection
/// rows, and the reason is recorded in `documents.shape_error`.
pub(crate) fn project_doc(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    id: DocId,
    kind: Kind,
    doc: &AutoCommit,
) -> Result<()> {
    let mut p = Projector::new(tx, sealer, id);
    let result = match kind {
        Kind::Form => hydrate::<_, Form>(doc).map(|v| v.project(&mut p)),
        Kind::Response => hydrate::<_, Response>(doc).map(|v| v.project(&mut p)),
        Kind::Account => hydrate::<_, Account>(doc).map(|v| v.project(&mut p)),
        Kind::Visit => hydrate::<_, Visit>(doc).map(|v| v.project(&mut p)),
        Kind::Case => hydrate::<_, Case>(doc).map(|v| v.project(&mut p)),
    };
    let shape_error = match result {
        Ok(r) => {
            r?;
            None
        }
        Err(_) => {
            // Partial documents (e.g. only some changes arrived) are normal during sync.
            clear(tx, id, kind)?;
            Some("content does not match its kind")
        }
    };
    tx.prepare_cached("UPDATE documents SET shape_error = ?2 WHERE id = ?1")?
        .execute(params![&id.as_bytes()[..], shape_error])?;
    Ok(())
}
