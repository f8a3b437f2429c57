//! Evaluation of one response against a compiled form: node states, issues, and the
//! incremental recomputation after an answer changes.

use std::collections::HashMap;

use super::types::{answer_value, check_answer, is_empty_answer};
use super::{CompiledForm, DefaultValue, EvalContext, Required};
use crate::forms::expr::{Env, Value};
use crate::ids::Timestamp;
use crate::model::{Answer, Choice, QuestionKind, RepeatInstance, Response};

/// One node: an element, inside particular instances of its enclosing repeats.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeRef {
    /// The element's id.
    pub question: String,
    /// 0-based instance index in each enclosing repeat, outermost first (empty outside
    /// repeats). For a repeat element itself, the last index is the instance.
    pub instance: Vec<u32>,
}

impl NodeRef {
    /// A node outside every repeat.
    pub fn top(question: impl Into<String>) -> Self {
        NodeRef {
            question: question.into(),
            instance: Vec::new(),
        }
    }

    /// A node inside repeat instances.
    pub fn at(question: impl Into<String>, instance: &[u32]) -> Self {
        NodeRef {
            question: question.into(),
            instance: instance.to_vec(),
        }
    }

    /// The field path used in validation errors: `answers.q` or
    /// `repeats.r[1].answers.q` (nested repeats continue the chain).
    pub fn field(&self, form: &CompiledForm) -> String {
        let Some(e) = form.element_index(&self.question) else {
            return format!("answers.{}", self.question);
        };
        let el = &form.elements[e];
        let mut s = String::new();
        for (depth, (&r, idx)) in el.repeats.iter().zip(&self.instance).enumerate() {
            if depth == 0 {
                s.push_str("repeats.");
            } else {
                s.push_str(".repeats.");
            }
            s.push_str(&form.form.questions[r].id);
            s.push_str(&format!("[{idx}]"));
        }
        if s.is_empty() {
            format!("answers.{}", self.question)
        } else {
            format!("{s}.answers.{}", self.question)
        }
    }
}

/// What is wrong with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// A required question is unanswered.
    Required,
    /// The answer breaks the question's constraint.
    Constraint,
    /// The answer does not fit the question's type, choices or scale.
    Invalid,
    /// An expression of the question could not be evaluated.
    Expression,
}

/// A problem with one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Where.
    pub node: NodeRef,
    /// What kind of problem.
    pub kind: IssueKind,
    /// A stable code (`required`, `constraint`, `unknown_choice`, ...).
    pub code: &'static str,
    /// The form's message for it (constraint or required message, in the wanted
    /// language), or an engine message; never the answer itself.
    pub message: String,
}

/// The state of one node after evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementState {
    /// The node.
    pub node: NodeRef,
    /// Shown: its own relevant and every enclosing group's are true.
    pub visible: bool,
    /// Must be answered (only while visible).
    pub required: bool,
    /// May not be edited.
    pub read_only: bool,
    /// Its value as expressions see it (the answer, or the calculation's result).
    pub value: Value,
    /// For a repeat with `repeat_count`: how many instances it should have.
    pub expected_instances: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
struct NodeState {
    relevant: bool,
    required: bool,
    read_only: bool,
    /// Calculated value (elements with a calculation).
    calc: Option<Value>,
    /// Constraint result: None = not applicable / passed.
    constraint_failed: bool,
    expr_error: Option<&'static str>,
    expected_instances: Option<u32>,
}

impl NodeState {
    fn fresh() -> Self {
        NodeState {
            relevant: true,
            required: false,
            read_only: false,
            calc: None,
            constraint_failed: false,
            expr_error: None,
            expected_instances: None,
        }
    }
}

type Key = (usize, Vec<u32>);

/// A response evaluated against its form. Built by [`CompiledForm::evaluate`].
#[derive(Debug, Clone)]
pub struct Evaluation<'f> {
    form: &'f CompiledForm,
    ctx: EvalContext,
    language: Option<String>,
    /// Answer values by node (as expressions read them).
    answers: HashMap<Key, Value>,
    /// The typed answers, for type checks.
    typed: HashMap<Key, Answer>,
    /// Number of instances per (repeat element, instance path of its parent repeats).
    counts: HashMap<Key, u32>,
    states: HashMap<Key, NodeState>,
}

