//! The agency's desk (待办): its open tasks, the least time left first,
//! with yellow (warned) and red (overdue) marks and provisional due dates
//! marked; filters, search by case number, paging, counts per state. The
//! list reloads itself when anyone acts (server-sent events).

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::Datelike;
use maud::html;
use onething_server::auth::Permission;
use onething_server::AppState;
use onething_store::search;
use onething_store::supervision::{self, PendingNotice};
use onething_store::views::{self, AgencyTask};
use serde::Deserialize;

use super::{csrf_field, live_part, local, no_store, page, url_encode, PageError};
use crate::session::Person;

#[derive(Debug, Deserialize, Default)]
pub struct InboxQuery {
    /// `all`, `active`, `paused`, `suspended`, `extension_requested`, `warned`, `overdue`, `week`.
    tab: Option<String>,
    workflow: Option<String>,
    q: Option<String>,
    page: Option<usize>,
}

const PAGE: usize = 25;
/// The most tasks one desk lists (the rest by filters or search).
const MOST: i64 = 5_000;

fn mark(task: &AgencyTask) -> &'static str {
    if task.overdue {
        "overdue"
    } else if task.warned {
        "warned"
    } else {
        "on-time"
    }
}

fn in_tab(
    task: &AgencyTask,
    tab: &str,
    week_end: chrono::DateTime<chrono::Utc>,
    supervised: &[PendingNotice],
) -> bool {
    match tab {
        "all" => true,
        "supervised" => notice_on(task, supervised).is_some(),
        "warned" => task.warned && !task.overdue,
        "overdue" => task.overdue,
        "week" => task.due.is_some_and(|due| due <= week_end),
        state => task.state == state,
    }
}

/// An escalation point's name (催办, 通报 …) as the step's bundle gives it.
fn escalation_name(
    lang: crate::messages::Lang,
    definition: Option<&onething_core::workflow::Definition>,
    step: &str,
    point: &str,
) -> String {
    definition
        .and_then(|d| d.step(step))
        .and_then(|s| s.escalations.iter().find(|e| e.id == point))
        .map_or(point.to_string(), |e| lang.pick(&e.name))
}

/// Whether this person may claim the task (认领): a started step of their
/// agency that they do not hold already, and a role that gives commands.
fn may_claim(person: &Person, task: &AgencyTask) -> bool {
    matches!(task.state.as_str(), "active" | "paused" | "suspended")
        && person.agency().as_deref() == Some(task.agency.as_str())
        && person.client().require(Permission::ChangeCases).is_ok()
        && task.claimed_by.as_deref() != Some(person.user.name.as_str())
}

/// The supervision notice waiting for this task's answer, if any.
fn notice_on<'a>(task: &AgencyTask, supervised: &'a [PendingNotice]) -> Option<&'a PendingNotice> {
    supervised.iter().find(|n| {
        n.case_id == task.case_id && n.step == task.step && task.state != "extension_requested"
    })
}

