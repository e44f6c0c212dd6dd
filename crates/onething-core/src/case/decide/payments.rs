//! Payment steps: their bills, computed from the form and earlier outputs
//! when the step starts (and tried at opening, so that no case is left stuck
//! at its payment step), and the payments that complete the step.

use serde_json::Value;

use super::{forbidden, Decision};
use crate::case::error::CaseError;
use crate::case::event::{Change, IssuedBill, IssuedBillItem};
use crate::case::state::StepState;
use crate::expression::{self, Bindings};
use crate::value_type::ValueProblem;
use crate::workflow::{Rounding, Step, StepKind};

impl Decision<'_> {
    /// Records the payment of the open bill of `payer`; the step completes
    /// when all its bills are paid.
    pub(super) fn pay(&mut self, payer: &str, amount: i64, receipt: &str) -> Result<(), CaseError> {
        let file = self.open_case()?;
        if receipt.trim().is_empty() {
            return Err(CaseError::MissingReceipt);
        }
        let Some(payment) = file.payments.iter().find(|payment| {
            payment.bill.payer == payer
                && !payment.paid
                && file
                    .step(&payment.step)
                    .is_some_and(|s| s.state == StepState::Active)
        }) else {
            return Err(CaseError::NoSuchBill {
                payer: payer.to_string(),
            });
        };
        let step = payment.step.clone();
        let collector = &self.step_definition(&step)?.agency;
        let actor = self.actor();
        if actor.agency() != Some(collector.as_str()) && !actor.is_window() {
            return Err(forbidden(
                actor,
                "record a payment",
                format!("payments for `{step}` are recorded by `{collector}` or the window"),
            ));
        }
        if amount != payment.bill.total {
            return Err(CaseError::WrongAmount {
                payer: payer.to_string(),
                expected: payment.bill.total,
                given: amount,
            });
        }
        self.emit(Change::PaymentReceived {
            step: step.clone(),
            payer: payer.to_string(),
            amount,
            receipt: receipt.to_string(),
        });
        self.complete_payment_if_paid(&step);
        self.advance()
    }

    pub(super) fn compute_bills(&self, step: &Step) -> Result<Vec<IssuedBill>, CaseError> {
        bills_for(step, &self.bindings(step))
    }

    /// Tries, when a case is opened, every bill of the bundle with this form
    /// (outputs of steps not yet done taken as typical values inside their
    /// bounds), so that a form no bill can be computed for is refused at
    /// once, never a case left stuck at its payment step.
    pub(super) fn check_bills_computable(&self, form: &Value, problems: &mut Vec<ValueProblem>) {
        for step in &self.definition.steps {
            if step.kind != StepKind::Payment {
                continue;
            }
            let mut bindings = Bindings::new(&self.definition.form, form).on(Some(self.today()));
            for ancestor in self.definition.ancestors(&step.id) {
                if let Some(ancestor_definition) = self.definition.step(ancestor) {
                    let seen = ancestor_definition.outputs_seen_later();
                    bindings.add_step(ancestor, seen, Some(&expression::sample_object(seen)));
                }
            }
            if let Err(error) = bills_for(step, &bindings) {
                let message = match error {
                    CaseError::Expression { message, .. } => message,
                    other => other.to_string(),
                };
                problems.push(ValueProblem {
                    field: format!("bills.{}", step.id),
                    message: format!("cannot be computed for this form: {message}"),
                });
            }
        }
    }

    pub(super) fn complete_payment_if_paid(&mut self, step: &str) {
        let file = self.file();
        let all_paid = file
            .payments
            .iter()
            .filter(|payment| payment.step == step)
            .all(|payment| payment.paid);
        if all_paid
            && file
                .step(step)
                .is_some_and(|s| s.state == StepState::Active)
        {
            self.emit(Change::StepCompleted {
                step: step.to_string(),
                outputs: Value::Object(Default::default()),
            });
        }
    }
}

/// A payment step's bills for these values: every amount computed exactly
/// (`crate::money`: integers as integers, decimals as exact fractions),
/// a decimal one rounded once by the step's rule.
fn bills_for(step: &Step, bindings: &Bindings) -> Result<Vec<IssuedBill>, CaseError> {
    let rounding = step.rounding.unwrap_or(Rounding::HalfUp);
    let fail = |message: String| CaseError::Expression {
        step: step.id.clone(),
        message,
    };
    let mut bills = Vec::new();
    for bill in &step.bills {
        let mut items = Vec::new();
        for item in &bill.items {
            let program = expression::compiled(&item.amount)
                .ok_or_else(|| fail(format!("the amount `{}` does not parse", item.amount)))?;
            // Exact fractions, rounded once by the rule: never through a double.
            let fen = bindings
                .amount_in_fen(&program, rounding)
                .map_err(|message| {
                    if message == "it is not a number" {
                        fail(format!("the amount `{}` is not a number", item.amount))
                    } else {
                        fail(format!(
                            "the amount `{}` could not be computed: {message}",
                            item.amount
                        ))
                    }
                })?;
            let out_of_range = |shown: String| {
                fail(format!(
                    "the amount `{}` gives {shown}, not a whole number of fen from 0 up",
                    item.amount
                ))
            };
            let fen = i64::try_from(fen).map_err(|_| out_of_range(fen.to_string()))?;
            if fen < 0 {
                return Err(out_of_range(fen.to_string()));
            }
            items.push(IssuedBillItem {
                payee: item.payee.clone(),
                label: item.label.clone(),
                amount: fen,
            });
        }
        let total = items
            .iter()
            .try_fold(0i64, |total, item| total.checked_add(item.amount))
            .ok_or_else(|| {
                fail(format!(
                    "the bill of `{}` adds up to more than any amount of fen",
                    bill.payer
                ))
            })?;
        bills.push(IssuedBill {
            payer: bill.payer.clone(),
            items,
            total,
        });
    }
    Ok(bills)
}
