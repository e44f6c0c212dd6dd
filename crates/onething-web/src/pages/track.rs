//! The applicant's pages (办件进度查询 and 好差评), reached without an
//! account by the case number and the query code printed on the receipt:
//! where the case is, in words a citizen reads, what the applicant must do
//! now (the items asked for, the bills to pay), what was issued, the
//! promised date against today; the supplement given there, and the rating
//! once the case has ended.
//!
//! Nothing here names an officer or shows an ID number. The case number and
//! the code travel in the body of each form (never in a URL, where logs and
//! referrers would keep them), and a wrong pair answers the same whether or
//! not the number exists; wrong tries lock the number and the address out.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::Utc;
use maud::{html, Markup};
use onething_core::case::{
    self, view, Action, Actor, CaseCommand, CaseView, Disclosure, StepState, RATING_ASPECTS,
};
use onething_core::workflow::Definition;
use onething_server::AppState;
use onething_store::{query_codes, Attribution, CommandError};
use serde_json::{Map, Value};

use super::case_page::{agency_name, deliverable_name, material_name, step_title};
use super::{command_id_of, local, refusal_problems, shell, yuan, Fields, PageError};
use crate::messages::Lang;
use crate::session::{self, visitor_lang};
use crate::Console;

/// The five levels of the national rating rules (好差评), best first.
pub const LEVELS: [u8; 5] = [5, 4, 3, 2, 1];

fn lookup_form(lang: Lang, case_number: &str, notice: Option<&str>) -> Markup {
    html! {
        h1 { (lang.t("track.title")) }
        p { (lang.t("track.intro")) }
        @if let Some(notice) = notice { p class="notice" role="alert" { (notice) } }
        form method="post" action="/track" class="track" {
            label for="case" { (lang.t("case.number")) }
            input id="case" name="case" type="text" required autocomplete="off" value=(case_number);
            label for="code" { (lang.t("notice.query_code")) }
            input id="code" name="code" type="text" required autocomplete="off" placeholder="XXXX-XXXX-XXXX";
            button type="submit" { (lang.t("track.submit")) }
        }
    }
}

fn applicant_page(lang: Lang, title: &str, status: StatusCode, content: Markup) -> Response {
    let body = html! {
        header class="top no-print" {
            span class="brand" { (lang.t("app.name")) }
            div class="who" {
                form method="post" action="/language" {
                    input type="hidden" name="lang" value=(lang.other().code());
                    input type="hidden" name="next" value="/track";
                    button type="submit" lang=(lang.other().code()) { (lang.other().t("nav.switch_language")) }
                }
            }
        }
        main id="main" class="applicant" { (content) }
    };
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        shell(lang, title, body),
    )
        .into_response()
}

/// The lookup; `?case=` (the link and QR code on the receipt) fills in the
/// number, the applicant types the code.
pub async fn form(headers: HeaderMap, Query(query): Query<TrackQuery>) -> Response {
    let lang = visitor_lang(&headers);
    let number: String = query
        .case
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    applicant_page(
        lang,
        lang.t("track.title"),
        StatusCode::OK,
        lookup_form(lang, &number.to_ascii_uppercase(), None),
    )
}

#[derive(Debug, serde::Deserialize)]
pub struct TrackQuery {
    case: Option<String>,
}

/// The case number as a person types it: any case, spaces dropped.
fn case_number(fields: &Fields) -> String {
    fields
        .get("case")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .take(64)
        .collect()
}

