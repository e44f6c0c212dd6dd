//! The case page, for everyone allowed to see the case: the step graph and
//! the same steps as a table, the verification badge, the materials and
//! bills, and the timeline from the audited history (who, when, what, why),
//! paged; "as it was at event N" by `?at=N`. And the list of cases.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{html, Markup, PreEscaped};
use onething_core::case::describe;
use onething_core::case::{self, view, CaseView, Disclosure, StepView};
use onething_core::workflow::Definition;
use onething_server::api::access::may_read;
use onething_server::auth::Permission;
use onething_server::AppState;
use onething_store::access_log::{self, PersonalDataRead};
use onething_store::views::{self, CaseFilter};
use serde::Deserialize;

use super::{csrf_field, live_part, local, no_store, page, yuan, PageError};
use crate::accounts::ConsoleRole;
use crate::graph::{case_graph, shown_state};
use crate::messages::Lang;
use crate::session::Person;

/// A case as this person may see it, with its definition.
pub struct Seen {
    pub case: case::Case,
    pub view: CaseView,
    pub definition: Arc<Definition>,
    pub offset_minutes: i32,
    pub disclosure: Disclosure,
}

/// How much of the personal data this person sees: the window and an
/// agency whose task is open on the case see ID numbers; others masked.
fn disclosure_for(person: &Person, case: &case::Case, definition: &Definition) -> Disclosure {
    match person.role {
        ConsoleRole::Clerk => Disclosure::Full,
        ConsoleRole::Officer | ConsoleRole::Approver => {
            let agency = person.agency().unwrap_or_default();
            let view = view(case, Some(definition), Disclosure::Masked);
            let has_task = view.is_some_and(|v| {
                v.open_tasks().any(|step| step.agency == agency)
                    || v.steps
                        .iter()
                        .any(|step| step.agency == agency && step.extension.is_some())
            }) || definition.steps.iter().any(|s| {
                s.extension
                    .as_ref()
                    .is_some_and(|e| e.approver(s) == agency)
            });
            if has_task {
                Disclosure::Full
            } else {
                Disclosure::Masked
            }
        }
        ConsoleRole::Supervisor | ConsoleRole::Admin => Disclosure::Masked,
    }
}

/// Loads a case the person may read (404 otherwise, as the API answers),
/// at an event if asked, and records an unmasked read in the access log.
pub async fn seen(
    state: &AppState,
    person: &Person,
    case_id: &str,
    at: Option<u64>,
    what: &str,
) -> Result<Seen, PageError> {
    person.client().require(Permission::ReadCases)?;
    let now = state.store.load(case_id).await?;
    if now.file().is_none() {
        return Err(PageError::NotFound(format!("no case `{case_id}`")));
    }
    may_read(state, &person.client(), &now)?;
    let case = match at {
        Some(sequence) => {
            person.client().require(Permission::ReadHistories)?;
            state.store.load_at(case_id, sequence).await?
        }
        None => now,
    };
    let file = case
        .file()
        .ok_or_else(|| PageError::NotFound(format!("no case `{case_id}`")))?;
    let definition = state
        .store
        .library()
        .by_hash(&file.hash)
        .ok_or_else(|| PageError::Internal(format!("definition {} not loaded", file.hash)))?;
    let disclosure = disclosure_for(person, &case, &definition);
    let case_view = view(&case, Some(&definition), disclosure)
        .ok_or_else(|| PageError::Internal("an opened case has no view".into()))?;
    if disclosure == Disclosure::Full {
        access_log::record(
            state.store.database(),
            &[PersonalDataRead {
                read_at: chrono::Utc::now(),
                client: person.client().id,
                role: person.role.name().into(),
                agency: person.agency(),
                operator: Some(person.user.name.clone()),
                channel: "console".into(),
                case_id: case_id.to_string(),
                what: what.to_string(),
            }],
        )
        .await?;
    }
    let offset_minutes = state
        .store
        .library()
        .calendar(&definition.calendar)
        .map_or(480, |c| c.utc_offset_minutes);
    Ok(Seen {
        case,
        view: case_view,
        definition,
        offset_minutes,
        disclosure,
    })
}