impl CompiledForm {
    /// Evaluate `response` in full.
    pub fn evaluate<'f>(&'f self, response: &Response, ctx: &EvalContext) -> Evaluation<'f> {
        let language = ctx
            .language
            .as_deref()
            .and_then(|l| self.form.language(l))
            .map(str::to_string);
        let mut ev = Evaluation {
            form: self,
            ctx: ctx.clone(),
            language,
            answers: HashMap::new(),
            typed: HashMap::new(),
            counts: HashMap::new(),
            states: HashMap::new(),
        };
        ev.load(&response.answers, &response.repeats, &[]);
        ev.recompute_all();
        ev
    }

    /// Fill a new response's defaults and metadata (`start`, `today`, `deviceid`,
    /// `username`) where it has no answer yet. Dynamic defaults are evaluated once.
    pub fn prefill(&self, response: &mut Response, ctx: &EvalContext) {
        let start = super::types::datetime_string(ctx.now, ctx.utc_offset_minutes);
        let today = super::types::date_string(ctx.now, ctx.utc_offset_minutes);
        for &i in &self.order {
            let el = &self.elements[i];
            if !el.repeats.is_empty() || el.kind.takes_no_answer() {
                continue;
            }
            let id = &self.form.questions[i].id;
            if response.answers.contains_key(id) {
                continue;
            }
            let a = match el.kind {
                QuestionKind::Start => Some(Answer::DateTime(start.clone())),
                QuestionKind::Today => Some(Answer::Date(today.clone())),
                QuestionKind::DeviceId if !ctx.device_id.is_empty() => {
                    Some(Answer::Text(ctx.device_id.clone()))
                }
                QuestionKind::Username if !ctx.username.is_empty() => {
                    Some(Answer::Text(ctx.username.clone()))
                }
                _ => match &el.default {
                    Some(DefaultValue::Literal(s)) => super::types::answer_from_text(self, i, s),
                    Some(DefaultValue::Dynamic(e)) => {
                        let ev = self.evaluate(response, ctx);
                        let env = NodeEnv {
                            ev: &ev,
                            elem: i,
                            inst: &[],
                            current: None,
                            choice: None,
                        };
                        e.eval(&env)
                            .ok()
                            .map(|v| super::types::value_string(&v))
                            .filter(|s| !s.is_empty())
                            .and_then(|s| super::types::answer_from_text(self, i, &s))
                    }
                    None => None,
                },
            };
            if let Some(a) = a {
                response.answers.insert(id.clone(), a);
            }
        }
    }

    /// Write the values of calculations (top level and in repeats) and the `end`
    /// timestamp into `response`, as the enumerator's device computed them when the
    /// response was completed. Calculations of non-relevant nodes are removed.
    pub fn finalize(&self, response: &mut Response, ctx: &EvalContext) {
        let ev = self.evaluate(response, ctx);
        let mut writes: Vec<(Key, Option<Answer>)> = Vec::new();
        for (key, st) in &ev.states {
            let el = &self.elements[key.0];
            if el.calculation.is_some() && !el.kind.takes_no_answer() {
                let v = if st.relevant {
                    st.calc
                        .as_ref()
                        .map(super::types::value_string)
                        .filter(|s| !s.is_empty())
                        .and_then(|s| {
                            if el.kind == QuestionKind::Calculate || el.kind == QuestionKind::Hidden
                            {
                                Some(Answer::Text(s))
                            } else {
                                super::types::answer_from_text(self, key.0, &s)
                            }
                        })
                } else {
                    None
                };
                writes.push((key.clone(), v));
            }
            if el.kind == QuestionKind::End && el.repeats.is_empty() {
                writes.push((
                    key.clone(),
                    Some(Answer::DateTime(super::types::datetime_string(
                        ctx.now,
                        ctx.utc_offset_minutes,
                    ))),
                ));
            }
        }
        writes.sort_by(|a, b| a.0.cmp(&b.0));
        self.apply_respondent(response);
        for (key, v) in writes {
            let id = self.form.questions[key.0].id.clone();
            let Some(answers) = answers_at_mut(self, response, key.0, &key.1) else {
                continue;
            };
            match v {
                Some(a) => {
                    answers.insert(id, a);
                }
                None => {
                    answers.remove(&id);
                }
            }
        }
    }
}

