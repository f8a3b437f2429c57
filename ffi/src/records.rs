//! Records and enums that cross the boundary, and their conversions to and from the core
//! model. Conversions only: every rule lives in core.

use std::collections::HashMap;

use autosurgeon::Text;
use fieldsync_core::model as m;
use fieldsync_core::store as s;
use fieldsync_core::{DocId, Timestamp};

use crate::error::{FieldsyncError, Result};

pub(crate) fn parse_id(id: &str) -> Result<DocId> {
    id.parse::<DocId>()
        .map_err(|_| FieldsyncError::InvalidArgument {
            message: format!("not a record id: {id:?}"),
        })
}

pub(crate) fn parse_opt_id(id: &Option<String>) -> Result<Option<DocId>> {
    id.as_deref().map(parse_id).transpose()
}

macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident <-> $core:path { $($(#[$vdoc:meta])* $v:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name { $($(#[$vdoc])* $v),+ }
        impl From<$core> for $name {
            fn from(x: $core) -> Self { match x { $(<$core>::$v => $name::$v),+ } }
        }
        impl From<$name> for $core {
            fn from(x: $name) -> Self { match x { $($name::$v => <$core>::$v),+ } }
        }
    };
}

mirror_enum!(
    /// Satisfaction dimension.
    Dimension <-> m::Dimension {
    /// Attitude, speed, quality of service.
    Service,
    /// Features, innovation.
    Product,
    /// Tariffs, promotions, bills.
    Price,
    /// Coverage, speed, stability.
    Network,
    /// Care programmes, events.
    Care,
    /// Overall.
    Overall,
});
mirror_enum!(
    /// Individual, family or government/enterprise.
    SegmentKind <-> m::SegmentKind {
    /// A person.
    Individual,
    /// A household.
    Family,
    /// Government or enterprise.
    Enterprise,
});
mirror_enum!(
    /// Spend tier.
    ValueTier <-> m::ValueTier {
    /// High.
    High,
    /// Middle.
    Middle,
    /// Low.
    Low,
});
mirror_enum!(
    /// Where a response is in its life.
    ResponseStatus <-> m::ResponseStatus {
    /// Being filled in.
    Draft,
    /// Submitted.
    Complete,
    /// Approved by review.
    Approved,
    /// Rejected by review.
    Rejected,
    /// Review asked for a follow-up.
    NeedsFollowUp,
});
mirror_enum!(
    /// Complaint category.
    CaseCategory <-> m::CaseCategory {
    /// Service.
    Service,
    /// Network.
    Network,
    /// Billing and fees.
    Billing,
    /// Marketing and promotions.
    Marketing,
});
mirror_enum!(
    /// Complaint severity.
    Severity <-> m::Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
});
mirror_enum!(
    /// Stage of the closed loop.
    CaseStage <-> m::CaseStage {
    /// Received.
    Received,
    /// Classified.
    Classified,
    /// Dispatched to a department.
    Dispatched,
    /// Handled.
    Handled,
    /// Result reported to the customer.
    Reported,
    /// Followed up with a new score.
    FollowedUp,
    /// Closed with a root cause.
    Closed,
});
mirror_enum!(
    /// Element type: the XLSForm question types, groups and repeats.
    QuestionKind <-> m::QuestionKind {
    /// Free text.
    Text,
    /// Whole number.
    Integer,
    /// Decimal.
    Decimal,
    /// Satisfaction score.
    Score,
    /// One choice.
    SelectOne,
    /// Several choices.
    SelectMultiple,
    /// Date.
    Date,
    /// GPS point.
    GeoPoint,
    /// Display only.
    Note,
    /// A number on a scale.
    Range,
    /// Choices put in order.
    Rank,
    /// Time of day.
    Time,
    /// Date and time.
    DateTime,
    /// A line of GPS points.
    GeoTrace,
    /// A polygon of GPS points.
    GeoShape,
    /// Photo.
    Image,
    /// Recording.
    Audio,
    /// Video.
    Video,
    /// Any file.
    File,
    /// Barcode.
    Barcode,
    /// Acknowledgement.
    Acknowledge,
    /// Computed value.
    Calculate,
    /// Hidden value.
    Hidden,
    /// Metadata: opened at.
    Start,
    /// Metadata: saved at.
    End,
    /// Metadata: day.
    Today,
    /// Metadata: device id.
    DeviceId,
    /// Metadata: user id.
    Username,
    /// Group of elements.
    Group,
    /// Repeated group.
    Repeat,
});
mirror_enum!(
    /// Score band: high 8–10, middle 5–7, low 1–4.
    Band <-> m::Band {
    /// 8–10.
    High,
    /// 5–7.
    Middle,
    /// 1–4.
    Low,
});

/// A GPS fix.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct GeoPoint {
    /// Degrees north.
    pub lat: f64,
    /// Degrees east.
    pub lon: f64,
    /// Metres above sea level.
    #[uniffi(default)]
    pub altitude_m: Option<f64>,
    /// Accuracy in metres.
    #[uniffi(default)]
    pub accuracy_m: Option<f64>,
}
impl From<m::GeoPoint> for GeoPoint {
    fn from(g: m::GeoPoint) -> Self {
        GeoPoint {
            lat: g.lat,
            lon: g.lon,
            altitude_m: g.altitude_m,
            accuracy_m: g.accuracy_m,
        }
    }
}
impl From<GeoPoint> for m::GeoPoint {
    fn from(g: GeoPoint) -> Self {
        m::GeoPoint {
            lat: g.lat,
            lon: g.lon,
            altitude_m: g.altitude_m,
            accuracy_m: g.accuracy_m,
        }
    }
}

/// A score with its scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Score {
    /// The score.
    pub value: i64,
    /// Scale minimum.
    pub min: i64,
    /// Scale maximum.
    pub max: i64,
    /// Dimension measured.
    #[uniffi(default)]
    pub dimension: Option<Dimension>,
}
impl From<m::Score> for Score {
    fn from(s: m::Score) -> Self {
        Score {
            value: s.value,
            min: s.min,
            max: s.max,
            dimension: s.dimension.map(Into::into),
        }
    }
}
impl From<Score> for m::Score {
    fn from(s: Score) -> Self {
        m::Score {
            value: s.value,
            min: s.min,
            max: s.max,
            dimension: s.dimension.map(Into::into),
        }
    }
}