pub fn agency_name(lang: Lang, definition: &Definition, agency: &str) -> String {
    definition
        .agency(agency)
        .map_or(agency.to_string(), |a| lang.pick(&a.name))
}

/// A material's name in this language, or its id when the bundle has none.
pub fn material_name(lang: Lang, definition: &Definition, material: &str) -> String {
    definition
        .materials
        .iter()
        .find(|m| m.id == material)
        .map_or(material.to_string(), |m| lang.pick(&m.name))
}

/// A deliverable's name in this language, or its id when no step names it.
pub fn deliverable_name(lang: Lang, definition: &Definition, deliverable: &str) -> String {
    definition
        .steps
        .iter()
        .flat_map(|s| s.deliverables.iter())
        .find(|x| x.id == deliverable)
        .map_or(deliverable.to_string(), |x| lang.pick(&x.name))
}

pub fn step_title(lang: Lang, definition: &Definition, step: &str) -> String {
    definition
        .step(step)
        .map_or(step.to_string(), |s| lang.pick(&s.title))
}

pub fn due_words(lang: Lang, step: &StepView, offset: i32) -> String {
    match step.due {
        Some(due) => {
            let mut text = local(due, offset);
            if step.provisional {
                text.push_str(&format!(" ({})", lang.t("case.provisional")));
            }
            text
        }
        None => String::new(),
    }
}

#[derive(Debug, Deserialize)]
pub struct CasePageQuery {
    at: Option<u64>,
    page: Option<usize>,
    order: Option<String>,
}

const TIMELINE_PAGE: usize = 20;

pub async fn show(
    State(state): State<AppState>,
    person: Person,
    Path(case_id): Path<String>,
    Query(query): Query<CasePageQuery>,
) -> Result<Response, PageError> {
    let lang = person.lang;
    let seen = seen(&state, &person, &case_id, query.at, "case").await?;
    let d = &seen.definition;
    let v = &seen.view;
    let offset = seen.offset_minutes;
    let graph = case_graph(lang, d, &v.steps, &|step| due_words(lang, step, offset));
    let verification = verify_badge(&state, &case_id).await?;
    let timeline = timeline(&state, &person, &seen, &case_id, &query).await?;
    let agency = person.agency().unwrap_or_default();
    let title = format!("{} · {}", lang.pick(&d.title), v.id);
    let content = html! {
        div hx-ext="sse" sse-connect="/live" {
        (live_part(&format!("/cases/{case_id}{}", query.at.map(|n| format!("?at={n}")).unwrap_or_default()), "case"))
        section id="case" {
            h1 { (lang.pick(&d.title)) }
            @if let Some(at) = query.at {
                p class="notice" { (lang.f("case.as_at", &[("n", &at.to_string())])) " " a href=(format!("/cases/{case_id}")) { (lang.t("case.now")) } }
            }
            dl class="facts" {
                dt { (lang.t("case.number")) } dd { code { (v.id) } }
                dt { (lang.t("case.status")) } dd class=(format!("status-{}", v.status)) { (lang.t(&format!("status.{}", v.status))) }
                dt { (lang.t("case.applicant")) } dd { (v.applicant.clone().unwrap_or_else(|| "—".into())) }
                dt { (lang.t("case.opened")) } dd { (local(v.opened_at, offset)) }
                @if let Some(by) = v.promised_by { dt { (lang.t("case.promised_by")) } dd { (local(by, offset)) } }
                @if let Some(ended) = v.ended_at { dt { (lang.t("case.ended")) } dd { (local(ended, offset)) } }
                dt { (lang.t("case.verification")) } dd { (verification) }
            }
            p class="links no-print" {
                a href=(format!("/cases/{case_id}/notices/receipt")) { (lang.t("notice.receipt")) }
                @if v.steps.iter().any(|s| !s.requested_items.is_empty()) { " · " a href=(format!("/cases/{case_id}/notices/supplement")) { (lang.t("notice.supplement")) } }
                @if v.steps.iter().any(|s| s.state == case::StepState::Refused) { " · " a href=(format!("/cases/{case_id}/notices/refusal")) { (lang.t("notice.refusal")) } }
                @if v.steps.iter().any(|s| s.extension.as_ref().is_some_and(|e| e.state == case::ExtensionState::Granted)) { " · " a href=(format!("/cases/{case_id}/notices/extension")) { (lang.t("notice.extension")) } }
                @if v.status != "open" { " · " a href=(format!("/cases/{case_id}/notices/completion")) { (lang.t("notice.completion")) } }
            }
            h2 { (lang.t("case.steps")) }
            div class="graph-wrap" { (PreEscaped(graph)) }
            table class="steps" {
                caption { (lang.t("case.steps_table")) }
                thead { tr { th { (lang.t("guide.step")) } th { (lang.t("guide.agency")) } th { (lang.t("case.state")) } th { (lang.t("case.due")) } th { (lang.t("case.passes")) } } }
                tbody {
                    @for step in &v.steps {
                        @let shown = shown_state(step);
                        tr class=(format!("state-{shown}")) {
                            td {
                                @if step.state.is_started() && (step.agency == agency || person.role == ConsoleRole::Clerk) && query.at.is_none() {
                                    a href=(format!("/cases/{case_id}/steps/{}", step.id)) { (step_title(lang, d, &step.id)) }
                                } @else {
                                    (step_title(lang, d, &step.id))
                                }
                            }
                            td { (agency_name(lang, d, &step.agency)) }
                            td { span class=(format!("badge state-{shown}")) { (lang.t(&format!("state.{shown}"))) } }
                            td { (due_words(lang, step, offset)) }
                            td { (step.passes) }
                        }
                    }
                }
            }
            (materials_table(lang, d, v))
            (documents(lang, &person, d, v, &case_id, query.at.is_none()))
            (bills(lang, &person, d, v, &case_id, query.at.is_none()))
            (window_supplement(lang, &person, d, v, &case_id, query.at.is_none()))
            (rating_and_follow_up(lang, &person, v, &case_id, offset, query.at.is_none()))
        }
        }
        (timeline)
    };
    Ok(no_store(page(&person, &title, content)))
}

