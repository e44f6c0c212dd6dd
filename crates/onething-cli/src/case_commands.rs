//! `onething case …`: the operator's tool on the store itself. Each command
//! becomes one case command; refusals print every reason and store nothing.

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use onething_core::case::{
    case_id_for, local_time, view, Action, Actor, CaseCommand, Channel, Disclosure,
    MaterialDeclaration,
};
use onething_store::views::{self, CaseFilter};
use onething_store::{CaseStore, CommandError, CommandOutcome};
use serde_json::Value;

use crate::case_arguments::{read_json, Acting, CaseCommandLine, ChannelArgument};
use crate::case_output::{
    input_lines, limit_flags, materials_line, print_refusal, provisional_flag, report,
    savings_lines, task_limit_flags,
};
use crate::options::{open_store, record_cli_read, GlobalOptions};
use crate::workflow_commands::column_width;
use crate::Terminal;

fn actor(text: &str) -> anyhow::Result<Actor> {
    Actor::parse(text).ok_or_else(|| {
        anyhow!("`{text}` is not an actor: write AGENCY[/OPERATOR] or applicant[/ID]")
    })
}

fn new_command_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn execute(
    store: &CaseStore,
    case_id: &str,
    command: CaseCommand,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<Result<CommandOutcome, u8>> {
    match store.execute(case_id, command).await {
        Ok(outcome) => Ok(Ok(outcome)),
        Err(CommandError::Refused(error)) => {
            print_refusal(&error, terminal)?;
            Ok(Err(1))
        }
        Err(CommandError::Contended { attempts }) => {
            writeln!(
                terminal.err,
                "not applied: the case kept changing ({attempts} attempts); try again"
            )?;
            Ok(Err(3))
        }
        Err(CommandError::Store(error)) => Err(error.into()),
    }
}

pub async fn run(
    options: GlobalOptions<'_>,
    command: CaseCommandLine,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<u8> {
    let at = options.now;
    let simple = |acting: &Acting, action: Action| -> anyhow::Result<CaseCommand> {
        Ok(CaseCommand {
            command_id: acting.command_id.clone().unwrap_or_else(new_command_id),
            actor: actor(&acting.actor)?,
            at,
            action,
        })
    };
    let (case_id, command) = match command {
        CaseCommandLine::Open {
            bundle,
            form,
            materials,
            opted_in,
            channel,
            acting,
            json,
        } => {
            let form = read_json(&form, "the form")?;
            let materials: Vec<MaterialDeclaration> = match materials {
                Some(source) => {
                    let value = read_json(&source, "the materials")?;
                    serde_json::from_value(value).context("the materials must be a list of {\"material\": ID, \"status\": submitted|shared|promised|commitment|waived, \"deadline\": RFC3339 for promised}")?
                }
                None => Vec::new(),
            };
            let channel = match channel {
                ChannelArgument::Window => Channel::Window,
                ChannelArgument::Online => Channel::Online,
                ChannelArgument::SelfService => Channel::SelfService,
                ChannelArgument::Proxy => Channel::Proxy,
            };
            let command_id = acting.command_id.clone().unwrap_or_else(new_command_id);
            let case_id = case_id_for(&command_id);
            let command = CaseCommand {
                command_id,
                actor: actor(&acting.actor)?,
                at,
                action: Action::Open {
                    case_id: case_id.clone(),
                    workflow: bundle,
                    form,
                    materials,
                    opted_in,
                    channel,
                },
            };
            let store = open_store(&options, terminal).await?;
            let outcome = match execute(&store, &case_id, command, terminal).await? {
                Ok(outcome) => outcome,
                Err(code) => return Ok(code),
            };
            report(&outcome, terminal)?;
            if json {
                writeln!(terminal.out, "{}", serde_json::json!({ "id": case_id }))?;
            } else {
                writeln!(terminal.out, "{case_id}")?;
            }
            return Ok(0);
        }
        CaseCommandLine::Complete {
            case,
            step,
            data,
            acting,
        } => {
            let outputs = match data {
                Some(source) => read_json(&source, "the outputs")?,
                None => Value::Object(Default::default()),
            };
            (case, simple(&acting, Action::Complete { step, outputs })?)
        }
        CaseCommandLine::Return {
            case,
            step,
            to,
            reason,
            acting,
        } => (case, simple(&acting, Action::Return { step, to, reason })?),
        CaseCommandLine::Refuse {
            case,
            step,
            reason,
            acting,
        } => (case, simple(&acting, Action::Refuse { step, reason })?),
        CaseCommandLine::RequestSupplement {
            case,
            step,
            items,
            reason,
            acting,
        } => (
            case,
            simple(
                &acting,
                Action::RequestSupplement {
                    step,
                    items,
                    reason,
                },
            )?,
        ),
        CaseCommandLine::Extend {
            case,
            step,
            length,
            reason,
            acting,
        } => (
            case,
            simple(
                &acting,
                Action::Extend {
                    step,
                    length,
                    reason,
                },
            )?,
        ),
        CaseCommandLine::DecideExtension {
            case,
            step,
            approve,
            deny: _,
            reason,
            acting,
        } => (
            case,
            simple(
                &acting,
                Action::DecideExtension {
                    step,
                    approve,
                    reason,
                },
            )?,
        ),
        CaseCommandLine::Suspend {
            case,
            step,
            procedure,
            reason,
            acting,
        } => (
            case,
            simple(
                &acting,
                Action::Suspend {
                    step,
                    procedure,
                    reason,
                },
            )?,
        ),
        line @ (CaseCommandLine::Dispatch { .. }
        | CaseCommandLine::SendBack { .. }
        | CaseCommandLine::Report { .. }) => {
            let (case, acting, action) = line.dispatch_action()?;
            (case, simple(&acting, action)?)
        }
        CaseCommandLine::Resume { case, step, acting } => {
            (case, simple(&acting, Action::Resume { step })?)
        }
        CaseCommandLine::Supplement { case, data, acting } => {
            let data = read_json(&data, "the supplement")?;
            let items = data
                .get("items")
                .cloned()
                .unwrap_or(Value::Object(Default::default()));
            let Value::Object(items) = items else {
                bail!("`items` in the supplement must be an object of named values");
            };
            let materials: Vec<String> = match data.get("materials") {
                Some(value) => serde_json::from_value(value.clone())
                    .context("`materials` must be a list of material ids")?,
                None => Vec::new(),
            };
            (
                case,
                simple(&acting, Action::Supplement { items, materials })?,
            )
        }
        CaseCommandLine::Pay {
            case,
            payer,
            amount,
            receipt,
            acting,
        } => (
            case,
            simple(
                &acting,
                Action::Pay {
                    payer,
                    amount,
                    receipt,
                },
            )?,
        ),
        CaseCommandLine::Withdraw {
            case,
            reason,
            acting,
        } => (case, simple(&acting, Action::Withdraw { reason })?),
        CaseCommandLine::Rate {
            case,
            score,
            comment,
            acting,
        } => (
            case,
            simple(
                &acting,
                Action::Rate {
                    score,
                    comment,
                    aspects: Default::default(),
                },
            )?,
        ),
        CaseCommandLine::ReviseDeadlines { json } => {
            let store = open_store(&options, terminal).await?;
            let calendars = store.library().calendars();
            let calendars: Vec<_> = calendars.iter().map(AsRef::as_ref).collect();
            let reasons =
                onething_store::calendars::pending_changes(store.database(), &calendars).await?;
            let report = if reasons.is_empty() {
                onething_store::calendars::RevisionReport::default()
            } else {
                let run_id = format!(
                    "{}-{}",
                    at.timestamp_millis(),
                    uuid::Uuid::new_v4().simple()
                );
                onething_store::calendars::revise_deadlines(&store, reasons, at, &run_id).await?
            };
            if json {
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else if report.reasons.is_empty() {
                writeln!(
                    terminal.out,
                    "the calendars are as the running deadlines were counted on: nothing to revise"
                )?;
            } else {
                for reason in &report.reasons {
                    writeln!(terminal.out, "{reason}")?;
                }
                for revised in &report.revised {
                    writeln!(terminal.out, "  revised {revised}")?;
                }
                for failed in &report.failed {
                    writeln!(terminal.err, "  not revised {failed}")?;
                }
                writeln!(
                    terminal.out,
                    "{} open case(s) checked, {} step(s) revised (correlation id {})",
                    report.cases,
                    report.revised.len(),
                    report.correlation_id
                )?;
            }
            return Ok(u8::from(!report.failed.is_empty()));
        }
        CaseCommandLine::Tick { now } => {
            let now = match now {
                Some(text) => DateTime::parse_from_rfc3339(&text)
                    .with_context(|| format!("`{text}` is not an RFC 3339 time"))?
                    .with_timezone(&Utc),
                None => at,
            };
            let store = open_store(&options, terminal).await?;
            let mut changed = 0;
            let mut checked = 0;
            for case_id in views::open_case_ids(store.database()).await? {
                checked += 1;
                let command = CaseCommand {
                    command_id: format!("deadline-check:{}:{case_id}", now.to_rfc3339()),
                    actor: Actor::System,
                    at: now,
                    action: Action::CheckDeadlines,
                };
                if let Ok(outcome) = execute(&store, &case_id, command, terminal).await? {
                    changed += outcome.appended.len();
                    report(&outcome, terminal)?;
                }
            }
            writeln!(
                terminal.out,
                "{checked} open case(s) checked, {changed} event(s) recorded"
            )?;
            return Ok(0);
        }
        CaseCommandLine::History { case, json } => {
            let store = open_store(&options, terminal).await?;
            let events = store.events(&case).await?;
            if events.is_empty() {
                writeln!(terminal.err, "no case `{case}`")?;
                return Ok(1);
            }
            record_cli_read(&store, &case, "history").await?;
            let mut replayed = onething_core::case::Case::default();
            let mut entries = Vec::new();
            for stored in &events {
                replayed.apply_event(stored.event.clone());
                let definition = replayed
                    .file()
                    .and_then(|file| store.library().by_hash(&file.hash));
                let calendar = definition
                    .as_ref()
                    .and_then(|d| store.library().calendar(&d.calendar));
                let words = onething_core::case::describe(
                    &stored.event.change,
                    definition.as_deref(),
                    calendar.as_deref(),
                );
                let metadata = &stored.metadata;
                if json {
                    entries.push(serde_json::json!({
                        "sequence": stored.sequence,
                        "type": stored.event.change.name(),
                        "recorded_at": metadata.recorded_at,
                        "at": stored.event.at,
                        "actor": metadata.actor,
                        "role": metadata.role,
                        "channel": metadata.channel,
                        "command_id": metadata.command_id,
                        "correlation_id": metadata.correlation_id,
                        "event_id": metadata.event_id,
                        "words": words,
                        "payload": stored.event,
                        "hash": metadata.hash,
                        "prev_hash": metadata.prev_hash,
                    }));
                } else {
                    writeln!(
                        terminal.out,
                        "#{:<3} {}  {:<22} {}\n      {}\n      {}",
                        stored.sequence,
                        local_time(stored.event.at, calendar.as_deref(), "%Y-%m-%d %H:%M"),
                        metadata.actor,
                        words.zh,
                        words.en,
                        metadata.hash,
                    )?;
                }
            }
            if json {
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&entries)?)?;
            }
            return Ok(0);
        }
        CaseCommandLine::Show { case, at, json } => {
            let store = open_store(&options, terminal).await?;
            let loaded = match at {
                Some(sequence) => store.load_at(&case, sequence).await?,
                None => store.load(&case).await?,
            };
            let definition = loaded
                .file()
                .and_then(|file| store.library().by_hash(&file.hash));
            let calendar = definition
                .as_ref()
                .and_then(|d| store.library().calendar(&d.calendar));
            let local =
                |time: DateTime<Utc>| local_time(time, calendar.as_deref(), "%Y-%m-%d %H:%M");
            let Some(shown) = view(&loaded, definition.as_deref(), Disclosure::Full) else {
                writeln!(terminal.err, "no case `{case}`")?;
                return Ok(1);
            };
            record_cli_read(&store, &case, "show").await?;
            if json {
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&shown)?)?;
            } else {
                writeln!(
                    terminal.out,
                    "{} {} v{} — {} (event {})",
                    shown.id, shown.workflow, shown.version, shown.status, shown.sequence
                )?;
                if let Some(by) = shown.promised_by {
                    let provisional = if shown.promise_provisional_years.is_empty() {
                        String::new()
                    } else {
                        provisional_flag(&shown.promise_provisional_years)
                    };
                    writeln!(terminal.out, "  promised by {}{provisional}", local(by))?;
                }
                let ids = column_width(shown.steps.iter().map(|step| step.id.as_str()));
                let agencies = column_width(shown.steps.iter().map(|step| step.agency.as_str()));
                let states = column_width(shown.steps.iter().map(|step| step.state.name()));
                for step in &shown.steps {
                    let due = step.due.map(local).unwrap_or_default();
                    let mut flags = match (step.warned, step.overdue) {
                        (_, true) => " OVERDUE",
                        (true, false) => " warned",
                        _ => "",
                    }
                    .to_string();
                    if step.provisional {
                        flags.push_str(&provisional_flag(&step.provisional_years));
                    }
                    flags.push_str(&limit_flags(step, local));
                    let line = format!(
                        "  {:<ids$}  {:<agencies$}  {:<states$}  {due}{flags}",
                        step.id,
                        step.agency,
                        step.state.name()
                    );
                    writeln!(terminal.out, "{}", line.trim_end())?;
                    for input in input_lines(&step.inputs, "      ") {
                        writeln!(terminal.out, "{input}")?;
                    }
                }
                for payment in &shown.payments {
                    writeln!(
                        terminal.out,
                        "  bill {} {}: {} fen{}",
                        payment.step,
                        payment.payer,
                        payment.total,
                        if payment.paid { " (paid)" } else { "" }
                    )?;
                }
            }
            return Ok(0);
        }
        CaseCommandLine::List {
            status,
            bundle,
            agency,
            involved,
            overdue,
            json,
        } => {
            let store = open_store(&options, terminal).await?;
            let filter = CaseFilter {
                status,
                workflow: bundle,
                agency,
                workflows: None,
                overdue_only: overdue,
                opened_from: None,
                opened_to: None,
                limit: None,
                offset: 0,
                ..CaseFilter::default()
            };
            let filter = if involved {
                filter.involving(store.library())
            } else {
                filter
            };
            let cases = views::list_cases(store.database(), &filter).await?;
            if json {
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&cases)?)?;
            } else {
                for case in &cases {
                    let active: Vec<&str> =
                        case.open_tasks().map(|step| step.id.as_str()).collect();
                    writeln!(
                        terminal.out,
                        "{}\t{}\t{}\t{}\t{}",
                        case.id,
                        case.workflow,
                        case.status,
                        case.applicant.as_deref().unwrap_or("-"),
                        active.join(",")
                    )?;
                }
            }
            return Ok(0);
        }
        CaseCommandLine::Stats { bundle, json } => {
            let store = open_store(&options, terminal).await?;
            let Some(definition) = store.library().current_at(&bundle, at) else {
                writeln!(terminal.err, "no workflow `{bundle}`")?;
                return Ok(1);
            };
            let filter = CaseFilter {
                workflow: Some(bundle.clone()),
                ..CaseFilter::default()
            };
            let cases = views::list_cases(store.database(), &filter).await?;
            let calendar = store.library().calendar(&definition.calendar);
            let figures =
                onething_core::case::statistics(&cases, Some(&definition), calendar.as_deref());
            if json {
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&figures)?)?;
            } else {
                let percent = |share: Option<f64>| {
                    share.map_or("-".to_string(), |s| format!("{:.1}%", s * 100.0))
                };
                writeln!(
                    terminal.out,
                    "{} — {} case(s)",
                    definition.title.zh, figures.cases
                )?;
                for (status, count) in &figures.by_status {
                    writeln!(terminal.out, "  {status:<20} {count}")?;
                }
                writeln!(
                    terminal.out,
                    "  online rate          {}",
                    percent(figures.online_rate)
                )?;
                writeln!(
                    terminal.out,
                    "  overdue now          {}",
                    figures.overdue_now
                )?;
                writeln!(
                    terminal.out,
                    "  on time              {} (against the law {}; past it now {}, ended past it {})",
                    percent(figures.on_time_rate),
                    percent(figures.statutory_on_time_rate),
                    figures.statutory_overdue_now,
                    figures.statutory_overdue_ended
                )?;
                let escalations: Vec<String> = figures
                    .escalations
                    .iter()
                    .map(|(point, count)| format!("{point} {count}"))
                    .collect();
                writeln!(
                    terminal.out,
                    "  escalations          {} case(s) ({})",
                    figures.escalated_cases,
                    escalations.join(", ")
                )?;
                writeln!(
                    terminal.out,
                    "  working days used    {} (promised {}, statutory {}, compression {})",
                    figures
                        .average_working_days
                        .map_or("-".to_string(), |d| format!("{d:.1}")),
                    figures.promised_limit.as_deref().unwrap_or("-"),
                    figures.statutory_limit.as_deref().unwrap_or("-"),
                    percent(figures.time_limit_compression)
                )?;
                writeln!(
                    terminal.out,
                    "  supplement rate      {}",
                    percent(figures.supplement_rate)
                )?;
                writeln!(
                    terminal.out,
                    "  return rate          {}",
                    percent(figures.return_rate)
                )?;
                writeln!(terminal.out, "{}", materials_line(&figures))?;
                writeln!(
                    terminal.out,
                    "  ratings              {} (rated {}, good {}, bad {})",
                    figures.rated,
                    percent(figures.rating_rate),
                    percent(figures.good_rate),
                    figures.bad_ratings
                )?;
                for line in savings_lines(&figures) {
                    writeln!(terminal.out, "{line}")?;
                }
            }
            return Ok(0);
        }
        CaseCommandLine::Tasks {
            agency,
            limit,
            offset,
            json,
        } => {
            let store = open_store(&options, terminal).await?;
            let tasks = views::agency_tasks(store.database(), &agency, limit, offset).await?;
            let library = store.library();
            let local = |workflow: &str, time: DateTime<Utc>| {
                let calendar = library
                    .current_at(workflow, at)
                    .and_then(|definition| library.calendar(&definition.calendar));
                local_time(time, calendar.as_deref(), "%Y-%m-%d %H:%M")
            };
            if json {
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&tasks)?)?;
            } else {
                for task in &tasks {
                    let provisional = if task.provisional_years.is_empty() {
                        String::new()
                    } else {
                        let years: Vec<String> =
                            task.provisional_years.iter().map(i32::to_string).collect();
                        format!("\tprovisional ({})", years.join(","))
                    };
                    let limits = task_limit_flags(task);
                    writeln!(
                        terminal.out,
                        "{}\t{}\t{}\t{}\t{}{provisional}{limits}",
                        task.case_id,
                        task.step,
                        task.state,
                        task.due
                            .map_or_else(|| "-".to_string(), |due| local(&task.workflow, due)),
                        if task.overdue {
                            "overdue"
                        } else if task.warned {
                            "warned"
                        } else {
                            ""
                        }
                    )?;
                    for input in input_lines(&task.inputs, "  ") {
                        writeln!(terminal.out, "{input}")?;
                    }
                }
            }
            return Ok(0);
        }
    };
    let store = open_store(&options, terminal).await?;
    match execute(&store, &case_id, command, terminal).await? {
        Ok(outcome) => {
            report(&outcome, terminal)?;
            Ok(0)
        }
        Err(code) => Ok(code),
    }
}
