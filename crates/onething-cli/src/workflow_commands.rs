//! `onething workflow …`: validate, list, show and graph bundle definitions.

use std::path::{Path, PathBuf};

use crate::Terminal;
use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use onething_core::workflow::{render_graph, CheckStage, Definition, GraphFormat};
use onething_store::workflow_files::{
    bundle_files, load_bundles, load_registry, Catalog, FileProblem,
};

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Check bundle files (or folders of them) and report every problem at once.
    Validate {
        /// Files or folders; the workflows folder when none is given.
        paths: Vec<PathBuf>,
    },
    /// List the bundles: every version with its period, whether it is in
    /// force today, and its title.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one bundle's parsed definition.
    Show {
        id: String,
        /// A version other than the one in force today.
        #[arg(long)]
        version: Option<u32>,
        /// Print the definition as JSON (the default prints a summary).
        #[arg(long)]
        json: bool,
    },
    /// Draw a bundle's step graph.
    Graph {
        id: String,
        /// A version other than the one in force today.
        #[arg(long)]
        version: Option<u32>,
        #[arg(long, value_enum, default_value_t = Format::Mermaid)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
}

fn report(problems: &[FileProblem], terminal: &mut Terminal<'_>) -> std::io::Result<()> {
    for problem in problems {
        writeln!(terminal.err, "{problem}")?;
    }
    Ok(())
}

pub fn load(folder: &Path, terminal: &mut Terminal<'_>) -> anyhow::Result<Catalog> {
    match Catalog::load(folder) {
        Ok(catalog) => Ok(catalog),
        Err(problems) => {
            report(&problems, terminal)?;
            bail!(
                "the workflows folder {} has {} problem(s); run `onething workflow validate`",
                folder.display(),
                problems.len()
            )
        }
    }
}

fn no_workflow(id: &str, version: Option<u32>, folder: &Path) -> String {
    format!(
        "no workflow `{id}`{} in {}",
        version.map(|v| format!(" v{v}")).unwrap_or_default(),
        folder.display()
    )
}

/// Whether a version is in force at `now`, on its calendar's local date.
fn in_force_at(
    catalog: &Catalog,
    definition: &Definition,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let today = catalog
        .registry
        .calendars
        .get(&definition.calendar)
        .map_or_else(|| now.date_naive(), |calendar| calendar.local_date(now));
    onething_core::case::in_force_on(definition, today)
}

/// The version asked for, or the one in force at `now`, or else the newest.
fn chosen<'a>(
    catalog: &'a Catalog,
    id: &str,
    version: Option<u32>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<&'a Definition> {
    match version {
        Some(version) => catalog
            .versions_of(id)
            .into_iter()
            .find(|definition| definition.version == version),
        None => catalog
            .versions_of(id)
            .into_iter()
            .find(|definition| in_force_at(catalog, definition, now))
            .or_else(|| catalog.latest(id)),
    }
}

pub fn run(
    folder: &Path,
    now: chrono::DateTime<chrono::Utc>,
    command: WorkflowCommand,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<u8> {
    match command {
        WorkflowCommand::Validate { paths } => {
            let paths = if paths.is_empty() {
                vec![folder.to_path_buf()]
            } else {
                paths
            };
            let registry = match load_registry(folder) {
                Ok(registry) => registry,
                Err(problems) => {
                    report(&problems, terminal)?;
                    writeln!(
                        terminal.err,
                        "{} problem(s) in the registry of {}",
                        problems.len(),
                        folder.display()
                    )?;
                    return Ok(1);
                }
            };
            let mut problems = Vec::new();
            let files = bundle_files(&paths, &mut problems);
            let mut loaded = load_bundles(&registry, &files);
            problems.append(&mut loaded.problems);
            for warning in &loaded.warnings {
                writeln!(terminal.err, "warning: {warning}")?;
            }
            let definitions = loaded.definitions;
            if problems.is_empty() {
                let steps: usize = definitions.iter().map(|d| d.steps.len()).sum();
                writeln!(
                    terminal.out,
                    "{} workflow(s) valid: {} steps, {} agencies, {} calendar(s)",
                    definitions.len(),
                    steps,
                    registry.agencies.len(),
                    registry.calendars.len()
                )?;
                Ok(0)
            } else {
                report(&problems, terminal)?;
                writeln!(terminal.err, "{} problem(s) found", problems.len())?;
                Ok(1)
            }
        }
        WorkflowCommand::List { json } => {
            let catalog = load(folder, terminal)?;
            let in_force = |definition: &Definition| in_force_at(&catalog, definition, now);
            if json {
                let list: Vec<_> = catalog
                    .versions
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "id": d.id, "version": d.version, "hash": d.hash,
                            "title": d.title,
                            "effective_from": d.effective_from,
                            "effective_until": d.effective_until,
                            "in_force": in_force(d),
                        })
                    })
                    .collect();
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                for definition in &catalog.versions {
                    writeln!(
                        terminal.out,
                        "{}\tv{}\t{}{}\t{} ({})",
                        definition.id,
                        definition.version,
                        onething_core::case::period(definition)
                            .split_once(' ')
                            .map_or("", |(_, period)| period),
                        if in_force(definition) {
                            "\tin force"
                        } else {
                            "\tnot in force"
                        },
                        definition.title.zh,
                        definition.title.en
                    )?;
                }
            }
            Ok(0)
        }
        WorkflowCommand::Show { id, version, json } => {
            let catalog = load(folder, terminal)?;
            let definition = chosen(&catalog, &id, version, now)
                .with_context(|| no_workflow(&id, version, folder))?;
            if json {
                writeln!(
                    terminal.out,
                    "{}",
                    serde_json::to_string_pretty(definition)?
                )?;
            } else {
                writeln!(
                    terminal.out,
                    "{} v{} — {} ({})",
                    definition.id, definition.version, definition.title.zh, definition.title.en
                )?;
                writeln!(terminal.out, "hash: {}", definition.hash)?;
                let ids = column_width(definition.steps.iter().map(|step| step.id.as_str()));
                let agencies =
                    column_width(definition.steps.iter().map(|step| step.agency.as_str()));
                for step in &definition.steps {
                    let after = if step.after.is_empty() {
                        String::from("start")
                    } else {
                        step.after.join(", ")
                    };
                    writeln!(
                        terminal.out,
                        "  {:<ids$}  {:<agencies$}  after: {after}",
                        step.id, step.agency
                    )?;
                }
                for check in &definition.checks {
                    let stage = match &check.stage {
                        CheckStage::Opening => String::from("on opening"),
                        CheckStage::AfterStep { step } => format!("after {step}"),
                    };
                    writeln!(
                        terminal.out,
                        "  check {}  {stage}: {}",
                        check.id, check.rule
                    )?;
                }
            }
            Ok(0)
        }
        WorkflowCommand::Graph {
            id,
            version,
            format,
        } => {
            let catalog = load(folder, terminal)?;
            let definition = chosen(&catalog, &id, version, now)
                .with_context(|| no_workflow(&id, version, folder))?;
            let format = match format {
                Format::Mermaid => GraphFormat::Mermaid,
                Format::Dot => GraphFormat::Dot,
            };
            write!(terminal.out, "{}", render_graph(definition, format))?;
            Ok(0)
        }
    }
}

/// The width of a table column: its longest cell, in characters.
pub(crate) fn column_width<'a>(cells: impl Iterator<Item = &'a str>) -> usize {
    cells.map(|cell| cell.chars().count()).max().unwrap_or(0)
}
