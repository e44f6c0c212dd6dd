//! Signing in and staying signed in: the session cookie (HttpOnly,
//! SameSite=Strict, Secure behind TLS), the idle time-out, the CSRF token
//! every state-changing form carries, and throttling of failed sign-ins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use onething_server::{AppState, Client};
use onething_store::console_users::{self, ConsoleUser};

use crate::accounts::{client_of, ConsoleRole};
use crate::messages::Lang;
use crate::pages::PageError;
use crate::Console;

pub const COOKIE: &str = "onething_session";
pub const LANGUAGE_COOKIE: &str = "onething_lang";

/// How sessions and sign-ins are limited.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A session unused for this long has ended.
    pub idle_timeout: Duration,
    /// Failed sign-ins, per login and per address, before they are refused for a while.
    pub max_failures: u32,
    /// How long sign-ins are refused after that many failures.
    pub lockout: Duration,
}

impl Default for SessionSettings {
    fn default() -> SessionSettings {
        SessionSettings {
            idle_timeout: Duration::from_secs(30 * 60),
            max_failures: 5,
            lockout: Duration::from_secs(5 * 60),
        }
    }
}

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// Failed sign-ins by login and by address, in this process. Behind several
/// servers each counts its own, so a guesser gets at most `max_failures`
/// tries per server per lockout.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    /// Whether any of these keys is locked out now.
    pub fn locked(&self, keys: &[String]) -> bool {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().any(|key| {
            failures
                .get(key)
                .and_then(|f| f.locked_until)
                .is_some_and(|until| until > now)
        })
    }

    pub fn failed(&self, keys: &[String], settings: &SessionSettings) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > 100_000 {
            // Bounded: forget what is no longer locked.
            failures.retain(|_, f| f.locked_until.is_some_and(|until| until > now));
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_default();
            if entry.locked_until.is_some_and(|until| until <= now) {
                *entry = Failures::default();
            }
            entry.count += 1;
            if entry.count >= settings.max_failures {
                entry.locked_until = Some(now + settings.lockout);
            }
        }
    }

    pub fn succeeded(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            failures.remove(key);
        }
    }
}

/// A signed-in person, from their session cookie.
#[derive(Debug, Clone)]
pub struct Person {
    pub user: ConsoleUser,
    pub role: ConsoleRole,
    pub lang: Lang,
    pub csrf_token: String,
    pub token_hash: String,
}

impl Person {
    /// The API client whose permissions they have.
    pub fn client(&self) -> Client {
        client_of(&self.user)
    }

    /// How the audited history names them: `police/王警官`.
    pub fn actor(&self) -> onething_core::case::Actor {
        onething_core::case::Actor::Agency {
            agency: self
                .client()
                .agency
                .unwrap_or_else(|| self.user.login.clone()),
            operator: Some(self.user.name.clone()),
        }
    }

    /// The agency they act for (`window` for a clerk).
    pub fn agency(&self) -> Option<String> {
        self.client().agency
    }

    /// Refuses a form without this session's CSRF token.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), PageError> {
        match sent {
            Some(token) if constant_time_equal(token.as_bytes(), self.csrf_token.as_bytes()) => {
                Ok(())
            }
            _ => Err(PageError::Csrf),
        }
    }
}

fn constant_time_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The language of someone not signed in: their cookie, else their browser's.
/// The browser's address, as the reverse proxy forwards it.
pub fn forwarded_address(headers: &HeaderMap) -> Option<String> {
    // Behind the reverse proxy the documentation asks for, the first
    // forwarded address is the browser's.
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub fn visitor_lang(headers: &HeaderMap) -> Lang {
    cookie(headers, LANGUAGE_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or_else(|| {
            Lang::from_accept(
                headers
                    .get(axum::http::header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        })
}

/// Served over TLS (directly, or behind a proxy that says so): cookies get `Secure`.
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn cleared_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub fn token_hash(token: &str) -> String {
    onething_core::audit::sha256_hex(token.as_bytes())
}

fn console(parts: &Parts) -> Result<Arc<Console>, PageError> {
    parts
        .extensions
        .get::<Arc<Console>>()
        .cloned()
        .ok_or_else(|| PageError::Internal("the console is not mounted".into()))
}

impl FromRequestParts<AppState> for Person {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Person, PageError> {
        let console = console(parts)?;
        let next = parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        let sign_in = |expired: bool| PageError::SignIn {
            next: next.clone(),
            expired,
        };
        let Some(token) = cookie(&parts.headers, COOKIE) else {
            return Err(sign_in(false));
        };
        let hash = token_hash(token);
        let database = state.store.database();
        let Some(session) = console_users::session(database, &hash).await? else {
            return Err(sign_in(true));
        };
        let now = chrono::Utc::now();
        let idle = now - session.last_seen_at;
        let idle_timeout = chrono::Duration::from_std(console.sessions.idle_timeout)
            .unwrap_or(chrono::Duration::MAX);
        if idle > idle_timeout || session.user.disabled {
            console_users::end_session(database, &hash).await?;
            return Err(sign_in(true));
        }
        // One write a minute at most, not one per page.
        if idle > chrono::Duration::seconds(60) {
            console_users::touch_session(database, &hash, now).await?;
        }
        let role = ConsoleRole::parse(&session.user.role)
            .ok_or_else(|| PageError::Internal(format!("unknown role {}", session.user.role)))?;
        Ok(Person {
            lang: Lang::parse(&session.user.language).unwrap_or_default(),
            role,
            csrf_token: session.csrf_token,
            token_hash: hash,
            user: session.user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_a_key_out_and_success_forgets_them() {
        let settings = SessionSettings {
            max_failures: 3,
            ..SessionSettings::default()
        };
        let throttle = Throttle::default();
        let keys = vec!["login:wang".to_string()];
        throttle.failed(&keys, &settings);
        throttle.failed(&keys, &settings);
        assert!(!throttle.locked(&keys));
        throttle.failed(&keys, &settings);
        assert!(throttle.locked(&keys));
        assert!(!throttle.locked(&["login:li".to_string()]));
        throttle.succeeded(&keys);
        assert!(!throttle.locked(&keys));
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "a=1; onething_session=abc; b=2".parse().expect("header"),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
