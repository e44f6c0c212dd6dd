//! The types of form fields and step outputs, and the check of a value against them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::identifiers::{
    check_citizen_id_on, check_credit_code, check_phone, normalise_citizen_id,
};
use crate::localized::Localized;

/// A field's type. `OneOf` carries its options in [`Field::options`], `List` its
/// element type in [`Field::items`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    Text,
    Integer,
    /// A number with a fraction, such as a floor area in square metres.
    Decimal,
    /// An amount of money in integer fen (分); never a floating-point number.
    Money,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    Boolean,
    OneOf,
    List,
    /// A citizen ID number, checked by GB 11643.
    CitizenId,
    /// A unified social credit code, checked by GB 32100.
    CreditCode,
    Phone,
}

impl ValueKind {
    pub const ALL: [(&'static str, ValueKind); 11] = [
        ("text", ValueKind::Text),
        ("integer", ValueKind::Integer),
        ("decimal", ValueKind::Decimal),
        ("money", ValueKind::Money),
        ("date", ValueKind::Date),
        ("boolean", ValueKind::Boolean),
        ("one_of", ValueKind::OneOf),
        ("list", ValueKind::List),
        ("citizen_id", ValueKind::CitizenId),
        ("credit_code", ValueKind::CreditCode),
        ("phone", ValueKind::Phone),
    ];

    pub fn parse(name: &str) -> Option<ValueKind> {
        Self::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, kind)| *kind)
    }

    /// Whether expressions see values of this kind as text.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            ValueKind::Text
                | ValueKind::OneOf
                | ValueKind::Date
                | ValueKind::CitizenId
                | ValueKind::CreditCode
                | ValueKind::Phone
        )
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, kind)| *kind == self)
            .map(|(name, _)| *name)
            .expect("every kind is listed")
    }
}

/// A typed field of the application form or of a step's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ValueKind,
    pub required: Requirement,
    pub label: Localized,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// The element type of a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<ValueKind>,
    /// The least value of a number (`integer`, `decimal`, `money`, or a list
    /// of them); the kind's default when not declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<serde_json::Number>,
    /// The greatest value of a number; the kind's default when not declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<serde_json::Number>,
}

/// Whether a value must be given: always, never, or when a condition over
/// the form holds (the safety rules only for dangerous goods).
///
/// Written as `true` and `false` exactly as the boolean it once was, so
/// that every stored definition keeps its content hash; a condition is
/// written as its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Requirement {
    Fixed(bool),
    /// A CEL condition over the form (`form.scope == 'dangerous_goods'`).
    When(String),
}

impl Requirement {
    pub const ALWAYS: Requirement = Requirement::Fixed(true);
    pub const NEVER: Requirement = Requirement::Fixed(false);

    pub fn is_always(&self) -> bool {
        *self == Requirement::ALWAYS
    }

    /// The condition, when the requirement depends on the form.
    pub fn condition(&self) -> Option<&str> {
        match self {
            Requirement::When(condition) => Some(condition),
            Requirement::Fixed(_) => None,
        }
    }

    /// Whether a value is required for this form. A condition that cannot
    /// be evaluated (the field it reads is itself wrong, and reported) does
    /// not add a problem of its own.
    pub fn holds_for(
        &self,
        form_fields: &[Field],
        form: &Value,
        application_date: Option<chrono::NaiveDate>,
    ) -> bool {
        match self {
            Requirement::Fixed(required) => *required,
            Requirement::When(condition) => crate::expression::compiled(condition)
                .map(|program| {
                    crate::expression::Bindings::new(form_fields, form)
                        .on(application_date)
                        .evaluate(&program)
                        == Ok(cel::Value::Bool(true))
                })
                .unwrap_or(false),
        }
    }

    /// The words after "is required" that say when: empty when always.
    pub fn describe(&self) -> String {
        match self.condition() {
            Some(condition) => format!(" (when `{condition}`)"),
            None => String::new(),
        }
    }
}