/// The lookup, and the applicant's actions on the case found: every form
/// of these pages posts here with the number and the code.
pub async fn submit(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    let lang = visitor_lang(&headers);
    let case_id = case_number(&fields);
    let code = fields.get("code").unwrap_or_default().to_string();
    let mut keys = vec![format!("track-case:{case_id}")];
    if let Some(address) = session::forwarded_address(&headers) {
        keys.push(format!("track-address:{address}"));
    }
    if console.throttle.locked(&keys) {
        tracing::warn!(
            case = case_id,
            "progress lookup refused: too many wrong codes"
        );
        let content = lookup_form(lang, &case_id, Some(lang.t("track.throttled")));
        return Ok(applicant_page(
            lang,
            lang.t("track.title"),
            StatusCode::TOO_MANY_REQUESTS,
            content,
        ));
    }
    let database = state.store.database();
    if !query_codes::matches(database, &case_id, &code).await? {
        console.throttle.failed(&keys, &console.sessions);
        let content = lookup_form(lang, &case_id, Some(lang.t("track.wrong")));
        return Ok(applicant_page(
            lang,
            lang.t("track.title"),
            StatusCode::FORBIDDEN,
            content,
        ));
    }
    console.throttle.succeeded(&keys);
    let mut problems = Vec::new();
    if let Some(action) = applicant_action(&fields) {
        let command = CaseCommand {
            command_id: command_id_of(&fields),
            actor: Actor::Applicant { id: None },
            at: state.now(),
            action,
        };
        let attribution = Attribution {
            channel: "online".into(),
            role: Some("applicant".into()),
            correlation_id: None,
            clock_time: state.fixed_now.is_none(),
        };
        match state
            .store
            .execute_with(&case_id, command, &attribution)
            .await
        {
            Ok(outcome) => {
                if outcome.already_applied.is_none() {
                    state.feed_signal.notify_waiters();
                }
            }
            Err(CommandError::Refused(error)) => problems = refusal_problems(&error),
            Err(CommandError::Contended { .. }) => {
                return Err(PageError::Unavailable(lang.t("error.contended").into()))
            }
            Err(CommandError::Store(error)) => return Err(error.into()),
        }
    }
    let case = state.store.load(&case_id).await?;
    let file = case.file().ok_or_else(|| {
        PageError::Internal(format!("a query code for `{case_id}`, which has no case"))
    })?;
    let definition = state
        .store
        .library()
        .by_hash(&file.hash)
        .ok_or_else(|| PageError::Internal(format!("definition {} not loaded", file.hash)))?;
    let case_view = view(&case, Some(&definition), Disclosure::Masked)
        .ok_or_else(|| PageError::Internal("an opened case has no view".into()))?;
    let offset = state
        .store
        .library()
        .calendar(&definition.calendar)
        .map_or(480, |c| c.utc_offset_minutes);
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let content = progress(lang, &definition, &case_view, offset, &code, &problems);
    Ok(applicant_page(
        lang,
        &lang.pick(&definition.title),
        status,
        content,
    ))
}

fn applicant_action(fields: &Fields) -> Option<Action> {
    match fields.get("action")? {
        "supplement" => {
            let mut items = Map::new();
            for (name, value) in fields.all("item").into_iter().zip(fields.all("item_value")) {
                items.insert(name, Value::String(value.trim().to_string()));
            }
            Some(Action::Supplement {
                items,
                materials: fields.all("material"),
            })
        }
        "rate" => Some(Action::Rate {
            // No level chosen: 0, which the engine refuses with its reason.
            score: fields
                .text("score")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            comment: fields.text("comment"),
            aspects: RATING_ASPECTS
                .iter()
                .filter_map(|aspect| {
                    let level = fields.text(&format!("aspect.{aspect}"))?.parse().ok()?;
                    Some((aspect.to_string(), level))
                })
                .collect(),
        }),
        _ => None,
    }
}

/// A step in words a citizen reads.
fn step_words(lang: Lang, d: &Definition, step: &case::StepView, offset: i32) -> String {
    let agency = agency_name(lang, d, &step.agency);
    let title = step_title(lang, d, &step.id);
    let date = step.due.map_or_else(
        || "—".to_string(),
        |due| local(due, offset)[..10].to_string(),
    );
    let key = match step.state {
        StepState::Waiting => "track.step.waiting",
        StepState::Active => "track.step.active",
        StepState::Paused => "track.step.paused",
        StepState::Suspended => "track.step.suspended",
        StepState::Completed => "track.step.completed",
        StepState::Skipped => "track.step.skipped",
        StepState::Refused => "track.step.refused",
        StepState::Cancelled => "track.step.cancelled",
    };
    lang.f(
        key,
        &[("agency", &agency), ("step", &title), ("date", &date)],
    )
}

fn hidden_credentials(case_id: &str, code: &str) -> Markup {
    html! {
        input type="hidden" name="case" value=(case_id);
        input type="hidden" name="code" value=(code);
        input type="hidden" name="command_id" value=(uuid::Uuid::new_v4().to_string());
    }
}

