//! Expressions in workflow files are CEL (the Common Expression Language):
//! conditions (`when`, conditional `required`, checks) and bill amounts. This module checks that an expression
//! parses and names only what exists at its place in the workflow, and
//! evaluates it over a case's data.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::{Env, Program, Value as CelValue};

use crate::diagnostic::Diagnostic;
use crate::value_type::{Field, ValueKind};

mod bindings;
pub use bindings::*;

static ENVIRONMENT: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// Functions an expression may call: CEL's standard ones that make sense on
/// form data. Macros (`has`, `all`, `exists`, `exists_one`, `map`, `filter`)
/// are expanded by the parser and never appear as calls.
const FUNCTIONS: &[&str] = &[
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "contains",
    "startsWith",
    "endsWith",
    "years_between",
];

/// `years_between(from, to)`: the whole years from one date to another
/// (`YYYY-MM-DD`), as an age is counted: a child born on 2025-03-01 is 0 on
/// 2026-02-28 and 1 on 2026-03-01. Negative when `to` is before `from`.
fn years_between(from: Arc<String>, to: Arc<String>) -> Result<i64, cel::ExecutionError> {
    use chrono::Datelike;
    let date = |text: &str| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            cel::ExecutionError::function_error(
                "years_between",
                format!("`{text}` is not a date like 2025-01-31"),
            )
        })
    };
    let (from, to) = (date(&from)?, date(&to)?);
    let whole = |earlier: chrono::NaiveDate, later: chrono::NaiveDate| {
        let years = i64::from(later.year() - earlier.year());
        if (later.month(), later.day()) < (earlier.month(), earlier.day()) {
            years - 1
        } else {
            years
        }
    };
    Ok(if to >= from {
        whole(from, to)
    } else {
        -whole(to, from)
    })
}

/// The name of the date a case was applied for on (its opening, in the
/// calendar's local time), as `YYYY-MM-DD`.
pub const APPLICATION_DATE: &str = "application_date";

/// The element of a multi-instance step's list, in its inputs.
pub const ITEM: &str = "item";
/// The position of `item` in the list, from 0.
pub const INDEX: &str = "index";

/// What an expression may refer to at its place in a workflow.
pub struct Scope<'d> {
    pub form: &'d [Field],
    /// Steps that certainly finish before the expression is evaluated, with their outputs.
    pub earlier_steps: BTreeMap<&'d str, &'d [Field]>,
    /// Every step id of the workflow, to tell "unknown" from "not earlier".
    pub all_steps: Vec<&'d str>,
    /// The element of the list of a multi-instance step (`item`, and its
    /// `index`), typed as this field: only in that step's inputs.
    pub item: Option<Field>,
}

/// Where an expression sits in the file: its text and the span of the TOML string.
pub struct ExpressionSource<'s> {
    pub text: &'s str,
    /// Byte offset in the file of the expression's first character.
    pub start: usize,
}

impl ExpressionSource<'_> {
    /// Maps a character offset in the expression to a span in the file.
    fn span(&self, char_start: usize, char_end: usize) -> Range<usize> {
        let byte = |chars: usize| {
            self.text
                .char_indices()
                .nth(chars)
                .map_or(self.text.len(), |(at, _)| at)
        };
        self.start + byte(char_start)..self.start + byte(char_end.max(char_start))
    }
}

/// Compiles an expression; parse errors become diagnostics.
/// An expression of a validated definition, compiled once per thread: a case
/// evaluates the same few conditions and amounts on every command. `None`
/// when it does not compile (validation has said so already).
pub fn compiled(text: &str) -> Option<std::rc::Rc<Program>> {
    thread_local! {
        static PROGRAMS: std::cell::RefCell<HashMap<String, Option<std::rc::Rc<Program>>>> =
            std::cell::RefCell::new(HashMap::new());
    }
    // Definitions hold a bounded set of expressions; a limit keeps a
    // process that reloads many versions from growing without end.
    const LIMIT: usize = 10_000;
    PROGRAMS.with(|programs| {
        if let Some(program) = programs.borrow().get(text) {
            return program.clone();
        }
        let program = compile(&ExpressionSource { text, start: 0 })
            .ok()
            .map(std::rc::Rc::new);
        let mut programs = programs.borrow_mut();
        if programs.len() >= LIMIT {
            programs.clear();
        }
        programs.insert(text.to_string(), program.clone());
        program
    })
}

