//! Dates, numbers and percentages by the conventions of each interface language
//! (CLDR's `en` and `zh-Hans-CN` patterns, written out here: no kept crate covered
//! both without pulling in the whole ICU data set).
//!
//! | | en | zh-CN |
//! |---|---|---|
//! | integer | `12,345` | `12,345` |
//! | decimal | `1,234.57` | `1,234.57` |
//! | percent | `12.5%` | `12.5%` |
//! | date | `Mar 4, 2026` | `2026年3月4日` |
//! | date and time | `Mar 4, 2026, 10:30` | `2026年3月4日 10:30` |
//! | month | `Mar 2026` | `2026年3月` |
//! | quarter | `Q1 2026` | `2026年第1季度` |
//!
//! Times are shown in UTC (the server has no idea of the reader's zone). Numbers
//! grouped by thousands in both: that is the mainland convention for digits (万 is
//! for compact and spoken forms, not tables). Machine formats (exports, the API) keep
//! ISO 8601 and plain numbers and do not use this module.

use crate::Lang;

/// Shown for a figure with no data.
pub const NONE: &str = "–";

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    let n = digits.len();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An integer with thousands separators.
pub fn integer(_lang: Lang, v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    if v < 0 {
        format!("-{}", group(&digits))
    } else {
        group(&digits)
    }
}

/// A decimal with `places` digits after the point and thousands separators.
pub fn decimal(lang: Lang, v: f64, places: usize) -> String {
    if !v.is_finite() {
        return NONE.to_string();
    }
    let s = format!("{:.*}", places, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let neg = v < 0.0 && s.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    let _ = lang;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&group(int));
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A percentage given as 0–100, with `places` decimals: `12.5%`.
pub fn percent(lang: Lang, v: f64, places: usize) -> String {
    format!("{}%", decimal(lang, v, places))
}

/// `percent` of an optional figure, [`NONE`] without data.
pub fn opt_percent(lang: Lang, v: Option<f64>, places: usize) -> String {
    v.map_or_else(|| NONE.to_string(), |v| percent(lang, v, places))
}

/// `decimal` of an optional figure, [`NONE`] without data.
pub fn opt_decimal(lang: Lang, v: Option<f64>, places: usize) -> String {
    v.map_or_else(|| NONE.to_string(), |v| decimal(lang, v, places))
}

/// Civil date (year, month 1–12, day 1–31) of days since 1970-01-01.
pub fn civil(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn parts(ms: i64) -> (i64, u32, u32, i64, i64) {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    (y, m, d, rem / 3600, rem % 3600 / 60)
}

fn month_en(m: u32) -> &'static str {
    MONTHS_EN[(m.clamp(1, 12) - 1) as usize]
}

/// The date (UTC) of a timestamp in milliseconds since the epoch.
pub fn date(lang: Lang, ms: i64) -> String {
    let (y, m, d, _, _) = parts(ms);
    match lang {
        Lang::En => format!("{} {d}, {y}", month_en(m)),
        Lang::ZhCn => format!("{y}年{m}月{d}日"),
    }
}

/// The date and time (UTC, 24-hour) of a timestamp in milliseconds.
pub fn datetime(lang: Lang, ms: i64) -> String {
    let (y, m, d, hh, mm) = parts(ms);
    match lang {
        Lang::En => format!("{} {d}, {y}, {hh:02}:{mm:02}", month_en(m)),
        Lang::ZhCn => format!("{y}年{m}月{d}日 {hh:02}:{mm:02}"),
    }
}

/// `datetime` of an optional timestamp, [`NONE`] without one.
pub fn opt_datetime(lang: Lang, ms: Option<i64>) -> String {
    ms.map_or_else(|| NONE.to_string(), |t| datetime(lang, t))
}

/// A calendar month.
pub fn month(lang: Lang, year: i64, month: u32) -> String {
    match lang {
        Lang::En => format!("{} {year}", month_en(month)),
        Lang::ZhCn => format!("{year}年{month}月"),
    }
}

/// A calendar quarter (1–4).
pub fn quarter(lang: Lang, year: i64, q: u32) -> String {
    match lang {
        Lang::En => format!("Q{q} {year}"),
        Lang::ZhCn => format!("{year}年第{q}季度"),
    }
}

/// A period key as the analytics name them (`2026-03`, `2026-Q1`) for reading;
/// anything else unchanged.
pub fn period(lang: Lang, key: &str) -> String {
    let Some((y, rest)) = key.split_once('-') else {
        return key.to_string();
    };
    let Ok(year) = y.parse::<i64>() else {
        return key.to_string();
    };
    if let Some(q) = rest.strip_prefix('Q').and_then(|q| q.parse::<u32>().ok()) {
        if (1..=4).contains(&q) {
            return quarter(lang, year, q);
        }
    } else if let Ok(m) = rest.parse::<u32>()
        && (1..=12).contains(&m)
        && rest.len() == 2
    {
        return month(lang, year, m);
    }
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(integer(Lang::En, 1_234_567), "1,234,567");
        assert_eq!(integer(Lang::ZhCn, -1234), "-1,234");
        assert_eq!(integer(Lang::En, 999), "999");
        assert_eq!(decimal(Lang::En, 1234.567, 2), "1,234.57");
        assert_eq!(decimal(Lang::ZhCn, -0.001, 2), "0.00");
        assert_eq!(decimal(Lang::En, -12.5, 1), "-12.5");
        assert_eq!(percent(Lang::ZhCn, 12.345, 1), "12.3%");
        assert_eq!(opt_percent(Lang::En, None, 1), "–");
        assert_eq!(decimal(Lang::En, f64::NAN, 1), "–");
    }

    #[test]
    fn dates() {
        // 2026-03-04 10:30 UTC
        let t = 1_772_620_200_000;
        assert_eq!(date(Lang::En, t), "Mar 4, 2026");
        assert_eq!(date(Lang::ZhCn, t), "2026年3月4日");
        assert_eq!(datetime(Lang::En, t), "Mar 4, 2026, 10:30");
        assert_eq!(datetime(Lang::ZhCn, t), "2026年3月4日 10:30");
        assert_eq!(datetime(Lang::En, 0), "Jan 1, 1970, 00:00");
        assert_eq!(period(Lang::ZhCn, "2026-03"), "2026年3月");
        assert_eq!(period(Lang::En, "2026-Q1"), "Q1 2026");
        assert_eq!(period(Lang::ZhCn, "2026-Q4"), "2026年第4季度");
        assert_eq!(period(Lang::En, "unknown"), "unknown");
        assert_eq!(period(Lang::En, "2026-13"), "2026-13");
    }
}
