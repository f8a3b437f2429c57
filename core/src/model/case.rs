//! Cases: complaints and their closed loop. The person who first receives a complaint
//! owns it until it is closed; every stage has a time limit; closing records a root
//! cause.
//!
//! ```text
//! received -> classified -> dispatched -> handled -> reported -> followed_up -> closed
//!                      \______________/^        \-> dispatched (re-dispatch)
//!                  (resolved at first contact)       reported -> closed (no follow-up possible)
//! ```

use autosurgeon::{Hydrate, Reconcile, Text};

use super::common::check_score_of_ten;
use super::{Record, RecordContext, check_doc_ref, require_text};
use crate::error::{Error, ValidationError};
use crate::ids::{Kind, Timestamp};

/// Complaint category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum CaseCategory {
    /// Service.
    Service,
    /// Network.
    Network,
    /// Billing and fees.
    Billing,
    /// Marketing and promotions.
    Marketing,
}

impl CaseCategory {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseCategory::Service => "service",
            CaseCategory::Network => "network",
            CaseCategory::Billing => "billing",
            CaseCategory::Marketing => "marketing",
        }
    }
}

/// Severity; sets the time limits of every stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Reconcile, Hydrate)]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Stages of the closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Reconcile, Hydrate)]
pub enum CaseStage {
    /// Taken from the customer.
    Received,
    /// Category and severity set.
    Classified,
    /// Ticket sent to a department.
    Dispatched,
    /// The department has handled it.
    Handled,
    /// The result was reported to the customer.
    Reported,
    /// A follow-up call or visit took a new satisfaction score.
    FollowedUp,
    /// Closed with a root cause.
    Closed,
}

const HOUR: i64 = 3_600_000;

impl CaseStage {
    /// Every stage, in loop order.
    pub const ALL: [CaseStage; 7] = [
        CaseStage::Received,
        CaseStage::Classified,
        CaseStage::Dispatched,
        CaseStage::Handled,
        CaseStage::Reported,
        CaseStage::FollowedUp,
        CaseStage::Closed,
    ];

    /// Parse the stable name.
    pub fn parse(s: &str) -> Option<CaseStage> {
        CaseStage::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStage::Received => "received",
            CaseStage::Classified => "classified",
            CaseStage::Dispatched => "dispatched",
            CaseStage::Handled => "handled",
            CaseStage::Reported => "reported",
            CaseStage::FollowedUp => "followed_up",
            CaseStage::Closed => "closed",
        }
    }

    /// Whether moving from `self` to `to` is a legal step.
    pub fn can_move_to(self, to: CaseStage) -> bool {
        use CaseStage::*;
        matches!(
            (self, to),
            (Received, Classified)
                | (Classified, Dispatched)
                | (Classified, Handled)
                | (Dispatched, Handled)
                | (Handled, Dispatched)
                | (Handled, Reported)
                | (Reported, FollowedUp)
                | (Reported, Closed)
                | (FollowedUp, Closed)
        )
    }

    /// How long a case may stay in this stage, by severity; `None` once closed.
    pub fn time_limit_ms(self, severity: Severity) -> Option<i64> {
        let base_hours = match self {
            CaseStage::Received => 2,
            CaseStage::Classified => 4,
            CaseStage::Dispatched => 48,
            CaseStage::Handled => 8,
            CaseStage::Reported => 72,
            CaseStage::FollowedUp => 24,
            CaseStage::Closed => return None,
        };
        let factor = match severity {
            Severity::Critical => 1,
            Severity::High => 2,
            Severity::Medium => 3,
            Severity::Low => 6,
        };
        Some(base_hours * factor * HOUR)
    }
}

/// A ticket sent to another department. The first-contact owner keeps the case.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Dispatch {
    /// Unique id.
    #[key]
    pub id: String,
    /// Technical, business, billing...
    pub department: String,
    /// The department's ticket reference.
    pub ticket: Option<String>,
    /// When.
    pub at: Timestamp,
    /// Who dispatched.
    pub by: String,
}

