//! The server's configuration: one TOML file (see `onething.example.toml`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::auth::Role;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Overrides `--database` when set.
    pub database: Option<String>,
    /// Overrides `--workflows` when set.
    pub workflows: Option<PathBuf>,
    /// Requests with a larger body get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How often the deadlines of open cases are checked; 0 turns it off.
    #[serde(default = "default_deadline_check_seconds")]
    pub deadline_check_seconds: u64,
    /// The default rating (默认评价) of a case its applicant did not rate:
    /// recorded by the scheduler this many natural days after the case
    /// ended (0 turns it off), with this score (1–5). The defaults are
    /// Guangdong's rules: 7 days, 3 = 基本满意.
    #[serde(default = "default_rating_after_days")]
    pub default_rating_after_days: u32,
    #[serde(default = "default_rating_score")]
    pub default_rating_score: u8,
    /// How often an audit checkpoint is taken; 0 turns it off.
    #[serde(default = "default_checkpoint_seconds")]
    pub checkpoint_seconds: u64,
    /// Signs periodic checkpoints with this Ed25519 seed file.
    pub checkpoint_sign_key: Option<PathBuf>,
    /// The Ed25519 public key (64 hex characters) a stored checkpoint must be
    /// signed with for the API's verification to compare with it.
    pub checkpoint_trusted_key: Option<String>,
    /// Failed deliveries in a row after which a webhook subscription is parked.
    #[serde(default = "default_webhook_max_failures")]
    pub webhook_max_failures: i64,
    /// The first retry waits this long; each further one twice as long.
    #[serde(default = "default_webhook_backoff_ms")]
    pub webhook_backoff_ms: u64,
    #[serde(default = "default_webhook_timeout_ms")]
    pub webhook_timeout_ms: u64,
    /// How often webhook subscriptions look for new events.
    #[serde(default = "default_webhook_poll_ms")]
    pub webhook_poll_ms: u64,
    /// The longest a request waits for a PostgreSQL connection; past it, the
    /// request fails with 503 `database_unavailable`.
    #[serde(default = "default_database_acquire_timeout_ms")]
    pub database_acquire_timeout_ms: u64,
    /// PostgreSQL connections in the pool at most.
    #[serde(default = "default_database_max_connections")]
    pub database_max_connections: u32,
    /// Cases kept folded in memory by this server (0 turns the cache off).
    #[serde(default = "default_case_cache")]
    pub case_cache: usize,
    /// Connections served at once; more wait in the listen queue until one
    /// closes (so a flood of idle connections cannot exhaust the server).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A client must send a request's headers within this time, or its
    /// connection is closed (against slow clients holding connections open).
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// The longest a request is worked on; past it the answer is 503
    /// `timeout` (a command may have been stored: retry with the same
    /// `Idempotency-Key`). Longer than the feed's longest wait (20 s).
    #[serde(default = "default_request_timeout_seconds")]
    pub request_timeout_seconds: u64,
    /// Conflicting commands are retried; past that, 503 asks to come back after this.
    #[serde(default = "default_retry_after_seconds")]
    pub retry_after_seconds: u64,
    /// A console session unused this long has ended (the person signs in again).
    #[serde(default = "default_console_idle_minutes")]
    pub console_idle_minutes: u64,
    /// Failed console sign-ins, per login and per address, before sign-ins
    /// are refused for `console_lockout_seconds`.
    #[serde(default = "default_console_max_failed_sign_ins")]
    pub console_max_failed_sign_ins: u32,
    #[serde(default = "default_console_lockout_seconds")]
    pub console_lockout_seconds: u64,
    #[serde(default, rename = "client")]
    pub clients: Vec<ClientConfig>,
    #[serde(default, rename = "subscription")]
    pub subscriptions: Vec<SubscriptionConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    pub role: Role,
    /// The agency an `agency` client acts for (`window` for a window client).
    pub agency: Option<String>,
    /// SHA-256 (hex) of the client's bearer token; the token itself is never stored.
    pub token_sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    pub id: String,
    /// The client that owns it (and may resume it).
    pub client: String,
    pub url: String,
    /// Only events of cases this agency takes part in.
    pub agency: Option<String>,
    /// `beginning` (the default) or `now`: where a new subscription starts.
    #[serde(default)]
    pub start: Option<String>,
}

fn default_console_idle_minutes() -> u64 {
    30
}
fn default_console_max_failed_sign_ins() -> u32 {
    5
}
fn default_console_lockout_seconds() -> u64 {
    300
}
fn default_bind() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_deadline_check_seconds() -> u64 {
    60
}
fn default_rating_after_days() -> u32 {
    7
}
fn default_rating_score() -> u8 {
    3
}
fn default_checkpoint_seconds() -> u64 {
    3600
}
fn default_webhook_max_failures() -> i64 {
    8
}
fn default_webhook_backoff_ms() -> u64 {
    500
}
fn default_webhook_timeout_ms() -> u64 {
    5000
}
fn default_webhook_poll_ms() -> u64 {
    200
}
fn default_retry_after_seconds() -> u64 {
    1
}
fn default_database_acquire_timeout_ms() -> u64 {
    2000
}
fn default_case_cache() -> usize {
    onething_store::cases::DEFAULT_CASE_CACHE
}

