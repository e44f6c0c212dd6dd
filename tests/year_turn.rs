//! The turn of the year: cases open and run on provisional years when the
//! State Council's holiday notice is not out yet; the official table, once
//! added and reloaded, revises every running step once, visibly, on SQLite
//! and PostgreSQL; bundle versions are chosen by the application date.
//! Every test runs at fixed times, never at today's date.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use onething_server::auth::token_hash;
use onething_server::{AppState, Client, Clients, Config, Role};
use onething_store::open_case_store;
use onething_store::workflow_files::Catalog;
use onething_tests::{
    onething, repository, runtime, shipped_workflows, test_data, TempFolder, TestDatabase,
};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// A workflows folder of the shipped agencies and calendar and the given bundle files.
fn workflows_with(bundles: &[&Path]) -> TempFolder {
    let folder = TempFolder::new("workflows");
    let shipped = shipped_workflows();
    std::fs::create_dir_all(folder.path.join("calendars")).unwrap();
    std::fs::copy(
        shipped.join("agencies.toml"),
        folder.path.join("agencies.toml"),
    )
    .unwrap();
    std::fs::copy(
        shipped.join("calendars/cn.toml"),
        folder.path.join("calendars/cn.toml"),
    )
    .unwrap();
    for bundle in bundles {
        std::fs::copy(bundle, folder.path.join(bundle.file_name().unwrap())).unwrap();
    }
    folder
}

/// The shipped calendar with the test's "official" 2027 table added.
fn calendar_with_official_2027() -> String {
    let shipped = std::fs::read_to_string(shipped_workflows().join("calendars/cn.toml")).unwrap();
    let table = std::fs::read_to_string(test_data().join("year-turn/official-2027.toml")).unwrap();
    shipped.replacen("[provisional]", &format!("{table}\n[provisional]"), 1)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn run_in(folder: &Path, database: &str, now: &str, args: &[&str]) -> onething_tests::Run {
    let mut full = vec![
        "--workflows",
        folder.to_str().unwrap(),
        "--database",
        database,
        "--now",
        now,
    ];
    full.extend_from_slice(args);
    onething(&full)
}

fn newborn_form_file() -> String {
    repository()
        .join("tests/data/forms/newborn.json")
        .display()
        .to_string()
}

#[test]
fn newborn_cases_open_with_the_shipped_files_after_the_turn_of_the_year() {
    let database = TestDatabase::sqlite();
    let shipped = shipped_workflows();
    let form = newborn_form_file();
    for now in [
        "2027-01-04T09:00:00+08:00",
        "2027-06-01T09:00:00+08:00",
        "2030-01-15T09:00:00+08:00",
    ] {
        let open = run_in(
            &shipped,
            &database.url,
            now,
            &[
                "case",
                "open",
                "newborn",
                "--form",
                &form,
                "--as",
                "window/clerk-07",
            ],
        );
        assert_eq!(open.code, 0, "open at {now}: {}", open.stderr);
    }
}

/// Opens a newborn case at `now` on the shipped files and returns its view
/// (`case show --json`) and `case show` text.
fn newborn_case_at(database: &TestDatabase, now: &str) -> (Value, String, String) {
    let shipped = shipped_workflows();
    let open = run_in(
        &shipped,
        &database.url,
        now,
        &[
            "case",
            "open",
            "newborn",
            "--form",
            &newborn_form_file(),
            "--as",
            "window/clerk-07",
        ],
    );
    assert_eq!(open.code, 0, "{}", open.stderr);
    let case_id = open.stdout.lines().next().unwrap().trim().to_string();
    let json = run_in(
        &shipped,
        &database.url,
        now,
        &["case", "show", &case_id, "--json"],
    );
    assert_eq!(json.code, 0, "{}", json.stderr);
    let text = run_in(&shipped, &database.url, now, &["case", "show", &case_id]);
    let history = run_in(&shipped, &database.url, now, &["case", "history", &case_id]);
    (
        serde_json::from_str(&json.stdout).unwrap(),
        text.stdout,
        history.stdout,
    )
}

#[test]
fn a_newborn_case_opened_on_2026_12_29_shows_its_promise_in_2027_as_provisional() {
    let database = TestDatabase::sqlite();
    let (shown, text, history) = newborn_case_at(&database, "2026-12-29T10:00:00+08:00");
    // Five working days: 12-30, 12-31, (New Year's Day, weekend), 01-04, 01-05, 01-06.
    assert_eq!(shown["promised_by"], "2027-01-06T16:00:00Z", "{shown}");
    assert_eq!(shown["promise_provisional_years"], json!([2027]));
    assert!(
        text.contains("promised by 2027-01-07 00:00 (UTC+08:00) provisional (2027)"),
        "{text}"
    );
    assert!(
        history.contains("暂定：2027年节假日安排尚未公布"),
        "{history}"
    );
    // The birth certificate's one working day ends inside 2026: not provisional.
    let first = &shown["steps"][0];
    assert_eq!(first["due"], "2026-12-30T16:00:00Z", "{first}");
    assert!(first.get("provisional").is_none(), "{first}");
}

#[test]
fn a_newborn_case_opened_on_2026_12_31_shows_its_first_steps_due_times_as_provisional() {
    let database = TestDatabase::sqlite();
    let (shown, text, _) = newborn_case_at(&database, "2026-12-31T10:00:00+08:00");
    let running: Vec<&Value> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| step["state"] == "active")
        .collect();
    assert!(!running.is_empty());
    for step in &running {
        assert!(
            step["due"].as_str().unwrap().starts_with("2027-01-0"),
            "{step}"
        );
        assert_eq!(step["provisional"], true, "{step}");
        assert_eq!(step["provisional_years"], json!([2027]), "{step}");
        let id = step["id"].as_str().unwrap();
        let line = text
            .lines()
            .find(|line| line.trim_start().starts_with(id))
            .unwrap();
        assert!(line.ends_with("provisional (2027)"), "{line}");
    }
}

