//! A step's inputs (`[[step.input]]`), evaluated as it starts over the form
//! and the outputs of the steps before it: each from its `value`, or from
//! its `fallback` when a step the value reads was skipped.

use cel::Value as CelValue;
use serde_json::Value;

use super::Decision;
use crate::case::error::CaseError;
use crate::case::event::InputValue;
use crate::case::state::StepState;
use crate::expression;
use crate::value_type::ValueKind;
use crate::workflow::{Step, StepInput};

impl Decision<'_> {
    /// The step's inputs for this case, or the refusal of the command that
    /// would start it when one cannot be evaluated or has the wrong type.
    pub(super) fn step_inputs(&self, step: &Step) -> Result<Vec<InputValue>, CaseError> {
        self.instance_inputs(step, None)
    }

    /// The inputs of a step, or of one of its instances with its item and
    /// index bound (`item`, `index`).
    pub(super) fn instance_inputs(
        &self,
        step: &Step,
        item: Option<(&Value, usize)>,
    ) -> Result<Vec<InputValue>, CaseError> {
        if step.inputs.is_empty() {
            return Ok(Vec::new());
        }
        let mut bindings = self.bindings(step);
        if let Some((item, index)) = item {
            bindings = bindings.with_item(item, index);
        }
        let refuse = |input: &StepInput, reason: String| CaseError::Input {
            step: step.id.clone(),
            input: input.name.clone(),
            reason,
        };
        step.inputs
            .iter()
            .map(|input| {
                let program = expression::compiled(&input.value)
                    .ok_or_else(|| refuse(input, format!("`{}` does not parse", input.value)))?;
                let (text, program, fallback) = match &input.fallback {
                    Some(fallback) if self.reads_a_skipped_step(&program) => {
                        let compiled = expression::compiled(fallback)
                            .ok_or_else(|| refuse(input, format!("`{fallback}` does not parse")))?;
                        (fallback, compiled, true)
                    }
                    _ => (&input.value, program, false),
                };
                let value = bindings.evaluate(&program).map_err(|error| {
                    refuse(input, format!("`{text}` could not be evaluated: {error}"))
                })?;
                let value = typed(input, &value).ok_or_else(|| {
                    refuse(
                        input,
                        format!(
                            "`{text}` gave {}, not a value of type `{}`",
                            expression::describe_value(&value),
                            input.kind.name()
                        ),
                    )
                })?;
                Ok(InputValue {
                    name: input.name.clone(),
                    label: input.label.clone(),
                    kind: input.kind,
                    items: input.items,
                    value,
                    fallback,
                })
            })
            .collect()
    }

    /// Whether a step the expression reads did not run in this case.
    fn reads_a_skipped_step(&self, program: &cel::Program) -> bool {
        let file = self.file();
        expression::steps_read(program).iter().any(|read| {
            file.step(read)
                .is_some_and(|record| record.state != StepState::Completed)
        })
    }
}

/// The value as JSON when it fits the input's type (`null` always does: the
/// data it reads was not given).
fn typed(input: &StepInput, value: &CelValue) -> Option<Value> {
    let fits = *value == CelValue::Null || expression::fits_kind(value, input.kind);
    if !fits {
        return None;
    }
    let json = to_json(value)?;
    Some(match (input.kind, json) {
        // A decimal is a decimal, also when the data it reads is whole.
        (ValueKind::Decimal, Value::Number(number)) => number
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        (_, json) => json,
    })
}

pub(super) fn to_json(value: &CelValue) -> Option<Value> {
    Some(match value {
        CelValue::Null => Value::Null,
        CelValue::Bool(flag) => Value::Bool(*flag),
        CelValue::Int(number) => Value::from(*number),
        CelValue::UInt(number) => Value::from(*number),
        CelValue::Float(number) => Value::Number(serde_json::Number::from_f64(*number)?),
        CelValue::String(text) => Value::String(text.to_string()),
        CelValue::List(items) => Value::Array(items.iter().map(to_json).collect::<Option<_>>()?),
        _ => return None,
    })
}
