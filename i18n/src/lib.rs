//! The message catalogues of fieldsync and locale formatting, in one place for the
//! console, the `fieldsync` CLI and the error renderings offered to apps.
//!
//! - [`Lang`]: the two interface languages (zh-CN and en), negotiated from a browser's
//!   `Accept-Language`, the environment (`LC_ALL`, `LC_MESSAGES`, `LANG`) or a tag.
//! - [`tr`] / [`t!`]: a message of the Fluent catalogues in `i18n/ftl/<lang>/*.ftl`
//!   (embedded at build time). Every key is referenced in the source through [`t!`],
//!   [`k!`] or a template's `t("…")`, so the catalogue test
//!   (`i18n/tests/catalogue.rs`) can find the keys used and fail on a key missing in
//!   either language or unused.
//! - [`format`]: dates, numbers and percentages by the locale's conventions.
//!
//! Stable identifiers (error codes, export column names, protocol values) are never
//! translated; only what a person reads is.

pub mod errors;
pub mod format;
pub mod labels;

use std::borrow::Cow;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// An interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum Lang {
    /// English (the default when nothing better is known).
    #[default]
    En,
    /// Simplified Chinese, mainland conventions.
    ZhCn,
}

impl Lang {
    /// Every language, in switcher order.
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    /// The BCP 47 tag: `en`, `zh-CN`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name (for the switcher).
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "中文",
        }
    }

    /// The language a tag or locale name asks for: `zh`, `zh-CN`, `zh_CN.UTF-8`,
    /// `zh-Hans-CN` → zh-CN; `en`, `en-GB`, `en_US.utf8` → en. `C`, `POSIX` and any
    /// other language → `None` (the caller falls back).
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim();
        // `zh_CN.UTF-8@euro` → `zh_CN`
        let s = s.split(['.', '@']).next().unwrap_or(s);
        let primary = s.split(['-', '_']).next().unwrap_or(s).to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::ZhCn),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The best language of an `Accept-Language` header (by `q`, then order), or `None`
    /// when it names neither.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate().take(32) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_string))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            let Some(lang) = Lang::parse(tag) else {
                continue;
            };
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|(_, _, l)| l)
    }

    /// The language of the POSIX locale variables, by precedence `LC_ALL`,
    /// `LC_MESSAGES`, `LANG` (the first one set and non-empty decides; one naming
    /// another language, or `C`, gives English).
    pub fn from_locale_vars(
        lc_all: Option<&str>,
        lc_messages: Option<&str>,
        lang: Option<&str>,
    ) -> Lang {
        [lc_all, lc_messages, lang]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|v| !v.is_empty())
            .and_then(Lang::parse)
            .unwrap_or_default()
    }

    /// [`Lang::from_locale_vars`] of this process's environment.
    pub fn from_env() -> Lang {
        let get = |k: &str| std::env::var(k).ok();
        Lang::from_locale_vars(
            get("LC_ALL").as_deref(),
            get("LC_MESSAGES").as_deref(),
            get("LANG").as_deref(),
        )
    }

    fn index(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::ZhCn => 1,
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

/// The `.ftl` sources of each language, embedded (file name, text).
pub const SOURCES: [(Lang, &[(&str, &str)]); 2] = [
    (
        Lang::En,
        &[
            ("common.ftl", include_str!("../ftl/en/common.ftl")),
            ("console.ftl", include_str!("../ftl/en/console.ftl")),
            ("cli.ftl", include_str!("../ftl/en/cli.ftl")),
            ("errors.ftl", include_str!("../ftl/en/errors.ftl")),
            ("help.ftl", include_str!("../ftl/en/help.ftl")),
            ("demo.ftl", include_str!("../ftl/en/demo.ftl")),
            ("forms.ftl", include_str!("../ftl/en/forms.ftl")),
        ],
    ),
    (
        Lang::ZhCn,
        &[
            ("common.ftl", include_str!("../ftl/zh-CN/common.ftl")),
            ("console.ftl", include_str!("../ftl/zh-CN/console.ftl")),
            ("cli.ftl", include_str!("../ftl/zh-CN/cli.ftl")),
            ("errors.ftl", include_str!("../ftl/zh-CN/errors.ftl")),
            ("help.ftl", include_str!("../ftl/zh-CN/help.ftl")),
            ("demo.ftl", include_str!("../ftl/zh-CN/demo.ftl")),
            ("forms.ftl", include_str!("../ftl/zh-CN/forms.ftl")),
        ],
    ),
];

/// A parse problem in a catalogue (the catalogue test fails on any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueProblem {
    /// The language.
    pub lang: Lang,
    /// What went wrong.
    pub detail: String,
}

struct Catalogue {
    bundle: FluentBundle<FluentResource>,
    keys: Vec<String>,
    problems: Vec<CatalogueProblem>,
}

