//! The console's language: chosen per request by the reader's own setting (the
//! `fs_lang` cookie the switcher sets), then the browser's `Accept-Language`, then
//! English; held in a task-local for the request so pages, charts and refusals render
//! in it without threading it through every call. Texts come from the catalogues of
//! `fieldsync-i18n`; templates reach them through [`Tr`].

use axum::extract::{Query, Request};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use fieldsync_i18n::labels::{self, Domain};
use fieldsync_i18n::{Arg, Lang, format, t, tr_args};
use serde::Deserialize;

use super::ConsoleState;
use super::auth;

/// The cookie that keeps the reader's choice of language.
pub const LANG_COOKIE: &str = "fs_lang";

#[derive(Debug, Clone)]
struct Ui {
    lang: Lang,
    here: String,
}

tokio::task_local! {
    static UI: Ui;
}

/// The language of a request: its `fs_lang` cookie, else its `Accept-Language`, else
/// English.
pub fn negotiate(headers: &HeaderMap) -> Lang {
    auth::cookie(headers, LANG_COOKIE)
        .and_then(|c| Lang::parse(&c))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

/// Middleware: decide the request's language and run the rest of it with it.
pub async fn language(req: Request, next: Next) -> Response {
    let ui = Ui {
        lang: negotiate(req.headers()),
        here: req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
    };
    UI.scope(ui, next.run(req)).await
}

/// The current request's language (English outside a request).
pub fn lang() -> Lang {
    UI.try_with(|u| u.lang).unwrap_or_default()
}

fn here() -> String {
    UI.try_with(|u| u.here.clone())
        .unwrap_or_else(|_| "/".to_string())
}

/// Catalogue access for templates: `{{ tr.t("key") }}`, `{{ tr.tn("key", n) }}`.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    /// The language texts are in.
    pub lang: Lang,
}

impl Tr {
    /// The current request's.
    pub fn current() -> Self {
        Tr { lang: lang() }
    }

    /// A message without arguments.
    pub fn t(&self, key: &str) -> String {
        fieldsync_i18n::tr(self.lang, key)
    }

    /// A message with one count (`$n`, plural forms).
    pub fn tn(&self, key: &str, n: impl Count) -> String {
        tr_args(self.lang, key, &[("n", Arg::from(n.count()))])
    }

    /// The `lang` attribute of the page.
    pub fn tag(&self) -> &'static str {
        self.lang.tag()
    }

    /// A status code's name.
    pub fn status(&self, code: impl AsRef<str>) -> String {
        labels::label(self.lang, Domain::Status, code.as_ref())
    }

    /// A band's name.
    pub fn band(&self, code: impl AsRef<str>) -> String {
        labels::label(self.lang, Domain::Band, code.as_ref())
    }

    /// A segment kind's name.
    pub fn segment(&self, code: impl AsRef<str>) -> String {
        labels::label(self.lang, Domain::Segment, code.as_ref())
    }

    /// A role's name.
    pub fn role(&self, code: impl AsRef<str>) -> String {
        labels::label(self.lang, Domain::Role, code.as_ref())
    }

    /// A count with thousands separators.
    pub fn int(&self, n: impl Count) -> String {
        format::integer(self.lang, n.count())
    }
}

/// A count a template shows (by value or by reference, as loops give them).
pub trait Count {
    /// As an `i64` (saturating).
    fn count(&self) -> i64;
}

macro_rules! count {
    ($($t:ty),*) => {$(
        impl Count for $t {
            fn count(&self) -> i64 {
                i64::try_from(*self).unwrap_or(i64::MAX)
            }
        }
    )*};
}
count!(u32, u64, usize, i64);

impl<T: Count + ?Sized> Count for &T {
    fn count(&self) -> i64 {
        (**self).count()
    }
}

/// One entry of the language switcher.
#[derive(Debug, Clone)]
pub struct Switch {
    /// The language's own name.
    pub name: &'static str,
    /// Its tag.
    pub tag: &'static str,
    /// The link that switches to it and comes back here.
    pub href: String,
    /// The current language.
    pub on: bool,
}

