//! The pages: one module per place of work, sharing the page shell, the
//! error page and the form reader.

pub mod case_page;
pub mod dashboard;
pub mod desk;
pub mod documents;
pub mod fields;
pub mod login;
pub mod notices;
mod savings;
pub mod supervision;
pub mod task;
pub mod track;
pub mod window;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use onething_core::localized::Localized;
use onething_server::error::ApiError;
use onething_store::StoreError;

use crate::accounts::ConsoleRole;
use crate::messages::Lang;
use crate::session::Person;

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in, or the session ended: to the sign-in page, then back.
    SignIn {
        next: String,
        expired: bool,
    },
    /// A form without this session's CSRF token.
    Csrf,
    Forbidden(String),
    NotFound(String),
    /// The request itself is wrong (not a form's content: those are shown on the form).
    BadRequest(String),
    Unavailable(String),
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> PageError {
        if error.is_unavailable() {
            PageError::Unavailable(error.to_string())
        } else {
            PageError::Internal(error.to_string())
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> PageError {
        match error.status {
            StatusCode::NOT_FOUND => PageError::NotFound(error.body.message),
            StatusCode::FORBIDDEN => PageError::Forbidden(error.body.message),
            StatusCode::SERVICE_UNAVAILABLE => PageError::Unavailable(error.body.message),
            status if status.is_client_error() => PageError::BadRequest(error.body.message),
            _ => PageError::Internal(error.body.message),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, key, detail) = match self {
            PageError::SignIn { next, expired } => {
                let target = format!(
                    "/login?next={}{}",
                    url_encode(&next),
                    if expired { "&expired=1" } else { "" }
                );
                return Redirect::to(&target).into_response();
            }
            PageError::Csrf => (StatusCode::FORBIDDEN, "error.csrf", String::new()),
            PageError::Forbidden(detail) => (StatusCode::FORBIDDEN, "error.forbidden", detail),
            PageError::NotFound(detail) => (StatusCode::NOT_FOUND, "error.not_found", detail),
            PageError::BadRequest(detail) => (StatusCode::BAD_REQUEST, "error.bad_request", detail),
            PageError::Unavailable(detail) => {
                (StatusCode::SERVICE_UNAVAILABLE, "error.unavailable", detail)
            }
            PageError::Internal(detail) => {
                tracing::error!(%detail, "a console page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error.internal",
                    String::new(),
                )
            }
        };
        // Both languages: the error may come before anyone is known.
        let body = html! {
            (DOCTYPE)
            html lang="zh-CN" {
                head { meta charset="utf-8"; title { (Lang::Zh.t(key)) } link rel="stylesheet" href="/assets/console.css"; }
                body {
                    main class="error-page" {
                        h1 { (Lang::Zh.t(key)) }
                        p lang="en" { (Lang::En.t(key)) }
                        @if !detail.is_empty() { p class="detail" { (detail) } }
                        p { a href="/" { (Lang::Zh.t("nav.home")) " / " span lang="en" { (Lang::En.t("nav.home")) } } }
                    }
                }
            }
        };
        (status, body).into_response()
    }
}

pub fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A submitted form, as its pairs in order (fields repeat for lists and checkboxes).
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &str) -> Fields {
        Fields(
            body.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (url_decode(key), url_decode(value))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The trimmed value, `None` when missing or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }
}

fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The body of a form post, read as [`Fields`].
impl<S: Send + Sync> axum::extract::FromRequest<S> for Fields {
    type Rejection = PageError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Fields, PageError> {
        let text = String::from_request(request, state)
            .await
            .map_err(|error| PageError::BadRequest(error.to_string()))?;
        Ok(Fields::parse(&text))
    }
}

/// Where a person starts: the window for a clerk, the desk for an agency.
pub async fn home(person: Person) -> Redirect {
    Redirect::to(match person.role {
        ConsoleRole::Clerk => "/window",
        ConsoleRole::Officer | ConsoleRole::Approver => "/desk",
        ConsoleRole::Supervisor => "/supervision",
        ConsoleRole::Admin => "/cases",
    })
}

