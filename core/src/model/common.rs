//! Types shared by several kinds: satisfaction scores and bands, dimensions, customer
//! segments and GPS points.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ValidationError};

/// The satisfaction dimension a question or visit score belongs to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Reconcile,
    Hydrate,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Attitude, speed, quality of service.
    Service,
    /// Features, innovation.
    Product,
    /// Tariff fairness, promotions, bills.
    Price,
    /// Coverage, speed, stability.
    Network,
    /// Care programmes, events.
    Care,
    /// The overall score.
    Overall,
}

impl Dimension {
    /// Every dimension in report order.
    pub const ALL: [Dimension; 6] = [
        Dimension::Service,
        Dimension::Product,
        Dimension::Price,
        Dimension::Network,
        Dimension::Care,
        Dimension::Overall,
    ];

    /// Parse the stable name.
    pub fn parse(s: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Service => "service",
            Dimension::Product => "product",
            Dimension::Price => "price",
            Dimension::Network => "network",
            Dimension::Care => "care",
            Dimension::Overall => "overall",
        }
    }
}

/// How a score is read: high 8–10, middle 5–7, low 1–4 (on other scales, the same
/// fractions of the range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// 8–10 on a 1–10 scale.
    High,
    /// 5–7: "basically satisfied".
    Middle,
    /// 1–4.
    Low,
}

impl Band {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::High => "high",
            Band::Middle => "middle",
            Band::Low => "low",
        }
    }

    /// Parse the stable name.
    pub fn parse(s: &str) -> Option<Band> {
        match s {
            "high" => Some(Band::High),
            "middle" => Some(Band::Middle),
            "low" => Some(Band::Low),
            _ => None,
        }
    }

    /// The band of a value on a 1–10 scale (fractional values, e.g. a mean, included).
    pub fn of_ten(v: f64) -> Band {
        if v >= 7.5 {
            Band::High
        } else if v >= 4.5 {
            Band::Middle
        } else {
            Band::Low
        }
    }
}

/// A satisfaction score with the scale it was given on, so it can be read without its
/// form (exports, analytics, a response synced before its form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Score {
    /// The score given.
    pub value: i64,
    /// Lowest value on the scale (usually 1).
    pub min: i64,
    /// Highest value on the scale (usually 10).
    pub max: i64,
    /// The dimension the question measures, if any.
    pub dimension: Option<Dimension>,
}

impl Score {
    /// A score on the standard 1–10 scale.
    pub fn of_ten(value: i64, dimension: Option<Dimension>) -> Score {
        Score {
            value,
            min: 1,
            max: 10,
            dimension,
        }
    }

    /// Check `min <= value <= max` and a sane scale.
    pub fn check(&self, field: &str) -> Result<(), Error> {
        if self.min >= self.max || self.max - self.min > 100 {
            return Err(
                ValidationError::new(field, "invalid_scale", "the scale is not valid").into(),
            );
        }
        if self.value < self.min || self.value > self.max {
            return Err(ValidationError::new(
                field,
                "score_out_of_range",
                format!("the score must be between {} and {}", self.min, self.max),
            )
            .into());
        }
        Ok(())
    }

    /// The score mapped onto 1–10.
    pub fn normalized(&self) -> f64 {
        if self.max <= self.min {
            return self.value as f64;
        }
        1.0 + 9.0 * (self.value - self.min) as f64 / (self.max - self.min) as f64
    }

    /// Its band: on 1–10 exactly high 8–10, middle 5–7, low 1–4.
    pub fn band(&self) -> Band {
        let span = (self.max - self.min).max(1);
        let pos = self.value - self.min;
        if 9 * pos >= 7 * span {
            Band::High
        } else if 9 * pos >= 4 * span {
            Band::Middle
        } else {
            Band::Low
        }
    }
}

/// Check a plain 1–10 score.
pub(crate) fn check_score_of_ten(field: &str, v: i64) -> Result<(), Error> {
    Score::of_ten(v, None).check(field)
}