async fn verify_badge(state: &AppState, case_id: &str) -> Result<Markup, PageError> {
    let database = state.store.database();
    let checkpoint = onething_store::audit::latest_checkpoint(database).await?;
    let report =
        onething_store::audit::verify(database, Some(case_id), checkpoint.as_ref(), &mut |_| {})
            .await?;
    Ok(html! {
        @if report.intact() {
            span class="badge verified" { "✓ " (Lang::Zh.t("case.chain_intact")) " / " span lang="en" { (Lang::En.t("case.chain_intact")) } }
            " " span class="hint" { (report.events) " · " (report.checkpoint.as_ref().map(|(at, _)| at.clone()).unwrap_or_else(|| Lang::Zh.t("case.no_checkpoint").to_string())) }
        } @else {
            span class="badge damaged" role="alert" { "✗ " (Lang::Zh.t("case.chain_damaged")) " / " span lang="en" { (Lang::En.t("case.chain_damaged")) } }
            ul { @for finding in &report.findings { li { (format!("{finding:?}")) } } }
        }
    })
}

/// The scanned documents attached, and for the window or an agency at work
/// on the case the form to attach one.
fn documents(
    lang: Lang,
    person: &Person,
    d: &Definition,
    v: &CaseView,
    case_id: &str,
    live: bool,
) -> Markup {
    let agency = person.agency().unwrap_or_default();
    let may_attach = live
        && v.status == "open"
        && (person.role == ConsoleRole::Clerk || v.open_tasks().any(|step| step.agency == agency));
    html! {
        section id="documents" {
            h2 { (lang.t("document.title")) }
            @if v.documents.is_empty() { p { (lang.t("document.empty")) } }
            @else {
                table {
                    thead { tr { th { (lang.t("document.name")) } th { (lang.t("guide.material")) } th { (lang.t("document.size")) } th { "SHA-256" } } }
                    tbody {
                        @for doc in &v.documents {
                            tr {
                                td { a href=(format!("/cases/{case_id}/documents/{}", doc.sha256)) { (doc.name) } }
                                td { (doc.material.as_ref().and_then(|id| d.materials.iter().find(|m| &m.id == id)).map_or("—".to_string(), |m| lang.pick(&m.name))) }
                                td { (doc.size) }
                                td { code { (doc.sha256[..16.min(doc.sha256.len())]) "…" } }
                            }
                        }
                    }
                }
            }
            @if may_attach {
                form method="post" action=(format!("/cases/{case_id}/documents")) enctype="multipart/form-data" class="no-print" {
                    (csrf_field(person))
                    input type="hidden" name="command_id" value=(uuid::Uuid::new_v4().to_string());
                    label for="document-material" { (lang.t("guide.material")) }
                    select id="document-material" name="material" {
                        option value="" { "—" }
                        @for m in &d.materials { option value=(m.id) { (lang.pick(&m.name)) } }
                    }
                    label for="document-file" { (lang.t("document.file")) }
                    input id="document-file" type="file" name="file" accept="application/pdf,image/jpeg,image/png" required;
                    button type="submit" { (lang.t("document.attach")) }
                }
            }
        }
    }
}

