//! Column headers: what each header of the survey, choices and settings sheets means,
//! following pyxform's `dealias_and_group_headers` (`pyxform/parsing/sheet_headers.py`)
//! and its alias tables (`pyxform/aliases.py`).
//!
//! A header is first matched as a known column, then in snake case, then split into
//! tokens on `::` (or on `:` when no header of the sheet uses `::`), and its first
//! token de-aliased: `label::English (en)` is the label in `English (en)`,
//! `relevance` is `relevant`, `image` is media, `repeat_count`/`jr:count` the repeat
//! count. Headers pyxform does not know are kept as written, so custom columns reach
//! [`Question::extra`](crate::model::Question::extra).

/// pyxform's `to_snake_case`: words joined by `_`, lower case.
pub(super) fn snake(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .to_lowercase()
}

/// The columns pyxform knows on the survey sheet (`MultipleChoiceQuestion` slots).
const SURVEY_COLUMNS: &[&str] = &[
    "_dynamic_default",
    "_itemset_has_ref",
    "_qtd_defaults",
    "_qtd_kwargs",
    "actions",
    "bind",
    "choice_filter",
    "choices",
    "control",
    "default",
    "extra_data",
    "guidance_hint",
    "hint",
    "instance",
    "itemset",
    "label",
    "list_name",
    "media",
    "name",
    "parameters",
    "parent",
    "query",
    "sms_field",
    "trigger",
    "type",
];

/// pyxform's `aliases.survey_header`: header -> tokens.
const SURVEY_ALIASES: &[(&str, &[&str])] = &[
    ("sms_field", &["sms_field"]),
    ("sms_option", &["sms_option"]),
    ("sms_separator", &["sms_separator"]),
    ("sms_allow_media", &["sms_allow_media"]),
    ("sms_date_format", &["sms_date_format"]),
    ("sms_datetime_format", &["sms_datetime_format"]),
    ("sms_response", &["sms_response"]),
    ("compact_tag", &["instance", "odk:tag"]),
    ("read_only", &["bind", "readonly"]),
    ("readonly", &["bind", "readonly"]),
    ("relevant", &["bind", "relevant"]),
    ("caption", &["label"]),
    ("appearance", &["control", "appearance"]),
    ("relevance", &["bind", "relevant"]),
    ("required", &["bind", "required"]),
    ("constraint", &["bind", "constraint"]),
    ("constraining_message", &["bind", "jr:constraintMsg"]),
    ("constraint_message", &["bind", "jr:constraintMsg"]),
    ("calculation", &["bind", "calculate"]),
    ("calculate", &["bind", "calculate"]),
    ("command", &["type"]),
    ("tag", &["name"]),
    ("value", &["name"]),
    ("image", &["media", "image"]),
    ("big-image", &["media", "big-image"]),
    ("audio", &["media", "audio"]),
    ("video", &["media", "video"]),
    ("count", &["control", "jr:count"]),
    ("repeat_count", &["control", "jr:count"]),
    ("jr:count", &["control", "jr:count"]),
    ("autoplay", &["control", "autoplay"]),
    ("rows", &["control", "rows"]),
    ("noapperrorstring", &["bind", "jr:noAppErrorString"]),
    ("no_app_error_string", &["bind", "jr:noAppErrorString"]),
    ("requiredmsg", &["bind", "jr:requiredMsg"]),
    ("required_message", &["bind", "jr:requiredMsg"]),
    ("body", &["control"]),
    ("save_to", &["bind", "entities:saveto"]),
];

/// The columns pyxform knows on the choices sheet (`Option` slots).
const CHOICE_COLUMNS: &[&str] = &[
    "_choice_itext_ref",
    "extra_data",
    "label",
    "media",
    "name",
    "parent",
    "sms_option",
];

/// pyxform's `aliases.list_header`.
const CHOICE_ALIASES: &[(&str, &[&str])] = &[
    ("caption", &["label"]),
    ("list_name", &["list name"]),
    ("value", &["name"]),
    ("image", &["media", "image"]),
    ("big-image", &["media", "big-image"]),
    ("audio", &["media", "audio"]),
    ("video", &["media", "video"]),
];