impl CompiledForm {
    /// An answer as a form-filling app may give it, in the form the question stores:
    /// a score question takes a choice name, a number or a score on any scale and
    /// stores a [`Score`](crate::model::Score) on its own scale and dimension. Other
    /// answers are returned unchanged (and checked as they are).
    pub fn normalize_answer(&self, question: &str, answer: Answer) -> Answer {
        let Some(e) = self.element_index(question) else {
            return answer;
        };
        let q = &self.form.questions[e];
        if q.kind != QuestionKind::Score {
            return answer;
        }
        let value = match &answer {
            Answer::Score(s) => Some(s.value),
            Answer::Integer(i) => Some(*i),
            Answer::Choice(c) | Answer::Text(c) => c.trim().parse::<i64>().ok(),
            Answer::Decimal(d) if d.fract() == 0.0 && d.abs() < 1e15 => Some(*d as i64),
            _ => None,
        };
        match value {
            Some(v) => Answer::Score(q.score(v)),
            None => answer,
        }
    }

    /// The answer map `node` lives in (the response's, or its repeat instance's);
    /// `None` when the element is unknown or the instance does not exist.
    pub fn answers_mut<'r>(
        &self,
        response: &'r mut Response,
        node: &NodeRef,
    ) -> Option<&'r mut std::collections::BTreeMap<String, Answer>> {
        let e = self.element_index(&node.question)?;
        if self.elements[e].repeats.len() != node.instance.len() {
            return None;
        }
        answers_at_mut(self, response, e, &node.instance)
    }

    /// Append an instance (with a fresh random id) to `repeat` inside the parent
    /// instances `parent`, filling its literal defaults; returns its instance path.
    pub fn add_instance(
        &self,
        response: &mut Response,
        repeat: &str,
        parent: &[u32],
    ) -> Result<Vec<u32>, crate::error::Error> {
        let bad = || {
            crate::error::Error::from(crate::error::ValidationError::new(
                format!("repeats.{repeat}"),
                "unknown_repeat",
                "the form has no such repeat at this level",
            ))
        };
        let r = self.element_index(repeat).ok_or_else(bad)?;
        let el = &self.elements[r];
        if el.kind != QuestionKind::Repeat || el.repeats.len() != parent.len() {
            return Err(bad());
        }
        let list = if el.repeats.is_empty() {
            response.repeats.entry(repeat.to_string()).or_default()
        } else {
            // The parent instance's map of nested repeats.
            repeats_at_mut(self, &mut response.repeats, &el.repeats, parent)
                .ok_or_else(bad)?
                .entry(repeat.to_string())
                .or_default()
        };
        let mut answers = std::collections::BTreeMap::new();
        for (i, q) in self.form.questions.iter().enumerate() {
            if self.elements[i].parent == Some(r)
                && let Some(DefaultValue::Literal(d)) = &self.elements[i].default
                && let Some(a) = super::types::answer_from_text(self, i, d)
            {
                answers.insert(q.id.clone(), a);
            }
        }
        list.push(RepeatInstance {
            id: crate::ids::DocId::random()?.to_string(),
            answers,
            repeats: Default::default(),
        });
        let mut path = parent.to_vec();
        path.push(u32::try_from(list.len() - 1).unwrap_or(u32::MAX));
        Ok(path)
    }
}

/// The nested-repeat map of the instance at `inst` down `chain`.
fn repeats_at_mut<'r>(
    form: &CompiledForm,
    repeats: &'r mut std::collections::BTreeMap<String, Vec<RepeatInstance>>,
    chain: &[usize],
    inst: &[u32],
) -> Option<&'r mut std::collections::BTreeMap<String, Vec<RepeatInstance>>> {
    let (&r, rest) = chain.split_first()?;
    let (&i, inst_rest) = inst.split_first()?;
    let instance = repeats
        .get_mut(&form.form.questions[r].id)?
        .get_mut(i as usize)?;
    if rest.is_empty() {
        Some(&mut instance.repeats)
    } else {
        repeats_at_mut(form, &mut instance.repeats, rest, inst_rest)
    }
}

