//! Payment steps: the `rounding` rule and the `[[step.bill]]`s with their
//! items (payee, label, amount expression), and the keys that only go with
//! one kind of step.

use super::{Parser, Spans};
use crate::toml_reader::{Located, Table};
use crate::workflow::model::{Bill, BillItem, Rounding, StepKind};

impl Parser<'_> {
    pub(super) fn rounding(&mut self, rounding: Option<Located<String>>) -> Option<Rounding> {
        rounding.and_then(|rounding| {
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
        })
    }

    /// The step's bills; their amounts are kept in `spans` to be checked as
    /// expressions once every step is known.
    pub(super) fn bills(
        &mut self,
        step_id: &Located<String>,
        bill_tables: &[Table<'_, '_>],
        spans: &mut Spans,
    ) -> Vec<Bill> {
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
                    spans.amounts.insert(
                        (step_id.value.clone(), bill_index, item_index),
                        amount.clone(),
                    );
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
        bills
    }

    /// A payment step has bills and a rounding rule and no outputs; a task
    /// has neither bills nor rounding.
    pub(super) fn check_keys_fit_kind(
        &mut self,
        step: &Table<'_, '_>,
        id: &Located<String>,
        kind: Option<StepKind>,
        output_tables: &[Table<'_, '_>],
        bill_tables: &[Table<'_, '_>],
        rounding: Option<Rounding>,
    ) {
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
                if rounding.is_none() && step.key_span("rounding").is_none() {
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
                if let Some(span) = step.key_span("rounding") {
                    self.error(
                        span,
                        "`rounding` only goes in a step with `kind = \"payment\"`",
                    );
                }
            }
            None => {}
        }
    }
}