/// The settings pyxform knows (`Survey` slots).
const SETTINGS_COLUMNS: &[&str] = &[
    "_created",
    "_translations",
    "_xpath",
    "add_none_option",
    "allow_choice_duplicates",
    "attribute",
    "auto_delete",
    "auto_send",
    "bind",
    "children",
    "choices",
    "clean_text_values",
    "client_editable",
    "control",
    "default_language",
    "delimiter",
    "entity_version",
    "extra_data",
    "file_name",
    "flat",
    "hint",
    "id_string",
    "instance",
    "instance_name",
    "instance_xmlns",
    "label",
    "media",
    "name",
    "namespaces",
    "omit_instanceID",
    "parent",
    "prefix",
    "public_key",
    "setgeopoint_by_triggering_ref",
    "setvalues_by_triggering_ref",
    "sms_allow_media",
    "sms_date_format",
    "sms_datetime_format",
    "sms_field",
    "sms_keyword",
    "sms_response",
    "sms_separator",
    "style",
    "submission_url",
    "title",
    "type",
    "version",
];

/// pyxform's `aliases.settings_header`.
const SETTINGS_ALIASES: &[(&str, &[&str])] = &[
    ("form_title", &["title"]),
    ("set_form_title", &["title"]),
    ("form_id", &["id_string"]),
    ("set_form_id", &["id_string"]),
    ("prefix", &["prefix"]),
];

/// Which sheet a header belongs to (each has its own columns and aliases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SheetKind {
    Survey,
    Choices,
    Settings,
}

impl SheetKind {
    fn tables(
        self,
    ) -> (
        &'static [&'static str],
        &'static [(&'static str, &'static [&'static str])],
    ) {
        match self {
            SheetKind::Survey => (SURVEY_COLUMNS, SURVEY_ALIASES),
            SheetKind::Choices => (CHOICE_COLUMNS, CHOICE_ALIASES),
            SheetKind::Settings => (SETTINGS_COLUMNS, SETTINGS_ALIASES),
        }
    }
}

fn alias(
    aliases: &[(&str, &'static [&'static str])],
    key: &str,
) -> Option<&'static [&'static str]> {
    aliases.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// pyxform's `process_header`: the header's tokens, and whether it was recognised
/// (known column or alias) rather than kept as written.
pub(super) fn tokens(kind: SheetKind, header: &str, use_double_colon: bool) -> (Vec<String>, bool) {
    let (columns, aliases) = kind.tables();
    if columns.contains(&header) && alias(aliases, header).is_none() {
        return (vec![header.to_string()], true);
    }
    let normalised = snake(header);
    if columns.contains(&normalised.as_str()) && alias(aliases, &normalised).is_none() {
        return (vec![normalised], true);
    }
    let mut toks: Vec<String> = if use_double_colon || header.contains("::") {
        header.split("::").map(|t| t.trim().to_string()).collect()
    } else {
        let mut t: Vec<String> = header.split(':').map(|t| t.trim().to_string()).collect();
        // `jr:count` and the like survive single-colon splitting.
        if let Some(i) = t.iter().position(|x| x == "jr")
            && i + 1 < t.len()
        {
            let joined = format!("jr:{}", t[i + 1]);
            t.splice(i..i + 2, [joined]);
        }
        t
    };
    let first = snake(&toks[0]);
    if let Some(a) = alias(aliases, &first) {
        let rest = toks.split_off(1);
        let mut out: Vec<String> = a.iter().map(|s| (*s).to_string()).collect();
        out.extend(rest);
        (out, true)
    } else if columns.contains(&first.as_str()) {
        toks[0] = first;
        (toks, true)
    } else {
        (toks, false)
    }
}

/// Translatable texts of a survey element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum TextField {
    Label,
    Hint,
    GuidanceHint,
    ConstraintMessage,
    RequiredMessage,
}

/// What a survey column means.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum SurveyCol {
    Type,
    Name,
    /// A text, bare (`None`) or in a language.
    Text(TextField, Option<String>),
    /// A media file (`image`, `big-image`, `audio`, `video`), bare or in a language.
    Media(String, Option<String>),
    Required,
    Relevant,
    Constraint,
    Calculation,
    ReadOnly,
    Default,
    ChoiceFilter,
    Appearance,
    Parameters,
    RepeatCount,
    Trigger,
    /// pyxform's (undocumented) `disabled` column: a true value skips the row.
    Disabled,
    /// Our satisfaction layer: the dimension a score question measures.
    Dimension,
    /// Our satisfaction layer: a score's scale, e.g. `1-10`.
    Scale,
    /// Anything else, kept as written in `extra`. `known` when pyxform interprets it
    /// (`bind::*`, `control::*`, `instance::*`, ...) rather than keeping it as a
    /// custom column.
    Extra {
        known: bool,
    },
}

