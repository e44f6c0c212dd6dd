//! A dispatched step (派单) in the task lists: the dispatcher's while it
//! awaits dispatch, then the lead's and each co-handler's until it reported,
//! back in the dispatcher's after a send-back (退单), and attributed to the
//! agency that handled it in the figures; written with the events and
//! rebuilt from them alike, on SQLite and on PostgreSQL.

mod common;

use common::ScratchPostgres;
use onething_core::case::{case_id_for, Action, Actor, CaseCommand};
use onething_store::workflow_files::Catalog;
use onething_store::{open_case_store, views, CaseStore};

/// The shipped bundles and the test-only dispatched work order.
fn catalog() -> Catalog {
    let mut catalog = common::catalog();
    let text = include_str!("../../../tests/data/dispatch/work-order.toml");
    let definition =
        onething_core::workflow::parse_workflow(text, &catalog.registry).expect("it validates");
    catalog.versions.push(definition);
    catalog
}

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

/// The agency's tasks of the case, as `step:part:state`.
async fn parts(store: &CaseStore, agency: &str, case_id: &str) -> Vec<String> {
    views::agency_tasks(store.database(), agency, 50, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|task| task.case_id == case_id)
        .map(|task| {
            format!(
                "{}:{}:{}",
                task.step,
                task.part.as_deref().unwrap_or("-"),
                task.state
            )
        })
        .collect()
}

async fn dispatched_through_the_task_lists(store: &CaseStore) {
    let case_id = case_id_for("dispatch-open");
    let run = |id: &'static str, actor: Actor, time: &'static str, action: Action| {
        let case_id = case_id.clone();
        async move {
            store
                .execute(
                    &case_id,
                    CaseCommand {
                        command_id: id.into(),
                        actor,
                        at: common::at(time),
                        action,
                    },
                )
                .await
                .unwrap_or_else(|error| panic!("{id}: {error:?}"));
        }
    };
    run(
        "dispatch-open",
        agency("window"),
        "2026-06-01T09:00:00+08:00",
        Action::Open {
            case_id: case_id.clone(),
            workflow: "work-order".into(),
            form: serde_json::json!({ "complaint": "路灯不亮" }),
            materials: vec![],
            opted_in: vec![],
            channel: Default::default(),
        },
    )
    .await;
    assert_eq!(
        parts(store, "hotline", &case_id).await,
        ["handle:dispatch:active"]
    );
    let dispatch = |to: &str, with: &[&str]| Action::Dispatch {
        step: "handle".into(),
        to: to.into(),
        with: with.iter().map(|s| s.to_string()).collect(),
    };
    run(
        "dispatch-1",
        agency("hotline"),
        "2026-06-01T10:00:00+08:00",
        dispatch("housing", &["subdistrict"]),
    )
    .await;
    assert!(parts(store, "hotline", &case_id).await.is_empty());
    assert_eq!(
        parts(store, "housing", &case_id).await,
        ["handle:lead:active"]
    );
    assert_eq!(
        parts(store, "subdistrict", &case_id).await,
        ["handle:co_handler:active"]
    );
    // A wrong dispatch is sent back and dispatched to the agency responsible.
    run(
        "dispatch-back",
        agency("housing"),
        "2026-06-01T11:00:00+08:00",
        Action::SendBack {
            step: "handle".into(),
            reason: "路灯不属于住建职责".into(),
            basis: None,
        },
    )
    .await;
    assert_eq!(
        parts(store, "hotline", &case_id).await,
        ["handle:dispatch:active"]
    );
    assert!(parts(store, "housing", &case_id).await.is_empty());
    assert!(parts(store, "subdistrict", &case_id).await.is_empty());
    run(
        "dispatch-2",
        agency("hotline"),
        "2026-06-01T12:00:00+08:00",
        dispatch("urban_management", &["subdistrict"]),
    )
    .await;
    run(
        "dispatch-report",
        agency("subdistrict"),
        "2026-06-02T10:00:00+08:00",
        Action::Report {
            step: "handle".into(),
            text: "已配合现场核查".into(),
            outputs: serde_json::Value::Null,
        },
    )
    .await;
    assert!(parts(store, "subdistrict", &case_id).await.is_empty());
    assert_eq!(
        parts(store, "urban_management", &case_id).await,
        ["handle:lead:active"]
    );
    let report = views::rebuild(store, true, &mut |_| {}).await.unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    run(
        "dispatch-answer",
        agency("urban_management"),
        "2026-06-02T15:00:00+08:00",
        Action::Complete {
            step: "handle".into(),
            outputs: serde_json::json!({ "answer": "已修复" }),
        },
    )
    .await;
    assert_eq!(parts(store, "hotline", &case_id).await, ["review:-:active"]);
    // The figures attribute the handling to the agency that did it.
    let case = store.load(&case_id).await.unwrap();
    let file = case.file().unwrap();
    let definition = store.library().by_hash(&file.hash);
    let facts = onething_core::case::figures(file, definition.as_deref(), None);
    // One row per agency that led it, in order: the wrong dispatch counts as sent
    // back against housing, the handling against urban management.
    let handle: Vec<(&str, &str, u32, u32)> = facts
        .steps
        .iter()
        .filter(|f| f.step == "handle")
        .map(|f| {
            (
                f.agency.as_str(),
                f.state.as_str(),
                f.passes,
                f.returns_made,
            )
        })
        .collect();
    assert_eq!(
        handle,
        [
            ("housing", "sent_back", 1, 1),
            ("urban_management", "completed", 1, 0),
        ]
    );
    let report = views::rebuild(store, true, &mut |_| {}).await.unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
}

#[tokio::test]
async fn a_dispatched_step_moves_through_the_task_lists_on_sqlite() {
    let store = open_case_store("sqlite::memory:", &catalog())
        .await
        .unwrap();
    dispatched_through_the_task_lists(&store).await;
}

#[tokio::test]
async fn a_dispatched_step_moves_through_the_task_lists_on_postgres() {
    let scratch = ScratchPostgres::create("onething_dispatch").await;
    let store = open_case_store(&scratch.url, &catalog()).await.unwrap();
    dispatched_through_the_task_lists(&store).await;
    store.database().close().await;
    scratch.drop_database().await;
}
