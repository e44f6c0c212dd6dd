//! Work the server does on its own: checking deadlines, taking checkpoints,
//! delivering webhooks. Each job runs under a lease in the database, so that
//! several servers on one PostgreSQL never do the same job at once.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use onething_core::case::{Action, Actor, CaseCommand};
use onething_store::feed::{self, Cursor};
use onething_store::{leases, views, webhooks, Attribution};
use tokio::sync::watch;

use crate::AppState;

/// The text of a panic's payload, for the log.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Runs one piece of a job's work so that neither its error nor a panic in
/// it ends the job: both are logged and counted in
/// `onething_job_failures_total{job}`; `None` then.
pub async fn guarded<T, E: std::fmt::Display>(
    state: &AppState,
    job: &'static str,
    what: &str,
    work: impl Future<Output = Result<T, E>>,
) -> Option<T> {
    let failure = match AssertUnwindSafe(work).catch_unwind().await {
        Ok(Ok(value)) => return Some(value),
        Ok(Err(error)) => error.to_string(),
        Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
    };
    tracing::error!(job, what, error = %failure, "background job failed; it goes on");
    state
        .metrics
        .increment("onething_job_failures_total", &[("job", job)], 1);
    None
}

/// Checks the deadlines of every open case, once per interval across all nodes.
/// The rules' default rating: its score, recorded this many days after a case ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultRating {
    pub after_days: u32,
    pub score: u8,
}

pub async fn deadline_loop(
    state: AppState,
    interval: Duration,
    default_rating: Option<DefaultRating>,
    mut stop: watch::Receiver<bool>,
) {
    let _running = state.metrics.job_running("deadline-check");
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        // A revision left pending (a crash half-way, another server's lease)
        // is taken up again before deadlines are checked on the old times.
        guarded(
            &state,
            "deadline-check",
            "revising deadlines",
            revise_if_pending(&state),
        )
        .await;
        guarded(
            &state,
            "deadline-check",
            "checking deadlines",
            check_deadlines(&state, interval),
        )
        .await;
        // The dashboard's day sums, so that a read finds few days to sum.
        guarded(
            &state,
            "deadline-check",
            "summing the dashboard's changed days",
            onething_store::dashboard::refresh(state.store.database()),
        )
        .await;
        if let Some(rule) = default_rating {
            guarded(
                &state,
                "deadline-check",
                "recording default ratings",
                record_default_ratings(&state, rule, Utc::now()),
            )
            .await;
        }
    }
}

/// Records the default rating of every ended case left unrated past the
/// period (at most a thousand a round); returns how many. Each is a command
/// with a fixed id, so two servers racing record it once.
pub async fn record_default_ratings(
    state: &AppState,
    rule: DefaultRating,
    now: chrono::DateTime<Utc>,
) -> Result<usize, onething_store::StoreError> {
    let cutoff = now - chrono::Duration::days(i64::from(rule.after_days));
    let due =
        onething_store::figures::unrated_ended_before(state.store.database(), cutoff, 1000).await?;
    let mut recorded = 0;
    for case_id in due {
        let command = CaseCommand {
            command_id: format!("default-rating:{case_id}"),
            actor: Actor::System,
            at: now,
            action: Action::RateByDefault {
                score: rule.score,
                after_days: rule.after_days,
            },
        };
        let attribution = Attribution {
            channel: "scheduler".into(),
            role: Some("system".into()),
            correlation_id: None,
            clock_time: false,
        };
        let rated = guarded(
            state,
            "deadline-check",
            &format!("default rating of case {case_id}"),
            state.store.execute_with(&case_id, command, &attribution),
        )
        .await;
        recorded += usize::from(rated.is_some());
    }
    if recorded > 0 {
        state.feed_signal.notify_waiters();
    }
    Ok(recorded)
}

