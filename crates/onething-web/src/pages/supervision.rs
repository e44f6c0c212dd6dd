//! Electronic supervision (电子监察): every late step as it happens, a
//! yellow card (黄牌) for a step past its warning point and a red card
//! (红牌) for one past its time limit, per agency and per case; the page
//! follows the event feed, so a card appears within a second of the deadline
//! check that gives it. The figures come from the agencies' task lists, the
//! read model the deadline check keeps, never from a scan of the events.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::Response;
use maud::{html, Markup, PreEscaped};
use onething_core::case::SUPERVISION_AGENCY;
use onething_server::AppState;
use onething_store::supervision::{self, AgencyCards};
use onething_store::views::AgencyTask;

use super::{
    after_case_command, command_id_of, csrf_field, execute_as, live_part, local, no_store, page,
    Fields, PageError,
};
use crate::accounts::ConsoleRole;
use crate::messages::Lang;
use crate::session::Person;

/// The most cards one page lists (the table per agency counts them all).
const MOST: i64 = 1_000;

fn may_supervise(person: &Person) -> Result<(), PageError> {
    match person.role {
        ConsoleRole::Supervisor | ConsoleRole::Admin => Ok(()),
        _ => Err(PageError::Forbidden(
            person.lang.t("supervision.forbidden").into(),
        )),
    }
}

pub(super) fn agency_label(state: &AppState, lang: Lang, agency: &str) -> String {
    state
        .store
        .library()
        .current_definitions()
        .iter()
        .find_map(|d| d.agency(agency).map(|a| lang.pick(&a.name)))
        .unwrap_or_else(|| agency.to_string())
}

fn late_by(lang: Lang, task: &AgencyTask, now: chrono::DateTime<chrono::Utc>) -> String {
    match task.due {
        Some(due) if task.overdue => {
            let hours = (now - due).num_hours().max(0);
            if hours >= 24 {
                lang.f(
                    "supervision.late_days",
                    &[("days", &(hours / 24).to_string())],
                )
            } else {
                lang.f("supervision.late_hours", &[("hours", &hours.to_string())])
            }
        }
        Some(_) => lang.t("supervision.due_soon").to_string(),
        None => "—".to_string(),
    }
}

/// Bars per agency, yellow then red, drawn on the server; the table beside
/// it says the same for screen readers and print.
fn chart(lang: Lang, rows: &[(String, &AgencyCards)]) -> Markup {
    let most = rows
        .iter()
        .map(|(_, c)| c.yellow.max(c.red))
        .max()
        .unwrap_or(0)
        .max(1);
    let row_height = 28;
    let label_width = 180;
    let bar_width = 360;
    let height = rows.len() * row_height + 10;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" aria-labelledby="cards-chart-title" viewBox="0 0 {} {height}" width="100%" xmlns="http://www.w3.org/2000/svg"><title id="cards-chart-title">{}</title>"#,
        label_width + bar_width + 60,
        crate::graph::escape(lang.t("supervision.chart"))
    );
    for (index, (name, cards)) in rows.iter().enumerate() {
        let y = index * row_height + 5;
        let yellow = cards.yellow as usize * bar_width / most as usize;
        let red = cards.red as usize * bar_width / most as usize;
        let _ = write!(
            svg,
            r#"<text x="0" y="{}" font-size="13">{}</text><rect class="bar-yellow" x="{label_width}" y="{y}" width="{yellow}" height="11"/><text x="{}" y="{}" font-size="11">{}</text><rect class="bar-red" x="{label_width}" y="{}" width="{red}" height="11"/><text x="{}" y="{}" font-size="11">{}</text>"#,
            y + 16,
            crate::graph::escape(name),
            label_width + yellow + 4,
            y + 10,
            cards.yellow,
            y + 12,
            label_width + red + 4,
            y + 22,
            cards.red,
        );
    }
    svg.push_str("</svg>");
    html! { (PreEscaped(svg)) }
}

