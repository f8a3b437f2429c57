//! XLSForm types: every spelling pyxform accepts in the `type` column
//! (`pyxform/question_type_dictionary.py`, `pyxform/aliases.py` and the begin/end and
//! select patterns of `pyxform/xls2json.py`), mapped to a
//! [`QuestionKind`](crate::model::QuestionKind) and the canonical XLSForm spelling.
//! Types pyxform knows but the engine does not model (`phonenumber`, `audit`, `osm`,
//! `begin loop`, ...) are reported as unsupported rather than unknown.

use std::sync::LazyLock;

use regex::Regex;

use crate::model::QuestionKind;

/// What a `type` cell says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ParsedType {
    /// A question without a choice list.
    Question {
        kind: QuestionKind,
        canonical: &'static str,
    },
    /// `select_one`, `select_multiple`, `rank` (and the `_from_file` variants).
    Select {
        kind: QuestionKind,
        canonical: &'static str,
        /// The list name, or the file name for a select from a file.
        list: String,
        /// `or_other` (also `or other`, `or specify other`).
        or_other: bool,
        /// The list names a file (`select_one_from_file x.csv`, or any list with a
        /// `.csv`/`.xml`/`.geojson` extension, as pyxform treats it).
        file: bool,
        /// The command was a `_from_file` one (its list must be a file name).
        from_file_command: bool,
    },
    BeginGroup,
    BeginRepeat,
    EndGroup,
    EndRepeat,
    /// `begin loop over <list>`: unsupported, but kept for nesting.
    BeginLoop,
    /// `end loop`.
    EndLoop,
    /// A settings row on the survey sheet (`form_title`, `form_id`, `prefix`): the
    /// settings key it sets.
    Setting(&'static str),
    /// Known to pyxform, not supported by the engine.
    Unsupported(&'static str),
    /// A select type without its list name.
    MissingListName,
    Unknown,
}

/// Types pyxform renames before anything else (`aliases._type_alias_map`).
fn dealias(t: &str) -> &str {
    match t {
        "imei" => "deviceid",
        "image" | "add image prompt" | "add photo prompt" => "photo",
        "add audio prompt" => "audio",
        "add video prompt" => "video",
        "add file prompt" => "file",
        other => other,
    }
}

const CONTROL: &str = "group|lgroup|repeat|loop|looped group";

static BEGIN: LazyLock<Regex> = LazyLock::new(|| {
    // pyxform's RE_BEGIN_CONTROL.
    // A constant pattern: it compiles.
    Regex::new(&format!(
        r"^(?P<begin>begin)(\s|_)(?P<type>({CONTROL}))( (over )?(?P<list_name>\S+))?$"
    ))
    .expect("constant pattern")
});

static END: LazyLock<Regex> = LazyLock::new(|| {
    // pyxform's RE_END_CONTROL.
    // A constant pattern: it compiles.
    Regex::new(&format!(r"^(?P<end>end)(\s|_)(?P<type>({CONTROL}))$")).expect("constant pattern")
});

/// pyxform's `aliases.select`, in its order (the regex alternation depends on it):
/// command, the kind it makes, and whether it is a `_from_file` command. `None`
/// kind: `select_one_external`, unsupported.
const SELECT_COMMANDS: &[(&str, Option<QuestionKind>, bool)] = &[
    (
        "add select one prompt using",
        Some(QuestionKind::SelectOne),
        false,
    ),
    (
        "add select multiple prompt using",
        Some(QuestionKind::SelectMultiple),
        false,
    ),
    (
        "select all that apply from",
        Some(QuestionKind::SelectMultiple),
        false,
    ),
    ("select one from", Some(QuestionKind::SelectOne), false),
    ("select1", Some(QuestionKind::SelectOne), false),
    ("select_one", Some(QuestionKind::SelectOne), false),
    ("select one", Some(QuestionKind::SelectOne), false),
    ("select_multiple", Some(QuestionKind::SelectMultiple), false),
    (
        "select all that apply",
        Some(QuestionKind::SelectMultiple),
        false,
    ),
    ("select_one_external", None, false),
    ("select_one_from_file", Some(QuestionKind::SelectOne), true),
    (
        "select_multiple_from_file",
        Some(QuestionKind::SelectMultiple),
        true,
    ),
    ("select one from file", Some(QuestionKind::SelectOne), true),
    (
        "select multiple from file",
        Some(QuestionKind::SelectMultiple),
        true,
    ),
    ("rank", Some(QuestionKind::Rank), false),
];

static SELECT: LazyLock<Regex> = LazyLock::new(|| {
    // pyxform's RE_SELECT.
    let commands: Vec<String> = SELECT_COMMANDS
        .iter()
        .map(|(c, _, _)| regex::escape(c))
        .collect();
    // Built from escaped constants: it compiles.
    Regex::new(&format!(
        r"^(?P<select_command>({})) (?P<list_name>\S+)( (?P<specify_other>(or specify other|or_other|or other)))?$",
        commands.join("|")
    ))
    .expect("constant pattern")
});

static OSM: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern: it compiles.
    Regex::new(r"(?P<osm_command>(osm)) (?P<list_name>\S+)").expect("constant pattern")
});