fn default_max_connections() -> usize {
    1024
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_request_timeout_seconds() -> u64 {
    30
}

fn default_database_max_connections() -> u32 {
    16
}

impl Default for Config {
    fn default() -> Config {
        toml::from_str("").expect("every field has a default")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// The pool settings these keys give.
    pub fn store_settings(&self) -> onething_store::database::StoreSettings {
        onething_store::database::StoreSettings {
            acquire_timeout: std::time::Duration::from_millis(
                self.database_acquire_timeout_ms.max(10),
            ),
            max_connections: self.database_max_connections.max(1),
            case_cache: self.case_cache,
        }
    }

    /// The limits of the HTTP server these keys give.
    pub fn http_limits(&self) -> crate::HttpLimits {
        crate::HttpLimits {
            max_body_bytes: self.max_body_bytes,
            max_connections: self.max_connections.max(1),
            header_read_timeout: std::time::Duration::from_millis(
                self.header_read_timeout_ms.max(10),
            ),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_seconds.max(1)),
        }
    }

    pub fn parse(path: &str, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|error| {
            let position = error.span().map(|span| {
                onething_core::diagnostic::LineIndex::new(text)
                    .position(span.start)
                    .to_string()
            });
            ConfigError::Invalid {
                path: match position {
                    Some(position) => format!("{path}:{position}"),
                    None => path.to_string(),
                },
                message: error.message().to_string(),
            }
        })?;
        let mut problems = Vec::new();
        if config.request_timeout_seconds <= crate::api::MAX_WAIT_SECONDS {
            problems.push(format!(
                "request_timeout_seconds must be more than {} (the feed's longest wait)",
                crate::api::MAX_WAIT_SECONDS
            ));
        }
        if !(1..=5).contains(&config.default_rating_score) {
            problems.push(format!(
                "default_rating_score must be from 1 to 5, not {}",
                config.default_rating_score
            ));
        }
        if config.max_connections == 0 {
            problems.push("max_connections must be at least 1".to_string());
        }
        for client in &config.clients {
            if client.role == Role::Agency && client.agency.is_none() {
                problems.push(format!(
                    "client `{}` has the role agency but no `agency`",
                    client.id
                ));
            }
            if client.role == Role::Agency
                && client.agency.as_deref() == Some(onething_core::case::WINDOW_AGENCY)
            {
                problems.push(format!(
                    "client `{}` has the role agency but acts as `window`: it would have the window's rights in the engine without being able to read the window's cases; give it `role = \"window\"`",
                    client.id
                ));
            }
            if client.token_sha256.len() != 64
                || !client.token_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                problems.push(format!(
                    "client `{}`: token_sha256 must be 64 hexadecimal characters",
                    client.id
                ));
            }
        }
        for client in &config.clients {
            if client.role == Role::Window
                && client
                    .agency
                    .as_deref()
                    .is_some_and(|agency| agency != "window")
            {
                problems.push(format!(
                    "client `{}` has the role window; its agency can only be `window`",
                    client.id
                ));
            }
        }
        let signing_public_key = match &config.checkpoint_sign_key {
            Some(key) => match std::fs::read_to_string(key) {
                Ok(seed) => onething_core::audit::public_key_hex(seed.trim()).ok(),
                Err(_) => {
                    problems.push(format!(
                        "checkpoint_sign_key {} cannot be read",
                        key.display()
                    ));
                    None
                }
            },
            None => None,
        };
        if let Some(trusted) = &config.checkpoint_trusted_key {
            if trusted.len() != 64 || !trusted.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(
                    "checkpoint_trusted_key must be an Ed25519 public key, 64 hexadecimal characters (as `onething audit keygen` prints it)".to_string(),
                );
            } else if signing_public_key
                .as_ref()
                .is_some_and(|public| !public.eq_ignore_ascii_case(trusted))
            {
                problems.push(
                    "checkpoint_sign_key is not the key of checkpoint_trusted_key: the server's own checkpoints would be refused".to_string(),
                );
            }
        }
        for subscription in &config.subscriptions {
            if let Some(start) = &subscription.start {
                if start != "beginning" && start != "now" {
                    problems.push(format!(
                        "subscription `{}`: start must be `beginning` or `now`, not `{start}`",
                        subscription.id
                    ));
                }
            }
            if !config
                .clients
                .iter()
                .any(|client| client.id == subscription.client)
            {
                problems.push(format!(
                    "subscription `{}` names an unknown client `{}`",
                    subscription.id, subscription.client
                ));
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_string(),
                message: problems.join("; "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn the_example_configuration_parses_with_every_key_it_shows() {
        let text = include_str!("../../../onething.example.toml");
        let config = Config::parse("onething.example.toml", text).unwrap();
        assert_eq!(config.database_acquire_timeout_ms, 2000);
        assert_eq!(config.database_max_connections, 16);
    }

    #[test]
    fn an_agency_client_acting_as_the_window_is_refused_at_start() {
        let text = format!(
            "[[client]]\nid = \"counter\"\nrole = \"agency\"\nagency = \"window\"\ntoken_sha256 = \"{HASH}\"\n"
        );
        let error = Config::parse("bad.toml", &text).unwrap_err().to_string();
        assert_eq!(
            error,
            "bad.toml: client `counter` has the role agency but acts as `window`: it would have the window's rights in the engine without being able to read the window's cases; give it `role = \"window\"`"
        );
        let window = format!(
            "[[client]]\nid = \"counter\"\nrole = \"window\"\nagency = \"window\"\ntoken_sha256 = \"{HASH}\"\n"
        );
        assert!(Config::parse("good.toml", &window).is_ok());
    }

    #[test]
    fn the_default_rating_follows_guangdongs_rules_unless_set_and_a_wrong_score_is_named() {
        let config = Config::parse("empty.toml", "").unwrap();
        assert_eq!(
            (
                config.default_rating_after_days,
                config.default_rating_score
            ),
            (7, 3)
        );
        let error = Config::parse("bad.toml", "default_rating_score = 9\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "bad.toml: default_rating_score must be from 1 to 5, not 9"
        );
    }
}