pub async fn show(State(state): State<AppState>, person: Person) -> Result<Response, PageError> {
    may_supervise(&person)?;
    let lang = person.lang;
    let database = state.store.database();
    let per_agency = supervision::cards_by_agency(database).await?;
    let cards = supervision::late_tasks(database, MOST).await?;
    let now = chrono::Utc::now();
    let offset = 480;
    let library = state.store.library();
    let named: Vec<(String, &AgencyCards)> = per_agency
        .iter()
        .map(|c| (agency_label(&state, lang, &c.agency), c))
        .collect();
    let yellow: i64 = per_agency.iter().map(|c| c.yellow).sum();
    let red: i64 = per_agency.iter().map(|c| c.red).sum();
    let content = html! {
        h1 { (lang.t("supervision.title")) }
        div hx-ext="sse" sse-connect="/live" {
            (live_part("/supervision", "cards"))
            section id="cards" aria-live="polite" {
                p class="totals" {
                    span class="badge mark-warned" { (lang.f("supervision.yellow_count", &[("count", &yellow.to_string())])) }
                    " "
                    span class="badge mark-overdue" { (lang.f("supervision.red_count", &[("count", &red.to_string())])) }
                    " · " a href="/supervision.csv" download { (lang.t("supervision.csv")) }
                }
                @if per_agency.is_empty() {
                    p class="empty" { (lang.t("supervision.none")) }
                } @else {
                    h2 { (lang.t("supervision.per_agency")) }
                    (chart(lang, &named))
                    table class="per-agency" {
                        caption { (lang.t("supervision.per_agency")) }
                        thead { tr {
                            th scope="col" { (lang.t("supervision.agency")) }
                            th scope="col" { (lang.t("desk.mark.warned")) }
                            th scope="col" { (lang.t("desk.mark.overdue")) }
                        } }
                        tbody {
                            @for (name, c) in &named {
                                tr data-agency=(c.agency) { td { (name) } td class="money" { (c.yellow) } td class="money" { (c.red) } }
                            }
                        }
                    }
                    h2 { (lang.t("supervision.cards")) }
                    table class="cards" {
                        caption { (lang.f("desk.caption", &[("count", &cards.len().to_string())])) }
                        thead { tr {
                            th scope="col" { (lang.t("case.mark")) }
                            th scope="col" { (lang.t("supervision.agency")) }
                            th scope="col" { (lang.t("guide.step")) }
                            th scope="col" { (lang.t("guide.bundle")) }
                            th scope="col" { (lang.t("case.number")) }
                            th scope="col" { (lang.t("case.due")) }
                            th scope="col" { (lang.t("supervision.late")) }
                            th scope="col" { (lang.t("supervision.person")) }
                            th scope="col" { (lang.t("supervision.notice")) }
                        } }
                        tbody {
                            @for task in &cards {
                                @let mark = if task.overdue { "overdue" } else { "warned" };
                                @let definition = library.current_at(&task.workflow, now);
                                tr class=(format!("mark-{mark}")) data-case=(task.case_id) data-step=(task.step) {
                                    td { span class=(format!("badge mark-{mark}")) { (lang.t(&format!("supervision.card.{mark}"))) } }
                                    td { (agency_label(&state, lang, &task.agency)) }
                                    td { (definition.as_ref().and_then(|d| d.step(&task.step)).map_or(task.step.clone(), |s| lang.pick(&s.title))) }
                                    td { (definition.as_ref().map_or(task.workflow.clone(), |d| lang.pick(&d.title))) }
                                    td { a href=(format!("/cases/{}", task.case_id)) { code { (task.case_id) } } }
                                    td { (task.due.map(|due| local(due, offset)).unwrap_or_else(|| "—".into())) }
                                    td { (late_by(lang, task, now)) }
                                    td class="person" { (task.claimed_by.as_deref().unwrap_or_default()) }
                                    td {
                                        form method="post" action=(format!("/cases/{}/steps/{}/supervise", task.case_id, task.step)) class="inline" {
                                            (csrf_field(&person))
                                            input type="hidden" name="command_id" value=(uuid::Uuid::new_v4().to_string());
                                            @let id = format!("notice-{}-{}", task.case_id, task.step);
                                            label for=(id) class="visually-hidden" { (lang.t("supervision.notice_text")) }
                                            input id=(id) name="notice" required value=(lang.t("supervision.default_notice"));
                                            button type="submit" { (lang.t("supervision.issue")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(no_store(page(
        &person,
        lang.t("supervision.title"),
        content,
    )))
}

/// The cards as CSV, for a spreadsheet: one row per late step.
pub async fn csv(State(state): State<AppState>, person: Person) -> Result<Response, PageError> {
    may_supervise(&person)?;
    let cards = supervision::late_tasks(state.store.database(), i64::MAX).await?;
    let mut out = String::from("card,agency,case,workflow,step,due,state,person\n");
    for task in &cards {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            if task.overdue { "red" } else { "yellow" },
            super::csv_cell(&task.agency),
            super::csv_cell(&task.case_id),
            super::csv_cell(&task.workflow),
            super::csv_cell(&task.step),
            task.due.map(|d| d.to_rfc3339()).unwrap_or_default(),
            super::csv_cell(&task.state),
            super::csv_cell(task.claimed_by.as_deref().unwrap_or_default()),
        );
    }
    Ok(super::csv_response("supervision-cards.csv", out))
}

/// A supervision notice (督办通知) on a late step, given as the supervision
/// office and the person: `supervision/宋监察` in the history.
pub async fn issue(
    State(state): State<AppState>,
    person: Person,
    Path((case_id, step)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    may_supervise(&person)?;
    person.check_csrf(fields.get("_csrf"))?;
    let actor = onething_core::case::Actor::Agency {
        agency: SUPERVISION_AGENCY.to_string(),
        operator: Some(person.user.name.clone()),
    };
    let action = onething_core::case::Action::Supervise {
        step,
        notice: fields.text("notice").unwrap_or_default(),
    };
    let outcome = execute_as(
        &state,
        &person,
        actor,
        &case_id,
        command_id_of(&fields),
        action,
    )
    .await;
    after_case_command(&person, &case_id, outcome, format!("/cases/{case_id}"))
}