const MEDIA: &[&str] = &["image", "big-image", "audio", "video"];

/// Classify a survey header.
pub(super) fn survey_col(header: &str, use_double_colon: bool) -> SurveyCol {
    if header == "disabled" {
        return SurveyCol::Disabled;
    }
    let low = snake(header);
    if low == "dimension" {
        return SurveyCol::Dimension;
    }
    if low == "scale" {
        return SurveyCol::Scale;
    }
    let (t, known) = tokens(SheetKind::Survey, header, use_double_colon);
    let t: Vec<&str> = t.iter().map(String::as_str).collect();
    let lang = |i: usize| t.get(i).map(|s| (*s).to_string());
    match t.as_slice() {
        ["type"] => SurveyCol::Type,
        ["name"] => SurveyCol::Name,
        ["label"] | ["label", _] => SurveyCol::Text(TextField::Label, lang(1)),
        ["hint"] | ["hint", _] => SurveyCol::Text(TextField::Hint, lang(1)),
        ["guidance_hint"] | ["guidance_hint", _] => {
            SurveyCol::Text(TextField::GuidanceHint, lang(1))
        }
        ["bind", "jr:constraintMsg"] | ["bind", "jr:constraintMsg", _] => {
            SurveyCol::Text(TextField::ConstraintMessage, lang(2))
        }
        ["bind", "jr:requiredMsg"] | ["bind", "jr:requiredMsg", _] => {
            SurveyCol::Text(TextField::RequiredMessage, lang(2))
        }
        ["media", m] | ["media", m, _] if MEDIA.contains(m) => {
            SurveyCol::Media((*m).to_string(), lang(2))
        }
        ["bind", "required"] => SurveyCol::Required,
        ["bind", "relevant"] => SurveyCol::Relevant,
        ["bind", "constraint"] => SurveyCol::Constraint,
        ["bind", "calculate"] => SurveyCol::Calculation,
        ["bind", "readonly"] => SurveyCol::ReadOnly,
        ["default"] => SurveyCol::Default,
        ["choice_filter"] => SurveyCol::ChoiceFilter,
        ["control", "appearance"] => SurveyCol::Appearance,
        ["parameters"] => SurveyCol::Parameters,
        ["control", "jr:count"] => SurveyCol::RepeatCount,
        ["trigger"] => SurveyCol::Trigger,
        _ => SurveyCol::Extra { known },
    }
}

/// What a choices column means.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ChoiceCol {
    ListName,
    Name,
    Label(Option<String>),
    /// Media and everything else, kept as written in the choice's `extra`. `dropped`
    /// for headers pyxform drops (with a warning): empty, or containing a space.
    Extra {
        media: bool,
        dropped: bool,
    },
}

/// Classify a choices header.
pub(super) fn choice_col(header: &str, use_double_colon: bool) -> ChoiceCol {
    let (t, _) = tokens(SheetKind::Choices, header, use_double_colon);
    let t: Vec<&str> = t.iter().map(String::as_str).collect();
    match t.as_slice() {
        ["list name"] => ChoiceCol::ListName,
        ["name"] => ChoiceCol::Name,
        ["label"] => ChoiceCol::Label(None),
        ["label", l] => ChoiceCol::Label(Some((*l).to_string())),
        ["media", m] | ["media", m, _] if MEDIA.contains(m) => ChoiceCol::Extra {
            media: true,
            dropped: false,
        },
        [first, ..] => ChoiceCol::Extra {
            media: false,
            dropped: first.is_empty() || first.contains(' '),
        },
        [] => ChoiceCol::Extra {
            media: false,
            dropped: true,
        },
    }
}

/// The key a settings header is stored under: its de-aliased name when pyxform knows
/// it (`form_title` -> `title`, `form_id` -> `id_string`, `Version` -> `version`),
/// else the header as written.
pub(super) fn settings_key(header: &str, use_double_colon: bool) -> String {
    let (t, known) = tokens(SheetKind::Settings, header, use_double_colon);
    if known && t.len() == 1 {
        t[0].clone()
    } else {
        header.to_string()
    }
}

/// Survey keys pyxform itself interprets (so they are not custom columns in its
/// output): used by the canonical tree to list only custom columns.
pub(super) fn survey_extra_is_custom(header: &str) -> bool {
    if header == "disabled" || header.contains(':') {
        return false;
    }
    matches!(survey_col(header, false), SurveyCol::Extra { known: false })
}
