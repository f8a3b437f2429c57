//! Recursive-descent parser from tokens to the expression tree ([`Node`]).
//!
//! Precedence, lowest first: `or`, `and`, `=` `!=`, `<` `<=` `>` `>=`, `+` `-`,
//! `*` `div` `mod`, unary `-`. Binary operators are parsed with an explicit stack (not
//! one recursive call per level), and a run of operators of one level becomes one
//! n-ary node (`a + b - c` is one [`Node::Chain`], `a or b or c` one [`Node::Or`]), so a
//! long sum or a long list of alternatives makes the tree neither deep nor the parse
//! recursive. What nests — parentheses and function arguments — is counted, and the
//! parse fails with `too_deep` past [`MAX_DEPTH`] levels; the evaluator's recursion
//! follows the tree, so it is bounded by the same figure (a few frames per level).
//!
//! Function names are resolved here ([`Func`]), arities checked, literal regular
//! expressions compiled, and the special forms (`jr:choice-name`, `indexed-repeat`,
//! `position(..)`) turned into their own nodes.

use regex::Regex;

use super::functions::{self, ANY, Func};
use super::lexer::{Tok, Token, lex};
use super::{MAX_ARGS, MAX_DEPTH, MAX_NODES, Value};

/// A parse failure at a byte offset (converted to a character offset for
/// [`ExprError`](super::ExprError)).
#[derive(Debug)]
pub(super) struct Fail {
    pub code: &'static str,
    pub message: String,
    pub at: usize,
}

impl Fail {
    pub(super) fn new(code: &'static str, message: impl Into<String>, at: usize) -> Self {
        Fail {
            code,
            message: message.into(),
            at,
        }
    }

    pub(super) fn syntax(message: impl Into<String>, at: usize) -> Self {
        Fail::new("syntax", message, at)
    }

    pub(super) fn unsupported(message: impl Into<String>, at: usize) -> Self {
        Fail::new("unsupported", message, at)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// A left-associative binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BinOp {
    Cmp(CmpOp),
    Arith(ArithOp),
}

/// A node of the expression tree.
#[derive(Debug, Clone)]
pub(super) enum Node {
    /// A number or string literal (a negated number literal is folded in).
    Lit(Value),
    /// `${name}`.
    Ref(Box<str>),
    /// `.` or `current()`.
    Current,
    /// Unary minus.
    Neg(Box<Node>),
    /// `first op1 x1 op2 x2 …`, folded from the left; all operators of one level.
    Chain(Box<Node>, Box<[(BinOp, Node)]>),
    /// Short-circuit `and` of two or more operands.
    And(Box<[Node]>),
    /// Short-circuit `or` of two or more operands.
    Or(Box<[Node]>),
    /// A function call (arity already checked).
    Call(Func, Box<[Node]>),
    /// `regex(value, 'literal')` with the pattern compiled at parse time.
    Regex(Box<Node>, Regex),
    /// `jr:choice-name(value, '${question}')`.
    ChoiceName(Box<Node>, Box<str>),
    /// `indexed-repeat(${name}, ${repeat}, index)`.
    Indexed(Box<str>, Box<str>, Box<Node>),
    /// `position(..)`.
    Position,
    /// A bare name in a choice filter: the column of the choice being filtered.
    Column(Box<str>),
}

/// The parse of one expression and what it uses.
#[derive(Debug)]
pub(super) struct Parsed {
    pub root: Node,
    pub refs: Vec<String>,
    pub funcs: Vec<&'static str>,
    pub volatile: bool,
    pub uses_current: bool,
}

/// Parse `src` (whose length the caller has already capped). With `columns`, a bare
/// name (`county`) reads a column of the choice being filtered (choice filters).
pub(super) fn parse(src: &str, columns: bool) -> Result<Parsed, Fail> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Err(Fail::syntax("empty expression", 0));
    }
    let mut p = Parser {
        toks,
        i: 0,
        end: src.len(),
        depth: 0,
        nodes: 0,
        refs: Vec::new(),
        funcs: Vec::new(),
        volatile: false,
        uses_current: false,
        columns,
    };
    let root = p.expr()?;
    if p.peek().is_some() {
        return Err(p.unexpected());
    }
    let mut refs = p.refs;
    refs.sort();
    refs.dedup();
    let mut funcs = p.funcs;
    funcs.sort_unstable();
    funcs.dedup();
    Ok(Parsed {
        root,
        refs,
        funcs,
        volatile: p.volatile,
        uses_current: p.uses_current,
    })
}

