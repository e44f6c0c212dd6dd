//! Materials (`[[material]]`): where each comes from and whether it may be
//! promised or replaced by a commitment; checked against the steps that
//! produce and use them.

use super::{Parser, Spans};
use crate::toml_reader::{Located, Table};
use crate::workflow::model::{Definition, Material, MaterialSource};

impl Parser<'_> {
    pub(super) fn material(
        &mut self,
        table: &Table<'_, '_>,
        ids: &mut Vec<Located<String>>,
        spans: &mut Spans,
    ) -> Option<Material> {
        let d = &mut Vec::new();
        let id = table.required_string("id", d);
        let name = table.localized("name", true, d);
        let source = table.required_string("source", d);
        let step = table.string("step", d);
        let required = table.boolean_or_string("required", d);
        let deficiency_allowed = table.boolean("deficiency_allowed", d).unwrap_or(false);
        let commitment_allowed = table.boolean("commitment_allowed", d).unwrap_or(false);
        table.finish(d);
        self.diagnostics.append(d);
        let source = source.and_then(|source| match source.value.as_str() {
            "applicant" => Some(MaterialSource::Applicant),
            "e_licence" => Some(MaterialSource::ELicence),
            "step" => match &step {
                Some(step) => Some(MaterialSource::Step {
                    step: step.value.clone(),
                }),
                None => {
                    self.error(
                        source.span.clone(),
                        "a material with `source = \"step\"` needs `step`, the step that produces it",
                    );
                    None
                }
            },
            other => {
                self.error(
                    source.span.clone(),
                    format!(
                        "unknown material source `{other}` (expected applicant, e_licence or step)"
                    ),
                );
                None
            }
        });
        if let (Some(step), Some(source)) = (&step, &source) {
            if !matches!(source, MaterialSource::Step { .. }) {
                self.error(
                    step.span.clone(),
                    "`step` only goes with `source = \"step\"`",
                );
            }
        }
        // E-licence data may be missing for a citizen (registered in another
        // province), so it may be promised or replaced by a commitment; what an
        // earlier step produces never comes from the applicant.
        if matches!(source, Some(MaterialSource::Step { .. })) {
            for flag in ["deficiency_allowed", "commitment_allowed"] {
                if let Some(span) = table.key_span(flag) {
                    self.error(
                        span,
                        format!("`{flag}` cannot go with `source = \"step\"`: an earlier step produces this material, not the applicant"),
                    );
                }
            }
        }
        let owner = format!(
            "material `{}`",
            id.as_ref().map_or("", |id| id.value.as_str())
        );
        let required = self.requirement(required, &owner, Some(&mut spans.required_conditions));
        let id = id?;
        self.name(&id, "material id");
        ids.push(id.clone());
        if let Some(step) = step {
            spans.material_steps.insert(id.value.clone(), step.span);
        }
        Some(Material {
            id: id.value,
            name: name?,
            source: source?,
            required,
            deficiency_allowed,
            commitment_allowed,
        })
    }

    pub(super) fn check_materials(&mut self, definition: &Definition, spans: &Spans) {
        let material_ids: Vec<&str> = definition.materials.iter().map(|m| m.id.as_str()).collect();
        for material in &definition.materials {
            if let MaterialSource::Step { step } = &material.source {
                if !spans.step_ids.contains_key(step) {
                    self.error(
                        spans.material_steps[&material.id].clone(),
                        format!("unknown step `{step}`"),
                    );
                }
            }
        }
        for step in &definition.steps {
            let ancestors = definition.ancestors(&step.id);
            for used in &spans.uses[&step.id] {
                let Some(material) = definition.materials.iter().find(|m| m.id == used.value)
                else {
                    self.error(
                        used.span.clone(),
                        format!(
                            "unknown material `{}` (materials: {})",
                            used.value,
                            material_ids.join(", ")
                        ),
                    );
                    continue;
                };
                if let MaterialSource::Step { step: producer } = &material.source {
                    if definition.step(producer).is_some()
                        && !ancestors.contains(&producer.as_str())
                    {
                        self.error(
                            used.span.clone(),
                            format!(
                                "material `{}` is produced by step `{producer}`, which does not come before step `{}`",
                                used.value, step.id
                            ),
                        );
                    }
                }
            }
        }
    }
}
