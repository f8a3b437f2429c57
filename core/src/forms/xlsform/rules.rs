//! Per-question rules of the survey pass, as pyxform applies them: the parameters
//! each type accepts (and the `range` checks), the choice list of a select, pyxform's
//! `or_other`, the label a shown question needs, and our satisfaction layer (a
//! `dimension` or `scale` column makes a score question).

use std::collections::BTreeMap;

use super::build::{Builder, short, yes_no};
use super::columns::{SurveyCol, TextField};
use super::params;
use super::survey::Cell;
use super::types::{self, ParsedType};
use crate::model::{Choice, Dimension, Question, QuestionKind, Scale, Texts};

impl Builder {
    /// The parameters a type accepts and their values (pyxform's checks per type).
    pub(super) fn check_parameters(
        &mut self,
        sheet: &str,
        row: usize,
        cells: &[Cell<'_>],
        q: &Question,
        parsed: &ParsedType,
    ) {
        let header = cells
            .iter()
            .find(|c| *c.col == SurveyCol::Parameters)
            .map_or("parameters", |c| c.header)
            .to_string();
        let p = &q.parameters;
        let from_file = matches!(
            parsed,
            ParsedType::Select {
                from_file_command: true,
                ..
            }
        );
        let mut bad = |code: &'static str, msg: String| {
            self.is.error(sheet, Some(row), Some(&header), code, msg);
        };
        if let Some(accepted) = params::accepted(q.kind, from_file) {
            let extra: Vec<&str> = p
                .keys()
                .map(String::as_str)
                .filter(|k| !accepted.contains(k))
                .collect();
            if !extra.is_empty() {
                bad(
                    "unknown_parameter",
                    format!(
                        "`{}` does not accept the parameter(s) {}; accepted: {}",
                        types::canonical(q.kind),
                        extra
                            .iter()
                            .map(|k| short(k))
                            .collect::<Vec<_>>()
                            .join(", "),
                        accepted.join(", ")
                    ),
                );
            }
        }
        let is_int = |v: &str| v.parse::<i64>().is_ok();
        let is_num = |v: &str| params::Dec::parse(v).is_some();
        match q.kind {
            QuestionKind::Text if p.get("rows").is_some_and(|v| !is_int(v)) => bad(
                "invalid_parameters",
                "the parameter rows must be a whole number".into(),
            ),
            QuestionKind::Image if p.get("max-pixels").is_some_and(|v| !is_int(v)) => bad(
                "invalid_parameters",
                "the parameter max-pixels must be a whole number".into(),
            ),
            QuestionKind::Audio
                if p.get("quality").is_some_and(|v| {
                    !["voice-only", "low", "normal", "external"].contains(&v.as_str())
                }) =>
            {
                bad(
                    "invalid_parameters",
                    "the parameter quality must be voice-only, low, normal or external".into(),
                )
            }
            QuestionKind::GeoTrace | QuestionKind::GeoShape
                if p.get("incremental")
                    .is_some_and(|v| yes_no(v) != Some(true)) =>
            {
                bad(
                    "invalid_parameters",
                    "the parameter incremental can only be true".into(),
                )
            }
            QuestionKind::GeoPoint => {
                for k in ["capture-accuracy", "warning-accuracy"] {
                    if p.get(k).is_some_and(|v| !is_num(v)) {
                        bad(
                            "invalid_parameters",
                            format!("the parameter {k} must be a number"),
                        );
                    }
                }
            }
            QuestionKind::SelectOne | QuestionKind::SelectMultiple | QuestionKind::Rank => {
                match p.get("randomize").map(String::as_str) {
                    Some("true" | "false") => {
                        if let Some(seed) = p.get("seed")
                            && !is_num(seed)
                            && !(seed.starts_with("${") && seed.ends_with('}'))
                        {
                            bad(
                                "invalid_parameters",
                                "the parameter seed must be a number or a ${reference}".into(),
                            );
                        }
                    }
                    Some(_) => bad(
                        "invalid_parameters",
                        "the parameter randomize must be true or false".into(),
                    ),
                    None if p.contains_key("seed") => bad(
                        "invalid_parameters",
                        "the parameter seed needs randomize=true".into(),
                    ),
                    None => {}
                }
                if from_file {
                    for k in ["value", "label"] {
                        if p.get(k).is_some_and(|v| !xml_name(v)) {
                            bad(
                                "invalid_parameters",
                                format!("the parameter {k} must name a column (an XML name)"),
                            );
                        }
                    }
                }
            }
            QuestionKind::Range => {
                let appearance = q.appearance.as_deref();
                let ticks = p
                    .get("tick_labelset")
                    .and_then(|l| self.lists.get(l))
                    .map(|l| {
                        l.choices
                            .iter()
                            .map(|c| c.value.clone())
                            .collect::<Vec<_>>()
                    });
                for (_, msg) in params::check_range(p, appearance, ticks.as_deref()) {
                    self.is
                        .error(sheet, Some(row), Some(&header), "invalid_parameters", msg);
                }
            }
            _ => {}
        }
    }