fn materials_table(lang: Lang, d: &Definition, v: &CaseView) -> Markup {
    html! {
        h2 { (lang.t("case.materials")) }
        p { (lang.f("case.not_submitted", &[("count", &v.materials_not_submitted.to_string())])) }
        table {
            thead { tr { th { (lang.t("guide.material")) } th { (lang.t("case.provision")) } } }
            tbody {
                @for record in &v.materials {
                    tr {
                        td { (material_name(lang, d, &record.material)) }
                        td { (provision_words(lang, &record.provision, 480)) }
                    }
                }
            }
        }
    }
}

pub fn provision_words(lang: Lang, provision: &case::MaterialProvision, offset: i32) -> String {
    use case::MaterialProvision::*;
    match provision {
        Submitted => lang.t("material.submitted").into(),
        Shared => lang.t("material.shared").into(),
        Commitment => lang.t("material.commitment").into(),
        Waived => lang.t("material.waived").into(),
        Promised { deadline } => format!(
            "{} · {}",
            lang.t("material.promised"),
            local(*deadline, offset)
        ),
    }
}

/// The bills per payer with their items per payee (税费同缴), and for the
/// window or the collecting agency a form to record a payment.
fn bills(
    lang: Lang,
    person: &Person,
    d: &Definition,
    v: &CaseView,
    case_id: &str,
    live: bool,
) -> Markup {
    html! {
        @if !v.payments.is_empty() {
            h2 { (lang.t("case.bills")) }
            @for bill in &v.payments {
                section class="bill" {
                    h3 { (lang.f("guide.payer", &[("payer", &bill.payer)])) " — " (yuan(bill.total)) " — " (if bill.paid { lang.t("case.paid") } else { lang.t("case.unpaid") }) }
                    table {
                        thead { tr { th { (lang.t("case.item")) } th { (lang.t("case.payee")) } th { (lang.t("case.amount")) } } }
                        tbody {
                            @for item in &bill.items {
                                tr { td { (lang.pick(&item.label)) } td { (agency_name(lang, d, &item.payee)) } td class="money" { (yuan(item.amount)) } }
                            }
                        }
                    }
                    @if let Some(receipt) = &bill.receipt { p { (lang.t("case.receipt_number")) ": " (receipt) } }
                    @let collects = person.agency().is_some_and(|a| a == "window" || d.step(&bill.step).is_some_and(|s| s.agency == a));
                    @if live && !bill.paid && collects && v.steps.iter().any(|s| s.id == bill.step && s.state.is_started()) {
                        form method="post" action=(format!("/cases/{case_id}/payments")) class="inline" {
                            (csrf_field(person))
                            input type="hidden" name="command_id" value=(uuid::Uuid::new_v4().to_string());
                            input type="hidden" name="payer" value=(bill.payer);
                            input type="hidden" name="amount" value=(bill.total);
                            @let id = format!("receipt-{}", bill.payer);
                            label for=(id) { (lang.t("case.receipt_number")) }
                            input id=(id) name="receipt" required;
                            button type="submit" { (lang.f("case.record_payment", &[("amount", &yuan(bill.total))])) }
                        }
                    }
                }
            }
        }
    }
}