impl CompiledForm {
    /// Copy the answers of questions that carry a `respondent` column (`segment`,
    /// `value_tier`, `core`, `customer_id`, `name`, `phone`) into the response's
    /// respondent fields, which lists, analytics and exports read. An answer that does
    /// not fit (an unknown segment name) leaves the field as it was.
    pub fn apply_respondent(&self, response: &mut Response) {
        for (i, q) in self.form.questions.iter().enumerate() {
            if self.repeat_depth(i) > 0 {
                continue;
            }
            let (Some(role), Some(a)) = (q.extra.get("respondent"), response.answers.get(&q.id))
            else {
                continue;
            };
            let text = match a {
                Answer::Text(t) | Answer::Choice(t) => Some(t.trim().to_string()),
                Answer::Integer(n) => Some(n.to_string()),
                Answer::Acknowledged(b) => Some(if *b { "yes".into() } else { "no".into() }),
                _ => None,
            };
            let Some(text) = text.filter(|t| !t.is_empty()) else {
                continue;
            };
            let seg = &mut response.respondent.segment;
            match role.as_str() {
                "segment" => {
                    if let Some(k) = crate::model::SegmentKind::parse(&text) {
                        seg.kind = k;
                    }
                }
                "value_tier" => {
                    if let Some(t) = crate::model::ValueTier::parse(&text) {
                        seg.value_tier = Some(t);
                    }
                }
                "core" => match text.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "1" | "core" => seg.core = true,
                    "no" | "false" | "0" => seg.core = false,
                    _ => {}
                },
                "customer_id" => response.respondent.customer_id = Some(text),
                "name" => response.respondent.name = Some(text),
                "phone" => response.respondent.phone = Some(text),
                _ => {}
            }
        }
    }
}

/// Values of the `respondent` column.
pub const RESPONDENT_ROLES: [&str; 6] = [
    "segment",
    "value_tier",
    "core",
    "customer_id",
    "name",
    "phone",
];

/// The answer map of the instance a node lives in, if that instance exists.
fn answers_at_mut<'r>(
    form: &CompiledForm,
    response: &'r mut Response,
    elem: usize,
    inst: &[u32],
) -> Option<&'r mut std::collections::BTreeMap<String, Answer>> {
    let chain = &form.elements[elem].repeats;
    if chain.is_empty() {
        return Some(&mut response.answers);
    }
    answers_in(form, &mut response.repeats, chain, inst)
}

fn answers_in<'r>(
    form: &CompiledForm,
    repeats: &'r mut std::collections::BTreeMap<String, Vec<RepeatInstance>>,
    chain: &[usize],
    inst: &[u32],
) -> Option<&'r mut std::collections::BTreeMap<String, Answer>> {
    let (&r, rest) = chain.split_first()?;
    let (&i, inst_rest) = inst.split_first()?;
    let instance = repeats
        .get_mut(&form.form.questions[r].id)?
        .get_mut(i as usize)?;
    if rest.is_empty() {
        Some(&mut instance.answers)
    } else {
        answers_in(form, &mut instance.repeats, rest, inst_rest)
    }
}

impl<'f> Evaluation<'f> {
    fn load(
        &mut self,
        answers: &std::collections::BTreeMap<String, Answer>,
        repeats: &std::collections::BTreeMap<String, Vec<RepeatInstance>>,
        inst: &[u32],
    ) {
        for (id, a) in answers {
            // Answers to ids the form does not have are kept in the document and
            // reported by the type check; they take no part in evaluation.
            let Some(e) = self.form.element_index(id) else {
                continue;
            };
            // An answer stored at the wrong depth (top level for a question in a
            // repeat) is ignored for evaluation; the type check reports it.
            if self.form.elements[e].repeats.len() != inst.len() {
                continue;
            }
            self.answers.insert((e, inst.to_vec()), answer_value(a));
            self.typed.insert((e, inst.to_vec()), a.clone());
        }
        for (id, list) in repeats {
            let Some(r) = self.form.element_index(id) else {
                continue;
            };
            if self.form.elements[r].kind != QuestionKind::Repeat
                || self.form.elements[r].repeats.len() != inst.len()
            {
                continue;
            }
            let n = u32::try_from(list.len()).unwrap_or(u32::MAX);
            self.counts.insert((r, inst.to_vec()), n);
            for (i, ri) in list.iter().enumerate() {
                let mut next = inst.to_vec();
                next.push(u32::try_from(i).unwrap_or(u32::MAX));
                self.load(&ri.answers, &ri.repeats, &next);
            }
        }
    }