fn build(lang: Lang) -> Catalogue {
    let id: LanguageIdentifier = lang.tag().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around placeables: the texts are plain HTML and
    // terminal output, where the marks show up as stray characters.
    bundle.set_use_isolating(false);
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    let files = SOURCES
        .iter()
        .find(|(l, _)| *l == lang)
        .map_or(&[][..], |(_, f)| *f);
    for (name, text) in files {
        let res = match FluentResource::try_new((*text).to_string()) {
            Ok(r) => r,
            Err((r, errs)) => {
                for e in errs {
                    problems.push(CatalogueProblem {
                        lang,
                        detail: format!("{name}: {e:?}"),
                    });
                }
                r
            }
        };
        for entry in res.entries() {
            if let fluent_syntax::ast::Entry::Message(m) = entry {
                keys.push(m.id.name.to_string());
            }
        }
        if let Err(errs) = bundle.add_resource(res) {
            for e in errs {
                problems.push(CatalogueProblem {
                    lang,
                    detail: format!("{name}: {e:?}"),
                });
            }
        }
    }
    Catalogue {
        bundle,
        keys,
        problems,
    }
}

fn catalogue(lang: Lang) -> &'static Catalogue {
    static CATALOGUES: [OnceLock<Catalogue>; 2] = [OnceLock::new(), OnceLock::new()];
    CATALOGUES[lang.index()].get_or_init(|| build(lang))
}

/// Every message id of `lang`'s catalogue, in file order.
pub fn keys(lang: Lang) -> &'static [String] {
    &catalogue(lang).keys
}

/// Syntax errors and duplicate ids in `lang`'s catalogue (empty when it is sound).
pub fn problems(lang: Lang) -> &'static [CatalogueProblem] {
    &catalogue(lang).problems
}

/// An argument of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    /// Text, inserted as is (format numbers with [`format`] first for display).
    Str(Cow<'a, str>),
    /// A number (selects plural forms: `{ $n -> [one] … *[other] … }`).
    Num(f64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Str(Cow::Borrowed(s))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Str(Cow::Borrowed(s.as_str()))
    }
}
impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Arg::Str(Cow::Owned(s))
    }
}
macro_rules! num_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg<'_> {
            fn from(n: $t) -> Self {
                #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
                Arg::Num(n as f64)
            }
        }
    )*};
}
num_arg!(u8, u16, u32, u64, usize, i32, i64, f64);

/// The message `key` of `lang` with `args`. A key missing from the catalogue renders
/// as the key itself (the catalogue test keeps that from shipping).
pub fn tr_args(lang: Lang, key: &str, args: &[(&str, Arg<'_>)]) -> String {
    let cat = catalogue(lang);
    let Some(pattern) = cat.bundle.get_message(key).and_then(|m| m.value()) else {
        return key.to_string();
    };
    let mut fargs = FluentArgs::new();
    for (name, a) in args {
        match a {
            Arg::Str(s) => fargs.set(*name, FluentValue::from(s.to_string())),
            Arg::Num(n) => fargs.set(*name, FluentValue::from(*n)),
        }
    }
    let mut errors = Vec::new();
    let out = cat
        .bundle
        .format_pattern(pattern, (!args.is_empty()).then_some(&fargs), &mut errors);
    out.into_owned()
}

/// The message `key` of `lang`, without arguments.
pub fn tr(lang: Lang, key: &str) -> String {
    tr_args(lang, key, &[])
}

/// `t!(lang, "key")` or `t!(lang, "key", name = value, …)`: a catalogue message. Keys
/// are string literals so the catalogue test finds them in the source.
#[macro_export]
macro_rules! t {
    ($lang:expr, $key:literal) => {
        $crate::tr($lang, $key)
    };
    ($lang:expr, $key:literal, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::tr_args($lang, $key, &[$((stringify!($name), $crate::Arg::from($value))),+])
    };
}

/// `k!("key")`: a catalogue key as a `&'static str`, for tables that pick a key (an
/// enum's label) and look it up later; marks the key as used for the catalogue test.
#[macro_export]
macro_rules! k {
    ($key:literal) => {
        $key
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(Lang::parse("zh_CN.UTF-8"), Some(Lang::ZhCn));
        assert_eq!(Lang::parse("zh-Hans-CN"), Some(Lang::ZhCn));
        assert_eq!(Lang::parse("en_GB.utf8"), Some(Lang::En));
        assert_eq!(Lang::parse("C"), None);
        assert_eq!(Lang::parse("fr-FR"), None);
        assert_eq!(
            Lang::from_accept_language("fr;q=1, en;q=0.5, zh-CN;q=0.8"),
            Some(Lang::ZhCn)
        );
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,zh;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("de, fr"), None);
        assert_eq!(
            Lang::from_accept_language("zh;q=0, en;q=0.1"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_locale_vars(None, Some("zh_CN.UTF-8"), Some("en_US.UTF-8")),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::from_locale_vars(Some(""), None, Some("zh_TW.UTF-8")),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::from_locale_vars(Some("C"), None, Some("zh_CN")),
            Lang::En
        );
        assert_eq!(Lang::from_locale_vars(None, None, None), Lang::En);
    }

    #[test]
    fn messages_with_arguments() {
        assert_eq!(t!(Lang::En, "console-nav-overview"), "Overview");
        assert_eq!(t!(Lang::ZhCn, "console-nav-overview"), "总览");
        assert_eq!(
            t!(Lang::En, "console-conflicts-count", n = 1u32),
            "1 conflict"
        );
        assert_eq!(
            t!(Lang::En, "console-conflicts-count", n = 3u32),
            "3 conflicts"
        );
        assert_eq!(
            t!(Lang::ZhCn, "console-conflicts-count", n = 3u32),
            "3 处冲突"
        );
        assert_eq!(tr(Lang::En, "no-such-key"), "no-such-key");
    }
}