/// The rating (好差评) and, for a bad one, its follow-up: the window records
/// it here; everyone who reads the case sees what was done.
fn rating_and_follow_up(
    lang: Lang,
    person: &Person,
    v: &CaseView,
    case_id: &str,
    offset: i32,
    live: bool,
) -> Markup {
    let Some(rating) = &v.rating else {
        return html! {};
    };
    html! {
        section class="rating" id="follow-up" {
            h2 { (lang.f("case.rating", &[("level", lang.t(&format!("rating.level.{}", rating.score)))])) }
            @if let Some(comment) = &rating.comment { p { "“" (comment) "”" } }
            @if let Some(due) = rating.follow_up_due {
                h3 { (lang.t("case.follow_up")) }
                @match &rating.follow_up {
                    Some(done) => p { (lang.f("case.follow_up_done", &[
                        ("time", &local(done.at, offset)),
                        ("result", &done.result),
                        ("resolved", lang.t(if done.resolved { "case.solved" } else { "case.not_solved" })),
                    ])) },
                    None => {
                        p class="mark-overdue" { (lang.f("case.follow_up_due", &[("time", &local(due, offset))])) }
                        @if live && person.role == ConsoleRole::Clerk {
                            form method="post" action=(format!("/cases/{case_id}/follow-up")) {
                                (csrf_field(person))
                                input type="hidden" name="command_id" value=(uuid::Uuid::new_v4().to_string());
                                label for="follow-up-result" { (lang.t("case.follow_up_result")) }
                                textarea id="follow-up-result" name="result" rows="3" required {}
                                label for="follow-up-resolved" { (lang.t("case.follow_up_resolved")) }
                                select id="follow-up-resolved" name="resolved" {
                                    option value="true" { (lang.t("case.solved")) }
                                    option value="false" { (lang.t("case.not_solved")) }
                                }
                                button type="submit" { (lang.t("case.follow_up_record")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The window records what the applicant supplied: the items asked for and
/// the promised materials.
fn window_supplement(
    lang: Lang,
    person: &Person,
    d: &Definition,
    v: &CaseView,
    case_id: &str,
    live: bool,
) -> Markup {
    let asked: Vec<&String> = v
        .steps
        .iter()
        .filter(|s| s.state == case::StepState::Paused)
        .flat_map(|s| s.requested_items.iter())
        .collect();
    let promised: Vec<&case::MaterialRecord> = v
        .materials
        .iter()
        .filter(|m| matches!(m.provision, case::MaterialProvision::Promised { .. }))
        .collect();
    let show = live
        && person.role == ConsoleRole::Clerk
        && (!asked.is_empty() || !promised.is_empty())
        && v.status == "open";
    html! {
        @if show {
            section class="supplement" {
                h2 { (lang.t("case.record_supplement")) }
                form method="post" action=(format!("/cases/{case_id}/supplement")) {
                    (csrf_field(person))
                    input type="hidden" name="command_id" value=(uuid::Uuid::new_v4().to_string());
                    @for (index, item) in asked.iter().enumerate() {
                        div class="field" {
                            @let id = format!("item-{index}");
                            label for=(id) { (item) }
                            input type="hidden" name="item" value=(item);
                            input id=(id) name="item_value" required;
                        }
                    }
                    @for record in &promised {
                        label class="choice" {
                            input type="checkbox" name="material" value=(record.material);
                            " " (material_name(lang, d, &record.material))
                        }
                    }
                    button type="submit" { (lang.t("case.record_supplement")) }
                }
            }
        }
    }
}

async fn timeline(
    state: &AppState,
    person: &Person,
    seen: &Seen,
    case_id: &str,
    query: &CasePageQuery,
) -> Result<Markup, PageError> {
    let lang = person.lang;
    if !person.client().may(Permission::ReadHistories) {
        return Ok(html! {});
    }
    let events = state.store.events(case_id).await?;
    let calendar = state.store.library().calendar(&seen.definition.calendar);
    let newest_first = query.order.as_deref() != Some("oldest");
    let mut ordered: Vec<&onething_store::StoredEvent> = events.iter().collect();
    if newest_first {
        ordered.reverse();
    }
    let pages = ordered.len().div_ceil(TIMELINE_PAGE).max(1);
    let page_number = query.page.unwrap_or(1).clamp(1, pages);
    let shown = ordered
        .iter()
        .skip((page_number - 1) * TIMELINE_PAGE)
        .take(TIMELINE_PAGE);
    let order = if newest_first { "newest" } else { "oldest" };
    let link = |page: usize, order: &str| format!("/cases/{case_id}?page={page}&order={order}");
    Ok(html! {
        section id="timeline" {
            h2 { (lang.t("case.timeline")) }
            p class="no-print" {
                a href=(link(1, if newest_first { "oldest" } else { "newest" })) { (if newest_first { lang.t("case.oldest_first") } else { lang.t("case.newest_first") }) }
            }
            ol class="timeline" {
                @for stored in shown {
                    @let words = describe(&stored.event.change, Some(&seen.definition), calendar.as_deref());
                    li {
                        span class="when" { (local(stored.event.at, seen.offset_minutes)) }
                        " "
                        span class="who" { (stored.metadata.actor) }
                        " — "
                        span class="what" { (lang.pick(&words)) }
                        " "
                        a class="at no-print" href=(format!("/cases/{case_id}?at={}", stored.sequence)) { (lang.f("case.at_event", &[("n", &stored.sequence.to_string())])) }
                    }
                }
            }
            nav class="pager no-print" aria-label=(lang.t("case.timeline")) {
                @if page_number > 1 { a href=(link(page_number - 1, order)) { (lang.t("action.previous")) } " " }
                span { (lang.f("case.page_of", &[("page", &page_number.to_string()), ("pages", &pages.to_string())])) }
                @if page_number < pages { " " a href=(link(page_number + 1, order)) { (lang.t("action.next")) } }
            }
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    page: Option<i64>,
}

/// The cases this person may see, newest first, by number or status.
pub async fn list(
    State(state): State<AppState>,
    person: Person,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let client = person.client();
    client.require(Permission::ListCases)?;
    let lang = person.lang;
    let needle = query.q.clone().unwrap_or_default();
    let page_number = query.page.unwrap_or(1).max(1);
    let mut filter = CaseFilter {
        status: query.status.clone().filter(|s| !s.is_empty()),
        number_prefix: Some(needle.trim().to_string()).filter(|n| !n.is_empty()),
        newest_first: true,
        // One more than a page: whether there is a next page.
        limit: Some(26),
        offset: (page_number - 1) * 25,
        ..CaseFilter::default()
    };
    if person.role.api_role() == onething_server::Role::Agency {
        filter.agency = person.agency();
        filter = filter.involving(state.store.library());
    }
    let cases = views::list_cases(state.store.database(), &filter).await?;
    let shown: Vec<&CaseView> = cases.iter().take(25).collect();
    let more = cases.len() > 25;
    let content = html! {
        h1 { (lang.t("nav.cases")) }
        form method="get" action="/cases" class="search" role="search" {
            label for="q" { (lang.t("cases.search")) }
            input id="q" name="q" type="search" value=(needle);
            label for="status" { (lang.t("case.status")) }
            select id="status" name="status" {
                option value="" { "—" }
                @for status in ["open", "completed", "partially_completed", "withdrawn", "terminated"] {
                    option value=(status) selected[query.status.as_deref() == Some(status)] { (lang.t(&format!("status.{status}"))) }
                }
            }
            button type="submit" { (lang.t("action.search")) }
        }
        table {
            thead { tr { th { (lang.t("case.number")) } th { (lang.t("guide.bundle")) } th { (lang.t("case.status")) } th { (lang.t("case.opened")) } } }
            tbody {
                @for case in &shown {
                    tr {
                        td { a href=(format!("/cases/{}", case.id)) { code { (case.id) } } }
                        td { (state.store.library().by_hash(&case.hash).map_or(case.workflow.clone(), |d| lang.pick(&d.title))) }
                        td { (lang.t(&format!("status.{}", case.status))) }
                        td { (local(case.opened_at, 480)) }
                    }
                }
            }
        }
        nav class="pager" aria-label=(lang.t("nav.cases")) {
            @if page_number > 1 { a href=(format!("/cases?page={}&q={}", page_number - 1, super::url_encode(&needle))) { (lang.t("action.previous")) } " " }
            @if more { a href=(format!("/cases?page={}&q={}", page_number + 1, super::url_encode(&needle))) { (lang.t("action.next")) } }
        }
    };
    Ok(no_store(page(&person, lang.t("nav.cases"), content)))
}
