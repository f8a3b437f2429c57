//! The `parameters` column: pyxform's grammar (`pyxform/parsing/parameters.py`:
//! `key=value` pairs separated by spaces, `,` or `;`; keys lower-cased, values too
//! except `label` and `value`), the parameters each type accepts, and the checks on
//! `range` parameters (`pyxform/validators/pyxform/question_types/range.py`), done in
//! exact decimal arithmetic as pyxform's `Decimal`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::model::QuestionKind;

/// Parse a parameters cell. `Err` when it is not a list of `key=value` pairs.
pub(super) fn parse(raw: &str) -> Result<BTreeMap<String, String>, ()> {
    #[derive(PartialEq)]
    enum Tok<'a> {
        Eq,
        Word(&'a str),
    }
    let is_sep = |c: char| c.is_whitespace() || c == ',' || c == ';';
    let mut toks = Vec::new();
    let mut rest = raw;
    loop {
        rest = rest.trim_start_matches(is_sep);
        if rest.is_empty() {
            break;
        }
        if let Some(r) = rest.strip_prefix('=') {
            toks.push(Tok::Eq);
            rest = r;
            continue;
        }
        let end = rest
            .find(|c: char| is_sep(c) || c == '=')
            .unwrap_or(rest.len());
        toks.push(Tok::Word(&rest[..end]));
        rest = &rest[end..];
    }
    let mut out = BTreeMap::new();
    let mut it = toks.into_iter();
    while let Some(t) = it.next() {
        let (Tok::Word(k), Some(Tok::Eq), Some(Tok::Word(v))) = (t, it.next(), it.next()) else {
            return Err(());
        };
        let key = k.trim().to_lowercase();
        let value = if key == "label" || key == "value" {
            v.trim().to_string()
        } else {
            v.trim().to_lowercase()
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// The parameters pyxform accepts for a type, when it checks them (`None`: any).
pub(super) fn accepted(kind: QuestionKind, from_file: bool) -> Option<&'static [&'static str]> {
    use QuestionKind as K;
    Some(match kind {
        K::Text => &["rows"],
        K::Image => &["app", "max-pixels"],
        K::Audio => &["quality"],
        K::Range => &[
            "end",
            "placeholder",
            "start",
            "step",
            "tick_interval",
            "tick_labelset",
        ],
        K::SelectOne | K::SelectMultiple | K::Rank if from_file => {
            &["label", "randomize", "seed", "value"]
        }
        K::SelectOne | K::SelectMultiple | K::Rank => &["randomize", "seed"],
        K::GeoPoint => &[
            "allow-mock-accuracy",
            "capture-accuracy",
            "reference-geometry",
            "warning-accuracy",
        ],
        K::GeoTrace | K::GeoShape => &["allow-mock-accuracy", "incremental", "reference-geometry"],
        _ => return None,
    })
}

/// An exact decimal: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dec {
    mantissa: i128,
    scale: u32,
}

const MAX_SCALE: u32 = 18;

impl Dec {
    /// Parse a finite decimal (`-1.5`, `.5`, `2e3`); `None` for anything else or for
    /// numbers with too many digits to compare exactly.
    pub fn parse(s: &str) -> Option<Dec> {
        let s = s.trim();
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (num, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], body[i + 1..].parse::<i32>().ok()?),
            None => (body, 0),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 19 {
            return None;
        }
        let mut mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let mut scale = i64::try_from(frac.len()).ok()? - i64::from(exp);
        while scale < 0 {
            mantissa = mantissa.checked_mul(10)?;
            scale += 1;
        }
        if scale > i64::from(MAX_SCALE) || mantissa.abs() >= 10i128.pow(19) {
            return None;
        }
        let scale = u32::try_from(scale).ok()?;
        Some(Dec {
            mantissa: if neg { -mantissa } else { mantissa },
            scale,
        })
    }

    fn at(self, scale: u32) -> i128 {
        self.mantissa * 10i128.pow(scale - self.scale)
    }

    fn pair(a: Dec, b: Dec) -> (i128, i128) {
        let s = a.scale.max(b.scale);
        (a.at(s), b.at(s))
    }

    fn new(mantissa: i128, scale: u32) -> Dec {
        Dec { mantissa, scale }
    }

    /// `|a - b|`.
    pub fn width(a: Dec, b: Dec) -> Dec {
        let (x, y) = Dec::pair(a, b);
        Dec::new((x - y).abs(), a.scale.max(b.scale))
    }

    /// `a - b`.
    pub fn sub(a: Dec, b: Dec) -> Dec {
        let (x, y) = Dec::pair(a, b);
        Dec::new(x - y, a.scale.max(b.scale))
    }

    /// True when `a` is a whole multiple of `b` (`b` non-zero).
    pub fn is_multiple(a: Dec, b: Dec) -> bool {
        let (x, y) = Dec::pair(a, b);
        y != 0 && x % y == 0
    }

    /// Zero.
    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// Whole number.
    pub fn is_integral(self) -> bool {
        self.mantissa % 10i128.pow(self.scale) == 0
    }

    /// As an integer, when whole and small enough.
    pub fn as_i64(self) -> Option<i64> {
        if !self.is_integral() {
            return None;
        }
        i64::try_from(self.mantissa / 10i128.pow(self.scale)).ok()
    }

    /// Compare.
    pub fn cmp(a: Dec, b: Dec) -> Ordering {
        let (x, y) = Dec::pair(a, b);
        x.cmp(&y)
    }
}