/// Individual, family, or government-and-enterprise customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// A private person.
    Individual,
    /// A household.
    Family,
    /// Government or enterprise.
    Enterprise,
}

impl SegmentKind {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKind::Individual => "individual",
            SegmentKind::Family => "family",
            SegmentKind::Enterprise => "enterprise",
        }
    }

    /// Every kind, in report order.
    pub const ALL: [SegmentKind; 3] = [
        SegmentKind::Individual,
        SegmentKind::Family,
        SegmentKind::Enterprise,
    ];

    /// Parse the stable name.
    pub fn parse(s: &str) -> Option<SegmentKind> {
        SegmentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Value tier by spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueTier {
    /// High spend.
    High,
    /// Middle spend.
    Middle,
    /// Low spend.
    Low,
}

impl ValueTier {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueTier::High => "high",
            ValueTier::Middle => "middle",
            ValueTier::Low => "low",
        }
    }

    /// Every tier, highest first.
    pub const ALL: [ValueTier; 3] = [ValueTier::High, ValueTier::Middle, ValueTier::Low];

    /// Parse the stable name.
    pub fn parse(s: &str) -> Option<ValueTier> {
        ValueTier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// How a respondent or account is segmented. Every figure must split by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Segment {
    /// Individual / family / enterprise.
    pub kind: SegmentKind,
    /// Spend tier, when known.
    pub value_tier: Option<ValueTier>,
    /// High-value, heavy-data or enterprise customer.
    pub core: bool,
}

/// A GPS fix.
#[derive(Debug, Clone, Copy, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Degrees north, -90..=90.
    pub lat: f64,
    /// Degrees east, -180..=180.
    pub lon: f64,
    /// Metres above sea level, if known.
    pub altitude_m: Option<f64>,
    /// Horizontal accuracy in metres, if known.
    pub accuracy_m: Option<f64>,
}

impl GeoPoint {
    /// Check coordinates are finite and in range.
    pub fn check(&self, field: &str) -> Result<(), Error> {
        let ok = self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
            && self.accuracy_m.is_none_or(|a| a.is_finite() && a >= 0.0)
            && self.altitude_m.is_none_or(f64::is_finite);
        if ok {
            Ok(())
        } else {
            Err(ValidationError::new(field, "invalid_location", "coordinates out of range").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_on_ten_match_the_domain() {
        let band = |v| Score::of_ten(v, None).band();
        for v in 8..=10 {
            assert_eq!(band(v), Band::High, "{v}");
        }
        for v in 5..=7 {
            assert_eq!(band(v), Band::Middle, "{v}");
        }
        for v in 1..=4 {
            assert_eq!(band(v), Band::Low, "{v}");
        }
        for v in 1..=10 {
            assert_eq!(Band::of_ten(v as f64), band(v), "{v}");
            assert!((Score::of_ten(v, None).normalized() - v as f64).abs() < 1e-9);
        }
    }

    #[test]
    fn bands_on_other_scales() {
        let s = |v| {
            Score {
                value: v,
                min: 1,
                max: 5,
                dimension: None,
            }
            .band()
        };
        assert_eq!(s(5), Band::High);
        assert_eq!(s(4), Band::Middle);
        assert_eq!(s(3), Band::Middle);
        assert_eq!(s(2), Band::Low);
    }

    #[test]
    fn score_range_is_enforced() {
        assert!(Score::of_ten(0, None).check("q").is_err());
        assert!(Score::of_ten(11, None).check("q").is_err());
        assert!(Score::of_ten(10, None).check("q").is_ok());
        assert!(
            Score {
                value: 3,
                min: 5,
                max: 1,
                dimension: None
            }
            .check("q")
            .is_err()
        );
    }

    #[test]
    fn geopoint_ranges() {
        let p = |lat, lon| GeoPoint {
            lat,
            lon,
            altitude_m: None,
            accuracy_m: None,
        };
        assert!(p(10.0, 20.0).check("g").is_ok());
        assert!(p(91.0, 0.0).check("g").is_err());
        assert!(p(0.0, f64::NAN).check("g").is_err());
    }
}
