//! The step graph: `after` names known steps, no dependency cycles, some
//! step can start, and return targets are earlier steps. Choices are
//! checked from here, once the graph is sound.

use std::collections::{BTreeSet, HashMap};

use super::{Parser, Spans};
use crate::diagnostic::Diagnostic;
use crate::toml_reader::Located;
use crate::workflow::model::Definition;

impl Parser<'_> {
    /// Dependencies, cycles, choices, return targets and reachability.
    pub(super) fn check_graph(&mut self, definition: &mut Definition, spans: &Spans) {
        // Steps with other problems are still known by id, so that one
        // mistake does not also make every reference to the step "unknown".
        let ids: BTreeSet<String> = spans.step_ids.keys().cloned().collect();
        let unknown_step = |name: &Located<String>| -> Option<Diagnostic> {
            (!ids.contains(&name.value)).then(|| {
                Diagnostic::new(name.span.clone(), format!("unknown step `{}`", name.value))
            })
        };
        for step in &definition.steps {
            for after in &spans.after[&step.id] {
                if let Some(problem) = unknown_step(after) {
                    self.diagnostics.push(problem);
                } else if after.value == step.id {
                    self.error(
                        after.span.clone(),
                        format!("step `{}` cannot come after itself", step.id),
                    );
                }
            }
        }

        // Cycles: depth-first search, reporting each cycle once, in `after` order.
        let index: HashMap<&str, usize> = definition
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let edges: Vec<Vec<usize>> = definition
            .steps
            .iter()
            .enumerate()
            .map(|(own, s)| {
                // A step after itself is reported on its own, not as a cycle.
                s.after
                    .iter()
                    .filter_map(|a| index.get(a.as_str()).copied())
                    .filter(|&other| other != own)
                    .collect()
            })
            .collect();
        let mut in_cycle = vec![false; edges.len()];
        let mut state = vec![0u8; edges.len()]; // 0 new, 1 on the path, 2 done
        let mut path = Vec::new();
        let mut cycles = Vec::new();
        fn visit(
            node: usize,
            edges: &[Vec<usize>],
            state: &mut [u8],
            path: &mut Vec<usize>,
            cycles: &mut Vec<Vec<usize>>,
        ) {
            state[node] = 1;
            path.push(node);
            for &next in &edges[node] {
                match state[next] {
                    0 => visit(next, edges, state, path, cycles),
                    1 => {
                        let start = path.iter().position(|&n| n == next).expect("on the path");
                        cycles.push(path[start..].to_vec());
                    }
                    _ => {}
                }
            }
            path.pop();
            state[node] = 2;
        }
        for node in 0..edges.len() {
            if state[node] == 0 {
                visit(node, &edges, &mut state, &mut path, &mut cycles);
            }
        }
        for cycle in &cycles {
            for &node in cycle {
                in_cycle[node] = true;
            }
            // The path runs against the `after` arrows; print it in running order.
            let mut names: Vec<&str> = cycle
                .iter()
                .rev()
                .map(|&n| definition.steps[n].id.as_str())
                .collect();
            names.push(names[0]);
            let first = &definition.steps[cycle[0]].id;
            self.error(
                spans.step_ids[first].clone(),
                format!("dependency cycle: {}", names.join(" → ")),
            );
        }
        // Steps that wait on a cycle can never start.
        for (node, step) in definition.steps.iter().enumerate() {
            if in_cycle[node] {
                continue;
            }
            let mut stack = edges[node].clone();
            let mut seen = BTreeSet::new();
            let mut blocked = None;
            while let Some(next) = stack.pop() {
                if !seen.insert(next) {
                    continue;
                }
                if in_cycle[next] {
                    blocked = Some(next);
                    break;
                }
                stack.extend(&edges[next]);
            }
            if let Some(blocker) = blocked {
                self.error(
                    spans.step_ids[&step.id].clone(),
                    format!(
                        "step `{}` is unreachable: it waits on `{}`, which is part of a dependency cycle",
                        step.id, definition.steps[blocker].id
                    ),
                );
            }
        }
        if !cycles.is_empty() {
            return;
        }
        if !spans.after.is_empty() && spans.after.values().all(|after| !after.is_empty()) {
            if let Some(first) = definition.steps.first() {
                self.error(
                    spans.step_ids[&first.id].clone(),
                    "no step can start: every step waits on another",
                );
            }
        }

        // Return targets must be earlier steps.
        for step in &definition.steps {
            let ancestors = definition.ancestors(&step.id);
            for target in &spans.returns_to[&step.id] {
                if let Some(problem) = unknown_step(target) {
                    self.diagnostics.push(problem);
                } else if !ancestors.contains(&target.value.as_str()) {
                    self.error(
                        target.span.clone(),
                        format!(
                            "step `{}` cannot return to `{}`: a return target must be an earlier step (one this step waits on, directly or through others)",
                            step.id, target.value
                        ),
                    );
                }
            }
        }

        self.check_choices(definition, spans, &unknown_step);
    }
}
