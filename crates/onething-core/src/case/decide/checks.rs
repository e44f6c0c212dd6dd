//! The bundle's checks (`[[check]]`): each rule of a stage evaluated over
//! the form and outputs, a failing one reported beside every other problem
//! of the same command.

use super::Decision;
use crate::expression::{self, Bindings};
use crate::value_type::ValueProblem;
use crate::workflow::CheckStage;

impl Decision<'_> {
    /// Adds a problem `checks.ID` for every check of `stage` that applies
    /// and does not hold. A rule that cannot be evaluated fails too, unless
    /// the values it reads are already reported (`values_are_sound` false):
    /// then the problem with the value is the one to fix.
    pub(super) fn check_rules(
        &self,
        stage: &CheckStage,
        bindings: &Bindings,
        values_are_sound: bool,
        problems: &mut Vec<ValueProblem>,
    ) {
        let evaluate = |text: &str| {
            expression::compiled(text).and_then(|program| match bindings.evaluate(&program) {
                Ok(cel::Value::Bool(holds)) => Some(holds),
                _ => None,
            })
        };
        for check in self.definition.checks.iter().filter(|c| &c.stage == stage) {
            let applies = check.when.as_deref().map_or(Some(true), evaluate);
            let holds = match applies {
                Some(false) => continue,
                Some(true) => evaluate(&check.rule),
                None => None,
            };
            if holds == Some(true) || (holds.is_none() && !values_are_sound) {
                continue;
            }
            problems.push(ValueProblem {
                field: format!("checks.{}", check.id),
                message: format!("{} ({})", check.message.zh, check.message.en),
            });
        }
    }
}
