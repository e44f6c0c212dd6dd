//! Opening a case: who may open one, and the application checked in full
//! (form, materials, chosen services, bills) so that every problem is
//! reported at once.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{forbidden, Decision};
use crate::case::command::{Actor, Channel, MaterialDeclaration, MaterialProvision};
use crate::case::error::CaseError;
use crate::case::event::{Change, MaterialRecord, StepSeed};
use crate::expression::Bindings;
use crate::value_type::{check_object_on, normalise_identities, ValueProblem};
use crate::workflow::{CheckStage, Material};

impl Decision<'_> {
    pub(super) fn open(
        &mut self,
        case_id: &str,
        form: &Value,
        materials: &[MaterialDeclaration],
        opted_in: &[String],
        channel: Channel,
    ) -> Result<(), CaseError> {
        if self.case.file().is_some() {
            return Err(CaseError::AlreadyOpened);
        }
        let actor = self.actor();
        let may_open = match actor {
            Actor::Applicant { .. } => true,
            Actor::Agency { agency, .. } => {
                actor.is_window()
                    || self
                        .definition
                        .steps
                        .iter()
                        .any(|step| step.after.is_empty() && &step.agency == agency)
            }
            Actor::System => false,
        };
        if !may_open {
            return Err(forbidden(
                actor,
                "open",
                "cases are opened by the comprehensive window, the applicant, or an agency that owns a first step",
            ));
        }
        let mut form = form.clone();
        normalise_identities(&self.definition.form, &mut form);
        // Counted before the application is checked: a promised material
        // may not be due after the case itself.
        let promise = self.promise(self.now())?;
        let materials = self.check_application(&form, materials, opted_in, promise.due)?;
        self.emit(Change::CaseOpened {
            case_id: case_id.to_string(),
            workflow: self.definition.id.clone(),
            version: self.definition.version,
            hash: self.definition.hash.clone(),
            channel,
            form,
            materials,
            opted_in: opted_in.to_vec(),
            steps: self
                .definition
                .steps
                .iter()
                .map(|step| StepSeed {
                    id: step.id.clone(),
                    agency: step.agency.clone(),
                })
                .collect(),
            promised_by: promise.due,
            promise_provisional_years: promise.provisional_years,
        });
        self.advance()
    }

    fn check_application(
        &self,
        form: &Value,
        declarations: &[MaterialDeclaration],
        opted_in: &[String],
        promised_by: Option<DateTime<Utc>>,
    ) -> Result<Vec<MaterialRecord>, CaseError> {
        let mut problems: Vec<ValueProblem> =
            check_object_on(&self.definition.form, form, Some(self.today()))
                .into_iter()
                .map(|problem| ValueProblem {
                    field: format!("form.{}", problem.field),
                    message: problem.message,
                })
                .collect();
        let form_is_sound = problems.is_empty();
        let records = self.check_materials(form, declarations, promised_by, &mut problems);
        self.check_opted_in(opted_in, &mut problems);
        let bindings = Bindings::new(&self.definition.form, form).on(Some(self.today()));
        self.check_rules(
            &CheckStage::Opening,
            &bindings,
            form_is_sound,
            &mut problems,
        );
        if form_is_sound {
            self.check_bills_computable(form, &mut problems);
        }
        if problems.is_empty() {
            Ok(records)
        } else {
            Err(CaseError::InvalidApplication { problems })
        }
    }

    /// The record of every material, declared or shared; what is wrong with
    /// the declarations goes to `problems`. A promised material must come
    /// before `promised_by`, the case's own promised date.
    fn check_materials(
        &self,
        form: &Value,
        declarations: &[MaterialDeclaration],
        promised_by: Option<DateTime<Utc>>,
        problems: &mut Vec<ValueProblem>,
    ) -> Vec<MaterialRecord> {
        let mut material_problem = |material: &str, message: String| {
            problems.push(ValueProblem {
                field: format!("materials.{material}"),
                message,
            })
        };
        let today = self.today();
        let required = |material: &Material| {
            material
                .required
                .holds_for(&self.definition.form, form, Some(today))
        };
        let mut records = Vec::new();
        let mut seen = BTreeSet::new();
        for declaration in declarations {
            let Some(material) = self
                .definition
                .materials
                .iter()
                .find(|m| m.id == declaration.material)
            else {
                let known: Vec<&str> = self
                    .definition
                    .materials
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect();
                material_problem(
                    &declaration.material,
                    format!(
                        "is not a material of this bundle (known: {})",
                        known.join(", ")
                    ),
                );
                continue;
            };
            if !seen.insert(declaration.material.as_str()) {
                material_problem(&declaration.material, "is declared twice".into());
                continue;
            }
            match &declaration.provision {
                MaterialProvision::Promised { deadline } => {
                    if !material.deficiency_allowed {
                        material_problem(&material.id, "cannot be promised for later: accepting with deficiency (容缺受理) is not allowed for it".into());
                    } else if *deadline <= self.now() {
                        material_problem(
                            &material.id,
                            format!("the promised deadline {deadline} is not in the future"),
                        );
                    } else if promised_by.is_some_and(|limit| *deadline > limit) {
                        material_problem(&material.id, format!("the promised deadline {deadline} is after the bundle's promised time limit"));
                    }
                }
                MaterialProvision::Commitment if !material.commitment_allowed => {
                    material_problem(
                        &material.id,
                        "cannot be replaced by a commitment (告知承诺) for this bundle".into(),
                    );
                }
                MaterialProvision::Waived if required(material) => {
                    material_problem(
                        &material.id,
                        format!(
                            "is required{} and cannot be waived",
                            material.required.describe()
                        ),
                    );
                }
                MaterialProvision::Shared if !material.source.is_shared() => {
                    material_problem(
                        &material.id,
                        "is submitted by the applicant; it cannot be shared".into(),
                    );
                }
                _ => {}
            }
            records.push(MaterialRecord {
                material: material.id.clone(),
                provision: declaration.provision.clone(),
                from_applicant: declaration.provision == MaterialProvision::Submitted,
            });
        }
        for material in &self.definition.materials {
            if seen.contains(material.id.as_str()) {
                continue;
            }
            if material.source.is_shared() {
                records.push(MaterialRecord {
                    material: material.id.clone(),
                    provision: MaterialProvision::Shared,
                    from_applicant: false,
                });
            } else if required(material) {
                material_problem(
                    &material.id,
                    format!(
                        "{} ({}) is missing{}",
                        material.name.zh,
                        material.name.en,
                        material.required.describe()
                    ),
                );
            }
        }
        records
    }

    /// Every chosen service must be a step the bundle lets the applicant choose.
    fn check_opted_in(&self, opted_in: &[String], problems: &mut Vec<ValueProblem>) {
        let optional: Vec<&str> = self
            .definition
            .steps
            .iter()
            .filter(|step| step.opt_in)
            .map(|step| step.id.as_str())
            .collect();
        for step in opted_in {
            if !optional.contains(&step.as_str()) {
                problems.push(ValueProblem {
                    field: "opted_in".into(),
                    message: format!(
                        "`{step}` is not a service that can be chosen (choices: {})",
                        if optional.is_empty() {
                            "none".to_string()
                        } else {
                            optional.join(", ")
                        }
                    ),
                });
            }
        }
    }
}