struct Parser<'s> {
    toks: Vec<Token<'s>>,
    i: usize,
    end: usize,
    depth: usize,
    nodes: usize,
    refs: Vec<String>,
    funcs: Vec<&'static str>,
    volatile: bool,
    uses_current: bool,
    /// Bare names are choice columns (choice filters only).
    columns: bool,
}

/// Binary precedence levels, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Or,
    And,
    Equality,
    Relational,
    Additive,
    Multiplicative,
}

/// A run of operators of one level waiting for its last operand.
struct Run {
    level: Level,
    at: usize,
    operands: Vec<Node>,
    /// One per operand after the first (empty for `and` / `or`).
    ops: Vec<BinOp>,
}

/// The level and operator of a token in operator position (`None` for `and`/`or`,
/// which are junctions rather than chains).
fn operator(t: Tok<'_>) -> Option<(Level, Option<BinOp>)> {
    use {ArithOp as A, CmpOp as C};
    let (level, op) = match t {
        Tok::Name("or") => return Some((Level::Or, None)),
        Tok::Name("and") => return Some((Level::And, None)),
        Tok::Eq => (Level::Equality, BinOp::Cmp(C::Eq)),
        Tok::Ne => (Level::Equality, BinOp::Cmp(C::Ne)),
        Tok::Lt => (Level::Relational, BinOp::Cmp(C::Lt)),
        Tok::Le => (Level::Relational, BinOp::Cmp(C::Le)),
        Tok::Gt => (Level::Relational, BinOp::Cmp(C::Gt)),
        Tok::Ge => (Level::Relational, BinOp::Cmp(C::Ge)),
        Tok::Plus => (Level::Additive, BinOp::Arith(A::Add)),
        Tok::Minus => (Level::Additive, BinOp::Arith(A::Sub)),
        Tok::Star => (Level::Multiplicative, BinOp::Arith(A::Mul)),
        Tok::Name("div") => (Level::Multiplicative, BinOp::Arith(A::Div)),
        Tok::Name("mod") => (Level::Multiplicative, BinOp::Arith(A::Mod)),
        _ => return None,
    };
    Some((level, Some(op)))
}

fn describe(t: Tok<'_>) -> String {
    match t {
        Tok::Number(_) => "a number".into(),
        Tok::Str(_) => "a string".into(),
        Tok::Ref(n) => format!("${{{n}}}"),
        Tok::Name(n) => format!("'{n}'"),
        Tok::Dot => "'.'".into(),
        Tok::DotDot => "'..'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
        Tok::Eq => "'='".into(),
        Tok::Ne => "'!='".into(),
        Tok::Lt => "'<'".into(),
        Tok::Le => "'<='".into(),
        Tok::Gt => "'>'".into(),
        Tok::Ge => "'>='".into(),
        Tok::Plus => "'+'".into(),
        Tok::Minus => "'-'".into(),
        Tok::Star => "'*'".into(),
        Tok::Slash => "'/'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Pipe => "'|'".into(),
        Tok::At => "'@'".into(),
    }
}

