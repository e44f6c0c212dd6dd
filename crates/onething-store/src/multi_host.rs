//! PostgreSQL multi-host URLs, for a primary with standbys managed by a
//! failover tool (pg_auto_failover, Patroni):
//! `postgres://user:pw@h1:5432,h2:5432/db?target_session_attrs=read-write`.
//!
//! libpq accepts such a URL and connects to whichever host is the primary;
//! sqlx 0.8 does not (`invalid port number`: its URL has one host). So the
//! URL is split here into one set of sqlx connect options per host (same
//! user, password, database and parameters), and the pool is kept pointed at
//! the primary:
//!
//! - at start, every host is asked whether it takes writes, as libpq's
//!   `target_session_attrs=read-write` does: not in recovery, and
//!   `transaction_read_only` off. (pg_auto_failover promotes a standby with
//!   `default_transaction_read_only = on` until the old primary is known to
//!   be demoted, so not being in recovery is not enough.) The pool connects
//!   to the one that does: the primary;
//! - every new connection, and every idle one before it is handed out, is
//!   asked again, and refused if its server does not take writes: a
//!   standby, or an old primary come back demoted, never serves a command
//!   (a refused new connection makes the pool try again, within its acquire
//!   timeout);
//! - a small task keeps one connection of its own to the primary and asks it
//!   every second; when that fails (the primary died or was demoted) it asks
//!   every host again, every quarter of a second until one answers as
//!   primary, and points the pool's new connections there with
//!   [`sqlx::Pool::set_connect_options`]. The pool's old connections to the
//!   dead primary fail and are dropped; requests meanwhile fail within the
//!   acquire timeout (503) and clients resend them, as after a restart.
//!
//! Nothing acknowledged can be lost by this switch as long as replication is
//! synchronous: a commit is answered only once the standby has it.
//! A single-host URL does not come here: it is given to sqlx as it is.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::Notify;

use crate::database::{redact, StoreSettings};
use crate::error::StoreError;

/// How often the primary is asked whether it still is one.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How often the hosts are asked while no primary is known.
const SEARCH_EVERY: Duration = Duration::from_millis(250);
/// The longest one host may take to connect and answer: a machine that is
/// gone (rather than refusing) must not hold up the search.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One host of a multi-host URL.
#[derive(Debug, Clone)]
pub struct Host {
    /// `host:port` as written in the URL, for messages.
    pub name: String,
    pub options: PgConnectOptions,
}

/// Splits a multi-host PostgreSQL URL into one host each. `Ok(None)` for a
/// URL with a single host (or not PostgreSQL), which is left to sqlx as it
/// is. Errors name the URL's part that is wrong.
pub fn parse(url: &str) -> Result<Option<Vec<Host>>, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(None);
    };
    if scheme != "postgres" && scheme != "postgresql" {
        return Ok(None);
    }
    // The authority ends at the path or the query; the hosts follow the
    // credentials' last `@` (a password's own `@` is percent-encoded).
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (credentials, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    if !hosts.contains(',') {
        return Ok(None);
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    // target_session_attrs is libpq's; sqlx would ignore it with a warning.
    // Here every host must be the primary anyway, since onething writes.
    let mut kept = Vec::new();
    for pair in query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("target_session_attrs", "read-write" | "primary") => {}
            ("target_session_attrs", other) => {
                return Err(format!(
                    "target_session_attrs={other} is not supported: onething writes, so a \
                     multi-host URL must lead to the primary (read-write or primary)"
                ))
            }
            _ => kept.push(pair),
        }
    }
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let mut parsed = Vec::new();
    for (index, host) in hosts.split(',').enumerate() {
        let number = index + 1;
        check_host(host).map_err(|problem| format!("host {number} of {hosts}: {problem}"))?;
        let single = format!("{scheme}://{credentials}{host}{path}{query}");
        let options = single
            .parse::<PgConnectOptions>()
            .map_err(|error| format!("host {number} ({host}): {error}"))?;
        parsed.push(Host {
            name: host.to_string(),
            options,
        });
    }
    Ok(Some(parsed))
}

