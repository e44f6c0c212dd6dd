//! The comprehensive window (综合窗口): pick a bundle, read and print its
//! guide (一次性告知), fill in the application from the bundle's own
//! definition, and accept it — every problem at once, next to its field;
//! the same command id on a retry, so a double click never opens two cases.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeZone};
use maud::{html, Markup};
use onething_core::case::{self, Action, Channel, MaterialDeclaration, MaterialProvision};
use onething_core::workflow::{Definition, MaterialSource, StepKind};
use onething_server::auth::Permission;
use onething_server::AppState;
use onething_store::CommandError;
use serde::Deserialize;

use super::fields::{inputs, read};
use super::notices::notice_page;
use super::{
    command_id_of, csrf_field, execute, no_store, page, refusal_problems, Fields, PageError,
};
use crate::messages::Lang;
use crate::session::Person;
use crate::Console;
use axum::Extension;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct Search {
    q: Option<String>,
}

fn definition(state: &AppState, workflow: &str) -> Result<std::sync::Arc<Definition>, PageError> {
    state
        .store
        .library()
        .current_at(workflow, state.now())
        .ok_or_else(|| PageError::NotFound(format!("no bundle `{workflow}`")))
}

/// The bundles, the most used first, searchable by name.
pub async fn bundles(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    person: Person,
    Query(search): Query<Search>,
) -> Result<Response, PageError> {
    person.client().require(Permission::OpenCases)?;
    let lang = person.lang;
    let cached = console
        .bundle_counts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .filter(|(at, _)| at.elapsed() < std::time::Duration::from_secs(60));
    let counts = match cached {
        Some((_, counts)) => counts,
        None => {
            let counts = onething_store::views::case_counts(state.store.database()).await?;
            *console
                .bundle_counts
                .lock()
                .unwrap_or_else(|e| e.into_inner()) =
                Some((std::time::Instant::now(), counts.clone()));
            counts
        }
    };
    let library = state.store.library();
    let mut ids: Vec<String> = library
        .current_definitions()
        .iter()
        .map(|d| d.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    let used = |id: &str| counts.iter().find(|(w, _)| w == id).map_or(0, |(_, n)| *n);
    ids.sort_by_key(|id| std::cmp::Reverse(used(id)));
    let query = search.q.clone().unwrap_or_default();
    let needle = query.trim().to_lowercase();
    let shown: Vec<std::sync::Arc<Definition>> = ids
        .iter()
        .filter_map(|id| library.current_at(id, state.now()))
        .filter(|d| {
            needle.is_empty()
                || d.id.to_lowercase().contains(&needle)
                || d.title.zh.contains(needle.as_str())
                || d.title.en.to_lowercase().contains(&needle)
        })
        .collect();
    let content = html! {
        h1 { (lang.t("window.title")) }
        form method="get" action="/window" class="search" role="search" {
            label for="q" { (lang.t("window.search")) }
            input id="q" name="q" type="search" value=(query);
            button type="submit" { (lang.t("action.search")) }
        }
        @if shown.is_empty() { p { (lang.t("window.none_found")) } }
        ul class="bundles" {
            @for d in &shown {
                li {
                    h2 { (lang.pick(&d.title)) }
                    p class="meta" {
                        (lang.f("window.cases_so_far", &[("count", &used(&d.id).to_string())]))
                        @if let Some(limit) = &d.promised_limit { " · " (lang.t("guide.promised")) " " (span(lang, limit)) }
                    }
                    a class="button" href=(format!("/window/{}/apply", d.id)) { (lang.t("window.apply")) }
                    " "
                    a href=(format!("/window/{}/guide", d.id)) { (lang.t("window.guide")) }
                }
            }
        }
    };
    Ok(no_store(page(&person, lang.t("window.title"), content)))
}

pub fn span(lang: Lang, span: &onething_core::calendar::TimeSpan) -> String {
    use onething_core::calendar::TimeUnit;
    let unit = match span.unit {
        TimeUnit::WorkingDays => "unit.working_days",
        TimeUnit::CalendarDays => "unit.calendar_days",
        TimeUnit::Hours => "unit.hours",
    };
    lang.f(unit, &[("n", &span.amount.to_string())])
}

fn source_words(lang: Lang, definition: &Definition, source: &MaterialSource) -> String {
    match source {
        MaterialSource::Applicant => lang.t("material.from_applicant").to_string(),
        MaterialSource::ELicence => lang.t("material.from_elicence").to_string(),
        MaterialSource::Step { step } => lang.f(
            "material.from_step",
            &[(
                "step",
                &definition
                    .step(step)
                    .map_or(step.clone(), |s| lang.pick(&s.title)),
            )],
        ),
    }
}

/// The guide of a bundle (一次性告知书): who may apply, what to bring,
/// what each agency does and in how long, what it costs. Printable.
pub async fn guide(
    State(state): State<AppState>,
    person: Person,
    Path(workflow): Path<String>,
) -> Result<Response, PageError> {
    person.client().require(Permission::ReadWorkflows)?;
    let lang = person.lang;
    let d = definition(&state, &workflow)?;
    let agency_name = |id: &str| {
        d.agency(id)
            .map_or(id.to_string(), |agency| lang.pick(&agency.name))
    };
    let body = html! {
        p { (lang.f("guide.intro", &[("bundle", &lang.pick(&d.title))])) }
        h2 { (lang.t("guide.conditions")) }
        p class="description" { (d.description.trim()) }
        h2 { (lang.t("guide.basis")) }
        ul { @for basis in &d.basis { li { (basis) } } }
        h2 { (lang.t("guide.materials")) }
        table {
            thead { tr { th { (lang.t("guide.material")) } th { (lang.t("guide.source")) } th { (lang.t("guide.required")) } } }
            tbody {
                @for m in &d.materials {
                    tr {
                        td { (lang.pick(&m.name)) }
                        td { (source_words(lang, &d, &m.source)) }
                        td {
                            @if let Some(condition) = m.required.condition() {
                                (lang.f("guide.required_when", &[("condition", condition)]))
                            } @else {
                                (if m.required.is_always() { lang.t("value.yes") } else { lang.t("value.no") })
                            }
                            @if m.deficiency_allowed { " · " (lang.t("material.promised")) }
                            @if m.commitment_allowed { " · " (lang.t("material.commitment")) }
                        }
                    }
                }
            }
        }
        h2 { (lang.t("guide.form")) }
        ul { @for field in &d.form { li { (lang.pick(&field.label)) @if let Some(condition) = field.required.condition() { " (" (lang.f("form.required_when", &[("condition", condition)])) ")" } @else if !field.required.is_always() { " (" (lang.t("guide.optional")) ")" } } } }
        h2 { (lang.t("guide.steps")) }
        table {
            thead { tr { th { (lang.t("guide.step")) } th { (lang.t("guide.agency")) } th { (lang.t("guide.time_limit")) } } }
            tbody {
                @for step in &d.steps {
                    tr {
                        td { (lang.pick(&step.title)) @if step.opt_in { " (" (lang.t("guide.opt_in")) ")" } }
                        td { (agency_name(&step.agency)) }
                        td { (step.time_limit.as_ref().map(|s| span(lang, s)).unwrap_or_else(|| "—".into())) }
                    }
                }
            }
        }
        h2 { (lang.t("guide.limits")) }
        p {
            @if let Some(limit) = &d.promised_limit { (lang.t("guide.promised")) " " (span(lang, limit)) }
            @if let Some(limit) = &d.statutory_limit { " · " (lang.t("guide.statutory")) " " (span(lang, limit)) }
        }
        h2 { (lang.t("guide.fees")) }
        @let bills: Vec<_> = d.steps.iter().filter(|s| s.kind == StepKind::Payment).flat_map(|s| s.bills.iter()).collect();
        @if bills.is_empty() { p { (lang.t("guide.no_fees")) } }
        @for bill in bills {
            p { strong { (lang.f("guide.payer", &[("payer", &bill.payer)])) } }
            ul {
                @for item in &bill.items {
                    li {
                        (lang.pick(&item.label)) " → " (agency_name(&item.payee)) ": "
                        @match item.amount.trim().parse::<i64>() {
                            Ok(fen) => { (super::yuan(fen)) }
                            Err(_) => { (lang.t("guide.amount_computed")) }
                        }
                    }
                }
            }
        }
    };
    let window = lang.t("notice.window_seal").to_string();
    Ok(no_store(notice_page(
        lang,
        lang.t("notice.guide"),
        &lang.pick(&d.title),
        &window,
        body,
    )))
}

#[derive(Debug, Default)]
struct Attempt {
    fields: Fields,
    problems: Vec<(String, String)>,
    command_id: String,
}

/// How a material may be provided at the window, as the bundle allows.
fn material_options(m: &onething_core::workflow::Material) -> Vec<(&'static str, &'static str)> {
    let mut options = Vec::new();
    if m.source.is_shared() {
        options.push(("shared", "material.shared"));
    }
    options.push(("submitted", "material.submitted"));
    if m.deficiency_allowed {
        options.push(("promised", "material.promised"));
    }
    if m.commitment_allowed {
        options.push(("commitment", "material.commitment"));
    }
    // A material required only when a condition holds offers every choice
    // an optional one does: the engine refuses the application if the
    // condition holds and the material is missing.
    if !m.required.is_always() && !m.source.is_shared() {
        options.push(("none", "material.none"));
    }
    if !m.required.is_always() {
        options.push(("waived", "material.waived"));
    }
    options
}

fn material_choice(
    lang: Lang,
    d: &Definition,
    sent: &Fields,
    problems: &[(String, String)],
) -> Markup {
    html! {
        fieldset class="materials" {
            legend { (lang.t("form.materials")) }
            @for m in &d.materials {
                @let name = format!("material.{}", m.id);
                @let chosen = sent.get(&name).map(str::to_string).unwrap_or_else(|| {
                    if m.source.is_shared() { "shared".into() } else if m.required.is_always() { "submitted".into() } else { "none".into() }
                });
                @let mine: Vec<&String> = problems.iter().filter(|(f, _)| *f == format!("materials.{}", m.id)).map(|(_, msg)| msg).collect();
                div class={ "material" @if !mine.is_empty() { " has-problem" } } {
                    p class="material-name" { strong { (lang.pick(&m.name)) } " — " (source_words(lang, d, &m.source)) }
                    div role="radiogroup" aria-label=(lang.pick(&m.name)) {
                        @for (value, key) in material_options(m) {
                            @let id = format!("material-{}-{value}", m.id);
                            label for=(id) class="choice" {
                                input type="radio" id=(id) name=(name) value=(value) checked[chosen == value];
                                " " (lang.t(key))
                            }
                        }
                    }
                    @if m.deficiency_allowed {
                        @let id = format!("deadline-{}", m.id);
                        label for=(id) { (lang.t("material.deadline")) }
                        input type="date" id=(id) name=(format!("deadline.{}", m.id)) value=(sent.get(&format!("deadline.{}", m.id)).unwrap_or_default());
                    }
                    @for message in &mine { p class="problem" role="alert" { (message) } }
                }
            }
        }
    }
}

fn application_form(
    state: &AppState,
    person: &Person,
    d: &Definition,
    attempt: &Attempt,
) -> Markup {
    let lang = person.lang;
    let general: Vec<&(String, String)> = attempt
        .problems
        .iter()
        .filter(|(field, _)| !field.starts_with("form.") && !field.starts_with("materials."))
        .collect();
    let opt_ins: Vec<_> = d.steps.iter().filter(|s| s.opt_in).collect();
    let chosen = attempt.fields.all("opted_in");
    let _ = state;
    html! {
        h1 { (lang.pick(&d.title)) }
        p { a href=(format!("/window/{}/guide", d.id)) { (lang.t("window.guide")) } }
        @if !attempt.problems.is_empty() {
            div class="problems" role="alert" id="problems" tabindex="-1" {
                h2 { (lang.f("form.problems", &[("count", &attempt.problems.len().to_string())])) }
                ul { @for (field, message) in &attempt.problems { li { @if !field.is_empty() { code { (field) } ": " } (message) } } }
            }
        }
        @for (_, message) in &general { p class="problem" { (message) } }
        form method="post" action=(format!("/window/{}/apply", d.id)) class="application" novalidate {
            (csrf_field(person))
            input type="hidden" name="command_id" value=(attempt.command_id);
            fieldset {
                legend { (lang.t("form.applicant")) }
                (inputs(lang, "form", &d.form, &attempt.fields, &attempt.problems.iter().filter(|(f, _)| f.starts_with("form.")).cloned().collect::<Vec<_>>()))
            }
            @if !opt_ins.is_empty() {
                fieldset {
                    legend { (lang.t("form.services")) }
                    @for step in opt_ins {
                        label class="choice" {
                            input type="checkbox" name="opted_in" value=(step.id) checked[chosen.contains(&step.id)];
                            " " (lang.pick(&step.title))
                        }
                    }
                }
            }
            (material_choice(lang, d, &attempt.fields, &attempt.problems))
            div class="field" {
                label for="channel" { (lang.t("form.channel")) }
                select id="channel" name="channel" {
                    @for (value, key) in [("window", "channel.window"), ("online", "channel.online"), ("self_service", "channel.self_service"), ("proxy", "channel.proxy")] {
                        option value=(value) selected[attempt.fields.get("channel") == Some(value)] { (lang.t(key)) }
                    }
                }
            }
            button type="submit" class="primary" { (lang.t("form.submit")) }
            @if !attempt.problems.is_empty() {
                " "
                button type="submit" formaction=(format!("/window/{}/refusal-notice", d.id)) formtarget="_blank" { (lang.t("form.print_not_accepted")) }
            }
        }
    }
}

pub async fn form(
    State(state): State<AppState>,
    person: Person,
    Path(workflow): Path<String>,
) -> Result<Response, PageError> {
    person.client().require(Permission::OpenCases)?;
    let d = definition(&state, &workflow)?;
    let attempt = Attempt {
        command_id: uuid::Uuid::new_v4().to_string(),
        ..Attempt::default()
    };
    let lang = person.lang;
    Ok(no_store(page(
        &person,
        &lang.pick(&d.title),
        application_form(&state, &person, &d, &attempt),
    )))
}

/// The end of a local date, as the deadline of a promised material.
fn end_of_day(date: &str, offset_minutes: i32) -> Option<chrono::DateTime<chrono::Utc>> {
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let offset = chrono::FixedOffset::east_opt(offset_minutes * 60)?;
    offset
        .from_local_datetime(&date.and_hms_opt(23, 59, 59)?)
        .single()
        .map(|time| time.with_timezone(&chrono::Utc))
}

/// The application a submitted form makes: its command id, the case id,
/// the open action, and the problems found before deciding (a promised
/// material without its date).
struct Application {
    command_id: String,
    case_id: String,
    action: Action,
    problems: Vec<(String, String)>,
}

fn application(state: &AppState, lang: Lang, d: &Definition, fields: &Fields) -> Application {
    let command_id = command_id_of(fields);
    let offset = state
        .store
        .library()
        .calendar(&d.calendar)
        .map_or(480, |c| c.utc_offset_minutes);
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut materials = Vec::new();
    for m in &d.materials {
        let provision = match fields.get(&format!("material.{}", m.id)).unwrap_or("none") {
            "shared" => MaterialProvision::Shared,
            "submitted" => MaterialProvision::Submitted,
            "commitment" => MaterialProvision::Commitment,
            "waived" => MaterialProvision::Waived,
            "promised" => match fields
                .text(&format!("deadline.{}", m.id))
                .and_then(|date| end_of_day(&date, offset))
            {
                Some(deadline) => MaterialProvision::Promised { deadline },
                None => {
                    problems.push((
                        format!("materials.{}", m.id),
                        lang.t("material.deadline_missing").to_string(),
                    ));
                    continue;
                }
            },
            _ => continue,
        };
        materials.push(MaterialDeclaration {
            material: m.id.clone(),
            provision,
        });
    }
    let channel = match fields.get("channel") {
        Some("online") => Channel::Online,
        Some("self_service") => Channel::SelfService,
        Some("proxy") => Channel::Proxy,
        _ => Channel::Window,
    };
    let case_id = case::case_id_for(&command_id);
    let action = Action::Open {
        case_id: case_id.clone(),
        workflow: d.id.clone(),
        form: read("form", &d.form, fields),
        materials,
        opted_in: fields.all("opted_in"),
        channel,
    };
    Application {
        command_id,
        case_id,
        action,
        problems,
    }
}

/// Every problem of an application, decided as a dry run: nothing is stored.
fn dry_run_problems(
    state: &AppState,
    person: &Person,
    application: &Application,
) -> Vec<(String, String)> {
    let mut problems = application.problems.clone();
    let dry_run = case::CaseCommand {
        command_id: "dry-run".into(),
        actor: person.actor(),
        at: state.now(),
        action: application.action.clone(),
    };
    if let Err(error) =
        case::decide_with_library(&case::Case::default(), state.store.library(), &dry_run)
    {
        let fresh: Vec<(String, String)> = refusal_problems(&error)
            .into_iter()
            .filter(|(field, _)| !problems.iter().any(|(f, _)| f == field))
            .collect();
        problems.extend(fresh);
    }
    problems
}

/// The notice of refusal to accept (不予受理通知书): the application as
/// submitted and every reason it cannot be accepted. Nothing is stored: no
/// case was opened.
pub async fn refusal_notice(
    State(state): State<AppState>,
    person: Person,
    Path(workflow): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    person.check_csrf(fields.get("_csrf"))?;
    person.client().require(Permission::OpenCases)?;
    let d = definition(&state, &workflow)?;
    let lang = person.lang;
    let application = application(&state, lang, &d, &fields);
    let problems = dry_run_problems(&state, &person, &application);
    let offset = state
        .store
        .library()
        .calendar(&d.calendar)
        .map_or(480, |c| c.utc_offset_minutes);
    let form = match &application.action {
        Action::Open { form, .. } => form.clone(),
        _ => serde_json::Value::Null,
    };
    let body = html! {
        dl class="facts" {
            @for field in d.form.iter().take(4) {
                @if let Some(value) = form.get(&field.name) {
                    dt { (lang.pick(&field.label)) } dd { (super::fields::value_text(lang, value)) }
                }
            }
        }
        p { (lang.f("notice.not_accepted_text", &[("bundle", &lang.pick(&d.title)), ("date", &super::local(state.now(), offset))])) }
        @if problems.is_empty() { p { (lang.t("notice.not_accepted_none")) } }
        ol class="items" { @for (field, message) in &problems { li { @if !field.is_empty() { code { (field) } ": " } (message) } } }
        p { (lang.t("notice.not_accepted_after")) }
        p class="remedy" { (lang.t("notice.remedy")) }
        p { (lang.f("notice.clerk", &[("clerk", &format!("window/{}", person.user.name))])) }
    };
    Ok(no_store(notice_page(
        lang,
        lang.t("notice.not_accepted"),
        &lang.pick(&d.title),
        lang.t("notice.window_seal"),
        body,
    )))
}

pub async fn submit(
    State(state): State<AppState>,
    person: Person,
    Path(workflow): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    person.check_csrf(fields.get("_csrf"))?;
    person.client().require(Permission::OpenCases)?;
    let d = definition(&state, &workflow)?;
    let lang = person.lang;
    let application = application(&state, lang, &d, &fields);
    let command_id = application.command_id.clone();
    let case_id = application.case_id.clone();
    let refused = |problems: Vec<(String, String)>| {
        let attempt = Attempt {
            fields: fields.clone(),
            problems,
            command_id: command_id.clone(),
        };
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            no_store(page(
                &person,
                &lang.pick(&d.title),
                application_form(&state, &person, &d, &attempt),
            )),
        )
            .into_response()
    };
    if !application.problems.is_empty() {
        // Every problem at once: the rest of the application is decided as
        // a dry run (nothing stored) and its problems added.
        return Ok(refused(dry_run_problems(&state, &person, &application)));
    }
    match execute(
        &state,
        &person,
        &case_id,
        command_id.clone(),
        application.action,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{case_id}/notices/receipt")).into_response()),
        Err(CommandError::Refused(error)) => Ok(refused(refusal_problems(&error))),
        Err(CommandError::Contended { .. }) => Ok(refused(vec![(
            String::new(),
            lang.t("error.contended").to_string(),
        )])),
        Err(CommandError::Store(error)) => Err(error.into()),
    }
}