/// The switcher for the current request.
pub fn switcher() -> Vec<Switch> {
    let current = lang();
    let back = urlencode(&here());
    Lang::ALL
        .iter()
        .map(|l| Switch {
            name: l.native_name(),
            tag: l.tag(),
            href: format!("/lang?to={}&back={back}", l.tag()),
            on: *l == current,
        })
        .collect()
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/lang?to=zh-CN&back=/responses`.
#[derive(Debug, Deserialize)]
pub struct SwitchQuery {
    #[serde(default)]
    to: String,
    #[serde(default)]
    back: String,
}

/// Keep the chosen language in a cookie (a year) and, for a signed-in reader, in the
/// console account (the next sign-in from another browser starts in it), then go back
/// to the page. Only a local path is followed back (no open redirect). The session
/// cookie is `SameSite=Strict`, so another site's link cannot change an account's
/// language.
pub async fn switch(
    axum::extract::State(st): axum::extract::State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<SwitchQuery>,
) -> Response {
    if let Some(l) = Lang::parse(&q.to) {
        let st2 = st.clone();
        let saved = tokio::task::spawn_blocking(move || {
            let user = auth::session_user(&st2, &headers)?;
            st2.inner
                .storage
                .set_console_language(&st2.inner.config.tenant, &user, Some(l.tag()))
                .ok()
        })
        .await;
        if let Ok(None) = saved {
            tracing::debug!("language chosen without a session: kept in the cookie only");
        }
    }
    let back = if q.back.starts_with('/') && !q.back.starts_with("//") && !q.back.contains('\\') {
        q.back.clone()
    } else {
        "/".to_string()
    };
    let mut res = Redirect::to(&back).into_response();
    if let Some(l) = Lang::parse(&q.to)
        && let Ok(v) = auth::set_cookie(
            LANG_COOKIE,
            l.tag(),
            365 * 86_400,
            st.inner.config.secure_cookies,
        )
        .parse()
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The sentence for a `?message=` code after an action (unknown codes as they are).
pub fn notice(code: &str) -> String {
    let l = lang();
    if let Some(v) = code.strip_prefix("published_v") {
        return t!(l, "console-message-published", version = v);
    }
    if let Some(r) = code
        .strip_prefix("refused_")
        .or_else(|| code.strip_prefix("invalid_"))
    {
        return t!(l, "console-message-refused", reason = r);
    }
    match code {
        "reviewed" => t!(l, "console-message-reviewed"),
        "empty_comment" => t!(l, "console-message-empty-comment"),
        "revoked" => t!(l, "console-message-revoked"),
        "unknown_user" => t!(l, "console-message-unknown-user"),
        "no_file" => t!(l, "console-message-no-file"),
        "not_xlsform" => t!(l, "console-message-not-xlsform"),
        "bad_form" => t!(l, "console-message-bad-form"),
        "unknown_scope" => t!(l, "console-message-unknown-scope"),
        "user_added" => t!(l, "console-message-user-added"),
        "user_not_added" => t!(l, "console-message-user-not-added"),
        "scope_not_added" => t!(l, "console-message-scope-not-added"),
        "grant_set" => t!(l, "console-message-grant-set"),
        "grant_not_set" => t!(l, "console-message-grant-not-set"),
        "bad_role" => t!(l, "console-message-bad-role"),
        "weak_password" => t!(l, "console-message-weak-password"),
        "console_user_added" => t!(l, "console-message-console-user-added"),
        "console_user_not_added" => t!(l, "console-message-console-user-not-added"),
        other => t!(l, "console-message-other", code = other),
    }
}

/// A `?message=` code and its sentence, for the notice line of a page.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The stable code (kept in `data-code` for scripts and tests).
    pub code: String,
    /// What the reader sees.
    pub text: String,
}

impl Notice {
    /// The notice of an optional message code.
    pub fn of(code: Option<String>) -> Option<Notice> {
        code.map(|c| Notice {
            text: notice(&c),
            code: c,
        })
    }
}