    pub(super) fn check_list(
        &mut self,
        sheet: &str,
        row: usize,
        header: &str,
        list: &str,
        kind: QuestionKind,
    ) {
        let Some(l) = self.lists.get(list) else {
            let msg = if self.lists.is_empty() {
                format!(
                    "list `{}` is not defined: the workbook has no choices (a `choices` sheet \
                     with list_name, name and label columns)",
                    short(list)
                )
            } else {
                format!("list `{}` is not on the choices sheet", short(list))
            };
            self.is
                .error(sheet, Some(row), Some(header), "unknown_choice_list", msg);
            return;
        };
        if l.choices.is_empty() {
            self.is.error(
                sheet,
                Some(row),
                Some(header),
                "empty_choice_list",
                format!("list `{}` has no valid choices", short(list)),
            );
            return;
        }
        if kind == QuestionKind::SelectMultiple && !l.spaces_checked {
            let spaced: Vec<usize> = l
                .choices
                .iter()
                .zip(&l.rows)
                .filter(|(c, _)| c.value.contains(' '))
                .map(|(_, r)| *r)
                .collect();
            if let Some(l) = self.lists.get_mut(list) {
                l.spaces_checked = true;
            }
            for r in spaced {
                self.is.error(
                    &self.choices_sheet.clone(),
                    Some(r),
                    Some("name"),
                    "invalid_choice_name",
                    format!(
                        "choice names of list `{}` must not contain spaces: it is used by a \
                         select_multiple (survey row {row})",
                        short(list)
                    ),
                );
            }
        }
    }

    /// pyxform's `or_other`: an `other` choice on the list (if it has none) and a
    /// `<name>_other` text question.
    pub(super) fn or_other(
        &mut self,
        list: &str,
        name: &str,
        parent: Option<String>,
        row: usize,
    ) -> Option<Question> {
        let translated = self.langs.translated;
        let default_language = self.langs.default_language.clone();
        let l = self.lists.get_mut(list)?;
        if l.choices.is_empty() {
            return None;
        }
        if !l.has_other {
            let mut langs: Vec<String> = l
                .choices
                .iter()
                .zip(&l.translated)
                .filter(|(_, t)| **t)
                .flat_map(|(c, _)| c.translations.keys().cloned())
                .collect();
            langs.sort();
            langs.dedup();
            if langs.is_empty()
                && translated
                && let Some(d) = &default_language
            {
                langs.push(d.clone());
            }
            let any_translated = l.translated.iter().any(|t| *t);
            l.choices.push(Choice {
                value: "other".into(),
                label: "Other".into(),
                translations: langs
                    .into_iter()
                    .map(|k| (k, "Other".to_string()))
                    .collect(),
                extra: BTreeMap::new(),
            });
            l.rows.push(row);
            l.translated.push(any_translated);
            l.has_other = true;
            l.numeric = Some(None);
        }
        let other_name = format!("{name}_other");
        let mut q = Question::new(other_name.clone(), QuestionKind::Text, "Specify other.");
        q.relevant = Some(format!("selected(${{{name}}}, 'other')"));
        q.group = parent;
        if translated && let Some(d) = default_language {
            q.translations.insert(
                d,
                Texts {
                    label: Some("Specify other.".into()),
                    ..Texts::default()
                },
            );
        }
        if let Some(first) = self.names.get(&other_name) {
            let h = self.type_header.clone();
            let sheet = self.survey_sheet.clone();
            self.is.error(
                &sheet,
                Some(row),
                Some(&h),
                "duplicate_name",
                format!(
                    "or_other adds the question `{}`, but row {first} already uses that name",
                    short(&other_name)
                ),
            );
        }
        Some(q)
    }

