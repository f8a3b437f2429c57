//! Answers and expression values: what each question type accepts, how an answer
//! reads in an expression, and how a computed value becomes an answer.

use super::CompiledForm;
use crate::forms::expr::Value;
use crate::forms::expr::time::{self, Iso};
use crate::ids::Timestamp;
use crate::model::{Answer, GeoPoint, QuestionKind};

/// How an answer reads in an expression (the XForms text of the value, typed where
/// XLSForm users rely on it: numbers, dates).
pub(crate) fn answer_value(a: &Answer) -> Value {
    match a {
        Answer::Text(s) | Answer::Choice(s) | Answer::Time(s) => Value::String(s.clone()),
        Answer::Integer(i) => Value::Number(*i as f64),
        Answer::Decimal(d) => Value::Number(*d),
        Answer::Score(s) => Value::Number(s.value as f64),
        Answer::Choices(cs) => Value::String(cs.join(" ")),
        Answer::Date(d) => match time::parse_iso(d) {
            Some(Iso::Date(days)) => Value::Date(days),
            _ => Value::String(d.clone()),
        },
        Answer::DateTime(d) => match time::parse_iso(d) {
            Some(Iso::DateTime { local_ms, offset }) => {
                let off = offset.unwrap_or(0);
                Value::DateTime(time::utc_ms(i128::from(local_ms), off), off)
            }
            Some(Iso::Date(days)) => Value::Date(days),
            None => Value::String(d.clone()),
        },
        Answer::Geo(g) => Value::String(geo_text(g)),
        Answer::GeoTrace(ps) | Answer::GeoShape(ps) => {
            Value::String(ps.iter().map(geo_text).collect::<Vec<_>>().join(";"))
        }
        Answer::Attachment(r) => Value::String(r.name.clone()),
        Answer::Acknowledged(true) => Value::String("OK".into()),
        Answer::Acknowledged(false) => Value::String(String::new()),
    }
}

fn geo_text(g: &GeoPoint) -> String {
    format!(
        "{} {} {} {}",
        g.lat,
        g.lon,
        g.altitude_m.unwrap_or(0.0),
        g.accuracy_m.unwrap_or(0.0)
    )
}

/// True for an answer that counts as "not answered" for `required`.
pub(crate) fn is_empty_answer(a: &Answer) -> bool {
    match a {
        Answer::Text(t) => t.trim().is_empty(),
        Answer::Choice(c) => c.is_empty(),
        Answer::Choices(c) => c.is_empty(),
        Answer::GeoTrace(p) | Answer::GeoShape(p) => p.is_empty(),
        Answer::Acknowledged(b) => !b,
        _ => false,
    }
}

/// The XPath string of a value.
pub(crate) fn value_string(v: &Value) -> String {
    crate::forms::expr::to_string(v)
}

/// `YYYY-MM-DD` of `now` at `offset`.
pub(crate) fn date_string(now: Timestamp, offset: i32) -> String {
    time::format_date(time::local_days(now, offset))
}

/// ISO 8601 date-time of `now` at `offset`, with milliseconds.
pub(crate) fn datetime_string(now: Timestamp, offset: i32) -> String {
    time::format_datetime(now, offset)
}

