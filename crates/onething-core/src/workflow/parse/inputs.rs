//! Inputs (`[[step.input]]`): the data a step receives, each a typed
//! expression over the form and the outputs of the steps before it, with a
//! fallback where a step it reads may be skipped.

use super::expressions::step_scope;
use super::{cel_type, Parser, Spans};
use crate::expression::{self, Scope};
use crate::toml_reader::{Located, Table};
use crate::value_type::ValueKind;
use crate::workflow::model::{Definition, StepInput};

/// Where each input's expressions are in the file, by step and position.
pub(super) struct InputSpans {
    pub(super) value: Located<String>,
    pub(super) fallback: Option<Located<String>>,
}

impl Parser<'_> {
    pub(super) fn inputs(
        &mut self,
        step: &str,
        tables: &[Table<'_, '_>],
        spans: &mut Spans,
    ) -> Vec<StepInput> {
        let mut names = Vec::new();
        let mut inputs = Vec::new();
        for table in tables {
            let d = &mut Vec::new();
            let name = table.required_string("name", d);
            let label = table.localized("label", true, d);
            let kind = table.required_string("type", d);
            let items = table.string("items", d);
            let value = table.required_string("value", d);
            let fallback = table.string("fallback", d);
            table.finish(d);
            self.diagnostics.append(d);
            let kind = kind.and_then(|kind| self.value_kind(&kind));
            let items = match (kind, items) {
                (Some(ValueKind::List), None) => {
                    self.error(
                        table.span(),
                        "a `list` input needs `items`, the type of its elements",
                    );
                    None
                }
                (Some(ValueKind::List), Some(items)) => {
                    let parsed = ValueKind::parse(&items.value)
                        .filter(|kind| !matches!(kind, ValueKind::List));
                    if parsed.is_none() {
                        self.error(
                            items.span.clone(),
                            format!("unknown list item type `{}`", items.value),
                        );
                    }
                    parsed
                }
                (_, Some(items)) => {
                    self.error(items.span, "`items` only goes with the type `list`");
                    None
                }
                (_, None) => None,
            };
            let Some(name) = name else { continue };
            if !self.name(&name, "input") {
                continue;
            }
            names.push(name.clone());
            let (Some(label), Some(kind), Some(value)) = (label, kind, value) else {
                continue;
            };
            if kind == ValueKind::List && items.is_none() {
                continue;
            }
            spans.inputs.insert(
                (step.to_string(), inputs.len()),
                InputSpans {
                    value: value.clone(),
                    fallback: fallback.clone(),
                },
            );
            inputs.push(StepInput {
                name: name.value,
                label,
                kind,
                items,
                value: value.value,
                fallback: fallback.map(|fallback| fallback.value),
            });
        }
        self.duplicates(&names, "input");
        inputs
    }

    /// Each input's `value` and `fallback` resolve in the scope of the
    /// step's `when` (the form and the steps before it on every path) and
    /// give its type; a `value` reading a step that may be skipped while
    /// this one runs needs a `fallback`, and a `fallback` is only written
    /// where one may be used.
    pub(super) fn check_inputs(&mut self, definition: &Definition, spans: &Spans) {
        for step in &definition.steps {
            if step.inputs.is_empty() {
                continue;
            }
            let mut scope = step_scope(definition, &step.id);
            scope.item = spans.item_fields.get(&step.id).cloned();
            for (index, input) in step.inputs.iter().enumerate() {
                let Some(located) = spans.inputs.get(&(step.id.clone(), index)) else {
                    continue;
                };
                let value_sound = self.input_expression(input, &located.value, &scope, "value");
                if let Some(fallback) = &located.fallback {
                    self.input_expression(input, fallback, &scope, "fallback");
                }
                if !value_sound {
                    continue;
                }
                let Some(program) = expression::compiled(&input.value) else {
                    continue;
                };
                let skippable: Vec<(String, &'static str)> = expression::steps_read(&program)
                    .into_iter()
                    .filter_map(|read| {
                        definition
                            .may_run_without(&step.id, &read)
                            .map(|cause| (read, cause.describe()))
                    })
                    .collect();
                match (skippable.first(), &located.fallback) {
                    (Some((read, cause)), None) => self.error(
                        located.value.span.clone(),
                        format!(
                            "input `{}` reads step `{read}`, which may be skipped ({cause}): give a `fallback` for the cases it does not run",
                            input.name
                        ),
                    ),
                    (None, Some(fallback)) => self.error(
                        fallback.span.clone(),
                        format!(
                            "the `fallback` of input `{}` is never used: every step its `value` reads runs whenever this step does",
                            input.name
                        ),
                    ),
                    _ => {}
                }
            }
        }
    }

    /// Checks one expression of an input and that it gives the input's type;
    /// whether it is sound.
    fn input_expression(
        &mut self,
        input: &StepInput,
        located: &Located<String>,
        scope: &Scope<'_>,
        key: &str,
    ) -> bool {
        let Some(value) = self.check_expression(located, scope) else {
            return false;
        };
        let declared = input.kind.name();
        if let Some((name, field)) = expression::compiled(&located.value)
            .and_then(|program| expression::plain_reference(&program, scope))
        {
            let fits = field.kind == input.kind
                || (input.kind == ValueKind::Text && field.kind.is_text())
                || (input.kind == ValueKind::Decimal
                    && matches!(field.kind, ValueKind::Integer | ValueKind::Money));
            let items_fit = input.kind != ValueKind::List || field.items == input.items;
            if !fits || !items_fit {
                self.error(
                    located.span.clone(),
                    format!(
                        "input `{}` is of type `{}`, but `{name}` is of type `{}`",
                        input.name,
                        type_name(input.kind, input.items),
                        type_name(field.kind, field.items)
                    ),
                );
                return false;
            }
            return true;
        }
        let fits = expression::fits_kind(&value, input.kind);
        if !fits {
            self.error(
                located.span.clone(),
                format!(
                    "the `{key}` of input `{}` must give a value of type `{declared}`, this gives {}",
                    input.name,
                    cel_type(&value)
                ),
            );
        }
        fits
    }
}

fn type_name(kind: ValueKind, items: Option<ValueKind>) -> String {
    match items {
        Some(items) if kind == ValueKind::List => format!("list of {}", items.name()),
        _ => kind.name().to_string(),
    }
}
