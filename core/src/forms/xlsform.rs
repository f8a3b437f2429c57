//! XLSForm import: an XLSForm workbook (`.xlsx`, pyxform's `.csv` layout, or a JSON
//! object of sheets) read into a [`Form`], with every problem reported by sheet, row
//! and column.
//!
//! pyxform 4.5 is the reference for what a workbook means; the importer follows it
//! column by column and row by row, and `core/tests/xlsform_pyxform.rs` checks a
//! corpus of forms against pyxform's own reading ([`canonical_tree`] on both sides).
//!
//! - `workbook`: reading the formats into text cells as pyxform renders them.
//! - `columns`: what each header means (aliases, `label::English (en)` languages).
//! - `types`: the `type` column — every alias pyxform accepts.
//! - `params`: the `parameters` column and the `range` checks.
//! - `build`: sheets, settings, languages and choice lists into the model;
//!   `survey`: the survey sheet row by row; `rules`: per-question rules;
//!   `checks`: the whole-form checks.
//! - `canonical`: the comparison tree.
//!
//! ## Where we differ from pyxform, on purpose
//!
//! - Names are unique in the whole form (pyxform: among siblings only), because a
//!   response keys answers by name. Names are ASCII: a letter or `_`, then letters,
//!   digits, `_`, `-`, `.`, at most 64 (pyxform accepts any XML name).
//! - Duplicate choice names are accepted in a list used only with a
//!   `choice_filter` (pyxform needs the `allow_choice_duplicates` setting), and
//!   refused in any list a question uses unfiltered, whatever the setting.
//! - `or_other` adds the `other` choice (label `Other` in every language of the list,
//!   as pyxform) and the `<name>_other` text question relevant on
//!   `selected(${name}, 'other')` (pyxform writes `../name`); its label
//!   `Specify other.` is in the form's default language, where pyxform adds an extra
//!   `default` language for it.
//! - We keep what was written where pyxform rewrites for the XForm: a `table-list`
//!   group keeps its appearance and label (pyxform moves the label into a generated
//!   note, adds a header select and sets `list-nolabel` on the selects); a repeat
//!   keeps its `repeat_count` expression (pyxform adds a `<name>_count` calculate);
//!   no `meta/instanceID` is added.
//! - Types the engine does not model are refused (`unsupported_type`):
//!   `phonenumber`, `simserial`, `subscriberid`, `email`, `audit`, `osm`,
//!   `begin loop`, `select_one_external`, selects from a repeat's answers
//!   (`select_one ${q}`), background/start geopoints and audio, `xml-external`,
//!   `csv-external`, `percentage`, `number of days in ...`.
//! - A required note is refused (the model forbids it), and so is a `calculate`
//!   without a calculation even when its default is an expression (the engine
//!   computes calculations only).
//! - A default is an expression when it holds `${` or `(` (the engine's rule);
//!   pyxform also counts bare arithmetic such as `1 + 1`.
//! - A `${x}` reference must name a row of the survey sheet; `${instanceID}` (which
//!   pyxform allows) names nothing in our model.
//! - A CSV file may start with a UTF-8 byte-order mark; a sheet named twice is an
//!   error (pyxform merges oddly); duplicate headers are an error in every format.
//! - `uri:deviceid` and `uri:username` are read as `deviceid` and `username`.
//!
//! ## Untrusted input
//!
//! The importer never panics. Files over [`MAX_FILE_BYTES`] are refused unread; an
//! `.xlsx` whose parts declare more than [`MAX_UNZIPPED_BYTES`] in all is refused
//! before calamine opens it (the zip reader stops inflating any part at its declared
//! size, so a lying archive fails to read instead of expanding); sheets are read cell
//! by cell, never as a dense range, with [`MAX_ROWS`], [`MAX_COLUMNS`],
//! [`MAX_CELLS`] and [`MAX_CELL_BYTES`] enforced as they are read. Messages name
//! sheets, columns, element, list and choice names (cut short), never labels, hints
//! or expressions.
//!
//! The form is finally checked by the model's own validation
//! ([`Record::validate`](crate::model::Record::validate), which compiles every
//! expression with the engine); a problem found only there is reported with its
//! code, on the row of the element at fault.
//!
//! ## Error codes
//!
//! Reading: `too_large`, `unreadable`, `too_many_rows`, `too_many_columns`,
//! `cell_too_large`, `duplicate_column`, `duplicate_sheet`, `invalid_cell`.
//! Structure: `missing_sheet`, `missing_column`, `missing_type`, `unknown_type`,
//! `unsupported_type`, `missing_name`, `invalid_name`, `duplicate_name`,
//! `reserved_name`, `unmatched_begin`, `unmatched_end`, `missing_list_name`,
//! `unknown_choice_list`, `empty_choice_list`, `missing_choice_name`,
//! `duplicate_choice`, `invalid_choice_name`, `invalid_file`, `missing_label`,
//! `missing_calculation`, `invalid_parameters`, `unknown_parameter`,
//! `invalid_dimension`, `invalid_scale`, `invalid_score_type`, `or_other_filter`,
//! `table_list_mismatch`, `table_list_filter`, `invalid_required`,
//! `invalid_setting`. Expressions: `invalid_reference` (a malformed `${`),
//! `unknown_reference`, `invalid_trigger`, and the parser's own codes (`syntax`,
//! `unknown_function`, `unsupported`, ...).

