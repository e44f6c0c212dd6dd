//! A multi-instance step (`for_each`) in the store: each instance is its
//! own task in its agency's list (the step never is), the case's view lists
//! the instances after their step, and the read models rebuilt from the
//! events are the ones written with them, on SQLite and on PostgreSQL. The
//! bundle is the language reference's own example.

mod common;

use common::ScratchPostgres;
use onething_core::case::{case_id_for, Action, Actor, CaseCommand};
use onething_core::workflow::parse_workflow;
use onething_store::workflow_files::Catalog;
use onething_store::{open_case_store, views, CaseStore};
use serde_json::json;

/// The shipped bundles and `instances-example` of `docs/workflow-language.md`.
fn catalog() -> Catalog {
    let docs = include_str!("../../../docs/workflow-language.md");
    let example = docs
        .split("```toml\n")
        .find(|block| block.starts_with("id = \"instances-example\""))
        .and_then(|block| block.split("```").next())
        .expect("the example is in the language reference");
    let mut catalog = common::catalog();
    let definition = parse_workflow(example, &catalog.registry).unwrap();
    catalog.versions.push(definition);
    catalog
}

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

async fn task_steps(store: &CaseStore, agency: &str) -> Vec<String> {
    let mut steps: Vec<String> = views::agency_tasks(store.database(), agency, 50, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|task| task.step)
        .collect();
    steps.sort();
    steps
}

async fn check_rebuild(store: &CaseStore) {
    let report = views::rebuild(store, true, &mut |_| {}).await.unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
}

async fn permits_one_task_per_vehicle(store: &CaseStore) {
    let case_id = case_id_for("instances-open");
    let run = |id: &str, actor: Actor, time: &str, action: Action| CaseCommand {
        command_id: id.into(),
        actor,
        at: common::at(time),
        action,
    };
    let complete = |step: &str, outputs: serde_json::Value| Action::Complete {
        step: step.into(),
        outputs,
    };
    let open = Action::Open {
        case_id: case_id.clone(),
        workflow: "instances-example".into(),
        form: json!({ "plates": ["闽A12345", "闽A67890"] }),
        materials: vec![],
        opted_in: vec![],
        channel: Default::default(),
    };
    store
        .execute(
            &case_id,
            run(
                "instances-open",
                agency("window"),
                "2026-06-01T09:00:00+08:00",
                open,
            ),
        )
        .await
        .unwrap();
    assert_eq!(task_steps(store, "police").await, ["permit.1", "permit.2"]);
    check_rebuild(store).await;

    for (id, step, number, time) in [
        ("p1", "permit.1", "P-1", "2026-06-01T10:00:00+08:00"),
        ("p2", "permit.2", "P-2", "2026-06-01T11:00:00+08:00"),
    ] {
        store
            .execute(
                &case_id,
                run(
                    id,
                    agency("police"),
                    time,
                    complete(step, json!({ "permit_number": number })),
                ),
            )
            .await
            .unwrap();
    }
    // Sequential: only the first registration waits.
    assert_eq!(task_steps(store, "police").await, ["register.1"]);
    check_rebuild(store).await;

    for (id, step, time) in [
        ("r1", "register.1", "2026-06-01T14:00:00+08:00"),
        ("r2", "register.2", "2026-06-01T15:00:00+08:00"),
    ] {
        store
            .execute(
                &case_id,
                run(id, agency("police"), time, complete(step, json!({}))),
            )
            .await
            .unwrap();
    }
    assert_eq!(task_steps(store, "police").await, Vec::<String>::new());
    assert_eq!(task_steps(store, "window").await, ["notify"]);

    let case = store.load(&case_id).await.unwrap();
    let file = case.file().expect("opened");
    let steps: Vec<(&str, &str)> = file
        .steps
        .iter()
        .map(|step| (step.id.as_str(), step.state.name()))
        .collect();
    assert_eq!(
        steps,
        [
            ("permit", "completed"),
            ("permit.1", "completed"),
            ("permit.2", "completed"),
            ("register", "completed"),
            ("register.1", "completed"),
            ("register.2", "completed"),
            ("notify", "active"),
        ]
    );
    assert_eq!(
        file.step("permit").unwrap().outputs,
        Some(json!({ "permit_number": ["P-1", "P-2"] }))
    );
    assert_eq!(
        file.step("notify").unwrap().inputs[0].value,
        json!(["P-1", "P-2"])
    );
    check_rebuild(store).await;
}

#[tokio::test]
async fn a_multi_instance_step_gives_one_task_per_item_on_sqlite() {
    let store = open_case_store("sqlite::memory:", &catalog())
        .await
        .unwrap();
    permits_one_task_per_vehicle(&store).await;
}

#[tokio::test]
async fn a_multi_instance_step_gives_one_task_per_item_on_postgres() {
    let scratch = ScratchPostgres::create("onething_instances").await;
    let store = open_case_store(&scratch.url, &catalog()).await.unwrap();
    permits_one_task_per_vehicle(&store).await;
    store.database().close().await;
    scratch.drop_database().await;
}
