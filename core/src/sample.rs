//! Sample data: the telecom customer-satisfaction survey of the domain notes, and
//! plausible responses, accounts and visits. Used by the demo, the benchmarks and the
//! tests, so all three exercise the same realistic shapes.

use std::collections::BTreeMap;

use autosurgeon::Text;

use crate::ids::{DocId, Timestamp};
use crate::model::{
    Account, Answer, Choice, Commitment, Dimension, DimensionScores, Form, GeoPoint, Question,
    QuestionKind, Respondent, Response, ResponseStatus, Segment, SegmentKind, ValueTier, Visit,
};

/// A small deterministic generator (SplitMix64), so sample data is reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap_or(1).max(1);
        lo + i64::try_from(self.next_u64() % span).unwrap_or(0)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    /// One element.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        let i = usize::try_from(self.next_u64() % xs.len().max(1) as u64).unwrap_or(0);
        &xs[i]
    }
}

fn score_q(id: &str, label: &str, dim: Dimension, required: bool) -> Question {
    Question {
        required,
        dimension: Some(dim),
        ..Question::new(id, QuestionKind::Score, label)
    }
}

fn select(id: &str, kind: QuestionKind, label: &str, choices: &[&str]) -> Question {
    Question {
        choices: choices
            .iter()
            .map(|c| Choice::new(*c, c.replace('_', " ")))
            .collect(),
        ..Question::new(id, kind, label)
    }
}

/// The telecom customer-satisfaction survey: 13 dimension scores, an overall score and
/// ten context questions (24 answers in all).
pub fn telecom_form(version: i64) -> Form {
    use Dimension::*;
    use QuestionKind as K;
    let questions = vec![
        score_q("service_attitude", "Staff attitude", Service, true),
        score_q("service_speed", "Speed of service", Service, true),
        score_q("service_quality", "Quality of service", Service, true),
        score_q("product_features", "Product features", Product, false),
        score_q("product_innovation", "Product innovation", Product, false),
        score_q("price_tariff", "Fairness of tariffs", Price, true),
        score_q("price_promotions", "Promotions", Price, false),
        score_q("price_bill", "Clarity of bills", Price, false),
        score_q("network_coverage", "Network coverage", Network, true),
        score_q("network_speed", "Data speed", Network, true),
        score_q("network_stability", "Network stability", Network, true),
        score_q("care_programmes", "Customer care programmes", Care, false),
        score_q("care_events", "Customer events", Care, false),
        score_q("overall", "Overall satisfaction", Overall, true),
        select(
            "services_used",
            K::SelectMultiple,
            "Services used",
            &["mobile", "broadband", "tv", "fixed_line", "iot"],
        ),
        select(
            "main_issue",
            K::SelectOne,
            "Main issue",
            &["none", "coverage", "speed", "billing", "service", "price"],
        ),
        Question::new("tenure_years", K::Integer, "Years as a customer"),
        Question::new("monthly_spend", K::Decimal, "Monthly spend"),
        select(
            "would_recommend",
            K::SelectOne,
            "Would recommend",
            &["yes", "no", "unsure"],
        ),
        select(
            "complaint_90d",
            K::SelectOne,
            "Complained in the last 90 days",
            &["yes", "no"],
        ),
        Question::new("comments", K::Text, "Comments"),
        Question::new("interview_date", K::Date, "Interview date"),
        Question::new("interview_location", K::GeoPoint, "Interview location"),
        select(
            "contact_ok",
            K::SelectOne,
            "May we contact you again",
            &["yes", "no"],
        ),
    ];
    Form {
        form_key: "telecom-sat".into(),
        version,
        title: "Customer satisfaction survey".into(),
        questions,
        published: true,
        published_at: Some(0),
        ..Form::default()
    }
}

/// Chinese texts of [`telecom_form`]: question id → label, and choice value → label.
const TELECOM_ZH: [(&str, &str); 24] = [
    ("service_attitude", "服务态度"),
    ("service_speed", "服务速度"),
    ("service_quality", "服务质量"),
    ("product_features", "产品功能"),
    ("product_innovation", "产品创新"),
    ("price_tariff", "资费合理性"),
    ("price_promotions", "优惠活动"),
    ("price_bill", "账单清晰度"),
    ("network_coverage", "网络覆盖"),
    ("network_speed", "上网速度"),
    ("network_stability", "网络稳定性"),
    ("care_programmes", "客户关怀计划"),
    ("care_events", "客户活动"),
    ("overall", "总体满意度"),
    ("services_used", "使用的业务"),
    ("main_issue", "主要问题"),
    ("tenure_years", "在网年限"),
    ("monthly_spend", "月消费"),
    ("would_recommend", "是否愿意推荐"),
    ("complaint_90d", "近 90 天是否投诉过"),
    ("comments", "意见与建议"),
    ("interview_date", "访问日期"),
    ("interview_location", "访问地点"),
    ("contact_ok", "是否同意再次联系"),
];

