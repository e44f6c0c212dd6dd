//! One scripted scenario per shipped bundle, run through the command line on
//! SQLite and on PostgreSQL: each must end as expected, and both stores must
//! hold identical events (a differential test). Scenarios live in
//! `tests/data/scenarios/*.json`; the final state of each case is compared
//! with `*.expected.json` beside it.

use onething_store::workflow_files::Catalog;
use onething_store::{open_case_store, StoredEvent};
use onething_tests::{
    check_expected, onething, play, runtime, scenarios, shipped_workflows, test_data, Scenario,
    TempFolder, TestDatabase,
};
use serde_json::Value;

fn show(database: &str, case_id: &str) -> Value {
    let workflows = shipped_workflows();
    let result = onething(&[
        "--workflows",
        workflows.to_str().unwrap(),
        "--database",
        database,
        "case",
        "show",
        case_id,
        "--json",
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    serde_json::from_str(&result.stdout).unwrap()
}

fn stored_events(database: &str, case_id: &str) -> Vec<StoredEvent> {
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    runtime().block_on(async {
        let store = open_case_store(database, &catalog).await.unwrap();
        let events = store.events(case_id).await.unwrap();
        store.database().close().await;
        events
    })
}

fn check_expectations(scenario: &Scenario, view: &Value) {
    let expect = &scenario.script["expect"];
    assert_eq!(
        view["status"], expect["status"],
        "{}: status",
        scenario.name
    );
    if let Some(bills) = expect.get("bills").and_then(Value::as_object) {
        for (payer, total) in bills {
            let bill = view["payments"]
                .as_array()
                .unwrap()
                .iter()
                .find(|payment| payment["payer"] == payer.as_str())
                .unwrap_or_else(|| panic!("{}: no bill for {payer}", scenario.name));
            assert_eq!(
                &bill["total"], total,
                "{}: the bill of {payer}",
                scenario.name
            );
            let items: i64 = bill["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["amount"].as_i64().unwrap())
                .sum();
            assert_eq!(
                Some(items),
                total.as_i64(),
                "{}: the items of {payer} add up",
                scenario.name
            );
            assert_eq!(bill["paid"], true, "{}: {payer} paid", scenario.name);
        }
    }
    // Every step ended in a final state.
    for step in view["steps"].as_array().unwrap() {
        let state = step["state"].as_str().unwrap();
        assert!(
            ["completed", "skipped"].contains(&state),
            "{}: step {} is {state}",
            scenario.name,
            step["id"]
        );
    }
}

#[test]
fn every_bundle_runs_to_completion_on_sqlite_and_postgres_with_identical_events() {
    let scenarios = scenarios();
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    for bundle in catalog.ids() {
        assert!(
            scenarios
                .iter()
                .any(|s| s.name == bundle || s.name.starts_with(&format!("{bundle}-"))),
            "bundle {bundle} has a scenario"
        );
    }
    let scratch = TempFolder::new("scenarios");
    for scenario in &scenarios {
        let sqlite = TestDatabase::sqlite();
        let postgres = TestDatabase::postgres();
        let on_sqlite = play(scenario, &sqlite.url, &scratch.path);
        let on_postgres = play(scenario, &postgres.url, &scratch.path);
        assert_eq!(
            on_sqlite, on_postgres,
            "the same open command gives the same case id"
        );

        let view = show(&sqlite.url, &on_sqlite);
        check_expectations(scenario, &view);
        assert_eq!(
            view,
            show(&postgres.url, &on_postgres),
            "{}: both stores show the same case",
            scenario.name
        );
        let expected = test_data()
            .join("scenarios")
            .join(format!("{}.expected.json", scenario.name));
        check_expected(
            &expected,
            &(serde_json::to_string_pretty(&view).unwrap() + "\n"),
        );

        // The dashboard counts the case.
        let workflows = shipped_workflows();
        let stats = onething(&[
            "--workflows",
            workflows.to_str().unwrap(),
            "--database",
            &sqlite.url,
            "case",
            "stats",
            view["workflow"].as_str().unwrap(),
            "--json",
        ]);
        assert_eq!(stats.code, 0, "{}", stats.stderr);
        let figures: Value = serde_json::from_str(&stats.stdout).unwrap();
        assert_eq!(figures["cases"], 1);
        assert_eq!(figures["by_status"][view["status"].as_str().unwrap()], 1);
        // A scenario is on time unless it says it ran late (`"late": true`).
        let late = scenario.script["expect"]["late"] == true;
        assert_eq!(
            figures["on_time_rate"],
            if late { 0.0 } else { 1.0 },
            "{}: on time unless the scenario says it is late",
            scenario.name
        );
        assert_eq!(
            figures["materials_not_submitted"],
            view["materials_not_submitted"]
        );
        assert_eq!(figures["rated"], u64::from(view["rating"].is_object()));

        // The read models the commands left match a rebuild from the events,
        // and every hash chain verifies.
        for database in [&sqlite.url, &postgres.url] {
            let workflows = shipped_workflows();
            let common = [
                "--workflows",
                workflows.to_str().unwrap(),
                "--database",
                database.as_str(),
            ];
            let check = onething(&[&common[..], &["views", "rebuild", "--check"]].concat());
            assert_eq!(check.code, 0, "{}: {}", scenario.name, check.stderr);
            let verify = onething(&[&common[..], &["audit", "verify"]].concat());
            assert_eq!(verify.code, 0, "{}: {}", scenario.name, verify.stderr);
        }

        let sqlite_events = stored_events(&sqlite.url, &on_sqlite);
        let postgres_events = stored_events(&postgres.url, &on_postgres);
        assert_eq!(
            sqlite_events.len(),
            postgres_events.len(),
            "{}",
            scenario.name
        );
        for (a, b) in sqlite_events.iter().zip(&postgres_events) {
            assert_eq!(a.sequence, b.sequence);
            assert_eq!(
                serde_json::to_value(&a.event).unwrap(),
                serde_json::to_value(&b.event).unwrap(),
                "{}: event {} differs between SQLite and PostgreSQL",
                scenario.name,
                a.sequence
            );
            // The attribution is the same; the time of recording, and so the
            // hashes that cover it, differ from one run to the other.
            let attribution =
                |metadata: &onething_store::EventMetadata| onething_store::EventMetadata {
                    recorded_at: String::new(),
                    hash: String::new(),
                    prev_hash: String::new(),
                    ..metadata.clone()
                };
            assert_eq!(attribution(&a.metadata), attribution(&b.metadata));
        }
        // Sequences are gapless from 1.
        for (index, event) in sqlite_events.iter().enumerate() {
            assert_eq!(event.sequence, index as u64 + 1);
        }
    }
}
