//! Reads a workflow file and checks it against the registries, collecting
//! every problem before giving up.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use cel::Value as CelValue;

use super::model::*;
use crate::calendar::{TimeSpan, TimeUnit};
use crate::diagnostic::{self, Diagnostic};
use crate::expression::{self, Bindings, ExpressionSource, Scope};
use crate::localized::Localized;
use crate::registry::{check_id, Registry};
use crate::toml_reader::{parse_document, Located, Table};
use crate::value_type::{Field, ValueKind};

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
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(span, message));
    }

    /// Names used inside expressions: lower case, digits and `_` (a `-` would
    /// read as a minus sign).
    fn name(&mut self, name: &Located<String>, what: &str) -> bool {
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

    fn duplicates<'n>(&mut self, names: impl IntoIterator<Item = &'n Located<String>>, what: &str) {
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

    fn time_span(&mut self, value: Option<Located<String>>, spans: &mut Spans) -> Option<TimeSpan> {
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

    fn workflow(&mut self, root: &Table<'_, '_>) -> Option<Definition> {
        let d = &mut Vec::new();
        let id = root.required_string("id", d);
        let version = root.integer("version", d);
        if version.is_none() && root.get("version").is_none() {
            d.push(Diagnostic::new(root.span(), "missing key `version`"));
        }
        let title = root.localized("title", true, d);
        let basis = root.strings("basis", d);
        let description = root.string("description", d);
        let calendar = root.required_string("calendar", d);
        let effective_from = root.date("effective_from", d);
        if effective_from.is_none() && root.get("effective_from").is_none() {
            d.push(Diagnostic::new(root.span(), "missing key `effective_from`"));
        }
        let effective_until = root.date("effective_until", d);
        let statutory_limit = root.string("statutory_limit", d);
        let promised_limit = root.string("promised_limit", d);
        let field_tables = root.tables("field", d);
        let material_tables = root.tables("material", d);
        let step_tables = root.tables("step", d);
        let choice_tables = root.tables("choice", d);
        self.diagnostics.append(d);

        let mut spans = Spans::default();
        if let Some(id) = &id {
            check_id(id, "workflow", &mut self.diagnostics);
        }
        let version = version.and_then(|version| {
            if version.value < 1 || version.value > i64::from(u32::MAX) {
                self.error(
                    version.span,
                    "`version` must be a whole number from 1 to 4294967295",
                );
                None
            } else {
                Some(version.value as u32)
            }
        });
        if let (Some(from), Some(until)) = (&effective_from, &effective_until) {
            if until.value < from.value {
                self.error(
                    until.span.clone(),
                    "`effective_until` is before `effective_from`",
                );
            }
        }
        let calendar_known = calendar.as_ref().and_then(|calendar| {
            let found = self.registry.calendars.get(&calendar.value);
            if found.is_none() {
                let known: Vec<_> = self.registry.calendars.keys().cloned().collect();
                self.error(
                    calendar.span.clone(),
                    format!(
                        "unknown calendar `{}` (known: {})",
                        calendar.value,
                        known.join(", ")
                    ),
                );
            }
            found
        });
        let statutory_limit = self.time_span(statutory_limit, &mut spans);
        let promised_limit = self.time_span(promised_limit, &mut spans);

        let mut field_names = Vec::new();
        let form: Vec<Field> = field_tables
            .iter()
            .filter_map(|table| self.field(table, "form field", &mut field_names))
            .collect();
        self.duplicates(&field_names, "form field");

        let mut material_ids = Vec::new();
        let mut materials = Vec::new();
        for table in &material_tables {
            if let Some(material) = self.material(table, &mut material_ids, &mut spans) {
                materials.push(material);
            }
        }
        self.duplicates(&material_ids, "material");

        let mut step_ids = Vec::new();
        let mut steps = Vec::new();
        for table in &step_tables {
            if let Some(step) = self.step(table, &mut step_ids, &mut spans) {
                steps.push(step);
            }
        }
        self.duplicates(&step_ids, "step");
        if step_tables.is_empty() {
            self.error(root.span(), "a workflow needs at least one `[[step]]`");
        }

        let mut choice_ids = Vec::new();
        let mut choices = Vec::new();
        for table in &choice_tables {
            let d = &mut Vec::new();
            let id = table.required_string("id", d);
            let title = table.localized("title", true, d);
            let branches = table.strings("branches", d);
            if table.get("branches").is_none() {
                d.push(Diagnostic::new(table.span(), "missing key `branches`"));
            }
            table.finish(d);
            self.diagnostics.append(d);
            let (Some(id), Some(title)) = (id, title) else {
                continue;
            };
            if !self.name(&id, "choice id") {
                continue;
            }
            choice_ids.push(id.clone());
            spans.choice_ids.insert(id.value.clone(), id.span.clone());
            spans
                .choice_branches
                .insert(id.value.clone(), branches.clone());
            choices.push(Choice {
                id: id.value,
                title,
                branches: branches.into_iter().map(|b| b.value).collect(),
            });
        }
        self.duplicates(&choice_ids, "choice");

        let mut definition = Definition {
            id: id.map(|id| id.value).unwrap_or_default(),
            version: version.unwrap_or(0),
            hash: String::new(),
            title: title.unwrap_or(Localized {
                zh: String::new(),
                en: String::new(),
            }),
            basis: basis.into_iter().map(|b| b.value).collect(),
            description: description.map(|d| d.value).unwrap_or_default(),
            calendar: calendar.map(|c| c.value).unwrap_or_default(),
            effective_from: effective_from
                .as_ref()
                .map_or(chrono::NaiveDate::MIN, |d| d.value),
            effective_until: effective_until.as_ref().map(|d| d.value),
            statutory_limit,
            promised_limit,
            form,
            materials,
            steps,
            choices,
            agencies: Vec::new(),
        };

        self.check_graph(&mut definition, &spans);
        self.check_materials(&definition, &spans);
        self.check_expressions(&definition, &spans);
        if let (Some(calendar), Some(from)) = (calendar_known, &effective_from) {
            if let Some(first_limit) = spans.working_day_limits.first() {
                let first_year = chrono::Datelike::year(&from.value);
                let last_year = match &effective_until {
                    Some(until) => chrono::Datelike::year(&until.value),
                    None => first_year,
                };
                for year in first_year..=last_year {
                    if !calendar.years.contains_key(&year) {
                        self.error(
                            first_limit.clone(),
                            format!(
                                "calendar `{}` has no holiday table for {year}, official or provisional, which this working-day time limit needs while the bundle is in force ({} to {})",
                                calendar.id,
                                from.value,
                                effective_until
                                    .as_ref()
                                    .map_or_else(|| from.value.to_string(), |u| u.value.to_string())
                            ),
                        );
                    }
                }
            }
        }

        let mut used_agencies: BTreeSet<&str> = BTreeSet::new();
        for step in &definition.steps {
            used_agencies.insert(&step.agency);
            if let Some(approver) = step.extension.as_ref().and_then(|e| e.approved_by.as_ref()) {
                used_agencies.insert(approver);
            }
            for bill in &step.bills {
                for item in &bill.items {
                    used_agencies.insert(&item.payee);
                }
            }
        }
        definition.agencies = used_agencies
            .into_iter()
            .filter_map(|id| self.registry.agencies.get(id).cloned())
            .collect();
        if !self.diagnostics.is_empty() {
            return None;
        }
        definition.hash = definition.content_hash();
        Some(definition)
    }

    fn field(
        &mut self,
        table: &Table<'_, '_>,
        what: &str,
        names: &mut Vec<Located<String>>,
    ) -> Option<Field> {
        let d = &mut Vec::new();
        let name = table.required_string("name", d);
        let label = table.localized("label", true, d);
        let kind = table.required_string("type", d);
        let required = table.boolean("required", d).unwrap_or(true);
        let options = table.strings("options", d);
        let items = table.string("items", d);
        let min = table.number("min", d);
        let max = table.number("max", d);
        table.finish(d);
        self.diagnostics.append(d);

        let kind_value = kind.as_ref().and_then(|kind| {
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
        });
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

    fn material(
        &mut self,
        table: &Table<'_, '_>,
        ids: &mut Vec<Located<String>>,
        spans: &mut Spans,
    ) -> Option<Material> {
        let d = &mut Vec::new();
        let id = table.required_string("id", d);
        let name = table.localized("name", true, d);
        let source = table.required_string("source", d);
        let step = table.string("step", d);
        let required = table.boolean("required", d).unwrap_or(true);
        let deficiency_allowed = table.boolean("deficiency_allowed", d).unwrap_or(false);
        let commitment_allowed = table.boolean("commitment_allowed", d).unwrap_or(false);
        table.finish(d);
        self.diagnostics.append(d);
        let source = source.and_then(|source| match source.value.as_str() {
            "applicant" => Some(MaterialSource::Applicant),
            "e_licence" => Some(MaterialSource::ELicence),
            "step" => match &step {
                Some(step) => Some(MaterialSource::Step {
                    step: step.value.clone(),
                }),
                None => {
                    self.error(
                        source.span.clone(),
                        "a material with `source = \"step\"` needs `step`, the step that produces it",
                    );
                    None
                }
            },
            other => {
                self.error(
                    source.span.clone(),
                    format!(
                        "unknown material source `{other}` (expected applicant, e_licence or step)"
                    ),
                );
                None
            }
        });
        if let (Some(step), Some(source)) = (&step, &source) {
            if !matches!(source, MaterialSource::Step { .. }) {
                self.error(
                    step.span.clone(),
                    "`step` only goes with `source = \"step\"`",
                );
            }
        }
        // E-licence data may be missing for a citizen (registered in another
        // province), so it may be promised or replaced by a commitment; what an
        // earlier step produces never comes from the applicant.
        if matches!(source, Some(MaterialSource::Step { .. })) {
            for flag in ["deficiency_allowed", "commitment_allowed"] {
                if let Some(span) = table.key_span(flag) {
                    self.error(
                        span,
                        format!("`{flag}` cannot go with `source = \"step\"`: an earlier step produces this material, not the applicant"),
                    );
                }
            }
        }
        let id = id?;
        self.name(&id, "material id");
        ids.push(id.clone());
        if let Some(step) = step {
            spans.material_steps.insert(id.value.clone(), step.span);
        }
        Some(Material {
            id: id.value,
            name: name?,
            source: source?,
            required,
            deficiency_allowed,
            commitment_allowed,
        })
    }

    fn step(
        &mut self,
        table: &Table<'_, '_>,
        ids: &mut Vec<Located<String>>,
        spans: &mut Spans,
    ) -> Option<Step> {
        let d = &mut Vec::new();
        let id = table.required_string("id", d);
        let title = table.localized("title", true, d);
        let agency = table.required_string("agency", d);
        let kind = table.string("kind", d);
        let after = table.strings("after", d);
        let when = table.string("when", d);
        let opt_in = table.boolean("opt_in", d).unwrap_or(false);
        let uses = table.strings("uses", d);
        let output_tables = table.tables("output", d);
        let deliverable_tables = table.tables("deliverable", d);
        let time_limit = table.string("time_limit", d);
        let warn_before = table.string("warn_before", d);
        let rule_tables = table.tables("time_limits", d);
        let extension_table = table.table("extension", d);
        let returns_to = table.strings("returns_to", d);
        let supplements = table.boolean("supplements", d).unwrap_or(false);
        let special_procedures = table.boolean("special_procedures", d).unwrap_or(false);
        let rounding = table.string("rounding", d);
        let bill_tables = table.tables("bill", d);
        table.finish(d);
        self.diagnostics.append(d);

        let id = id?;
        self.name(&id, "step id");
        ids.push(id.clone());
        spans.step_ids.insert(id.value.clone(), id.span.clone());
        spans.after.insert(id.value.clone(), after.clone());
        spans
            .returns_to
            .insert(id.value.clone(), returns_to.clone());
        spans.uses.insert(id.value.clone(), uses.clone());
        if let Some(when) = &when {
            spans.when.insert(id.value.clone(), when.clone());
        }

        if let Some(agency) = &agency {
            self.known_agency(agency, "agency");
        }
        let kind = match kind {
            None => Some(StepKind::Task),
            Some(kind) => match kind.value.as_str() {
                "task" => Some(StepKind::Task),
                "payment" => Some(StepKind::Payment),
                other => {
                    self.error(
                        kind.span,
                        format!("unknown step kind `{other}` (expected task or payment)"),
                    );
                    None
                }
            },
        };

        let mut output_names = Vec::new();
        let outputs: Vec<Field> = output_tables
            .iter()
            .filter_map(|table| self.field(table, "output", &mut output_names))
            .collect();
        self.duplicates(&output_names, "output");

        let mut deliverable_ids = Vec::new();
        let mut deliverables = Vec::new();
        for table in &deliverable_tables {
            let d = &mut Vec::new();
            let deliverable_id = table.required_string("id", d);
            let name = table.localized("name", true, d);
            table.finish(d);
            self.diagnostics.append(d);
            if let (Some(deliverable_id), Some(name)) = (deliverable_id, name) {
                self.name(&deliverable_id, "deliverable id");
                deliverable_ids.push(deliverable_id.clone());
                deliverables.push(Deliverable {
                    id: deliverable_id.value,
                    name,
                });
            }
        }
        self.duplicates(&deliverable_ids, "deliverable");

        let time_limit_span = time_limit.as_ref().map(|t| t.span.clone());
        let warn_span = warn_before.as_ref().map(|t| t.span.clone());
        let time_limit = self.time_span(time_limit, spans);
        let warn_before = self.time_span(warn_before, spans);
        match (time_limit, warn_before, warn_span) {
            (None, Some(_), Some(span)) if time_limit_span.is_none() => {
                self.error(span, "`warn_before` needs a `time_limit` to warn before");
            }
            (Some(limit), Some(warn), Some(span)) => {
                let hours = |t: TimeSpan| match t.unit {
                    TimeUnit::Hours => u64::from(t.amount),
                    TimeUnit::WorkingDays | TimeUnit::CalendarDays => u64::from(t.amount) * 24,
                };
                if hours(warn) >= hours(limit) {
                    self.error(
                        span,
                        format!(
                            "`warn_before` ({warn}) must be shorter than the time limit ({limit})"
                        ),
                    );
                }
            }
            _ => {}
        }

        let mut time_limits = Vec::new();
        for (index, rule) in rule_tables.iter().enumerate() {
            let d = &mut Vec::new();
            let when = rule.required_string("when", d);
            let limit = rule.required_string("limit", d);
            let warn = rule.string("warn_before", d);
            rule.finish(d);
            self.diagnostics.append(d);
            let warn_span = warn.as_ref().map(|w| w.span.clone());
            let limit = self.time_span(limit, spans);
            let warn = self.time_span(warn, spans);
            if let (Some(limit), Some(warn), Some(span)) = (limit, warn, warn_span) {
                if limit_hours(warn) >= limit_hours(limit) {
                    self.error(
                        span,
                        format!(
                            "`warn_before` ({warn}) must be shorter than the time limit ({limit})"
                        ),
                    );
                }
            }
            if let Some(when) = &when {
                spans
                    .limit_conditions
                    .insert((id.value.clone(), index), when.clone());
            }
            if let (Some(when), Some(limit)) = (when, limit) {
                time_limits.push(TimeLimitRule {
                    when: when.value,
                    limit,
                    warn_before: warn,
                });
            }
        }
        if let Some(first) = rule_tables.first() {
            if time_limit_span.is_none() {
                self.error(
                    first.span(),
                    "a step with `time_limits` needs a `time_limit` for the cases no rule picks out",
                );
            }
        }

        if special_procedures && time_limit_span.is_none() {
            if let Some(span) = table.key_span("special_procedures") {
                self.error(
                    span,
                    "`special_procedures` stops the step's clock, and this step has no `time_limit`",
                );
            }
        }
        let extension = extension_table.and_then(|extension| {
            let d = &mut Vec::new();
            let limit = extension.required_string("limit", d);
            let approved_by = extension.string("approved_by", d);
            extension.finish(d);
            self.diagnostics.append(d);
            if let Some(approved_by) = &approved_by {
                self.known_agency(approved_by, "approved_by");
            }
            if time_limit_span.is_none() {
                self.error(
                    extension.span(),
                    "an `extension` extends the step's `time_limit`, and this step has none",
                );
            }
            let limit = self.time_span(limit, spans)?;
            Some(Extension {
                limit,
                approved_by: approved_by.map(|a| a.value),
            })
        });

        let rounding = rounding.and_then(|rounding| {
            let found = Rounding::ALL
                .iter()
                .find(|(name, _)| *name == rounding.value)
                .map(|(_, rule)| *rule);
            if found.is_none() {
                self.error(
                    rounding.span.clone(),
                    format!(
                        "unknown rounding rule `{}` (expected half_up, half_even, down or up)",
                        rounding.value
                    ),
                );
            }
            found
        });
        let mut bills = Vec::new();
        let mut payers = Vec::new();
        for (bill_index, bill_table) in bill_tables.iter().enumerate() {
            let d = &mut Vec::new();
            let payer = bill_table.required_string("payer", d);
            let item_tables = bill_table.tables("item", d);
            bill_table.finish(d);
            self.diagnostics.append(d);
            if item_tables.is_empty() {
                self.error(
                    bill_table.span(),
                    "a bill needs at least one `[[step.bill.item]]`",
                );
            }
            let mut items = Vec::new();
            for (item_index, item_table) in item_tables.iter().enumerate() {
                let d = &mut Vec::new();
                let payee = item_table.required_string("payee", d);
                let label = item_table.localized("label", true, d);
                let amount = item_table.required_string("amount", d);
                item_table.finish(d);
                self.diagnostics.append(d);
                if let Some(payee) = &payee {
                    self.known_agency(payee, "payee");
                }
                if let Some(amount) = &amount {
                    spans
                        .amounts
                        .insert((id.value.clone(), bill_index, item_index), amount.clone());
                }
                if let (Some(payee), Some(label), Some(amount)) = (payee, label, amount) {
                    items.push(BillItem {
                        payee: payee.value,
                        label,
                        amount: amount.value,
                    });
                }
            }
            if let Some(payer) = payer {
                self.name(&payer, "payer");
                payers.push(payer.clone());
                bills.push(Bill {
                    payer: payer.value,
                    items,
                });
            }
        }
        self.duplicates(&payers, "payer");
        match kind {
            Some(StepKind::Payment) => {
                if let Some(first) = output_tables.first() {
                    self.error(
                        first.span(),
                        "a payment step has no outputs: it completes when every bill is paid",
                    );
                }
                if bill_tables.is_empty() {
                    self.error(
                        id.span.clone(),
                        format!(
                            "payment step `{}` needs at least one `[[step.bill]]`",
                            id.value
                        ),
                    );
                }
                if rounding.is_none() && table.key_span("rounding").is_none() {
                    self.error(
                        id.span.clone(),
                        format!("payment step `{}` needs `rounding` (half_up, half_even, down or up): amounts are whole fen", id.value),
                    );
                }
            }
            Some(StepKind::Task) => {
                if let Some(first) = bill_tables.first() {
                    self.error(
                        first.span(),
                        "bills only go in a step with `kind = \"payment\"`",
                    );
                }
                if let Some(span) = table.key_span("rounding") {
                    self.error(
                        span,
                        "`rounding` only goes in a step with `kind = \"payment\"`",
                    );
                }
            }
            None => {}
        }
        Some(Step {
            id: id.value,
            title: title?,
            agency: agency?.value,
            kind: kind?,
            after: after.into_iter().map(|a| a.value).collect(),
            when: when.map(|w| w.value),
            choice: None,
            opt_in,
            uses: uses.into_iter().map(|u| u.value).collect(),
            outputs,
            deliverables,
            time_limit,
            warn_before,
            time_limits,
            extension,
            returns_to: returns_to.into_iter().map(|r| r.value).collect(),
            supplements,
            special_procedures,
            rounding,
            bills,
        })
    }

    fn known_agency(&mut self, agency: &Located<String>, what: &str) {
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

    /// Dependencies, cycles, choices, return targets and reachability.
    fn check_graph(&mut self, definition: &mut Definition, spans: &Spans) {
        // Steps with other problems are still known by id, so that one
        // mistake does not also make every reference to the step "unknown".
        let ids: BTreeSet<String> = spans.step_ids.keys().cloned().collect();
        let unknown_step = |name: &Located<String>| -> Option<Diagnostic> {
            (!ids.contains(&name.value)).then(|| {
                Diagnostic::new(name.span.clone(), format!("unknown step `{}`", name.value))
            })
        };
        for step in &definition.steps {
            for after in &spans.after[&step.id] {
                if let Some(problem) = unknown_step(after) {
                    self.diagnostics.push(problem);
                } else if after.value == step.id {
                    self.error(
                        after.span.clone(),
                        format!("step `{}` cannot come after itself", step.id),
                    );
                }
            }
        }

        // Cycles: depth-first search, reporting each cycle once, in `after` order.
        let index: HashMap<&str, usize> = definition
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let edges: Vec<Vec<usize>> = definition
            .steps
            .iter()
            .enumerate()
            .map(|(own, s)| {
                // A step after itself is reported on its own, not as a cycle.
                s.after
                    .iter()
                    .filter_map(|a| index.get(a.as_str()).copied())
                    .filter(|&other| other != own)
                    .collect()
            })
            .collect();
        let mut in_cycle = vec![false; edges.len()];
        let mut state = vec![0u8; edges.len()]; // 0 new, 1 on the path, 2 done
        let mut path = Vec::new();
        let mut cycles = Vec::new();
        fn visit(
            node: usize,
            edges: &[Vec<usize>],
            state: &mut [u8],
            path: &mut Vec<usize>,
            cycles: &mut Vec<Vec<usize>>,
        ) {
            state[node] = 1;
            path.push(node);
            for &next in &edges[node] {
                match state[next] {
                    0 => visit(next, edges, state, path, cycles),
                    1 => {
                        let start = path.iter().position(|&n| n == next).expect("on the path");
                        cycles.push(path[start..].to_vec());
                    }
                    _ => {}
                }
            }
            path.pop();
            state[node] = 2;
        }
        for node in 0..edges.len() {
            if state[node] == 0 {
                visit(node, &edges, &mut state, &mut path, &mut cycles);
            }
        }
        for cycle in &cycles {
            for &node in cycle {
                in_cycle[node] = true;
            }
            // The path runs against the `after` arrows; print it in running order.
            let mut names: Vec<&str> = cycle
                .iter()
                .rev()
                .map(|&n| definition.steps[n].id.as_str())
                .collect();
            names.push(names[0]);
            let first = &definition.steps[cycle[0]].id;
            self.error(
                spans.step_ids[first].clone(),
                format!("dependency cycle: {}", names.join(" → ")),
            );
        }
        // Steps that wait on a cycle can never start.
        for (node, step) in definition.steps.iter().enumerate() {
            if in_cycle[node] {
                continue;
            }
            let mut stack = edges[node].clone();
            let mut seen = BTreeSet::new();
            let mut blocked = None;
            while let Some(next) = stack.pop() {
                if !seen.insert(next) {
                    continue;
                }
                if in_cycle[next] {
                    blocked = Some(next);
                    break;
                }
                stack.extend(&edges[next]);
            }
            if let Some(blocker) = blocked {
                self.error(
                    spans.step_ids[&step.id].clone(),
                    format!(
                        "step `{}` is unreachable: it waits on `{}`, which is part of a dependency cycle",
                        step.id, definition.steps[blocker].id
                    ),
                );
            }
        }
        if !cycles.is_empty() {
            return;
        }
        if !spans.after.is_empty() && spans.after.values().all(|after| !after.is_empty()) {
            if let Some(first) = definition.steps.first() {
                self.error(
                    spans.step_ids[&first.id].clone(),
                    "no step can start: every step waits on another",
                );
            }
        }

        // Return targets must be earlier steps.
        for step in &definition.steps {
            let ancestors = definition.ancestors(&step.id);
            for target in &spans.returns_to[&step.id] {
                if let Some(problem) = unknown_step(target) {
                    self.diagnostics.push(problem);
                } else if !ancestors.contains(&target.value.as_str()) {
                    self.error(
                        target.span.clone(),
                        format!(
                            "step `{}` cannot return to `{}`: a return target must be an earlier step (one this step waits on, directly or through others)",
                            step.id, target.value
                        ),
                    );
                }
            }
        }

        // Choices.
        let mut branch_of: HashMap<String, String> = HashMap::new();
        for choice in &definition.choices {
            let branches = &spans.choice_branches[&choice.id];
            if branches.len() < 2 {
                self.error(
                    spans.choice_ids[&choice.id].clone(),
                    format!("choice `{}` needs at least two branches", choice.id),
                );
            }
            let mut first_after: Option<BTreeSet<&str>> = None;
            let mut unconditional: Option<&str> = None;
            for (position, branch) in branches.iter().enumerate() {
                if let Some(problem) = unknown_step(branch) {
                    self.diagnostics.push(problem);
                    continue;
                }
                if let Some(earlier) = unconditional {
                    self.error(
                        branch.span.clone(),
                        format!(
                            "branch `{}` is unreachable: branch `{earlier}` before it has no `when`, so it always runs instead",
                            branch.value
                        ),
                    );
                    continue;
                }
                if branches[..position]
                    .iter()
                    .any(|earlier| earlier.value == branch.value)
                {
                    self.error(
                        branch.span.clone(),
                        format!(
                            "step `{}` is listed twice in choice `{}`",
                            branch.value, choice.id
                        ),
                    );
                    continue;
                }
                if let Some(other) = branch_of.get(&branch.value) {
                    self.error(
                        branch.span.clone(),
                        format!(
                            "step `{}` is already a branch of choice `{other}`",
                            branch.value
                        ),
                    );
                    continue;
                }
                branch_of.insert(branch.value.clone(), choice.id.clone());
                let Some(step) = definition.step(&branch.value) else {
                    // Named, but dropped for its own problems (already reported).
                    continue;
                };
                let after: BTreeSet<&str> = step.after.iter().map(String::as_str).collect();
                match &first_after {
                    None => first_after = Some(after),
                    Some(first) if *first != after => self.error(
                        branch.span.clone(),
                        format!(
                            "the branches of choice `{}` must wait on the same steps; `{}` waits on [{}], the first branch on [{}]",
                            choice.id,
                            branch.value,
                            after.iter().copied().collect::<Vec<_>>().join(", "),
                            first.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    ),
                    Some(_) => {}
                }
                if step.opt_in {
                    self.error(
                        branch.span.clone(),
                        format!(
                            "step `{}` is a branch of a choice and cannot also be `opt_in`",
                            branch.value
                        ),
                    );
                }
                let last = position + 1 == branches.len();
                if last && step.when.is_some() {
                    self.error(
                        spans.when[&branch.value].span.clone(),
                        format!(
                            "`{}` is the last branch of choice `{}`: it must have no `when`, so that it runs when no branch before it does and exactly one branch always runs",
                            branch.value, choice.id
                        ),
                    );
                }
                if !last && step.when.is_none() {
                    unconditional = Some(&branch.value);
                }
            }
        }
        for step in &mut definition.steps {
            step.choice = branch_of.get(&step.id).cloned();
        }
    }

    fn check_materials(&mut self, definition: &Definition, spans: &Spans) {
        let material_ids: Vec<&str> = definition.materials.iter().map(|m| m.id.as_str()).collect();
        for material in &definition.materials {
            if let MaterialSource::Step { step } = &material.source {
                if !spans.step_ids.contains_key(step) {
                    self.error(
                        spans.material_steps[&material.id].clone(),
                        format!("unknown step `{step}`"),
                    );
                }
            }
        }
        for step in &definition.steps {
            let ancestors = definition.ancestors(&step.id);
            for used in &spans.uses[&step.id] {
                let Some(material) = definition.materials.iter().find(|m| m.id == used.value)
                else {
                    self.error(
                        used.span.clone(),
                        format!(
                            "unknown material `{}` (materials: {})",
                            used.value,
                            material_ids.join(", ")
                        ),
                    );
                    continue;
                };
                if let MaterialSource::Step { step: producer } = &material.source {
                    if definition.step(producer).is_some()
                        && !ancestors.contains(&producer.as_str())
                    {
                        self.error(
                            used.span.clone(),
                            format!(
                                "material `{}` is produced by step `{producer}`, which does not come before step `{}`",
                                used.value, step.id
                            ),
                        );
                    }
                }
            }
        }
    }

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

    fn check_expressions(&mut self, definition: &Definition, spans: &Spans) {
        let all_steps: Vec<&str> = definition.steps.iter().map(|s| s.id.as_str()).collect();
        for step in &definition.steps {
            let earlier: BTreeMap<&str, &[Field]> = definition
                .ancestors(&step.id)
                .into_iter()
                .filter_map(|id| definition.step(id).map(|s| (id, s.outputs.as_slice())))
                .collect();
            let scope = Scope {
                form: &definition.form,
                earlier_steps: earlier,
                all_steps: all_steps.clone(),
            };
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
                        }
                    }
                }
            }
        }
    }

    /// Parses, resolves names and tries the expression on sample values;
    /// gives the sample result when the expression is sound.
    fn check_expression(
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
        match Bindings::samples(scope.form, &scope.earlier_steps).evaluate(&program) {
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

/// A rough length in hours, to compare a warning with its limit.
fn limit_hours(span: TimeSpan) -> u64 {
    match span.unit {
        TimeUnit::Hours => u64::from(span.amount),
        TimeUnit::WorkingDays | TimeUnit::CalendarDays => u64::from(span.amount) * 24,
    }
}

fn expression_is_constant(text: &str) -> bool {
    !text.contains("form.") && !text.contains("steps.")
}

fn cel_type(value: &CelValue) -> &'static str {
    match value {
        CelValue::List(_) => "a list",
        CelValue::Map(_) => "a map",
        CelValue::Int(_) | CelValue::UInt(_) => "an integer",
        CelValue::Float(_) => "a decimal number",
        CelValue::String(_) => "text",
        CelValue::Bool(_) => "true or false",
        CelValue::Null => "null",
        _ => "another kind of value",
    }
}