/// Segment of a respondent or account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Segment {
    /// Kind.
    pub kind: SegmentKind,
    /// Spend tier.
    #[uniffi(default)]
    pub value_tier: Option<ValueTier>,
    /// Core customer.
    #[uniffi(default)]
    pub core: bool,
}
impl From<m::Segment> for Segment {
    fn from(s: m::Segment) -> Self {
        Segment {
            kind: s.kind.into(),
            value_tier: s.value_tier.map(Into::into),
            core: s.core,
        }
    }
}
impl From<Segment> for m::Segment {
    fn from(s: Segment) -> Self {
        m::Segment {
            kind: s.kind.into(),
            value_tier: s.value_tier.map(Into::into),
            core: s.core,
        }
    }
}

// ----- forms -----------------------------------------------------------------------

/// A choice of a select question.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Choice {
    /// Stored value.
    pub value: String,
    /// Label (default language).
    pub label: String,
    /// Labels by language.
    #[uniffi(default)]
    pub translations: HashMap<String, String>,
    /// Other columns of the choice row (read by choice filters).
    #[uniffi(default)]
    pub extra: HashMap<String, String>,
}

impl From<m::Choice> for Choice {
    fn from(c: m::Choice) -> Self {
        Choice {
            value: c.value,
            label: c.label,
            translations: c.translations.into_iter().collect(),
            extra: c.extra.into_iter().collect(),
        }
    }
}
impl From<Choice> for m::Choice {
    fn from(c: Choice) -> Self {
        m::Choice {
            value: c.value,
            label: c.label,
            translations: c.translations.into_iter().collect(),
            extra: c.extra.into_iter().collect(),
        }
    }
}

/// A numeric scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Scale {
    /// Minimum.
    pub min: i64,
    /// Maximum.
    pub max: i64,
}

/// The texts of an element in one language.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Texts {
    /// Label.
    #[uniffi(default)]
    pub label: Option<String>,
    /// Hint.
    #[uniffi(default)]
    pub hint: Option<String>,
    /// Guidance hint.
    #[uniffi(default)]
    pub guidance_hint: Option<String>,
    /// Message when the constraint fails.
    #[uniffi(default)]
    pub constraint_message: Option<String>,
    /// Message when a required answer is missing.
    #[uniffi(default)]
    pub required_message: Option<String>,
    /// Media file names (`image`, `audio`, `video`, `big-image`).
    #[uniffi(default)]
    pub media: HashMap<String, String>,
}

impl From<m::Texts> for Texts {
    fn from(t: m::Texts) -> Self {
        Texts {
            label: t.label,
            hint: t.hint,
            guidance_hint: t.guidance_hint,
            constraint_message: t.constraint_message,
            required_message: t.required_message,
            media: t.media.into_iter().collect(),
        }
    }
}
impl From<Texts> for m::Texts {
    fn from(t: Texts) -> Self {
        m::Texts {
            label: t.label,
            hint: t.hint,
            guidance_hint: t.guidance_hint,
            constraint_message: t.constraint_message,
            required_message: t.required_message,
            media: t.media.into_iter().collect(),
        }
    }
}

/// One element of a form: a question, a group or a repeat, in sheet order. The
/// expressions are XLSForm source text; the engine evaluates them.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Question {
    /// Stable name (the answer's key).
    pub id: String,
    /// Type.
    pub kind: QuestionKind,
    /// Label (default language).
    pub label: String,
    /// Hint.
    #[uniffi(default)]
    pub hint: Option<String>,
    /// Always required before completion.
    #[uniffi(default)]
    pub required: bool,
    /// Dimension (scores).
    #[uniffi(default)]
    pub dimension: Option<Dimension>,
    /// Scale (scores; default 1–10).
    #[uniffi(default)]
    pub scale: Option<Scale>,
    /// Choices carried inline (forms built in code; imported forms use `list_name`).
    #[uniffi(default)]
    pub choices: Vec<Choice>,
    /// The XLSForm type as written.
    #[uniffi(default)]
    pub xls_type: Option<String>,
    /// The enclosing group or repeat.
    #[uniffi(default)]
    pub group: Option<String>,
    /// Texts by language.
    #[uniffi(default)]
    pub translations: HashMap<String, Texts>,
    /// Skip logic.
    #[uniffi(default)]
    pub relevant: Option<String>,
    /// Validation of the answer.
    #[uniffi(default)]
    pub constraint: Option<String>,
    /// Message when the constraint fails.
    #[uniffi(default)]
    pub constraint_message: Option<String>,
    /// Required while this expression is true.
    #[uniffi(default)]
    pub required_if: Option<String>,
    /// Message when a required answer is missing.
    #[uniffi(default)]
    pub required_message: Option<String>,
    /// Computed value.
    #[uniffi(default)]
    pub calculation: Option<String>,
    /// Initial value (XLSForm `default`; named so it is no Swift or Kotlin keyword).
    #[uniffi(default)]
    pub default_value: Option<String>,
    /// Read-only while this is true.
    #[uniffi(default)]
    pub read_only: Option<String>,
    /// Which choices are offered.
    #[uniffi(default)]
    pub choice_filter: Option<String>,
    /// The choice list name.
    #[uniffi(default)]
    pub list_name: Option<String>,
    /// Has an "other" choice.
    #[uniffi(default)]
    pub or_other: bool,
    /// External choice file.
    #[uniffi(default)]
    pub file: Option<String>,
    /// How the app shows it.
    #[uniffi(default)]
    pub appearance: Option<String>,
    /// XLSForm parameters.
    #[uniffi(default)]
    pub parameters: HashMap<String, String>,
    /// Number of repeat instances (an expression).
    #[uniffi(default)]
    pub repeat_count: Option<String>,
    /// Other columns, as written.
    #[uniffi(default)]
    pub extra: HashMap<String, String>,
}

