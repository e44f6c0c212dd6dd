//! Multi-instance steps (`for_each`, `instances`): one task per element of a
//! list, in parallel or one after another; the list is checked to be one
//! over the form and the steps before the step, and gives `item` its type.

use cel::Value as CelValue;

use super::expressions::step_scope;
use super::{cel_type, Parser, Spans};
use crate::expression;
use crate::toml_reader::Located;
use crate::value_type::{Field, Requirement, ValueKind};
use crate::workflow::model::{Definition, ForEach, InstanceMode, StepKind};

impl Parser<'_> {
    /// Reads `for_each` and `instances` of a step.
    pub(super) fn for_each(
        &mut self,
        id: &Located<String>,
        for_each: Option<Located<String>>,
        instances: Option<Located<String>>,
        kind: Option<StepKind>,
        outputs: &[Field],
        spans: &mut Spans,
    ) -> Option<ForEach> {
        let mode = match &instances {
            None => InstanceMode::Parallel,
            Some(written) => match InstanceMode::ALL
                .iter()
                .find(|(name, _)| *name == written.value)
            {
                Some((_, mode)) => *mode,
                None => {
                    self.error(
                        written.span.clone(),
                        format!(
                            "unknown instances `{}` (expected parallel or sequential)",
                            written.value
                        ),
                    );
                    InstanceMode::Parallel
                }
            },
        };
        let Some(list) = for_each else {
            if let Some(written) = instances {
                self.error(
                    written.span,
                    "`instances` says how the instances of a `for_each` step run; this step has no `for_each`",
                );
            }
            return None;
        };
        if kind == Some(StepKind::Payment) {
            self.error(
                list.span.clone(),
                "a payment step cannot run `for_each`: one task per item is a task step's",
            );
        }
        for output in outputs.iter().filter(|o| o.kind == ValueKind::List) {
            self.error(
                list.span.clone(),
                format!(
                    "step `{}` runs `for_each`, so its outputs are collected into lists, and output `{}` is a list already: give each instance a single value",
                    id.value, output.name
                ),
            );
        }
        spans.for_each.insert(id.value.clone(), list.clone());
        let collected_outputs = outputs
            .iter()
            .map(|output| Field {
                kind: ValueKind::List,
                items: Some(output.kind),
                required: Requirement::ALWAYS,
                ..output.clone()
            })
            .collect();
        Some(ForEach {
            list: list.value,
            instances: mode,
            collected_outputs,
        })
    }

    /// Each `for_each` resolves in the scope of the step's `when` and gives
    /// a list; its element type is the type of `item` in the step's inputs.
    pub(super) fn check_for_each(&mut self, definition: &Definition, spans: &mut Spans) {
        for step in &definition.steps {
            let Some(located) = spans.for_each.get(&step.id).cloned() else {
                continue;
            };
            let scope = step_scope(definition, &step.id);
            let Some(value) = self.check_expression(&located, &scope) else {
                continue;
            };
            let CelValue::List(sample) = &value else {
                self.error(
                    located.span.clone(),
                    format!(
                        "`for_each` must give a list (one instance per element), this gives {}",
                        cel_type(&value)
                    ),
                );
                continue;
            };
            let plain = expression::compiled(&located.value)
                .and_then(|program| expression::plain_reference(&program, &scope))
                .and_then(|(_, field)| field.items);
            let items = plain
                .or_else(|| sample.first().and_then(kind_of))
                .unwrap_or(ValueKind::Text);
            spans.item_fields.insert(
                step.id.clone(),
                Field {
                    name: expression::ITEM.to_string(),
                    kind: items,
                    required: Requirement::ALWAYS,
                    label: step.title.clone(),
                    options: Vec::new(),
                    items: None,
                    min: None,
                    max: None,
                },
            );
        }
    }
}

/// The type of a sample element of a list an expression gave.
fn kind_of(value: &CelValue) -> Option<ValueKind> {
    Some(match value {
        CelValue::String(_) => ValueKind::Text,
        CelValue::Int(_) | CelValue::UInt(_) => ValueKind::Integer,
        CelValue::Float(_) => ValueKind::Decimal,
        CelValue::Bool(_) => ValueKind::Boolean,
        _ => return None,
    })
}