/// The file extensions pyxform reads choices from.
pub(super) const FILE_EXTENSIONS: &[&str] = &[".xml", ".csv", ".geojson"];

/// Python's `os.path.splitext(name)[1]`.
pub(super) fn extension(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem_start = base.len() - base.trim_start_matches('.').len();
    match base[stem_start..].rfind('.') {
        Some(i) => &base[stem_start + i..],
        None => "",
    }
}

/// A plain type's meaning: its kind and canonical spelling, or why it is refused.
type Plain = Result<(QuestionKind, &'static str), &'static str>;

/// Every plain type pyxform's question type dictionary holds, with what we make of
/// it. `Err` holds why an engine-unsupported type is refused.
const PLAIN: &[(&str, Plain)] = {
    use QuestionKind as K;
    &[
        ("text", Ok((K::Text, "text"))),
        ("string", Ok((K::Text, "text"))),
        ("q string", Ok((K::Text, "text"))),
        ("add text prompt", Ok((K::Text, "text"))),
        ("integer", Ok((K::Integer, "integer"))),
        ("int", Ok((K::Integer, "integer"))),
        ("q int", Ok((K::Integer, "integer"))),
        ("add integer prompt", Ok((K::Integer, "integer"))),
        ("decimal", Ok((K::Decimal, "decimal"))),
        ("q decimal", Ok((K::Decimal, "decimal"))),
        ("add decimal prompt", Ok((K::Decimal, "decimal"))),
        ("range", Ok((K::Range, "range"))),
        ("note", Ok((K::Note, "note"))),
        ("q note", Ok((K::Note, "note"))),
        ("add note prompt", Ok((K::Note, "note"))),
        ("date", Ok((K::Date, "date"))),
        ("q date", Ok((K::Date, "date"))),
        ("add date prompt", Ok((K::Date, "date"))),
        ("time", Ok((K::Time, "time"))),
        ("dateTime", Ok((K::DateTime, "dateTime"))),
        ("datetime", Ok((K::DateTime, "dateTime"))),
        ("date time", Ok((K::DateTime, "dateTime"))),
        ("q dateTime", Ok((K::DateTime, "dateTime"))),
        ("q date time", Ok((K::DateTime, "dateTime"))),
        ("add dateTime prompt", Ok((K::DateTime, "dateTime"))),
        ("add date time prompt", Ok((K::DateTime, "dateTime"))),
        ("geopoint", Ok((K::GeoPoint, "geopoint"))),
        ("q geopoint", Ok((K::GeoPoint, "geopoint"))),
        ("location", Ok((K::GeoPoint, "geopoint"))),
        ("q location", Ok((K::GeoPoint, "geopoint"))),
        ("add location prompt", Ok((K::GeoPoint, "geopoint"))),
        ("gps", Ok((K::GeoPoint, "geopoint"))),
        ("geotrace", Ok((K::GeoTrace, "geotrace"))),
        ("q geotrace", Ok((K::GeoTrace, "geotrace"))),
        ("geoshape", Ok((K::GeoShape, "geoshape"))),
        ("q geoshape", Ok((K::GeoShape, "geoshape"))),
        ("photo", Ok((K::Image, "image"))),
        ("q picture", Ok((K::Image, "image"))),
        ("q image", Ok((K::Image, "image"))),
        ("audio", Ok((K::Audio, "audio"))),
        ("q audio", Ok((K::Audio, "audio"))),
        ("video", Ok((K::Video, "video"))),
        ("q video", Ok((K::Video, "video"))),
        ("file", Ok((K::File, "file"))),
        ("barcode", Ok((K::Barcode, "barcode"))),
        ("q barcode", Ok((K::Barcode, "barcode"))),
        ("add barcode prompt", Ok((K::Barcode, "barcode"))),
        ("acknowledge", Ok((K::Acknowledge, "acknowledge"))),
        ("q acknowledge", Ok((K::Acknowledge, "acknowledge"))),
        (
            "add acknowledge prompt",
            Ok((K::Acknowledge, "acknowledge")),
        ),
        ("trigger", Ok((K::Acknowledge, "acknowledge"))),
        ("calculate", Ok((K::Calculate, "calculate"))),
        ("q calculate", Ok((K::Calculate, "calculate"))),
        ("add calculate prompt", Ok((K::Calculate, "calculate"))),
        ("hidden", Ok((K::Hidden, "hidden"))),
        ("start", Ok((K::Start, "start"))),
        ("start time", Ok((K::Start, "start"))),
        ("get start time", Ok((K::Start, "start"))),
        ("end", Ok((K::End, "end"))),
        ("end time", Ok((K::End, "end"))),
        ("get end time", Ok((K::End, "end"))),
        ("today", Ok((K::Today, "today"))),
        ("get today", Ok((K::Today, "today"))),
        ("deviceid", Ok((K::DeviceId, "deviceid"))),
        ("device id", Ok((K::DeviceId, "deviceid"))),
        ("get device id", Ok((K::DeviceId, "deviceid"))),
        ("uri:deviceid", Ok((K::DeviceId, "deviceid"))),
        ("username", Ok((K::Username, "username"))),
        ("uri:username", Ok((K::Username, "username"))),
        ("phonenumber", Err("phone number metadata")),
        ("phone number", Err("phone number metadata")),
        ("get phone number", Err("phone number metadata")),
        ("uri:phonenumber", Err("phone number metadata")),
        ("simserial", Err("SIM serial metadata")),
        ("sim id", Err("SIM serial metadata")),
        ("get sim id", Err("SIM serial metadata")),
        ("uri:simserial", Err("SIM serial metadata")),
        ("subscriberid", Err("subscriber id metadata")),
        ("subscriber id", Err("subscriber id metadata")),
        ("get subscriber id", Err("subscriber id metadata")),
        ("uri:subscriberid", Err("subscriber id metadata")),
        ("email", Err("e-mail metadata")),
        ("uri:email", Err("e-mail metadata")),
        ("audit", Err("audit logs")),
        ("osm", Err("OpenStreetMap questions")),
        ("xml-external", Err("external instances")),
        ("csv-external", Err("external instances")),
        ("start-geopoint", Err("background location")),
        ("background-audio", Err("background recording")),
        ("background-geopoint", Err("background location")),
        (
            "percentage",
            Err("`percentage` (use integer with a constraint)"),
        ),
        (
            "number of days in last month",
            Err("day-count questions (use integer)"),
        ),
        (
            "number of days in last six months",
            Err("day-count questions (use integer)"),
        ),
        (
            "number of days in last year",
            Err("day-count questions (use integer)"),
        ),
        ("select one external", Err("external selects")),
    ]
};

/// Select spellings that need a list name after them.
const SELECT_WITHOUT_LIST: &[&str] = &[
    "select_one",
    "select one",
    "select1",
    "select_multiple",
    "select all that apply",
    "select multiple",
    "rank",
    "select_one_from_file",
    "select_multiple_from_file",
    "q select",
    "q select1",
    "select one using",
    "select multiple using",
    "select multiple from",
    "select one from",
    "select all that apply from",
    "add select one prompt using",
    "add select multiple prompt using",
];

/// Parse a (cleaned) `type` cell.
pub(super) fn parse(cell: &str) -> ParsedType {
    let t = dealias(cell);
    match t {
        "form_title" | "set_form_title" => return ParsedType::Setting("title"),
        "form_id" | "set_form_id" => return ParsedType::Setting("id_string"),
        "prefix" => return ParsedType::Setting("prefix"),
        _ => {}
    }
    if let Some(c) = BEGIN.captures(t) {
        return match c.name("type").map(|m| m.as_str()) {
            Some("group") => ParsedType::BeginGroup,
            Some("loop") => ParsedType::BeginLoop,
            _ => ParsedType::BeginRepeat,
        };
    }
    if let Some(c) = END.captures(t) {
        return match c.name("type").map(|m| m.as_str()) {
            Some("group") => ParsedType::EndGroup,
            Some("loop") => ParsedType::EndLoop,
            _ => ParsedType::EndRepeat,
        };
    }
    if let Some(c) = SELECT.captures(t) {
        let command = c.name("select_command").map_or("", |m| m.as_str());
        let list = c.name("list_name").map_or("", |m| m.as_str()).to_string();
        let or_other = c.name("specify_other").is_some();
        let Some(&(_, kind, from_file_command)) =
            SELECT_COMMANDS.iter().find(|(name, _, _)| *name == command)
        else {
            return ParsedType::Unknown;
        };
        let Some(kind) = kind else {
            return ParsedType::Unsupported("external selects (`select_one_external`)");
        };
        if list.contains("${") {
            return ParsedType::Unsupported("choices from the answers of a repeat");
        }
        let canonical = match (
            kind,
            from_file_command || FILE_EXTENSIONS.contains(&extension(&list)),
        ) {
            (QuestionKind::SelectOne, true) => "select_one_from_file",
            (QuestionKind::SelectMultiple, true) => "select_multiple_from_file",
            (QuestionKind::SelectOne, false) => "select_one",
            (QuestionKind::SelectMultiple, false) => "select_multiple",
            _ => "rank",
        };
        let file = from_file_command || FILE_EXTENSIONS.contains(&extension(&list));
        return ParsedType::Select {
            kind,
            canonical,
            list,
            or_other,
            file,
            from_file_command,
        };
    }
    if OSM.is_match(t) {
        return ParsedType::Unsupported("OpenStreetMap questions");
    }
    if let Some((_, r)) = PLAIN.iter().find(|(name, _)| *name == t) {
        return match r {
            Ok((kind, canonical)) => ParsedType::Question {
                kind: *kind,
                canonical,
            },
            Err(why) => ParsedType::Unsupported(why),
        };
    }
    if SELECT_WITHOUT_LIST.contains(&t) {
        return ParsedType::MissingListName;
    }
    ParsedType::Unknown
}

/// The canonical XLSForm spelling of a kind (for a score, see
/// [`score_base`]).
pub(super) fn canonical(kind: QuestionKind) -> &'static str {
    use QuestionKind as K;
    match kind {
        K::Text => "text",
        K::Integer => "integer",
        K::Decimal => "decimal",
        K::Score => "score",
        K::SelectOne => "select_one",
        K::SelectMultiple => "select_multiple",
        K::Date => "date",
        K::GeoPoint => "geopoint",
        K::Note => "note",
        K::Range => "range",
        K::Rank => "rank",
        K::Time => "time",
        K::DateTime => "dateTime",
        K::GeoTrace => "geotrace",
        K::GeoShape => "geoshape",
        K::Image => "image",
        K::Audio => "audio",
        K::Video => "video",
        K::File => "file",
        K::Barcode => "barcode",
        K::Acknowledge => "acknowledge",
        K::Calculate => "calculate",
        K::Hidden => "hidden",
        K::Start => "start",
        K::End => "end",
        K::Today => "today",
        K::DeviceId => "deviceid",
        K::Username => "username",
        K::Group => "group",
        K::Repeat => "repeat",
    }
}