impl From<m::Question> for Question {
    fn from(q: m::Question) -> Self {
        Question {
            id: q.id,
            kind: q.kind.into(),
            label: q.label,
            hint: q.hint,
            required: q.required,
            dimension: q.dimension.map(Into::into),
            scale: q.scale.map(|s| Scale {
                min: s.min,
                max: s.max,
            }),
            choices: q.choices.into_iter().map(Into::into).collect(),
            xls_type: q.xls_type,
            group: q.group,
            translations: q
                .translations
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            relevant: q.relevant,
            constraint: q.constraint,
            constraint_message: q.constraint_message,
            required_if: q.required_if,
            required_message: q.required_message,
            calculation: q.calculation,
            default_value: q.default,
            read_only: q.read_only,
            choice_filter: q.choice_filter,
            list_name: q.list_name,
            or_other: q.or_other,
            file: q.file,
            appearance: q.appearance,
            parameters: q.parameters.into_iter().collect(),
            repeat_count: q.repeat_count,
            extra: q.extra.into_iter().collect(),
        }
    }
}

impl From<Question> for m::Question {
    fn from(q: Question) -> Self {
        m::Question {
            id: q.id,
            kind: q.kind.into(),
            label: q.label,
            hint: q.hint,
            required: q.required,
            dimension: q.dimension.map(Into::into),
            scale: q.scale.map(|s| m::Scale {
                min: s.min,
                max: s.max,
            }),
            choices: q.choices.into_iter().map(Into::into).collect(),
            xls_type: q.xls_type,
            group: q.group,
            translations: q
                .translations
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            relevant: q.relevant,
            constraint: q.constraint,
            constraint_message: q.constraint_message,
            required_if: q.required_if,
            required_message: q.required_message,
            calculation: q.calculation,
            default: q.default_value,
            read_only: q.read_only,
            choice_filter: q.choice_filter,
            list_name: q.list_name,
            or_other: q.or_other,
            file: q.file,
            appearance: q.appearance,
            parameters: q.parameters.into_iter().collect(),
            repeat_count: q.repeat_count,
            extra: q.extra.into_iter().collect(),
        }
    }
}

/// One version of a survey definition.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Form {
    /// Key shared by all versions.
    pub form_key: String,
    /// Version number.
    pub version: i64,
    /// Title.
    pub title: String,
    /// Questions, groups and repeats in sheet order.
    #[uniffi(default)]
    pub questions: Vec<Question>,
    /// Published (then immutable).
    #[uniffi(default)]
    pub published: bool,
    /// Published at (ms).
    #[uniffi(default)]
    pub published_at: Option<Timestamp>,
    /// Language of the untranslated texts.
    #[uniffi(default)]
    pub default_language: Option<String>,
    /// Languages the form has texts in.
    #[uniffi(default)]
    pub languages: Vec<String>,
    /// Choice lists by name.
    #[uniffi(default)]
    pub choice_lists: HashMap<String, Vec<Choice>>,
    /// Other XLSForm settings, as written.
    #[uniffi(default)]
    pub settings: HashMap<String, String>,
}

impl From<m::Form> for Form {
    fn from(f: m::Form) -> Self {
        Form {
            form_key: f.form_key,
            version: f.version,
            title: f.title,
            questions: f.questions.into_iter().map(Into::into).collect(),
            published: f.published,
            published_at: f.published_at,
            default_language: f.default_language,
            languages: f.languages,
            choice_lists: f
                .choice_lists
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().map(Into::into).collect()))
                .collect(),
            settings: f.settings.into_iter().collect(),
        }
    }
}

impl From<Form> for m::Form {
    fn from(f: Form) -> Self {
        m::Form {
            form_key: f.form_key,
            version: f.version,
            title: f.title,
            questions: f.questions.into_iter().map(Into::into).collect(),
            published: f.published,
            published_at: f.published_at,
            default_language: f.default_language,
            languages: f.languages,
            choice_lists: f
                .choice_lists
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().map(Into::into).collect()))
                .collect(),
            settings: f.settings.into_iter().collect(),
        }
    }
}

// ----- responses -------------------------------------------------------------------

/// One answer.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum Answer {
    /// Free text.
    Text {
        /// Value.
        value: String,
    },
    /// Whole number.
    Integer {
        /// Value.
        value: i64,
    },
    /// Decimal.
    Decimal {
        /// Value.
        value: f64,
    },
    /// A score with its scale.
    Score {
        /// Value.
        score: Score,
    },
    /// One choice.
    Choice {
        /// Value.
        value: String,
    },
    /// Several choices.
    Choices {
        /// Values.
        values: Vec<String>,
    },
    /// A date, `YYYY-MM-DD`.
    Date {
        /// Value.
        value: String,
    },
    /// A GPS point.
    Geo {
        /// Value.
        point: GeoPoint,
    },
    /// A time of day, `HH:MM[:SS[.sss]][offset]`.
    Time {
        /// Value.
        value: String,
    },
    /// A date and time, ISO 8601 with offset.
    DateTime {
        /// Value.
        value: String,
    },
    /// A line of GPS points.
    GeoTrace {
        /// Points in order.
        points: Vec<GeoPoint>,
    },
    /// A closed polygon of GPS points (the first point equals the last).
    GeoShape {
        /// Points in order.
        points: Vec<GeoPoint>,
    },
    /// A photo, recording or file, by content hash.
    Attachment {
        /// The reference.
        attachment: AttachmentRef,
    },
    /// An acknowledgement.
    Acknowledged {
        /// Ticked.
        value: bool,
    },
}

