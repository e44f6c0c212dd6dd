//! The supervision dashboard (效能监察): per bundle, agency and period, the
//! figures the reform is judged by — volume by status and channel, on time
//! against the promise and the law, working days, one-go, supplement and
//! return rates, materials and trips saved, ratings and their follow-ups —
//! and for the 12345 hotline each handling agency's signing, rejections,
//! on-time closure and satisfaction, and each bundle against its
//! before-reform baseline. Read from the figures read model
//! (`onething_store::figures`), a few `GROUP BY`s whatever the number of
//! cases; every chart has its table, and every table its CSV.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use maud::{html, Markup};
use onething_core::workflow::Definition;
use onething_server::AppState;
use onething_store::figures::{self, AgencyFigures, Dashboard, DashboardFilter};
use serde::Deserialize;

use super::{no_store, page, PageError};
use crate::accounts::ConsoleRole;
use crate::charts::{bars, Bar};
use crate::messages::Lang;
use crate::session::Person;

/// The bundle whose agencies get the 12345 desk's figures: the handling
/// agencies of its dispatched steps (派单, 退单, handling and reply).
pub const HOTLINE_WORKFLOW: &str = "hotline-12345";

#[derive(Debug, Deserialize, Default, Clone)]
pub struct DashboardQuery {
    workflow: Option<String>,
    agency: Option<String>,
    /// The first and last day of the period, inclusive (`YYYY-MM-DD`).
    from: Option<String>,
    to: Option<String>,
    /// For the CSV: which table.
    table: Option<String>,
}

fn may_see(person: &Person) -> Result<(), PageError> {
    match person.role {
        ConsoleRole::Supervisor | ConsoleRole::Admin => Ok(()),
        _ => Err(PageError::Forbidden(
            person.lang.t("supervision.forbidden").into(),
        )),
    }
}

fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "all")
        .map(str::to_string)
}

/// The store's filter, or every problem with the query at once.
fn filter_of(
    state: &AppState,
    lang: Lang,
    query: &DashboardQuery,
) -> Result<DashboardFilter, Vec<String>> {
    let mut problems = Vec::new();
    let workflow = given(&query.workflow);
    let library = state.store.library();
    if let Some(workflow) = &workflow {
        if library.versions(workflow).is_empty() {
            problems.push(lang.f("dashboard.unknown_workflow", &[("workflow", workflow)]));
        }
    }
    let agency = given(&query.agency);
    if let Some(agency) = &agency {
        let known = library
            .current_definitions()
            .iter()
            .any(|d| d.agency(agency).is_some());
        if !known {
            problems.push(lang.f("dashboard.unknown_agency", &[("agency", agency)]));
        }
    }
    let mut date = |name: &str, value: &Option<String>| {
        let text = given(value)?;
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                problems.push(lang.f("dashboard.bad_date", &[("field", name), ("value", &text)]));
                None
            }
        }
    };
    let from = date("from", &query.from);
    let to = date("to", &query.to);
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            problems.push(lang.t("dashboard.period_reversed").to_string());
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(DashboardFilter {
        workflow,
        agency,
        first_day: from.map(|d| d.to_string()),
        last_day: to.map(|d| d.to_string()),
    })
}

fn percent(part: i64, whole: i64) -> String {
    Dashboard::share(part, whole).map_or_else(|| "—".into(), |s| format!("{:.1}%", s * 100.0))
}

fn average(total: i64, count: i64) -> String {
    Dashboard::share(total, count).map_or_else(|| "—".into(), |a| format!("{a:.1}"))
}