const TELECOM_ZH_CHOICES: [(&str, &str); 14] = [
    ("mobile", "移动电话"),
    ("broadband", "宽带"),
    ("tv", "电视"),
    ("fixed_line", "固定电话"),
    ("iot", "物联网"),
    ("none", "无"),
    ("coverage", "覆盖"),
    ("speed", "网速"),
    ("billing", "计费"),
    ("service", "服务"),
    ("price", "价格"),
    ("yes", "是"),
    ("no", "否"),
    ("unsure", "不确定"),
];

/// The language names of [`telecom_form_bilingual`] (as an XLSForm's
/// `label::English (en)` and `label::中文 (zh)` columns name them).
pub const TELECOM_LANGUAGES: [&str; 2] = ["English (en)", "中文 (zh)"];

/// [`telecom_form`] in English and Chinese: the default texts are English, every
/// question and choice also has its `中文 (zh)` label (as the XLSForm `::language`
/// columns give them), so a device asking for `zh-CN` gets Chinese and the exports
/// can use either language's labels.
pub fn telecom_form_bilingual(version: i64) -> Form {
    let mut f = telecom_form(version);
    f.title = "Customer satisfaction survey / 客户满意度调查".into();
    f.languages = TELECOM_LANGUAGES.iter().map(|l| (*l).to_string()).collect();
    f.default_language = Some(TELECOM_LANGUAGES[0].to_string());
    for q in &mut f.questions {
        let en = crate::model::Texts {
            label: Some(q.label.clone()),
            ..Default::default()
        };
        q.translations.insert(TELECOM_LANGUAGES[0].into(), en);
        if let Some((_, zh)) = TELECOM_ZH.iter().find(|(id, _)| *id == q.id) {
            let zh = crate::model::Texts {
                label: Some((*zh).to_string()),
                ..Default::default()
            };
            q.translations.insert(TELECOM_LANGUAGES[1].into(), zh);
        }
        for c in &mut q.choices {
            c.translations
                .insert(TELECOM_LANGUAGES[0].into(), c.label.clone());
            if let Some((_, zh)) = TELECOM_ZH_CHOICES.iter().find(|(v, _)| *v == c.value) {
                c.translations
                    .insert(TELECOM_LANGUAGES[1].into(), (*zh).to_string());
            }
        }
    }
    f
}

/// Regions used by the samples: `north|south / county-N / district-M`.
pub fn region(rng: &mut Rng) -> String {
    format!(
        "{}/county-{}/district-{}",
        rng.pick(&["north", "south"]),
        rng.range(1, 4),
        rng.range(1, 5)
    )
}

