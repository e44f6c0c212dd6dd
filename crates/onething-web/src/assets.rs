//! The console's static files, embedded in the binary: htmx 2 and its SSE
//! extension (vendored, 0BSD, see `assets/htmx-LICENSE`) and the style
//! sheet. Nothing is fetched from elsewhere at run time.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &str)] = &[
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/htmx-2.0.11.min.js"),
    ),
    (
        "htmx-sse.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/htmx-ext-sse-2.2.4.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../assets/console.css"),
    ),
];

pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
