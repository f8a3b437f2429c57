//! Calendar arithmetic and ISO 8601 text for expressions, without a date library.
//!
//! A date is a number of days since 1970-01-01 in the proleptic Gregorian calendar; a
//! date-time is milliseconds since the epoch (UTC) with the offset, in minutes, of the
//! place it was recorded. Days and civil dates convert with Howard Hinnant's
//! `days_from_civil` / `civil_from_days`, computed in `i128` so that no value an
//! [`Env`](super::Env) hands over (any `i64`, any `i32` offset) can overflow.
//!
//! Text accepted: dates `YYYY-MM-DD`; times `HH:MM`, `HH:MM:SS`, `HH:MM:SS.fff` (any
//! number of fraction digits, milliseconds kept); date-times joining the two with `T`
//! (or a space); zones `Z`, `±HH:MM`, `±HHMM` or `±HH`, or none. Text written: dates
//! `YYYY-MM-DD`, date-times `YYYY-MM-DDTHH:MM:SS.mmm±HH:MM` (`Z` at offset zero), and
//! the ODK `format-date` codes (English month and day names).

use std::fmt::{self, Write as _};

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;
const DAY_MS_WIDE: i128 = DAY_MS as i128;
const MINUTE_MS: i128 = 60_000;

/// Largest number of days either side of 1970 that a number converts to a date or a
/// date-time (about 8,200 years); beyond it `date()` and `date-time()` fail.
pub(crate) const MAX_DAYS: f64 = 3_000_000.0;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// The calendar fields of a local wall-clock instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i128,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

/// Days since 1970-01-01 of year `y`, month `m` (1–12), day `d` (1–31).
pub(crate) fn days_from_civil(y: i128, m: u32, d: u32) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (i128::from(m) + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + i128::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Year, month (1–12) and day (1–31) of a number of days since 1970-01-01.
pub(crate) fn civil_from_days(z: i128) -> (i128, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i128::from(m <= 2);
    // Invariant: m is in 1..=12 and d in 1..=31, so both fit a u32.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

fn days_in_month(y: i128, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Calendar fields of a date (midnight).
pub(crate) fn civil_of_date(days: i64) -> Civil {
    civil_of_local_ms(i128::from(days) * DAY_MS_WIDE)
}

/// Calendar fields of a date-time at the offset it carries.
pub(crate) fn civil_of_datetime(ms: i64, offset: i32) -> Civil {
    civil_of_local_ms(i128::from(ms) + i128::from(offset) * MINUTE_MS)
}

fn civil_of_local_ms(local: i128) -> Civil {
    let days = local.div_euclid(DAY_MS_WIDE);
    // Invariant: rem_euclid by a day is in [0, 86_400_000), which fits a u32.
    let rem = u32::try_from(local.rem_euclid(DAY_MS_WIDE)).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: rem / 3_600_000,
        minute: rem / 60_000 % 60,
        second: rem / 1000 % 60,
        milli: rem % 1000,
        // Invariant: rem_euclid(7) is in [0, 6].
        weekday: u32::try_from((days + 4).rem_euclid(7)).unwrap_or(0),
    }
}

fn clamp_i64(x: i128) -> i64 {
    i64::try_from(x).unwrap_or(if x < 0 { i64::MIN } else { i64::MAX })
}

/// Milliseconds since the epoch of `local` wall-clock milliseconds at `offset`
/// minutes, saturating at the ends of `i64`.
pub(crate) fn utc_ms(local_ms: i128, offset: i32) -> i64 {
    clamp_i64(local_ms - i128::from(offset) * MINUTE_MS)
}

/// The local date (days since 1970-01-01) of a date-time at `offset`.
pub(crate) fn local_days(ms: i64, offset: i32) -> i64 {
    clamp_i64((i128::from(ms) + i128::from(offset) * MINUTE_MS).div_euclid(DAY_MS_WIDE))
}

/// Fractional days since 1970-01-01 of a date-time, on the wall clock at `offset`.
pub(crate) fn fractional_days(ms: i64, offset: i32) -> f64 {
    (ms as f64 + f64::from(offset) * 60_000.0) / DAY_MS as f64
}

/// A date or a date-time read from text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Iso {
    /// `YYYY-MM-DD`: days since 1970-01-01.
    Date(i64),
    /// A date-time: wall-clock milliseconds since 1970-01-01T00:00 and the zone, if
    /// the text gave one.
    DateTime { local_ms: i64, offset: Option<i32> },
}

/// Read a date or a date-time (surrounding whitespace ignored).
pub(crate) fn parse_iso(s: &str) -> Option<Iso> {
    let mut c = Cursor {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let days = c.date()?;
    if c.done() {
        return Some(Iso::Date(days));
    }
    if !(c.eat(b'T') || c.eat(b' ')) {
        return None;
    }
    let (tod, offset) = c.time()?;
    if !c.done() {
        return None;
    }
    // Years are four digits, so days * DAY_MS is within ±3.2e14: no overflow.
    Some(Iso::DateTime {
        local_ms: days * DAY_MS + tod,
        offset,
    })
}

/// Read a time of day: milliseconds since midnight and the zone, if given.
pub(crate) fn parse_time(s: &str) -> Option<(i64, Option<i32>)> {
    let mut c = Cursor {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let t = c.time()?;
    c.done().then_some(t)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = self.peek().filter(u8::is_ascii_digit)?;
            v = v * 10 + u32::from(d - b'0');
            self.i += 1;
        }
        Some(v)
    }

    fn date(&mut self) -> Option<i64> {
        let y = self.digits(4)?;
        let y = i128::from(y);
        if !self.eat(b'-') {
            return None;
        }
        let m = self.digits(2).filter(|m| (1..=12).contains(m))?;
        if !self.eat(b'-') {
            return None;
        }
        let d = self
            .digits(2)
            .filter(|&d| d >= 1 && d <= days_in_month(y, m))?;
        i64::try_from(days_from_civil(y, m, d)).ok()
    }

    fn time(&mut self) -> Option<(i64, Option<i32>)> {
        let h = self.digits(2).filter(|h| *h <= 23)?;
        if !self.eat(b':') {
            return None;
        }
        let m = self.digits(2).filter(|m| *m <= 59)?;
        let mut s = 0;
        let mut ms = 0;
        if self.eat(b':') {
            s = self.digits(2).filter(|s| *s <= 59)?;
            if self.eat(b'.') || self.eat(b',') {
                let mut scale = 100;
                let mut any = false;
                while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                    ms += u32::from(d - b'0') * scale;
                    scale /= 10;
                    any = true;
                    self.i += 1;
                }
                if !any {
                    return None;
                }
            }
        }
        let offset = if self.eat(b'Z') {
            Some(0)
        } else if let Some(sign @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            let oh = self.digits(2).filter(|h| *h <= 23)?;
            let om = if self.eat(b':') || self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.digits(2)?
            } else {
                0
            };
            if om > 59 {
                return None;
            }
            // Invariant: at most 23 * 60 + 59, which fits an i32.
            let minutes = i32::try_from(oh * 60 + om).unwrap_or(0);
            Some(if sign == b'-' { -minutes } else { minutes })
        } else {
            None
        };
        let tod = i64::from(((h * 60 + m) * 60 + s) * 1000 + ms);
        Some((tod, offset))
    }
}