    /// Every instance path at which `elem` has nodes.
    fn instances_of(&self, elem: usize) -> Vec<Vec<u32>> {
        let chain = self.form.elements[elem].node_repeats(elem);
        let mut paths: Vec<Vec<u32>> = vec![Vec::new()];
        for r in chain {
            let mut next = Vec::new();
            for p in &paths {
                // The repeat's own instances are counted under its parent's path.
                let parent_path = &p[..];
                let n = self
                    .counts
                    .get(&(r, parent_path.to_vec()))
                    .copied()
                    .unwrap_or(0);
                for i in 0..n {
                    let mut q = p.clone();
                    q.push(i);
                    next.push(q);
                }
            }
            paths = next;
        }
        // A repeat element also has its "template" node at the parent path, holding
        // repeat_count and relevance of the repeat as a whole.
        if self.form.elements[elem].kind == QuestionKind::Repeat {
            let depth = self.form.elements[elem].repeats.len();
            let mut parents: Vec<Vec<u32>> = paths
                .iter()
                .map(|p| p[..depth.min(p.len())].to_vec())
                .collect();
            parents.extend(self.parent_paths(elem));
            parents.sort();
            parents.dedup();
            for p in parents {
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
        }
        paths
    }

    /// Instance paths of the parent repeats of `elem` (where its template node lives).
    fn parent_paths(&self, elem: usize) -> Vec<Vec<u32>> {
        let chain = &self.form.elements[elem].repeats;
        match chain.last() {
            None => vec![Vec::new()],
            Some(&r) => self
                .instances_of(r)
                .into_iter()
                .filter(|p| p.len() == chain.len())
                .collect(),
        }
    }

    fn recompute_all(&mut self) {
        self.states.clear();
        for k in 0..self.form.order.len() {
            let e = self.form.order[k];
            for inst in self.instances_of(e) {
                self.recompute_node(e, &inst);
            }
        }
    }

    /// Recompute one node's state.
    fn recompute_node(&mut self, elem: usize, inst: &[u32]) {
        let el = &self.form.elements[elem];
        let mut st = NodeState::fresh();
        let parent_relevant = match el.parent {
            None => true,
            Some(p) => {
                // The parent node: a group shares our instance path (truncated to its
                // depth); a repeat's instance node is at its own depth.
                let pe = &self.form.elements[p];
                let depth = pe.node_repeats(p).len();
                let key = (p, inst[..depth.min(inst.len())].to_vec());
                self.states.get(&key).is_none_or(|s| s.relevant)
            }
        };
        let env = NodeEnv {
            ev: self,
            elem,
            inst,
            current: None,
            choice: None,
        };
        let mut err = None;
        let mut bool_of = |e: &crate::forms::expr::Expr| -> bool {
            match e.eval(&env) {
                Ok(v) => truthy(&v),
                Err(x) => {
                    err = Some(x.code);
                    false
                }
            }
        };
        st.relevant = parent_relevant && el.relevant.as_ref().is_none_or(&mut bool_of);
        // A repeat instance past its repeat_count is not relevant.
        if st.relevant
            && el.kind == QuestionKind::Repeat
            && let Some(rc) = &el.repeat_count
        {
            let depth = el.repeats.len();
            let template_env = NodeEnv {
                ev: self,
                elem,
                inst: &inst[..depth.min(inst.len())],
                current: None,
                choice: None,
            };
            let n = rc
                .eval(&template_env)
                .ok()
                .map(|v| number(&v))
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(|n| n.min(10_000.0) as u32)
                .unwrap_or(0);
            st.expected_instances = Some(n);
            if inst.len() > depth && inst[depth] >= n {
                st.relevant = false;
            }
        }
        if st.relevant {
            st.read_only = el.read_only.as_ref().is_some_and(&mut bool_of);
            st.required = match &el.required {
                Required::No => false,
                Required::Yes => true,
                Required::If(e) => bool_of(e),
            };
            if let Some(c) = &el.calculation {
                match c.eval(&env) {
                    Ok(v) => st.calc = Some(v),
                    Err(x) => err = Some(x.code),
                }
            }
        }
        st.expr_error = err;
        // The constraint is checked against the value (answer or calculation).
        if st.relevant && el.constraint.is_some() {
            let value = st
                .calc
                .clone()
                .or_else(|| self.answers.get(&(elem, inst.to_vec())).cloned());
            if let Some(v) = value.filter(|v| !value_is_empty(v))
                && let Some(c) = &el.constraint
            {
                let env = NodeEnv {
                    ev: self,
                    elem,
                    inst,
                    current: Some(v),
                    choice: None,
                };
                match c.eval(&env) {
                    Ok(r) => st.constraint_failed = !truthy(&r),
                    Err(x) => {
                        st.expr_error = Some(x.code);
                        st.constraint_failed = true;
                    }
                }
            }
        }
        self.states.insert((elem, inst.to_vec()), st);
    }

    /// Change one answer (`None` clears it) and recompute what depends on it. Returns
    /// the nodes whose state changed (the node itself included), in form order.
    pub fn set_answer(&mut self, node: &NodeRef, answer: Option<Answer>) -> Vec<NodeRef> {
        let Some(e) = self.form.element_index(&node.question) else {
            return Vec::new();
        };
        let key = (e, node.instance.clone());
        match answer {
            Some(a) => {
                self.answers.insert(key.clone(), answer_value(&a));
                self.typed.insert(key.clone(), a);
            }
            None => {
                self.answers.remove(&key);
                self.typed.remove(&key);
            }
        }
        self.recompute_from(e, &node.instance)
    }

    /// Add an instance at the end of a repeat (inside the given parent instances) and
    /// recompute. Returns the new instance's path.
    pub fn add_instance(&mut self, repeat: &str, parent: &[u32]) -> Option<Vec<u32>> {
        let r = self.form.element_index(repeat)?;
        if self.form.elements[r].kind != QuestionKind::Repeat
            || self.form.elements[r].repeats.len() != parent.len()
        {
            return None;
        }
        let n = self.counts.entry((r, parent.to_vec())).or_insert(0);
        let idx = *n;
        *n += 1;
        let mut path = parent.to_vec();
        path.push(idx);
        self.recompute_from(r, parent);
        Some(path)
    }

    fn recompute_from(&mut self, e: usize, inst: &[u32]) -> Vec<NodeRef> {
        let before: Vec<(Key, Option<NodeState>)> = std::iter::once(e)
            .chain(self.form.affected[e].iter().copied())
            .flat_map(|a| {
                self.instances_of(a)
                    .into_iter()
                    .filter(|p| compatible(p, inst))
                    .map(move |p| (a, p))
            })
            .map(|k| {
                let s = self.states.get(&k).cloned();
                (k, s)
            })
            .collect();
        let mut changed = Vec::new();
        for (k, old) in before {
            self.recompute_node(k.0, &k.1);
            let new = self.states.get(&k);
            if k.0 == e && k.1 == inst || old.as_ref() != new {
                changed.push(NodeRef {
                    question: self.form.form.questions[k.0].id.clone(),
                    instance: k.1,
                });
            }
        }
        changed
    }

    /// The state of one node (`None` for an unknown element or a missing instance).
    pub fn state(&self, node: &NodeRef) -> Option<ElementState> {
        let e = self.form.element_index(&node.question)?;
        let key = (e, node.instance.clone());
        let st = self.states.get(&key)?;
        Some(self.element_state(&key, st))
    }

    fn element_state(&self, key: &Key, st: &NodeState) -> ElementState {
        ElementState {
            node: NodeRef {
                question: self.form.form.questions[key.0].id.clone(),
                instance: key.1.clone(),
            },
            visible: st.relevant,
            required: st.required,
            read_only: st.read_only,
            value: self.node_value(key.0, &key.1),
            expected_instances: st.expected_instances,
        }
    }

    /// Every node's state, in form order (instances in order within an element).
    pub fn elements(&self) -> Vec<ElementState> {
        let mut keys: Vec<&Key> = self.states.keys().collect();
        keys.sort();
        keys.into_iter()
            .filter_map(|k| self.states.get(k).map(|st| self.element_state(k, st)))
            .collect()
    }

    /// True when the node is shown.
    pub fn is_visible(&self, node: &NodeRef) -> bool {
        self.state(node).is_some_and(|s| s.visible)
    }

    /// The value of a node as expressions see it (empty when not relevant).
    pub fn value(&self, node: &NodeRef) -> Value {
        match self.form.element_index(&node.question) {
            Some(e) => self.node_value(e, &node.instance),
            None => Value::String(String::new()),
        }
    }

    fn node_value(&self, elem: usize, inst: &[u32]) -> Value {
        let key = (elem, inst.to_vec());
        let st = self.states.get(&key);
        if st.is_some_and(|s| !s.relevant) {
            return Value::String(String::new());
        }
        if let Some(c) = st.and_then(|s| s.calc.clone()) {
            return c;
        }
        self.answers
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()))
    }

    /// Everything wrong with the response: type problems always; required and
    /// constraint problems of visible nodes.
    pub fn issues(&self) -> Vec<Issue> {
        let mut out = Vec::new();
        let mut keys: Vec<&Key> = self.states.keys().collect();
        keys.sort();
        // Type checks cover every stored answer, visible or not.
        let mut typed: Vec<(&Key, &Answer)> = self.typed.iter().collect();
        typed.sort_by(|a, b| a.0.cmp(b.0));
        for (k, a) in typed {
            let node = self.node_ref(k);
            if let Err((code, message)) = check_answer(self.form, k.0, a) {
                out.push(Issue {
                    node,
                    kind: IssueKind::Invalid,
                    code,
                    message,
                });
            }
        }
        for k in keys {
            let Some(st) = self.states.get(k) else {
                continue;
            };
            if !st.relevant {
                continue;
            }
            let el = &self.form.elements[k.0];
            let q = &self.form.form.questions[k.0];
            if let Some(code) = st.expr_error {
                out.push(Issue {
                    node: self.node_ref(k),
                    kind: IssueKind::Expression,
                    code,
                    message: "an expression of this question could not be evaluated".into(),
                });
            }
            if st.required
                && !el.kind.takes_no_answer()
                && el.calculation.is_none()
                && self.typed.get(k).is_none_or(is_empty_answer)
            {
                out.push(Issue {
                    node: self.node_ref(k),
                    kind: IssueKind::Required,
                    code: "required",
                    message: self
                        .text(
                            q,
                            |t| t.required_message.as_deref(),
                            q.required_message.as_deref(),
                        )
                        .unwrap_or("this question is required")
                        .to_string(),
                });
            }
            if st.constraint_failed {
                out.push(Issue {
                    node: self.node_ref(k),
                    kind: IssueKind::Constraint,
                    code: "constraint",
                    message: self
                        .text(
                            q,
                            |t| t.constraint_message.as_deref(),
                            q.constraint_message.as_deref(),
                        )
                        .unwrap_or("the answer is not valid")
                        .to_string(),
                });
            }
        }
        out
    }

    /// True when nothing stops the response from being completed.
    pub fn is_valid(&self) -> bool {
        self.issues().is_empty()
    }

    /// The choices a select node offers now: its list filtered by `choice_filter`
    /// (evaluated per choice, with the choice's columns readable by name).
    pub fn choices(&self, node: &NodeRef) -> Vec<&'f Choice> {
        let Some(e) = self.form.element_index(&node.question) else {
            return Vec::new();
        };
        let q = &self.form.form.questions[e];
        let all = self.form.form.choices(q);
        let Some(filter) = &self.form.elements[e].choice_filter else {
            return all.iter().collect();
        };
        all.iter()
            .filter(|c| {
                let env = NodeEnv {
                    ev: self,
                    elem: e,
                    inst: &node.instance,
                    current: None,
                    choice: Some(c),
                };
                filter.eval(&env).is_ok_and(|v| truthy(&v))
            })
            .collect()
    }

    /// The choices node `node` offers now ([`Evaluation::choices`]) with their labels
    /// in the evaluation's language; `None` when the node does not exist (unknown
    /// element, or a repeat instance that is not there).
    pub fn offered_choices(&self, node: &NodeRef) -> Option<Vec<Choice>> {
        self.state(node)?;
        Some(
            self.choices(node)
                .into_iter()
                .map(|c| {
                    let mut c = c.clone();
                    if let Some(t) = self.language.as_deref().and_then(|l| c.translations.get(l)) {
                        c.label = t.clone();
                    }
                    c
                })
                .collect(),
        )
    }

    /// The label of an element in the evaluation's language.
    pub fn label(&self, question: &str) -> Option<&'f str> {
        let e = self.form.element_index(question)?;
        let q = &self.form.form.questions[e];
        Some(q.label_in(self.language.as_deref()))
    }

    fn text<'a>(
        &'a self,
        q: &'a crate::model::Question,
        pick: impl Fn(&'a crate::model::Texts) -> Option<&'a str>,
        default: Option<&'a str>,
    ) -> Option<&'a str> {
        self.language
            .as_deref()
            .and_then(|l| q.translations.get(l))
            .and_then(pick)
            .or(default)
    }

    fn node_ref(&self, k: &Key) -> NodeRef {
        NodeRef {
            question: self.form.form.questions[k.0].id.clone(),
            instance: k.1.clone(),
        }
    }

    /// The context the evaluation runs in.
    pub fn context(&self) -> &EvalContext {
        &self.ctx
    }

    /// The compiled form evaluated against.
    pub fn form(&self) -> &'f CompiledForm {
        self.form
    }

    /// The form language texts come in (the context's language resolved against the
    /// form's languages), `None` for the default texts.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }
}

