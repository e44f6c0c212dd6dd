//! Signing in and out, and choosing the language.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::html;
use onething_server::AppState;
use onething_store::console_users;
use serde::Deserialize;

use super::{shell, Fields, PageError};
use crate::accounts::password_matches;
use crate::messages::Lang;
use crate::session::{self, Person};
use crate::Console;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// Only a path of this site: never a redirect elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

fn login_page(
    lang: Lang,
    next: &str,
    login: &str,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        main id="main" class="sign-in" {
            h1 { (lang.t("app.name")) }
            h2 { (lang.t("login.title")) }
            @if let Some(notice) = notice { p class="notice" role="alert" { (notice) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="login" { (lang.t("login.login")) }
                input id="login" name="login" type="text" autocomplete="username" required value=(login);
                label for="password" { (lang.t("login.password")) }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { (lang.t("login.submit")) }
            }
            p class="track-link" { a href="/track" { (lang.t("track.link")) } }
            form method="post" action="/language" class="language" {
                input type="hidden" name="lang" value=(lang.other().code());
                input type="hidden" name="next" value=(format!("/login?next={}", super::url_encode(next)));
                button type="submit" lang=(lang.other().code()) { (lang.other().t("nav.switch_language")) }
            }
        }
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        shell(lang, lang.t("login.title"), body),
    )
        .into_response()
}

pub async fn form(headers: HeaderMap, Query(query): Query<LoginQuery>) -> Response {
    let lang = session::visitor_lang(&headers);
    let next = safe_next(query.next.as_deref());
    let notice = query.expired.as_ref().map(|_| lang.t("login.expired"));
    login_page(lang, &next, "", notice, StatusCode::OK)
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    let lang = session::visitor_lang(&headers);
    let next = safe_next(fields.get("next"));
    let login = fields.text("login").unwrap_or_default();
    let password = fields.get("password").unwrap_or_default().to_string();
    let mut keys = vec![format!("login:{login}")];
    if let Some(address) = session::forwarded_address(&headers) {
        keys.push(format!("address:{address}"));
    }
    if console.throttle.locked(&keys) {
        tracing::warn!(login, "sign-in refused: too many failures");
        return Ok(login_page(
            lang,
            &next,
            &login,
            Some(lang.t("login.throttled")),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let database = state.store.database();
    let user = console_users::find(database, &login).await?;
    // The hash is checked even for an unknown login, so that the time taken
    // does not tell which logins exist.
    let hash = user
        .as_ref()
        .map_or(DUMMY_HASH, |user| user.password_hash.as_str());
    let matches = password_matches(&password, hash);
    let user = match user {
        Some(user) if matches && !user.disabled => user,
        _ => {
            console.throttle.failed(&keys, &console.sessions);
            tracing::warn!(login, "sign-in failed");
            return Ok(login_page(
                lang,
                &next,
                &login,
                Some(lang.t("login.failed")),
                StatusCode::UNAUTHORIZED,
            ));
        }
    };
    console.throttle.succeeded(&keys);
    let token = session::random_token();
    let csrf = session::random_token();
    console_users::start_session(
        database,
        &session::token_hash(&token),
        &user.login,
        &csrf,
        chrono::Utc::now(),
    )
    .await?;
    tracing::info!(login = %user.login, "signed in");
    Ok((
        [(
            header::SET_COOKIE,
            session::session_cookie(&token, session::over_tls(&headers)),
        )],
        Redirect::to(&next),
    )
        .into_response())
}

/// A valid argon2 hash of nothing anyone types, checked against for unknown logins.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0mW8pvqxiDqw8jEXMxYdHbYDb9EVVAdOAyEFmXzXH9Q";

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    person: Person,
    fields: Fields,
) -> Result<Response, PageError> {
    person.check_csrf(fields.get("_csrf"))?;
    console_users::end_session(state.store.database(), &person.token_hash).await?;
    Ok((
        [(
            header::SET_COOKIE,
            session::cleared_cookie(session::over_tls(&headers)),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}

/// Switches the language: the user's own setting when signed in, a cookie before.
pub async fn language(
    State(state): State<AppState>,
    headers: HeaderMap,
    person: Result<Person, PageError>,
    fields: Fields,
) -> Result<Response, PageError> {
    let lang = fields.get("lang").and_then(Lang::parse).unwrap_or_default();
    let back = safe_next(fields.get("next").or_else(|| {
        headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| {
                r.find("://")
                    .and_then(|i| r[i + 3..].find('/').map(|j| &r[i + 3 + j..]))
            })
    }));
    let cookie = format!(
        "{}={}; Path=/; SameSite=Strict; Max-Age=31536000",
        session::LANGUAGE_COOKIE,
        lang.code()
    );
    if let Ok(person) = person {
        person.check_csrf(fields.get("_csrf"))?;
        console_users::set_language(
            state.store.database(),
            &person.user.login,
            lang.code(),
            chrono::Utc::now(),
        )
        .await?;
    }
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&back)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unknown_login_hash_is_a_real_hash() {
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!password_matches("", DUMMY_HASH));
    }

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        assert_eq!(safe_next(Some("/desk")), "/desk");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
