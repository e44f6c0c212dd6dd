//! Draws a bundle's step graph as Mermaid or Graphviz DOT, for documentation.

use std::fmt::Write;

use super::model::{Definition, StepKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

fn step_label(definition: &Definition, step: &super::model::Step) -> String {
    let agency = definition
        .agency(&step.agency)
        .map_or(step.agency.as_str(), |agency| agency.name.zh.as_str());
    let mut label = format!("{}<br/>{} · {}", step.title.zh, step.id, agency);
    if let Some(limit) = step.time_limit {
        let _ = write!(label, "<br/>{limit}");
    }
    if step.opt_in {
        label.push_str("<br/>(opt-in)");
    }
    label
}

/// Renders the graph; returns the text only, so callers choose where it goes.
pub fn render_graph(definition: &Definition, format: GraphFormat) -> String {
    let mut out = String::new();
    match format {
        GraphFormat::Mermaid => {
            out.push_str("flowchart TD\n");
            for step in &definition.steps {
                let label = step_label(definition, step).replace('"', "'");
                let (open, close) = match step.kind {
                    StepKind::Payment => ("[/\"", "\"/]"),
                    StepKind::Task if step.choice.is_some() => ("{{\"", "\"}}"),
                    StepKind::Task => ("[\"", "\"]"),
                };
                let _ = writeln!(out, "    {}{open}{label}{close}", step.id);
            }
            for step in &definition.steps {
                for after in &step.after {
                    match &step.when {
                        Some(when) => {
                            let condition = when.replace('"', "'");
                            let _ = writeln!(out, "    {after} -->|\"{condition}\"| {}", step.id);
                        }
                        None => {
                            let _ = writeln!(out, "    {after} --> {}", step.id);
                        }
                    }
                }
                for target in &step.returns_to {
                    let _ = writeln!(out, "    {} -.->|return| {target}", step.id);
                }
            }
        }
        GraphFormat::Dot => {
            let _ = writeln!(out, "digraph \"{}\" {{", definition.id);
            out.push_str("    rankdir=TB;\n    node [shape=box, fontname=\"sans-serif\"];\n");
            for step in &definition.steps {
                let label = step_label(definition, step)
                    .replace('"', "\\\"")
                    .replace("<br/>", "\\n");
                let shape = match step.kind {
                    StepKind::Payment => "parallelogram",
                    StepKind::Task if step.choice.is_some() => "hexagon",
                    StepKind::Task => "box",
                };
                let _ = writeln!(
                    out,
                    "    \"{}\" [label=\"{label}\", shape={shape}];",
                    step.id
                );
            }
            for step in &definition.steps {
                for after in &step.after {
                    match &step.when {
                        Some(when) => {
                            let condition = when.replace('"', "\\\"");
                            let _ = writeln!(
                                out,
                                "    \"{after}\" -> \"{}\" [label=\"{condition}\"];",
                                step.id
                            );
                        }
                        None => {
                            let _ = writeln!(out, "    \"{after}\" -> \"{}\";", step.id);
                        }
                    }
                }
                for target in &step.returns_to {
                    let _ = writeln!(
                        out,
                        "    \"{}\" -> \"{target}\" [style=dashed, label=\"return\"];",
                        step.id
                    );
                }
            }
            out.push_str("}\n");
        }
    }
    out
}