/// Gives a command as this person (their agency and name in the audited
/// history, channel `console`) and wakes the live pages.
pub async fn execute(
    state: &onething_server::AppState,
    person: &Person,
    case_id: &str,
    command_id: String,
    action: onething_core::case::Action,
) -> Result<onething_store::CommandOutcome, onething_store::CommandError> {
    execute_as(state, person, person.actor(), case_id, command_id, action).await
}

/// [`execute`] for a person acting for an office other than their agency:
/// a supervisor acts as electronic supervision (`supervision/宋监察`).
pub async fn execute_as(
    state: &onething_server::AppState,
    person: &Person,
    actor: onething_core::case::Actor,
    case_id: &str,
    command_id: String,
    action: onething_core::case::Action,
) -> Result<onething_store::CommandOutcome, onething_store::CommandError> {
    let command = onething_core::case::CaseCommand {
        command_id,
        actor,
        at: state.now(),
        action,
    };
    let attribution = onething_store::Attribution {
        channel: "console".into(),
        role: Some(person.role.name().into()),
        correlation_id: None,
        clock_time: state.fixed_now.is_none(),
    };
    let outcome = state
        .store
        .execute_with(case_id, command, &attribution)
        .await;
    if outcome.as_ref().is_ok_and(|o| o.already_applied.is_none()) {
        state.feed_signal.notify_waiters();
    }
    outcome
}

/// The command id a form carries (the same on a retry), or a new one.
pub fn command_id_of(fields: &Fields) -> String {
    fields
        .text("command_id")
        .filter(|id| id.len() <= 200)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// After a command on a whole case: to `next` when done; a refusal shown
/// with every reason and a way back to the case.
pub fn after_case_command(
    person: &Person,
    case_id: &str,
    outcome: Result<onething_store::CommandOutcome, onething_store::CommandError>,
    next: String,
) -> Result<Response, PageError> {
    use onething_store::CommandError;
    let lang = person.lang;
    match outcome {
        Ok(_) => Ok(Redirect::to(&next).into_response()),
        Err(CommandError::Refused(error)) => {
            let problems = refusal_problems(&error);
            let body = html! {
                div class="problems" role="alert" {
                    h1 { (lang.f("form.problems", &[("count", &problems.len().to_string())])) }
                    ul { @for (field, message) in &problems { li { @if !field.is_empty() { code { (field) } ": " } (message) } } }
                }
                p { a href=(format!("/cases/{case_id}")) { (lang.t("action.back_to_case")) } }
            };
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                no_store(page(person, lang.t("form.refused"), body)),
            )
                .into_response())
        }
        Err(CommandError::Contended { .. }) => {
            Err(PageError::Unavailable(lang.t("error.contended").into()))
        }
        Err(CommandError::Store(error)) => Err(error.into()),
    }
}

/// A refusal in the person's words: the engine's reason, and for an
/// application or outputs every problem with its field.
pub fn refusal_problems(error: &onething_core::case::CaseError) -> Vec<(String, String)> {
    use onething_core::case::CaseError;
    match error {
        CaseError::InvalidApplication { problems } => problems
            .iter()
            .map(|p| (p.field.clone(), p.message.clone()))
            .collect(),
        // Named as the inputs of the outputs form are.
        CaseError::InvalidOutputs { problems, .. } => problems
            .iter()
            .map(|p| (format!("outputs.{}", p.field), p.message.clone()))
            .collect(),
        other => vec![(String::new(), other.to_string())],
    }
}

