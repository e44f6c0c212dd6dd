//! `onething bench --seed-cases`: a large store made quickly, to measure the
//! command path over it. A few cases are opened by commands; the rest are
//! copies of their rows.

use anyhow::Context;
use chrono::{DateTime, Utc};
use onething_core::case::Action;
use onething_core::workflow::Definition;
use onething_store::{bench, CaseStore};
use serde_json::{json, Value};
use std::time::Instant;

use crate::bench_command::open_command;
use crate::Terminal;

/// Cases opened by commands before the copies are made of them.
const SEED_TEMPLATES: u64 = 20;

pub(crate) fn seeded_copies(result: &Value) -> u64 {
    result["seeded"]["copies"].as_u64().unwrap_or(0)
}

/// Fills the store up to `wanted` cases: opens [`SEED_TEMPLATES`] cases, then
/// copies their rows. Reports what the store held before and after.
pub(crate) async fn seed(
    store: &CaseStore,
    definition: &Definition,
    wanted: u64,
    at: DateTime<Utc>,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<Value> {
    let database = store.database();
    let before = bench::stored_cases(database).await?;
    if before >= wanted {
        return Ok(json!({"cases_before": before, "cases": before, "copies": 0}));
    }
    let run = format!("seed{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut templates = Vec::new();
    for number in 0..SEED_TEMPLATES.min(wanted - before) {
        let command = open_command(definition, &run, number, at);
        let case_id = match &command.action {
            Action::Open { case_id, .. } => case_id.clone(),
            _ => None.context("an opening command names its case")?,
        };
        store.execute(&case_id, command).await?;
        templates.push(case_id);
    }
    let started = Instant::now();
    let copies = bench::seed_copies(database, &templates, wanted, &mut |made| {
        if made % 200_000 < SEED_TEMPLATES {
            eprintln!("bench: {made} copies made");
        }
    })
    .await?;
    let cases = bench::stored_cases(database).await?;
    writeln!(
        terminal.err,
        "bench: the store held {before} cases; {} opened and {copies} copies of them made in {:.0} s: {cases} cases now",
        templates.len(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(json!({"cases_before": before, "cases": cases, "opened": templates.len(), "copies": copies}))
}