mod build;
mod canonical;
mod checks;
mod columns;
mod params;
mod rules;
mod survey;
mod types;
mod workbook;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::model::Form;

pub use canonical::{canonical_tree, type_name};

/// Largest workbook file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;
/// Largest total uncompressed size of an `.xlsx` archive's parts, in bytes.
pub const MAX_UNZIPPED_BYTES: u64 = 64 * 1024 * 1024;
/// Most non-empty cells read from an `.xlsx` workbook (CSV and JSON are bounded by
/// [`MAX_FILE_BYTES`]).
pub const MAX_CELLS: usize = 2_000_000;
/// Most data rows read from one sheet.
pub const MAX_ROWS: usize = 100_000;
/// Most columns read from one sheet.
pub const MAX_COLUMNS: usize = 2_000;
/// Largest cell, in bytes of UTF-8.
pub const MAX_CELL_BYTES: usize = 64 * 1024;

/// A workbook's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Excel 2007+ (`.xlsx`, `.xlsm`).
    Xlsx,
    /// pyxform's CSV layout: the first column names the sheet.
    Csv,
    /// A JSON object of sheets, each a list of row objects.
    Json,
}

impl Format {
    /// The format a file name's extension says, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "xlsx" | "xlsm" => Some(Format::Xlsx),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// One problem found in a workbook: where it is and what is wrong. Messages name
/// sheets, columns, element and list names, never labels or other survey text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportIssue {
    /// The sheet, as named in the workbook (`survey`, `choices`, `settings`); empty
    /// for a problem with the whole file.
    pub sheet: String,
    /// The 1-based spreadsheet row (the header row is 1), when one row is at fault.
    pub row: Option<usize>,
    /// The column header as written (e.g. `relevant`, `label::English (en)`), when one
    /// column is at fault.
    pub column: Option<String>,
    /// Stable code (see the module documentation).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ImportIssue {
    /// `sheet!row column: message (code)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sheet = if self.sheet.is_empty() {
            "workbook"
        } else {
            &self.sheet
        };
        write!(f, "{sheet}")?;
        if let Some(r) = self.row {
            write!(f, "!{r}")?;
        }
        if let Some(c) = &self.column {
            write!(f, " {c}")?;
        }
        write!(f, ": {} ({})", self.message, self.code)
    }
}

/// A successful import: the form and what deserves a look.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The form, at version 1, unpublished (callers set both).
    pub form: Form,
    /// Things pyxform warns about too (rows skipped, choices without labels, ...).
    pub warnings: Vec<ImportIssue>,
}

/// A failed import: every error found (not only the first), and the warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrors {
    /// The errors, in sheet order.
    pub errors: Vec<ImportIssue>,
    /// Warnings met on the way.
    pub warnings: Vec<ImportIssue>,
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportErrors {}

impl ImportErrors {
    fn one(issue: ImportIssue) -> Self {
        ImportErrors {
            errors: vec![issue],
            warnings: Vec::new(),
        }
    }
}

/// Import the workbook at `path`; the format comes from its extension. The file name
/// stands in for a missing `settings` `form_id` (as pyxform does).
pub fn import_path(path: &Path) -> Result<Import, ImportErrors> {
    let file_issue = |code: &'static str, message: String| ImportIssue {
        sheet: String::new(),
        row: None,
        column: None,
        code,
        message,
    };
    let Some(format) = Format::from_path(path) else {
        return Err(ImportErrors::one(file_issue(
            "unreadable",
            "the file name must end in .xlsx, .xlsm, .csv or .json".into(),
        )));
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        ImportErrors::one(file_issue(
            "unreadable",
            format!("cannot read the file: {}", e.kind()),
        ))
    })?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(ImportErrors::one(file_issue(
            "too_large",
            format!(
                "the file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                meta.len()
            ),
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        ImportErrors::one(file_issue(
            "unreadable",
            format!("cannot read the file: {}", e.kind()),
        ))
    })?;
    let stem = path.file_stem().and_then(|s| s.to_str());
    import(&bytes, format, stem)
}

/// Import a workbook held in memory.
pub fn import_bytes(bytes: &[u8], format: Format) -> Result<Import, ImportErrors> {
    import(bytes, format, None)
}

fn import(bytes: &[u8], format: Format, stem: Option<&str>) -> Result<Import, ImportErrors> {
    let read = workbook::read(bytes, format).map_err(|errors| ImportErrors {
        errors,
        warnings: Vec::new(),
    })?;
    build::build(read, stem)
}