/// The bounds of an `integer` not declared otherwise: a count.
pub const DEFAULT_INTEGER_BOUNDS: (i64, i64) = (0, 1_000_000);
/// The bounds of `money` not declared otherwise, in fen: up to ¥10 billion.
pub const DEFAULT_MONEY_BOUNDS: (i64, i64) = (0, 1_000_000_000_000);
/// The bounds of a `decimal` not declared otherwise.
pub const DEFAULT_DECIMAL_BOUNDS: (f64, f64) = (0.0, 1_000_000_000.0);

/// The bounds one value must keep to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bounds {
    Whole { min: i64, max: i64 },
    Decimal { min: f64, max: f64 },
}

impl Field {
    /// The bounds of the values of this field (of its elements, for a list),
    /// declared or by default; `None` for a kind that is not a number.
    pub fn bounds(&self) -> Option<Bounds> {
        let kind = match self.kind {
            ValueKind::List => self.items?,
            kind => kind,
        };
        let whole = |(min, max): (i64, i64)| Bounds::Whole {
            min: self
                .min
                .as_ref()
                .and_then(serde_json::Number::as_i64)
                .unwrap_or(min),
            max: self
                .max
                .as_ref()
                .and_then(serde_json::Number::as_i64)
                .unwrap_or(max),
        };
        match kind {
            ValueKind::Integer => Some(whole(DEFAULT_INTEGER_BOUNDS)),
            ValueKind::Money => Some(whole(DEFAULT_MONEY_BOUNDS)),
            ValueKind::Decimal => Some(Bounds::Decimal {
                min: self
                    .min
                    .as_ref()
                    .and_then(serde_json::Number::as_f64)
                    .unwrap_or(DEFAULT_DECIMAL_BOUNDS.0),
                max: self
                    .max
                    .as_ref()
                    .and_then(serde_json::Number::as_f64)
                    .unwrap_or(DEFAULT_DECIMAL_BOUNDS.1),
            }),
            _ => None,
        }
    }

    /// A value inside this field's bounds, as near `value` as they allow.
    pub fn clamp_sample(&self, value: Value) -> Value {
        match (self.bounds(), &value) {
            (Some(Bounds::Whole { min, max }), Value::Number(number)) => number
                .as_i64()
                .map_or(value.clone(), |n| Value::from(n.clamp(min, max.max(min)))),
            (Some(Bounds::Decimal { min, max }), Value::Number(number)) => number
                .as_f64()
                .map_or(value.clone(), |n| Value::from(n.clamp(min, max.max(min)))),
            _ => value,
        }
    }
}

fn check_bounds_of(kind: ValueKind, bounds: Option<Bounds>, value: &Value) -> Result<(), String> {
    let unit = if kind == ValueKind::Money { " fen" } else { "" };
    match bounds {
        Some(Bounds::Whole { min, max }) => match value.as_i64() {
            Some(n) if n < min && kind == ValueKind::Money && min == 0 => {
                Err("must not be negative".into())
            }
            Some(n) if n < min => Err(format!("must be at least {min}{unit}, found {n}")),
            Some(n) if n > max => Err(format!("must be at most {max}{unit}, found {n}")),
            _ => Ok(()),
        },
        Some(Bounds::Decimal { min, max }) => match value.as_f64() {
            Some(n) if n < min => Err(format!("must be at least {min}, found {n}")),
            Some(n) if n > max => Err(format!("must be at most {max}, found {n}")),
            _ => Ok(()),
        },
        None => Ok(()),
    }
}

/// Why a value does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueProblem {
    /// The field's name, with `[index]` for a list element.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Why a value is not the whole number wanted: a number is named as given
/// (2.5 is a number, but not a whole one), anything else by its kind.
fn not_whole(value: &Value, wanted: &str) -> Result<(), String> {
    let Value::Number(number) = value else {
        return Err(format!("must be {wanted}, found {}", describe(value)));
    };
    let why = match number.as_f64() {
        Some(float) if float.fract() != 0.0 => "which is not a whole number",
        Some(float) if float.abs() < i64::MAX as f64 => "write it without a decimal point",
        _ => "which is beyond the whole numbers accepted (-9223372036854775808 to 9223372036854775807)",
    };
    let separator = if why.starts_with("which") { ", " } else { ": " };
    Err(format!("must be {wanted}, found {number}{separator}{why}"))
}

