//! Building the [`Form`] from the sheets in pyxform's order (`workbook_to_json` in
//! `pyxform/xls2json.py`): the sheets found, the settings, the column headers and the
//! form's languages, the choice lists, then the survey sheet ([`super::survey`]), the
//! whole-form checks ([`super::checks`]) and the form itself. Errors are collected
//! rather than returned at the first, and each names its sheet, row and column.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::columns::{self, ChoiceCol, SurveyCol, TextField};
use super::types;
use super::workbook::{Read, Row, Sheet};
use super::{Import, ImportErrors, ImportIssue};
use crate::model::{Choice, Form, Question};

/// pyxform's `aliases.yes_no`.
pub(super) fn yes_no(v: &str) -> Option<bool> {
    match v {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "true()" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "false()" => Some(false),
        _ => None,
    }
}

/// pyxform replaces "smart" quotes in every cell.
pub(super) fn unsmart(v: &str) -> String {
    v.replace(['\u{2018}', '\u{2019}'], "'")
        .replace(['\u{201c}', '\u{201d}'], "\"")
}

/// Our element names: a letter or `_`, then letters, digits, `_`, `-`, `.` (ASCII),
/// 1–64 characters. Stricter than pyxform's XML names.
pub(super) fn valid_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && s.len() <= 64
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// A short rendering of a cell for a message: names and types only, cut short.
pub(super) fn short(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// The errors and warnings found so far.
#[derive(Debug, Default)]
pub(super) struct Issues {
    pub errors: Vec<ImportIssue>,
    pub warnings: Vec<ImportIssue>,
}

impl Issues {
    pub fn error(
        &mut self,
        sheet: &str,
        row: Option<usize>,
        column: Option<&str>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.errors.push(ImportIssue {
            sheet: sheet.to_string(),
            row,
            column: column.map(str::to_string),
            code,
            message: message.into(),
        });
    }

    pub fn warn(
        &mut self,
        sheet: &str,
        row: Option<usize>,
        column: Option<&str>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.warnings.push(ImportIssue {
            sheet: sheet.to_string(),
            row,
            column: column.map(str::to_string),
            code,
            message: message.into(),
        });
    }
}

/// The form's languages and where untranslated texts go.
#[derive(Debug, Default)]
pub(super) struct Langs {
    /// Some column carries a language.
    pub translated: bool,
    /// The language bare (`label`, `hint`, ...) columns are in when others are
    /// translated: `settings.default_language`, else `default` (as pyxform).
    pub default_key: String,
    /// The form's default language.
    pub default_language: Option<String>,
    /// Every language, in column order.
    pub languages: Vec<String>,
}

/// One choice list being read.
#[derive(Debug, Default)]
pub(super) struct ChoiceList {
    pub choices: Vec<Choice>,
    /// The sheet row of each choice.
    pub rows: Vec<usize>,
    /// Whether each choice's row had a translated label cell (pyxform then holds its
    /// label as a per-language dict).
    pub translated: Vec<bool>,
    /// Rows of this list dropped as invalid (no name).
    pub invalid: usize,
    /// Checked once for names with spaces (a select_multiple uses it).
    pub spaces_checked: bool,
    /// Has a choice named `other` (or_other adds none then).
    pub has_other: bool,
    /// Lowest and highest choice name when all are whole numbers (`Some(None)`: not
    /// all are), computed once for score scales.
    pub numeric: Option<Option<(i64, i64)>>,
}

/// State of the import.
pub(super) struct Builder {
    pub is: Issues,
    pub survey_sheet: String,
    pub choices_sheet: String,
    pub settings_sheet: String,
    pub langs: Langs,
    pub lists: BTreeMap<String, ChoiceList>,
    pub questions: Vec<Question>,
    /// The survey row each element came from.
    pub q_rows: Vec<usize>,
    /// Every element name from the survey sheet, with its row.
    pub names: HashMap<String, usize>,
    /// Names of questions (not groups or repeats), for `trigger`.
    pub question_names: HashSet<String>,
    /// Cells to scan for `${...}` references: (sheet, row, header, value).
    pub ref_cells: Vec<(String, usize, String, String)>,
    /// Expression cells to parse: (row, header, source).
    pub exprs: Vec<(usize, String, String)>,
    /// Trigger cells: (row, header, value).
    pub triggers: Vec<(usize, String, String)>,
    /// Per list: used by a question without a choice filter, used with one.
    pub list_use: HashMap<String, (bool, bool)>,
    pub settings: BTreeMap<String, String>,
    pub allow_choice_duplicates: bool,
    pub collapse: bool,
    pub root_name: String,
    pub name_header: Option<String>,
    pub type_header: String,
    pub label_header: String,
    pub calculation_header: String,
    pub warned_disabled: bool,
    pub lower_names: HashMap<(Option<String>, String), String>,
}

/// Import the sheets read from a workbook.
pub(super) fn build(read: Read, stem: Option<&str>) -> Result<Import, ImportErrors> {
    let Read {
        workbook,
        errors,
        warnings,
    } = read;
    let mut b = Builder {
        is: Issues { errors, warnings },
        survey_sheet: "survey".into(),
        choices_sheet: "choices".into(),
        settings_sheet: "settings".into(),
        langs: Langs::default(),
        lists: BTreeMap::new(),
        questions: Vec::new(),
        q_rows: Vec::new(),
        names: HashMap::new(),
        question_names: HashSet::new(),
        ref_cells: Vec::new(),
        exprs: Vec::new(),
        triggers: Vec::new(),
        list_use: HashMap::new(),
        settings: BTreeMap::new(),
        allow_choice_duplicates: false,
        collapse: true,
        root_name: "data".into(),
        name_header: None,
        type_header: "type".into(),
        label_header: "label".into(),
        calculation_header: "calculation".into(),
        warned_disabled: false,
        lower_names: HashMap::new(),
    };
    let sheets = &workbook.sheets;
    let find = |n: &str| sheets.iter().position(|s| s.name.to_lowercase() == n);
    const SUPPORTED: &[&str] = &[
        "survey",
        "choices",
        "settings",
        "external_choices",
        "osm",
        "entities",
    ];
    let mut survey = find("survey");
    if survey.is_none()
        && sheets.len() == 1
        && !SUPPORTED.contains(&sheets[0].name.to_lowercase().as_str())
    {
        // pyxform reads a lone sheet of any name as the survey.
        survey = Some(0);
    }
    let choices = find("choices");
    let settings = find("settings");
    for s in sheets {
        let lower = s.name.to_lowercase();
        if ["external_choices", "osm", "entities"].contains(&lower.as_str()) && !s.rows.is_empty() {
            b.is.warn(
                &s.name,
                None,
                None,
                "ignored_sheet",
                "this sheet is not supported and is ignored",
            );
        } else if !SUPPORTED.contains(&lower.as_str()) && sheets.len() > 1 {
            for want in ["survey", "choices", "settings"] {
                if find(want).is_none() && similar(&lower, want) {
                    b.is.warn(
                        &s.name,
                        None,
                        None,
                        "ignored_sheet",
                        format!("a sheet named like `{want}` is ignored: did you mean `{want}`?"),
                    );
                }
            }
        }
    }
    let Some(survey) = survey else {
        let mut msg = "the workbook has no `survey` sheet".to_string();
        if let Some(s) = sheets
            .iter()
            .find(|s| similar(&s.name.to_lowercase(), "survey"))
        {
            msg.push_str(&format!(" (is `{}` it?)", short(&s.name)));
        }
        b.is.error("survey", None, None, "missing_sheet", msg);
        return Err(b.finish_errors(sheets));
    };
    b.survey_sheet = sheets[survey].name.clone();
    if let Some(i) = settings {
        b.settings_sheet = sheets[i].name.clone();
        b.read_settings(&sheets[i]);
    }
    let survey_cols = b.survey_columns(&sheets[survey]);
    let choice_cols = choices.map(|i| b.choice_columns(&sheets[i]));
    b.languages(&survey_cols, choice_cols.as_deref());
    if let (Some(i), Some(cols)) = (choices, &choice_cols) {
        b.choices_sheet = sheets[i].name.clone();
        b.read_choices(&sheets[i], cols);
    }
    let Some(survey_cols) = survey_cols else {
        return Err(b.finish_errors(sheets));
    };
    b.read_survey(&sheets[survey], &survey_cols);
    b.check_all();
    let form = b.form(stem);
    b.validate(&form);
    if b.is.errors.is_empty() {
        Ok(Import {
            form,
            warnings: b.is.warnings,
        })
    } else {
        Err(b.finish_errors(sheets))
    }
}

/// A sheet name one or two edits away from a wanted one.
fn similar(name: &str, want: &str) -> bool {
    name != want && types::distance(name, want) <= 2
}

impl Builder {
    fn finish_errors(&mut self, sheets: &[Sheet]) -> ImportErrors {
        let order = |s: &str| {
            sheets
                .iter()
                .position(|x| x.name == s)
                .unwrap_or(usize::MAX)
        };
        let mut errors = std::mem::take(&mut self.is.errors);
        errors.sort_by_key(|e| (order(&e.sheet), e.row.unwrap_or(0)));
        ImportErrors {
            errors,
            warnings: std::mem::take(&mut self.is.warnings),
        }
    }

    // -----------------------------------------------------------------------------
    // Settings.

    fn read_settings(&mut self, sheet: &Sheet) {
        let dc = sheet.headers.iter().flatten().any(|h| h.contains("::"));
        let Some(row) = sheet
            .rows
            .iter()
            .find(|r| !r.is_empty())
            .or(sheet.rows.first())
        else {
            return;
        };
        let mut id_from_form_id = false;
        for (col, v) in &row.cells {
            let Some(Some(header)) = sheet.headers.get(*col) else {
                continue;
            };
            let key = columns::settings_key(header, dc);
            let value = unsmart(v);
            self.ref_cells.push((
                sheet.name.clone(),
                row.number,
                header.clone(),
                value.clone(),
            ));
            if key == "id_string" {
                let is_form_id =
                    matches!(columns::snake(header).as_str(), "form_id" | "set_form_id");
                if id_from_form_id && !is_form_id {
                    continue;
                }
                id_from_form_id |= is_form_id;
            }
            match key.as_str() {
                "name" if !valid_name(&value) => self.is.error(
                    &sheet.name,
                    Some(row.number),
                    Some(header),
                    "invalid_setting",
                    "the form name must be a letter or _ then letters, digits, _ - . (ASCII)",
                ),
                "name" => self.root_name = value.clone(),
                "clean_text_values" => self.collapse = yes_no(&value).unwrap_or(true),
                "allow_choice_duplicates" => {
                    self.allow_choice_duplicates = yes_no(&value).unwrap_or(false);
                }
                _ => {}
            }
            self.settings.insert(key, value);
        }
        if let Some(id) = self.settings.get("id_string")
            && !valid_name_key(id)
        {
            let header = header_for(sheet, row, "id_string", dc);
            self.is.error(
                &sheet.name,
                Some(row.number),
                Some(&header),
                "invalid_setting",
                "form_id must be 1-64 of a-z A-Z 0-9 _ - .",
            );
        }
    }

    // -----------------------------------------------------------------------------
    // Headers and languages.

    fn survey_columns(&mut self, sheet: &Sheet) -> Option<Vec<Option<(String, SurveyCol)>>> {
        let dc = sheet.headers.iter().flatten().any(|h| h.contains("::"));
        let cols: Vec<Option<(String, SurveyCol)>> = sheet
            .headers
            .iter()
            .map(|h| h.as_ref().map(|h| (h.clone(), columns::survey_col(h, dc))))
            .collect();
        let mut seen: HashMap<&SurveyCol, &str> = HashMap::new();
        let mut ok = true;
        for (h, c) in cols.iter().flatten() {
            if matches!(c, SurveyCol::Extra { .. }) {
                continue;
            }
            if let Some(other) = seen.insert(c, h) {
                self.is.error(
                    &sheet.name,
                    Some(1),
                    Some(h),
                    "duplicate_column",
                    format!("`{h}` and `{other}` are the same column; keep one"),
                );
            }
            match c {
                SurveyCol::Type => self.type_header = h.clone(),
                SurveyCol::Name => self.name_header = Some(h.clone()),
                SurveyCol::Calculation => self.calculation_header = h.clone(),
                SurveyCol::Text(TextField::Label, _) => self.label_header = h.clone(),
                _ => {}
            }
        }
        if !cols.iter().flatten().any(|(_, c)| *c == SurveyCol::Type) {
            self.is.error(
                &sheet.name,
                Some(1),
                Some("type"),
                "missing_column",
                "the survey sheet needs a `type` column",
            );
            ok = false;
        }
        if cols
            .iter()
            .flatten()
            .filter(|(_, c)| matches!(c, SurveyCol::Text(TextField::Label, _)))
            .count()
            > 1
        {
            self.label_header = "label".into();
        }
        ok.then_some(cols)
    }

    fn choice_columns(&mut self, sheet: &Sheet) -> Vec<Option<(String, ChoiceCol)>> {
        let dc = sheet.headers.iter().flatten().any(|h| h.contains("::"));
        let cols: Vec<Option<(String, ChoiceCol)>> = sheet
            .headers
            .iter()
            .map(|h| h.as_ref().map(|h| (h.clone(), columns::choice_col(h, dc))))
            .collect();
        let mut seen: HashMap<&ChoiceCol, &str> = HashMap::new();
        for (h, c) in cols.iter().flatten() {
            if let ChoiceCol::Extra { dropped: true, .. } = c {
                self.is.warn(
                    &sheet.name,
                    Some(1),
                    Some(h),
                    "dropped_column",
                    "choices column headers must not contain spaces; the column is ignored",
                );
                continue;
            }
            if matches!(c, ChoiceCol::Extra { .. }) {
                continue;
            }
            if let Some(other) = seen.insert(c, h) {
                self.is.error(
                    &sheet.name,
                    Some(1),
                    Some(h),
                    "duplicate_column",
                    format!("`{h}` and `{other}` are the same column; keep one"),
                );
            }
        }
        let data = sheet.rows.iter().any(|r| !r.is_empty());
        if data {
            for (want, col) in [
                ("list_name", ChoiceCol::ListName),
                ("name", ChoiceCol::Name),
            ] {
                if !cols.iter().flatten().any(|(_, c)| *c == col) {
                    self.is.error(
                        &sheet.name,
                        Some(1),
                        Some(want),
                        "missing_column",
                        format!("the choices sheet needs a `{want}` column"),
                    );
                }
            }
        }
        cols
    }

    fn languages(
        &mut self,
        survey: &Option<Vec<Option<(String, SurveyCol)>>>,
        choices: Option<&[Option<(String, ChoiceCol)>]>,
    ) {
        // (language or None for a bare column), in column order.
        let mut seq: Vec<Option<String>> = Vec::new();
        for (_, c) in survey.iter().flatten().flatten() {
            match c {
                SurveyCol::Text(_, l) | SurveyCol::Media(_, l) => seq.push(l.clone()),
                _ => {}
            }
        }
        for (h, c) in choices.unwrap_or(&[]).iter().flatten() {
            match c {
                ChoiceCol::Label(l) => seq.push(l.clone()),
                ChoiceCol::Extra { media: true, .. } => seq.push(choice_media_lang(h)),
                _ => {}
            }
        }
        let translated = seq.iter().any(Option::is_some);
        let setting = self.settings.get("default_language").cloned();
        let default_key = setting.clone().unwrap_or_else(|| "default".into());
        let mut languages: Vec<String> = Vec::new();
        let mut has_bare = false;
        if translated {
            for l in &seq {
                let l = match l {
                    Some(l) => l.clone(),
                    None => {
                        has_bare = true;
                        default_key.clone()
                    }
                };
                if !languages.contains(&l) {
                    languages.push(l);
                }
            }
        }
        let default_language = match (&setting, translated) {
            (Some(s), _) => Some(s.clone()),
            (None, true) if has_bare => Some(default_key.clone()),
            (None, true) => languages.first().cloned(),
            (None, false) => None,
        };
        if translated && has_bare && setting.is_none() {
            self.is.warn(
                &self.survey_sheet.clone(),
                Some(1),
                None,
                "bare_translatable_column",
                "some text columns have no language while others do; their texts are in \
                 language `default` (set settings default_language to name it)",
            );
        }
        self.langs = Langs {
            translated,
            default_key,
            default_language,
            languages,
        };
    }

    // -----------------------------------------------------------------------------
    // Choices.

    fn read_choices(&mut self, sheet: &Sheet, cols: &[Option<(String, ChoiceCol)>]) {
        let header_of = |want: &ChoiceCol| {
            cols.iter()
                .flatten()
                .find(|(_, c)| c == want)
                .map(|(h, _)| h.clone())
        };
        let name_header = header_of(&ChoiceCol::Name).unwrap_or_else(|| "name".into());
        let mut warned_no_list = false;
        for row in &sheet.rows {
            if row.is_empty() {
                continue;
            }
            let mut list = None;
            let mut name = None;
            let mut bare = None;
            let mut by_lang: BTreeMap<String, String> = BTreeMap::new();
            let mut extra = BTreeMap::new();
            for (col, v) in &row.cells {
                let Some(Some((header, c))) = cols.get(*col) else {
                    continue;
                };
                let v = unsmart(v);
                match c {
                    ChoiceCol::ListName => list = Some(v),
                    ChoiceCol::Name => name = Some(v),
                    ChoiceCol::Label(None) => {
                        self.ref_cells.push((
                            sheet.name.clone(),
                            row.number,
                            header.clone(),
                            v.clone(),
                        ));
                        bare = Some(v);
                    }
                    ChoiceCol::Label(Some(l)) => {
                        self.ref_cells.push((
                            sheet.name.clone(),
                            row.number,
                            header.clone(),
                            v.clone(),
                        ));
                        by_lang.insert(l.clone(), v);
                    }
                    ChoiceCol::Extra { dropped: true, .. } => {}
                    ChoiceCol::Extra { media, .. } => {
                        if *media {
                            self.ref_cells.push((
                                sheet.name.clone(),
                                row.number,
                                header.clone(),
                                v.clone(),
                            ));
                        }
                        extra.insert(header.clone(), v);
                    }
                }
            }
            let Some(list) = list else {
                if !warned_no_list {
                    warned_no_list = true;
                    self.is.warn(
                        &sheet.name,
                        Some(row.number),
                        None,
                        "ignored_rows",
                        "choice rows without a list_name are ignored",
                    );
                }
                continue;
            };
            let entry = self.lists.entry(list.clone()).or_default();
            let Some(value) = name else {
                entry.invalid += 1;
                self.is.error(
                    &sheet.name,
                    Some(row.number),
                    Some(&name_header),
                    "missing_choice_name",
                    format!("a choice of list `{}` has no name", short(&list)),
                );
                continue;
            };
            if bare.is_none() && by_lang.is_empty() {
                self.is.warn(
                    &sheet.name,
                    Some(row.number),
                    Some("label"),
                    "missing_choice_label",
                    format!(
                        "choice `{}` of list `{}` has no label",
                        short(&value),
                        short(&list)
                    ),
                );
            }
            let translated_row = !by_lang.is_empty();
            let (label, translations) = if self.langs.translated {
                if let Some(b) = bare {
                    by_lang.entry(self.langs.default_key.clone()).or_insert(b);
                }
                let label = self
                    .pick(&by_lang, |s| Some(s.as_str()))
                    .unwrap_or_default();
                (label, by_lang)
            } else {
                (bare.unwrap_or_default(), BTreeMap::new())
            };
            let entry = self.lists.entry(list).or_default();
            entry.choices.push(Choice {
                value,
                label,
                translations,
                extra,
            });
            entry.has_other |= entry.choices.last().is_some_and(|c| c.value == "other");
            entry.rows.push(row.number);
            entry.translated.push(translated_row);
        }
    }

    /// The text in the default language, else the first language that has one.
    pub(super) fn pick<T>(
        &self,
        by_lang: &BTreeMap<String, T>,
        get: impl Fn(&T) -> Option<&str>,
    ) -> Option<String> {
        let default = self.langs.default_language.as_deref();
        default
            .and_then(|d| by_lang.get(d))
            .and_then(&get)
            .or_else(|| {
                self.langs
                    .languages
                    .iter()
                    .find_map(|l| by_lang.get(l).and_then(&get))
            })
            .or_else(|| by_lang.values().find_map(&get))
            .map(str::to_string)
    }

    // -----------------------------------------------------------------------------
    // The survey sheet.

    // -----------------------------------------------------------------------------
    // The form.

    fn form(&mut self, stem: Option<&str>) -> Form {
        let id = self.settings.remove("id_string");
        let form_key = match id {
            Some(id) => id,
            None => {
                let key = stem
                    .filter(|s| valid_name_key(s))
                    .map_or_else(|| "data".to_string(), str::to_string);
                self.is.warn(
                    &self.settings_sheet.clone(),
                    None,
                    Some("form_id"),
                    "default_form_id",
                    format!("no settings form_id; the form key is `{}`", short(&key)),
                );
                key
            }
        };
        let title = self
            .settings
            .remove("title")
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| form_key.clone());
        self.settings.remove("default_language");
        let mut choice_lists = BTreeMap::new();
        for (name, l) in &self.lists {
            if !l.choices.is_empty() {
                choice_lists.insert(name.clone(), l.choices.clone());
            }
        }
        Form {
            form_key,
            version: 1,
            title,
            questions: std::mem::take(&mut self.questions),
            published: false,
            published_at: None,
            default_language: self.langs.default_language.clone(),
            languages: self.langs.languages.clone(),
            choice_lists,
            settings: std::mem::take(&mut self.settings),
        }
    }
}

/// The language of a choices media header such as `image::English (en)`.
fn choice_media_lang(header: &str) -> Option<String> {
    let parts: Vec<&str> = header.split("::").map(str::trim).collect();
    match parts.as_slice() {
        [_, l] if !["image", "big-image", "audio", "video"].contains(l) => Some((*l).to_string()),
        ["media", _, l] => Some((*l).to_string()),
        _ => None,
    }
}

/// The header a settings key came from.
fn header_for(sheet: &Sheet, row: &Row, key: &str, dc: bool) -> String {
    row.cells
        .iter()
        .filter_map(|(c, _)| sheet.headers.get(*c).and_then(|h| h.clone()))
        .find(|h| columns::settings_key(h, dc) == key)
        .unwrap_or_else(|| key.to_string())
}

/// A form key: our model's rule for `form_key`.
fn valid_name_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