/// True when instance path `p` (of a node to recompute) can be affected by a change at
/// `changed`: they agree on every repeat level both have.
fn compatible(p: &[u32], changed: &[u32]) -> bool {
    p.iter().zip(changed).all(|(a, b)| a == b)
}

pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Boolean(b) => *b,
        Value::Number(n) => *n != 0.0 && !n.is_nan(),
        Value::String(s) => !s.is_empty(),
        Value::Date(_) | Value::DateTime(..) => true,
        Value::Nodes(ns) => !ns.is_empty(),
    }
}

pub(crate) fn number(v: &Value) -> f64 {
    match v {
        Value::Boolean(b) => f64::from(u8::from(*b)),
        Value::Number(n) => *n,
        Value::String(s) => s.trim().parse::<f64>().unwrap_or(f64::NAN),
        Value::Date(d) => *d as f64,
        Value::DateTime(ms, _) => *ms as f64 / 86_400_000.0,
        Value::Nodes(ns) => ns.first().map_or(f64::NAN, number),
    }
}

fn value_is_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Nodes(ns) => ns.is_empty(),
        _ => false,
    }
}

/// The environment of one node's expressions.
struct NodeEnv<'a, 'f> {
    ev: &'a Evaluation<'f>,
    elem: usize,
    inst: &'a [u32],
    /// `.` when it is not the node's own value: the answer a constraint checks.
    current: Option<Value>,
    /// The choice a choice filter is deciding on: bare names read its columns.
    choice: Option<&'a Choice>,
}

