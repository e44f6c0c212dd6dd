//! Checks (`[[check]]`): named rules over the form and outputs, checked
//! when a case opens or when a step completes; and the conditions of
//! conditional `required` keys, checked over the form like any expression.

use std::collections::BTreeMap;

use cel::Value as CelValue;

use super::{cel_type, Parser, Spans};
use crate::expression::Scope;
use crate::toml_reader::{Located, Table};
use crate::value_type::Field;
use crate::workflow::model::{Check, CheckStage, Definition, StepKind};

impl Parser<'_> {
    pub(super) fn checks(&mut self, tables: &[Table<'_, '_>], spans: &mut Spans) -> Vec<Check> {
        let mut ids = Vec::new();
        let mut checks = Vec::new();
        for table in tables {
            let d = &mut Vec::new();
            let id = table.required_string("id", d);
            let after = table.string("after", d);
            let when = table.string("when", d);
            let rule = table.required_string("rule", d);
            let message = table.localized("message", true, d);
            table.finish(d);
            self.diagnostics.append(d);
            let Some(id) = id else { continue };
            if !self.name(&id, "check id") {
                continue;
            }
            ids.push(id.clone());
            let (Some(rule), Some(message)) = (rule, message) else {
                continue;
            };
            if let Some(after) = &after {
                spans.check_after.insert(id.value.clone(), after.clone());
            }
            if let Some(when) = &when {
                spans.check_when.insert(id.value.clone(), when.clone());
            }
            spans.check_rule.insert(id.value.clone(), rule.clone());
            checks.push(Check {
                id: id.value,
                stage: match after {
                    Some(after) => CheckStage::AfterStep { step: after.value },
                    None => CheckStage::Opening,
                },
                when: when.map(|when| when.value),
                rule: rule.value,
                message,
            });
        }
        self.duplicates(&ids, "check");
        checks
    }

    /// Each conditional `required` is a condition over the form; each
    /// check's `when` and `rule` are conditions over the form and, after a
    /// step, the outputs of that step and of every step before it.
    pub(super) fn check_requirements_and_checks(&mut self, definition: &Definition, spans: &Spans) {
        let all_steps: Vec<&str> = definition.steps.iter().map(|s| s.id.as_str()).collect();
        let form_scope = Scope {
            form: &definition.form,
            earlier_steps: BTreeMap::new(),
            all_steps: all_steps.clone(),
            item: None,
        };
        for (owner, condition) in &spans.required_conditions {
            self.condition(
                condition,
                &form_scope,
                &format!("the `required` of {owner}"),
            );
        }
        for check in &definition.checks {
            let scope = match &check.stage {
                CheckStage::Opening => Scope {
                    form: &definition.form,
                    earlier_steps: BTreeMap::new(),
                    all_steps: all_steps.clone(),
                    item: None,
                },
                CheckStage::AfterStep { step } => {
                    let Some(completed) = definition.step(step) else {
                        self.error(
                            spans.check_after[&check.id].span.clone(),
                            format!(
                                "check `{}` is after unknown step `{step}` (steps: {})",
                                check.id,
                                all_steps.join(", ")
                            ),
                        );
                        continue;
                    };
                    // A payment completes when its bills are paid, with no
                    // command that a failing check could refuse.
                    if completed.kind == StepKind::Payment {
                        self.error(
                            spans.check_after[&check.id].span.clone(),
                            format!(
                                "check `{}` is after payment step `{step}`, which completes when its bills are paid: check after a task step",
                                check.id
                            ),
                        );
                        continue;
                    }
                    let mut earlier: BTreeMap<&str, &[Field]> = definition
                        .ancestors(step)
                        .into_iter()
                        .filter_map(|id| definition.step(id).map(|s| (id, s.outputs_seen_later())))
                        .collect();
                    earlier.insert(completed.id.as_str(), completed.outputs.as_slice());
                    Scope {
                        form: &definition.form,
                        earlier_steps: earlier,
                        all_steps: all_steps.clone(),
                        item: None,
                    }
                }
            };
            if let Some(when) = spans.check_when.get(&check.id) {
                self.condition(when, &scope, &format!("the `when` of check `{}`", check.id));
            }
            let rule = &spans.check_rule[&check.id];
            self.condition(rule, &scope, &format!("the `rule` of check `{}`", check.id));
        }
    }

    /// Checks a condition and that it gives true or false.
    fn condition(&mut self, condition: &Located<String>, scope: &Scope<'_>, what: &str) {
        if let Some(value) = self.check_expression(condition, scope) {
            if !matches!(value, CelValue::Bool(_)) {
                self.error(
                    condition.span.clone(),
                    format!(
                        "{what} must be true or false, this gives {}",
                        cel_type(&value)
                    ),
                );
            }
        }
    }
}