pub fn compile(source: &ExpressionSource<'_>) -> Result<Program, Vec<Diagnostic>> {
    ENVIRONMENT.compile(source.text).map_err(|errors| {
        errors
            .errors
            .iter()
            .map(|error| {
                let (line, column) = error.pos;
                // The parser counts lines from 1 and columns from 0.
                let char_offset: usize = source
                    .text
                    .split_inclusive('\n')
                    .take((line.max(1) - 1) as usize)
                    .map(|l| l.chars().count())
                    .sum::<usize>()
                    + column.max(0) as usize;
                Diagnostic::new(
                    source.span(char_offset, char_offset + 1),
                    format!("expression does not parse: {}", error.msg),
                )
            })
            .collect()
    })
}

/// Checks every name the expression uses against the scope.
pub fn check_names(
    program: &Program,
    source: &ExpressionSource<'_>,
    scope: &Scope<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut bound = Vec::new();
    let mut references = Vec::new();
    collect(program.expression(), &mut bound, &mut references);
    let span_of = |id: u64| match program.source_info().offset_for(id) {
        Some((start, stop)) => source.span(start as usize, stop as usize),
        None => source.span(0, source.text.chars().count()),
    };
    for reference in references {
        let span = span_of(reference.id);
        match reference.kind {
            ReferenceKind::Function(name) => {
                let operator =
                    name.starts_with('_') || name.starts_with('@') || name.starts_with('!');
                if !operator && !FUNCTIONS.contains(&name.as_str()) {
                    diagnostics.push(Diagnostic::new(
                        span,
                        format!(
                            "unknown function `{name}` (available: {})",
                            FUNCTIONS.join(", ")
                        ),
                    ));
                }
            }
            ReferenceKind::Name(segments) => {
                if let Some(message) = check_name(&segments, scope) {
                    diagnostics.push(Diagnostic::new(span, message));
                }
            }
        }
    }
}

fn check_name(segments: &[String], scope: &Scope<'_>) -> Option<String> {
    let names = |fields: &[Field]| {
        fields
            .iter()
            .map(|field| field.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match segments.first().map(String::as_str) {
        Some("form") => {
            let Some(field) = segments.get(1) else {
                return Some("`form` must be followed by a field name: form.<field>".into());
            };
            if scope.form.iter().any(|known| &known.name == field) {
                None
            } else {
                Some(format!(
                    "unknown field `{field}` (the form has: {})",
                    names(scope.form)
                ))
            }
        }
        Some("steps") => {
            let (Some(step), Some(output)) = (segments.get(1), segments.get(2)) else {
                return Some(
                    "`steps` must be followed by a step and an output: steps.<step>.<output>"
                        .into(),
                );
            };
            if !scope.all_steps.contains(&step.as_str()) {
                return Some(format!("unknown step `{step}`"));
            }
            let Some(outputs) = scope.earlier_steps.get(step.as_str()) else {
                return Some(format!(
                    "step `{step}` does not always finish before this point, so its outputs cannot be used here (list it in `after`, directly or through another step)"
                ));
            };
            if outputs.iter().any(|known| &known.name == output) {
                None
            } else if outputs.is_empty() {
                Some(format!(
                    "unknown output `{output}`: step `{step}` has no outputs"
                ))
            } else {
                Some(format!(
                    "unknown output `{output}` of step `{step}` (it has: {})",
                    names(outputs)
                ))
            }
        }
        Some(APPLICATION_DATE) if segments.len() == 1 => None,
        Some(ITEM | INDEX) if segments.len() == 1 && scope.item.is_some() => None,
        Some(name @ (ITEM | INDEX)) if segments.len() == 1 => Some(format!(
            "`{name}` is known only in the `[[step.input]]` values of a step with `for_each`"
        )),
        Some(other) => Some(format!(
            "unknown name `{other}` (expressions can use form.<field>, steps.<step>.<output> and application_date)"
        )),
        None => None,
    }
}

/// The field a name such as `form.kind` or `steps.intake.kind` refers to.
fn field_of<'s>(segments: &[String], scope: &Scope<'s>) -> Option<&'s Field> {
    match segments {
        [root, field] if root == "form" => scope.form.iter().find(|f| &f.name == field),
        [root, step, output] if root == "steps" => scope
            .earlier_steps
            .get(step.as_str())
            .and_then(|outputs| outputs.iter().find(|f| &f.name == output)),
        _ => None,
    }
}