type Check = Result<(), (&'static str, String)>;

fn bad(code: &'static str, message: &str) -> Check {
    Err((code, message.to_string()))
}

/// Check an answer against its element's type, choices and scale.
pub(crate) fn check_answer(form: &CompiledForm, elem: usize, a: &Answer) -> Check {
    use QuestionKind as K;
    let q = &form.form.questions[elem];
    let el = &form.elements[elem];
    let wrong = || bad("wrong_type", "the answer does not fit the question type");
    let in_list = |v: &str| -> bool {
        q.file.is_some()
            || (q.or_other && v == "other")
            || form.choice_index.contains_key(&(elem, v.to_string()))
    };
    match (q.kind, a) {
        (
            K::Text | K::Barcode | K::Calculate | K::Hidden | K::DeviceId | K::Username,
            Answer::Text(_),
        ) => Ok(()),
        (K::Integer, Answer::Integer(_)) => Ok(()),
        (K::Decimal, Answer::Decimal(v)) if v.is_finite() => Ok(()),
        (K::Decimal, Answer::Integer(_)) => Ok(()),
        (K::Range, Answer::Integer(_) | Answer::Decimal(_)) => {
            let v = match a {
                Answer::Integer(i) => *i as f64,
                Answer::Decimal(d) => *d,
                _ => f64::NAN,
            };
            check_range(el.range, v)
        }
        (K::Score, Answer::Score(s)) => {
            if s.min >= s.max || s.max - s.min > 100 {
                return bad("invalid_scale", "the scale is not valid");
            }
            if s.value < s.min || s.value > s.max {
                return Err((
                    "score_out_of_range",
                    format!("the score must be between {} and {}", s.min, s.max),
                ));
            }
            if *s != q.score(s.value) {
                return bad(
                    "wrong_scale",
                    "the score's scale differs from the question's",
                );
            }
            Ok(())
        }
        (K::SelectOne, Answer::Choice(c)) => {
            if in_list(c) {
                Ok(())
            } else {
                bad("unknown_choice", "not one of the question's choices")
            }
        }
        (K::SelectMultiple | K::Rank, Answer::Choices(cs)) => {
            let mut seen = std::collections::HashSet::new();
            for c in cs {
                if !in_list(c) {
                    return bad("unknown_choice", "not one of the question's choices");
                }
                if !seen.insert(c) {
                    return bad("duplicate", "a choice is selected twice");
                }
            }
            Ok(())
        }
        (K::Date | K::Today, Answer::Date(d)) => match time::parse_iso(d) {
            Some(Iso::Date(_)) if d.len() == 10 => Ok(()),
            _ => bad("invalid_date", "dates are YYYY-MM-DD"),
        },
        (K::Time, Answer::Time(t)) => match time::parse_time(t) {
            Some(_) => Ok(()),
            None => bad("invalid_time", "times are HH:MM[:SS[.sss]][offset]"),
        },
        (K::DateTime | K::Start | K::End, Answer::DateTime(d)) => match time::parse_iso(d) {
            Some(Iso::DateTime { .. }) => Ok(()),
            _ => bad("invalid_datetime", "date-times are ISO 8601"),
        },
        (K::GeoPoint, Answer::Geo(g)) => geo_ok(g),
        (K::GeoTrace, Answer::GeoTrace(ps)) => {
            if ps.len() < 2 {
                return bad("invalid_location", "a trace needs at least two points");
            }
            ps.iter().try_for_each(geo_ok)
        }
        (K::GeoShape, Answer::GeoShape(ps)) => {
            if ps.len() < 4 || ps.first() != ps.last() {
                return bad(
                    "invalid_location",
                    "a shape needs at least three points and ends where it starts",
                );
            }
            ps.iter().try_for_each(geo_ok)
        }
        (K::Image | K::Audio | K::Video | K::File, Answer::Attachment(r)) => {
            let hex_ok = r.sha256.len() == 64
                && r.sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            let prefix = match q.kind {
                K::Image => "image/",
                K::Audio => "audio/",
                K::Video => "video/",
                _ => "",
            };
            if !hex_ok || r.size < 0 || r.name.is_empty() || r.name.len() > 255 {
                bad(
                    "invalid_attachment",
                    "an attachment needs a SHA-256, a size and a name",
                )
            } else if !r.media_type.starts_with(prefix) || r.media_type.len() > 127 {
                bad(
                    "wrong_media_type",
                    "the attachment's media type does not fit the question",
                )
            } else {
                Ok(())
            }
        }
        (K::Acknowledge, Answer::Acknowledged(_)) => Ok(()),
        (K::Note | K::Group | K::Repeat, _) => bad("no_answer", "this element takes no answer"),
        _ => wrong(),
    }
}

fn geo_ok(g: &GeoPoint) -> Check {
    g.check("")
        .map_err(|_| ("invalid_location", "coordinates out of range".to_string()))
}

fn check_range(range: Option<(f64, f64, f64)>, v: f64) -> Check {
    let (start, end, step) = range.unwrap_or((1.0, 10.0, 1.0));
    let (lo, hi) = if start <= end {
        (start, end)
    } else {
        (end, start)
    };
    if !v.is_finite() || v < lo - 1e-9 || v > hi + 1e-9 {
        return Err((
            "out_of_range",
            format!("the value must be between {lo} and {hi}"),
        ));
    }
    let k = (v - start) / step;
    if (k - k.round()).abs() > 1e-6 {
        return Err((
            "off_step",
            format!("the value must move in steps of {step}"),
        ));
    }
    Ok(())
}

/// A computed or default value (its XPath text) as an answer of the element's type;
/// `None` when the text does not fit.
pub(crate) fn answer_from_text(form: &CompiledForm, elem: usize, s: &str) -> Option<Answer> {
    use QuestionKind as K;
    let q = &form.form.questions[elem];
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let a = match q.kind {
        K::Text | K::Barcode | K::Calculate | K::Hidden | K::DeviceId | K::Username => {
            Answer::Text(s.to_string())
        }
        K::Integer => Answer::Integer(parse_int(s)?),
        K::Decimal => Answer::Decimal(s.parse::<f64>().ok().filter(|v| v.is_finite())?),
        K::Range => {
            let v = s.parse::<f64>().ok().filter(|v| v.is_finite())?;
            let step = form.elements[elem].range.map_or(1.0, |r| r.2);
            if v.fract() == 0.0 && step.fract() == 0.0 && v.abs() < 9e15 {
                Answer::Integer(v as i64)
            } else {
                Answer::Decimal(v)
            }
        }
        K::Score => Answer::Score(q.score(parse_int(s)?)),
        K::SelectOne => Answer::Choice(s.to_string()),
        K::SelectMultiple | K::Rank => {
            Answer::Choices(s.split_whitespace().map(str::to_string).collect())
        }
        K::Date | K::Today => match time::parse_iso(s)? {
            Iso::Date(d) => Answer::Date(time::format_date(d)),
            Iso::DateTime { local_ms, .. } => {
                Answer::Date(time::format_date(local_ms.div_euclid(time::DAY_MS)))
            }
        },
        K::Time => {
            time::parse_time(s)?;
            Answer::Time(s.to_string())
        }
        K::DateTime | K::Start | K::End => match time::parse_iso(s)? {
            Iso::DateTime { .. } => Answer::DateTime(s.to_string()),
            Iso::Date(_) => return None,
        },
        K::GeoPoint => {
            let mut it = s.split_whitespace().map(|x| x.parse::<f64>().ok());
            let lat = it.next()??;
            let lon = it.next()??;
            let altitude_m = it.next().flatten();
            let accuracy_m = it.next().flatten();
            Answer::Geo(GeoPoint {
                lat,
                lon,
                altitude_m,
                accuracy_m,
            })
        }
        K::Acknowledge => Answer::Acknowledged(matches!(s, "OK" | "ok" | "true" | "1" | "yes")),
        _ => return None,
    };
    check_answer(form, elem, &a).ok()?;
    Some(a)
}

fn parse_int(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().or_else(|| {
        let f = s.parse::<f64>().ok()?;
        (f.is_finite() && f.fract() == 0.0 && f.abs() < 9e15).then_some(f as i64)
    })
}
