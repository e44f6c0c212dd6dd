//! A reader over parsed TOML that collects every problem instead of stopping
//! at the first, the way a service window lists every missing material at once.
//!
//! serde's derive stops at the first error; a service designer fixing a file
//! wants all of them, so the workflow and registry parsers read tables by hand
//! through this module.

use std::cell::RefCell;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::localized::Localized;

/// A value and the byte range of the source it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub span: Range<usize>,
}

impl<T> Located<T> {
    pub fn new(value: T, span: Range<usize>) -> Located<T> {
        Located { value, span }
    }
}

/// Parses a whole document; syntax errors come back as diagnostics.
pub fn parse_document(text: &str) -> Result<Spanned<DeTable<'_>>, Vec<Diagnostic>> {
    let (table, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Ok(table);
    }
    Err(errors
        .into_iter()
        .map(|error| {
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim().replace('\n', " ");
            Diagnostic::new(span, format!("syntax error: {message}"))
        })
        .collect())
}

/// A table being read: remembers which keys were asked for, so that
/// [`Table::finish`] can name the keys nobody expected (usually typos).
pub struct Table<'t, 'i> {
    table: &'t DeTable<'i>,
    span: Range<usize>,
    used: RefCell<Vec<&'static str>>,
}

pub fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true or false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

impl<'t, 'i> Table<'t, 'i> {
    pub fn new(table: &'t DeTable<'i>, span: Range<usize>) -> Table<'t, 'i> {
        Table {
            table,
            span,
            used: RefCell::new(Vec::new()),
        }
    }