fn progress(
    lang: Lang,
    d: &Definition,
    v: &CaseView,
    offset: i32,
    code: &str,
    problems: &[(String, String)],
) -> Markup {
    let today = local(Utc::now(), offset)[..10].to_string();
    let asked: Vec<(&case::StepView, &String)> = v
        .steps
        .iter()
        .filter(|s| s.state == StepState::Paused)
        .flat_map(|s| s.requested_items.iter().map(move |item| (s, item)))
        .collect();
    let promised: Vec<&case::MaterialRecord> = v
        .materials
        .iter()
        .filter(|m| matches!(m.provision, case::MaterialProvision::Promised { .. }))
        .collect();
    let open = v.status == "open";
    let unpaid: Vec<&case::PaymentView> = v.payments.iter().filter(|p| !p.paid).collect();
    html! {
        h1 { (lang.pick(&d.title)) }
        dl class="facts" {
            dt { (lang.t("case.number")) } dd { code { (v.id) } }
            dt { (lang.t("case.status")) } dd { (lang.t(&format!("status.{}", v.status))) }
            dt { (lang.t("track.opened")) } dd { (local(v.opened_at, offset)[..10]) }
            @if let Some(by) = v.promised_by {
                dt { (lang.t("track.promised")) } dd { (local(by, offset)[..10]) " (" (lang.f("track.today", &[("date", &today)])) ")" }
            }
            @if let Some(ended) = v.ended_at {
                dt { (lang.t("track.ended")) } dd { (local(ended, offset)[..10]) }
            }
        }
        @if !problems.is_empty() {
            div class="problems" role="alert" id="problems" {
                h2 { (lang.f("form.problems", &[("count", &problems.len().to_string())])) }
                ul { @for (_, message) in problems { li { (message) } } }
            }
        }
        @if open && (!asked.is_empty() || !promised.is_empty()) {
            section class="to-do" aria-labelledby="to-do" {
                h2 id="to-do" { (lang.t("track.to_do_supplement")) }
                form method="post" action="/track" {
                    (hidden_credentials(&v.id, code))
                    input type="hidden" name="action" value="supplement";
                    @for (index, (step, item)) in asked.iter().enumerate() {
                        div class="field" {
                            @let id = format!("item-{index}");
                            label for=(id) { (item) " (" (agency_name(lang, d, &step.agency)) ")" }
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
                    button type="submit" { (lang.t("track.send_supplement")) }
                }
            }
        }
        @if open && !unpaid.is_empty() {
            section class="to-do" aria-labelledby="to-pay" {
                h2 id="to-pay" { (lang.t("track.to_do_pay")) }
                @for bill in &unpaid {
                    table {
                        caption { (lang.f("guide.payer", &[("payer", &bill.payer)])) " — " (yuan(bill.total)) }
                        thead { tr { th { (lang.t("case.item")) } th { (lang.t("case.payee")) } th { (lang.t("case.amount")) } } }
                        tbody {
                            @for item in &bill.items {
                                tr { td { (lang.pick(&item.label)) } td { (agency_name(lang, d, &item.payee)) } td class="money" { (yuan(item.amount)) } }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="progress" {
            h2 id="progress" { (lang.t("track.progress")) }
            ol class="progress" {
                @for step in &v.steps {
                    li class=(format!("state-{}", step.state.name())) { (step_words(lang, d, step, offset)) }
                }
            }
        }
        @if !v.delivered.is_empty() {
            section aria-labelledby="issued" {
                h2 id="issued" { (lang.t("track.issued")) }
                ul { @for id in &v.delivered { li { (deliverable_name(lang, d, id)) } } }
            }
        }
        @if !open {
            section aria-labelledby="rating" {
                h2 id="rating" { (lang.t("track.rating")) }
                @if let Some(rating) = &v.rating {
                    p { (lang.f("track.rated", &[("level", lang.t(&format!("rating.level.{}", rating.score)))])) }
                } @else {
                    form method="post" action="/track" class="rating" {
                        (hidden_credentials(&v.id, code))
                        input type="hidden" name="action" value="rate";
                        fieldset {
                            legend { (lang.t("track.rating_question")) }
                            @for level in LEVELS {
                                label class="choice" {
                                    input type="radio" name="score" value=(level) required;
                                    " " (lang.t(&format!("rating.level.{level}")))
                                }
                            }
                        }
                        @for aspect in RATING_ASPECTS {
                            fieldset class="aspect" {
                                legend { (lang.t(&format!("rating.aspect.{aspect}"))) " (" (lang.t("guide.optional")) ")" }
                                @for level in LEVELS {
                                    label class="choice" {
                                        input type="radio" name=(format!("aspect.{aspect}")) value=(level);
                                        " " (lang.t(&format!("rating.level.{level}")))
                                    }
                                }
                            }
                        }
                        label for="comment" { (lang.t("track.comment")) }
                        textarea id="comment" name="comment" rows="3" maxlength="500" {}
                        button type="submit" { (lang.t("track.send_rating")) }
                    }
                }
            }
        }
        p class="hint" { (lang.t("track.privacy")) }
    }
}