/// The key figures as (message key, value) rows: the same rows make the
/// table and its CSV.
fn key_figures(
    lang: Lang,
    figures: &Dashboard,
    definition: Option<&Definition>,
) -> Vec<(&'static str, String)> {
    let f = figures;
    let mut rows = vec![
        ("dashboard.cases", f.cases.to_string()),
        ("dashboard.open", f.open.to_string()),
        ("dashboard.ended", f.ended.to_string()),
        ("dashboard.on_time_rate", percent(f.ended_on_time, f.ended)),
        ("dashboard.overdue_now", f.overdue_now.to_string()),
        (
            "dashboard.statutory_on_time_rate",
            percent(
                f.statutory_counted - f.statutory_overdue,
                f.statutory_counted,
            ),
        ),
        (
            "dashboard.statutory_overdue_now",
            f.statutory_overdue_now.to_string(),
        ),
        (
            "dashboard.average_working_days",
            average(f.working_days_total, f.working_days_counted),
        ),
    ];
    if let Some(definition) = definition {
        let limit = |limit: Option<onething_core::calendar::TimeSpan>| {
            limit.map_or_else(|| "—".to_string(), |l| super::window::span(lang, &l))
        };
        rows.push(("dashboard.promised_limit", limit(definition.promised_limit)));
        rows.push((
            "dashboard.statutory_limit",
            limit(definition.statutory_limit),
        ));
    }
    rows.extend([
        ("dashboard.one_go_rate", percent(f.one_go, f.ended)),
        (
            "dashboard.supplement_rate",
            percent(f.supplemented, f.cases),
        ),
        ("dashboard.return_rate", percent(f.returned, f.cases)),
        (
            "dashboard.materials_not_submitted",
            f.materials_not_submitted.to_string(),
        ),
        (
            "dashboard.materials_per_case",
            average(f.materials_not_submitted, f.cases),
        ),
        (
            "dashboard.materials_by_commitment",
            f.materials_by_commitment.to_string(),
        ),
        ("dashboard.materials_waived", f.materials_waived.to_string()),
        ("dashboard.trips_saved", f.trips_saved.to_string()),
        ("dashboard.escalations", f.escalations.to_string()),
        ("dashboard.rating_rate", percent(f.rated, f.ended)),
        ("dashboard.good_rate", percent(f.good_ratings, f.rated)),
        ("dashboard.bad_ratings", f.bad_ratings.to_string()),
        ("dashboard.follow_ups_due", f.follow_ups_due.to_string()),
        (
            "dashboard.follow_ups_resolved",
            f.follow_ups_resolved.to_string(),
        ),
        (
            "dashboard.follow_ups_unresolved",
            f.follow_ups_unresolved.to_string(),
        ),
    ]);
    rows
}

/// One handling agency's 12345 figures: the work orders dispatched to it,
/// those it sent back (退单), handled and handled on time, and the callers'
/// satisfaction with what it handled.
struct HotlineRow {
    agency: String,
    dispatched: i64,
    sent_back: i64,
    handled: i64,
    handled_on_time: i64,
    satisfied: i64,
    answers: i64,
}

/// A row per agency a dispatched step of the bundle may go to, from the
/// figure rows of those steps (one per agency that led each).
fn hotline_rows(definition: &Definition, per_step: &[AgencyFigures]) -> Vec<HotlineRow> {
    let dispatched: Vec<_> = definition
        .steps
        .iter()
        .filter_map(|step| Some((step.id.as_str(), step.dispatch.as_ref()?)))
        .collect();
    let mut rows: Vec<HotlineRow> = Vec::new();
    for (step, dispatch) in dispatched {
        for agency in &dispatch.any_of {
            let figures = per_step
                .iter()
                .find(|f| &f.agency == agency && f.step == step)
                .cloned()
                .unwrap_or_default();
            let row = match rows.iter_mut().position(|row| &row.agency == agency) {
                Some(index) => &mut rows[index],
                None => {
                    rows.push(HotlineRow {
                        agency: agency.clone(),
                        dispatched: 0,
                        sent_back: 0,
                        handled: 0,
                        handled_on_time: 0,
                        satisfied: 0,
                        answers: 0,
                    });
                    rows.last_mut().expect("just pushed")
                }
            };
            row.dispatched += figures.passes;
            row.sent_back += figures.returns_made;
            row.handled += figures.completed;
            row.handled_on_time += figures.completed_on_time;
            row.satisfied += figures.satisfied;
            row.answers += figures.satisfaction_answers;
        }
    }
    rows
}

/// Every table of the dashboard as a header and rows of text: the page
/// shows them and the CSV writes them.
struct Tables {
    figures: Vec<(String, String)>,
    status: Vec<(String, i64)>,
    channel: Vec<(String, i64)>,
    days: Vec<(String, i64)>,
    agencies: Vec<AgencyFigures>,
    hotline: Option<Vec<HotlineRow>>,
    savings: Vec<super::savings::SavingsRow>,
}

