//! Visits: one meeting of an account manager with an account: plan, check-in and
//! check-out, shared notes (Automerge text), scores per dimension, issues raised and
//! commitments tracked to done.

use autosurgeon::{Hydrate, Reconcile, Text};

use super::common::{GeoPoint, check_score_of_ten};
use super::response::AttachmentRef;
use super::{Record, RecordContext, check_doc_ref, require_text};
use crate::error::{Error, ValidationError};
use crate::ids::{Kind, Timestamp};

/// A check-in or check-out.
#[derive(Debug, Clone, Copy, PartialEq, Reconcile, Hydrate)]
pub struct CheckPoint {
    /// When.
    pub at: Timestamp,
    /// Where, if a fix was available.
    pub location: Option<GeoPoint>,
}

/// Satisfaction per dimension given during the visit, each 1–10.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct DimensionScores {
    /// Service.
    pub service: Option<i64>,
    /// Product.
    pub product: Option<i64>,
    /// Price.
    pub price: Option<i64>,
    /// Network quality.
    pub network: Option<i64>,
    /// Customer care.
    pub care: Option<i64>,
    /// Overall.
    pub overall: Option<i64>,
}

impl DimensionScores {
    /// (name, value) of every score given.
    pub fn given(&self) -> impl Iterator<Item = (&'static str, i64)> {
        [
            ("service", self.service),
            ("product", self.product),
            ("price", self.price),
            ("network", self.network),
            ("care", self.care),
            ("overall", self.overall),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
    }
}

/// A promise made during a visit.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Commitment {
    /// Unique id.
    #[key]
    pub id: String,
    /// What was promised.
    pub description: String,
    /// Who promised (user id).
    pub owner: String,
    /// Due by.
    pub due_at: Timestamp,
    /// When it was done.
    pub done_at: Option<Timestamp>,
    /// A refund or credit was promised; the back office must confirm it.
    pub refund: bool,
}

/// An issue the client raised.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct VisitIssue {
    /// Unique id.
    #[key]
    pub id: String,
    /// What.
    pub description: String,
    /// The case opened for it, if any.
    pub case_id: Option<String>,
}

/// One meeting with an account.
#[derive(Debug, Clone, Reconcile, Hydrate)]
pub struct Visit {
    /// The account visited (document id).
    pub account_id: String,
    /// The account manager (user id).
    pub owner: String,
    /// Purpose.
    pub purpose: String,
    /// Planned time.
    pub planned_at: Timestamp,
    /// Attendees (names or user ids).
    pub attendees: Vec<String>,
    /// Check-in.
    pub check_in: Option<CheckPoint>,
    /// Check-out.
    pub check_out: Option<CheckPoint>,
    /// Notes written during the meeting; several people may write at once.
    pub notes: Text,
    /// Scores per dimension.
    pub scores: DimensionScores,
    /// Issues raised.
    pub issues: Vec<VisitIssue>,
    /// Commitments made.
    pub commitments: Vec<Commitment>,
    /// Cancelled before it happened.
    pub cancelled: bool,
    /// Photos, signatures, voice notes and files attached to the visit, by content hash
    /// (the bytes are blobs outside the document). Added after visits shipped.
    #[autosurgeon(missing = "Default::default")]
    pub attachments: Vec<AttachmentRef>,
}

impl PartialEq for Visit {
    fn eq(&self, o: &Self) -> bool {
        self.account_id == o.account_id
            && self.owner == o.owner
            && self.purpose == o.purpose
            && self.planned_at == o.planned_at
            && self.attendees == o.attendees
            && self.check_in == o.check_in
            && self.check_out == o.check_out
            && self.notes.as_str() == o.notes.as_str()
            && self.scores == o.scores
            && self.issues == o.issues
            && self.commitments == o.commitments
            && self.cancelled == o.cancelled
            && self.attachments == o.attachments
    }
}

impl Record for Visit {
    const KIND: Kind = Kind::Visit;

    fn validate(&self, before: Option<&Self>, _ctx: &dyn RecordContext) -> Result<(), Error> {
        check_doc_ref("account_id", &self.account_id)?;
        if let Some(b) = before
            && b.account_id != self.account_id
        {
            return Err(ValidationError::new(
                "account_id",
                "immutable",
                "a visit cannot move to another account",
            )
            .into());
        }
        require_text("owner", &self.owner)?;
        for (name, v) in self.scores.given() {
            check_score_of_ten(&format!("scores.{name}"), v)?;
        }
        for (label, cp) in [("check_in", &self.check_in), ("check_out", &self.check_out)] {
            if let Some(l) = cp.as_ref().and_then(|c| c.location.as_ref()) {
                l.check(&format!("{label}.location"))?;
            }
        }
        match (&self.check_in, &self.check_out) {
            (None, Some(_)) => {
                return Err(ValidationError::new(
                    "check_out",
                    "no_check_in",
                    "check in before checking out",
                )
                .into());
            }
            (Some(i), Some(o)) if o.at < i.at => {
                return Err(ValidationError::new(
                    "check_out",
                    "before_check_in",
                    "check-out precedes check-in",
                )
                .into());
            }
            _ => {}
        }
        let mut ids = std::collections::HashSet::new();
        for (i, c) in self.commitments.iter().enumerate() {
            require_text(&format!("commitments[{i}].id"), &c.id)?;
            require_text(&format!("commitments[{i}].description"), &c.description)?;
            require_text(&format!("commitments[{i}].owner"), &c.owner)?;
            if !ids.insert(c.id.as_str()) {
                return Err(ValidationError::new(
                    format!("commitments[{i}].id"),
                    "duplicate",
                    "commitment ids must be unique",
                )
                .into());
            }
        }
        let mut hashes = std::collections::HashSet::new();
        for (i, a) in self.attachments.iter().enumerate() {
            a.check(&format!("attachments[{i}]"))?;
            if !hashes.insert(a.sha256.as_str()) {
                return Err(ValidationError::new(
                    format!("attachments[{i}].sha256"),
                    "duplicate",
                    "the same content is attached twice",
                )
                .into());
            }
        }
        for (i, x) in self.issues.iter().enumerate() {
            require_text(&format!("issues[{i}].id"), &x.id)?;
            if let Some(c) = &x.case_id {
                check_doc_ref(&format!("issues[{i}].case_id"), c)?;
            }
        }
        Ok(())
    }
}
