//! Typed inputs from a bundle's declared fields (the application form, a
//! step's outputs) and the submitted text read back as typed values. The
//! engine checks the values; a value that does not read as its type is
//! passed on as text so that the engine names it with every other problem.

use maud::{html, Markup};
use onething_core::value_type::{Field, ValueKind};
use serde_json::{Map, Number, Value};

use super::Fields;
use crate::messages::Lang;

/// One input per field, named `PREFIX.NAME`, with its problems beside it.
pub fn inputs(
    lang: Lang,
    prefix: &str,
    fields: &[Field],
    sent: &Fields,
    problems: &[(String, String)],
) -> Markup {
    html! {
        @for field in fields {
            @let name = format!("{prefix}.{}", field.name);
            @let id = format!("field-{prefix}-{}", field.name);
            @let mine: Vec<&String> = problems.iter().filter(|(f, _)| f == &name || f.starts_with(&format!("{name}["))).map(|(_, m)| m).collect();
            @let value = sent.get(&name).unwrap_or_default();
            div class={ "field" @if !mine.is_empty() { " has-problem" } } {
                label for=(id) {
                    (lang.pick(&field.label))
                    @if field.required.is_always() { span class="required" aria-hidden="true" { " *" } }
                    @if let Some(condition) = field.required.condition() {
                        span class="hint required-when" { " " (lang.f("form.required_when", &[("condition", condition)])) }
                    }
                    span class="hint" { " " (lang.t(&format!("kind.{}", kind_name(field.kind)))) }
                }
                @match field.kind {
                    ValueKind::OneOf => {
                        select id=(id) name=(name) aria-invalid=[(!mine.is_empty()).then_some("true")] {
                            option value="" { "—" }
                            @for option in &field.options {
                                option value=(option) selected[value == option] { (option_label(lang, option)) }
                            }
                        }
                    }
                    ValueKind::Boolean => {
                        select id=(id) name=(name) aria-invalid=[(!mine.is_empty()).then_some("true")] {
                            option value="" { "—" }
                            option value="true" selected[value == "true"] { (lang.t("value.yes")) }
                            option value="false" selected[value == "false"] { (lang.t("value.no")) }
                        }
                    }
                    ValueKind::List => {
                        textarea id=(id) name=(name) rows="3" aria-invalid=[(!mine.is_empty()).then_some("true")] { (value) }
                        span class="hint" { (lang.t("form.list_hint")) }
                    }
                    kind => {
                        input id=(id) name=(name) value=(value)
                            type=(input_type(kind))
                            step=[step_of(kind)]
                            inputmode=[inputmode_of(kind)]
                            required[field.required.is_always()]
                            aria-invalid=[(!mine.is_empty()).then_some("true")];
                    }
                }
                @for message in &mine { p class="problem" role="alert" { (message) } }
            }
        }
    }
}

/// A stored value in words: options and yes/no from the catalogue, lists joined.
pub fn value_text(lang: Lang, value: &Value) -> String {
    match value {
        Value::String(text) => option_label(lang, text),
        Value::Bool(true) => lang.t("value.yes").into(),
        Value::Bool(false) => lang.t("value.no").into(),
        Value::Array(items) => items
            .iter()
            .map(|item| value_text(lang, item))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// A value by its declared type: money in yuan, the rest as [`value_text`].
pub fn typed_value_text(lang: Lang, kind: ValueKind, value: &Value) -> String {
    match (kind, value.as_i64()) {
        (ValueKind::Money, Some(fen)) => super::yuan(fen),
        _ => value_text(lang, value),
    }
}

/// Words for an option value: the catalogue's when it has them.
pub fn option_label(lang: Lang, option: &str) -> String {
    let key = format!("option.{option}");
    let words = lang.t(&key);
    if words == key {
        option.to_string()
    } else {
        words.to_string()
    }
}

fn kind_name(kind: ValueKind) -> &'static str {
    ValueKind::ALL
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("text", |(name, _)| name)
}

fn input_type(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Integer | ValueKind::Decimal | ValueKind::Money => "number",
        ValueKind::Date => "date",
        ValueKind::Phone => "tel",
        _ => "text",
    }
}

fn step_of(kind: ValueKind) -> Option<&'static str> {
    match kind {
        ValueKind::Integer => Some("1"),
        ValueKind::Decimal => Some("any"),
        ValueKind::Money => Some("0.01"),
        _ => None,
    }
}