/// A reference to an attachment stored outside the document.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AttachmentRef {
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Media type, e.g. `image/jpeg`.
    pub media_type: String,
    /// File name.
    pub name: String,
}
impl From<m::AttachmentRef> for AttachmentRef {
    fn from(a: m::AttachmentRef) -> Self {
        AttachmentRef {
            sha256: a.sha256,
            size: a.size,
            media_type: a.media_type,
            name: a.name,
        }
    }
}
impl From<AttachmentRef> for m::AttachmentRef {
    fn from(a: AttachmentRef) -> Self {
        m::AttachmentRef {
            sha256: a.sha256,
            size: a.size,
            media_type: a.media_type,
            name: a.name,
        }
    }
}
impl From<m::Answer> for Answer {
    fn from(a: m::Answer) -> Self {
        match a {
            m::Answer::Text(value) => Answer::Text { value },
            m::Answer::Integer(value) => Answer::Integer { value },
            m::Answer::Decimal(value) => Answer::Decimal { value },
            m::Answer::Score(s) => Answer::Score { score: s.into() },
            m::Answer::Choice(value) => Answer::Choice { value },
            m::Answer::Choices(values) => Answer::Choices { values },
            m::Answer::Date(value) => Answer::Date { value },
            m::Answer::Geo(g) => Answer::Geo { point: g.into() },
            m::Answer::Time(value) => Answer::Time { value },
            m::Answer::DateTime(value) => Answer::DateTime { value },
            m::Answer::GeoTrace(ps) => Answer::GeoTrace {
                points: ps.into_iter().map(Into::into).collect(),
            },
            m::Answer::GeoShape(ps) => Answer::GeoShape {
                points: ps.into_iter().map(Into::into).collect(),
            },
            m::Answer::Attachment(a) => Answer::Attachment {
                attachment: a.into(),
            },
            m::Answer::Acknowledged(value) => Answer::Acknowledged { value },
        }
    }
}
impl From<Answer> for m::Answer {
    fn from(a: Answer) -> Self {
        match a {
            Answer::Text { value } => m::Answer::Text(value),
            Answer::Integer { value } => m::Answer::Integer(value),
            Answer::Decimal { value } => m::Answer::Decimal(value),
            Answer::Score { score } => m::Answer::Score(score.into()),
            Answer::Choice { value } => m::Answer::Choice(value),
            Answer::Choices { values } => m::Answer::Choices(values),
            Answer::Date { value } => m::Answer::Date(value),
            Answer::Geo { point } => m::Answer::Geo(point.into()),
            Answer::Time { value } => m::Answer::Time(value),
            Answer::DateTime { value } => m::Answer::DateTime(value),
            Answer::GeoTrace { points } => {
                m::Answer::GeoTrace(points.into_iter().map(Into::into).collect())
            }
            Answer::GeoShape { points } => {
                m::Answer::GeoShape(points.into_iter().map(Into::into).collect())
            }
            Answer::Attachment { attachment } => m::Answer::Attachment(attachment.into()),
            Answer::Acknowledged { value } => m::Answer::Acknowledged(value),
        }
    }
}

/// Who answered.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Respondent {
    /// Name.
    #[uniffi(default)]
    pub name: Option<String>,
    /// Phone.
    #[uniffi(default)]
    pub phone: Option<String>,
    /// Customer id.
    #[uniffi(default)]
    pub customer_id: Option<String>,
    /// Segment.
    pub segment: Segment,
}

/// A review decision or comment.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReviewEntry {
    /// Unique id.
    pub id: String,
    /// Status set, if any.
    #[uniffi(default)]
    pub decision: Option<ResponseStatus>,
    /// Comment.
    #[uniffi(default)]
    pub comment: Option<String>,
    /// Reviewer.
    pub by: String,
    /// When (ms).
    pub at: Timestamp,
}

/// A follow-up after a low score.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FollowUp {
    /// Unique id.
    pub id: String,
    /// Who.
    pub by: String,
    /// When (ms).
    pub at: Timestamp,
    /// Call, visit…
    pub channel: String,
    /// New score 1–10.
    #[uniffi(default)]
    pub score: Option<i64>,
    /// Outcome.
    #[uniffi(default)]
    pub outcome: Option<String>,
    /// Explain rather than repair.
    #[uniffi(default)]
    pub explain_only: bool,
}

/// One filled-in form.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Response {
    /// The form version answered (its record id).
    pub form_id: String,
    /// Its version number.
    pub form_version: i64,
    /// Status.
    pub status: ResponseStatus,
    /// Respondent.
    pub respondent: Respondent,
    /// Region path.
    pub region: String,
    /// Answers by question id.
    #[uniffi(default)]
    pub answers: HashMap<String, Answer>,
    /// Where.
    #[uniffi(default)]
    pub location: Option<GeoPoint>,
    /// Started (ms).
    pub started_at: Timestamp,
    /// Completed (ms).
    #[uniffi(default)]
    pub completed_at: Option<Timestamp>,
    /// Enumerator.
    pub enumerator: String,
    /// Note (collaborative text: edits merge).
    #[uniffi(default = "")]
    pub note: String,
    /// Review trail.
    #[uniffi(default)]
    pub review: Vec<ReviewEntry>,
    /// Follow-ups.
    #[uniffi(default)]
    pub follow_ups: Vec<FollowUp>,
    /// Instances of the form's repeats, flattened (nested ones name their parent).
    #[uniffi(default)]
    pub repeats: Vec<RepeatInstance>,
}

impl From<m::Response> for Response {
    fn from(r: m::Response) -> Self {
        Response {
            form_id: r.form_id,
            form_version: r.form_version,
            status: r.status.into(),
            respondent: Respondent {
                name: r.respondent.name,
                phone: r.respondent.phone,
                customer_id: r.respondent.customer_id,
                segment: r.respondent.segment.into(),
            },
            region: r.region,
            answers: r.answers.into_iter().map(|(k, v)| (k, v.into())).collect(),
            location: r.location.map(Into::into),
            started_at: r.started_at,
            completed_at: r.completed_at,
            enumerator: r.enumerator,
            note: r.note.as_str().to_string(),
            review: r
                .review
                .into_iter()
                .map(|e| ReviewEntry {
                    id: e.id,
                    decision: e.decision.map(Into::into),
                    comment: e.comment,
                    by: e.by,
                    at: e.at,
                })
                .collect(),
            follow_ups: r
                .follow_ups
                .into_iter()
                .map(|f| FollowUp {
                    id: f.id,
                    by: f.by,
                    at: f.at,
                    channel: f.channel,
                    score: f.score,
                    outcome: f.outcome,
                    explain_only: f.explain_only,
                })
                .collect(),
            repeats: flatten_repeats(&r.repeats, None),
        }
    }
}

/// One instance of a repeat. Nested repeats are flattened: an instance inside another
/// names its parent instance.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RepeatInstance {
    /// The repeat's element id.
    pub repeat: String,
    /// Unique id of this instance.
    pub id: String,
    /// The instance this one is nested in (`None` for a top-level repeat).
    #[uniffi(default)]
    pub parent: Option<String>,
    /// Answers of the questions inside the repeat.
    #[uniffi(default)]
    pub answers: HashMap<String, Answer>,
}

