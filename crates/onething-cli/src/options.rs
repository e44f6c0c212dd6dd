//! The options every subcommand shares (`--workflows`, `--database`,
//! `--now`), and opening the store they name.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use onething_store::{open_case_store, CaseStore};

use crate::workflow_commands::load;
use crate::Terminal;

/// The global options of the command line.
pub struct GlobalOptions<'a> {
    pub workflows: &'a Path,
    pub database: &'a str,
    pub now: DateTime<Utc>,
    /// Set when `--now` was given: the server then stamps every command with it.
    pub fixed_now: Option<DateTime<Utc>>,
}

pub async fn open_store(
    options: &GlobalOptions<'_>,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<CaseStore> {
    let catalog = load(options.workflows, terminal)?;
    let store = open_case_store(options.database, &catalog)
        .await
        .with_context(|| {
            format!(
                "opening {}",
                onething_store::database::redact(options.database)
            )
        })?;
    // Cases stored before the dashboard's figures existed get them once.
    let backfilled = onething_store::figures::backfill(&store).await?;
    if backfilled > 0 {
        writeln!(
            terminal.err,
            "note: the dashboard's figures were written for {backfilled} earlier cases"
        )?;
    }
    let calendars: Vec<_> = catalog.registry.calendars.values().collect();
    let pending = onething_store::calendars::pending_changes(store.database(), &calendars).await?;
    if !pending.is_empty() {
        writeln!(
            terminal.err,
            "warning: running deadlines are not yet revised for: {}; run `onething case revise-deadlines`",
            pending.join("; ")
        )?;
    }
    Ok(store)
}

/// Records in the access log of personal data that the command line showed
/// a case with its ID numbers unmasked (the OS user as the person).
pub async fn record_cli_read(store: &CaseStore, case_id: &str, what: &str) -> anyhow::Result<()> {
    let read = onething_store::access_log::PersonalDataRead {
        read_at: chrono::Utc::now(),
        client: "cli".into(),
        role: "operator".into(),
        agency: None,
        operator: std::env::var("USER").ok().filter(|user| !user.is_empty()),
        channel: "cli".into(),
        case_id: case_id.to_string(),
        what: what.to_string(),
    };
    onething_store::access_log::record(store.database(), &[read])
        .await
        .context("recording the read in the access log of personal data")?;
    Ok(())
}