impl Env for NodeEnv<'_, '_> {
    fn reference(&self, name: &str) -> Value {
        let Some(t) = self.ev.form.element_index(name) else {
            return Value::String(String::new());
        };
        let form = self.ev.form;
        let target_chain = form.elements[t].node_repeats(t);
        let my_chain = form.elements[self.elem].node_repeats(self.elem);
        // Shared repeat levels take my instance; the rest range over all instances.
        let shared = target_chain
            .iter()
            .zip(&my_chain)
            .take_while(|(a, b)| a == b)
            .count()
            .min(self.inst.len());
        let prefix = &self.inst[..shared];
        if form.elements[t].kind == QuestionKind::Repeat && shared < target_chain.len() {
            // `${repeat}` from outside it: its instances as a node-set.
            let nodes: Vec<Value> = self
                .ev
                .instances_of(t)
                .into_iter()
                .filter(|p| p.len() == target_chain.len() && p.starts_with(prefix))
                .filter(|p| {
                    self.ev
                        .states
                        .get(&(t, p.clone()))
                        .is_none_or(|s| s.relevant)
                })
                .map(|_| Value::String(String::new()))
                .collect();
            return Value::Nodes(nodes);
        }
        if shared == target_chain.len() {
            return self.ev.node_value(t, prefix);
        }
        let nodes: Vec<Value> = self
            .ev
            .instances_of(t)
            .into_iter()
            .filter(|p| p.len() == target_chain.len() && p.starts_with(prefix))
            .filter(|p| {
                self.ev
                    .states
                    .get(&(t, p.clone()))
                    .is_none_or(|s| s.relevant)
            })
            .map(|p| self.ev.node_value(t, &p))
            .collect();
        Value::Nodes(nodes)
    }

