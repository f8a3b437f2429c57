//! The survey sheet, row by row in pyxform's order: a stack of open groups and
//! repeats, the `type` of each row, its name, and the element built from its cells
//! (texts per language, expressions, appearance, custom columns). Per-question rules
//! (parameters, choice lists, `or_other`, labels, scores) are in [`super::rules`].

use std::collections::BTreeMap;

use super::build::{Builder, short, unsmart, valid_name, yes_no};
use super::columns::{SurveyCol, TextField};
use super::params;
use super::rules::file_name_ok;
use super::types::{self, ParsedType};
use super::workbook::{Row, Sheet, collapse_spaces};
use crate::model::{Question, QuestionKind, Texts};

/// A cell with its column, cleaned.
pub(super) struct Cell<'s> {
    pub header: &'s str,
    pub col: &'s SurveyCol,
    pub value: String,
}

/// What a table-list group has seen so far (pyxform's `table_list`).
#[derive(Debug, Clone, PartialEq)]
enum TableList {
    Off,
    Pending,
    List(String),
}

/// An open group or repeat.
struct Frame {
    kind: QuestionKind,
    name: String,
    row: usize,
}

impl Builder {
    /// pyxform's cleaning of survey cells: runs of spaces collapsed (unless the
    /// `clean_text_values` setting is off), smart quotes made plain.
    pub(super) fn clean(&self, v: &str) -> String {
        if self.collapse {
            unsmart(&collapse_spaces(v))
        } else {
            unsmart(v)
        }
    }

