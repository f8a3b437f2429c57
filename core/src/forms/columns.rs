//! Answer columns across the versions of one form: what an export of a form key must
//! show so that answers to a question a later version removed (or changed the type
//! of) are kept and exported, never dropped.
//!
//! Columns come in the order of the newest version, then the questions only older
//! versions had, each after the column it followed in the newest version that had it.

use std::collections::HashMap;

use crate::model::{Form, QuestionKind};

/// One answer column of an export across versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerColumn {
    /// The element id (the answer's key in responses).
    pub question: String,
    /// Its type in the newest version that has it.
    pub kind: QuestionKind,
    /// The repeat it is in, if any (exports put repeats in their own sheets).
    pub repeat: Option<String>,
    /// The versions (`Form::version`) that have it, ascending.
    pub versions: Vec<i64>,
}

/// The answer columns of `forms` (versions of one form key, in any order): every
/// element that takes an answer in any version.
pub fn answer_columns(forms: &[&Form]) -> Vec<AnswerColumn> {
    let mut by_version: Vec<&Form> = forms.to_vec();
    by_version.sort_by_key(|f| std::cmp::Reverse(f.version));
    let mut out: Vec<AnswerColumn> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for f in &by_version {
        let repeat_of = repeats_of(f);
        let mut prev: Option<usize> = None;
        for q in f.questions.iter().filter(|q| !q.kind.takes_no_answer()) {
            match at.get(&q.id) {
                Some(&i) => {
                    out[i].versions.push(f.version);
                    prev = Some(i);
                }
                None => {
                    let i = prev.map_or(0, |p| p + 1);
                    out.insert(
                        i,
                        AnswerColumn {
                            question: q.id.clone(),
                            kind: q.kind,
                            repeat: repeat_of.get(q.id.as_str()).cloned(),
                            versions: vec![f.version],
                        },
                    );
                    // Shift the positions after the insertion point.
                    for v in at.values_mut() {
                        if *v >= i {
                            *v += 1;
                        }
                    }
                    at.insert(q.id.clone(), i);
                    prev = Some(i);
                }
            }
        }
    }
    for c in &mut out {
        c.versions.sort_unstable();
        c.versions.dedup();
    }
    out
}

/// Element id -> the id of the innermost repeat enclosing it.
fn repeats_of(f: &Form) -> HashMap<&str, String> {
    let parent: HashMap<&str, Option<&str>> = f
        .questions
        .iter()
        .map(|q| (q.id.as_str(), q.group.as_deref()))
        .collect();
    let kind: HashMap<&str, QuestionKind> = f
        .questions
        .iter()
        .map(|q| (q.id.as_str(), q.kind))
        .collect();
    let mut out = HashMap::new();
    for q in &f.questions {
        let mut g = q.group.as_deref();
        // Bounded by the number of elements: a malformed parent chain cannot loop.
        for _ in 0..f.questions.len() {
            let Some(name) = g else { break };
            if kind.get(name) == Some(&QuestionKind::Repeat) {
                out.insert(q.id.as_str(), name.to_string());
                break;
            }
            g = parent.get(name).copied().flatten();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Question;

    fn form(version: i64, qs: &[(&str, QuestionKind)]) -> Form {
        Form {
            form_key: "k".into(),
            version,
            title: "t".into(),
            questions: qs
                .iter()
                .map(|(id, k)| Question::new(*id, *k, *id))
                .collect(),
            ..Form::default()
        }
    }

    #[test]
    fn removed_questions_keep_their_column_in_place() {
        use QuestionKind as K;
        let v1 = form(
            1,
            &[
                ("a", K::Text),
                ("old", K::Integer),
                ("b", K::Text),
                ("gone", K::Text),
            ],
        );
        let v2 = form(
            2,
            &[
                ("a", K::Text),
                ("b", K::Text),
                ("new", K::Date),
                ("n", K::Note),
            ],
        );
        let cols = answer_columns(&[&v1, &v2]);
        let names: Vec<&str> = cols.iter().map(|c| c.question.as_str()).collect();
        assert_eq!(names, ["a", "old", "b", "gone", "new"]);
        let find = |n: &str| {
            cols.iter()
                .find(|c| c.question == n)
                .map(|c| c.versions.clone())
        };
        assert_eq!(find("old"), Some(vec![1]));
        assert_eq!(find("a"), Some(vec![1, 2]));
        assert_eq!(find("new"), Some(vec![2]));
        assert_eq!(find("n"), None, "notes take no answer");
    }

    #[test]
    fn repeats_are_named() {
        use QuestionKind as K;
        let mut f = form(1, &[("r", K::Repeat), ("g", K::Group), ("x", K::Text)]);
        f.questions[1].group = Some("r".into());
        f.questions[2].group = Some("g".into());
        let cols = answer_columns(&[&f]);
        assert_eq!(cols.len(), 1);
        assert_eq!(cols[0].repeat.as_deref(), Some("r"));
    }
}