    fn current(&self) -> Value {
        if let Some(v) = &self.current {
            return v.clone();
        }
        if let Some(c) = self.choice {
            return Value::String(c.value.clone());
        }
        self.ev.node_value(self.elem, self.inst)
    }

    fn column(&self, name: &str) -> Value {
        let Some(c) = self.choice else {
            return Value::String(String::new());
        };
        match name {
            "name" => Value::String(c.value.clone()),
            "label" => Value::String(c.label.clone()),
            col => Value::String(c.extra.get(col).cloned().unwrap_or_default()),
        }
    }

    fn position(&self) -> usize {
        let chain = self.ev.form.elements[self.elem].node_repeats(self.elem);
        if chain.is_empty() {
            return 0;
        }
        self.inst
            .get(chain.len() - 1)
            .map_or(0, |i| *i as usize + 1)
    }

    fn choice_label(&self, question: &str, value: &str) -> Option<String> {
        let e = self.ev.form.element_index(question)?;
        let q = &self.ev.form.form.questions[e];
        let c = self
            .ev
            .form
            .choice_index
            .get(&(e, value.to_string()))
            .and_then(|&i| self.ev.form.form.choices(q).get(i))?;
        Some(
            self.ev
                .language
                .as_deref()
                .and_then(|l| c.translations.get(l))
                .unwrap_or(&c.label)
                .clone(),
        )
    }

    fn now(&self) -> (Timestamp, i32) {
        (self.ev.ctx.now, self.ev.ctx.utc_offset_minutes)
    }
}