impl<'s> Parser<'s> {
    fn peek(&self) -> Option<Tok<'s>> {
        self.toks.get(self.i).map(|t| t.tok)
    }

    fn peek2(&self) -> Option<Tok<'s>> {
        self.toks.get(self.i + 1).map(|t| t.tok)
    }

    /// Byte offset of the next token (the end of the source after the last one).
    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.at)
    }

    fn bump(&mut self) -> Option<Tok<'s>> {
        let t = self.peek();
        self.i += 1;
        t
    }

    /// Count one more node of the tree.
    fn node(&mut self, at: usize) -> Result<(), Fail> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(too_many_nodes(at));
        }
        Ok(())
    }

    fn enter(&mut self, at: usize) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(too_deep(at));
        }
        Ok(())
    }

    /// The error for a token found where an operator, `)`, `,` or the end belongs.
    #[cold]
    #[inline(never)]
    fn unexpected(&self) -> Fail {
        let at = self.pos();
        let Some(t) = self.peek() else {
            return Fail::syntax("unexpected end of the expression", at);
        };
        match t {
            Tok::Slash => Fail::unsupported(
                "'/' is not supported: divide with div, and reference a question as ${name} \
                 rather than by a path",
                at,
            ),
            Tok::LBracket => Fail::unsupported(
                "predicates [...] are not supported: reference a question as ${name}",
                at,
            ),
            Tok::Pipe => Fail::unsupported("node-set union '|' is not supported", at),
            Tok::Name(n)
                if ["and", "or", "div", "mod"]
                    .iter()
                    .any(|w| n.eq_ignore_ascii_case(w)) =>
            {
                Fail::syntax(
                    format!("'{n}': operators are lower case (and, or, div, mod)"),
                    at,
                )
            }
            Tok::RParen => Fail::syntax("')' without a matching '('", at),
            other => Fail::syntax(
                format!("expected an operator, found {}", describe(other)),
                at,
            ),
        }
    }

    /// A full expression (one nesting level): operands and binary operators, parsed
    /// with an explicit stack of pending operator runs rather than one recursive call
    /// per precedence level, so each nesting level costs a few stack frames.
    fn expr(&mut self) -> Result<Node, Fail> {
        let at = self.pos();
        self.enter(at)?;
        let mut pending: Vec<Run> = Vec::new();
        let mut cur = self.unary()?;
        while let Some((level, op)) = self.peek().and_then(operator) {
            let op_at = self.pos();
            self.i += 1;
            // Runs that bind tighter than this operator are complete.
            while let Some(top) = pending.pop_if(|r| r.level > level) {
                cur = self.close(top, cur)?;
            }
            match pending.last_mut() {
                Some(top) if top.level == level => {
                    top.operands.push(cur);
                    top.ops.extend(op);
                }
                _ => pending.push(Run {
                    level,
                    at: op_at,
                    operands: vec![cur],
                    ops: op.into_iter().collect(),
                }),
            }
            cur = self.unary()?;
        }
        while let Some(top) = pending.pop() {
            cur = self.close(top, cur)?;
        }
        self.depth -= 1;
        Ok(cur)
    }

    /// Finish a run of one level with its last operand.
    fn close(&mut self, run: Run, last: Node) -> Result<Node, Fail> {
        self.node(run.at)?;
        let mut operands = run.operands;
        operands.push(last);
        Ok(match run.level {
            Level::Or => Node::Or(operands.into_boxed_slice()),
            Level::And => Node::And(operands.into_boxed_slice()),
            _ => {
                let mut it = operands.into_iter();
                let Some(first) = it.next() else {
                    return Err(Fail::new("internal", "empty operator run", run.at));
                };
                let rest: Vec<(BinOp, Node)> = run.ops.into_iter().zip(it).collect();
                Node::Chain(Box::new(first), rest.into_boxed_slice())
            }
        })
    }

    /// Unary minus (any number of signs, folded: `--x` is `number(x)`), then a value.
    fn unary(&mut self) -> Result<Node, Fail> {
        let at = self.pos();
        let mut minus = 0usize;
        while self.peek() == Some(Tok::Minus) {
            self.i += 1;
            minus += 1;
        }
        let operand = self.primary()?;
        if minus == 0 {
            return Ok(operand);
        }
        let odd = minus % 2 == 1;
        Ok(match operand {
            Node::Lit(Value::Number(n)) => Node::Lit(Value::Number(if odd { -n } else { n })),
            other => {
                self.node(at)?;
                let once = Node::Neg(Box::new(other));
                if odd {
                    once
                } else {
                    self.node(at)?;
                    Node::Neg(Box::new(once))
                }
            }
        })
    }

    fn primary(&mut self) -> Result<Node, Fail> {
        let at = self.pos();
        let tok = self.bump();
        self.node(at)?;
        match tok {
            Some(Tok::Number(n)) => Ok(Node::Lit(Value::Number(n))),
            Some(Tok::Str(s)) => Ok(Node::Lit(Value::String(s.to_owned()))),
            Some(Tok::Ref(name)) => {
                self.refs.push(name.to_owned());
                Ok(Node::Ref(name.into()))
            }
            Some(Tok::Dot) => {
                self.uses_current = true;
                Ok(Node::Current)
            }
            Some(Tok::LParen) => self.group(at),
            Some(Tok::Name(name)) if self.peek() == Some(Tok::LParen) => self.call(name, at),
            Some(Tok::Name(name)) if self.columns => Ok(Node::Column(name.into())),
            other => Err(not_a_value(other, at)),
        }
    }

    /// `(` has been read.
    fn group(&mut self, at: usize) -> Result<Node, Fail> {
        let e = self.expr()?;
        match self.peek() {
            Some(Tok::RParen) => {
                self.i += 1;
                Ok(e)
            }
            None => Err(Fail::syntax("'(' without a closing ')'", at)),
            Some(_) => Err(self.unexpected()),
        }
    }

    /// `name(` has been read up to the name; the next token is `(`.
    fn call(&mut self, name: &'s str, at: usize) -> Result<Node, Fail> {
        self.i += 1; // the '('
        let spec = resolve(name, at)?;
        self.funcs.push(spec.name);
        if spec.func == Func::Position {
            return self.position_call();
        }
        let (args, arg_at) = self.arguments(name, at)?;
        let n = args.len();
        if n < usize::from(spec.min) || (spec.max != ANY && n > usize::from(spec.max)) {
            return Err(arity_error(name, spec, n, at));
        }
        self.build(spec.func, name, at, args, &arg_at)
    }

    /// The arguments of a call up to and including its `)`, with their offsets.
    fn arguments(&mut self, name: &str, at: usize) -> Result<(Vec<Node>, Vec<usize>), Fail> {
        let mut args = Vec::new();
        let mut arg_at = Vec::new();
        if self.peek() == Some(Tok::RParen) {
            self.i += 1;
            return Ok((args, arg_at));
        }
        loop {
            arg_at.push(self.pos());
            args.push(self.expr()?);
            if args.len() > MAX_ARGS {
                return Err(too_many_args(name, at));
            }
            match self.peek() {
                Some(Tok::Comma) => self.i += 1,
                Some(Tok::RParen) => {
                    self.i += 1;
                    return Ok((args, arg_at));
                }
                None => return Err(unclosed_call(name, at)),
                Some(_) => return Err(self.unexpected()),
            }
        }
    }

    /// `position(` has been read: `)` or `..)` must follow.
    fn position_call(&mut self) -> Result<Node, Fail> {
        match (self.peek(), self.peek2()) {
            (Some(Tok::RParen), _) => {
                self.i += 1;
                Ok(Node::Position)
            }
            (Some(Tok::DotDot), Some(Tok::RParen)) => {
                self.i += 2;
                Ok(Node::Position)
            }
            _ => Err(Fail::unsupported(
                "position() takes no argument or '..': write position(..)",
                self.pos(),
            )),
        }
    }

    fn build(
        &mut self,
        func: Func,
        name: &str,
        at: usize,
        args: Vec<Node>,
        arg_at: &[usize],
    ) -> Result<Node, Fail> {
        let second_at = arg_at.get(1).copied().unwrap_or(at);
        match func {
            Func::Now | Func::Today | Func::Random | Func::Uuid => self.volatile = true,
            Func::Once | Func::Current => self.uses_current = true,
            Func::StringLength | Func::NormalizeSpace | Func::String | Func::Number
                if args.is_empty() =>
            {
                self.uses_current = true;
            }
            _ => {}
        }
        match func {
            Func::Current => Ok(Node::Current),
            Func::Regex => match <[Node; 2]>::try_from(args) {
                Ok([value, Node::Lit(Value::String(pattern))]) => {
                    let re = functions::compile_regex(&pattern).map_err(|e| {
                        Fail::new("invalid_regex", functions::regex_message(&e), second_at)
                    })?;
                    Ok(Node::Regex(Box::new(value), re))
                }
                Ok(args) => Ok(Node::Call(Func::Regex, Box::new(args))),
                Err(_) => Err(internal(name, at)),
            },
            Func::ChoiceName => match <[Node; 2]>::try_from(args) {
                Ok([value, Node::Lit(Value::String(q))]) => {
                    let q = q.trim();
                    match q.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                        Some(question) if super::lexer::is_valid_name(question) => {
                            self.refs.push(question.to_owned());
                            Ok(Node::ChoiceName(Box::new(value), question.into()))
                        }
                        _ => Err(choice_name_arg(second_at)),
                    }
                }
                Ok(_) => Err(choice_name_arg(second_at)),
                Err(_) => Err(internal(name, at)),
            },
            Func::IndexedRepeat => match <[Node; 3]>::try_from(args) {
                Ok([Node::Ref(q), Node::Ref(repeat), index]) => {
                    Ok(Node::Indexed(q, repeat, Box::new(index)))
                }
                Ok(_) => Err(Fail::unsupported(
                    "indexed-repeat() takes a question and its repeat as references: \
                     indexed-repeat(${question}, ${repeat}, index)",
                    at,
                )),
                Err(_) => Err(internal(name, at)),
            },
            f => Ok(Node::Call(f, args.into_boxed_slice())),
        }
    }
}