/// A host of the list: `name`, `name:port`, `[v6]` or `[v6]:port`.
fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let Some((address, after)) = v6.split_once(']') else {
            return Err(format!("`{host}` has no closing `]`"));
        };
        if after.is_empty() {
            (address, None)
        } else if let Some(port) = after.strip_prefix(':') {
            (address, Some(port))
        } else {
            return Err(format!("`{host}`: only `:PORT` may follow `]`"));
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty() {
        return Err("a host is empty".into());
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(port) if port > 0 => {}
            _ => return Err(format!("`{port}` is not a port number (1 to 65535)")),
        }
    }
    Ok(())
}

/// True when the connection's server takes writes: the primary.
async fn is_primary(connection: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
    )
    .fetch_one(connection)
    .await
}

/// Asks every host at once; the first (in URL order) that answers as primary,
/// with the connection that asked it.
async fn find_primary(hosts: &[Host]) -> Option<(usize, PgConnection)> {
    let answers = join_all(hosts.iter().map(|host| async move {
        let asked = tokio::time::timeout(PROBE_TIMEOUT, async {
            let mut connection = host.options.connect().await?;
            let primary = is_primary(&mut connection).await?;
            Ok::<_, sqlx::Error>((primary, connection))
        })
        .await;
        match asked {
            Ok(Ok((true, connection))) => Some(connection),
            _ => None,
        }
    }))
    .await;
    answers
        .into_iter()
        .enumerate()
        .find_map(|(index, connection)| connection.map(|connection| (index, connection)))
}

/// A pool on whichever host is the primary, kept there by a task of its own
/// (which ends once the pool is closed).
pub async fn connect(
    url: &str,
    hosts: Vec<Host>,
    settings: &StoreSettings,
) -> Result<PgPool, StoreError> {
    let fail = |message: String| StoreError::Connect {
        url: redact(url),
        message,
    };
    // At start, wait for a primary as long as a single host would be waited
    // for: the failover tool may be promoting one right now.
    let deadline = tokio::time::Instant::now() + settings.acquire_timeout;
    let (current, probe) = loop {
        if let Some(found) = find_primary(&hosts).await {
            break found;
        }
        if tokio::time::Instant::now() >= deadline {
            let names: Vec<&str> = hosts.iter().map(|host| host.name.as_str()).collect();
            return Err(fail(format!(
                "no primary among {} (none answered as taking writes)",
                names.join(", ")
            )));
        }
        tokio::time::sleep(SEARCH_EVERY).await;
    };
    let wake = Arc::new(Notify::new());
    let on_connect = wake.clone();
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        // A new connection to a standby (or a read-only primary) is refused (the pool then tries again
        // until its acquire timeout), and the watcher told to look again.
        .after_connect(move |connection, _| {
            let wake = on_connect.clone();
            Box::pin(async move {
                if is_primary(connection).await? {
                    Ok(())
                } else {
                    wake.notify_one();
                    Err(sqlx::Error::Configuration(
                        "this PostgreSQL server does not take writes (a standby), it is not the primary".into(),
                    ))
                }
            })
        })
        // An idle connection is asked again before it is handed out (instead
        // of sqlx's ping, so that this costs no more round trips): one to an
        // old primary that came back as a standby is closed, not used.
        .test_before_acquire(false)
        .before_acquire(|connection, _| Box::pin(async move { is_primary(connection).await }))
        .connect_with(hosts[current].options.clone())
        .await
        .map_err(|error| fail(error.to_string()))?;
    tokio::spawn(watch(pool.clone(), hosts, current, probe, wake));
    Ok(pool)
}

