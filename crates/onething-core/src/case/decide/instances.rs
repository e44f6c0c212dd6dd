//! Multi-instance steps (`for_each`): the list is evaluated once as the
//! step starts, one instance per item starts (all at once, or each when the
//! one before it is settled), and the step is settled when every instance
//! is: completed with the list of their outputs, or refused when none was
//! completed.

use serde_json::{Map, Value};

use super::inputs::to_json;
use super::Decision;
use crate::case::error::CaseError;
use crate::case::event::{Change, SkipReason};
use crate::case::state::StepState;
use crate::expression;
use crate::workflow::{ForEach, InstanceMode, Step};

impl Decision<'_> {
    /// Starts a multi-instance step: its list gives its instances; an empty
    /// list skips it.
    pub(super) fn start_instances(
        &mut self,
        step: &Step,
        for_each: &ForEach,
    ) -> Result<(), CaseError> {
        let items = self.for_each_items(step, for_each)?;
        if items.is_empty() {
            self.skip(
                &step.id,
                SkipReason::NoItems,
                Some(format!("`{}` gave an empty list", for_each.list)),
            );
            return Ok(());
        }
        // Every instance's inputs are tried before anything is recorded, so
        // that a sequential step never starts with a later item it cannot
        // give its data to.
        for (index, item) in items.iter().enumerate() {
            self.instance_inputs(step, Some((item, index)))?;
        }
        self.emit(Change::StepInstancesStarted {
            step: step.id.clone(),
            items,
        });
        self.start_due_instances(step)?;
        Ok(())
    }

    /// The elements of the step's list in this case, as JSON.
    fn for_each_items(&self, step: &Step, for_each: &ForEach) -> Result<Vec<Value>, CaseError> {
        let refuse = |reason: String| CaseError::ForEach {
            step: step.id.clone(),
            reason,
        };
        let program = expression::compiled(&for_each.list)
            .ok_or_else(|| refuse(format!("`{}` does not parse", for_each.list)))?;
        let value = self.bindings(step).evaluate(&program).map_err(|error| {
            refuse(format!(
                "`{}` could not be evaluated: {error}",
                for_each.list
            ))
        })?;
        match (&value, to_json(&value)) {
            (cel::Value::List(_), Some(Value::Array(items))) => Ok(items),
            (cel::Value::Null, _) => Ok(Vec::new()),
            _ => Err(refuse(format!(
                "`{}` gave {}, not a list",
                for_each.list,
                expression::describe_value(&value)
            ))),
        }
    }

    /// Starts the instances whose turn has come: every waiting one of a
    /// parallel step; of a sequential one, the first not settled, when it
    /// is waiting. Whether one started.
    fn start_due_instances(&mut self, step: &Step) -> Result<bool, CaseError> {
        let file = self.file();
        let instances: Vec<(usize, String, StepState, Value)> = file
            .instances_of(&step.id)
            .enumerate()
            .map(|(index, record)| {
                let item = record.item.clone().unwrap_or(Value::Null);
                (index, record.id.clone(), record.state, item)
            })
            .collect();
        let due: Vec<&(usize, String, StepState, Value)> = match step.for_each.as_ref() {
            Some(for_each) if for_each.instances == InstanceMode::Sequential => instances
                .iter()
                .find(|(_, _, state, _)| state.is_live())
                .filter(|(_, _, state, _)| *state == StepState::Waiting)
                .into_iter()
                .collect(),
            _ => instances
                .iter()
                .filter(|(_, _, state, _)| *state == StepState::Waiting)
                .collect(),
        };
        for (index, id, _, item) in &due {
            let inputs = self.instance_inputs(step, Some((item, *index)))?;
            // An instance sent back by its own agency goes on with its clock,
            // as a single step does.
            let activated = self.activation(step, id, inputs)?;
            self.emit(activated);
        }
        Ok(!due.is_empty())
    }

    /// Moves every running multi-instance step on: starts the instances
    /// whose turn has come and settles a step whose instances are all
    /// settled. Whether anything changed.
    pub(super) fn advance_instances(&mut self) -> Result<bool, CaseError> {
        let mut progressed = false;
        for step in &self.definition.steps {
            if step.for_each.is_none() {
                continue;
            }
            let record = self.file().step(&step.id).expect("seeded");
            if record.state != StepState::Active || !record.runs_instances() {
                continue;
            }
            progressed |= self.start_due_instances(step)?;
            let settled = self
                .file()
                .instances_of(&step.id)
                .all(|instance| !instance.state.is_live());
            if settled {
                self.join_instances(step);
                progressed = true;
            }
        }
        Ok(progressed)
    }

    /// Settles a step whose instances are all settled: completed, its
    /// outputs each the list of the completed instances' values in the
    /// order of the items; refused when no instance was completed.
    fn join_instances(&mut self, step: &Step) {
        let completed: Vec<&Value> = self
            .file()
            .instances_of(&step.id)
            .filter(|instance| instance.state == StepState::Completed)
            .filter_map(|instance| instance.outputs.as_ref())
            .collect();
        if completed.is_empty() {
            let reason = format!("no instance of step `{}` was completed", step.id);
            self.emit(Change::StepRefused {
                step: step.id.clone(),
                reason,
            });
            self.cancel_dependants(&step.id);
            return;
        }
        let outputs: Map<String, Value> = step
            .outputs
            .iter()
            .map(|output| {
                let values = completed
                    .iter()
                    .map(|outputs| outputs.get(&output.name).cloned().unwrap_or(Value::Null))
                    .collect();
                (output.name.clone(), Value::Array(values))
            })
            .collect();
        self.emit(Change::StepCompleted {
            step: step.id.clone(),
            outputs: Value::Object(outputs),
        });
    }

    /// The instances of a step recorded in this case, for messages.
    pub(super) fn instance_ids(&self, step: &str) -> Vec<String> {
        self.case
            .file()
            .map(|file| {
                file.instances_of(step)
                    .map(|instance| instance.id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