/// A year written with at least four digits, a `-` before negative years.
struct Year(i128);

impl fmt::Display for Year {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "-{:04}", self.0.unsigned_abs())
        } else {
            write!(f, "{:04}", self.0)
        }
    }
}

/// A zone: `Z` at offset zero, `±HH:MM` otherwise.
struct Zone(i32);

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("Z");
        }
        let sign = if self.0 < 0 { '-' } else { '+' };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)
    }
}

/// `YYYY-MM-DD`.
pub(crate) fn format_date(days: i64) -> String {
    let c = civil_of_date(days);
    format!("{}-{:02}-{:02}", Year(c.year), c.month, c.day)
}

/// `YYYY-MM-DDTHH:MM:SS.mmm±HH:MM`, on the wall clock at `offset`.
pub(crate) fn format_datetime(ms: i64, offset: i32) -> String {
    let c = civil_of_datetime(ms, offset);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}",
        Year(c.year),
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.milli,
        Zone(offset)
    )
}

/// Apply an ODK `format-date` pattern: `%Y` year, `%y` two-digit year, `%m` month
/// (01–12), `%n` month (1–12), `%b` month name, `%d` day (01–31), `%e` day (1–31),
/// `%H` hour (00–23), `%h` hour (0–23), `%M` minute, `%S` second, `%3` milliseconds,
/// `%a` day name, `%%` a percent sign. Anything else is copied as written.
pub(crate) fn format_with(pattern: &str, c: &Civil) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        // Writing into a String cannot fail.
        let _ = match chars.next() {
            Some('Y') => write!(out, "{}", Year(c.year)),
            Some('y') => write!(out, "{:02}", c.year.rem_euclid(100)),
            Some('m') => write!(out, "{:02}", c.month),
            Some('n') => write!(out, "{}", c.month),
            Some('b') => {
                let idx = usize::try_from(c.month.saturating_sub(1)).unwrap_or(0);
                out.push_str(MONTHS.get(idx).copied().unwrap_or(""));
                Ok(())
            }
            Some('d') => write!(out, "{:02}", c.day),
            Some('e') => write!(out, "{}", c.day),
            Some('H') => write!(out, "{:02}", c.hour),
            Some('h') => write!(out, "{}", c.hour),
            Some('M') => write!(out, "{:02}", c.minute),
            Some('S') => write!(out, "{:02}", c.second),
            Some('3') => write!(out, "{:03}", c.milli),
            Some('a') => {
                let idx = usize::try_from(c.weekday).unwrap_or(0);
                out.push_str(WEEKDAYS.get(idx).copied().unwrap_or(""));
                Ok(())
            }
            Some('%') => {
                out.push('%');
                Ok(())
            }
            Some(other) => {
                out.push('%');
                out.push(other);
                Ok(())
            }
            None => {
                out.push('%');
                Ok(())
            }
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips_across_eras() {
        for days in (-800_000i128..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_844), (2024, 5, 1));
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        for ms in [i64::MIN, i64::MAX, 0, -1] {
            for off in [i32::MIN, i32::MAX, 0] {
                let _ = format_datetime(ms, off);
                let _ = local_days(ms, off);
                let _ = fractional_days(ms, off);
                let _ = format_with(
                    "%Y %y %m %n %b %d %e %H %h %M %S %3 %a %% %q %",
                    &civil_of_datetime(ms, off),
                );
            }
        }
        assert!(format_date(i64::MAX).len() > 10);
        assert!(format_date(i64::MIN).starts_with('-'));
        assert_eq!(utc_ms(i128::from(i64::MIN), 1), i64::MIN);
    }

    #[test]
    fn parses_dates_times_and_zones() {
        assert_eq!(parse_iso(" 2024-05-01 "), Some(Iso::Date(19_844)));
        assert_eq!(parse_iso("2024-02-30"), None);
        assert_eq!(parse_iso("2023-02-29"), None);
        assert_eq!(parse_iso("2024-13-01"), None);
        assert_eq!(parse_iso("24-05-01"), None);
        assert_eq!(parse_iso("2024-05-01x"), None);
        assert_eq!(
            parse_iso("2024-05-01T10:30:00.5+08:00"),
            Some(Iso::DateTime {
                local_ms: 19_844 * DAY_MS + 37_800_500,
                offset: Some(480)
            })
        );
        assert_eq!(
            parse_iso("2024-05-01 10:30"),
            Some(Iso::DateTime {
                local_ms: 19_844 * DAY_MS + 37_800_000,
                offset: None
            })
        );
        assert_eq!(parse_time("10:30Z"), Some((37_800_000, Some(0))));
        assert_eq!(
            parse_time("10:30:01.123456-0530"),
            Some((37_801_123, Some(-330)))
        );
        assert_eq!(parse_time("10:30:01+02"), Some((37_801_000, Some(120))));
        assert_eq!(parse_time("24:00"), None);
        assert_eq!(parse_time("10:60"), None);
        assert_eq!(parse_time("10:30:01."), None);
        assert_eq!(parse_time("10:30+05:60"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn formats_iso_and_patterns() {
        assert_eq!(format_date(19_844), "2024-05-01");
        assert_eq!(format_date(-719_528), "0000-01-01");
        assert_eq!(format_date(-719_529), "-0001-12-31");
        let ms = 19_844 * DAY_MS + 2 * 3_600_000 + 30 * 60_000 + 7;
        assert_eq!(format_datetime(ms, 480), "2024-05-01T10:30:00.007+08:00");
        assert_eq!(format_datetime(ms, -90), "2024-05-01T01:00:00.007-01:30");
        assert_eq!(format_datetime(ms, 0), "2024-05-01T02:30:00.007Z");
        let c = civil_of_datetime(ms, 480);
        assert_eq!(c.weekday, 3);
        assert_eq!(
            format_with("%Y/%y/%m/%n/%b/%d/%e %H:%h:%M:%S.%3 %a 100%% %q", &c),
            "2024/24/05/5/May/01/1 10:10:30:00.007 Wed 100% %q"
        );
        let c = civil_of_date(0);
        assert_eq!(format_with("%a %e %b %Y %H", &c), "Thu 1 Jan 1970 00");
    }
}