    /// pyxform refuses a shown question with neither label, hint nor media.
    pub(super) fn check_label(
        &mut self,
        sheet: &str,
        row: usize,
        cells: &[Cell<'_>],
        q: &Question,
    ) {
        use QuestionKind as K;
        let bodyless = matches!(
            q.kind,
            K::Calculate | K::Hidden | K::Start | K::End | K::Today | K::DeviceId | K::Username
        );
        let computed = cells
            .iter()
            .any(|c| matches!(c.col, SurveyCol::Calculation | SurveyCol::Trigger));
        let has_text = cells.iter().any(|c| {
            matches!(
                c.col,
                SurveyCol::Text(TextField::Label | TextField::Hint, _) | SurveyCol::Media(..)
            )
        });
        if !bodyless && !computed && !has_text {
            let h = self.label_header.clone();
            self.is.error(
                sheet,
                Some(row),
                Some(&h),
                "missing_label",
                format!(
                    "`{}` is shown, so it needs a label (or a hint)",
                    short(&q.id)
                ),
            );
        }
    }

    /// Our satisfaction layer: `dimension` and/or `scale` make a score question.
    pub(super) fn score_columns(
        &mut self,
        sheet: &str,
        row: usize,
        cells: &[Cell<'_>],
        q: &mut Question,
        kind: QuestionKind,
        parameters: &BTreeMap<String, String>,
    ) {
        let dim = cells.iter().find(|c| *c.col == SurveyCol::Dimension);
        let scale = cells.iter().find(|c| *c.col == SurveyCol::Scale);
        if dim.is_none() && scale.is_none() {
            return;
        }
        let at = dim.or(scale).map_or("dimension", |c| c.header).to_string();
        if !matches!(
            kind,
            QuestionKind::Integer | QuestionKind::Range | QuestionKind::SelectOne
        ) || q.or_other
        {
            self.is.error(
                sheet,
                Some(row),
                Some(&at),
                "invalid_score_type",
                format!(
                    "a score (dimension/scale) must be an integer, range or select_one \
                     question, not `{}`",
                    types::canonical(kind)
                ),
            );
            return;
        }
        let mut ok = true;
        if let Some(d) = dim {
            match parse_dimension(&d.value) {
                Some(dimension) => q.dimension = Some(dimension),
                None => {
                    ok = false;
                    self.is.error(
                        sheet,
                        Some(row),
                        Some(d.header),
                        "invalid_dimension",
                        "the dimension must be one of service, product, price, network, care, \
                         overall",
                    );
                }
            }
        }
        let mut s = None;
        if let Some(c) = scale {
            match parse_scale(&c.value) {
                Some(v) => s = Some(v),
                None => {
                    ok = false;
                    self.is.error(
                        sheet,
                        Some(row),
                        Some(c.header),
                        "invalid_scale",
                        "the scale must be two whole numbers like 1-10",
                    );
                }
            }
        } else if kind == QuestionKind::Range {
            match params::range_bounds(parameters) {
                Some((min, max)) => s = Some(Scale { min, max }),
                None => {
                    ok = false;
                    self.is.error(
                        sheet,
                        Some(row),
                        Some(&at),
                        "invalid_scale",
                        "a score range needs whole-number start and end",
                    );
                }
            }
        } else if kind == QuestionKind::SelectOne
            && let Some(l) = q.list_name.as_deref().and_then(|l| self.lists.get_mut(l))
        {
            let numeric = *l.numeric.get_or_insert_with(|| {
                let values: Option<Vec<i64>> = l
                    .choices
                    .iter()
                    .map(|c| c.value.parse::<i64>().ok())
                    .collect();
                values.and_then(|v| Some((*v.iter().min()?, *v.iter().max()?)))
            });
            match numeric {
                Some((min, max)) => s = Some(Scale { min, max }),
                None => {
                    ok = false;
                    self.is.error(
                        sheet,
                        Some(row),
                        Some(&at),
                        "invalid_scale",
                        format!(
                            "the choices of a score's list (`{}`) must be whole numbers",
                            short(q.list_name.as_deref().unwrap_or(""))
                        ),
                    );
                }
            }
        }
        let s = s.unwrap_or(Scale { min: 1, max: 10 });
        if ok && (s.min >= s.max || s.max - s.min > 100) {
            ok = false;
            self.is.error(
                sheet,
                Some(row),
                Some(&at),
                "invalid_scale",
                "a scale runs from a lower to a higher whole number, at most 100 apart",
            );
        }
        if ok {
            q.kind = QuestionKind::Score;
            q.scale = Some(s);
        }
    }
}

/// pyxform's XML name test for parameter values (ASCII approximation plus any
/// non-ASCII letter).
fn xml_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_alphabetic() || c == '_')
        && cs.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// A file name with exactly one suffix, one pyxform reads choices from.
pub(super) fn file_name_ok(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = base.trim_start_matches('.');
    stem.matches('.').count() == 1 && types::FILE_EXTENSIONS.contains(&types::extension(name))
}

fn parse_dimension(v: &str) -> Option<Dimension> {
    let v = v.trim().to_ascii_lowercase();
    Dimension::ALL.iter().copied().find(|d| d.as_str() == v)
}

/// `1-10`, `0..10`, `1–10`, `1 to 10`.
fn parse_scale(v: &str) -> Option<Scale> {
    let v = v.trim();
    for sep in ["..", "–", " to ", "-"] {
        // Skip a leading minus sign when splitting on `-`.
        let search_from = usize::from(sep == "-" && v.starts_with('-'));
        if let Some(i) = v[search_from..].find(sep) {
            let i = i + search_from;
            let (a, b) = (v[..i].trim(), v[i + sep.len()..].trim());
            if let (Ok(min), Ok(max)) = (a.parse::<i64>(), b.parse::<i64>()) {
                return Some(Scale { min, max });
            }
        }
    }
    None
}
