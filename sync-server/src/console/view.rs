//! Presentation helpers: the page frame every template gets, number and date
//! formatting, the SVG charts (server-rendered, no script), and the security headers
//! every response carries.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use fieldsync_core::Timestamp;
use fieldsync_core::analytics::BandFigures;

use super::auth::Signed;
use super::i18n::{self, Switch, Tr};
use crate::storage::console::Role;
use fieldsync_i18n::format as lf;

/// What the layout needs on every signed-in page.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Page title.
    pub title: String,
    /// Navigation key of the page (`overview`, `responses`, ...).
    pub active: &'static str,
    /// Signed-in user.
    pub user: String,
    /// Role name.
    pub role: &'static str,
    /// True for admins (the operations menu).
    pub admin: bool,
    /// The session's CSRF token, for every form.
    pub csrf: String,
    /// The page's language and its texts.
    pub tr: Tr,
    /// The language switcher.
    pub langs: Vec<Switch>,
}

impl Frame {
    /// The frame for `signed` on page `active`.
    pub fn new(signed: &Signed, active: &'static str, title: impl Into<String>) -> Self {
        Frame {
            title: title.into(),
            active,
            user: signed.account.username.clone(),
            role: signed.account.role.as_str(),
            admin: signed.account.role == Role::Admin,
            csrf: signed.session.csrf.clone(),
            tr: Tr::current(),
            langs: i18n::switcher(),
        }
    }
}

/// Render an askama template as a page (500 on a template error).
pub fn page<T: askama::Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                fieldsync_i18n::t!(i18n::lang(), "console-render-failed"),
            )
                .into_response()
        }
    }
}

/// Headers on every response: no framing, no sniffing, a strict content policy (the
/// console uses no script and no outside resource), no referrer, no caching of pages.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// `12.3%` in the request's language, or `–` without data.
pub fn pct(v: Option<f64>) -> String {
    lf::opt_percent(i18n::lang(), v, 1)
}

/// `7.42` in the request's language, or `–`.
pub fn mean(v: Option<f64>) -> String {
    lf::opt_decimal(i18n::lang(), v, 2)
}

/// Date and time (UTC) of a timestamp in the request's language, or `–`.
pub fn when(t: Option<Timestamp>) -> String {
    lf::opt_datetime(i18n::lang(), t)
}

/// The date (UTC) of a timestamp in the request's language.
pub fn day(t: Timestamp) -> String {
    lf::date(i18n::lang(), t)
}

/// `2026-03-04 10:30` (UTC) of a timestamp, or `–`: the machine form, for exports.
pub fn datetime(t: Option<Timestamp>) -> String {
    let Some(t) = t else {
        return "–".into();
    };
    let secs = t.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (y, m, d) = civil(days);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// `2026-03-04` of a timestamp (machine form).
#[cfg(test)]
pub fn date(t: Timestamp) -> String {
    datetime(Some(t)).chars().take(10).collect()
}

fn civil(z: i64) -> (i64, u32, u32) {
    lf::civil(z)
}

/// Milliseconds since the epoch of `YYYY-MM-DD` (UTC midnight).
pub fn parse_date(s: &str) -> Option<Timestamp> {
    let b = s.trim();
    let (y, rest) = b.split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

/// One row of a band chart.
#[derive(Debug, Clone)]
pub struct BandRow {
    /// Group label.
    pub label: String,
    /// Responses.
    pub n: u64,
    /// Shares as text.
    pub high: String,
    /// Middle share.
    pub middle: String,
    /// Low share.
    pub low: String,
    /// Mean.
    pub mean: String,
}

impl BandRow {
    /// A row from figures.
    pub fn new(label: impl Into<String>, b: &BandFigures) -> Self {
        BandRow {
            label: label.into(),
            n: b.n,
            high: pct(b.high_pct()),
            middle: pct(b.middle_pct()),
            low: pct(b.low_pct()),
            mean: mean(b.mean),
        }
    }
}

/// A stacked horizontal bar chart of band shares, one bar per group, as inline SVG
/// (escaped labels; no script).
pub fn band_chart(title: &str, rows: &[(String, BandFigures)]) -> String {
    const W: f64 = 640.0;
    const LABEL: f64 = 170.0;
    const BAR_H: f64 = 22.0;
    let h = 30.0 + rows.len() as f64 * (BAR_H + 8.0);
    let mut s = format!(
        r#"<svg class="chart" role="img" aria-label="{t}" viewBox="0 0 {W} {h}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = escape(title)
    );
    for (i, (label, b)) in rows.iter().enumerate() {
        let y = 24.0 + i as f64 * (BAR_H + 8.0);
        s.push_str(&format!(
            r#"<text x="0" y="{ty}" class="label">{l}</text>"#,
            ty = y + 15.0,
            l = escape(label)
        ));
        let total = (b.high + b.middle + b.low).max(1) as f64;
        let mut x = LABEL;
        for (count, class) in [(b.high, "high"), (b.middle, "middle"), (b.low, "low")] {
            let w = (W - LABEL - 60.0) * count as f64 / total;
            if w > 0.0 {
                let name = escape(&fieldsync_i18n::labels::label(
                    i18n::lang(),
                    fieldsync_i18n::labels::Domain::Band,
                    class,
                ));
                s.push_str(&format!(
                    r#"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="{BAR_H}" class="{class}"><title>{name}: {count}</title></rect>"#
                ));
            }
            x += w;
        }
        s.push_str(&format!(
            r#"<text x="{tx}" y="{ty}" class="n">n={n}</text>"#,
            tx = W - 55.0,
            ty = y + 15.0,
            n = lf::integer(i18n::lang(), i64::try_from(b.n).unwrap_or(i64::MAX))
        ));
    }
    s.push_str(
        r#"<g class="legend"><rect x="170" y="4" width="10" height="10" class="high"/><text x="184" y="13">8–10</text><rect x="230" y="4" width="10" height="10" class="middle"/><text x="244" y="13">5–7</text><rect x="290" y="4" width="10" height="10" class="low"/><text x="304" y="13">1–4</text></g></svg>"#,
    );
    s
}

/// HTML-escape text for the SVG built by hand.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for s in ["1970-01-01", "2024-02-29", "2026-12-01", "1999-12-31"] {
            let t = parse_date(s).unwrap_or(-1);
            assert_eq!(date(t), s);
        }
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(datetime(Some(90_000_000)), "1970-01-02 01:00");
    }

    #[test]
    fn charts_escape_labels() {
        let b = BandFigures {
            n: 3,
            high: 1,
            middle: 1,
            low: 1,
            mean: Some(5.0),
        };
        let svg = band_chart("t<", &[("<script>".into(), b)]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("n=3"));
    }
}
