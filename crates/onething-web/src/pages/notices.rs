//! The notices a window and an agency print, each a page with print CSS
//! (A4, margins, "page X of Y", the agency's name where the seal goes),
//! readable in black and white: the receipt (受理通知书), the request for
//! supplements (补正材料通知书), the refusal (不予许可决定书), the extension
//! (延长期限告知书) and the completion notice (办结通知书), all built from the
//! case's state and audited history.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use onething_core::case::{Change, StepState};
use onething_server::AppState;
use onething_store::{query_codes, StoredEvent};

use super::case_page::{
    agency_name, deliverable_name, material_name, provision_words, seen, step_title, Seen,
};
use super::{local, no_store, PageError};
use crate::accounts::ConsoleRole;
use crate::messages::Lang;
use crate::session::Person;

/// A printable notice: the title, the addressee line, the body, and the
/// issuing office's name where its seal goes.
pub fn notice_page(lang: Lang, title: &str, subject: &str, issuer: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(if lang == Lang::Zh { "zh-CN" } else { "en" }) {
            head {
                meta charset="utf-8";
                title { (title) " · " (subject) }
                link rel="stylesheet" href="/assets/console.css";
            }
            body class="notice-page" {
                p class="no-print toolbar" {
                    a href="javascript:history.back()" { (lang.t("action.back")) }
                    " "
                    button type="button" onclick="window.print()" { (lang.t("action.print")) }
                }
                main id="main" class="notice" {
                    h1 { (title) }
                    p class="subject" { (subject) }
                    (body)
                    div class="seal" {
                        p { (issuer) }
                        p class="seal-box" aria-label=(lang.t("notice.seal")) { (lang.t("notice.seal")) }
                    }
                }
            }
        }
    }
}

/// The latest event `pick` recognises, or the page saying the case has no such notice.
fn last<'a, T>(
    lang: Lang,
    events: &'a [StoredEvent],
    pick: impl Fn(&'a Change) -> Option<T>,
) -> Result<(T, &'a StoredEvent), PageError> {
    events
        .iter()
        .rev()
        .find_map(|stored| pick(&stored.event.change).map(|found| (found, stored)))
        .ok_or_else(|| PageError::NotFound(lang.t("notice.none").into()))
}

/// The applicant's progress page for this case, as the browser reached this
/// server (behind the proxy, the host it forwards): the number is in the
/// link, the code never is.
fn track_link(headers: &HeaderMap, case_id: &str) -> String {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if crate::session::over_tls(headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}/track?case={case_id}")
}

/// A QR code of `link`, drawn on the server as SVG.
fn qr_code(lang: Lang, link: &str) -> Markup {
    match qrcode::QrCode::new(link.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(110, 110)
                .build();
            // The renderer's XML declaration has no place inside HTML.
            let svg = svg
                .find("<svg")
                .map_or(svg.as_str(), |at| &svg[at..])
                .to_string();
            html! { figure class="qr" role="img" aria-label=(lang.t("notice.query_link")) { (PreEscaped(svg)) } }
        }
        Err(_) => html! {},
    }
}

/// The name of the agency that owns a step, where its seal goes.
fn issuer(lang: Lang, d: &onething_core::workflow::Definition, step: &str) -> String {
    d.step(step)
        .map_or(String::new(), |s| agency_name(lang, d, &s.agency))
}

fn operator(stored: &StoredEvent) -> String {
    stored.metadata.actor.clone()
}