fn flatten_repeats(
    repeats: &std::collections::BTreeMap<String, Vec<m::RepeatInstance>>,
    parent: Option<&str>,
) -> Vec<RepeatInstance> {
    let mut out = Vec::new();
    for (name, instances) in repeats {
        for inst in instances {
            out.push(RepeatInstance {
                repeat: name.clone(),
                id: inst.id.clone(),
                parent: parent.map(str::to_string),
                answers: inst
                    .answers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect(),
            });
            out.extend(flatten_repeats(&inst.repeats, Some(&inst.id)));
        }
    }
    out
}

/// Rebuild nested repeats from the flat list; an instance whose parent is not in the
/// list is an argument error.
pub(crate) type RepeatMap = std::collections::BTreeMap<String, Vec<m::RepeatInstance>>;

pub(crate) fn nest_repeats(flat: Vec<RepeatInstance>) -> Result<RepeatMap> {
    fn take(
        flat: &mut Vec<RepeatInstance>,
        parent: Option<&str>,
        depth: usize,
    ) -> std::collections::BTreeMap<String, Vec<m::RepeatInstance>> {
        let mut out: std::collections::BTreeMap<String, Vec<m::RepeatInstance>> =
            Default::default();
        if depth > 32 {
            return out;
        }
        let mine: Vec<RepeatInstance> = {
            let (mine, rest): (Vec<_>, Vec<_>) =
                flat.drain(..).partition(|r| r.parent.as_deref() == parent);
            *flat = rest;
            mine
        };
        for r in mine {
            let nested = take(flat, Some(&r.id), depth + 1);
            out.entry(r.repeat).or_default().push(m::RepeatInstance {
                id: r.id,
                answers: r.answers.into_iter().map(|(k, v)| (k, v.into())).collect(),
                repeats: nested,
            });
        }
        out
    }
    let mut flat = flat;
    let out = take(&mut flat, None, 0);
    if let Some(orphan) = flat.first() {
        return Err(FieldsyncError::InvalidArgument {
            message: format!(
                "repeat instance {:?} names a parent that is not in the list",
                orphan.id
            ),
        });
    }
    Ok(out)
}

/// Write `r` over `into` (text fields as edits, so concurrent edits merge).
/// Repeats are rebuilt first ([`nest_repeats`]), so a malformed list fails before the
/// store is touched.
pub(crate) fn apply_response(into: &mut m::Response, r: Response, repeats: RepeatMap) {
    into.repeats = repeats;
    into.form_id = r.form_id;
    into.form_version = r.form_version;
    into.status = r.status.into();
    into.respondent = m::Respondent {
        name: r.respondent.name,
        phone: r.respondent.phone,
        customer_id: r.respondent.customer_id,
        segment: r.respondent.segment.into(),
    };
    into.region = r.region;
    into.answers = r.answers.into_iter().map(|(k, v)| (k, v.into())).collect();
    into.location = r.location.map(Into::into);
    into.started_at = r.started_at;
    into.completed_at = r.completed_at;
    into.enumerator = r.enumerator;
    into.note.update(r.note);
    into.review = r
        .review
        .into_iter()
        .map(|e| m::ReviewEntry {
            id: e.id,
            decision: e.decision.map(Into::into),
            comment: e.comment,
            by: e.by,
            at: e.at,
        })
        .collect();
    into.follow_ups = r
        .follow_ups
        .into_iter()
        .map(|f| m::FollowUp {
            id: f.id,
            by: f.by,
            at: f.at,
            channel: f.channel,
            score: f.score,
            outcome: f.outcome,
            explain_only: f.explain_only,
        })
        .collect();
}

pub(crate) fn new_response(r: Response) -> Result<m::Response> {
    let mut base = m::Response {
        form_id: String::new(),
        form_version: 0,
        status: m::ResponseStatus::Draft,
        respondent: m::Respondent {
            name: None,
            phone: None,
            customer_id: None,
            segment: m::Segment {
                kind: m::SegmentKind::Individual,
                value_tier: None,
                core: false,
            },
        },
        region: String::new(),
        answers: Default::default(),
        location: None,
        started_at: 0,
        completed_at: None,
        enumerator: String::new(),
        note: Text::with_value(""),
        review: Vec::new(),
        follow_ups: Vec::new(),
        repeats: Default::default(),
    };
    let repeats = nest_repeats(r.repeats.clone())?;
    apply_response(&mut base, r, repeats);
    Ok(base)
}

// ----- accounts --------------------------------------------------------------------

/// A contact at an account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Contact {
    /// Unique id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role.
    #[uniffi(default)]
    pub role: Option<String>,
    /// Phone.
    #[uniffi(default)]
    pub phone: Option<String>,
    /// E-mail.
    #[uniffi(default)]
    pub email: Option<String>,
}

/// An enterprise or government client.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Account {
    /// Name.
    pub name: String,
    /// Segment.
    pub segment: SegmentKind,
    /// Industry.
    #[uniffi(default)]
    pub industry: Option<String>,
    /// Size band.
    #[uniffi(default)]
    pub size: Option<String>,
    /// Region path.
    pub region: String,
    /// Value tier.
    #[uniffi(default)]
    pub value_tier: Option<ValueTier>,
    /// Core customer.
    #[uniffi(default)]
    pub core: bool,
    /// Contacts.
    #[uniffi(default)]
    pub contacts: Vec<Contact>,
    /// Owning account manager.
    pub owner: String,
    /// Co-owners.
    #[uniffi(default)]
    pub co_owners: Vec<String>,
}
impl From<m::Account> for Account {
    fn from(a: m::Account) -> Self {
        Account {
            name: a.name,
            segment: a.segment.into(),
            industry: a.industry,
            size: a.size,
            region: a.region,
            value_tier: a.value_tier.map(Into::into),
            core: a.core,
            contacts: a
                .contacts
                .into_iter()
                .map(|c| Contact {
                    id: c.id,
                    name: c.name,
                    role: c.role,
                    phone: c.phone,
                    email: c.email,
                })
                .collect(),
            owner: a.owner,
            co_owners: a.co_owners,
        }
    }
}
impl From<Account> for m::Account {
    fn from(a: Account) -> Self {
        m::Account {
            name: a.name,
            segment: a.segment.into(),
            industry: a.industry,
            size: a.size,
            region: a.region,
            value_tier: a.value_tier.map(Into::into),
            core: a.core,
            contacts: a
                .contacts
                .into_iter()
                .map(|c| m::Contact {
                    id: c.id,
                    name: c.name,
                    role: c.role,
                    phone: c.phone,
                    email: c.email,
                })
                .collect(),
            owner: a.owner,
            co_owners: a.co_owners,
        }
    }
}

