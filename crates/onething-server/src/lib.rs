//! The onething HTTP API (axum): authenticated commands per agency, task
//! inboxes, the ordered event feed, webhooks, audit, the OpenAPI document,
//! metrics and the background jobs (deadline checks, checkpoints, deliveries).

pub mod api;
pub mod auth;
pub mod background;
pub mod config;
pub mod connections;
pub mod error;
pub mod horizon;
pub mod metrics;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use onething_store::CaseStore;
use tokio::sync::{watch, Notify};

pub use auth::{Client, Clients, Role};
pub use config::Config;
pub use connections::HttpLimits;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<CaseStore>,
    pub clients: Clients,
    pub metrics: Arc<metrics::Metrics>,
    /// Woken on every local append, so that long-polling readers answer at once.
    pub feed_signal: Arc<Notify>,
    pub workflows_folder: PathBuf,
    /// This server's name in leases.
    pub node: String,
    pub retry_after_seconds: u64,
    /// A fixed time for every command instead of the clock (scripted demos and
    /// tests only; the deadline check always uses the clock).
    pub fixed_now: Option<chrono::DateTime<chrono::Utc>>,
    /// The Ed25519 public key (hex) a stored checkpoint must be signed with
    /// for `GET /api/v1/audit/verify` to compare with it.
    pub trusted_checkpoint_key: Option<String>,
}

impl AppState {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.fixed_now.unwrap_or_else(chrono::Utc::now)
    }
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    state.metrics.increment(
        "onething_http_requests_total",
        &[("method", &method), ("route", &route), ("status", &status)],
        1,
    );
    tracing::info!(%method, %route, %status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// The whole API as one router, for the server and for tests (`oneshot`).
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    router_with(
        state,
        &HttpLimits {
            max_body_bytes,
            ..HttpLimits::default()
        },
    )
}

/// The whole API with the given limits.
pub fn router_with(state: AppState, limits: &HttpLimits) -> Router {
    router_beside(state, limits, Router::new())
}

/// The API and other routes served beside it (the web console), all within
/// the same limits, request log and count.
pub fn router_beside(state: AppState, limits: &HttpLimits, beside: Router<AppState>) -> Router {
    let (routes, _document) = api::routes().split_for_parts();
    with_limits(routes.merge(beside), state, limits)
}

/// [`with_limits`] with the default request time-out.
pub fn with_layers(routes: Router<AppState>, state: AppState, max_body_bytes: usize) -> Router {
    with_limits(
        routes,
        state,
        &HttpLimits {
            max_body_bytes,
            ..HttpLimits::default()
        },
    )
}

/// What every route goes through: the unknown-path and wrong-method answers,
/// the body limit, panics turned into a 500 in the error shape, the request
/// time-out, the limit on the request target, and the request log and count.
pub fn with_limits(routes: Router<AppState>, state: AppState, limits: &HttpLimits) -> Router {
    let request_timeout = limits.request_timeout;
    routes
        .fallback(api::fallback)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .layer(middleware::from_fn(move |request, next| {
            error::time_limit(request_timeout, request, next)
        }))
        .layer(middleware::from_fn(api::limit_uri))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Background jobs, stopped together on shutdown.
pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Jobs {
    pub fn start(state: &AppState, config: &Config) -> Jobs {
        let (stop, receiver) = watch::channel(false);
        let mut handles = Vec::new();
        // Calendar files changed while no server ran: revise at once.
        let at_start = state.clone();
        handles.push(tokio::spawn(async move {
            if let Err(error) = background::revise_if_pending(&at_start).await {
                tracing::error!(%error, "deadline revision at start failed");
            }
        }));
        if config.deadline_check_seconds > 0 {
            let default_rating =
                (config.default_rating_after_days > 0).then_some(background::DefaultRating {
                    after_days: config.default_rating_after_days,
                    score: config.default_rating_score,
                });
            handles.push(tokio::spawn(background::deadline_loop(
                state.clone(),
                Duration::from_secs(config.deadline_check_seconds),
                default_rating,
                receiver.clone(),
            )));
        }
        if config.checkpoint_seconds > 0 {
            let seed = config
                .checkpoint_sign_key
                .as_ref()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .map(|seed| seed.trim().to_string());
            handles.push(tokio::spawn(background::checkpoint_loop(
                state.clone(),
                Duration::from_secs(config.checkpoint_seconds),
                seed,
                receiver.clone(),
            )));
        }
        handles.push(tokio::spawn(background::webhook_loop(
            state.clone(),
            background::WebhookSettings {
                poll: Duration::from_millis(config.webhook_poll_ms.max(10)),
                timeout: Duration::from_millis(config.webhook_timeout_ms.max(10)),
                backoff: Duration::from_millis(config.webhook_backoff_ms),
                max_failures: config.webhook_max_failures.max(1),
            },
            receiver,
        )));
        Jobs { stop, handles }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

/// Declares the configured webhook subscriptions (keeping their delivery state).
pub async fn declare_subscriptions(
    store: &CaseStore,
    config: &Config,
) -> Result<(), onething_store::StoreError> {
    let now = chrono::Utc::now();
    let keep: Vec<&str> = config.subscriptions.iter().map(|s| s.id.as_str()).collect();
    let removed = onething_store::webhooks::remove_others(store.database(), &keep).await?;
    if removed > 0 {
        tracing::info!(
            removed,
            "webhook subscriptions no longer in the configuration were removed"
        );
    }
    for subscription in &config.subscriptions {
        let start = match subscription.start.as_deref() {
            Some("now") => onething_store::feed::head(store.database()).await?,
            _ => None,
        };
        onething_store::webhooks::declare(
            store.database(),
            &subscription.id,
            &subscription.client,
            &subscription.url,
            subscription.agency.as_deref(),
            start.as_deref(),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Serves until `shutdown` resolves, within the configured limits
/// (connections, header and request time-outs); in-flight requests finish
/// first, then the background jobs stop.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    config: &Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_beside(listener, state, config, Router::new(), shutdown).await
}

/// [`serve`], with other routes beside the API (the web console).
pub async fn serve_beside(
    listener: tokio::net::TcpListener,
    state: AppState,
    config: &Config,
    beside: Router<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let jobs = Jobs::start(&state, config);
    let limits = config.http_limits();
    let app = router_beside(state, &limits, beside);
    let result = connections::serve_connections(listener, app, &limits, shutdown).await;
    jobs.stop().await;
    result
}
