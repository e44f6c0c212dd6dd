//! The onething web console, served by `onething serve` at `/` beside the
//! API at `/api/v1/`: the comprehensive window (综合窗口: a bundle's guide,
//! the application form, the receipt), the agencies' desks (the inbox
//! sorted by working time left, the task page with every action a step
//! allows) and the case page (the step graph in SVG, the timeline, the
//! verification badge), with the notices a window prints.
//!
//! Pages are HTML rendered on the server (maud); htmx and its SSE extension
//! are embedded in the binary and make them live; every main action works
//! without JavaScript. People sign in as console users (argon2 passwords,
//! session cookies); what they may see and do is what the API's role of
//! their work may ([`accounts::ConsoleRole::api_role`]), checked by the
//! same rules. Every command they give is the store's command, attributed to
//! their agency and their name.

pub mod accounts;
mod assets;
mod charts;
mod graph;
pub mod live;
pub mod messages;
pub mod pages;
pub mod session;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};
use onething_server::AppState;

pub use accounts::ConsoleRole;
pub use messages::Lang;
pub use session::SessionSettings;

/// What every page shares beyond the API's state.
pub struct Console {
    pub sessions: SessionSettings,
    pub throttle: session::Throttle,
    pub live: live::Changes,
    /// Cases per bundle, for the window's "most used first", counted at
    /// most once a minute (a count over every case is not per page).
    pub bundle_counts: std::sync::Mutex<Option<CountedAt>>,
}

/// Cases per bundle and when they were counted.
pub type CountedAt = (std::time::Instant, Vec<(String, i64)>);

impl Console {
    pub fn new(sessions: SessionSettings) -> Arc<Console> {
        Arc::new(Console {
            sessions,
            throttle: session::Throttle::default(),
            live: live::Changes::default(),
            bundle_counts: std::sync::Mutex::new(None),
        })
    }
}

/// The console's routes, to be served with the API's (`onething serve`
/// mounts both; tests call it with `oneshot`).
pub fn router(console: Arc<Console>) -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/logout", post(pages::login::logout))
        .route("/language", post(pages::login::language))
        .route("/assets/{file}", get(assets::serve))
        .route("/live", get(live::stream))
        .route("/window", get(pages::window::bundles))
        .route("/window/{workflow}/guide", get(pages::window::guide))
        .route(
            "/window/{workflow}/apply",
            get(pages::window::form).post(pages::window::submit),
        )
        .route(
            "/window/{workflow}/refusal-notice",
            post(pages::window::refusal_notice),
        )
        .route("/track", get(pages::track::form).post(pages::track::submit))
        .route("/desk", get(pages::desk::inbox))
        .route("/supervision", get(pages::supervision::show))
        .route("/dashboard", get(pages::dashboard::show))
        .route("/dashboard.csv", get(pages::dashboard::csv))
        .route("/supervision.csv", get(pages::supervision::csv))
        .route("/cases", get(pages::case_page::list))
        .route("/cases/{case}", get(pages::case_page::show))
        .route("/cases/{case}/steps/{step}", get(pages::task::show))
        .route(
            "/cases/{case}/steps/{step}/supervise",
            post(pages::supervision::issue),
        )
        .route(
            "/cases/{case}/steps/{step}/{action}",
            post(pages::task::act),
        )
        .route("/cases/{case}/supplement", post(pages::task::supplement))
        .route("/cases/{case}/payments", post(pages::task::pay))
        .route("/cases/{case}/follow-up", post(pages::task::follow_up))
        .route("/cases/{case}/notices/{notice}", get(pages::notices::show))
        .route(
            "/cases/{case}/documents",
            post(pages::documents::upload).layer(axum::extract::DefaultBodyLimit::max(
                onething_core::case::MAX_DOCUMENT_BYTES as usize + 64 * 1024,
            )),
        )
        .route(
            "/cases/{case}/documents/{sha256}",
            get(pages::documents::download),
        )
        .layer(Extension(console))
}
