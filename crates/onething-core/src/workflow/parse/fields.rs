//! Fields (`[[field]]` of the form, `[[step.output]]` of a step): a name, a
//! label, a type with its options, list item type and bounds.

use super::Parser;
use crate::toml_reader::{Located, Table};
use crate::value_type::{Field, ValueKind};

impl Parser<'_> {
    /// A `type` (of a field, an output or an input): one of the value kinds.
    pub(super) fn value_kind(&mut self, kind: &Located<String>) -> Option<ValueKind> {
        let parsed = ValueKind::parse(&kind.value);
        if parsed.is_none() {
            let known: Vec<_> = ValueKind::ALL.iter().map(|(name, _)| *name).collect();
            self.error(
                kind.span.clone(),
                format!(
                    "unknown type `{}` (expected one of: {})",
                    kind.value,
                    known.join(", ")
                ),
            );
        }
        parsed
    }

    pub(super) fn field(
        &mut self,
        table: &Table<'_, '_>,
        what: &str,
        names: &mut Vec<Located<String>>,
        conditions: Option<&mut Vec<(String, Located<String>)>>,
    ) -> Option<Field> {
        let d = &mut Vec::new();
        let name = table.required_string("name", d);
        let label = table.localized("label", true, d);
        let kind = table.required_string("type", d);
        let required = table.boolean_or_string("required", d);
        let options = table.strings("options", d);
        let items = table.string("items", d);
        let min = table.number("min", d);
        let max = table.number("max", d);
        table.finish(d);
        self.diagnostics.append(d);

        let kind_value = kind.as_ref().and_then(|kind| self.value_kind(kind));
        let items_value = items.as_ref().and_then(|items| {
            let parsed =
                ValueKind::parse(&items.value).filter(|kind| !matches!(kind, ValueKind::List));
            if parsed.is_none() {
                self.error(
                    items.span.clone(),
                    format!("unknown list item type `{}`", items.value),
                );
            }
            parsed
        });
        if let (Some(kind), Some(kind_span)) = (kind_value, kind.as_ref()) {
            let needs_options = kind == ValueKind::OneOf
                || (kind == ValueKind::List && items_value == Some(ValueKind::OneOf));
            if needs_options && options.is_empty() {
                self.error(
                    kind_span.span.clone(),
                    "a `one_of` type needs `options = [...]` listing its choices",
                );
            }
            if !needs_options && !options.is_empty() {
                self.error(
                    options[0].span.clone(),
                    "`options` only goes with the type `one_of`",
                );
            }
            if kind == ValueKind::List && items.is_none() {
                self.error(
                    kind_span.span.clone(),
                    "a `list` type needs `items`, the type of its elements",
                );
            }
            if kind != ValueKind::List {
                if let Some(items) = &items {
                    self.error(items.span.clone(), "`items` only goes with the type `list`");
                }
            }
            self.duplicates(&options, "option");
            let numeric = match kind {
                ValueKind::List => items_value,
                kind => Some(kind),
            };
            for bound in [&min, &max].into_iter().flatten() {
                match numeric {
                    Some(ValueKind::Integer | ValueKind::Money) if bound.value.as_i64().is_none() => {
                        self.error(
                            bound.span.clone(),
                            "the bounds of an `integer` or `money` field are whole numbers",
                        );
                    }
                    Some(ValueKind::Integer | ValueKind::Money | ValueKind::Decimal) => {}
                    _ => self.error(
                        bound.span.clone(),
                        "`min` and `max` only go with the types `integer`, `decimal` and `money` (or a list of them)",
                    ),
                }
            }
            if let (Some(min), Some(max)) = (&min, &max) {
                if min.value.as_f64() > max.value.as_f64() {
                    self.error(
                        max.span.clone(),
                        format!("`max` ({}) is less than `min` ({})", max.value, min.value),
                    );
                }
            }
        }
        let owner = format!(
            "{what} `{}`",
            name.as_ref().map_or("", |name| name.value.as_str())
        );
        let required = self.requirement(required, &owner, conditions);
        let name = name?;
        self.name(&name, what);
        names.push(name.clone());
        Some(Field {
            name: name.value,
            kind: kind_value?,
            required,
            label: label?,
            options: options.into_iter().map(|o| o.value).collect(),
            items: items_value,
            min: min.map(|bound| bound.value),
            max: max.map(|bound| bound.value),
        })
    }
}