/// One stage change.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct StageEntry {
    /// Unique id.
    #[key]
    pub id: String,
    /// The stage entered.
    pub stage: CaseStage,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub by: String,
}

/// A complaint and its handling.
#[derive(Debug, Clone, Reconcile, Hydrate)]
pub struct Case {
    /// The account, for enterprise complaints.
    pub account_id: Option<String>,
    /// The operator's customer id (repeat complaints are counted on it).
    pub customer_id: String,
    /// Category.
    pub category: CaseCategory,
    /// Severity.
    pub severity: Severity,
    /// Current stage.
    pub stage: CaseStage,
    /// Who first received it; owns it until closed.
    pub first_contact_owner: String,
    /// When it was received.
    pub received_at: Timestamp,
    /// When the current stage must be left by.
    pub stage_deadline: Option<Timestamp>,
    /// First response to the customer.
    pub first_response_at: Option<Timestamp>,
    /// What the customer said.
    pub description: Text,
    /// Dispatch history.
    pub dispatches: Vec<Dispatch>,
    /// Resolution reported to the customer.
    pub resolution: Option<String>,
    /// Satisfaction at follow-up, 1–10.
    pub follow_up_score: Option<i64>,
    /// Root cause, required to close.
    pub root_cause: Option<String>,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
    /// Every stage change.
    pub stage_log: Vec<StageEntry>,
    /// The response or visit this case came from, if any.
    pub source_id: Option<String>,
}

impl PartialEq for Case {
    fn eq(&self, o: &Self) -> bool {
        self.account_id == o.account_id
            && self.customer_id == o.customer_id
            && self.category == o.category
            && self.severity == o.severity
            && self.stage == o.stage
            && self.first_contact_owner == o.first_contact_owner
            && self.received_at == o.received_at
            && self.stage_deadline == o.stage_deadline
            && self.first_response_at == o.first_response_at
            && self.description.as_str() == o.description.as_str()
            && self.dispatches == o.dispatches
            && self.resolution == o.resolution
            && self.follow_up_score == o.follow_up_score
            && self.root_cause == o.root_cause
            && self.closed_at == o.closed_at
            && self.stage_log == o.stage_log
            && self.source_id == o.source_id
    }
}

impl Case {
    /// A newly received complaint, with its first deadline set.
    pub fn received(
        customer_id: impl Into<String>,
        category: CaseCategory,
        severity: Severity,
        owner: impl Into<String>,
        at: Timestamp,
        description: &str,
    ) -> Case {
        let owner = owner.into();
        Case {
            account_id: None,
            customer_id: customer_id.into(),
            category,
            severity,
            stage: CaseStage::Received,
            first_contact_owner: owner.clone(),
            received_at: at,
            stage_deadline: CaseStage::Received.time_limit_ms(severity).map(|l| at + l),
            first_response_at: None,
            description: Text::with_value(description),
            dispatches: Vec::new(),
            resolution: None,
            follow_up_score: None,
            root_cause: None,
            closed_at: None,
            stage_log: vec![StageEntry {
                id: format!("{at}-received"),
                stage: CaseStage::Received,
                at,
                by: owner,
            }],
            source_id: None,
        }
    }

    /// Move to `to`: sets the stage, its deadline, the log entry and, when closing, the
    /// close time. Legality is checked when the store validates the write.
    pub fn advance(&mut self, to: CaseStage, by: &str, at: Timestamp) {
        self.stage = to;
        self.stage_deadline = to.time_limit_ms(self.severity).map(|l| at + l);
        if self.first_response_at.is_none() && to != CaseStage::Received {
            self.first_response_at = Some(at);
        }
        if to == CaseStage::Closed {
            self.closed_at = Some(at);
        }
        self.stage_log.push(StageEntry {
            id: format!("{at}-{}-{}", to.as_str(), self.stage_log.len()),
            stage: to,
            at,
            by: by.to_string(),
        });
    }