fn check_scalar(
    kind: ValueKind,
    field: &Field,
    value: &Value,
    today: Option<chrono::NaiveDate>,
) -> Result<(), String> {
    let options = field.options.as_slice();
    let expected = |what: &str| Err(format!("must be {what}, found {}", describe(value)));
    match kind {
        ValueKind::Text => match value {
            Value::String(text) if text.trim().is_empty() => Err("must not be empty".into()),
            Value::String(_) => Ok(()),
            _ => expected("text"),
        },
        ValueKind::Integer => match value.as_i64() {
            Some(_) => check_bounds_of(kind, field.bounds(), value),
            None => not_whole(value, "a whole number"),
        },
        ValueKind::Decimal => match value.as_f64() {
            Some(number) if number.is_finite() => check_bounds_of(kind, field.bounds(), value),
            _ => expected("a number"),
        },
        ValueKind::Money => match value.as_i64() {
            Some(_) => check_bounds_of(kind, field.bounds(), value),
            None => not_whole(value, "a whole number of fen (1 yuan = 100 fen)"),
        },
        ValueKind::Date => match value.as_str() {
            Some(text) if chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() => Ok(()),
            Some(text) => Err(format!("`{text}` is not a date like 2025-01-31")),
            None => expected("a date like 2025-01-31"),
        },
        ValueKind::Boolean => match value {
            Value::Bool(_) => Ok(()),
            _ => expected("true or false"),
        },
        ValueKind::OneOf => match value.as_str() {
            Some(text) if options.iter().any(|option| option == text) => Ok(()),
            Some(text) => Err(format!("`{text}` is not one of: {}", options.join(", "))),
            None => expected(&format!("one of: {}", options.join(", "))),
        },
        ValueKind::CitizenId => match value.as_str() {
            Some(text) => check_citizen_id_on(text, today)
                .map_err(|error| format!("not a valid citizen ID number: {error}")),
            None => expected("a citizen ID number"),
        },
        ValueKind::CreditCode => match value.as_str() {
            Some(text) => check_credit_code(text)
                .map_err(|error| format!("not a valid unified social credit code: {error}")),
            None => expected("a unified social credit code"),
        },
        ValueKind::Phone => match value.as_str() {
            Some(text) if check_phone(text) => Ok(()),
            Some(text) => Err(format!(
                "`{text}` is not a phone number (11-digit mobile, or area code-number)"
            )),
            None => expected("a phone number"),
        },
        ValueKind::List => expected("a single value"),
    }
}

impl Field {
    /// Checks one value, pushing every problem found (every bad list element too).
    pub fn check(&self, value: Option<&Value>, problems: &mut Vec<ValueProblem>) {
        self.check_on(value, problems, None)
    }

    /// As [`Field::check`], for an application made on `today` (no birth
    /// date in a citizen ID number may be after it).
    pub fn check_on(
        &self,
        value: Option<&Value>,
        problems: &mut Vec<ValueProblem>,
        today: Option<chrono::NaiveDate>,
    ) {
        self.check_required_on(value, self.required.is_always(), problems, today)
    }

    /// As [`Field::check_on`], with the requirement already decided for the
    /// data at hand (a conditional one is decided over the whole form).
    pub fn check_required_on(
        &self,
        value: Option<&Value>,
        required: bool,
        problems: &mut Vec<ValueProblem>,
        today: Option<chrono::NaiveDate>,
    ) {
        let value = match value {
            None | Some(Value::Null) => {
                if required {
                    problems.push(ValueProblem {
                        field: self.name.clone(),
                        message: format!("is required{}", self.required.describe()),
                    });
                }
                return;
            }
            Some(value) => value,
        };
        if self.kind != ValueKind::List {
            if let Err(message) = check_scalar(self.kind, self, value, today) {
                problems.push(ValueProblem {
                    field: self.name.clone(),
                    message,
                });
            }
            return;
        }
        let Value::Array(elements) = value else {
            problems.push(ValueProblem {
                field: self.name.clone(),
                message: format!("must be a list, found {}", describe(value)),
            });
            return;
        };
        if required && elements.is_empty() {
            problems.push(ValueProblem {
                field: self.name.clone(),
                message: format!("must list at least one item{}", self.required.describe()),
            });
        }
        let item_kind = self.items.unwrap_or(ValueKind::Text);
        for (index, element) in elements.iter().enumerate() {
            if let Err(message) = check_scalar(item_kind, self, element, today) {
                problems.push(ValueProblem {
                    field: format!("{}[{index}]", self.name),
                    message,
                });
            }
        }
    }
}