    /// A row's cells under known headers, cleaned.
    pub(super) fn cells<'s>(
        &self,
        row: &Row,
        cols: &'s [Option<(String, SurveyCol)>],
    ) -> Vec<Cell<'s>> {
        row.cells
            .iter()
            .filter_map(|(col, v)| {
                let (header, c) = cols.get(*col)?.as_ref()?;
                Some(Cell {
                    header,
                    col: c,
                    value: self.clean(v),
                })
            })
            .collect()
    }

    /// The survey pass: every row in order, elements pushed to `questions`.
    pub(super) fn read_survey(&mut self, sheet: &Sheet, cols: &[Option<(String, SurveyCol)>]) {
        let sheet_name = sheet.name.clone();
        let mut stack: Vec<Frame> = Vec::new();
        let mut table_list = TableList::Off;
        let mut missing_name_column_reported = false;
        for row in &sheet.rows {
            let n = row.number;
            let cells = self.cells(row, cols);
            let get = |want: &SurveyCol| {
                cells
                    .iter()
                    .find(|c| c.col == want)
                    .map(|c| (c.header, c.value.as_str()))
            };
            if let Some((h, v)) = get(&SurveyCol::Disabled) {
                if !self.warned_disabled {
                    self.warned_disabled = true;
                    self.is.warn(
                        &sheet_name,
                        Some(n),
                        Some(h),
                        "disabled_column",
                        "the `disabled` column is not part of the XLSForm spec; use relevant",
                    );
                }
                if yes_no(v) == Some(true) {
                    continue;
                }
            }
            if cells.is_empty() {
                continue;
            }
            let has_label = cells
                .iter()
                .any(|c| matches!(c.col, SurveyCol::Text(TextField::Label, _)));
            let Some((_, type_cell)) = get(&SurveyCol::Type) else {
                if get(&SurveyCol::Name).is_none() && !has_label {
                    self.is.warn(
                        &sheet_name,
                        Some(n),
                        None,
                        "skipped_row",
                        "a row without type, name or label is skipped",
                    );
                } else {
                    self.is.error(
                        &sheet_name,
                        Some(n),
                        Some(&self.type_header.clone()),
                        "missing_type",
                        "the row has no type",
                    );
                }
                continue;
            };
            let type_cell = type_cell.to_string();
            let type_header = self.type_header.clone();
            let parsed = types::parse(&type_cell);
            let parent = stack.last().map(|f| f.name.clone());
            let parameters = match get(&SurveyCol::Parameters) {
                None => BTreeMap::new(),
                Some((h, v)) => match params::parse(v) {
                    Ok(p) => p,
                    Err(()) => {
                        self.is.error(
                            &sheet_name,
                            Some(n),
                            Some(h),
                            "invalid_parameters",
                            "parameters must be key=value pairs separated by spaces, `,` or `;`",
                        );
                        BTreeMap::new()
                    }
                },
            };
            let (kind, canonical) = match &parsed {
                ParsedType::Unknown => {
                    let mut msg = format!("unknown type `{}`", short(&type_cell));
                    if let Some(s) = types::suggest(&type_cell) {
                        msg.push_str(&format!("; did you mean `{}`?", short(&s)));
                    }
                    self.is.error(
                        &sheet_name,
                        Some(n),
                        Some(&type_header),
                        "unknown_type",
                        msg,
                    );
                    continue;
                }
                ParsedType::Unsupported(why) => {
                    self.is.error(
                        &sheet_name,
                        Some(n),
                        Some(&type_header),
                        "unsupported_type",
                        format!("`{}` is not supported: {why}", short(&type_cell)),
                    );
                    continue;
                }
                ParsedType::MissingListName => {
                    self.is.error(
                        &sheet_name,
                        Some(n),
                        Some(&type_header),
                        "missing_list_name",
                        format!(
                            "`{}` needs a choice list name after it, e.g. `select_one yes_no`",
                            short(&type_cell)
                        ),
                    );
                    continue;
                }
                ParsedType::Setting(key) => {
                    if let Some((_, v)) = get(&SurveyCol::Name) {
                        self.settings.insert((*key).to_string(), v.to_string());
                    }
                    continue;
                }
                ParsedType::EndGroup | ParsedType::EndRepeat | ParsedType::EndLoop => {
                    let want = if parsed == ParsedType::EndGroup {
                        QuestionKind::Group
                    } else {
                        QuestionKind::Repeat
                    };
                    if parsed == ParsedType::EndLoop {
                        self.unsupported_loop(&sheet_name, n, &type_cell);
                    }
                    match stack.last() {
                        Some(f) if f.kind == want => {
                            stack.pop();
                        }
                        _ => {
                            let what = if want == QuestionKind::Group {
                                "group"
                            } else {
                                "repeat"
                            };
                            self.is.error(
                                &sheet_name,
                                Some(n),
                                Some(&type_header),
                                "unmatched_end",
                                format!("`end {what}` without a matching `begin {what}`"),
                            );
                        }
                    }
                    table_list = TableList::Off;
                    continue;
                }
                ParsedType::BeginGroup => (QuestionKind::Group, "group"),
                ParsedType::BeginRepeat => (QuestionKind::Repeat, "repeat"),
                ParsedType::BeginLoop => {
                    self.unsupported_loop(&sheet_name, n, &type_cell);
                    (QuestionKind::Repeat, "repeat")
                }
                ParsedType::Question { kind, canonical } => (*kind, *canonical),
                ParsedType::Select {
                    kind, canonical, ..
                } => (*kind, *canonical),
            };
            // pyxform also accepts a calculate whose default is an expression; the
            // engine needs the calculation.
            if kind == QuestionKind::Calculate && get(&SurveyCol::Calculation).is_none() {
                self.is.error(
                    &sheet_name,
                    Some(n),
                    Some(&self.calculation_header.clone()),
                    "missing_calculation",
                    "a calculate row needs a calculation",
                );
            }
            // The name.
            let name = match get(&SurveyCol::Name) {
                Some((_, v)) => v.to_string(),
                None if kind == QuestionKind::Note => format!("generated_note_name_{n}"),
                None => {
                    if self.name_header.is_none() {
                        if !missing_name_column_reported {
                            missing_name_column_reported = true;
                            self.is.error(
                                &sheet_name,
                                Some(1),
                                Some("name"),
                                "missing_column",
                                "the survey sheet needs a `name` column",
                            );
                        }
                    } else {
                        let h = self.name_header.clone();
                        self.is.error(
                            &sheet_name,
                            Some(n),
                            h.as_deref(),
                            "missing_name",
                            format!("a `{}` row has no name", canonical),
                        );
                    }
                    if kind.is_container() {
                        // Keep the nesting so the rest of the sheet still makes sense.
                        stack.push(Frame {
                            kind,
                            name: format!("unnamed_{n}"),
                            row: n,
                        });
                        if kind == QuestionKind::Group && appearance_has(&cells, "table-list") {
                            table_list = TableList::Pending;
                        }
                    }
                    continue;
                }
            };
            let name_header = self.name_header.clone().unwrap_or_else(|| "name".into());
            self.check_name(&sheet_name, n, &name_header, &name, parent.as_deref());
            // Every cell but type, name and trigger may hold `${...}` references.
            for c in &cells {
                if !matches!(
                    c.col,
                    SurveyCol::Type | SurveyCol::Name | SurveyCol::Trigger
                ) {
                    self.ref_cells.push((
                        sheet_name.clone(),
                        n,
                        c.header.to_string(),
                        c.value.clone(),
                    ));
                }
            }
            let mut q = self.element(&cells, n, &name, kind, &type_cell, parent.clone());
            if kind.is_container() {
                if kind == QuestionKind::Repeat && name == self.root_name {
                    self.is.error(
                        &sheet_name,
                        Some(n),
                        Some(&name_header),
                        "reserved_name",
                        format!(
                            "a repeat cannot be named like the form root (`{}`)",
                            short(&name)
                        ),
                    );
                }
                if kind == QuestionKind::Repeat
                    && q.label.is_empty()
                    && q.translations.values().all(|t| t.label.is_none())
                {
                    self.is.warn(
                        &sheet_name,
                        Some(n),
                        None,
                        "repeat_without_label",
                        format!("repeat `{}` has no label", short(&name)),
                    );
                }
                if kind == QuestionKind::Group && appearance_has(&cells, "table-list") {
                    table_list = TableList::Pending;
                }
                self.score_columns(&sheet_name, n, &cells, &mut q, kind, &parameters);
                stack.push(Frame {
                    kind,
                    name: name.clone(),
                    row: n,
                });
                self.push(q, n);
                continue;
            }
            self.question_names.insert(name.clone());
            q.parameters = parameters.clone();
            self.check_parameters(&sheet_name, n, &cells, &q, &parsed);
            let mut other = None;
            if let ParsedType::Select {
                list,
                or_other,
                file,
                from_file_command,
                ..
            } = &parsed
            {
                let filtered = get(&SurveyCol::ChoiceFilter).is_some();
                if *file {
                    if *from_file_command && !file_name_ok(list) {
                        self.is.error(
                            &sheet_name,
                            Some(n),
                            Some(&type_header),
                            "invalid_file",
                            format!(
                                "the file of `{}` must end in .csv, .xml or .geojson",
                                short(&type_cell)
                            ),
                        );
                    }
                    q.file = Some(list.clone());
                } else {
                    q.list_name = Some(list.clone());
                    let use_ = self.list_use.entry(list.clone()).or_default();
                    if filtered {
                        use_.1 = true;
                    } else {
                        use_.0 = true;
                    }
                    self.check_list(&sheet_name, n, &type_header, list, kind);
                }
                if *or_other {
                    q.or_other = true;
                    if let Some((h, _)) = get(&SurveyCol::ChoiceFilter) {
                        self.is.error(
                            &sheet_name,
                            Some(n),
                            Some(h),
                            "or_other_filter",
                            "or_other cannot be used with a choice_filter",
                        );
                    } else if !*file {
                        other = self.or_other(list, &name, parent.clone(), n);
                    }
                }
                // pyxform's table-list rules.
                match &table_list {
                    TableList::Off => {}
                    TableList::Pending => {
                        if let Some((h, _)) = get(&SurveyCol::ChoiceFilter) {
                            self.is.error(
                                &sheet_name,
                                Some(n),
                                Some(h),
                                "table_list_filter",
                                "a choice_filter cannot be used in a table-list group",
                            );
                        }
                        table_list = TableList::List(list.clone());
                    }
                    TableList::List(l) if l != list => {
                        self.is.error(
                            &sheet_name,
                            Some(n),
                            Some(&type_header),
                            "table_list_mismatch",
                            format!(
                                "every select in a table-list group must use one list (`{}`, not `{}`)",
                                short(l),
                                short(list)
                            ),
                        );
                    }
                    TableList::List(_) => {}
                }
            }
            self.check_label(&sheet_name, n, &cells, &q);
            if q.kind == QuestionKind::Note && q.required {
                let h = get(&SurveyCol::Required)
                    .map_or("required", |(h, _)| h)
                    .to_string();
                self.is.error(
                    &sheet_name,
                    Some(n),
                    Some(&h),
                    "invalid_required",
                    "a note cannot be required",
                );
            }
            self.score_columns(&sheet_name, n, &cells, &mut q, kind, &parameters);
            self.push(q, n);
            if let Some(o) = other {
                self.push(o, n);
            }
        }
        for f in stack {
            let what = if f.kind == QuestionKind::Group {
                "group"
            } else {
                "repeat"
            };
            self.is.error(
                &sheet_name,
                Some(f.row),
                Some(&self.type_header.clone()),
                "unmatched_begin",
                format!(
                    "`begin {what}` `{}` has no matching `end {what}`",
                    short(&f.name)
                ),
            );
        }
    }

    pub(super) fn unsupported_loop(&mut self, sheet: &str, row: usize, cell: &str) {
        self.is.error(
            sheet,
            Some(row),
            Some(&self.type_header.clone()),
            "unsupported_type",
            format!("`{}` is not supported: loops (use a repeat)", short(cell)),
        );
    }

    pub(super) fn push(&mut self, q: Question, row: usize) {
        self.questions.push(q);
        self.q_rows.push(row);
    }

    pub(super) fn check_name(
        &mut self,
        sheet: &str,
        row: usize,
        header: &str,
        name: &str,
        parent: Option<&str>,
    ) {
        if !valid_name(name) {
            self.is.error(
                sheet,
                Some(row),
                Some(header),
                "invalid_name",
                "names must begin with a letter or _, then letters, digits, _ - . \
                 (ASCII, at most 64)",
            );
        }
        if name == "meta" {
            self.is.error(
                sheet,
                Some(row),
                Some(header),
                "reserved_name",
                "the name `meta` is reserved for form metadata",
            );
        }
        if let Some(first) = self.names.get(name) {
            self.is.error(
                sheet,
                Some(row),
                Some(header),
                "duplicate_name",
                format!(
                    "the name `{}` is already used on row {first}; names must be unique in \
                     the whole form (pyxform only requires it within a group)",
                    short(name)
                ),
            );
        } else {
            self.names.insert(name.to_string(), row);
            let key = (parent.map(str::to_string), name.to_lowercase());
            if let Some(other) = self.lower_names.get(&key) {
                self.is.warn(
                    sheet,
                    Some(row),
                    Some(header),
                    "similar_name",
                    format!(
                        "`{}` differs from `{}` only in case; some tools do not tell them apart",
                        short(name),
                        short(other)
                    ),
                );
            } else {
                self.lower_names.insert(key, name.to_string());
            }
        }
    }

    /// An element from a row's cells (everything but parameters, lists and scores).
    pub(super) fn element(
        &mut self,
        cells: &[Cell<'_>],
        row: usize,
        name: &str,
        kind: QuestionKind,
        type_cell: &str,
        parent: Option<String>,
    ) -> Question {
        let mut q = Question::new(name, kind, "");
        q.xls_type = Some(type_cell.to_string());
        q.group = parent;
        // Texts: bare and per language.
        let mut bare = Texts::default();
        let mut by_lang: BTreeMap<String, Texts> = BTreeMap::new();
        for c in cells {
            let v = c.value.clone();
            match c.col {
                SurveyCol::Text(field, lang) => {
                    if !self.langs.translated && *field == TextField::GuidanceHint {
                        q.extra.insert(c.header.to_string(), v);
                        continue;
                    }
                    let t = match lang {
                        Some(l) => by_lang.entry(l.clone()).or_default(),
                        None => &mut bare,
                    };
                    let slot = match field {
                        TextField::Label => &mut t.label,
                        TextField::Hint => &mut t.hint,
                        TextField::GuidanceHint => &mut t.guidance_hint,
                        TextField::ConstraintMessage => &mut t.constraint_message,
                        TextField::RequiredMessage => &mut t.required_message,
                    };
                    *slot = Some(v);
                }
                SurveyCol::Media(m, lang) => {
                    if !self.langs.translated {
                        q.extra.insert(c.header.to_string(), v);
                        continue;
                    }
                    let t = match lang {
                        Some(l) => by_lang.entry(l.clone()).or_default(),
                        None => &mut bare,
                    };
                    t.media.insert(m.clone(), v);
                }
                SurveyCol::Required => match yes_no(&v) {
                    Some(b) => q.required = b,
                    None => {
                        self.exprs.push((row, c.header.to_string(), v.clone()));
                        q.required_if = Some(v);
                    }
                },
                SurveyCol::ReadOnly => match yes_no(&v) {
                    Some(true) => q.read_only = Some("true()".into()),
                    Some(false) => q.read_only = None,
                    None => {
                        self.exprs.push((row, c.header.to_string(), v.clone()));
                        q.read_only = Some(v);
                    }
                },
                SurveyCol::Relevant
                | SurveyCol::Constraint
                | SurveyCol::Calculation
                | SurveyCol::ChoiceFilter
                | SurveyCol::RepeatCount => {
                    self.exprs.push((row, c.header.to_string(), v.clone()));
                    let slot = match c.col {
                        SurveyCol::Relevant => &mut q.relevant,
                        SurveyCol::Constraint => &mut q.constraint,
                        SurveyCol::Calculation => &mut q.calculation,
                        SurveyCol::ChoiceFilter => &mut q.choice_filter,
                        _ => &mut q.repeat_count,
                    };
                    *slot = Some(v);
                }
                SurveyCol::Default => {
                    if default_is_dynamic(&v) {
                        self.exprs.push((row, c.header.to_string(), v.clone()));
                    }
                    q.default = Some(v);
                }
                SurveyCol::Appearance => q.appearance = Some(v),
                SurveyCol::Trigger => {
                    self.triggers.push((row, c.header.to_string(), v.clone()));
                    q.extra.insert(c.header.to_string(), v);
                }
                SurveyCol::Disabled | SurveyCol::Extra { .. } => {
                    q.extra.insert(c.header.to_string(), v);
                }
                SurveyCol::Type
                | SurveyCol::Name
                | SurveyCol::Parameters
                | SurveyCol::Dimension
                | SurveyCol::Scale => {}
            }
        }
        if self.langs.translated {
            let bare_empty = bare == Texts::default();
            if !bare_empty {
                let t = by_lang.entry(self.langs.default_key.clone()).or_default();
                fill(&mut t.label, bare.label);
                fill(&mut t.hint, bare.hint);
                fill(&mut t.guidance_hint, bare.guidance_hint);
                fill(&mut t.constraint_message, bare.constraint_message);
                fill(&mut t.required_message, bare.required_message);
                for (k, v) in bare.media {
                    t.media.entry(k).or_insert(v);
                }
            }
            q.label = self
                .pick(&by_lang, |t| t.label.as_deref())
                .unwrap_or_default();
            q.hint = self.pick(&by_lang, |t| t.hint.as_deref());
            q.constraint_message = self.pick(&by_lang, |t| t.constraint_message.as_deref());
            q.required_message = self.pick(&by_lang, |t| t.required_message.as_deref());
            q.translations = by_lang;
        } else {
            q.label = bare.label.unwrap_or_default();
            q.hint = bare.hint;
            q.constraint_message = bare.constraint_message;
            q.required_message = bare.required_message;
        }
        q
    }
}

fn fill(slot: &mut Option<String>, v: Option<String>) {
    if slot.is_none() {
        *slot = v;
    }
}

fn appearance_has(cells: &[Cell<'_>], token: &str) -> bool {
    cells
        .iter()
        .any(|c| *c.col == SurveyCol::Appearance && c.value.split_whitespace().any(|t| t == token))
}

/// A default is an expression when it holds a reference or a call: the rule the
/// engine applies (`looks_dynamic` in `crate::forms::engine`), so both read a default
/// the same way (pyxform also counts bare arithmetic).
pub(super) fn default_is_dynamic(v: &str) -> bool {
    v.contains("${") || v.contains('(')
}