/// Revises running deadlines if the calendars differ from the ones they were
/// last counted on; `None` when nothing is pending.
pub async fn revise_if_pending(
    state: &AppState,
) -> Result<Option<crate::api::RevisionSummary>, onething_store::StoreError> {
    let calendars = state.store.library().calendars();
    let calendars: Vec<_> = calendars.iter().map(AsRef::as_ref).collect();
    let database = state.store.database();
    let stale = onething_store::calendars::stale_calendars(database, &calendars).await?;
    if !stale.is_empty() {
        // Another server has the newer calendar; this one must be reloaded,
        // not revise from its older copy.
        for warning in stale {
            tracing::warn!("{warning}");
        }
        return Ok(None);
    }
    let changes = onething_store::calendars::pending_changes(database, &calendars).await?;
    if changes.is_empty() {
        return Ok(None);
    }
    revise_deadlines(state, changes).await.map(Some)
}

/// One revision run under the `deadline-revision` lease, so that two servers
/// do not revise at once (each revision would still be recorded once: a
/// case already revised decides nothing new).
pub async fn revise_deadlines(
    state: &AppState,
    reasons: Vec<String>,
) -> Result<crate::api::RevisionSummary, onething_store::StoreError> {
    let now = state.now();
    let run_id = format!(
        "{}-{}",
        now.timestamp_millis(),
        uuid::Uuid::new_v4().simple()
    );
    let lease_until = Utc::now() + chrono::Duration::minutes(10);
    if !leases::acquire(
        state.store.database(),
        "deadline-revision",
        &state.node,
        Utc::now(),
        lease_until,
    )
    .await?
    {
        return Ok(crate::api::RevisionSummary {
            correlation_id: String::new(),
            cases: 0,
            revised: Vec::new(),
            failed: Vec::new(),
            pending: true,
        });
    }
    tracing::info!(reasons = %reasons.join("; "), "revising running deadlines after a calendar change");
    let result =
        onething_store::calendars::revise_deadlines(&state.store, reasons, now, &run_id).await;
    leases::release(state.store.database(), "deadline-revision", &state.node).await?;
    let report = result?;
    if !report.revised.is_empty() {
        state.metrics.increment(
            "onething_deadlines_revised_total",
            &[],
            report.revised.len() as u64,
        );
        state.feed_signal.notify_waiters();
    }
    for failure in &report.failed {
        tracing::warn!(%failure, "a case's deadlines could not be revised; the run is retried");
    }
    tracing::info!(
        cases = report.cases,
        revised = report.revised.len(),
        correlation_id = %report.correlation_id,
        "deadline revision done"
    );
    Ok(crate::api::RevisionSummary {
        correlation_id: report.correlation_id,
        cases: report.cases,
        revised: report.revised,
        failed: report.failed,
        pending: false,
    })
}

/// One deadline check, if this node wins the lease for this interval.
pub async fn check_deadlines(
    state: &AppState,
    interval: Duration,
) -> Result<usize, onething_store::StoreError> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(interval).unwrap_or_default()
        - chrono::Duration::milliseconds(100);
    if !leases::acquire(
        state.store.database(),
        "deadline-check",
        &state.node,
        now,
        until,
    )
    .await?
    {
        return Ok(0);
    }
    let mut recorded = 0;
    for case_id in views::open_case_ids(state.store.database()).await? {
        let command = CaseCommand {
            command_id: format!("deadline-check:{}:{case_id}", now.timestamp_millis()),
            actor: Actor::System,
            at: now,
            action: Action::CheckDeadlines,
        };
        let attribution = Attribution {
            channel: "scheduler".into(),
            role: Some("system".into()),
            correlation_id: None,
            // The core takes the scheduler's checks at the last event's time itself.
            clock_time: false,
        };
        // One case that cannot be checked is logged and counted; the others go on.
        let checked = guarded(
            state,
            "deadline-check",
            &format!("case {case_id}"),
            state.store.execute_with(&case_id, command, &attribution),
        )
        .await;
        if let Some(outcome) = checked {
            recorded += outcome.appended.len();
        }
    }
    if recorded > 0 {
        state
            .metrics
            .increment("onething_deadline_events_total", &[], recorded as u64);
        state.feed_signal.notify_waiters();
    }
    Ok(recorded)
}