fn inputmode_of(kind: ValueKind) -> Option<&'static str> {
    match kind {
        ValueKind::CitizenId | ValueKind::CreditCode => Some("text"),
        _ => None,
    }
}

/// The values of `PREFIX.NAME` inputs, typed by the fields; blanks left out.
pub fn read(prefix: &str, fields: &[Field], sent: &Fields) -> Value {
    let mut object = Map::new();
    for field in fields {
        let Some(text) = sent.text(&format!("{prefix}.{}", field.name)) else {
            continue;
        };
        let value = match field.kind {
            ValueKind::List => Value::Array(
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(|line| typed(field.items.unwrap_or(ValueKind::Text), line))
                    .collect(),
            ),
            kind => typed(kind, &text),
        };
        object.insert(field.name.clone(), value);
    }
    Value::Object(object)
}

fn typed(kind: ValueKind, text: &str) -> Value {
    match kind {
        ValueKind::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.into())),
        ValueKind::Decimal => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.into())),
        ValueKind::Money => yuan_to_fen(text)
            .map(Value::from)
            .unwrap_or_else(|| Value::String(text.into())),
        ValueKind::Boolean => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.into()),
        },
        _ => Value::String(text.into()),
    }
}

/// `1234.5` yuan as 123450 fen, exactly (no floating point); `None` for
/// anything else, such as three decimals.
pub fn yuan_to_fen(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches('¥');
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = format!("{fraction:0<2}");
    let fen = whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents.parse::<i64>().ok()?)?;
    Some(if negative { -fen } else { fen })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_read_as_exact_fen() {
        assert_eq!(yuan_to_fen("1234.5"), Some(123_450));
        assert_eq!(yuan_to_fen("0.07"), Some(7));
        assert_eq!(yuan_to_fen("400"), Some(40_000));
        assert_eq!(yuan_to_fen("1.005"), None);
        assert_eq!(yuan_to_fen("abc"), None);
    }

    #[test]
    fn a_field_required_on_a_condition_is_not_required_in_html_and_says_when() {
        let field = |name: &str, required| Field {
            name: name.into(),
            kind: ValueKind::Text,
            required,
            label: onething_core::localized::Localized {
                zh: name.into(),
                en: name.into(),
            },
            options: vec![],
            items: None,
            min: None,
            max: None,
        };
        let condition = "form.scope == 'dangerous_goods'";
        let fields = vec![
            field("always", onething_core::value_type::Requirement::ALWAYS),
            field(
                "sometimes",
                onething_core::value_type::Requirement::When(condition.into()),
            ),
        ];
        let html = inputs(Lang::En, "form", &fields, &Fields::parse(""), &[]).into_string();
        let input_of = |name: &str| {
            let start = html
                .find(&format!("<input id=\"field-form-{name}\""))
                .unwrap();
            html[start..start + html[start..].find('>').unwrap()].to_string()
        };
        assert!(input_of("always").contains("required"), "{html}");
        assert!(!input_of("sometimes").contains("required"), "{html}");
        assert!(
            html.contains("required when form.scope == 'dangerous_goods'"),
            "{html}"
        );
    }

    #[test]
    fn submitted_text_is_typed_by_the_field_and_unreadable_text_is_kept() {
        let field = |name: &str, kind| Field {
            name: name.into(),
            kind,
            required: onething_core::value_type::Requirement::ALWAYS,
            label: onething_core::localized::Localized {
                zh: name.into(),
                en: name.into(),
            },
            options: vec![],
            items: Some(ValueKind::Text),
            min: None,
            max: None,
        };
        let fields = vec![
            field("n", ValueKind::Integer),
            field("m", ValueKind::Money),
            field("b", ValueKind::Boolean),
            field("l", ValueKind::List),
            field("x", ValueKind::Integer),
            field("blank", ValueKind::Text),
        ];
        let sent = Fields::parse("f.n=3&f.m=12.3&f.b=true&f.l=a%0D%0Ab%0D%0A&f.x=2.5&f.blank=");
        assert_eq!(
            read("f", &fields, &sent),
            serde_json::json!({"n": 3, "m": 1230, "b": true, "l": ["a", "b"], "x": "2.5"})
        );
    }
}