    /// Reads a value that must be a table.
    pub fn from_value(
        value: &'t Spanned<DeValue<'i>>,
        what: &str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Table<'t, 'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(Table::new(table, value.span())),
            other => {
                diagnostics.push(Diagnostic::new(
                    value.span(),
                    format!("{what} must be a table, found {}", type_name(other)),
                ));
                None
            }
        }
    }

    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The raw value of a key, marking it as known.
    pub fn get(&self, key: &'static str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.used.borrow_mut().push(key);
        self.table.get(key)
    }

    /// Marks keys as known without reading them here.
    pub fn allow(&self, keys: &[&'static str]) {
        self.used.borrow_mut().extend_from_slice(keys);
    }

    /// The span of a key's name, for problems that concern the key itself.
    pub fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.table
            .iter()
            .find(|(name, _)| name.get_ref() == key)
            .map(|(name, _)| name.span())
    }

    fn missing(&self, key: &str, diagnostics: &mut Vec<Diagnostic>) {
        diagnostics.push(Diagnostic::new(
            self.span.clone(),
            format!("missing key `{key}`"),
        ));
    }

    fn wrong_type(
        value: &Spanned<DeValue<'_>>,
        key: &str,
        expected: &str,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        diagnostics.push(Diagnostic::new(
            value.span(),
            format!(
                "`{key}` must be {expected}, found {}",
                type_name(value.get_ref())
            ),
        ));
    }

    pub fn string(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Located<String>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::String(text) => Some(Located::new(text.to_string(), value.span())),
            _ => {
                Self::wrong_type(value, key, "a string", diagnostics);
                None
            }
        }
    }

    pub fn required_string(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Located<String>> {
        if self.table.get(key).is_none() {
            self.used.borrow_mut().push(key);
            self.missing(key, diagnostics);
            return None;
        }
        self.string(key, diagnostics)
    }

    pub fn boolean(&self, key: &'static str, diagnostics: &mut Vec<Diagnostic>) -> Option<bool> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => {
                Self::wrong_type(value, key, "true or false", diagnostics);
                None
            }
        }
    }

    /// A key that is `true`, `false` or a string (a condition, for keys
    /// such as `required`).
    pub fn boolean_or_string(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Result<bool, Located<String>>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(Ok(*flag)),
            DeValue::String(text) => Some(Err(Located::new(text.to_string(), value.span()))),
            _ => {
                Self::wrong_type(value, key, "true, false or a condition", diagnostics);
                None
            }
        }
    }

    pub fn integer(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Located<i64>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Integer(integer) => {
                match i64::from_str_radix(integer.as_str(), integer.radix()) {
                    Ok(number) => Some(Located::new(number, value.span())),
                    Err(_) => {
                        diagnostics.push(Diagnostic::new(
                            value.span(),
                            format!("`{key}` is too large"),
                        ));
                        None
                    }
                }
            }
            _ => {
                Self::wrong_type(value, key, "an integer", diagnostics);
                None
            }
        }
    }

    /// A number: an integer, or a decimal written with a point (`0.5`).
    pub fn number(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Located<serde_json::Number>> {
        let value = self.get(key)?;
        let number = match value.get_ref() {
            DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
                .ok()
                .map(serde_json::Number::from),
            DeValue::Float(float) => float
                .as_str()
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64),
            _ => {
                Self::wrong_type(value, key, "a number", diagnostics);
                return None;
            }
        };
        if number.is_none() {
            diagnostics.push(Diagnostic::new(
                value.span(),
                format!("`{key}` is not a finite number in range"),
            ));
        }
        number.map(|number| Located::new(number, value.span()))
    }

    /// A date written as a TOML local date (`2025-01-01`) or as a string.
    pub fn date(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Located<chrono::NaiveDate>> {
        let value = self.get(key)?;
        date_value(value, key, diagnostics)
    }

    /// A list of strings; a single string is accepted as a list of one.
    pub fn strings(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<Located<String>> {
        let Some(value) = self.get(key) else {
            return Vec::new();
        };
        match value.get_ref() {
            DeValue::String(text) => vec![Located::new(text.to_string(), value.span())],
            DeValue::Array(items) => items
                .iter()
                .filter_map(|item| match item.get_ref() {
                    DeValue::String(text) => Some(Located::new(text.to_string(), item.span())),
                    _ => {
                        Self::wrong_type(item, key, "a list of strings", diagnostics);
                        None
                    }
                })
                .collect(),
            _ => {
                Self::wrong_type(value, key, "a list of strings", diagnostics);
                Vec::new()
            }
        }
    }

    /// A list of dates.
    pub fn dates(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<Located<chrono::NaiveDate>> {
        let Some(value) = self.get(key) else {
            return Vec::new();
        };
        match value.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .filter_map(|item| date_value(item, key, diagnostics))
                .collect(),
            _ => {
                Self::wrong_type(value, key, "a list of dates", diagnostics);
                Vec::new()
            }
        }
    }

    /// A sub-table.
    pub fn table(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Table<'t, 'i>> {
        let value = self.get(key)?;
        Table::from_value(value, &format!("`{key}`"), diagnostics)
    }

    /// An array of tables (`[[step]]`); a single table is accepted as one.
    pub fn tables(
        &self,
        key: &'static str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<Table<'t, 'i>> {
        let Some(value) = self.get(key) else {
            return Vec::new();
        };
        match value.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .filter_map(|item| Table::from_value(item, &format!("each `{key}`"), diagnostics))
                .collect(),
            DeValue::Table(table) => vec![Table::new(table, value.span())],
            _ => {
                Self::wrong_type(value, key, "a list of tables", diagnostics);
                Vec::new()
            }
        }
    }

    /// The entries of a table whose keys are names chosen by the author
    /// (e.g. `[years.2025]`), in source order.
    pub fn entries(&self) -> Vec<(Located<String>, &'t Spanned<DeValue<'i>>)> {
        let mut entries: Vec<_> = self
            .table
            .iter()
            .map(|(key, value)| (Located::new(key.get_ref().to_string(), key.span()), value))
            .collect();
        entries.sort_by_key(|(key, _)| key.span.start);
        entries
    }

    /// Text in Chinese and English: `{ zh = "…", en = "…" }`.
    pub fn localized(
        &self,
        key: &'static str,
        required: bool,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Localized> {
        let Some(value) = self.get(key) else {
            if required {
                self.missing(key, diagnostics);
            }
            return None;
        };
        let table =
            Table::from_value(value, &format!("`{key}` (with `zh` and `en`)"), diagnostics)?;
        let zh = table.required_string("zh", diagnostics);
        let en = table.required_string("en", diagnostics);
        table.finish(diagnostics);
        Some(Localized {
            zh: zh?.value,
            en: en?.value,
        })
    }

    /// Reports every key that was never asked for.
    pub fn finish(&self, diagnostics: &mut Vec<Diagnostic>) {
        let used = self.used.borrow();
        for (key, _) in self.table.iter() {
            if !used.contains(&key.get_ref().as_ref()) {
                let mut known: Vec<&str> = used.to_vec();
                known.sort_unstable();
                known.dedup();
                diagnostics.push(Diagnostic::new(
                    key.span(),
                    format!(
                        "unknown key `{}` (known keys here: {})",
                        key.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
        }
    }
}

/// A date value under a key chosen by the author (e.g. a feast's name).
pub fn date_value(
    value: &Spanned<DeValue<'_>>,
    key: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Located<chrono::NaiveDate>> {
    let text = match value.get_ref() {
        DeValue::Datetime(datetime) => datetime.to_string(),
        DeValue::String(text) => text.to_string(),
        other => {
            diagnostics.push(Diagnostic::new(
                value.span(),
                format!(
                    "`{key}` must be a date like 2025-01-01, found {}",
                    type_name(other)
                ),
            ));
            return None;
        }
    };
    match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        Ok(date) => Some(Located::new(date, value.span())),
        Err(_) => {
            diagnostics.push(Diagnostic::new(
                value.span(),
                format!("`{key}`: `{text}` is not a date like 2025-01-01"),
            ));
            None
        }
    }
}