/// Reloads the part of a page with id `target` from `url` whenever the
/// server-sent events say something changed. The listener is an element of
/// its own, never swapped: a change that arrives while the part is being
/// replaced is queued on it rather than lost with the old part (found by the
/// browser tests, where a deadline check followed an opening by 30 ms).
pub fn live_part(url: &str, target: &str) -> Markup {
    html! {
        div class="live" hidden hx-get=(url) hx-trigger="sse:changed" hx-target=(format!("#{target}"))
            hx-select=(format!("#{target}")) hx-swap="outerHTML" {}
    }
}

/// Whether the request came from htmx (a part of a page is asked for).
pub fn from_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

pub fn csrf_field(person: &Person) -> Markup {
    html! { input type="hidden" name="_csrf" value=(person.csrf_token); }
}

/// A full page: the header with the places this person works in, the
/// language switch and sign-out, then the content.
pub fn page(person: &Person, title: &str, content: Markup) -> Markup {
    let lang = person.lang;
    let places: &[(&str, &str)] = match person.role {
        ConsoleRole::Clerk => &[
            ("/window", "nav.window"),
            ("/desk", "nav.desk"),
            ("/cases", "nav.cases"),
        ],
        ConsoleRole::Officer | ConsoleRole::Approver => {
            &[("/desk", "nav.desk"), ("/cases", "nav.cases")]
        }
        ConsoleRole::Supervisor | ConsoleRole::Admin => &[
            ("/supervision", "nav.supervision"),
            ("/dashboard", "nav.dashboard"),
            ("/cases", "nav.cases"),
        ],
    };
    shell(
        lang,
        title,
        html! {
            header class="top no-print" {
                a class="brand" href="/" { (lang.t("app.name")) }
                nav aria-label=(lang.t("nav.label")) {
                    @for (href, key) in places { a href=(href) { (lang.t(key)) } }
                }
                div class="who" {
                    span { (person.user.name) @if let Some(agency) = person.agency() { " · " (agency) } " · " (lang.t(&format!("role.{}", person.role.name()))) }
                    form method="post" action="/language" {
                        (csrf_field(person))
                        input type="hidden" name="lang" value=(lang.other().code());
                        button type="submit" lang=(lang.other().code()) { (lang.other().t("nav.switch_language")) }
                    }
                    form method="post" action="/logout" {
                        (csrf_field(person))
                        button type="submit" { (lang.t("nav.sign_out")) }
                    }
                }
            }
            main id="main" { (content) }
        },
    )
}

/// The HTML document around any content.
pub fn shell(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(if lang == Lang::Zh { "zh-CN" } else { "en" }) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("app.name")) }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/htmx.min.js" defer {}
                script src="/assets/htmx-sse.js" defer {}
            }
            body { a class="skip" href="#main" { (lang.t("nav.skip")) } (body) }
        }
    }
}

/// An HTML response that no cache keeps (pages show personal data).
pub fn no_store(markup: Markup) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], markup).into_response()
}

/// A local time as people read it, with its offset.
pub fn local(time: chrono::DateTime<chrono::Utc>, offset_minutes: i32) -> String {
    let offset = chrono::FixedOffset::east_opt(offset_minutes * 60)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("UTC"));
    time.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("¥{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

pub fn localized(lang: Lang, text: &Localized) -> String {
    lang.pick(text)
}

/// One CSV cell: quoted when it holds a comma, a quote or a line break.
pub fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A CSV download, never cached.
pub fn csv_response(filename: &str, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_body_is_read_with_repeats_and_escapes() {
        let fields = Fields::parse("a=1&b=%E7%8E%8B+x&a=2&c=");
        assert_eq!(fields.all("a"), vec!["1", "2"]);
        assert_eq!(fields.get("b"), Some("\u{738b} x"));
        assert_eq!(fields.text("c"), None);
        assert_eq!(url_encode("/cases/x?y=1"), "/cases/x%3Fy%3D1");
    }

    #[test]
    fn money_is_shown_in_yuan() {
        assert_eq!(yuan(123_456), "¥1234.56");
        assert_eq!(yuan(-5), "¥-0.05");
    }
}