    /// Past its stage deadline at `now` (closed cases never are).
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.stage != CaseStage::Closed && self.stage_deadline.is_some_and(|d| d < now)
    }

    /// Resolved without dispatching to another department.
    pub fn resolved_at_first_contact(&self) -> bool {
        matches!(
            self.stage,
            CaseStage::Handled | CaseStage::Reported | CaseStage::FollowedUp | CaseStage::Closed
        ) && self.dispatches.is_empty()
    }
}

impl Record for Case {
    const KIND: Kind = Kind::Case;

    fn validate(&self, before: Option<&Self>, _ctx: &dyn RecordContext) -> Result<(), Error> {
        require_text("customer_id", &self.customer_id)?;
        require_text("first_contact_owner", &self.first_contact_owner)?;
        if let Some(a) = &self.account_id {
            check_doc_ref("account_id", a)?;
        }
        match before {
            None => {
                if self.stage != CaseStage::Received {
                    return Err(ValidationError::new(
                        "stage",
                        "illegal_transition",
                        "a case starts as received",
                    )
                    .into());
                }
            }
            Some(b) => {
                if b.first_contact_owner != self.first_contact_owner {
                    return Err(ValidationError::new(
                        "first_contact_owner",
                        "immutable",
                        "the first-contact owner keeps the case until it closes",
                    )
                    .into());
                }
                if b.stage == CaseStage::Closed && self.stage == CaseStage::Closed && b != self {
                    return Err(ValidationError::new(
                        "stage",
                        "closed",
                        "a closed case cannot change; open a new one",
                    )
                    .into());
                }
                if b.stage != self.stage && !b.stage.can_move_to(self.stage) {
                    return Err(ValidationError::new(
                        "stage",
                        "illegal_transition",
                        format!(
                            "cannot move from {} to {}",
                            b.stage.as_str(),
                            self.stage.as_str()
                        ),
                    )
                    .into());
                }
            }
        }
        if self.stage == CaseStage::Dispatched && self.dispatches.is_empty() {
            return Err(ValidationError::new(
                "dispatches",
                "required",
                "a dispatched case names the department",
            )
            .into());
        }
        if matches!(
            self.stage,
            CaseStage::Reported | CaseStage::FollowedUp | CaseStage::Closed
        ) && self
            .resolution
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
        {
            return Err(ValidationError::new(
                "resolution",
                "required",
                "report the resolution first",
            )
            .into());
        }
        if self.stage == CaseStage::FollowedUp && self.follow_up_score.is_none() {
            return Err(ValidationError::new(
                "follow_up_score",
                "required",
                "a follow-up records a score",
            )
            .into());
        }
        if let Some(s) = self.follow_up_score {
            check_score_of_ten("follow_up_score", s)?;
        }
        if self.stage == CaseStage::Closed
            && self
                .root_cause
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
        {
            return Err(ValidationError::new(
                "root_cause",
                "required",
                "a case closes with its root cause",
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_table() {
        use CaseStage::*;
        let all = [
            Received, Classified, Dispatched, Handled, Reported, FollowedUp, Closed,
        ];
        let legal: Vec<_> = all
            .iter()
            .flat_map(|a| all.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.can_move_to(*b))
            .collect();
        assert_eq!(legal.len(), 9);
        assert!(!Closed.can_move_to(Received));
        assert!(!Received.can_move_to(Closed));
        assert!(Classified.can_move_to(Handled), "first-contact resolution");
    }

    #[test]
    fn deadlines_scale_with_severity() {
        let c = CaseStage::Received
            .time_limit_ms(Severity::Critical)
            .unwrap();
        let l = CaseStage::Received.time_limit_ms(Severity::Low).unwrap();
        assert!(l > c);
        assert_eq!(CaseStage::Closed.time_limit_ms(Severity::Low), None);
        let mut case = Case::received("c1", CaseCategory::Network, Severity::High, "u1", 0, "x");
        assert!(!case.is_overdue(1));
        assert!(case.is_overdue(10 * HOUR));
        case.advance(CaseStage::Classified, "u1", 5);
        assert_eq!(case.first_response_at, Some(5));
        assert_eq!(case.stage_log.len(), 2);
    }
}