#[test]
fn the_version_in_force_on_the_application_date_opens_the_case() {
    let versions = test_data().join("versions");
    let folder = workflows_with(&[
        &versions.join("transfer-2025.toml"),
        &versions.join("transfer-2026.toml"),
    ]);
    let database = TestDatabase::sqlite();
    let list = run_in(
        &folder.path,
        &database.url,
        "2026-03-01T09:00:00+08:00",
        &["workflow", "list"],
    );
    assert_eq!(list.code, 0, "{}", list.stderr);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", list.stdout);
    assert!(
        lines[0].starts_with("transfer\tv1\t2025-01-01 to 2025-12-31\tnot in force\t"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("transfer\tv2\tfrom 2026-01-01\tin force\t"),
        "{}",
        lines[1]
    );
    for (now, version) in [
        ("2025-12-31T23:30:00+08:00", 1),
        ("2026-01-01T00:30:00+08:00", 2),
    ] {
        let open = run_in(
            &folder.path,
            &database.url,
            now,
            &["case", "open", "transfer", "--form", "{}", "--as", "window"],
        );
        assert_eq!(open.code, 0, "{now}: {}", open.stderr);
        let case_id = open.stdout.lines().next().unwrap().trim().to_string();
        let shown = run_in(
            &folder.path,
            &database.url,
            now,
            &["case", "show", &case_id, "--json"],
        );
        let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
        assert_eq!(shown["version"], version, "opened at {now}");
    }
}

#[test]
fn a_bundle_whose_period_has_ended_refuses_new_cases_naming_its_period() {
    let folder = workflows_with(&[&test_data().join("versions/transfer-2025.toml")]);
    let database = TestDatabase::sqlite();
    let open = run_in(
        &folder.path,
        &database.url,
        "2026-03-01T09:00:00+08:00",
        &["case", "open", "transfer", "--form", "{}", "--as", "window"],
    );
    assert_eq!(open.code, 1, "{}", open.stdout);
    assert!(
        open.stderr
            .contains("bundle `transfer` is not in force on 2026-03-01 (its versions: v1 2025-01-01 to 2025-12-31)"),
        "{}",
        open.stderr
    );
}

#[test]
fn overlapping_versions_are_refused_with_their_position_and_a_gap_is_a_warning() {
    let overlap = test_data().join("versions-overlap");
    let folder = workflows_with(&[]);
    let run = onething(&[
        "--workflows",
        folder.path.to_str().unwrap(),
        "workflow",
        "validate",
        overlap.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let expected = format!(
        "{}:6:1: the period of workflow `transfer` v2 (v2 from 2025-07-01) overlaps v1 in {} (v1 2025-01-01 to 2025-12-31): one version is in force on any date",
        overlap.join("transfer-2025b.toml").display(),
        overlap.join("transfer-2025.toml").display()
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);

    let gap = test_data().join("versions-gap");
    let run = onething(&[
        "--workflows",
        folder.path.to_str().unwrap(),
        "workflow",
        "validate",
        gap.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = format!(
        "warning: {}:6:1: workflow `transfer` is in force on no date from 2026-01-01 to 2026-02-28: v2 starts on 2026-03-01",
        gap.join("transfer-2026.toml").display()
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
}

// ---- the revision, end to end, over HTTP ---------------------------------------------------

struct Server {
    base: String,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

async fn start(database: &str, folder: &Path, now: DateTime<Utc>) -> Server {
    let catalog = Catalog::load(folder).unwrap();
    let store = open_case_store(database, &catalog).await.unwrap();
    let client = |id: &str, role: Role, agency: Option<&str>| {
        (
            token_hash(&format!("t-{id}")),
            Client {
                id: id.into(),
                role,
                agency: agency.map(str::to_string),
            },
        )
    };
    let state = AppState {
        store: Arc::new(store),
        clients: Clients::new(vec![
            client("admin", Role::Admin, None),
            client("auditor", Role::Auditor, None),
            client("window", Role::Window, Some("window")),
            client("market_regulation", Role::Agency, Some("market_regulation")),
        ]),
        metrics: Arc::default(),
        feed_signal: Arc::default(),
        workflows_folder: folder.to_path_buf(),
        node: format!("node-{}", uuid::Uuid::new_v4().simple()),
        retry_after_seconds: 1,
        fixed_now: Some(now),
        trusted_checkpoint_key: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = state.clone();
    let done = tokio::spawn(async move {
        let config = Config {
            deadline_check_seconds: 0,
            checkpoint_seconds: 0,
            ..Config::default()
        };
        onething_server::serve(listener, serving, &config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Server {
        base,
        state,
        stop: Some(stop),
        done: Some(done),
    }
}

impl Server {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let client = reqwest::Client::new();
        let url = format!("{}{path}", self.base);
        let request = match method {
            "POST" => client.post(url).json(&body.unwrap_or(json!({}))),
            _ => client.get(url),
        };
        let response = request
            .header("Authorization", format!("Bearer t-{token}"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

fn the_step(case: &Value) -> &Value {
    case["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["id"] == "decide")
        .unwrap()
}

fn revision_through_reload(database: &TestDatabase) {
    let folder = workflows_with(&[&test_data().join("year-turn/licence.toml")]);
    runtime().block_on(async {
        let server = start(&database.url, &folder.path, at("2026-12-20T10:00:00+08:00")).await;
        let (status, health) = server.call("GET", "/healthz", "admin", None).await;
        assert_eq!(status, 200);
        assert!(
            health["warnings"][0].as_str().unwrap().starts_with(
                "calendar `cn`: the official holiday tables end on 2026-12-31 (in 11 days)"
            ),
            "{health}"
        );
        let (_, metrics) = server.call("GET", "/metrics", "admin", None).await;
        assert!(
            metrics
                .as_str()
                .unwrap()
                .contains("onething_calendar_official_until_days{calendar=\"cn\"} 11"),
            "{metrics}"
        );

        // Applied for on Sunday 2026-12-20: 9 working days left in 2026, 11 in 2027.
        let (status, opened) = server
            .call(
                "POST",
                "/api/v1/cases",
                "window",
                Some(json!({"workflow": "licence", "form": {"company": "某某科技有限公司"}})),
            )
            .await;
        assert_eq!(status, 201, "{opened}");
        let case_id = opened["case_id"].as_str().unwrap().to_string();
        let (_, case) = server
            .call("GET", &format!("/api/v1/cases/{case_id}"), "window", None)
            .await;
        let step = the_step(&case);
        assert_eq!(step["due"], "2027-01-18T16:00:00Z", "{step}");
        assert_eq!(step["warn_at"], "2027-01-13T16:00:00Z", "{step}");
        assert_eq!(step["provisional"], true);
        assert_eq!(step["provisional_years"], json!([2027]));
        let (_, inbox) = server
            .call(
                "GET",
                "/api/v1/agencies/market_regulation/inbox",
                "market_regulation",
                None,
            )
            .await;
        assert_eq!(inbox["tasks"][0]["provisional"], true, "{inbox}");
        assert_eq!(inbox["tasks"][0]["provisional_years"], json!([2027]));

        // A broken calendar file is refused whole, every problem positioned.
        std::fs::write(
            folder.path.join("calendars/cn.toml"),
            calendar_with_official_2027().replace("2027-01-04", "2028-01-04"),
        )
        .unwrap();
        let (status, refused) = server
            .call("POST", "/api/v1/workflows/reload", "admin", None)
            .await;
        assert_eq!(status, 409, "{refused}");
        let reasons = refused["reasons"].to_string();
        assert!(
            reasons.contains("cn.toml:") && reasons.contains("2028-01-04 is not in the year 2027"),
            "{refused}"
        );
        let library = server.state.store.library();
        assert!(
            library.calendar("cn").unwrap().is_provisional(2027),
            "the old catalogue serves"
        );

        // The notice arrives: add the table, reload.
        std::fs::write(
            folder.path.join("calendars/cn.toml"),
            calendar_with_official_2027(),
        )
        .unwrap();
        let (status, reload) = server
            .call("POST", "/api/v1/workflows/reload", "admin", None)
            .await;
        assert_eq!(status, 200, "{reload}");
        assert_eq!(
            reload["calendar_changes"],
            json!(["calendar `cn`: the official table for 2027 replaces the provisional year"])
        );
        assert_eq!(
            reload["revision"]["revised"],
            json!([format!("{case_id}/decide")]),
            "{reload}"
        );
        let correlation = reload["revision"]["correlation_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!library.calendar("cn").unwrap().is_provisional(2027));

        // 2027-01-04 is a day off now: one working day later.
        let (_, case) = server
            .call("GET", &format!("/api/v1/cases/{case_id}"), "window", None)
            .await;
        let step = the_step(&case);
        assert_eq!(step["due"], "2027-01-19T16:00:00Z", "{step}");
        assert_eq!(step["warn_at"], "2027-01-14T16:00:00Z", "{step}");
        assert!(step.get("provisional").is_none(), "{step}");
        let (_, inbox) = server
            .call(
                "GET",
                "/api/v1/agencies/market_regulation/inbox",
                "market_regulation",
                None,
            )
            .await;
        assert_eq!(inbox["tasks"][0]["provisional"], false, "{inbox}");
        assert_eq!(inbox["tasks"][0]["due"], "2027-01-19T16:00:00Z");
        let (_, history) = server
            .call(
                "GET",
                &format!("/api/v1/cases/{case_id}/history"),
                "auditor",
                None,
            )
            .await;
        let revised: Vec<&Value> = history
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["type"] == "deadline_revised")
            .collect();
        assert_eq!(revised.len(), 1, "{history}");
        assert_eq!(revised[0]["actor"], "system");
        assert_eq!(revised[0]["channel"], "scheduler");
        assert_eq!(
            revised[0]["payload"]["change"]["previous_due"],
            "2027-01-18T16:00:00Z"
        );
        assert!(
            revised[0]["words_zh"]
                .as_str()
                .unwrap()
                .contains("时限调整"),
            "{}",
            revised[0]
        );
        let events = server.state.store.events(&case_id).await.unwrap();
        let last = events.last().unwrap();
        assert_eq!(last.metadata.correlation_id, correlation);

        // Nothing is revised twice.
        let (_, again) = server
            .call("POST", "/api/v1/workflows/reload", "admin", None)
            .await;
        assert_eq!(again["calendar_changes"], json!([]), "{again}");
        assert_eq!(again["revision"], Value::Null);
        assert_eq!(
            server.state.store.events(&case_id).await.unwrap().len(),
            events.len()
        );

        let (_, verify) = server
            .call("GET", "/api/v1/audit/verify", "auditor", None)
            .await;
        assert_eq!(verify["intact"], true, "{verify}");
        let check = onething_store::views::rebuild(&server.state.store, true, &mut |_| {})
            .await
            .unwrap();
        assert!(check.differences.is_empty(), "{:?}", check.differences);
        let (_, health) = server.call("GET", "/healthz", "admin", None).await;
        assert_eq!(health["warnings"], json!([]), "{health}");
        server.stop().await;
    });
}

#[test]
fn the_official_table_revises_running_steps_once_on_sqlite() {
    revision_through_reload(&TestDatabase::sqlite());
}

#[test]
fn the_official_table_revises_running_steps_once_on_postgres() {
    revision_through_reload(&TestDatabase::postgres());
}

#[test]
fn revise_deadlines_on_the_command_line_reports_and_then_finds_nothing() {
    let folder = workflows_with(&[&test_data().join("year-turn/licence.toml")]);
    let database = TestDatabase::sqlite();
    let now = "2026-12-20T10:00:00+08:00";
    let open = run_in(
        &folder.path,
        &database.url,
        now,
        &[
            "case",
            "open",
            "licence",
            "--form",
            r#"{"company": "某某科技有限公司"}"#,
            "--as",
            "window",
        ],
    );
    assert_eq!(open.code, 0, "{}", open.stderr);
    let case_id = open.stdout.lines().next().unwrap().trim().to_string();
    std::fs::write(
        folder.path.join("calendars/cn.toml"),
        calendar_with_official_2027(),
    )
    .unwrap();
    let tasks = run_in(
        &folder.path,
        &database.url,
        now,
        &["case", "tasks", "market_regulation"],
    );
    assert!(
        tasks.stderr.contains("running deadlines are not yet revised for: calendar `cn`: the official table for 2027 replaces the provisional year"),
        "{}",
        tasks.stderr
    );
    let revise = run_in(
        &folder.path,
        &database.url,
        now,
        &["case", "revise-deadlines"],
    );
    assert_eq!(revise.code, 0, "{}", revise.stderr);
    assert!(
        revise.stdout.contains(&format!("revised {case_id}/decide")),
        "{}",
        revise.stdout
    );
    let again = run_in(
        &folder.path,
        &database.url,
        now,
        &["case", "revise-deadlines"],
    );
    assert!(
        again.stdout.contains("nothing to revise"),
        "{}",
        again.stdout
    );
    let verify = run_in(&folder.path, &database.url, now, &["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
}

/// Opens `count` licence cases at 2026-12-20 on `store`; returns their ids.
async fn open_licences(store: &onething_store::CaseStore, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for number in 0..count {
        let command_id = format!("licence-{number}");
        let case_id = onething_core::case::case_id_for(&command_id);
        let open = onething_core::case::CaseCommand {
            command_id,
            actor: onething_core::case::Actor::Agency {
                agency: "window".into(),
                operator: None,
            },
            at: at("2026-12-20T10:00:00+08:00"),
            action: onething_core::case::Action::Open {
                case_id: case_id.clone(),
                workflow: "licence".into(),
                form: json!({"company": format!("企业{number}")}),
                materials: vec![],
                opted_in: vec![],
                channel: Default::default(),
            },
        };
        store.execute(&case_id, open).await.unwrap();
        ids.push(case_id);
    }
    ids
}

async fn revisions_of(store: &onething_store::CaseStore, case_id: &str) -> usize {
    store
        .events(case_id)
        .await
        .unwrap()
        .iter()
        .filter(|event| {
            matches!(
                event.event.change,
                onething_core::case::Change::DeadlineRevised { .. }
            )
        })
        .count()
}

#[test]
fn a_revision_run_stopped_half_way_is_still_pending_and_finishes_the_rest() {
    let folder = workflows_with(&[&test_data().join("year-turn/licence.toml")]);
    let database = TestDatabase::sqlite();
    runtime().block_on(async {
        let store = open_case_store(&database.url, &Catalog::load(&folder.path).unwrap())
            .await
            .unwrap();
        let cases = open_licences(&store, 3).await;
        std::fs::write(
            folder.path.join("calendars/cn.toml"),
            calendar_with_official_2027(),
        )
        .unwrap();
        let changes = store
            .install_catalog(&Catalog::load(&folder.path).unwrap())
            .await
            .unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        // The run revises the first case, then the process dies.
        let first = onething_core::case::CaseCommand {
            command_id: "revise-deadlines:crashed:first".into(),
            actor: onething_core::case::Actor::System,
            at: at("2026-12-21T09:00:00+08:00"),
            action: onething_core::case::Action::ReviseDeadlines {
                reason: changes.join("; "),
            },
        };
        store.execute(&cases[0], first).await.unwrap();
        // At the next start the change is found pending again; the new run
        // revises the other two and nothing twice.
        let calendars = store.library().calendars();
        let calendars: Vec<_> = calendars.iter().map(AsRef::as_ref).collect();
        let pending = onething_store::calendars::pending_changes(store.database(), &calendars)
            .await
            .unwrap();
        assert_eq!(pending, changes);
        let report = onething_store::calendars::revise_deadlines(
            &store,
            pending,
            at("2026-12-21T09:05:00+08:00"),
            "resumed",
        )
        .await
        .unwrap();
        let mut revised = report.revised.clone();
        revised.sort();
        let mut expected = vec![
            format!("{}/decide", cases[1]),
            format!("{}/decide", cases[2]),
        ];
        expected.sort();
        assert_eq!(revised, expected, "{report:?}");
        for case_id in &cases {
            assert_eq!(revisions_of(&store, case_id).await, 1, "{case_id}");
        }
        let pending = onething_store::calendars::pending_changes(store.database(), &calendars)
            .await
            .unwrap();
        assert!(pending.is_empty(), "recorded once every case was revised");
    });
}

#[test]
fn two_servers_revising_at_once_on_postgres_revise_each_step_once() {
    let folder = workflows_with(&[&test_data().join("year-turn/licence.toml")]);
    let database = TestDatabase::postgres();
    runtime().block_on(async {
        let first = start(&database.url, &folder.path, at("2026-12-21T09:00:00+08:00")).await;
        let cases = open_licences(&first.state.store, 8).await;
        let second = start(&database.url, &folder.path, at("2026-12-21T09:00:00+08:00")).await;
        std::fs::write(
            folder.path.join("calendars/cn.toml"),
            calendar_with_official_2027(),
        )
        .unwrap();
        let (a, b) = tokio::join!(
            first.call("POST", "/api/v1/workflows/reload", "admin", None),
            second.call("POST", "/api/v1/workflows/reload", "admin", None),
        );
        assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
        // Whoever missed the lease, or came second, revises what is left.
        for server in [&first, &second] {
            onething_server::background::revise_if_pending(&server.state)
                .await
                .unwrap();
        }
        for case_id in &cases {
            assert_eq!(
                revisions_of(&first.state.store, case_id).await,
                1,
                "{case_id}"
            );
        }
        let (_, verify) = first
            .call("GET", "/api/v1/audit/verify", "auditor", None)
            .await;
        assert_eq!(verify["intact"], true, "{verify}");
        first.stop().await;
        second.stop().await;
    });
}
