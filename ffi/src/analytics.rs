//! The back office's figures on the device, offline: satisfaction by band, dimension
//! and segment, the complaint loop, early warnings — computed by
//! `fieldsync_core::analytics` over what this device holds (docs/analytics.md).

use fieldsync_core::analytics as a;

use crate::error::{Result, guard};
use crate::records::{Dimension, SegmentKind, ValueTier};
use crate::store::FieldStore;

/// Counts per band and the mean, for one group.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct BandFigures {
    /// Scores counted.
    pub n: u64,
    /// High band (8–10).
    pub high: u64,
    /// Middle band (5–7).
    pub middle: u64,
    /// Low band (1–4).
    pub low: u64,
    /// Mean on 1–10.
    pub mean: Option<f64>,
    /// Share of the high band, percent.
    pub high_pct: Option<f64>,
    /// Share of the middle band, percent.
    pub middle_pct: Option<f64>,
    /// Share of the low band, percent.
    pub low_pct: Option<f64>,
}

impl From<a::BandFigures> for BandFigures {
    fn from(b: a::BandFigures) -> Self {
        BandFigures {
            n: b.n,
            high: b.high,
            middle: b.middle,
            low: b.low,
            mean: b.mean,
            high_pct: b.high_pct(),
            middle_pct: b.middle_pct(),
            low_pct: b.low_pct(),
        }
    }
}

/// Figures of one dimension.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DimensionFigures {
    /// The dimension.
    pub dimension: Dimension,
    /// Its scores.
    pub figures: BandFigures,
}

/// Figures of one segment kind.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SegmentFigures {
    /// The segment kind.
    pub segment: SegmentKind,
    /// Its overall scores.
    pub figures: BandFigures,
}

/// Satisfaction of the responses on this device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Satisfaction {
    /// Every counted response.
    pub overall: BandFigures,
    /// Per dimension.
    pub by_dimension: Vec<DimensionFigures>,
    /// Per segment kind.
    pub by_segment: Vec<SegmentFigures>,
    /// Core customers.
    pub core: BandFigures,
    /// Ordinary customers.
    pub ordinary: BandFigures,
}

/// Which responses count.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct FigureFilter {
    /// Versions of this form only.
    #[uniffi(default)]
    pub form_key: Option<String>,
    /// This region and below.
    #[uniffi(default)]
    pub region: Option<String>,
    /// Interviews started at or after (ms).
    #[uniffi(default)]
    pub from: Option<i64>,
    /// Started before (ms).
    #[uniffi(default)]
    pub to: Option<i64>,
    /// One segment kind.
    #[uniffi(default)]
    pub segment: Option<SegmentKind>,
    /// One value tier.
    #[uniffi(default)]
    pub value_tier: Option<ValueTier>,
    /// Core (true) or ordinary (false) customers.
    #[uniffi(default)]
    pub core: Option<bool>,
}

/// The complaint loop.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CaseFigures {
    /// Cases.
    pub total: u64,
    /// Not closed.
    pub open: u64,
    /// Open and past their stage deadline.
    pub overdue: u64,
    /// Closed.
    pub closed: u64,
    /// Closed without a dispatch, percent.
    pub first_contact_resolution_pct: Option<f64>,
    /// Median hours to the first response.
    pub median_hours_to_first_response: Option<f64>,
    /// Median hours to close.
    pub median_hours_to_close: Option<f64>,
    /// Customers with two or more cases.
    pub repeat_customers: u64,
    /// Follow-up scores after resolution.
    pub after_resolution: BandFigures,
}

/// One thing to act on.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct EarlyWarning {
    /// `repeated_complaints`, `score_drop`, `low_score_core_customer`,
    /// `commitment_past_due`, `refund_unconfirmed`, `case_overdue`.
    pub kind: String,
    /// Who should act.
    pub owner: String,
    /// The record to open.
    pub record_id: String,
    /// The commitment, for commitment warnings.
    pub item: Option<String>,
    /// The customer, where known.
    pub customer_id: Option<String>,
    /// When (ms).
    pub at: i64,
    /// A figure: the drop, the score, the number of cases.
    pub value: Option<f64>,
}

#[uniffi::export]
impl FieldStore {
    /// Satisfaction of the responses this device holds (drafts and rejected ones do not
    /// count), the same figures the back office shows.
    pub fn satisfaction(&self, filter: FigureFilter) -> Result<Satisfaction> {
        guard(|| {
            let s = a::satisfaction(
                &self.inner,
                &a::ResponseFilter {
                    scopes: None,
                    form_key: filter.form_key,
                    region: filter.region,
                    from: filter.from,
                    to: filter.to,
                    segment: filter.segment.map(Into::into),
                    value_tier: filter.value_tier.map(Into::into),
                    core: filter.core,
                },
            )?;
            let pick = |c: bool| {
                s.by_core
                    .iter()
                    .find(|(k, _)| *k == c)
                    .map(|(_, b)| (*b).into())
                    .unwrap_or_else(|| a::BandFigures::default().into())
            };
            Ok(Satisfaction {
                overall: s.overall.into(),
                by_dimension: s
                    .by_dimension
                    .iter()
                    .map(|(d, b)| DimensionFigures {
                        dimension: (*d).into(),
                        figures: (*b).into(),
                    })
                    .collect(),
                by_segment: s
                    .by_segment
                    .iter()
                    .map(|(k, b)| SegmentFigures {
                        segment: (*k).into(),
                        figures: (*b).into(),
                    })
                    .collect(),
                core: pick(true),
                ordinary: pick(false),
            })
        })
    }

    /// The complaint loop over the cases this device holds, at `now` (ms).
    pub fn case_figures(&self, now: i64) -> Result<CaseFigures> {
        guard(|| {
            let f = a::cases(&self.inner, &a::CaseFilter::default(), now)?;
            Ok(CaseFigures {
                total: f.total,
                open: f.open,
                overdue: f.overdue,
                closed: f.closed,
                first_contact_resolution_pct: f.first_contact_resolution_pct,
                median_hours_to_first_response: f.time_to_first_response.median_hours,
                median_hours_to_close: f.time_to_close.median_hours,
                repeat_customers: f.repeat_customers.len() as u64,
                after_resolution: f.after_resolution.into(),
            })
        })
    }

    /// Early warnings over what this device holds, at `now` (ms), by owner.
    pub fn early_warnings(&self, now: i64) -> Result<Vec<EarlyWarning>> {
        guard(|| {
            Ok(a::early_warnings(&self.inner, &None, now)?
                .into_iter()
                .map(|w| EarlyWarning {
                    kind: w.kind.as_str().to_string(),
                    owner: w.owner,
                    record_id: w.doc_id.to_string(),
                    item: w.item,
                    customer_id: w.customer_id,
                    at: w.at,
                    value: w.value,
                })
                .collect())
        })
    }
}