/// The spec of function `name`, or why there is none.
fn resolve(name: &str, at: usize) -> Result<&'static functions::Spec, Fail> {
    if name == "instance" {
        return Err(Fail::unsupported(
            "instance() lookups are not supported: use jr:choice-name(value, \
             '${question}') for a choice label",
            at,
        ));
    }
    functions::lookup(name)
        .ok_or_else(|| Fail::new("unknown_function", functions::unknown_message(name), at))
}

/// The error for a token where a value belongs (kept out of the recursive parse path).
#[cold]
#[inline(never)]
fn not_a_value(tok: Option<Tok<'_>>, at: usize) -> Fail {
    match tok {
        None => Fail::syntax("expected a value, found the end of the expression", at),
        Some(Tok::DotDot) => Fail::unsupported("'..' is only supported as position(..)", at),
        Some(Tok::Name(name)) => Fail::unsupported(
            format!(
                "'{name}' is a relative path, which is not supported: reference a question \
                 as ${{{name}}}"
            ),
            at,
        ),
        Some(Tok::Slash) => Fail::unsupported(
            "absolute paths like /data/name are not supported: reference a question as \
             ${name}",
            at,
        ),
        Some(Tok::Star) => Fail::unsupported(
            "'*' (any element) is not supported: reference questions as ${name}",
            at,
        ),
        Some(Tok::At) => Fail::unsupported("attributes (@name) are not supported", at),
        Some(Tok::LBracket) => Fail::unsupported("predicates [...] are not supported", at),
        Some(other) => Fail::syntax(format!("expected a value, found {}", describe(other)), at),
    }
}

