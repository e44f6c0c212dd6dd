//! The task page of an agency's step: what the step needs (the data it
//! receives when it declares inputs; otherwise the form and the outputs of
//! the steps before it; and the materials it uses), the outputs form
//! typed from the definition, and every action the step allows and the
//! person may take. And the window's records: a supplement, a payment.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use onething_core::case::{Action, StepState};
use onething_server::auth::Permission;
use onething_server::AppState;
use onething_store::CommandError;
use serde_json::{Map, Value};

use super::case_page::{
    agency_name, due_words, material_name, provision_words, seen, step_title, Seen,
};
use super::fields::{inputs, read, typed_value_text, value_text};
use super::{
    after_case_command, command_id_of, csrf_field, execute, local, no_store, page,
    refusal_problems, Fields, PageError,
};
use crate::graph::shown_state;
use crate::session::Person;

/// What this person may do on this step: own it (for a dispatched step,
/// be its current lead), decide its extension, dispatch it while it awaits
/// dispatch (its dispatcher, who also follows it afterwards), or report a
/// co-handler's part.
struct Role {
    owns: bool,
    decides_extension: bool,
    dispatches: bool,
    co_handles: bool,
}

fn role_on(person: &Person, seen: &Seen, step_id: &str) -> Result<Role, PageError> {
    let step = seen
        .definition
        .step(step_id)
        .ok_or_else(|| PageError::NotFound(format!("no step `{step_id}`")))?;
    let agency = person.agency().unwrap_or_default();
    let view = seen.view.steps.iter().find(|s| s.id == step_id);
    let dispatched = view.and_then(|v| v.dispatch.as_ref());
    let (owns, dispatches, co_handles) = match (&step.dispatch, dispatched) {
        (None, _) => (step.agency == agency, false, false),
        (Some(_), None) => (false, step.agency == agency, false),
        (Some(_), Some(dispatch)) => (
            dispatch.lead == agency,
            false,
            dispatch.co_handlers.contains(&agency),
        ),
    };
    let follows = step.dispatch.is_some() && step.agency == agency;
    // Without `approved_by` an extension is granted on request and nobody
    // decides it (as the core rules); for a dispatched step the fallback
    // approver would be the dispatcher, who holds no such right.
    let decides_extension = step
        .extension
        .as_ref()
        .is_some_and(|e| e.approved_by.as_deref() == Some(agency.as_str()));
    if !owns && !decides_extension && !dispatches && !co_handles && !follows {
        let holder = view.map_or(step.agency.as_str(), |v| v.agency.as_str());
        return Err(PageError::Forbidden(format!(
            "step `{step_id}` belongs to {holder}; you act for {agency}"
        )));
    }
    Ok(Role {
        owns,
        decides_extension,
        dispatches,
        co_handles,
    })
}

