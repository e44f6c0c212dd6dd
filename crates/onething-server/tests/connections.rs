//! The server's limits against resource exhaustion, over real sockets: a
//! slow client (slowloris) is cut off after the header time-out and cannot
//! keep others out, connections past `max_connections` wait their turn, and
//! a request that runs too long is answered 503 `timeout` in the error shape.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use onething_server::{AppState, Clients, Config, HttpLimits};
use onething_store::workflow_files::Catalog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

async fn state() -> AppState {
    let workflows = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows");
    let catalog = Catalog::load(&workflows).unwrap();
    let store = onething_store::open_case_store("sqlite::memory:", &catalog)
        .await
        .unwrap();
    AppState {
        store: Arc::new(store),
        clients: Clients::default(),
        metrics: Arc::default(),
        feed_signal: Arc::default(),
        workflows_folder: workflows,
        node: "test".into(),
        retry_after_seconds: 1,
        trusted_checkpoint_key: None,
        fixed_now: None,
    }
}

/// A server on a loopback port with these limits; stopped when the sender drops.
async fn server(
    max_connections: usize,
    header_read_timeout_ms: u64,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let config = Config {
        max_connections,
        header_read_timeout_ms,
        deadline_check_seconds: 0,
        checkpoint_seconds: 0,
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = state().await;
    tokio::spawn(async move {
        onething_server::serve(listener, state, &config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (address, stop)
}

/// A whole request for `/healthz`, and the status line of its answer, or
/// `None` when nothing came within `patience`.
async fn health(address: &str, patience: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await;
    match read {
        Ok(Ok(_)) if !answer.is_empty() => {
            let text = String::from_utf8_lossy(&answer).to_string();
            text.lines().next().map(str::to_string)
        }
        _ => None,
    }
}

/// A client that sends a request's first header line and then one byte at a
/// time, never finishing; true when the server closed the connection.
async fn slow_client(address: String, for_at_most: Duration) -> bool {
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < for_at_most {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if stream.write_all(b"a").await.is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            _ => {}
        }
    }
    false
}

#[tokio::test]
async fn a_slow_client_is_cut_off_after_the_header_time_out_and_keeps_no_one_out() {
    let (address, _stop) = server(2, 300).await;
    let started = Instant::now();
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(slow_client(address.clone(), Duration::from_secs(10))))
        .collect();
    // Both slow clients hold the only two connections, until they are cut off.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = health(&address, Duration::from_secs(5)).await;
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 200 OK"));
    for client in slow {
        assert!(
            client.await.unwrap(),
            "the server closed the slow connection"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after the time-out, not after the client gave up: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_closes() {
    let (address, _stop) = server(1, 10_000).await;
    // The one allowed connection, open and idle.
    let holder = TcpStream::connect(&address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn({
        let address = address.clone();
        async move { health(&address, Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a second connection is not served while the first is open"
    );
    drop(holder);
    let answer = waiting.await.unwrap();
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 200 OK"));
}

#[tokio::test]
async fn a_request_past_the_time_limit_is_503_timeout_in_the_error_shape() {
    let routes = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let limits = HttpLimits {
        request_timeout: Duration::from_millis(200),
        ..HttpLimits::default()
    };
    let app = onething_server::with_limits(routes, state().await, &limits);
    let started = Instant::now();
    let response = app
        .oneshot(Request::builder().uri("/slow").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "timeout", "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Idempotency-Key"));
}

#[test]
fn a_request_time_out_shorter_than_the_feeds_wait_is_refused_at_start() {
    let refused = Config::parse("onething.toml", "request_timeout_seconds = 10").unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("request_timeout_seconds must be more than 20"),
        "{refused}"
    );
    let refused = Config::parse("onething.toml", "max_connections = 0").unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("max_connections must be at least 1"),
        "{refused}"
    );
}
