//! Escalation points (`[[escalation]]` for the whole bundle, `[[step.escalation]]`
//! for one step): named points after a step's due time, each later than the
//! one before it.

use super::{limit_hours, Parser, Spans};
use crate::toml_reader::Table;
use crate::workflow::model::{Escalation, Step};

impl Parser<'_> {
    /// One list of escalation points, in order.
    pub(super) fn escalations(
        &mut self,
        tables: &[Table<'_, '_>],
        spans: &mut Spans,
    ) -> Vec<Escalation> {
        let mut ids = Vec::new();
        let mut escalations: Vec<Escalation> = Vec::new();
        for table in tables {
            let d = &mut Vec::new();
            let id = table.required_string("id", d);
            let name = table.localized("name", true, d);
            let after_due = table.required_string("after_due", d);
            table.finish(d);
            self.diagnostics.append(d);
            let after_due_span = after_due.as_ref().map(|a| a.span.clone());
            let after_due = self.time_span(after_due, spans);
            if let Some(id) = &id {
                self.name(id, "escalation id");
                ids.push(id.clone());
            }
            if let (Some(after_due), Some(span), Some(previous)) =
                (after_due, after_due_span, escalations.last())
            {
                // Points are reached in time order; listing them so keeps
                // the history, the inbox and the statistics in that order.
                if limit_hours(after_due) <= limit_hours(previous.after_due) {
                    self.error(
                        span,
                        format!(
                            "escalation points are listed in the order they are reached: this one ({after_due} after the due time) must come later than `{}` before it ({} after)",
                            previous.id, previous.after_due
                        ),
                    );
                }
            }
            if let (Some(id), Some(name), Some(after_due)) = (id, name, after_due) {
                escalations.push(Escalation {
                    id: id.value,
                    name,
                    after_due,
                });
            }
        }
        self.duplicates(&ids, "escalation");
        escalations
    }

    /// Gives the bundle's escalation points to every step with a time limit
    /// that declares none of its own.
    pub(super) fn default_escalations(
        &mut self,
        tables: &[Table<'_, '_>],
        steps: &mut [Step],
        spans: &mut Spans,
    ) {
        let defaults = self.escalations(tables, spans);
        for step in steps {
            if step.time_limit.is_some() && !spans.own_escalations.contains(&step.id) {
                step.escalations = defaults.clone();
            }
        }
    }
}
