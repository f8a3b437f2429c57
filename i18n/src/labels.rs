//! Readable names of the domain's stable codes (statuses, bands, dimensions, segments,
//! value tiers, case stages and categories, warning kinds, roles). The codes stay
//! what exports, the API and the protocol carry; these are what a person reads. An
//! unknown code is shown as it is.

use crate::{Lang, k, tr};

/// What kind of code a label is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Response status (`draft`, `needs_follow_up`, ...; `comment` for a review entry).
    Status,
    /// Score band.
    Band,
    /// Question dimension.
    Dimension,
    /// Segment kind.
    Segment,
    /// Value tier.
    Tier,
    /// Case stage.
    Stage,
    /// Case category.
    Category,
    /// Early-warning kind.
    Warning,
    /// Console role.
    Role,
}

fn key(domain: Domain, code: &str) -> Option<&'static str> {
    use Domain as D;
    Some(match (domain, code) {
        (D::Status, "draft") => k!("status-draft"),
        (D::Status, "complete") => k!("status-complete"),
        (D::Status, "approved") => k!("status-approved"),
        (D::Status, "rejected") => k!("status-rejected"),
        (D::Status, "needs_follow_up") => k!("status-needs-follow-up"),
        (D::Status, "comment") => k!("status-comment"),
        (D::Band, "high") => k!("band-high"),
        (D::Band, "middle") => k!("band-middle"),
        (D::Band, "low") => k!("band-low"),
        (D::Dimension, "service") => k!("dimension-service"),
        (D::Dimension, "product") => k!("dimension-product"),
        (D::Dimension, "price") => k!("dimension-price"),
        (D::Dimension, "network") => k!("dimension-network"),
        (D::Dimension, "care") => k!("dimension-care"),
        (D::Dimension, "overall") => k!("dimension-overall"),
        (D::Segment, "individual") => k!("segment-individual"),
        (D::Segment, "family") => k!("segment-family"),
        (D::Segment, "enterprise") => k!("segment-enterprise"),
        (D::Tier, "high") => k!("tier-high"),
        (D::Tier, "middle") => k!("tier-middle"),
        (D::Tier, "low") => k!("tier-low"),
        (D::Tier, "") => k!("tier-unknown"),
        (D::Stage, "received") => k!("stage-received"),
        (D::Stage, "classified") => k!("stage-classified"),
        (D::Stage, "dispatched") => k!("stage-dispatched"),
        (D::Stage, "handled") => k!("stage-handled"),
        (D::Stage, "reported") => k!("stage-reported"),
        (D::Stage, "followed_up") => k!("stage-followed-up"),
        (D::Stage, "closed") => k!("stage-closed"),
        (D::Category, "service") => k!("category-service"),
        (D::Category, "network") => k!("category-network"),
        (D::Category, "billing") => k!("category-billing"),
        (D::Category, "marketing") => k!("category-marketing"),
        (D::Warning, "repeated_complaints") => k!("warning-repeated-complaints"),
        (D::Warning, "score_drop") => k!("warning-score-drop"),
        (D::Warning, "low_score_core_customer") => k!("warning-low-score-core-customer"),
        (D::Warning, "commitment_past_due") => k!("warning-commitment-past-due"),
        (D::Warning, "refund_unconfirmed") => k!("warning-refund-unconfirmed"),
        (D::Warning, "case_overdue") => k!("warning-case-overdue"),
        (D::Role, "viewer") => k!("role-viewer"),
        (D::Role, "reviewer") => k!("role-reviewer"),
        (D::Role, "admin") => k!("role-admin"),
        _ => return None,
    })
}

/// The readable name of `code` in `lang` (the code itself when unknown).
pub fn label(lang: Lang, domain: Domain, code: &str) -> String {
    key(domain, code).map_or_else(|| code.to_string(), |k| tr(lang, k))
}

