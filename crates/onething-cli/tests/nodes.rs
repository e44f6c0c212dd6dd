//! Two `onething serve` processes on one PostgreSQL, driven at once: the
//! deadline check and webhook deliveries run under leases, so no deadline
//! event and no delivery is duplicated because the two raced; each process
//! caches the cases it handled, and no update of the other is lost.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

fn admin_url() -> String {
    std::env::var("ONETHING_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://onething:onething@127.0.0.1:5432/postgres".into())
}

fn sha256_hex(text: &str) -> String {
    // The same hash the server stores for tokens; computed here with the
    // audit module's function to avoid another dependency.
    onething_core::audit::sha256_hex(text.as_bytes())
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn two_servers_on_one_postgres_duplicate_no_deadline_event_and_no_delivery() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let admin = admin_url();
        let name = format!("onething_nodes_{}", std::process::id());
        let mut connection = sqlx::PgConnection::connect(&admin).await.expect("the test PostgreSQL (scripts/start-postgres)");
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut connection).await.unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.unwrap();
        let database = format!("{}/{name}", &admin[..admin.rfind('/').unwrap()]);

        // The receiver counts every delivery by its idempotency key.
        let received: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = format!("http://{}/hook", listener.local_addr().unwrap());
        let counter = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let counter = counter.clone();
                async move {
                    let key = headers["idempotency-key"].to_str().unwrap().to_string();
                    *counter.lock().unwrap().entry(key).or_default() += 1;
                    axum::http::StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let folder = std::env::temp_dir().join(format!("onething-nodes-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let config = folder.join("onething.toml");
        let mut text = format!(
            "database = \"{database}\"\ndeadline_check_seconds = 4\ncheckpoint_seconds = 1\nwebhook_poll_ms = 20\n\n\
             [[client]]\nid = \"window\"\nrole = \"window\"\nagency = \"window\"\ntoken_sha256 = \"{}\"\n\n\
             [[client]]\nid = \"auditor\"\nrole = \"auditor\"\ntoken_sha256 = \"{}\"\n\n",
            sha256_hex("t-window"),
            sha256_hex("t-auditor")
        );
        for agency in ["hospital", "cdc", "police", "medical_security"] {
            text.push_str(&format!(
                "[[client]]\nid = \"{agency}\"\nrole = \"agency\"\nagency = \"{agency}\"\ntoken_sha256 = \"{}\"\n\n",
                sha256_hex(&format!("t-{agency}"))
            ));
        }
        text.push_str(&format!("[[subscription]]\nid = \"all\"\nclient = \"window\"\nurl = \"{hook}\"\n"));
        std::fs::write(&config, text).unwrap();

        let workflows = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows");
        let mut nodes = Vec::new();
        let mut bases = Vec::new();
        for _ in 0..2 {
            let port = free_port();
            let child = Command::new(env!("CARGO_BIN_EXE_onething"))
                .arg("--workflows")
                .arg(&workflows)
                // Commands are given in June 2025, so every step is long overdue
                // by the clock the deadline check uses. Once it has recorded
                // its marks (now), a command dated June 2025 is before the
                // case's last event and refused: the first check runs after
                // 4 seconds, when every command below has been given.
                .args(["--now", "2025-06-03T09:00:00+08:00", "serve", "--config"])
                .arg(&config)
                .args(["--bind", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            nodes.push(Node(child));
            bases.push(format!("http://127.0.0.1:{port}"));
        }
        let http = reqwest::Client::new();
        for base in &bases {
            let mut up = false;
            for _ in 0..200 {
                if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(up, "{base} started");
        }

        // Drive both at once: cases opened and steps completed on either node.
        let mut cases = Vec::new();
        for number in 0..8 {
            let base = &bases[number % 2];
            let reply: Value = http
                .post(format!("{base}/api/v1/cases"))
                .bearer_auth("t-window")
                .header("Idempotency-Key", format!("node-open-{number}"))
                .json(&json!({"workflow": "newborn", "form": {
                    "baby_name": "测试", "baby_sex": "male", "birth_date": "2025-06-01", "born_in_province": true,
                    "mother_id": "11010519491231002X", "household_head_id": "11010519491231002X",
                    "address": "某路1号", "phone": "13800138000"}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            cases.push(reply["case_id"].as_str().unwrap().to_string());
        }
        let mut completions = Vec::new();
        for (index, case) in cases.iter().enumerate() {
            let http = http.clone();
            let base = bases[(index + 1) % 2].clone();
            let case = case.clone();
            completions.push(tokio::spawn(async move {
                http.post(format!("{base}/api/v1/cases/{case}/steps/birth_certificate/complete"))
                    .bearer_auth("t-hospital")
                    .json(&json!({"outputs": {"certificate_number": "Q"}}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        for completion in completions {
            assert!(completion.await.unwrap().is_success());
        }
        // Back on the node that opened each case, whose cached case has not
        // seen the other node's birth certificate: household registration
        // (which waits for it) and the vaccination card go through, and the
        // other node's update is not lost.
        for (index, case) in cases.iter().enumerate() {
            let base = &bases[index % 2];
            for (token, step, outputs) in [
                ("t-police", "household_registration", json!({"child_id": "110101202506010015"})),
                ("t-cdc", "vaccination_card", json!({"card_number": "V"})),
            ] {
                let reply = http
                    .post(format!("{base}/api/v1/cases/{case}/steps/{step}/complete"))
                    .bearer_auth(token)
                    .json(&json!({"outputs": outputs}))
                    .send()
                    .await
                    .unwrap();
                let status = reply.status();
                let body: Value = reply.json().await.unwrap();
                assert!(status.is_success(), "{case} {step}: {status} {body}");
                let states: Vec<&str> = body["case"]["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| ["birth_certificate", step].contains(&s["id"].as_str().unwrap()))
                    .map(|s| s["state"].as_str().unwrap())
                    .collect();
                assert_eq!(states, ["completed", "completed"], "{case}: both nodes' updates kept");
            }
        }
        // Deadline checks (the first 4 seconds after start) and polls on
        // both nodes.
        tokio::time::sleep(Duration::from_millis(9000)).await;

        let pool = sqlx::PgPool::connect(&database).await.unwrap();
        let marks: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT aggregate_id, event_type || ':' || (payload::json->'change'->>'step'), COUNT(*)
             FROM events WHERE event_type IN ('step_warned', 'step_overdue')
             GROUP BY aggregate_id, event_type, payload::json->'change'->>'step'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(marks.iter().any(|m| m.1.starts_with("step_overdue")), "the deadline check ran: {marks:?}");
        for (case, mark, count) in &marks {
            assert_eq!(*count, 1, "case {case}: {mark} recorded once, not by both nodes");
        }
        let checkpoints: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM checkpoints").fetch_one(&pool).await.unwrap();
        assert!(checkpoints.0 >= 1, "periodic checkpoints were taken");

        let stored: Vec<(String, i64)> = sqlx::query_as("SELECT aggregate_id, sequence FROM events").fetch_all(&pool).await.unwrap();
        let mut delivered = false;
        for _ in 0..100 {
            if received.lock().unwrap().len() >= stored.len() {
                delivered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let received = received.lock().unwrap().clone();
        assert!(delivered, "every event delivered ({} of {})", received.len(), stored.len());
        for (key, count) in &received {
            assert_eq!(*count, 1, "{key} delivered once, not by both nodes");
        }
        drop(nodes);
        pool.close().await;
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut connection).await;
        let _ = std::fs::remove_dir_all(&folder);
    });
}