fn string_literal(expr: &IdedExpr) -> Option<&str> {
    match &expr.expr {
        Expr::Literal(cel::common::ast::LiteralValue::String(text)) => Some(text.inner()),
        _ => None,
    }
}

/// Checks that text compared with a `one_of` field is one of its options:
/// `form.kind == 'complaint'`, `'x' != form.kind`, `form.kind in ['a', 'b']`.
/// A misspelt option would otherwise make a condition silently false.
pub fn check_options(
    program: &Program,
    source: &ExpressionSource<'_>,
    scope: &Scope<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let span_of = |id: u64| match program.source_info().offset_for(id) {
        Some((start, stop)) => source.span(start as usize, stop as usize),
        None => source.span(0, source.text.chars().count()),
    };
    let check = |name: &IdedExpr, literal: &IdedExpr, diagnostics: &mut Vec<Diagnostic>| {
        let (Some(segments), Some(text)) = (qualified_name(&name.expr), string_literal(literal))
        else {
            return;
        };
        let Some(field) = field_of(&segments, scope) else {
            return;
        };
        if field.kind == ValueKind::OneOf && !field.options.iter().any(|option| option == text) {
            diagnostics.push(Diagnostic::new(
                span_of(literal.id),
                format!(
                    "'{text}' is not an option of `{}` (options: {})",
                    segments.join("."),
                    field.options.join(", ")
                ),
            ));
        }
    };
    let mut pending = vec![program.expression()];
    while let Some(expr) = pending.pop() {
        match &expr.expr {
            Expr::Call(call) => {
                if let [left, right] = call.args.as_slice() {
                    match call.func_name.as_str() {
                        "_==_" | "_!=_" => {
                            check(left, right, diagnostics);
                            check(right, left, diagnostics);
                        }
                        "@in" => {
                            if let Expr::List(list) = &right.expr {
                                for element in &list.elements {
                                    check(left, element, diagnostics);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                pending.extend(call.target.as_deref());
                pending.extend(call.args.iter());
            }
            Expr::Comprehension(comprehension) => pending.extend([
                &comprehension.iter_range,
                &comprehension.accu_init,
                &comprehension.loop_cond,
                &comprehension.loop_step,
                &comprehension.result,
            ]),
            Expr::List(list) => pending.extend(list.elements.iter()),
            Expr::Select(select) => pending.push(&select.operand),
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(entry) = &entry.expr {
                        pending.push(&entry.key);
                        pending.push(&entry.value);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The steps whose outputs an expression reads (`steps.<step>.…`), each once,
/// in the order they first appear.
pub fn steps_read(program: &Program) -> Vec<String> {
    let mut bound = Vec::new();
    let mut references = Vec::new();
    collect(program.expression(), &mut bound, &mut references);
    let mut steps: Vec<String> = Vec::new();
    for reference in references {
        if let ReferenceKind::Name(segments) = reference.kind {
            if let [root, step, ..] = segments.as_slice() {
                if root == "steps" && !steps.contains(step) {
                    steps.push(step.clone());
                }
            }
        }
    }
    steps
}

/// The field an expression names when it is nothing but a name
/// (`form.mother_id`, `steps.birth_certificate.number`).
pub fn plain_reference<'s>(program: &Program, scope: &Scope<'s>) -> Option<(String, &'s Field)> {
    let segments = qualified_name(&program.expression().expr)?;
    field_of(&segments, scope).map(|field| (segments.join("."), field))
}

enum ReferenceKind {
    Name(Vec<String>),
    Function(String),
}

struct Reference {
    id: u64,
    kind: ReferenceKind,
}

/// The chain `a.b.c` as segments, if `expr` is one.
fn qualified_name(expr: &Expr) -> Option<Vec<String>> {
    let mut segments = Vec::new();
    let mut current = expr;
    loop {
        match current {
            Expr::Ident(name) => {
                segments.push(name.clone());
                segments.reverse();
                return Some(segments);
            }
            Expr::Select(select) => {
                segments.push(select.field.clone());
                current = &select.operand.expr;
            }
            _ => return None,
        }
    }
}

fn collect(expr: &IdedExpr, bound: &mut Vec<String>, references: &mut Vec<Reference>) {
    match &expr.expr {
        Expr::Ident(_) | Expr::Select(_) => {
            if let Some(segments) = qualified_name(&expr.expr) {
                if !bound.contains(&segments[0]) {
                    references.push(Reference {
                        id: expr.id,
                        kind: ReferenceKind::Name(segments),
                    });
                }
            } else if let Expr::Select(select) = &expr.expr {
                collect(&select.operand, bound, references);
            }
        }
        Expr::Call(call) => {
            references.push(Reference {
                id: expr.id,
                kind: ReferenceKind::Function(call.func_name.clone()),
            });
            if let Some(target) = &call.target {
                collect(target, bound, references);
            }
            for argument in &call.args {
                collect(argument, bound, references);
            }
        }
        Expr::Comprehension(comprehension) => {
            collect(&comprehension.iter_range, bound, references);
            collect(&comprehension.accu_init, bound, references);
            let depth = bound.len();
            bound.push(comprehension.iter_var.clone());
            bound.extend(comprehension.iter_var2.clone());
            bound.push(comprehension.accu_var.clone());
            collect(&comprehension.loop_cond, bound, references);
            collect(&comprehension.loop_step, bound, references);
            collect(&comprehension.result, bound, references);
            bound.truncate(depth);
        }
        Expr::List(list) => {
            for element in &list.elements {
                collect(element, bound, references);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(entry) = &entry.expr {
                    collect(&entry.key, bound, references);
                    collect(&entry.value, bound, references);
                }
            }
        }
        Expr::Struct(structure) => {
            for entry in &structure.entries {
                if let EntryExpr::StructField(field) = &entry.expr {
                    collect(&field.value, bound, references);
                }
            }
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Whether an expression's value can stand for a value of this kind: text
/// for the text kinds, a whole number for integers and money (and decimals),
/// and so on; `null` never does.
pub fn fits_kind(value: &CelValue, kind: ValueKind) -> bool {
    match value {
        CelValue::String(_) => kind.is_text(),
        CelValue::Int(_) | CelValue::UInt(_) => {
            matches!(
                kind,
                ValueKind::Integer | ValueKind::Money | ValueKind::Decimal
            )
        }
        CelValue::Float(_) => kind == ValueKind::Decimal,
        CelValue::Bool(_) => kind == ValueKind::Boolean,
        CelValue::List(_) => kind == ValueKind::List,
        _ => false,
    }
}

/// What kind of value an expression gave, in words ("a decimal number").
pub fn describe_value(value: &CelValue) -> &'static str {
    match value {
        CelValue::List(_) => "a list",
        CelValue::Map(_) => "a map",
        CelValue::Int(_) | CelValue::UInt(_) => "an integer",
        CelValue::Float(_) => "a decimal number",
        CelValue::String(_) => "text",
        CelValue::Bool(_) => "true or false",
        CelValue::Null => "null",
        _ => "another kind of value",
    }
}

/// Whether an evaluation error means the expression is wrong for any data
/// (a type mismatch), rather than wrong for these particular values.
pub fn is_type_error(error: &cel::ExecutionError) -> bool {
    use cel::ExecutionError as E;
    matches!(
        error,
        E::NoSuchOverload(_)
            | E::UnsupportedBinaryOperator(..)
            | E::ValuesNotComparable(..)
            | E::UnsupportedTargetType { .. }
            | E::NotSupportedAsMethod { .. }
            | E::UndeclaredReference(_)
    )
}

/// Says what a type error means without the sample values it was found with.
pub fn describe_type_error(error: &cel::ExecutionError) -> String {
    use cel::ExecutionError as E;
    let kind = |value: &CelValue| match value {
        CelValue::Int(_) | CelValue::UInt(_) => "an integer",
        CelValue::Float(_) => "a decimal",
        CelValue::String(_) => "text",
        CelValue::Bool(_) => "true or false",
        CelValue::Null => "null",
        CelValue::List(_) => "a list",
        CelValue::Map(_) => "a map",
        _ => "a value",
    };
    match error {
        E::UnsupportedBinaryOperator(operator, left, right) => {
            let hint = if matches!(
                (left, right),
                (CelValue::Int(_), CelValue::Float(_)) | (CelValue::Float(_), CelValue::Int(_))
            ) {
                " (convert one side with double(...) or int(...))"
            } else {
                ""
            };
            format!(
                "operator `{operator}` cannot combine {} and {}{hint}",
                kind(left),
                kind(right)
            )
        }
        E::ValuesNotComparable(left, right) => {
            format!("{} cannot be compared with {}", kind(left), kind(right))
        }
        other => other.to_string(),
    }
}
