//! Supplements (补正): an agency asks the applicant for more and its step's
//! clock stops; the applicant supplies everything asked for (and any material
//! promised at opening) and the clock runs again.

use serde_json::{Map, Value};

use super::{forbidden, is_applicant_or_window, require_reason, Decision};
use crate::case::command::MaterialProvision;
use crate::case::error::CaseError;
use crate::case::event::{Change, ResumedStep};
use crate::case::state::{ClockStop, StepState};
use crate::value_type::{check_bounds, ValueProblem};

impl Decision<'_> {
    pub(super) fn request_supplement(
        &mut self,
        step: &str,
        items: &[String],
        reason: &str,
    ) -> Result<(), CaseError> {
        let step_definition = self.owned_running_step(step, "request a supplement", false)?;
        if !step_definition.supplements {
            return Err(CaseError::SupplementNotAllowed {
                step: step.to_string(),
            });
        }
        require_reason(reason)?;
        let items: Vec<String> = items
            .iter()
            .map(|item| item.trim().to_string())
            .filter(|item| !item.is_empty())
            .collect();
        if items.is_empty() {
            return Err(CaseError::NoSupplementItems);
        }
        self.emit(Change::SupplementRequested {
            step: step.to_string(),
            items,
            reason: reason.to_string(),
        });
        Ok(())
    }

    /// The applicant supplies `items` (by name) and `materials`: every paused
    /// step must get all it asked for, and resumes.
    pub(super) fn supplement(
        &mut self,
        items: &Map<String, Value>,
        materials: &[String],
    ) -> Result<(), CaseError> {
        if !is_applicant_or_window(self.actor()) {
            return Err(forbidden(
                self.actor(),
                "supplement",
                "supplements come from the applicant, directly or through the window",
            ));
        }
        let file = self.open_case()?;
        let out_of_bounds: Vec<ValueProblem> = items
            .iter()
            .filter_map(|(name, value)| check_bounds(&format!("items.{name}"), value))
            .collect();
        if !out_of_bounds.is_empty() {
            return Err(CaseError::InvalidSupplement {
                problems: out_of_bounds,
            });
        }
        let paused: Vec<_> = file
            .steps
            .iter()
            .filter(|step| step.state == StepState::Paused)
            .collect();
        if paused.is_empty() && materials.is_empty() {
            return Err(CaseError::NothingToSupplement);
        }
        let mut missing: Vec<String> = Vec::new();
        for step in &paused {
            for item in &step.requested_items {
                if !items.contains_key(item) && !materials.contains(item) && !missing.contains(item)
                {
                    missing.push(item.clone());
                }
            }
        }
        if !missing.is_empty() {
            return Err(CaseError::MissingSupplementItems { items: missing });
        }
        let not_promised: Vec<String> = materials
            .iter()
            .filter(|material| {
                let promised = file.materials.iter().any(|record| {
                    &record.material == *material
                        && matches!(record.provision, MaterialProvision::Promised { .. })
                });
                let requested = paused
                    .iter()
                    .any(|step| step.requested_items.contains(material));
                (!promised && !requested) || file.supplied_materials.contains(material)
            })
            .cloned()
            .collect();
        if !not_promised.is_empty() {
            return Err(CaseError::NotPromised {
                materials: not_promised,
            });
        }
        let mut resumed = Vec::new();
        for step in paused {
            let step_definition = self.step_definition(&step.id)?;
            let counted = self.resumed_deadline(step_definition, step, ClockStop::Applicant)?;
            resumed.push(ResumedStep {
                step: step.id.clone(),
                due: counted.due,
                warn_at: counted.warn_at,
                provisional_years: counted.provisional_years,
                statutory: counted.statutory,
            });
        }
        self.emit(Change::SupplementProvided {
            items: items.clone(),
            materials: materials.to_vec(),
            resumed,
        });
        Ok(())
    }
}
