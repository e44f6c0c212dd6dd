//! Steps (`[[step]]`): who does what after which steps, with their outputs
//! and deliverables; their clock and bills are read by `time_limits` and
//! `payments`.

use super::{Parser, Spans};
use crate::toml_reader::{Located, Table};
use crate::value_type::Field;
use crate::workflow::model::{Deliverable, Join, Step, StepKind};

impl Parser<'_> {
    pub(super) fn step(
        &mut self,
        table: &Table<'_, '_>,
        ids: &mut Vec<Located<String>>,
        spans: &mut Spans,
    ) -> Option<Step> {
        let d = &mut Vec::new();
        let id = table.required_string("id", d);
        let title = table.localized("title", true, d);
        let agency_key = self.agency_key(table);
        let co_handlers = table.integer("co_handlers", d);
        let kind = table.string("kind", d);
        let after = table.strings("after", d);
        let join = table.string("join", d);
        let when = table.string("when", d);
        let opt_in = table.boolean("opt_in", d).unwrap_or(false);
        let uses = table.strings("uses", d);
        let output_tables = table.tables("output", d);
        let input_tables = table.tables("input", d);
        let deliverable_tables = table.tables("deliverable", d);
        let time_limit = table.string("time_limit", d);
        let warn_before = table.string("warn_before", d);
        let rule_tables = table.tables("time_limits", d);
        let statutory_limit = table.string("statutory_limit", d);
        let statutory_warn_before = table.string("statutory_warn_before", d);
        let escalation_tables = table.tables("escalation", d);
        let extension_table = table.table("extension", d);
        let returns_to = table.strings("returns_to", d);
        let supplements = table.boolean("supplements", d).unwrap_or(false);
        let special_procedures = table.boolean("special_procedures", d).unwrap_or(false);
        let rounding = table.string("rounding", d);
        let bill_tables = table.tables("bill", d);
        let for_each = table.string("for_each", d);
        let instances = table.string("instances", d);
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

        let agency = agency_key.holder;
        let mut dispatch = agency_key.dispatch;
        self.co_handlers(co_handlers, dispatch.as_mut());
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

        let join = match join {
            None => Join::default(),
            Some(written) => match Join::ALL.iter().find(|(name, _)| *name == written.value) {
                Some((_, join)) if !after.is_empty() => *join,
                Some(_) => {
                    self.error(
                        written.span,
                        "`join` says what happens when the steps in `after` were all skipped; this step has no `after`".to_string(),
                    );
                    Join::default()
                }
                None => {
                    self.error(
                        written.span,
                        format!(
                            "unknown join `{}` (expected {})",
                            written.value,
                            Join::ALL.map(|(name, _)| name).join(" or ")
                        ),
                    );
                    Join::default()
                }
            },
        };

        let mut output_names = Vec::new();
        let outputs: Vec<Field> = output_tables
            .iter()
            .filter_map(|table| self.field(table, "output", &mut output_names, None))
            .collect();
        self.duplicates(&output_names, "output");
        let inputs = self.inputs(&id.value, &input_tables, spans);

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

        let time_limit_written = time_limit.is_some();
        let (time_limit, warn_before) = self.limit_and_warning(time_limit, warn_before, spans);
        let (statutory_limit, statutory_warn_before) = self.statutory_limit_and_warning(
            statutory_limit,
            statutory_warn_before,
            time_limit,
            time_limit_written,
            spans,
        );
        let time_limits = self.time_limit_rules(
            &id,
            &rule_tables,
            time_limit_written,
            statutory_limit,
            spans,
        );
        let escalations = match table.key_span("escalation") {
            Some(key) => {
                spans.own_escalations.insert(id.value.clone());
                if !time_limit_written {
                    self.error(
                        key,
                        "an escalation counts from the step's due time, and this step has no `time_limit`",
                    );
                }
                self.escalations(&escalation_tables, spans)
            }
            None => Vec::new(),
        };
        self.check_special_procedures(table, special_procedures, time_limit_written);
        let extension = self.extension(extension_table, time_limit_written, spans);

        let rounding = self.rounding(rounding);
        let bills = self.bills(&id, &bill_tables, spans);
        self.check_keys_fit_kind(table, &id, kind, &output_tables, &bill_tables, rounding);
        let for_each = self.for_each(&id, for_each, instances, kind, &outputs, spans);
        if let (Some(StepKind::Payment), Some(key), true) =
            (kind, table.key_span("agency"), dispatch.is_some())
        {
            self.error(
                key,
                "a payment step's bills are issued by its own agency as it starts: its `agency` cannot be dispatched",
            );
        }
        if let (Some(key), true, true) = (
            table.key_span("for_each"),
            for_each.is_some(),
            dispatch.is_some(),
        ) {
            self.error(
                key,
                "a step is dispatched as a whole or runs one task per item, not both: dispatch a step before or after this one instead",
            );
        }
        Some(Step {
            id: id.value,
            title: title?,
            agency: agency?.value,
            dispatch,
            kind: kind?,
            after: after.into_iter().map(|a| a.value).collect(),
            join,
            when: when.map(|w| w.value),
            choice: None,
            opt_in,
            uses: uses.into_iter().map(|u| u.value).collect(),
            outputs,
            inputs,
            deliverables,
            time_limit,
            warn_before,
            time_limits,
            extension,
            statutory_limit,
            statutory_warn_before,
            escalations,
            returns_to: returns_to.into_iter().map(|r| r.value).collect(),
            supplements,
            special_procedures,
            rounding,
            bills,
            for_each,
        })
    }
}