/// Keeps the pool's connect options on the primary; see the module's docs.
async fn watch(
    pool: PgPool,
    hosts: Vec<Host>,
    mut current: usize,
    probe: PgConnection,
    wake: Arc<Notify>,
) {
    let mut probe = Some(probe);
    loop {
        let pause = if probe.is_some() {
            CHECK_EVERY
        } else {
            SEARCH_EVERY
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = wake.notified() => {}
        }
        if pool.is_closed() {
            if let Some(probe) = probe.take() {
                let _ = probe.close().await;
            }
            return;
        }
        if let Some(connection) = probe.as_mut() {
            if let Ok(Ok(true)) = tokio::time::timeout(PROBE_TIMEOUT, is_primary(connection)).await
            {
                continue;
            }
            probe = None;
        }
        if let Some((found, connection)) = find_primary(&hosts).await {
            if found != current {
                pool.set_connect_options(hosts[found].options.clone());
                eprintln!(
                    "onething: PostgreSQL primary moved from {} to {}; new connections go there",
                    hosts[current].name, hosts[found].name
                );
                current = found;
            }
            probe = Some(connection);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> Vec<Host> {
        parse(url).expect("parses").expect("multi-host")
    }

    #[test]
    fn single_host_urls_are_left_to_sqlx() {
        for url in [
            "postgres://u:p@127.0.0.1:5432/db",
            "postgres://u:p@127.0.0.1:5432/db?target_session_attrs=read-write",
            "postgresql://localhost/db",
            "postgres:///db?host=/run/postgresql",
            "sqlite://onething.db",
            "sqlite::memory:",
        ] {
            assert!(parse(url).unwrap().is_none(), "{url}");
        }
    }

    #[test]
    fn every_host_gets_the_same_credentials_database_and_parameters() {
        let hosts = split(
            "postgres://onething:s%40cret@127.0.0.1:5501,db2.example:5502,db3/cases\
             ?target_session_attrs=read-write&application_name=city",
        );
        let places: Vec<(&str, u16)> = hosts
            .iter()
            .map(|host| (host.options.get_host(), host.options.get_port()))
            .collect();
        assert_eq!(
            places,
            [("127.0.0.1", 5501), ("db2.example", 5502), ("db3", 5432)]
        );
        for host in &hosts {
            assert_eq!(host.options.get_username(), "onething");
            assert_eq!(host.options.get_database(), Some("cases"));
            assert_eq!(host.options.get_application_name(), Some("city"));
        }
        assert_eq!(hosts[1].name, "db2.example:5502");
    }

    #[test]
    fn ipv6_hosts_and_urls_without_credentials_or_parameters() {
        let hosts = split("postgresql://[::1]:5501,[::1]/db");
        assert_eq!(hosts[0].options.get_port(), 5501);
        assert_eq!(hosts[1].options.get_port(), 5432);
        assert_eq!(hosts[0].options.get_database(), Some("db"));
        assert_eq!(
            split("postgres://a,b?target_session_attrs=primary").len(),
            2
        );
    }

    #[test]
    fn mistakes_are_named() {
        let error = |url: &str| parse(url).unwrap_err();
        assert_eq!(
            error("postgres://u@h1:5501,h2:abc/db"),
            "host 2 of h1:5501,h2:abc: `abc` is not a port number (1 to 65535)"
        );
        assert_eq!(
            error("postgres://u@h1:70000,h2/db"),
            "host 1 of h1:70000,h2: `70000` is not a port number (1 to 65535)"
        );
        assert_eq!(
            error("postgres://u@h1,,h2/db"),
            "host 2 of h1,,h2: a host is empty"
        );
        assert_eq!(
            error("postgres://u@h1,:5432/db"),
            "host 2 of h1,:5432: a host is empty"
        );
        assert_eq!(
            error("postgres://u@[::1,h2/db"),
            "host 1 of [::1,h2: `[::1` has no closing `]`"
        );
        assert!(
            error("postgres://u@h1,h2/db?target_session_attrs=read-only")
                .starts_with("target_session_attrs=read-only is not supported")
        );
    }

    /// The suite's PostgreSQL (`scripts/test` starts it) behind a host that
    /// refuses connections (port 1): the pool must find it and use it.
    #[tokio::test]
    async fn a_multi_host_url_leads_to_the_primary_past_a_dead_host() {
        let admin = std::env::var("ONETHING_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://onething:onething@127.0.0.1:5432/postgres".into());
        let at = admin.rfind('@').expect("a URL with credentials");
        let url = format!(
            "{}@127.0.0.1:1,{}?target_session_attrs=read-write",
            &admin[..at],
            &admin[at + 1..]
        );
        let settings = StoreSettings::default();
        let database = crate::Database::connect(&url, &settings).await.unwrap();
        let crate::Database::Postgres(pool) = &database else {
            panic!("a PostgreSQL pool");
        };
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(one, 1);
        assert_ne!(pool.connect_options().get_port(), 1);
        database.close().await;

        let nowhere = format!("{}@127.0.0.1:1,127.0.0.1:2/postgres", &admin[..at]);
        let quick = StoreSettings {
            acquire_timeout: Duration::from_millis(300),
            ..StoreSettings::default()
        };
        let error = crate::Database::connect(&nowhere, &quick)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no primary among 127.0.0.1:1, 127.0.0.1:2"),
            "{error}"
        );
        assert!(
            !error.contains("onething:onething"),
            "the password is redacted: {error}"
        );
    }
}