// ----- visits ----------------------------------------------------------------------

/// A check-in or check-out.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct CheckPoint {
    /// When (ms).
    pub at: Timestamp,
    /// Where.
    #[uniffi(default)]
    pub location: Option<GeoPoint>,
}

/// Scores per dimension, each 1–10.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, uniffi::Record)]
pub struct DimensionScores {
    /// Service.
    #[uniffi(default)]
    pub service: Option<i64>,
    /// Product.
    #[uniffi(default)]
    pub product: Option<i64>,
    /// Price.
    #[uniffi(default)]
    pub price: Option<i64>,
    /// Network.
    #[uniffi(default)]
    pub network: Option<i64>,
    /// Care.
    #[uniffi(default)]
    pub care: Option<i64>,
    /// Overall.
    #[uniffi(default)]
    pub overall: Option<i64>,
}

/// A promise made in a visit.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Commitment {
    /// Unique id.
    pub id: String,
    /// What.
    #[uniffi(default = "")]
    pub description: String,
    /// Who promised.
    pub owner: String,
    /// Due (ms).
    pub due_at: Timestamp,
    /// Done (ms).
    #[uniffi(default)]
    pub done_at: Option<Timestamp>,
    /// A refund or credit.
    #[uniffi(default)]
    pub refund: bool,
}

/// An issue raised in a visit.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitIssue {
    /// Unique id.
    pub id: String,
    /// What.
    #[uniffi(default = "")]
    pub description: String,
    /// Case opened for it.
    #[uniffi(default)]
    pub case_id: Option<String>,
}

/// One meeting with an account.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Visit {
    /// Account record id.
    pub account_id: String,
    /// Account manager.
    pub owner: String,
    /// Purpose.
    pub purpose: String,
    /// Planned (ms).
    pub planned_at: Timestamp,
    /// Attendees.
    #[uniffi(default)]
    pub attendees: Vec<String>,
    /// Check-in.
    #[uniffi(default)]
    pub check_in: Option<CheckPoint>,
    /// Check-out.
    #[uniffi(default)]
    pub check_out: Option<CheckPoint>,
    /// Notes (collaborative text: concurrent edits merge).
    #[uniffi(default = "")]
    pub notes: String,
    /// Scores.
    #[uniffi(default)]
    pub scores: DimensionScores,
    /// Issues.
    #[uniffi(default)]
    pub issues: Vec<VisitIssue>,
    /// Commitments.
    #[uniffi(default)]
    pub commitments: Vec<Commitment>,
    /// Cancelled.
    #[uniffi(default)]
    pub cancelled: bool,
    /// Attached photos, signatures, voice notes and files (blob references).
    #[uniffi(default)]
    pub attachments: Vec<AttachmentRef>,
}

impl From<m::Visit> for Visit {
    fn from(v: m::Visit) -> Self {
        let cp = |c: m::CheckPoint| CheckPoint {
            at: c.at,
            location: c.location.map(Into::into),
        };
        Visit {
            account_id: v.account_id,
            owner: v.owner,
            purpose: v.purpose,
            planned_at: v.planned_at,
            attendees: v.attendees,
            check_in: v.check_in.map(cp),
            check_out: v.check_out.map(cp),
            notes: v.notes.as_str().to_string(),
            scores: DimensionScores {
                service: v.scores.service,
                product: v.scores.product,
                price: v.scores.price,
                network: v.scores.network,
                care: v.scores.care,
                overall: v.scores.overall,
            },
            issues: v
                .issues
                .into_iter()
                .map(|i| VisitIssue {
                    id: i.id,
                    description: i.description,
                    case_id: i.case_id,
                })
                .collect(),
            commitments: v
                .commitments
                .into_iter()
                .map(|c| Commitment {
                    id: c.id,
                    description: c.description,
                    owner: c.owner,
                    due_at: c.due_at,
                    done_at: c.done_at,
                    refund: c.refund,
                })
                .collect(),
            cancelled: v.cancelled,
            attachments: v.attachments.into_iter().map(Into::into).collect(),
        }
    }
}

/// Write `v` over `into` (notes as edits).
pub(crate) fn apply_visit(into: &mut m::Visit, v: Visit) {
    let cp = |c: CheckPoint| m::CheckPoint {
        at: c.at,
        location: c.location.map(Into::into),
    };
    into.account_id = v.account_id;
    into.owner = v.owner;
    into.purpose = v.purpose;
    into.planned_at = v.planned_at;
    into.attendees = v.attendees;
    into.check_in = v.check_in.map(cp);
    into.check_out = v.check_out.map(cp);
    into.notes.update(v.notes);
    into.scores = m::DimensionScores {
        service: v.scores.service,
        product: v.scores.product,
        price: v.scores.price,
        network: v.scores.network,
        care: v.scores.care,
        overall: v.scores.overall,
    };
    into.issues = v
        .issues
        .into_iter()
        .map(|i| m::VisitIssue {
            id: i.id,
            description: i.description,
            case_id: i.case_id,
        })
        .collect();
    into.commitments = v
        .commitments
        .into_iter()
        .map(|c| m::Commitment {
            id: c.id,
            description: c.description,
            owner: c.owner,
            due_at: c.due_at,
            done_at: c.done_at,
            refund: c.refund,
        })
        .collect();
    into.cancelled = v.cancelled;
    into.attachments = v.attachments.into_iter().map(Into::into).collect();
}

pub(crate) fn new_visit(v: Visit) -> m::Visit {
    let mut base = m::Visit {
        account_id: String::new(),
        owner: String::new(),
        purpose: String::new(),
        planned_at: 0,
        attendees: Vec::new(),
        check_in: None,
        check_out: None,
        notes: Text::with_value(""),
        scores: m::DimensionScores::default(),
        issues: Vec::new(),
        commitments: Vec::new(),
        cancelled: false,
        attachments: Vec::new(),
    };
    apply_visit(&mut base, v);
    base
}