/// The problems of a range question's parameters, as (parameter, message); `names`
/// are the choice names of the `tick_labelset` list, if it exists.
pub(super) fn check_range(
    params: &BTreeMap<String, String>,
    appearance: Option<&str>,
    tick_names: Option<&[String]>,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let appearance = appearance.unwrap_or("");
    if !appearance.is_empty()
        && !appearance.contains("vertical")
        && !appearance.contains("no-ticks")
        && ["tick_interval", "placeholder", "tick_labelset"]
            .iter()
            .any(|k| params.contains_key(*k))
    {
        problems.push((
            "appearance".into(),
            "tick_interval, placeholder and tick_labelset work only with the appearances \
             vertical, no-ticks or none"
                .into(),
        ));
    }
    let get = |name: &str, default: Option<&str>| -> Result<Option<Dec>, String> {
        match params.get(name).map(String::as_str).or(default) {
            None => Ok(None),
            Some(v) => Dec::parse(v)
                .map(Some)
                .ok_or_else(|| format!("the parameter {name} must be a number")),
        }
    };
    let mut num = |name: &str, default: Option<&str>| match get(name, default) {
        Ok(v) => v,
        Err(m) => {
            problems.push((name.to_string(), m));
            None
        }
    };
    let start = num("start", Some("1"));
    let end = num("end", Some("10"));
    let step = num("step", Some("1"));
    let tick = num("tick_interval", None);
    let placeholder = num("placeholder", None);
    let (Some(start), Some(end), Some(step)) = (start, end, step) else {
        return problems;
    };
    let width = Dec::width(end, start);
    let (lo, hi) = if Dec::cmp(start, end) == Ordering::Greater {
        (end, start)
    } else {
        (start, end)
    };
    if step.is_zero() {
        problems.push(("step".into(), "the parameter step must not be 0".into()));
        return problems;
    }
    if Dec::cmp(step, width) == Ordering::Greater {
        problems.push((
            "step".into(),
            "the parameter step must not be larger than the range (end - start)".into(),
        ));
    }
    if let Some(t) = tick {
        if t.is_zero() {
            problems.push((
                "tick_interval".into(),
                "the parameter tick_interval must not be 0".into(),
            ));
        } else if Dec::cmp(t, width) == Ordering::Greater {
            problems.push((
                "tick_interval".into(),
                "the parameter tick_interval must not be larger than the range".into(),
            ));
        } else if !Dec::is_multiple(t, step) {
            problems.push((
                "tick_interval".into(),
                "the parameter tick_interval must be a multiple of step".into(),
            ));
        }
    }
    if let Some(p) = placeholder {
        if !Dec::is_multiple(Dec::sub(p, start), step) {
            problems.push((
                "placeholder".into(),
                "the parameter placeholder must be start plus a multiple of step".into(),
            ));
        } else if Dec::cmp(p, lo) == Ordering::Less || Dec::cmp(p, hi) == Ordering::Greater {
            problems.push((
                "placeholder".into(),
                "the parameter placeholder must be between start and end".into(),
            ));
        }
    }
    if params.contains_key("tick_labelset") {
        match tick_names {
            None => problems.push((
                "tick_labelset".into(),
                "the parameter tick_labelset must name a choice list".into(),
            )),
            Some(names) => {
                let no_ticks = appearance.contains("no-ticks");
                let mut values = Vec::new();
                for n in names {
                    let Some(v) = Dec::parse(n) else {
                        problems.push((
                            "tick_labelset".into(),
                            "the tick_labelset choices must all be numbers".into(),
                        ));
                        break;
                    };
                    if Dec::cmp(v, lo) == Ordering::Less || Dec::cmp(v, hi) == Ordering::Greater {
                        problems.push((
                            "tick_labelset".into(),
                            "the tick_labelset choices must be between start and end".into(),
                        ));
                        break;
                    }
                    let off = Dec::sub(v, start);
                    let unit = tick.unwrap_or(step);
                    if !Dec::is_multiple(off, unit) {
                        problems.push((
                            "tick_labelset".into(),
                            "the tick_labelset choices must be start plus a multiple of the \
                             tick interval (or step)"
                                .into(),
                        ));
                        break;
                    }
                    if !values.iter().any(|x| Dec::cmp(*x, v) == Ordering::Equal) {
                        values.push(v);
                    }
                }
                if no_ticks {
                    let is = |a: Dec, b: Dec| Dec::cmp(a, b) == Ordering::Equal;
                    let ends_only = values.iter().all(|v| is(*v, start) || is(*v, end))
                        && values.iter().any(|v| is(*v, start))
                        && values.iter().any(|v| is(*v, end));
                    if !ends_only {
                        problems.push((
                            "tick_labelset".into(),
                            "with the no-ticks appearance the tick_labelset list holds only \
                             start and end"
                                .into(),
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// The start and end of a range question, when both are whole numbers.
pub(super) fn range_bounds(params: &BTreeMap<String, String>) -> Option<(i64, i64)> {
    let get = |k: &str, d: &str| Dec::parse(params.get(k).map_or(d, String::as_str))?.as_i64();
    Some((get("start", "1")?, get("end", "10")?))
}
