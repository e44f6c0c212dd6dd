//! The file as a whole: the header keys (id, version, validity, calendar,
//! limits), its sections read in turn, the definition assembled from them,
//! and the checks that need all of it: the calendar must cover the years
//! the bundle is in force, and the definition keeps the agencies it names.

use std::collections::BTreeSet;

use super::{Parser, Spans};
use crate::diagnostic::Diagnostic;
use crate::localized::Localized;
use crate::registry::check_id;
use crate::toml_reader::Table;
use crate::value_type::Field;
use crate::workflow::model::Definition;

impl Parser<'_> {
    pub(super) fn workflow(&mut self, root: &Table<'_, '_>) -> Option<Definition> {
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
        let escalation_tables = root.tables("escalation", d);
        let check_tables = root.tables("check", d);
        let before_reform_table = root.table("before_reform", d);
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
            .filter_map(|table| {
                self.field(
                    table,
                    "form field",
                    &mut field_names,
                    Some(&mut spans.required_conditions),
                )
            })
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
        self.default_escalations(&escalation_tables, &mut steps, &mut spans);
        if step_tables.is_empty() {
            self.error(root.span(), "a workflow needs at least one `[[step]]`");
        }

        let choices = self.choices(&choice_tables, &mut spans);
        let checks = self.checks(&check_tables, &mut spans);
        let before_reform = before_reform_table
            .as_ref()
            .and_then(|table| self.before_reform(table));

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
            checks,
            before_reform,
        };

        self.check_graph(&mut definition, &spans);
        self.check_materials(&definition, &spans);
        self.check_expressions(&definition, &spans);
        self.check_requirements_and_checks(&definition, &spans);
        self.check_for_each(&definition, &mut spans);
        self.check_inputs(&definition, &spans);
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
            if let Some(dispatch) = &step.dispatch {
                used_agencies.extend(dispatch.any_of.iter().map(String::as_str));
            }
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
}