/// The XLSForm type under a score question (kept in `xls_type`): its canonical
/// spelling.
pub(super) fn score_base(xls_type: Option<&str>) -> &'static str {
    match xls_type.map(parse) {
        Some(ParsedType::Question { canonical, .. }) => canonical,
        Some(ParsedType::Select { canonical, .. }) => canonical,
        _ => "integer",
    }
}

/// Levenshtein distance (characters).
pub(super) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The spellings suggested for a misspelt type.
const SUGGESTIONS: &[&str] = &[
    "text",
    "integer",
    "decimal",
    "range",
    "note",
    "date",
    "time",
    "dateTime",
    "geopoint",
    "geotrace",
    "geoshape",
    "image",
    "audio",
    "video",
    "file",
    "barcode",
    "acknowledge",
    "calculate",
    "hidden",
    "start",
    "end",
    "today",
    "deviceid",
    "username",
    "begin group",
    "end group",
    "begin repeat",
    "end repeat",
    "select_one",
    "select_multiple",
    "select_one_from_file",
    "select_multiple_from_file",
    "rank",
];

/// A close spelling for an unknown type, e.g. `select_on yes_no` -> `select_one
/// yes_no`, `Integer` -> `integer`.
pub(super) fn suggest(cell: &str) -> Option<String> {
    if cell.chars().count() > 64 {
        // No XLSForm type is that long; don't spend time on it.
        return None;
    }
    let lower = cell.to_lowercase();
    // A select with a misspelt command: compare the first word only.
    let (head, tail) = match lower.split_once(' ') {
        Some((h, t))
            if !SUGGESTIONS.contains(&lower.as_str())
                && !lower.starts_with("begin")
                && !lower.starts_with("end") =>
        {
            (h.to_string(), Some(t))
        }
        _ => (lower.clone(), None),
    };
    let best = SUGGESTIONS
        .iter()
        .filter(|s| tail.is_none() || s.starts_with("select") || **s == "rank")
        .map(|s| (distance(&head, &s.to_lowercase()), *s))
        .min_by_key(|(d, _)| *d)?;
    let limit = (head.chars().count() / 3).max(1);
    if best.0 > limit {
        return None;
    }
    let suggestion = match tail {
        Some(t) => format!("{} {t}", best.1),
        None => best.1.to_string(),
    };
    (suggestion != cell).then_some(suggestion)
}