fn task_page(
    person: &Person,
    seen: &Seen,
    step_id: &str,
    role: &Role,
    sent: &Fields,
    problems: &[(String, String)],
) -> Markup {
    let lang = person.lang;
    let d = &seen.definition;
    let v = &seen.view;
    let case_id = &v.id;
    let step = d.step(step_id).expect("checked by role_on");
    let view = v.steps.iter().find(|s| s.id == step_id);
    let state = view.map_or(StepState::Waiting, |s| s.state);
    let shown = view.map_or("waiting", shown_state);
    let active = state == StepState::Active;
    let action = |name: &str| format!("/cases/{case_id}/steps/{step_id}/{name}");
    let command_id = || uuid::Uuid::new_v4().to_string();
    let used: Vec<_> = v
        .materials
        .iter()
        .filter(|m| step.uses.contains(&m.material))
        .collect();
    let earlier: Vec<_> = d
        .ancestors(step_id)
        .into_iter()
        .filter_map(|id| v.steps.iter().find(|s| s.id == id))
        .filter(|s| {
            s.outputs
                .as_ref()
                .is_some_and(|o| o.as_object().is_some_and(|o| !o.is_empty()))
        })
        .collect();
    html! {
        h1 { (step_title(lang, d, step_id)) }
        p class="meta" {
            (lang.pick(&d.title)) " · " a href=(format!("/cases/{case_id}")) { code { (case_id) } }
            " · " (agency_name(lang, d, view.map_or(&step.agency, |v| &v.agency)))
            @if step.dispatch.is_some() {
                @match view.and_then(|v| v.dispatch.as_ref()) {
                    Some(dispatch) => {
                        " · " span class="dispatch" { (lang.f("task.dispatched_by", &[("agency", &agency_name(lang, d, &dispatch.dispatcher))])) }
                        @if !dispatch.co_handlers.is_empty() {
                            " · " (lang.t("task.co_handlers")) " "
                            @for (n, co) in dispatch.co_handlers.iter().enumerate() {
                                @if n > 0 { "、" }
                                (agency_name(lang, d, co))
                                @if dispatch.reported.contains(co) { " (" (lang.t("task.reported")) ")" }
                            }
                        }
                    },
                    None => { " · " span class="badge awaiting-dispatch" { (lang.t("task.awaiting_dispatch")) } },
                }
            }
            " · " span class=(format!("badge state-{shown}")) { (lang.t(&format!("state.{shown}"))) }
            @if let Some(view) = view { @if view.due.is_some() { " · " (lang.t("case.due")) " " (due_words(lang, view, seen.offset_minutes)) } }
            @if let Some(clock) = view.and_then(|v| v.statutory.as_ref()) {
                " · " (lang.f("task.statutory_due", &[("time", &local(clock.due, seen.offset_minutes))]))
                @if clock.overdue { " " span class="badge mark-overdue" { (lang.t("desk.past_the_law")) } }
            }
            @for point in view.map(|v| v.escalations.as_slice()).unwrap_or_default() {
                " " span class="badge mark-overdue escalation" title=(local(point.at, seen.offset_minutes)) { (lang.pick(&point.name)) }
            }
            @if state.is_started() {
                " · " (lang.t("task.claimed_by")) " "
                @match view.and_then(|v| v.claimed_by.as_deref()) {
                    Some(name) => span class="claimed-by" { (name) },
                    None => span class="unclaimed" { (lang.t("task.unclaimed")) },
                }
            }
        }
        @if role.owns && state.is_started() && view.and_then(|v| v.claimed_by.as_deref()) != Some(person.user.name.as_str()) {
            form method="post" action=(action("claim")) class="inline claim" {
                (csrf_field(person))
                input type="hidden" name="command_id" value=(command_id());
                button type="submit" title=(lang.t("task.claim_hint")) { (lang.t("task.claim")) }
            }
        }
        @if !problems.is_empty() {
            div class="problems" role="alert" id="problems" tabindex="-1" {
                h2 { (lang.f("form.problems", &[("count", &problems.len().to_string())])) }
                ul { @for (field, message) in problems { li { @if !field.is_empty() { code { (field) } ": " } (message) } } }
            }
        }
        @let received = view.map(|v| v.inputs.as_slice()).unwrap_or_default();
        section {
            h2 { (lang.t("task.needs")) }
            @if !step.inputs.is_empty() {
                h3 { (lang.t("task.inputs")) }
                dl class="facts inputs" {
                    @for input in received {
                        dt { (lang.pick(&input.label)) }
                        dd data-type=(input.kind.name()) {
                            (typed_value_text(lang, input.kind, &input.value))
                            @if input.fallback { " " span class="note" { "(" (lang.t("task.input_fallback")) ")" } }
                        }
                    }
                }
            }
            @if step.inputs.is_empty() { dl class="facts" {
                @for field in &d.form {
                    @if let Some(value) = v.form.get(&field.name) {
                        dt { (lang.pick(&field.label)) } dd { (value_text(lang, value)) }
                    }
                }
            } }
            @if !used.is_empty() {
                h3 { (lang.t("task.materials_used")) }
                ul { @for record in &used { li { (material_name(lang, d, &record.material)) " — " (provision_words(lang, &record.provision, seen.offset_minutes)) } } }
            }
            @if step.inputs.is_empty() && !earlier.is_empty() {
                h3 { (lang.t("task.shared_data")) }
                dl class="facts" {
                    @for before in &earlier {
                        @if let Some(Value::Object(outputs)) = &before.outputs {
                            @for (name, value) in outputs {
                                @let label = d.step(&before.id).and_then(|s| s.outputs.iter().find(|o| &o.name == name)).map_or(name.clone(), |o| lang.pick(&o.label));
                                dt { (label) " (" (step_title(lang, d, &before.id)) ")" } dd { (value_text(lang, value)) }
                            }
                        }
                    }
                }
            }
            @if let Some(view) = view { @if !view.requested_items.is_empty() {
                h3 { (lang.t("task.asked_for")) }
                ul { @for item in &view.requested_items { li { (item) } } }
            } }
        }
        @let notices: Vec<_> = v.supervision.iter().filter(|n| n.step == step_id).collect();
        @if !notices.is_empty() {
            section class="supervision" aria-labelledby="supervision-notices" {
                h2 id="supervision-notices" { (lang.t("supervision.notices")) }
                @for notice in &notices {
                    div class="notice-box" {
                        p { strong { (lang.t("supervision.notice")) } " " (local(notice.issued_at, seen.offset_minutes)) ": " (notice.notice) }
                        @match &notice.answer {
                            Some(answer) => p { strong { (lang.t("supervision.answer")) } " " (notice.answered_at.map(|t| local(t, seen.offset_minutes)).unwrap_or_default()) ": " (answer) },
                            None => {
                                p class="mark-overdue" { (lang.f("supervision.answer_by", &[("time", &local(notice.answer_by, seen.offset_minutes))])) }
                                @if role.owns {
                                    form method="post" action=(action("answer-supervision")) {
                                        (csrf_field(person))
                                        input type="hidden" name="command_id" value=(command_id());
                                        label for="supervision-answer" { (lang.t("supervision.answer")) }
                                        textarea id="supervision-answer" name="answer" rows="3" required {}
                                        button type="submit" { (lang.t("supervision.send_answer")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if role.dispatches && active {
            @if let Some(set) = &step.dispatch {
                section class="action" {
                    h2 { (lang.t("task.dispatch")) }
                    form method="post" action=(action("dispatch")) {
                        (csrf_field(person))
                        input type="hidden" name="command_id" value=(command_id());
                        label for="dispatch-to" { (lang.t("task.dispatch_lead")) }
                        select id="dispatch-to" name="to" { @for agency in &set.any_of { option value=(agency) { (agency_name(lang, d, agency)) } } }
                        @if set.co_handlers > 0 {
                            fieldset {
                                legend { (lang.f("task.dispatch_co_handlers", &[("count", &set.co_handlers.to_string())])) }
                                @for agency in &set.any_of {
                                    label class="check" { input type="checkbox" name="with" value=(agency); " " (agency_name(lang, d, agency)) }
                                }
                            }
                        }
                        button type="submit" class="primary" { (lang.t("task.dispatch")) }
                    }
                }
            }
        }
        @if role.co_handles && active {
            @let reported = view.and_then(|v| v.dispatch.as_ref()).is_some_and(|dispatch| dispatch.reported.iter().any(|a| Some(a.as_str()) == person.agency().as_deref()));
            section class="action" {
                h2 { (lang.t("task.report")) }
                @if reported {
                    p { (lang.t("task.reported_already")) }
                } @else {
                    form method="post" action=(action("report")) {
                        (csrf_field(person))
                        input type="hidden" name="command_id" value=(command_id());
                        label for="report-text" { (lang.t("task.report_text")) }
                        textarea id="report-text" name="text" rows="3" required {}
                        button type="submit" class="primary" { (lang.t("task.report")) }
                    }
                }
            }
        }
        @if role.owns && active && step.dispatch.is_some() {
            section class="action" {
                h2 { (lang.t("task.send_back")) }
                form method="post" action=(action("send-back")) {
                    (csrf_field(person))
                    input type="hidden" name="command_id" value=(command_id());
                    label for="send-back-reason" { (lang.t("task.reason")) }
                    input id="send-back-reason" name="reason" required;
                    label for="send-back-basis" { (lang.t("task.send_back_basis")) }
                    input id="send-back-basis" name="basis";
                    button type="submit" { (lang.t("task.send_back")) }
                }
            }
        }
        @if role.owns && active && step.kind != onething_core::workflow::StepKind::Payment {
            section class="action" {
                h2 { (lang.t("task.complete")) }
                form method="post" action=(action("complete")) novalidate {
                    (csrf_field(person))
                    input type="hidden" name="command_id" value=(sent.get("command_id").map_or_else(command_id, str::to_string));
                    (inputs(lang, "outputs", &step.outputs, sent, &problems.iter().filter(|(f, _)| f.starts_with("outputs.")).cloned().collect::<Vec<_>>()))
                    button type="submit" class="primary" { (lang.t("task.complete")) }
                }
            }
        }
        @if role.owns && active && step.kind == onething_core::workflow::StepKind::Payment {
            p { a href=(format!("/cases/{case_id}#bills")) { (lang.t("task.see_bills")) } }
        }
        @if role.owns && active && step.supplements {
            section class="action" {
                h2 { (lang.t("task.request_supplement")) }
                form method="post" action=(action("request-supplement")) {
                    (csrf_field(person))
                    input type="hidden" name="command_id" value=(command_id());
                    label for="items" { (lang.t("task.items")) }
                    textarea id="items" name="items" rows="3" required {}
                    label for="supplement-reason" { (lang.t("task.reason")) }
                    input id="supplement-reason" name="reason" required;
                    button type="submit" { (lang.t("task.request_supplement")) }
                }
            }
        }
        @if role.owns && active && !step.returns_to.is_empty() {
            section class="action" {
                h2 { (lang.t("task.return")) }
                form method="post" action=(action("return")) {
                    (csrf_field(person))
                    input type="hidden" name="command_id" value=(command_id());
                    label for="return-to" { (lang.t("task.return_to")) }
                    select id="return-to" name="to" { @for to in &step.returns_to { option value=(to) { (step_title(lang, d, to)) } } }
                    label for="return-reason" { (lang.t("task.reason")) }
                    input id="return-reason" name="reason" required;
                    button type="submit" { (lang.t("task.return")) }
                }
            }
        }
        @if role.owns && active && step.extension.is_some() {
            section class="action" {
                h2 { (lang.t("task.extend")) }
                form method="post" action=(action("extend")) {
                    (csrf_field(person))
                    input type="hidden" name="command_id" value=(command_id());
                    label for="extend-length" { (lang.t("task.length")) }
                    input id="extend-length" name="length" placeholder=(step.extension.as_ref().map(|e| e.limit.to_string()).unwrap_or_default());
                    label for="extend-reason" { (lang.t("task.reason")) }
                    input id="extend-reason" name="reason" required;
                    button type="submit" { (lang.t("task.extend")) }
                }
            }
        }
        @if role.owns && step.special_procedures && (active || state == StepState::Suspended) {
            section class="action" {
                @if active {
                    h2 { (lang.t("task.suspend")) }
                    form method="post" action=(action("suspend")) {
                        (csrf_field(person))
                        input type="hidden" name="command_id" value=(command_id());
                        label for="procedure" { (lang.t("task.procedure")) }
                        input id="procedure" name="procedure" required;
                        label for="suspend-reason" { (lang.t("task.reason")) }
                        input id="suspend-reason" name="reason" required;
                        button type="submit" { (lang.t("task.suspend")) }
                    }
                } @else {
                    form method="post" action=(action("resume")) {
                        (csrf_field(person))
                        input type="hidden" name="command_id" value=(command_id());
                        button type="submit" { (lang.t("task.resume")) }
                    }
                }
            }
        }
        @if role.decides_extension && view.is_some_and(|s| s.extension.as_ref().is_some_and(|e| e.state == onething_core::case::ExtensionState::Requested)) {
            section class="action" {
                h2 { (lang.t("task.decide_extension")) }
                @if let Some(extension) = view.and_then(|s| s.extension.as_ref()) { p { (extension.length.to_string()) } }
                form method="post" action=(action("extension-decision")) {
                    (csrf_field(person))
                    input type="hidden" name="command_id" value=(command_id());
                    label for="decision-reason" { (lang.t("task.reason")) }
                    input id="decision-reason" name="reason" required;
                    button type="submit" name="approve" value="true" { (lang.t("task.grant")) }
                    " "
                    button type="submit" name="approve" value="false" { (lang.t("task.deny")) }
                }
            }
        }
        @if role.owns && active {
            section class="action danger" {
                h2 { (lang.t("task.refuse")) }
                form method="post" action=(action("refuse")) {
                    (csrf_field(person))
                    input type="hidden" name="command_id" value=(command_id());
                    label for="refuse-reason" { (lang.t("task.refusal_reason")) }
                    textarea id="refuse-reason" name="reason" rows="2" required {}
                    button type="submit" { (lang.t("task.refuse")) }
                }
            }
        }
        p class="hint" { (lang.f("task.now", &[("time", &local(chrono::Utc::now(), seen.offset_minutes))])) }
    }
}

pub async fn show(
    State(state): State<AppState>,
    person: Person,
    Path((case_id, step_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let seen = seen(&state, &person, &case_id, None, "task").await?;
    let role = role_on(&person, &seen, &step_id)?;
    let title = step_title(person.lang, &seen.definition, &step_id);
    Ok(no_store(page(
        &person,
        &title,
        task_page(&person, &seen, &step_id, &role, &Fields::default(), &[]),
    )))
}

pub async fn act(
    State(state): State<AppState>,
    person: Person,
    Path((case_id, step_id, action_name)): Path<(String, String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    person.check_csrf(fields.get("_csrf"))?;
    person.client().require(Permission::ChangeCases)?;
    let seen = seen(&state, &person, &case_id, None, "task").await?;
    let role = role_on(&person, &seen, &step_id)?;
    let step = seen
        .definition
        .step(&step_id)
        .expect("checked by role_on")
        .clone();
    let reason = fields.text("reason").unwrap_or_default();
    let step_name = step_id.clone();
    let action = match action_name.as_str() {
        "complete" => Action::Complete {
            step: step_name,
            outputs: read("outputs", &step.outputs, &fields),
        },
        "return" => Action::Return {
            step: step_name,
            to: fields.text("to").unwrap_or_default(),
            reason,
        },
        "refuse" => Action::Refuse {
            step: step_name,
            reason,
        },
        "request-supplement" => Action::RequestSupplement {
            step: step_name,
            items: fields
                .get("items")
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect(),
            reason,
        },
        "extend" => Action::Extend {
            step: step_name,
            length: fields.text("length"),
            reason,
        },
        "extension-decision" => Action::DecideExtension {
            step: step_name,
            approve: fields.get("approve") == Some("true"),
            reason,
        },
        "suspend" => Action::Suspend {
            step: step_name,
            procedure: fields.text("procedure").unwrap_or_default(),
            reason,
        },
        "resume" => Action::Resume { step: step_name },
        "dispatch" => Action::Dispatch {
            step: step_name,
            to: fields.text("to").unwrap_or_default(),
            with: fields.all("with"),
        },
        "send-back" => Action::SendBack {
            step: step_name,
            reason,
            basis: fields.text("basis"),
        },
        "report" => Action::Report {
            step: step_name,
            text: fields.text("text").unwrap_or_default(),
            outputs: Value::Null,
        },
        "claim" => Action::ClaimTask { step: step_name },
        "answer-supervision" => Action::AnswerSupervision {
            step: step_name,
            answer: fields.text("answer").unwrap_or_default(),
        },
        other => return Err(PageError::NotFound(format!("no action `{other}`"))),
    };
    let command_id = command_id_of(&fields);
    let next = match action_name.as_str() {
        "request-supplement" => format!("/cases/{case_id}/notices/supplement"),
        "refuse" => format!("/cases/{case_id}/notices/refusal"),
        // A claim from the desk goes back to the desk, else to the task.
        "claim" if fields.get("from") == Some("desk") => "/desk".to_string(),
        "claim" => format!("/cases/{case_id}/steps/{step_id}"),
        _ => format!("/cases/{case_id}"),
    };
    let refused = |problems: Vec<(String, String)>| {
        let title = step_title(person.lang, &seen.definition, &step_id);
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            no_store(page(
                &person,
                &title,
                task_page(&person, &seen, &step_id, &role, &fields, &problems),
            )),
        )
            .into_response()
    };
    match execute(&state, &person, &case_id, command_id, action).await {
        Ok(_) => Ok(Redirect::to(&next).into_response()),
        Err(CommandError::Refused(error)) => Ok(refused(refusal_problems(&error))),
        Err(CommandError::Contended { .. }) => Ok(refused(vec![(
            String::new(),
            person.lang.t("error.contended").into(),
        )])),
        Err(CommandError::Store(error)) => Err(error.into()),
    }
}

/// What the applicant supplied, recorded at the window.
pub async fn supplement(
    State(state): State<AppState>,
    person: Person,
    Path(case_id): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let mut items = Map::new();
    for (name, value) in fields.all("item").into_iter().zip(fields.all("item_value")) {
        items.insert(name, Value::String(value.trim().to_string()));
    }
    let action = Action::Supplement {
        items,
        materials: fields.all("material"),
    };
    command_then_case(&state, &person, &case_id, &fields, action).await
}

/// The window records the follow-up of a bad rating.
pub async fn follow_up(
    State(state): State<AppState>,
    person: Person,
    Path(case_id): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let action = Action::RecordFollowUp {
        result: fields.text("result").unwrap_or_default(),
        resolved: fields.get("resolved") == Some("true"),
    };
    command_then_case(&state, &person, &case_id, &fields, action).await
}

/// A payer's payment, recorded by the window or the collecting agency.
pub async fn pay(
    State(state): State<AppState>,
    person: Person,
    Path(case_id): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let action = Action::Pay {
        payer: fields.text("payer").unwrap_or_default(),
        amount: fields
            .text("amount")
            .and_then(|a| a.parse().ok())
            .unwrap_or(-1),
        receipt: fields.text("receipt").unwrap_or_default(),
    };
    command_then_case(&state, &person, &case_id, &fields, action).await
}

/// Runs a command on the whole case from a form of the case page (its CSRF
/// token, the permission and the right to read the case checked first) and
/// goes back to the case page; a refusal is shown there, above the case.
async fn command_then_case(
    state: &AppState,
    person: &Person,
    case_id: &str,
    fields: &Fields,
    action: Action,
) -> Result<Response, PageError> {
    person.check_csrf(fields.get("_csrf"))?;
    person.client().require(Permission::ChangeCases)?;
    let _ = seen(state, person, case_id, None, "case").await?;
    let command_id = command_id_of(fields);
    let outcome = execute(state, person, case_id, command_id, action).await;
    after_case_command(person, case_id, outcome, format!("/cases/{case_id}"))
}