// ----- cases -----------------------------------------------------------------------

/// A ticket sent to a department.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Dispatch {
    /// Unique id.
    pub id: String,
    /// Department.
    pub department: String,
    /// Ticket reference.
    #[uniffi(default)]
    pub ticket: Option<String>,
    /// When (ms).
    pub at: Timestamp,
    /// Who.
    pub by: String,
}

/// A stage change.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StageEntry {
    /// Unique id.
    pub id: String,
    /// Stage entered.
    pub stage: CaseStage,
    /// When (ms).
    pub at: Timestamp,
    /// Who.
    pub by: String,
}

/// A complaint and its handling.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Case {
    /// Account record id.
    #[uniffi(default)]
    pub account_id: Option<String>,
    /// Customer id.
    pub customer_id: String,
    /// Category.
    pub category: CaseCategory,
    /// Severity.
    pub severity: Severity,
    /// Stage (change it with `advance_case`).
    pub stage: CaseStage,
    /// First-contact owner.
    pub first_contact_owner: String,
    /// Received (ms).
    pub received_at: Timestamp,
    /// Current stage deadline (ms).
    #[uniffi(default)]
    pub stage_deadline: Option<Timestamp>,
    /// First response (ms).
    #[uniffi(default)]
    pub first_response_at: Option<Timestamp>,
    /// What the customer said (collaborative text).
    #[uniffi(default = "")]
    pub description: String,
    /// Dispatches.
    #[uniffi(default)]
    pub dispatches: Vec<Dispatch>,
    /// Resolution.
    #[uniffi(default)]
    pub resolution: Option<String>,
    /// Follow-up score 1–10.
    #[uniffi(default)]
    pub follow_up_score: Option<i64>,
    /// Root cause.
    #[uniffi(default)]
    pub root_cause: Option<String>,
    /// Closed (ms).
    #[uniffi(default)]
    pub closed_at: Option<Timestamp>,
    /// Stage history.
    #[uniffi(default)]
    pub stage_log: Vec<StageEntry>,
    /// Source response or visit.
    #[uniffi(default)]
    pub source_id: Option<String>,
}

impl From<m::Case> for Case {
    fn from(c: m::Case) -> Self {
        Case {
            account_id: c.account_id,
            customer_id: c.customer_id,
            category: c.category.into(),
            severity: c.severity.into(),
            stage: c.stage.into(),
            first_contact_owner: c.first_contact_owner,
            received_at: c.received_at,
            stage_deadline: c.stage_deadline,
            first_response_at: c.first_response_at,
            description: c.description.as_str().to_string(),
            dispatches: c
                .dispatches
                .into_iter()
                .map(|d| Dispatch {
                    id: d.id,
                    department: d.department,
                    ticket: d.ticket,
                    at: d.at,
                    by: d.by,
                })
                .collect(),
            resolution: c.resolution,
            follow_up_score: c.follow_up_score,
            root_cause: c.root_cause,
            closed_at: c.closed_at,
            stage_log: c
                .stage_log
                .into_iter()
                .map(|e| StageEntry {
                    id: e.id,
                    stage: e.stage.into(),
                    at: e.at,
                    by: e.by,
                })
                .collect(),
            source_id: c.source_id,
        }
    }
}

/// A complaint as it is received.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewCase {
    /// Customer id.
    pub customer_id: String,
    /// Category.
    pub category: CaseCategory,
    /// Severity.
    pub severity: Severity,
    /// Who received it (owns it until it is closed).
    pub owner: String,
    /// When (ms).
    pub received_at: Timestamp,
    /// What the customer said.
    #[uniffi(default = "")]
    pub description: String,
    /// Account record id, for enterprise complaints.
    #[uniffi(default)]
    pub account_id: Option<String>,
    /// The response or visit it came from.
    #[uniffi(default)]
    pub source_id: Option<String>,
}

/// Write the editable fields of `c` over `into` (stage changes go through `advance`).
pub(crate) fn apply_case(into: &mut m::Case, c: Case) {
    into.account_id = c.account_id;
    into.customer_id = c.customer_id;
    into.category = c.category.into();
    into.severity = c.severity.into();
    into.first_contact_owner = c.first_contact_owner;
    into.description.update(c.description);
    into.dispatches = c
        .dispatches
        .into_iter()
        .map(|d| m::Dispatch {
            id: d.id,
            department: d.department,
            ticket: d.ticket,
            at: d.at,
            by: d.by,
        })
        .collect();
    into.resolution = c.resolution;
    into.follow_up_score = c.follow_up_score;
    into.root_cause = c.root_cause;
    into.source_id = c.source_id;
}

// ----- generic ---------------------------------------------------------------------

/// Concurrent writes of one field: what everyone sees and what lost. Values are JSON.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conflict {
    /// Field path, e.g. `scores.overall`.
    pub path: String,
    /// The value shown everywhere (JSON).
    pub winner_json: String,
    /// The values that lost (JSON).
    #[uniffi(default)]
    pub others_json: Vec<String>,
}

/// One change of a record: who, on which device, when, which fields.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryEntry {
    /// Change hash.
    pub change: String,
    /// Device, if known here.
    #[uniffi(default)]
    pub device_id: Option<String>,
    /// User, if known here.
    #[uniffi(default)]
    pub user_id: Option<String>,
    /// When (ms, by the writer's clock).
    pub time: Timestamp,
    /// Fields written.
    #[uniffi(default)]
    pub fields: Vec<String>,
}
impl From<s::HistoryEntry> for HistoryEntry {
    fn from(h: s::HistoryEntry) -> Self {
        HistoryEntry {
            change: h.change,
            device_id: h.device_id,
            user_id: h.user_id,
            time: h.time,
            fields: h.fields.iter().map(ToString::to_string).collect(),
        }
    }
}

// ----- lists -----------------------------------------------------------------------