pub async fn inbox(
    State(state): State<AppState>,
    person: Person,
    Query(query): Query<InboxQuery>,
) -> Result<Response, PageError> {
    person.client().require(Permission::ReadInboxes)?;
    let lang = person.lang;
    let agency = person
        .agency()
        .ok_or_else(|| PageError::Forbidden(lang.t("desk.no_agency").into()))?;
    let mut tasks = views::agency_tasks(state.store.database(), &agency, MOST, 0).await?;
    // A follow-up's mark is its due time against now: the deadline check
    // watches open cases' steps, and a follow-up belongs to an ended case.
    for task in tasks.iter_mut().filter(|t| t.step == views::FOLLOW_UP_TASK) {
        task.overdue = task.due.is_some_and(|due| due < state.now());
    }
    let library = state.store.library();
    let now = state.now();
    let offset = 480;
    let local_now = now.with_timezone(&chrono::FixedOffset::east_opt(offset * 60).expect("offset"));
    let days_to_sunday = 6 - i64::from(local_now.weekday().num_days_from_monday());
    let week_end = (local_now.date_naive() + chrono::Duration::days(days_to_sunday + 1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_local_timezone(chrono::FixedOffset::east_opt(offset * 60).expect("offset"))
        .single()
        .map_or(now, |t| t.with_timezone(&chrono::Utc));
    let tab = query.tab.clone().unwrap_or_else(|| "all".into());
    let needle = query.q.clone().unwrap_or_default();
    let workflow = query.workflow.clone().filter(|w| !w.is_empty());
    let by_applicant = if needle.trim().is_empty() {
        Vec::new()
    } else {
        search::agency_cases_by_applicant(state.store.database(), &agency, needle.trim()).await?
    };
    let supervised = supervision::pending_notices(state.store.database(), &agency).await?;
    let wanted = needle.trim().to_ascii_uppercase();
    let filtered: Vec<&AgencyTask> = tasks
        .iter()
        .filter(|task| workflow.as_ref().is_none_or(|w| &task.workflow == w))
        .filter(|task| {
            wanted.is_empty()
                || task.case_id.contains(&wanted)
                || by_applicant.contains(&task.case_id)
        })
        .collect();
    let tabs = [
        "all",
        "active",
        "warned",
        "overdue",
        "week",
        "paused",
        "suspended",
        "extension_requested",
        "supervised",
        "follow_up",
    ];
    let count = |tab: &str| {
        filtered
            .iter()
            .filter(|t| in_tab(t, tab, week_end, &supervised))
            .count()
    };
    let shown: Vec<&&AgencyTask> = filtered
        .iter()
        .filter(|t| in_tab(t, &tab, week_end, &supervised))
        .collect();
    let pages = shown.len().div_ceil(PAGE).max(1);
    let page_number = query.page.unwrap_or(1).clamp(1, pages);
    let mut bundles: Vec<&str> = tasks.iter().map(|t| t.workflow.as_str()).collect();
    bundles.sort_unstable();
    bundles.dedup();
    let link = |tab: &str, page: usize| {
        format!(
            "/desk?tab={tab}&page={page}&workflow={}&q={}",
            url_encode(workflow.as_deref().unwrap_or_default()),
            url_encode(&needle)
        )
    };
    let this_page = link(&tab, page_number);
    let agency_name = library
        .current_definitions()
        .iter()
        .find_map(|d| d.agency(&agency).map(|a| lang.pick(&a.name)))
        .unwrap_or_else(|| agency.clone());
    let content = html! {
        h1 { (lang.f("desk.title", &[("agency", &agency_name)])) }
        form method="get" action="/desk" class="search" role="search" {
            input type="hidden" name="tab" value=(tab);
            label for="workflow" { (lang.t("guide.bundle")) }
            select id="workflow" name="workflow" {
                option value="" { (lang.t("desk.all_bundles")) }
                @for id in &bundles {
                    option value=(id) selected[workflow.as_deref() == Some(*id)] {
                        (library.current_at(id, now).map_or(id.to_string(), |d| lang.pick(&d.title)))
                    }
                }
            }
            label for="q" { (lang.t("desk.search")) }
            input id="q" name="q" type="search" value=(needle);
            button type="submit" { (lang.t("action.search")) }
        }
        div hx-ext="sse" sse-connect="/live" {
            (live_part(&this_page, "tasks"))
            section id="tasks" aria-live="polite" {
                nav class="tabs" aria-label=(lang.t("desk.tabs")) {
                    @for t in tabs {
                        a href=(link(t, 1)) aria-current=[(t == tab).then_some("page")] class=(format!("tab tab-{t}")) {
                            (lang.t(&format!("desk.tab.{t}"))) " " span class="count" { (count(t)) }
                        }
                    }
                }
                @if shown.is_empty() { p class="empty" { (lang.t("desk.empty")) } }
                @else {
                    table class="inbox" {
                        caption { (lang.f("desk.caption", &[("count", &shown.len().to_string())])) }
                        thead { tr {
                            th scope="col" { (lang.t("case.mark")) }
                            th scope="col" { (lang.t("case.due")) }
                            th scope="col" { (lang.t("guide.step")) }
                            th scope="col" { (lang.t("guide.bundle")) }
                            th scope="col" { (lang.t("case.number")) }
                            th scope="col" { (lang.t("case.state")) }
                            th scope="col" { (lang.t("task.claimed_by")) }
                        } }
                        tbody {
                            @for task in shown.iter().skip((page_number - 1) * PAGE).take(PAGE) {
                                @let definition = library.current_at(&task.workflow, now);
                                @let follow_up = task.step == views::FOLLOW_UP_TASK;
                                @let title = if follow_up { lang.t("desk.follow_up").to_string() } else { definition.as_ref().and_then(|d| d.step(&task.step)).map_or(task.step.clone(), |s| lang.pick(&s.title)) };
                                @let href = if follow_up { format!("/cases/{}#follow-up", task.case_id) } else { format!("/cases/{}/steps/{}", task.case_id, task.step) };
                                tr class=(format!("mark-{}", mark(task))) data-case=(task.case_id) data-step=(task.step) {
                                    td {
                                        span class=(format!("badge mark-{}", mark(task))) { (lang.t(&format!("desk.mark.{}", mark(task)))) }
                                        @if task.statutory_overdue { " " span class="badge mark-overdue" { (lang.t("desk.past_the_law")) } }
                                        @for point in &task.escalations { " " span class="badge mark-overdue escalation" { (escalation_name(lang, definition.as_deref(), &task.step, point)) } }
                                        @if let Some(notice) = notice_on(task, &supervised) {
                                            " " span class="badge mark-overdue supervised" title=(lang.f("supervision.answer_by", &[("time", &local(notice.answer_by, offset))])) { (lang.t("desk.supervised")) }
                                        }
                                    }
                                    td {
                                        (task.due.map(|due| local(due, offset)).unwrap_or_else(|| "—".into()))
                                        @if !task.provisional_years.is_empty() { " " span class="badge provisional" title=(lang.t("case.provisional_note")) { (lang.t("case.provisional")) } }
                                    }
                                    td {
                                        a href=(href) { (title) }
                                        @if let Some(part) = &task.part { " " span class=(format!("badge part part-{part}")) { (lang.t(&format!("desk.part.{part}"))) } }
                                    }
                                    td { (definition.as_ref().map_or(task.workflow.clone(), |d| lang.pick(&d.title))) }
                                    td { code { (task.case_id) } }
                                    td { (lang.t(&format!("desk.state.{}", task.state))) }
                                    td class="claimant" {
                                        @match &task.claimed_by {
                                            Some(name) => span class="claimed-by" { (name) },
                                            None => span class="unclaimed" { (lang.t("task.unclaimed")) },
                                        }
                                        @if may_claim(&person, task) {
                                            " "
                                            form method="post" action=(format!("/cases/{}/steps/{}/claim", task.case_id, task.step)) class="inline claim" {
                                                (csrf_field(&person))
                                                input type="hidden" name="command_id" value=(uuid::Uuid::new_v4().to_string());
                                                input type="hidden" name="from" value="desk";
                                                button type="submit" title=(lang.t("task.claim_hint")) { (lang.t("task.claim")) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    nav class="pager" aria-label=(lang.t("desk.pages")) {
                        @if page_number > 1 { a href=(link(&tab, page_number - 1)) { (lang.t("action.previous")) } " " }
                        span { (lang.f("case.page_of", &[("page", &page_number.to_string()), ("pages", &pages.to_string())])) }
                        @if page_number < pages { " " a href=(link(&tab, page_number + 1)) { (lang.t("action.next")) } }
                    }
                }
            }
        }
    };
    Ok(no_store(page(&person, lang.t("nav.desk"), content)))
}