/// Takes an audit checkpoint once per interval across all nodes.
pub async fn checkpoint_loop(
    state: AppState,
    interval: Duration,
    signing_seed: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let _running = state.metrics.job_running("checkpoint");
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        guarded(
            &state,
            "checkpoint",
            "taking a checkpoint",
            take_checkpoint(&state, interval, signing_seed.as_deref()),
        )
        .await;
    }
}

/// One checkpoint, if this node wins the lease for this interval.
async fn take_checkpoint(
    state: &AppState,
    interval: Duration,
    signing_seed: Option<&str>,
) -> Result<(), onething_store::StoreError> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(interval).unwrap_or_default()
        - chrono::Duration::milliseconds(100);
    if !leases::acquire(
        state.store.database(),
        "checkpoint",
        &state.node,
        now,
        until,
    )
    .await?
    {
        return Ok(());
    }
    let taken_at = onething_store::time::stamp(now);
    let checkpoint =
        onething_store::audit::take_checkpoint(state.store.database(), taken_at, signing_seed)
            .await?;
    state
        .metrics
        .increment("onething_checkpoints_total", &[], 1);
    tracing::info!(root = %checkpoint.root, cases = checkpoint.cases, "checkpoint taken");
    Ok(())
}

/// Settings of the webhook loop.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub poll: Duration,
    pub timeout: Duration,
    pub backoff: Duration,
    pub max_failures: i64,
}

/// Delivers events to every subscription, in feed order, at least once.
pub async fn webhook_loop(
    state: AppState,
    settings: WebhookSettings,
    mut stop: watch::Receiver<bool>,
) {
    let _running = state.metrics.job_running("webhooks");
    let client = match reqwest::Client::builder().timeout(settings.timeout).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the webhook HTTP client");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(settings.poll) => {}
            _ = stop.changed() => return,
        }
        let subscriptions = match webhooks::list(state.store.database()).await {
            Ok(subscriptions) => subscriptions,
            Err(error) => {
                tracing::error!(%error, "listing webhook subscriptions failed");
                continue;
            }
        };
        for subscription in subscriptions {
            if subscription.parked {
                continue;
            }
            guarded(
                &state,
                "webhooks",
                &format!("subscription {}", subscription.id),
                deliver(&state, &client, &settings, &subscription, &stop),
            )
            .await;
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// How far behind a receiver is, in time: the age of the oldest event
/// waiting for it (exact, unlike the count of one page).
fn lag_seconds(waiting: &[feed::FeedEvent], now: chrono::DateTime<Utc>) -> i64 {
    waiting
        .first()
        .and_then(|event| event.attribution().recorded_time())
        .map_or(0, |oldest| (now - oldest).num_seconds().max(0))
}

/// How long a node holds a subscription's lease: twice the receiver's
/// timeout and five seconds more.
fn webhook_lease(settings: &WebhookSettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.timeout * 2).unwrap_or_default()
        + chrono::Duration::seconds(5)
}