/// Response list filter; unset fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct ResponseFilter {
    /// Form version record id.
    #[uniffi(default)]
    pub form_id: Option<String>,
    /// Status.
    #[uniffi(default)]
    pub status: Option<ResponseStatus>,
    /// Region or a region above it.
    #[uniffi(default)]
    pub region: Option<String>,
    /// Segment.
    #[uniffi(default)]
    pub segment: Option<SegmentKind>,
    /// Core customers only / ordinary only.
    #[uniffi(default)]
    pub core: Option<bool>,
    /// Overall band.
    #[uniffi(default)]
    pub band: Option<Band>,
    /// Started at or after (ms).
    #[uniffi(default)]
    pub started_from: Option<Timestamp>,
    /// Started before (ms).
    #[uniffi(default)]
    pub started_before: Option<Timestamp>,
    /// Enumerator.
    #[uniffi(default)]
    pub enumerator: Option<String>,
}

/// A response in a list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ResponseSummary {
    /// Record id.
    pub id: String,
    /// Status name.
    pub status: String,
    /// Region.
    pub region: String,
    /// Segment name.
    pub segment: String,
    /// Core customer.
    #[uniffi(default)]
    pub core: bool,
    /// Overall score on 1–10.
    #[uniffi(default)]
    pub overall: Option<f64>,
    /// Band name.
    #[uniffi(default)]
    pub band: Option<String>,
    /// Started (ms).
    pub started_at: Timestamp,
    /// Enumerator.
    pub enumerator: String,
    /// Respondent name.
    #[uniffi(default)]
    pub respondent_name: Option<String>,
    /// Conflicted fields.
    pub conflicts: u32,
}

/// A page of responses.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ResponsePage {
    /// Rows.
    #[uniffi(default)]
    pub items: Vec<ResponseSummary>,
    /// Pass back for the next page.
    #[uniffi(default)]
    pub next: Option<String>,
}

impl From<s::Page<s::ResponseRow>> for ResponsePage {
    fn from(p: s::Page<s::ResponseRow>) -> Self {
        ResponsePage {
            items: p
                .items
                .into_iter()
                .map(|r| ResponseSummary {
                    id: r.id.to_string(),
                    status: r.status,
                    region: r.region,
                    segment: r.segment,
                    core: r.core,
                    overall: r.overall,
                    band: r.band,
                    started_at: r.started_at,
                    enumerator: r.enumerator,
                    respondent_name: r.respondent_name,
                    conflicts: r.conflicts,
                })
                .collect(),
            next: p.next,
        }
    }
}

pub(crate) fn response_filter(f: ResponseFilter) -> Result<s::ResponseFilter> {
    Ok(s::ResponseFilter {
        form_id: parse_opt_id(&f.form_id)?,
        status: f.status.map(Into::into),
        region: f.region,
        segment: f.segment.map(Into::into),
        core: f.core,
        band: f.band.map(Into::into),
        from: f.started_from,
        to: f.started_before,
        enumerator: f.enumerator,
        scopes: None,
        order: Default::default(),
    })
}

/// A visit in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitSummary {
    /// Record id.
    pub id: String,
    /// Account record id.
    #[uniffi(default)]
    pub account_id: Option<String>,
    /// Owner.
    pub owner: String,
    /// Planned (ms).
    pub planned_at: Timestamp,
    /// Purpose.
    pub purpose: String,
    /// Open commitments.
    pub open_commitments: u32,
    /// Conflicted fields.
    pub conflicts: u32,
}

/// A page of visits.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitPage {
    /// Rows.
    #[uniffi(default)]
    pub items: Vec<VisitSummary>,
    /// Next page token.
    #[uniffi(default)]
    pub next: Option<String>,
}

/// An open commitment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OpenCommitment {
    /// Visit record id.
    pub visit_id: String,
    /// Commitment id.
    pub commitment_id: String,
    /// Owner.
    pub owner: String,
    /// Due (ms).
    pub due_at: Timestamp,
    /// A refund or credit.
    #[uniffi(default)]
    pub refund: bool,
    /// What.
    #[uniffi(default = "")]
    pub description: String,
}

/// A case in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseSummary {
    /// Record id.
    pub id: String,
    /// Customer.
    pub customer_id: String,
    /// Stage name.
    pub stage: String,
    /// Owner.
    pub owner: String,
    /// Received (ms).
    pub received_at: Timestamp,
    /// Deadline (ms).
    #[uniffi(default)]
    pub stage_deadline: Option<Timestamp>,
}

/// A form version in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FormSummary {
    /// Record id of this version.
    pub id: String,
    /// Key.
    pub form_key: String,
    /// Version.
    pub version: i64,
    /// Published.
    #[uniffi(default)]
    pub published: bool,
    /// Title.
    pub title: String,
}

/// An account in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountSummary {
    /// Record id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Core.
    #[uniffi(default)]
    pub core: bool,
    /// Owner.
    pub owner: String,
}

// ----- sync ------------------------------------------------------------------------

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Changes sent.
    pub pushed: u64,
    /// Accepted as new by the server.
    pub accepted: u64,
    /// Already held by the server.
    pub duplicates: u64,
    /// Refused (they stay on the device): (record id, reason).
    #[uniffi(default)]
    pub rejected: Vec<RejectedChange>,
    /// Changes received.
    pub pulled: u64,
    /// Records that received changes.
    #[uniffi(default)]
    pub changed_ids: Vec<String>,
    /// Records reconciled by repair.
    pub repaired: u64,
    /// Round trips after the handshake.
    pub round_trips: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
}

/// A change the server refused.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RejectedChange {
    /// Record id.
    pub id: String,
    /// Reason code (`forbidden`, `scope_mismatch`, ...).
    pub reason: String,
}

/// What the sync client is doing.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// Background sync on.
    #[uniffi(default)]
    pub background: bool,
    /// Connected now.
    #[uniffi(default)]
    pub connected: bool,
    /// Last success (ms).
    #[uniffi(default)]
    pub last_sync_at: Option<Timestamp>,
    /// Last error.
    #[uniffi(default)]
    pub last_error: Option<String>,
    /// Changes waiting for the server.
    pub pending_changes: u64,
    /// Syncs completed.
    pub exchanges: u64,
}

/// The identity a device got at enrolment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Enrolment {
    /// Device id.
    pub device_id: String,
    /// Tenant.
    pub tenant: String,
    /// User.
    pub user_id: String,
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeOrigin {
    /// Made on this device.
    Local,
    /// Received from the server.
    Remote,
}