/// XLSForm import problem codes (`fieldsync_core::forms::xlsform::ImportIssue::code`)
/// with their catalogue keys.
pub const FORM_ISSUES: [(&str, &str); 61] = [
    ("too_large", k!("form-issue-too-large")),
    ("unreadable", k!("form-issue-unreadable")),
    ("too_many_rows", k!("form-issue-too-many-rows")),
    ("too_many_columns", k!("form-issue-too-many-columns")),
    ("cell_too_large", k!("form-issue-cell-too-large")),
    ("duplicate_column", k!("form-issue-duplicate-column")),
    ("duplicate_sheet", k!("form-issue-duplicate-sheet")),
    ("invalid_cell", k!("form-issue-invalid-cell")),
    ("missing_sheet", k!("form-issue-missing-sheet")),
    ("missing_column", k!("form-issue-missing-column")),
    ("missing_type", k!("form-issue-missing-type")),
    ("unknown_type", k!("form-issue-unknown-type")),
    ("unsupported_type", k!("form-issue-unsupported-type")),
    ("missing_name", k!("form-issue-missing-name")),
    ("invalid_name", k!("form-issue-invalid-name")),
    ("duplicate_name", k!("form-issue-duplicate-name")),
    ("reserved_name", k!("form-issue-reserved-name")),
    ("unmatched_begin", k!("form-issue-unmatched-begin")),
    ("unmatched_end", k!("form-issue-unmatched-end")),
    ("missing_list_name", k!("form-issue-missing-list-name")),
    ("unknown_choice_list", k!("form-issue-unknown-choice-list")),
    ("empty_choice_list", k!("form-issue-empty-choice-list")),
    ("missing_choice_name", k!("form-issue-missing-choice-name")),
    ("duplicate_choice", k!("form-issue-duplicate-choice")),
    ("invalid_choice_name", k!("form-issue-invalid-choice-name")),
    ("invalid_file", k!("form-issue-invalid-file")),
    ("missing_label", k!("form-issue-missing-label")),
    ("missing_calculation", k!("form-issue-missing-calculation")),
    ("invalid_parameters", k!("form-issue-invalid-parameters")),
    ("unknown_parameter", k!("form-issue-unknown-parameter")),
    ("invalid_dimension", k!("form-issue-invalid-dimension")),
    ("invalid_scale", k!("form-issue-invalid-scale")),
    ("invalid_score_type", k!("form-issue-invalid-score-type")),
    ("or_other_filter", k!("form-issue-or-other-filter")),
    ("table_list_mismatch", k!("form-issue-table-list-mismatch")),
    ("table_list_filter", k!("form-issue-table-list-filter")),
    ("invalid_required", k!("form-issue-invalid-required")),
    ("invalid_setting", k!("form-issue-invalid-setting")),
    ("invalid_reference", k!("form-issue-invalid-reference")),
    ("unknown_reference", k!("form-issue-unknown-reference")),
    ("invalid_trigger", k!("form-issue-invalid-trigger")),
    ("syntax", k!("form-issue-syntax")),
    ("unknown_function", k!("form-issue-unknown-function")),
    ("unsupported", k!("form-issue-unsupported")),
    ("arity", k!("form-issue-arity")),
    ("too_deep", k!("form-issue-too-deep")),
    ("too_complex", k!("form-issue-too-complex")),
    ("too_long", k!("form-issue-too-long")),
    ("dependency_cycle", k!("form-issue-dependency-cycle")),
    ("invalid_range", k!("form-issue-invalid-range")),
    ("invalid_regex", k!("form-issue-invalid-regex")),
    ("ignored_rows", k!("form-issue-ignored-rows")),
    ("ignored_sheet", k!("form-issue-ignored-sheet")),
    ("skipped_row", k!("form-issue-skipped-row")),
    ("dropped_column", k!("form-issue-dropped-column")),
    ("disabled_column", k!("form-issue-disabled-column")),
    (
        "bare_translatable_column",
        k!("form-issue-bare-translatable-column"),
    ),
    (
        "missing_choice_label",
        k!("form-issue-missing-choice-label"),
    ),
    ("similar_name", k!("form-issue-similar-name")),
    ("default_form_id", k!("form-issue-default-form-id")),
    (
        "repeat_without_label",
        k!("form-issue-repeat-without-label"),
    ),
];

/// What XLSForm problem `code` means, in `lang`; `None` for a code without a text
/// (callers show the engine's own message).
pub fn form_issue(lang: Lang, code: &str) -> Option<String> {
    FORM_ISSUES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, k)| tr(lang, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_names() {
        assert_eq!(
            label(Lang::ZhCn, Domain::Status, "needs_follow_up"),
            "需回访"
        );
        assert_eq!(
            label(Lang::En, Domain::Segment, "enterprise"),
            "Government / enterprise"
        );
        assert_eq!(label(Lang::ZhCn, Domain::Dimension, "network"), "网络质量");
        assert_eq!(label(Lang::En, Domain::Stage, "made_up"), "made_up");
    }
}