async fn deliver(
    state: &AppState,
    client: &reqwest::Client,
    settings: &WebhookSettings,
    subscription: &webhooks::Subscription,
    stop: &watch::Receiver<bool>,
) -> Result<(), onething_store::StoreError> {
    let database = state.store.database();
    let now = Utc::now();
    // The lease covers one delivery (the receiver's timeout) with room to
    // spare, and is renewed after each one. It is no longer than that so
    // that when a server dies holding it (kill -9, a crash), another server
    // or the restarted one takes the subscription over within seconds.
    let lease = webhook_lease(settings);
    let lease_until = now + lease;
    if !webhooks::lease(database, &subscription.id, &state.node, now, lease_until).await? {
        return Ok(());
    }
    // Re-read under the lease: another node may have moved the cursor.
    let Some(current) = webhooks::get(database, &subscription.id).await? else {
        return Ok(());
    };
    let cursor = current.cursor.as_deref().and_then(Cursor::parse);
    let page = feed::read(database, cursor, current.agency.as_deref(), 100).await?;
    state.metrics.set(
        "onething_feed_lag_events",
        &[("subscription", &subscription.id)],
        page.events.len() as i64,
    );
    state.metrics.set(
        "onething_feed_lag_seconds",
        &[("subscription", &subscription.id)],
        lag_seconds(&page.events, now),
    );
    for event in page.events {
        if *stop.borrow() {
            break;
        }
        let key = format!("{}:{}", event.case_id, event.sequence);
        // The owner sees ID numbers as it would in the case; an owner no
        // longer configured sees them masked.
        let owner = state
            .clients
            .all()
            .find(|client| client.id == current.client);
        let disclosure = owner.map_or(
            onething_core::case::Disclosure::Masked,
            crate::api::disclosure_for,
        );
        if disclosure == onething_core::case::Disclosure::Full
            && matches!(event.event_type.as_str(), "case_opened" | "step_completed")
        {
            if let Some(owner) = owner {
                // Recorded before it leaves, as every unmasked read is.
                let read = onething_store::access_log::PersonalDataRead {
                    read_at: Utc::now(),
                    client: owner.id.clone(),
                    role: owner.role.name().to_string(),
                    agency: owner.agency.clone(),
                    operator: None,
                    channel: "webhook".into(),
                    case_id: event.case_id.clone(),
                    what: "webhook".into(),
                };
                onething_store::access_log::record(database, &[read]).await?;
            }
        }
        let payload = crate::api::disclosed_payload(
            state,
            disclosure,
            Some(&event.attribution().definition_hash),
            event.payload,
        );
        let body = serde_json::json!({
            "subscription": current.id,
            "cursor": event.cursor,
            "case_id": event.case_id,
            "sequence": event.sequence,
            "type": event.event_type,
            "event": payload,
            "metadata": event.metadata,
        });
        let result = client
            .post(&current.url)
            .header("Idempotency-Key", &key)
            .header("X-Onething-Subscription", &current.id)
            .json(&body)
            .send()
            .await;
        let failure = match result {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("the receiver answered {}", response.status())),
            Err(error) if error.is_timeout() => {
                Some("the receiver did not answer in time".to_string())
            }
            Err(error) => Some(format!("the receiver could not be reached: {error}")),
        };
        match failure {
            None => {
                state.metrics.increment(
                    "onething_webhook_deliveries_total",
                    &[("subscription", &current.id), ("result", "delivered")],
                    1,
                );
                if !webhooks::delivered(
                    database,
                    &current.id,
                    &state.node,
                    &event.cursor,
                    Utc::now() + lease,
                )
                .await?
                {
                    // The lease was lost; the next holder continues from the stored cursor.
                    return Ok(());
                }
            }
            Some(error) => {
                state.metrics.increment(
                    "onething_webhook_deliveries_total",
                    &[("subscription", &current.id), ("result", "failed")],
                    1,
                );
                let failures = u32::try_from(current.failures.max(0))
                    .unwrap_or(u32::MAX)
                    .min(16);
                let wait = settings.backoff * 2u32.saturating_pow(failures);
                let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                webhooks::failed(
                    database,
                    &current.id,
                    &state.node,
                    &error,
                    next,
                    settings.max_failures,
                )
                .await?;
                if current.failures + 1 >= settings.max_failures {
                    tracing::error!(subscription = %current.id, event = %key, %error, "webhook delivery failed; the subscription is parked until resumed");
                } else {
                    tracing::warn!(subscription = %current.id, event = %key, %error, "webhook delivery failed; will retry");
                }
                return Ok(());
            }
        }
    }
    webhooks::release(database, &subscription.id, &state.node).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(recorded_at: &str) -> feed::FeedEvent {
        feed::FeedEvent {
            cursor: "r1".into(),
            case_id: "C1".into(),
            sequence: 1,
            event_type: "case_opened".into(),
            payload: serde_json::json!({}),
            metadata: serde_json::json!({ "recorded_at": recorded_at }),
        }
    }

    #[test]
    fn the_lag_is_the_age_of_the_oldest_waiting_event() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-06-01T09:01:30.000Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            lag_seconds(
                &[
                    waiting("2026-06-01T09:00:00.000Z"),
                    waiting("2026-06-01T09:01:00.000Z")
                ],
                now
            ),
            90
        );
        assert_eq!(lag_seconds(&[], now), 0, "nothing waits");
    }
}