/// A complete response to [`telecom_form`] with plausible answers (24 of them).
pub fn telecom_response(
    rng: &mut Rng,
    form_id: DocId,
    form: &Form,
    region: &str,
    enumerator: &str,
    at: Timestamp,
) -> Response {
    let core = rng.chance(0.25);
    // Core customers score lower: the known pattern the back office looks for.
    let base = if core {
        rng.range(3, 8)
    } else {
        rng.range(5, 10)
    };
    let mut answers = BTreeMap::new();
    for q in &form.questions {
        let a = match q.kind {
            QuestionKind::Score => Answer::Score(q.score((base + rng.range(-2, 2)).clamp(1, 10))),
            QuestionKind::SelectOne => Answer::Choice(rng.pick(&q.choices).value.clone()),
            QuestionKind::SelectMultiple => {
                let mut v: Vec<String> = q
                    .choices
                    .iter()
                    .filter(|_| rng.chance(0.4))
                    .map(|c| c.value.clone())
                    .collect();
                if v.is_empty() {
                    v.push(q.choices[0].value.clone());
                }
                Answer::Choices(v)
            }
            QuestionKind::Integer => Answer::Integer(rng.range(0, 20)),
            QuestionKind::Decimal => Answer::Decimal(rng.range(1_000, 30_000) as f64 / 100.0),
            QuestionKind::Text => {
                Answer::Text("Signal drops in the evening near the market.".into())
            }
            QuestionKind::Date => Answer::Date(format!(
                "2026-{:02}-{:02}",
                rng.range(1, 12),
                rng.range(1, 28)
            )),
            QuestionKind::GeoPoint => Answer::Geo(GeoPoint {
                lat: 30.0 + rng.range(0, 10_000) as f64 / 1e4,
                lon: 114.0 + rng.range(0, 10_000) as f64 / 1e4,
                altitude_m: None,
                accuracy_m: Some(8.0),
            }),
            // The telecom form has none of the other kinds.
            _ => continue,
        };
        answers.insert(q.id.clone(), a);
    }
    let kind = *rng.pick(&[
        SegmentKind::Individual,
        SegmentKind::Family,
        SegmentKind::Enterprise,
    ]);
    Response {
        form_id: form_id.to_string(),
        form_version: form.version,
        status: ResponseStatus::Complete,
        respondent: Respondent {
            name: Some(format!("Respondent {}", rng.range(1, 99_999))),
            phone: Some(format!(
                "+86 138 {:04} {:04}",
                rng.range(0, 9999),
                rng.range(0, 9999)
            )),
            customer_id: Some(format!("C{:07}", rng.range(1, 9_999_999))),
            segment: Segment {
                kind,
                value_tier: Some(*rng.pick(&[ValueTier::High, ValueTier::Middle, ValueTier::Low])),
                core,
            },
        },
        region: region.to_string(),
        answers,
        location: Some(GeoPoint {
            lat: 30.5,
            lon: 114.3,
            altitude_m: Some(23.0),
            accuracy_m: Some(5.0),
        }),
        started_at: at,
        completed_at: Some(at + 9 * 60_000),
        enumerator: enumerator.to_string(),
        note: Text::with_value("Respondent was at home; interview in the courtyard."),
        review: Vec::new(),
        follow_ups: Vec::new(),
        repeats: Default::default(),
    }
}

/// An enterprise account owned by `owner`.
pub fn account(name: &str, owner: &str, region: &str) -> Account {
    Account {
        name: name.into(),
        segment: SegmentKind::Enterprise,
        industry: Some("logistics".into()),
        size: Some("250-999".into()),
        region: region.into(),
        value_tier: Some(ValueTier::High),
        core: true,
        contacts: Vec::new(),
        owner: owner.into(),
        co_owners: Vec::new(),
    }
}

/// A planned visit to `account_id`.
pub fn visit(account_id: DocId, owner: &str, planned_at: Timestamp, purpose: &str) -> Visit {
    Visit {
        account_id: account_id.to_string(),
        owner: owner.into(),
        purpose: purpose.into(),
        planned_at,
        attendees: vec![owner.to_string()],
        check_in: None,
        check_out: None,
        notes: Text::with_value(""),
        scores: DimensionScores::default(),
        issues: Vec::new(),
        commitments: Vec::new(),
        cancelled: false,
        attachments: Vec::new(),
    }
}

/// A commitment due at `due_at`.
pub fn commitment(id: &str, owner: &str, due_at: Timestamp, what: &str) -> Commitment {
    Commitment {
        id: id.into(),
        description: what.into(),
        owner: owner.into(),
        due_at,
        done_at: None,
        refund: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bilingual_survey_falls_back_sensibly() {
        let f = telecom_form_bilingual(1);
        let q = f.question("service_attitude").cloned();
        let Some(q) = q else {
            panic!("service_attitude is in the form");
        };
        // zh-CN asks for zh; the form's default (English) otherwise.
        assert_eq!(f.language("zh-CN"), Some("中文 (zh)"));
        assert_eq!(q.label_in(f.language("zh-CN")), "服务态度");
        assert_eq!(f.language("fr"), None);
        assert_eq!(q.label_in(f.language("fr")), "Staff attitude");
        assert_eq!(q.label_in(f.language("en-GB")), "Staff attitude");
        let every_zh = f.questions.iter().all(|q| {
            q.translations
                .get("中文 (zh)")
                .and_then(|t| t.label.as_deref())
                .is_some_and(|l| !l.is_ascii())
                && q.choices
                    .iter()
                    .all(|c| c.translations.contains_key("中文 (zh)"))
        });
        assert!(every_zh, "every question and choice has a Chinese label");
    }
}