async fn tables(
    state: &AppState,
    lang: Lang,
    filter: &DashboardFilter,
) -> Result<Tables, PageError> {
    let database = state.store.database();
    let figures = figures::dashboard(database, filter).await?;
    let definition = filter
        .workflow
        .as_deref()
        .and_then(|w| state.store.library().current_at(w, chrono::Utc::now()));
    let hotline = match &definition {
        Some(d) if d.id == HOTLINE_WORKFLOW => {
            let per_step = figures::agency_figures(database, filter, true).await?;
            Some(hotline_rows(d, &per_step))
        }
        _ => None,
    };
    Ok(Tables {
        figures: key_figures(lang, &figures, definition.as_deref())
            .into_iter()
            .map(|(key, value)| (lang.t(key).to_string(), value))
            .collect(),
        status: figures.by_status.into_iter().collect(),
        channel: figures.by_channel.into_iter().collect(),
        days: figures.opened_per_day.into_iter().collect(),
        savings: super::savings::savings_rows(state, lang, filter, &figures.completed_by_workflow),
        agencies: figures.agencies,
        hotline,
    })
}

fn agency_name(state: &AppState, lang: Lang, agency: &str) -> String {
    super::supervision::agency_label(state, lang, agency)
}

fn query_string(query: &DashboardQuery) -> String {
    let mut out = String::new();
    for (name, value) in [
        ("workflow", &query.workflow),
        ("agency", &query.agency),
        ("from", &query.from),
        ("to", &query.to),
    ] {
        if let Some(value) = given(value) {
            let _ = write!(out, "&{name}={}", super::url_encode(&value));
        }
    }
    out
}

fn csv_link(lang: Lang, table: &str, query: &DashboardQuery) -> Markup {
    html! {
        a class="csv" href=(format!("/dashboard.csv?table={table}{}", query_string(query))) download {
            (lang.t("dashboard.csv"))
        }
    }
}

fn filter_form(state: &AppState, lang: Lang, query: &DashboardQuery) -> Markup {
    let library = state.store.library();
    let definitions = library.current_definitions();
    let mut agencies: Vec<(String, String)> = definitions
        .iter()
        .flat_map(|d| {
            d.agencies
                .iter()
                .map(|a| (a.id.clone(), lang.pick(&a.name)))
        })
        .collect();
    agencies.sort();
    agencies.dedup_by(|a, b| a.0 == b.0);
    let chosen = |value: &Option<String>| given(value).unwrap_or_default();
    html! {
        form method="get" action="/dashboard" class="filters" {
            label for="workflow" { (lang.t("guide.bundle")) }
            select id="workflow" name="workflow" {
                option value="all" { (lang.t("dashboard.all")) }
                @for d in &definitions {
                    option value=(d.id) selected[chosen(&query.workflow) == d.id] { (lang.pick(&d.title)) }
                }
            }
            label for="agency" { (lang.t("supervision.agency")) }
            select id="agency" name="agency" {
                option value="all" { (lang.t("dashboard.all")) }
                @for (id, name) in &agencies {
                    option value=(id) selected[chosen(&query.agency) == *id] { (name) }
                }
            }
            label for="from" { (lang.t("dashboard.from")) }
            input id="from" name="from" type="date" value=(chosen(&query.from));
            label for="to" { (lang.t("dashboard.to")) }
            input id="to" name="to" type="date" value=(chosen(&query.to));
            button type="submit" { (lang.t("dashboard.show")) }
        }
    }
}

