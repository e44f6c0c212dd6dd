//! Choices (`[[choice]]`): exactly one of their branches runs. Read with
//! the file; checked once every step is known, which also marks each branch
//! step with its choice.

use std::collections::{BTreeSet, HashMap};

use super::{Parser, Spans};
use crate::diagnostic::Diagnostic;
use crate::toml_reader::{Located, Table};
use crate::workflow::model::{Choice, Definition};

impl Parser<'_> {
    pub(super) fn choices(&mut self, tables: &[Table<'_, '_>], spans: &mut Spans) -> Vec<Choice> {
        let mut choice_ids = Vec::new();
        let mut choices = Vec::new();
        for table in tables {
            let d = &mut Vec::new();
            let id = table.required_string("id", d);
            let title = table.localized("title", true, d);
            let branches = table.strings("branches", d);
            if table.get("branches").is_none() {
                d.push(Diagnostic::new(table.span(), "missing key `branches`"));
            }
            table.finish(d);
            self.diagnostics.append(d);
            let (Some(id), Some(title)) = (id, title) else {
                continue;
            };
            if !self.name(&id, "choice id") {
                continue;
            }
            choice_ids.push(id.clone());
            spans.choice_ids.insert(id.value.clone(), id.span.clone());
            spans
                .choice_branches
                .insert(id.value.clone(), branches.clone());
            choices.push(Choice {
                id: id.value,
                title,
                branches: branches.into_iter().map(|b| b.value).collect(),
            });
        }
        self.duplicates(&choice_ids, "choice");
        choices
    }

    /// Branches: known, listed once, in one choice only, waiting on the same
    /// steps, not opt-in; the last has no `when` and no branch after one
    /// without a `when`.
    pub(super) fn check_choices(
        &mut self,
        definition: &mut Definition,
        spans: &Spans,
        unknown_step: &dyn Fn(&Located<String>) -> Option<Diagnostic>,
    ) {
        let mut branch_of: HashMap<String, String> = HashMap::new();
        for choice in &definition.choices {
            let branches = &spans.choice_branches[&choice.id];
            if branches.len() < 2 {
                self.error(
                    spans.choice_ids[&choice.id].clone(),
                    format!("choice `{}` needs at least two branches", choice.id),
                );
            }
            let mut first_after: Option<BTreeSet<&str>> = None;
            let mut unconditional: Option<&str> = None;
            for (position, branch) in branches.iter().enumerate() {
                if let Some(problem) = unknown_step(branch) {
                    self.diagnostics.push(problem);
                    continue;
                }
                if let Some(earlier) = unconditional {
                    self.error(
                        branch.span.clone(),
                        format!(
                            "branch `{}` is unreachable: branch `{earlier}` before it has no `when`, so it always runs instead",
                            branch.value
                        ),
                    );
                    continue;
                }
                if branches[..position]
                    .iter()
                    .any(|earlier| earlier.value == branch.value)
                {
                    self.error(
                        branch.span.clone(),
                        format!(
                            "step `{}` is listed twice in choice `{}`",
                            branch.value, choice.id
                        ),
                    );
                    continue;
                }
                if let Some(other) = branch_of.get(&branch.value) {
                    self.error(
                        branch.span.clone(),
                        format!(
                            "step `{}` is already a branch of choice `{other}`",
                            branch.value
                        ),
                    );
                    continue;
                }
                branch_of.insert(branch.value.clone(), choice.id.clone());
                let Some(step) = definition.step(&branch.value) else {
                    // Named, but dropped for its own problems (already reported).
                    continue;
                };
                let after: BTreeSet<&str> = step.after.iter().map(String::as_str).collect();
                match &first_after {
                    None => first_after = Some(after),
                    Some(first) if *first != after => self.error(
                        branch.span.clone(),
                        format!(
                            "the branches of choice `{}` must wait on the same steps; `{}` waits on [{}], the first branch on [{}]",
                            choice.id,
                            branch.value,
                            after.iter().copied().collect::<Vec<_>>().join(", "),
                            first.iter().copied().collect::<Vec<_>>().join(", ")
                        ),
                    ),
                    Some(_) => {}
                }
                if step.opt_in {
                    self.error(
                        branch.span.clone(),
                        format!(
                            "step `{}` is a branch of a choice and cannot also be `opt_in`",
                            branch.value
                        ),
                    );
                }
                let last = position + 1 == branches.len();
                if last && step.when.is_some() {
                    self.error(
                        spans.when[&branch.value].span.clone(),
                        format!(
                            "`{}` is the last branch of choice `{}`: it must have no `when`, so that it runs when no branch before it does and exactly one branch always runs",
                            branch.value, choice.id
                        ),
                    );
                }
                if !last && step.when.is_none() {
                    unconditional = Some(&branch.value);
                }
            }
        }
        for step in &mut definition.steps {
            step.choice = branch_of.get(&step.id).cloned();
        }
    }
}