pub async fn show(
    State(state): State<AppState>,
    person: Person,
    headers: HeaderMap,
    Path((case_id, notice)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let seen = seen(&state, &person, &case_id, None, "notice").await?;
    let events = state.store.events(&case_id).await?;
    let lang = person.lang;
    let page = match notice.as_str() {
        "receipt" => {
            // The applicant's credential: printed by the window that hands
            // the receipt over, not shown to the agencies that read it.
            let query_code = if person.role == ConsoleRole::Clerk {
                let code =
                    query_codes::code_for(state.store.database(), &case_id, chrono::Utc::now())
                        .await?;
                Some((code, track_link(&headers, &case_id)))
            } else {
                None
            };
            receipt(lang, &seen, &events, query_code.as_ref())
        }
        "supplement" => supplement(lang, &seen, &events)?,
        "refusal" => refusal(lang, &seen, &events)?,
        "extension" => extension(lang, &seen, &events)?,
        "completion" => completion(lang, &seen)?,
        other => return Err(PageError::NotFound(format!("no notice `{other}`"))),
    };
    Ok(no_store(page))
}

fn applicant_lines(lang: Lang, seen: &Seen) -> Markup {
    let v = &seen.view;
    html! {
        dl class="facts" {
            dt { (lang.t("case.number")) } dd { code { (v.id) } }
            @for field in seen.definition.form.iter().take(4) {
                @if let Some(value) = v.form.get(&field.name) {
                    dt { (lang.pick(&field.label)) } dd { (super::fields::value_text(lang, value)) }
                }
            }
            @if let Some(applicant) = &v.applicant { dt { (lang.t("case.applicant")) } dd { (applicant) } }
        }
    }
}

fn receipt(
    lang: Lang,
    seen: &Seen,
    events: &[StoredEvent],
    query_code: Option<&(String, String)>,
) -> Markup {
    let d = &seen.definition;
    let v = &seen.view;
    let offset = seen.offset_minutes;
    let clerk = events.first().map(operator).unwrap_or_default();
    let body = html! {
        p { (lang.f("notice.receipt_text", &[("bundle", &lang.pick(&d.title)), ("date", &local(v.opened_at, offset))])) }
        (applicant_lines(lang, seen))
        h2 { (lang.t("notice.items_applied")) }
        ol {
            @for step in v.steps.iter().filter(|s| s.state != StepState::Skipped && s.state != StepState::Cancelled) {
                li { (step_title(lang, d, &step.id)) " — " (agency_name(lang, d, &step.agency)) }
            }
        }
        h2 { (lang.t("notice.materials_received")) }
        table {
            thead { tr { th { (lang.t("guide.material")) } th { (lang.t("case.provision")) } } }
            tbody {
                @for record in &v.materials {
                    tr {
                        td { (material_name(lang, d, &record.material)) }
                        td { (provision_words(lang, &record.provision, offset)) }
                    }
                }
            }
        }
        p { (lang.f("case.not_submitted", &[("count", &v.materials_not_submitted.to_string())])) }
        @if let Some(by) = v.promised_by {
            p class="promise" { strong { (lang.f("notice.promised_by", &[("date", &local(by, offset))])) } }
        }
        p { (lang.f("notice.clerk", &[("clerk", &clerk)])) }
        @if let Some((code, link)) = query_code {
            div class="query" {
                dl class="facts query-code" {
                    dt { (lang.t("notice.query_code")) } dd { code { (code) } }
                    dt { (lang.t("notice.query_link")) } dd { code { (link) } }
                }
                (qr_code(lang, link))
            }
            p class="hint" { (lang.t("notice.keep_receipt_with_code")) }
        } @else {
            p class="hint" { (lang.t("notice.keep_receipt")) }
        }
    };
    notice_page(
        lang,
        lang.t("notice.receipt"),
        &lang.pick(&d.title),
        lang.t("notice.window_seal"),
        body,
    )
}

fn supplement(lang: Lang, seen: &Seen, events: &[StoredEvent]) -> Result<Markup, PageError> {
    let d = &seen.definition;
    let ((step, items, reason), stored) = last(lang, events, |change| match change {
        Change::SupplementRequested {
            step,
            items,
            reason,
        } => Some((step.clone(), items.clone(), reason.clone())),
        _ => None,
    })?;
    let agency = issuer(lang, d, &step);
    let body = html! {
        (applicant_lines(lang, seen))
        p { (lang.f("notice.supplement_text", &[("step", &step_title(lang, d, &step)), ("date", &local(stored.event.at, seen.offset_minutes))])) }
        ol class="items" { @for item in &items { li { (item) } } }
        p { (lang.t("task.reason")) ": " (reason) }
        p { (lang.t("notice.supplement_once")) }
        p { (lang.f("notice.officer", &[("officer", &operator(stored))])) }
    };
    Ok(notice_page(
        lang,
        lang.t("notice.supplement"),
        &lang.pick(&d.title),
        &agency,
        body,
    ))
}

fn refusal(lang: Lang, seen: &Seen, events: &[StoredEvent]) -> Result<Markup, PageError> {
    let d = &seen.definition;
    let ((step, reason), stored) = last(lang, events, |change| match change {
        Change::StepRefused { step, reason } => Some((step.clone(), reason.clone())),
        _ => None,
    })?;
    let agency = issuer(lang, d, &step);
    let body = html! {
        (applicant_lines(lang, seen))
        p { (lang.f("notice.refusal_text", &[("step", &step_title(lang, d, &step)), ("date", &local(stored.event.at, seen.offset_minutes))])) }
        p { strong { (lang.t("task.refusal_reason")) ": " } (reason) }
        p class="remedy" { (lang.t("notice.remedy")) }
        p { (lang.f("notice.officer", &[("officer", &operator(stored))])) }
    };
    Ok(notice_page(
        lang,
        lang.t("notice.refusal"),
        &lang.pick(&d.title),
        &agency,
        body,
    ))
}

fn extension(lang: Lang, seen: &Seen, events: &[StoredEvent]) -> Result<Markup, PageError> {
    let d = &seen.definition;
    let ((step, length, reason, due), stored) = last(lang, events, |change| match change {
        Change::StepExtended {
            step,
            length,
            reason,
            due,
            ..
        } => Some((step.clone(), *length, reason.clone(), *due)),
        _ => None,
    })?;
    let agency = issuer(lang, d, &step);
    let body = html! {
        (applicant_lines(lang, seen))
        p { (lang.f("notice.extension_text", &[
            ("step", &step_title(lang, d, &step)),
            ("length", &super::window::span(lang, &length)),
            ("due", &local(due, seen.offset_minutes)),
        ])) }
        p { (lang.t("task.reason")) ": " (reason) }
        p { (lang.f("notice.officer", &[("officer", &operator(stored))])) }
    };
    Ok(notice_page(
        lang,
        lang.t("notice.extension"),
        &lang.pick(&d.title),
        &agency,
        body,
    ))
}

fn completion(lang: Lang, seen: &Seen) -> Result<Markup, PageError> {
    let d = &seen.definition;
    let v = &seen.view;
    let offset = seen.offset_minutes;
    let ended = v
        .ended_at
        .ok_or_else(|| PageError::NotFound(lang.t("notice.not_ended").into()))?;
    let on_time = v.promised_by.map(|by| ended <= by);
    let body = html! {
        (applicant_lines(lang, seen))
        p { (lang.f("notice.completion_text", &[("status", lang.t(&format!("status.{}", v.status))), ("date", &local(ended, offset))])) }
        @if let Some(by) = v.promised_by {
            p { (lang.f("notice.against_promise", &[("date", &local(by, offset))])) " — " (if on_time == Some(true) { lang.t("notice.on_time") } else { lang.t("notice.late") }) }
        }
        h2 { (lang.t("notice.deliverables")) }
        @if v.delivered.is_empty() { p { "—" } }
        ul {
            @for id in &v.delivered {
                li { (deliverable_name(lang, d, id)) }
            }
        }
        @if !v.not_delivered.is_empty() {
            h2 { (lang.t("notice.not_delivered")) }
            ul { @for id in &v.not_delivered { li { (deliverable_name(lang, d, id)) } } }
        }
    };
    Ok(notice_page(
        lang,
        lang.t("notice.completion"),
        &lang.pick(&d.title),
        lang.t("notice.window_seal"),
        body,
    ))
}
