//! The values an expression is evaluated over: the form, the outputs of
//! earlier steps, the application date and, in a multi-instance step's
//! inputs, its `item` and `index`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cel::{Context, Program, Value as CelValue};
use serde_json::Value;

use super::{years_between, APPLICATION_DATE, ENVIRONMENT};
use crate::value_type::{Field, ValueKind};

/// The values an expression sees: the form and the outputs of earlier steps.
/// Every declared name is present; a value not given is `null`, so that
/// `form.x == null` works instead of failing.
pub struct Bindings {
    form: HashMap<String, CelValue>,
    steps: HashMap<String, CelValue>,
    /// `null` until [`Bindings::on`] names it.
    application_date: CelValue,
    /// A multi-instance step's element and its position (from 0), in its
    /// inputs only.
    item: Option<(CelValue, usize)>,
}

pub fn to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(flag) => CelValue::Bool(*flag),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(signed), _, _) => CelValue::Int(signed),
            (None, Some(unsigned), _) => CelValue::UInt(unsigned),
            (_, _, Some(float)) => CelValue::Float(float),
            _ => CelValue::Null,
        },
        Value::String(text) => CelValue::String(Arc::new(text.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let entries: HashMap<String, CelValue> = map
                .iter()
                .map(|(key, value)| (key.clone(), to_cel(value)))
                .collect();
            CelValue::from(entries)
        }
    }
}

fn object_of(fields: &[Field], data: Option<&Value>) -> HashMap<String, CelValue> {
    fields
        .iter()
        .map(|field| {
            let value =
                data.and_then(|data| data.get(&field.name))
                    .map_or(CelValue::Null, |value| match (field.kind, value.as_f64()) {
                        // A decimal written as `90` is still a decimal to expressions.
                        (ValueKind::Decimal, Some(number)) => CelValue::Float(number),
                        _ => to_cel(value),
                    });
            (field.name.clone(), value)
        })
        .collect()
}

impl Bindings {
    pub fn new(form_fields: &[Field], form: &Value) -> Bindings {
        Bindings {
            form: object_of(form_fields, Some(form)),
            steps: HashMap::new(),
            application_date: CelValue::Null,
            item: None,
        }
    }

    /// Names the case's application date (`application_date`).
    pub fn on(mut self, application_date: Option<chrono::NaiveDate>) -> Bindings {
        self.application_date = application_date.map_or(CelValue::Null, |date| {
            CelValue::String(Arc::new(date.format("%Y-%m-%d").to_string()))
        });
        self
    }

    /// Names a multi-instance step's element (`item`) and its position
    /// from 0 (`index`).
    pub fn with_item(mut self, item: &Value, index: usize) -> Bindings {
        self.item = Some((to_cel(item), index));
        self
    }

    /// Names a typical element of the type of `field` as `item`.
    pub fn with_sample_item(self, field: &Field) -> Bindings {
        self.with_item(&sample(field), 0)
    }

    /// Adds a step's outputs; a step that did not run gives `null` for each.
    pub fn add_step(&mut self, step: &str, outputs: &[Field], data: Option<&Value>) {
        self.steps
            .insert(step.to_string(), CelValue::from(object_of(outputs, data)));
    }

    /// Typical values of each type, to try an expression once while validating.
    pub fn samples(form_fields: &[Field], steps: &BTreeMap<&str, &[Field]>) -> Bindings {
        let sample_object = |fields: &[Field]| -> Value {
            Value::Object(
                fields
                    .iter()
                    .map(|field| (field.name.clone(), sample(field)))
                    .collect(),
            )
        };
        let mut bindings = Bindings::new(form_fields, &sample_object(form_fields))
            .on(chrono::NaiveDate::from_ymd_opt(2025, 6, 30));
        for (step, outputs) in steps {
            bindings.add_step(step, outputs, Some(&sample_object(outputs)));
        }
        bindings
    }

    /// A bill amount in whole fen, computed exactly (see [`crate::money`]).
    pub fn amount_in_fen(
        &self,
        program: &Program,
        rounding: crate::workflow::Rounding,
    ) -> Result<i128, String> {
        let names = HashMap::from([
            ("form".to_string(), CelValue::from(self.form.clone())),
            ("steps".to_string(), CelValue::from(self.steps.clone())),
            (APPLICATION_DATE.to_string(), self.application_date.clone()),
        ]);
        crate::money::amount_in_fen(program.expression(), &names, rounding)
    }

    pub fn evaluate(&self, program: &Program) -> Result<CelValue, cel::ExecutionError> {
        let mut context = Context::with_env(ENVIRONMENT.clone());
        context.add_variable_from_value("form", self.form.clone());
        context.add_variable_from_value("steps", self.steps.clone());
        context.add_variable_from_value(APPLICATION_DATE, self.application_date.clone());
        if let Some((item, index)) = &self.item {
            context.add_variable_from_value(super::ITEM, item.clone());
            context.add_variable_from_value(super::INDEX, *index as i64);
        }
        context
            .add_function("years_between", years_between)
            .expect("no standard function is called years_between");
        program.execute(&context)
    }
}

fn sample(field: &Field) -> Value {
    let scalar = |kind: ValueKind| match kind {
        ValueKind::Text => Value::from("text"),
        ValueKind::Integer => Value::from(1),
        ValueKind::Decimal => Value::from(1.5),
        ValueKind::Money => Value::from(10_000_000),
        ValueKind::Date => Value::from("2025-06-30"),
        ValueKind::Boolean => Value::from(true),
        ValueKind::OneOf => Value::from(field.options.first().cloned().unwrap_or_default()),
        ValueKind::CitizenId => Value::from("11010519491231002X"),
        ValueKind::CreditCode => Value::from("91350100M000100Y43"),
        ValueKind::Phone => Value::from("13800138000"),
        ValueKind::List => Value::Array(Vec::new()),
    };
    match field.kind {
        ValueKind::List => Value::Array(vec![
            field.clamp_sample(scalar(field.items.unwrap_or(ValueKind::Text)))
        ]),
        kind => field.clamp_sample(scalar(kind)),
    }
}

/// Typical values of every field, inside their bounds: what outputs not yet
/// given are assumed to be when a bill is tried in advance.
pub fn sample_object(fields: &[Field]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|field| (field.name.clone(), sample(field)))
            .collect(),
    )
}