fn counts_section(
    lang: Lang,
    id: &str,
    title: &str,
    rows: &[(String, String, i64)],
    query: &DashboardQuery,
) -> Markup {
    let total: i64 = rows.iter().map(|r| r.2).sum();
    let chart: Vec<Bar> = rows
        .iter()
        .map(|(_, label, count)| Bar {
            label: label.clone(),
            value: *count as f64,
            text: count.to_string(),
        })
        .collect();
    html! {
        section class="dashboard-part" id=(id) {
            h2 { (title) }
            (bars(&format!("{id}-chart"), title, &chart))
            table class=(id) {
                caption { (title) " · " (csv_link(lang, id, query)) }
                thead { tr { th scope="col" { (lang.t("dashboard.item")) } th scope="col" { (lang.t("dashboard.count")) } th scope="col" { (lang.t("dashboard.share")) } } }
                tbody {
                    @for (key, label, count) in rows {
                        tr data-key=(key) { td { (label) } td class="money" { (count) } td class="money" { (percent(*count, total)) } }
                    }
                }
            }
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    person: Person,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    may_see(&person)?;
    let lang = person.lang;
    let filter = filter_of(&state, lang, &query);
    let body = match &filter {
        Err(problems) => html! {
            div class="problems" role="alert" {
                p { (lang.t("dashboard.bad_filter")) }
                ul { @for problem in problems { li { (problem) } } }
            }
        },
        Ok(filter) => {
            let t = tables(&state, lang, filter).await?;
            let status: Vec<_> = t
                .status
                .iter()
                .map(|(k, c)| (k.clone(), lang.t(&format!("status.{k}")).to_string(), *c))
                .collect();
            let channel: Vec<_> = t
                .channel
                .iter()
                .map(|(k, c)| (k.clone(), lang.t(&format!("channel.{k}")).to_string(), *c))
                .collect();
            let days: Vec<_> = t
                .days
                .iter()
                .map(|(d, c)| (d.clone(), d.clone(), *c))
                .collect();
            let on_time: Vec<Bar> = t
                .agencies
                .iter()
                .map(|a| Bar {
                    label: agency_name(&state, lang, &a.agency),
                    value: Dashboard::share(a.completed_on_time, a.completed).unwrap_or(0.0),
                    text: percent(a.completed_on_time, a.completed),
                })
                .collect();
            html! {
                section class="dashboard-part" id="figures" {
                    h2 { (lang.t("dashboard.key_figures")) }
                    table class="figures" {
                        caption { (lang.t("dashboard.key_figures")) " · " (csv_link(lang, "figures", &query)) }
                        thead { tr { th scope="col" { (lang.t("dashboard.item")) } th scope="col" { (lang.t("dashboard.value")) } } }
                        tbody {
                            @for (label, value) in &t.figures {
                                tr { th scope="row" { (label) } td class="money" { (value) } }
                            }
                        }
                    }
                }
                (counts_section(lang, "status", lang.t("dashboard.by_status"), &status, &query))
                (counts_section(lang, "channel", lang.t("dashboard.by_channel"), &channel, &query))
                (counts_section(lang, "days", lang.t("dashboard.per_day"), &days, &query))
                section class="dashboard-part" id="agencies" {
                    h2 { (lang.t("dashboard.per_agency")) }
                    (bars("agencies-chart", lang.t("dashboard.agency_on_time"), &on_time))
                    table class="agencies" {
                        caption { (lang.t("dashboard.per_agency")) " · " (csv_link(lang, "agencies", &query)) }
                        thead { tr {
                            th scope="col" { (lang.t("supervision.agency")) }
                            th scope="col" { (lang.t("dashboard.steps")) }
                            th scope="col" { (lang.t("dashboard.open")) }
                            th scope="col" { (lang.t("desk.mark.warned")) }
                            th scope="col" { (lang.t("desk.mark.overdue")) }
                            th scope="col" { (lang.t("dashboard.completed")) }
                            th scope="col" { (lang.t("dashboard.on_time_rate")) }
                            th scope="col" { (lang.t("dashboard.average_working_days")) }
                            th scope="col" { (lang.t("dashboard.returns_made")) }
                        } }
                        tbody {
                            @for a in &t.agencies {
                                tr data-agency=(a.agency) {
                                    td { (agency_name(&state, lang, &a.agency)) }
                                    td class="money" { (a.steps) }
                                    td class="money" { (a.open) }
                                    td class="money" { (a.yellow) }
                                    td class="money" { (a.red) }
                                    td class="money" { (a.completed) }
                                    td class="money" { (percent(a.completed_on_time, a.completed)) }
                                    td class="money" { (average(a.working_days_total, a.working_days_counted)) }
                                    td class="money" { (a.returns_made) }
                                }
                            }
                        }
                    }
                }
                @if let Some(hotline) = &t.hotline {
                    (hotline_section(&state, lang, hotline, &query))
                }
                @if !t.savings.is_empty() {
                    (super::savings::section(lang, &t.savings, csv_link(lang, "savings", &query)))
                }
            }
        }
    };
    let content = html! {
        h1 { (lang.t("dashboard.title")) }
        (filter_form(&state, lang, &query))
        (body)
    };
    let status = if filter.is_err() {
        axum::http::StatusCode::BAD_REQUEST
    } else {
        axum::http::StatusCode::OK
    };
    Ok((
        status,
        no_store(page(&person, lang.t("dashboard.title"), content)),
    )
        .into_response())
}

fn hotline_section(
    state: &AppState,
    lang: Lang,
    rows: &[HotlineRow],
    query: &DashboardQuery,
) -> Markup {
    let satisfaction: Vec<Bar> = rows
        .iter()
        .map(|r| Bar {
            label: agency_name(state, lang, &r.agency),
            value: Dashboard::share(r.satisfied, r.answers).unwrap_or(0.0),
            text: percent(r.satisfied, r.answers),
        })
        .collect();
    html! {
        section class="dashboard-part" id="hotline" {
            h2 { (lang.t("dashboard.hotline")) }
            (bars("hotline-chart", lang.t("dashboard.hotline_satisfaction"), &satisfaction))
            table class="hotline" {
                caption { (lang.t("dashboard.hotline")) " · " (csv_link(lang, "hotline", query)) }
                thead { tr {
                    th scope="col" { (lang.t("supervision.agency")) }
                    th scope="col" { (lang.t("dashboard.dispatched")) }
                    th scope="col" { (lang.t("dashboard.rejection_rate")) }
                    th scope="col" { (lang.t("dashboard.closed_on_time")) }
                    th scope="col" { (lang.t("dashboard.satisfaction")) }
                } }
                tbody {
                    @for r in rows {
                        tr data-agency=(r.agency) {
                            td { (agency_name(state, lang, &r.agency)) }
                            td class="money" { (r.dispatched) }
                            td class="money" { (percent(r.sent_back, r.dispatched)) " (" (r.sent_back) "/" (r.dispatched) ")" }
                            td class="money" { (percent(r.handled_on_time, r.handled)) " (" (r.handled_on_time) "/" (r.handled) ")" }
                            td class="money" { (percent(r.satisfied, r.answers)) " (" (r.satisfied) "/" (r.answers) ")" }
                        }
                    }
                }
            }
        }
    }
}

/// One table of the dashboard as CSV (`?table=figures|status|channel|days|agencies|hotline|savings`).
pub async fn csv(
    State(state): State<AppState>,
    person: Person,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    may_see(&person)?;
    let lang = person.lang;
    let filter = filter_of(&state, lang, &query)
        .map_err(|problems| PageError::BadRequest(problems.join("; ")))?;
    let table = query.table.clone().unwrap_or_else(|| "figures".into());
    let t = tables(&state, lang, &filter).await?;
    let mut out = String::new();
    match table.as_str() {
        "figures" => {
            out.push_str("figure,value\n");
            for (label, value) in &t.figures {
                let _ = writeln!(out, "{},{}", super::csv_cell(label), super::csv_cell(value));
            }
        }
        "status" | "channel" | "days" => {
            let rows = match table.as_str() {
                "status" => &t.status,
                "channel" => &t.channel,
                _ => &t.days,
            };
            let _ = writeln!(out, "{table},count");
            for (key, count) in rows {
                let _ = writeln!(out, "{},{count}", super::csv_cell(key));
            }
        }
        "agencies" => {
            out.push_str("agency,steps,open,yellow,red,completed,completed_on_time,working_days_total,working_days_counted,passes,returns_made\n");
            for a in &t.agencies {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{}",
                    super::csv_cell(&a.agency),
                    a.steps,
                    a.open,
                    a.yellow,
                    a.red,
                    a.completed,
                    a.completed_on_time,
                    a.working_days_total,
                    a.working_days_counted,
                    a.passes,
                    a.returns_made
                );
            }
        }
        "hotline" => {
            out.push_str("agency,dispatched,sent_back,handled,handled_on_time,satisfied,satisfaction_answers\n");
            for r in t.hotline.iter().flatten() {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    super::csv_cell(&r.agency),
                    r.dispatched,
                    r.sent_back,
                    r.handled,
                    r.handled_on_time,
                    r.satisfied,
                    r.answers
                );
            }
        }
        "savings" => out = super::savings::csv(&t.savings),
        other => {
            return Err(PageError::BadRequest(
                lang.f("dashboard.unknown_table", &[("table", other)]),
            ))
        }
    }
    Ok(super::csv_response(&format!("dashboard-{table}.csv"), out))
}
