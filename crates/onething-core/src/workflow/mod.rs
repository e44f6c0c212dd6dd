//! The workflow language: a bundle's definition in TOML, parsed from text and
//! checked against the registries. See `docs/workflow-language.md`.

mod graph;
mod model;
mod parse;

pub use graph::{render_graph, GraphFormat};
pub use model::*;
pub use parse::parse_workflow;
