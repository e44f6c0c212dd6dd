//! Expressions: every `when` and amount is parsed, its names resolved
//! against the form and earlier steps, and tried on sample values, so that a
//! mistake is reported at the character where it is.

use std::collections::BTreeMap;

use cel::Value as CelValue;

use super::{Parser, Spans};
use crate::expression::{self, Bindings, ExpressionSource, Scope};
use crate::toml_reader::Located;
use crate::value_type::Field;
use crate::workflow::model::Definition;

impl Parser<'_> {
    /// Where an expression's text starts in the file, past the opening quotes.
    fn expression_source<'t>(&self, located: &'t Located<String>) -> ExpressionSource<'t> {
        let raw = &self.text[located.span.start..];
        let mut start = located.span.start;
        if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            start += 3;
            if self.text[start..].starts_with('\n') {
                start += 1;
            } else if self.text[start..].starts_with("\r\n") {
                start += 2;
            }
        } else if raw.starts_with('"') || raw.starts_with('\'') {
            start += 1;
        }
        ExpressionSource {
            text: &located.value,
            start,
        }
    }

    pub(super) fn check_expressions(&mut self, definition: &Definition, spans: &Spans) {
        for step in &definition.steps {
            let scope = step_scope(definition, &step.id);
            if let Some(when) = spans.when.get(&step.id) {
                if let Some(value) = self.check_expression(when, &scope) {
                    match value {
                        CelValue::Bool(false) if expression_is_constant(&when.value) => {
                            self.error(
                                when.span.clone(),
                                format!(
                                    "step `{}` is unreachable: its condition is always false",
                                    step.id
                                ),
                            );
                        }
                        CelValue::Bool(_) => {}
                        other => self.error(
                            when.span.clone(),
                            format!(
                                "a `when` condition must be true or false, this gives {}",
                                cel_type(&other)
                            ),
                        ),
                    }
                }
            }
            let mut conditions: Vec<(&usize, &Located<String>)> = spans
                .limit_conditions
                .iter()
                .filter(|((owner, _), _)| owner == &step.id)
                .map(|((_, index), condition)| (index, condition))
                .collect();
            conditions.sort_by_key(|(index, _)| **index);
            for (_, condition) in conditions {
                if let Some(value) = self.check_expression(condition, &scope) {
                    if !matches!(value, CelValue::Bool(_)) {
                        self.error(
                            condition.span.clone(),
                            format!(
                                "a time-limit `when` must be true or false, this gives {}",
                                cel_type(&value)
                            ),
                        );
                    }
                }
            }
            for (bill_index, bill) in step.bills.iter().enumerate() {
                for item_index in 0..bill.items.len() {
                    let Some(amount) =
                        spans
                            .amounts
                            .get(&(step.id.clone(), bill_index, item_index))
                    else {
                        continue;
                    };
                    if let Some(value) = self.check_expression(amount, &scope) {
                        let negative = match value {
                            CelValue::Int(fen) => fen < 0,
                            CelValue::Float(fen) => fen < 0.0,
                            _ => false,
                        };
                        if negative && expression_is_constant(&amount.value) {
                            self.error(amount.span.clone(), "an amount must not be negative");
                        } else if !matches!(
                            value,
                            CelValue::Int(_) | CelValue::UInt(_) | CelValue::Float(_)
                        ) {
                            self.error(
                                amount.span.clone(),
                                format!(
                                    "an amount must be a number of fen, this gives {}",
                                    cel_type(&value)
                                ),
                            );
                        } else if let Some(Err(used)) = expression::compiled(&amount.value)
                            .map(|program| crate::money::check(program.expression()))
                        {
                            // Amounts are computed exactly, by crate::money.
                            self.error(
                                amount.span.clone(),
                                format!(
                                    "an amount may use only arithmetic, comparisons, conditions (`? :`, `&&`, `||`, `!`), `double()`, `int()` and names, so that it is computed exactly; it uses {used}"
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Parses, resolves names and tries the expression on sample values;
    /// gives the sample result when the expression is sound.
    pub(super) fn check_expression(
        &mut self,
        located: &Located<String>,
        scope: &Scope<'_>,
    ) -> Option<CelValue> {
        let source = self.expression_source(located);
        let program = match expression::compile(&source) {
            Ok(program) => program,
            Err(mut problems) => {
                self.diagnostics.append(&mut problems);
                return None;
            }
        };
        let before = self.diagnostics.len();
        expression::check_names(&program, &source, scope, &mut self.diagnostics);
        if self.diagnostics.len() > before {
            return None;
        }
        expression::check_options(&program, &source, scope, &mut self.diagnostics);
        let mut samples = Bindings::samples(scope.form, &scope.earlier_steps);
        if let Some(item) = &scope.item {
            samples = samples.with_sample_item(item);
        }
        match samples.evaluate(&program) {
            Ok(value) => Some(value),
            Err(error) if expression::is_type_error(&error) => {
                self.error(
                    located.span.clone(),
                    format!(
                        "type error in expression: {}",
                        expression::describe_type_error(&error)
                    ),
                );
                None
            }
            Err(_) => None,
        }
    }
}

/// What an expression of a step (its `when`, limits, amounts, inputs) may
/// name: the form, and the outputs of the steps it waits on, directly or
/// through others.
pub(super) fn step_scope<'d>(definition: &'d Definition, step: &str) -> Scope<'d> {
    let earlier: BTreeMap<&str, &[Field]> = definition
        .ancestors(step)
        .into_iter()
        .filter_map(|id| definition.step(id).map(|s| (id, s.outputs_seen_later())))
        .collect();
    Scope {
        form: &definition.form,
        earlier_steps: earlier,
        all_steps: definition.steps.iter().map(|s| s.id.as_str()).collect(),
        item: None,
    }
}

fn expression_is_constant(text: &str) -> bool {
    !text.contains("form.")
        && !text.contains("steps.")
        && !text.contains(expression::APPLICATION_DATE)
}

pub(super) fn cel_type(value: &CelValue) -> &'static str {
    expression::describe_value(value)
}