#[cold]
#[inline(never)]
fn arity_error(name: &str, spec: &functions::Spec, found: usize, at: usize) -> Fail {
    Fail::new("arity", arity_message(name, spec.min, spec.max, found), at)
}

#[cold]
#[inline(never)]
fn too_many_args(name: &str, at: usize) -> Fail {
    Fail::new(
        "too_complex",
        format!("{name}() has more than {MAX_ARGS} arguments"),
        at,
    )
}

#[cold]
#[inline(never)]
fn unclosed_call(name: &str, at: usize) -> Fail {
    Fail::syntax(format!("{name}( without a closing ')'"), at)
}

#[cold]
#[inline(never)]
fn too_many_nodes(at: usize) -> Fail {
    Fail::new(
        "too_complex",
        format!("expression has more than {MAX_NODES} parts"),
        at,
    )
}

#[cold]
#[inline(never)]
fn too_deep(at: usize) -> Fail {
    Fail::new(
        "too_deep",
        format!("expression nests more than {MAX_DEPTH} levels"),
        at,
    )
}

fn choice_name_arg(at: usize) -> Fail {
    Fail::unsupported(
        "jr:choice-name() needs the question as a quoted reference: \
         jr:choice-name(${question}, '${question}')",
        at,
    )
}

fn internal(name: &str, at: usize) -> Fail {
    Fail::new("internal", format!("{name}(): argument count mismatch"), at)
}

fn arity_message(name: &str, min: u8, max: u8, found: usize) -> String {
    let plural = |n: u8| if n == 1 { "argument" } else { "arguments" };
    let expected = if max == ANY {
        format!("at least {min} {}", plural(min))
    } else if min == max {
        format!("{min} {}", plural(min))
    } else {
        format!("{min} to {max} arguments")
    };
    format!("{name}() takes {expected}, found {found}")
}
