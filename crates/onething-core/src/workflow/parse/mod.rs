//! Reads a workflow file and checks it against the registries, collecting
//! every problem before giving up.
//!
//! One [`Parser`] reads the whole file; its methods are spread over the
//! submodules by section of the file (the header, fields, materials, steps
//! with their time limits and bills, choices), followed by the checks that
//! need the whole definition (the step graph, materials, expressions).

mod baseline;
mod checks;
mod choices;
mod dispatch;
mod escalations;
mod expressions;
use expressions::cel_type;
mod fields;
mod graph;
mod header;
mod inputs;
mod instances;
mod materials;
mod payments;
mod steps;
mod time_limits;

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::calendar::{TimeSpan, TimeUnit};
use crate::diagnostic::{self, Diagnostic};
use crate::registry::Registry;
use crate::toml_reader::{parse_document, Located, Table};
use crate::value_type::Requirement;
use crate::workflow::model::Definition;

/// Parses and validates one workflow file.
pub fn parse_workflow(text: &str, registry: &Registry) -> Result<Definition, Vec<Diagnostic>> {
    let document = parse_document(text)?;
    let mut parser = Parser {
        text,
        registry,
        diagnostics: Vec::new(),
    };
    let root = Table::new(document.get_ref(), document.span());
    let definition = parser.workflow(&root);
    root.finish(&mut parser.diagnostics);
    let mut diagnostics = parser.diagnostics;
    diagnostic::sort(&mut diagnostics);
    diagnostics.dedup();
    match definition {
        Some(definition) if diagnostics.is_empty() => Ok(definition),
        _ => Err(diagnostics),
    }
}

/// Spans kept beside the definition while checking it.
#[derive(Default)]
struct Spans {
    step_ids: HashMap<String, Range<usize>>,
    after: HashMap<String, Vec<Located<String>>>,
    returns_to: HashMap<String, Vec<Located<String>>>,
    uses: HashMap<String, Vec<Located<String>>>,
    when: HashMap<String, Located<String>>,
    amounts: HashMap<(String, usize, usize), Located<String>>,
    working_day_limits: Vec<Range<usize>>,
    choice_branches: HashMap<String, Vec<Located<String>>>,
    choice_ids: HashMap<String, Range<usize>>,
    material_steps: HashMap<String, Range<usize>>,
    limit_conditions: HashMap<(String, usize), Located<String>>,
    /// The conditions of conditional `required` keys (form fields and
    /// materials), with what they belong to, checked over the form.
    required_conditions: Vec<(String, Located<String>)>,
    /// Each check's `after`, `when` and `rule`, by check id.
    check_after: HashMap<String, Located<String>>,
    check_when: HashMap<String, Located<String>>,
    check_rule: HashMap<String, Located<String>>,
    /// Each input's `value` and `fallback`, by step id and position.
    inputs: HashMap<(String, usize), inputs::InputSpans>,
    /// Steps that declare their own escalations (perhaps none, with
    /// `escalation = []`) instead of taking the bundle's.
    own_escalations: HashSet<String>,
    /// Each multi-instance step's `for_each`, by step id.
    for_each: HashMap<String, Located<String>>,
    /// The type of `item` in each multi-instance step's inputs, found when
    /// its `for_each` is checked.
    item_fields: HashMap<String, crate::value_type::Field>,
}

struct Parser<'a> {
    text: &'a str,
    registry: &'a Registry,
    diagnostics: Vec<Diagnostic>,
}

fn is_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Parser<'_> {
    pub(super) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(span, message));
    }

    /// Names used inside expressions: lower case, digits and `_` (a `-` would
    /// read as a minus sign).
    pub(super) fn name(&mut self, name: &Located<String>, what: &str) -> bool {
        if is_name(&name.value) {
            return true;
        }
        self.error(
            name.span.clone(),
            format!(
                "{what} `{}` must start with a lower-case letter and use only a-z, 0-9 and `_`",
                name.value
            ),
        );
        false
    }

    /// `required`: `true` (when not written), `false`, or a condition over
    /// the form, which is kept in `conditions` to be checked with the other
    /// expressions; `None` for `conditions` refuses a condition here.
    pub(super) fn requirement(
        &mut self,
        written: Option<Result<bool, Located<String>>>,
        owner: &str,
        conditions: Option<&mut Vec<(String, Located<String>)>>,
    ) -> Requirement {
        match (written, conditions) {
            (None, _) => Requirement::ALWAYS,
            (Some(Ok(flag)), _) => Requirement::Fixed(flag),
            (Some(Err(condition)), Some(conditions)) => {
                let requirement = Requirement::When(condition.value.clone());
                conditions.push((owner.to_string(), condition));
                requirement
            }
            (Some(Err(condition)), None) => {
                self.error(
                    condition.span,
                    "`required` of a step output is `true` or `false`; a condition goes with form fields and materials",
                );
                Requirement::ALWAYS
            }
        }
    }

    pub(super) fn duplicates<'n>(
        &mut self,
        names: impl IntoIterator<Item = &'n Located<String>>,
        what: &str,
    ) {
        let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
        for name in names {
            if seen.contains_key(name.value.as_str()) {
                let first = crate::diagnostic::LineIndex::new(self.text)
                    .position(seen[name.value.as_str()].start);
                self.error(
                    name.span.clone(),
                    format!(
                        "duplicate {what} `{}` (first defined at {first})",
                        name.value
                    ),
                );
            } else {
                seen.insert(&name.value, name.span.clone());
            }
        }
    }

    pub(super) fn time_span(
        &mut self,
        value: Option<Located<String>>,
        spans: &mut Spans,
    ) -> Option<TimeSpan> {
        let value = value?;
        match TimeSpan::parse(&value.value) {
            Some(span) if span.amount == 0 => {
                self.error(value.span, "a time limit must be more than zero");
                None
            }
            Some(span) => {
                if span.unit == TimeUnit::WorkingDays {
                    spans.working_day_limits.push(value.span);
                }
                Some(span)
            }
            None => {
                self.error(
                    value.span,
                    format!(
                        "`{}` is not a time limit (write e.g. `5 working days`, `30 calendar days`, `24 hours`)",
                        value.value
                    ),
                );
                None
            }
        }
    }

    pub(super) fn known_agency(&mut self, agency: &Located<String>, what: &str) {
        if !self.registry.agencies.contains_key(&agency.value) {
            let mut known: Vec<_> = self.registry.agencies.keys().map(String::as_str).collect();
            known.sort_unstable();
            self.error(
                agency.span.clone(),
                format!(
                    "{what} `{}` is not an agency in the registry (known: {})",
                    agency.value,
                    known.join(", ")
                ),
            );
        }
    }
}

/// A rough length in hours, to compare a warning with its limit (a day of
/// either kind counts as 24 hours).
fn limit_hours(span: TimeSpan) -> u64 {
    match span.unit {
        TimeUnit::Hours => u64::from(span.amount),
        TimeUnit::WorkingDays | TimeUnit::CalendarDays => u64::from(span.amount) * 24,
    }
}