/// The deepest a value given by a client may nest (lists and objects inside
/// one another). Typed fields never need more than two levels; the bound
/// keeps free-form values (supplement items) far below the JSON readers'
/// own recursion limits, so a stored event always reads back.
pub const MAX_VALUE_DEPTH: usize = 32;

/// The most bytes one value given by a client may take, written as JSON.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// How deep a value nests: 0 for a scalar, 1 for a flat list or object.
/// Walks with its own stack, so any depth is measured without recursion.
pub fn value_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 0usize)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    deepest
}

/// Checks that a value given for `field` is within [`MAX_VALUE_DEPTH`] and
/// [`MAX_VALUE_BYTES`].
pub fn check_bounds(field: &str, value: &Value) -> Option<ValueProblem> {
    let depth = value_depth(value);
    if depth > MAX_VALUE_DEPTH {
        return Some(ValueProblem {
            field: field.to_string(),
            message: format!("nests {depth} levels deep; at most {MAX_VALUE_DEPTH} are accepted"),
        });
    }
    let bytes = serde_json::to_vec(value).map_or(usize::MAX, |json| json.len());
    if bytes > MAX_VALUE_BYTES {
        return Some(ValueProblem {
            field: field.to_string(),
            message: format!("takes {bytes} bytes as JSON; at most {MAX_VALUE_BYTES} are accepted"),
        });
    }
    None
}

/// Writes, in place, every citizen ID number among `fields` (lists of them
/// too) as it is stored: a check character `x` in upper case.
pub fn normalise_identities(fields: &[Field], data: &mut Value) {
    let Value::Object(map) = data else { return };
    for field in fields {
        let Some(value) = map.get_mut(&field.name) else {
            continue;
        };
        let texts: Vec<&mut Value> = match (field.kind, value) {
            (ValueKind::CitizenId, value) => vec![value],
            (ValueKind::List, Value::Array(items)) if field.items == Some(ValueKind::CitizenId) => {
                items.iter_mut().collect()
            }
            _ => Vec::new(),
        };
        for text in texts {
            if let Value::String(id) = text {
                *id = normalise_citizen_id(id);
            }
        }
    }
}

/// Checks a JSON object against a list of fields: every problem at once,
/// unknown names included.
pub fn check_object(fields: &[Field], data: &Value) -> Vec<ValueProblem> {
    check_object_on(fields, data, None)
}

/// As [`check_object`], for an application or outputs given on `today`.
pub fn check_object_on(
    fields: &[Field],
    data: &Value,
    today: Option<chrono::NaiveDate>,
) -> Vec<ValueProblem> {
    let mut problems = Vec::new();
    let Value::Object(map) = data else {
        problems.push(ValueProblem {
            field: "(data)".into(),
            message: format!(
                "must be an object of named values, found {}",
                describe(data)
            ),
        });
        return problems;
    };
    for field in fields {
        let value = map.get(&field.name);
        match value.and_then(|value| check_bounds(&field.name, value)) {
            Some(problem) => problems.push(problem),
            None => {
                // A condition reads the object it is part of as the form: the
                // validator allows one only on the form's own fields.
                let required = field.required.holds_for(fields, data, today);
                field.check_required_on(value, required, &mut problems, today)
            }
        }
    }
    for name in map.keys() {
        if !fields.iter().any(|field| &field.name == name) {
            let known: Vec<&str> = fields.iter().map(|field| field.name.as_str()).collect();
            problems.push(ValueProblem {
                field: name.clone(),
                message: format!("is not a field here (known: {})", known.join(", ")),
            });
        }
    }
    problems
}
