//! A claimed task (认领) names its person in the task list and on the
//! supervision cards, written with the events and rebuilt from them alike,
//! on SQLite and on PostgreSQL.

mod common;

use common::ScratchPostgres;
use onething_core::case::{case_id_for, Action, Actor, CaseCommand};
use onething_store::{open_case_store, supervision, views, CaseStore};

fn hospital(operator: Option<&str>) -> Actor {
    Actor::Agency {
        agency: "hospital".into(),
        operator: operator.map(str::to_string),
    }
}

async fn claimed_task(store: &CaseStore) -> Option<String> {
    views::agency_tasks(store.database(), "hospital", 10, 0)
        .await
        .unwrap()
        .into_iter()
        .find(|task| task.step == "birth_certificate")
        .expect("the hospital's task")
        .claimed_by
}

async fn claims_in_the_task_list(store: &CaseStore) {
    let case_id = case_id_for("claims-open");
    let command = |id: &str, actor: Actor, time: &str, action: Action| CaseCommand {
        command_id: id.into(),
        actor,
        at: common::at(time),
        action,
    };
    let open = common::open_newborn(&case_id);
    let window = Actor::Agency {
        agency: "window".into(),
        operator: None,
    };
    store
        .execute(
            &case_id,
            command("claims-open", window, "2026-06-01T09:00:00+08:00", open),
        )
        .await
        .unwrap();
    assert_eq!(claimed_task(store).await, None);
    let claim = Action::ClaimTask {
        step: "birth_certificate".into(),
    };
    for (id, person, time) in [
        ("claims-1", "张护士", "2026-06-01T10:00:00+08:00"),
        ("claims-2", "李医生", "2026-06-01T11:00:00+08:00"),
    ] {
        store
            .execute(
                &case_id,
                command(id, hospital(Some(person)), time, claim.clone()),
            )
            .await
            .unwrap();
        assert_eq!(claimed_task(store).await.as_deref(), Some(person));
    }
    // Overdue a week later: the red card names the person.
    store
        .execute(
            &case_id,
            command(
                "claims-tick",
                Actor::System,
                "2026-06-08T09:00:00+08:00",
                Action::CheckDeadlines,
            ),
        )
        .await
        .unwrap();
    let late = supervision::late_tasks(store.database(), 10).await.unwrap();
    let card = late
        .iter()
        .find(|task| task.case_id == case_id)
        .expect("a red card");
    assert!(card.overdue);
    assert_eq!(card.claimed_by.as_deref(), Some("李医生"));

    let report = views::rebuild(store, true, &mut |_| {}).await.unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    views::rebuild(store, false, &mut |_| {}).await.unwrap();
    assert_eq!(claimed_task(store).await.as_deref(), Some("李医生"));
}

#[tokio::test]
async fn a_claim_names_the_person_in_the_task_list_on_sqlite() {
    let store = open_case_store("sqlite::memory:", &common::catalog())
        .await
        .unwrap();
    claims_in_the_task_list(&store).await;
}

#[tokio::test]
async fn a_claim_names_the_person_in_the_task_list_on_postgres() {
    let scratch = ScratchPostgres::create("onething_claims").await;
    let store = open_case_store(&scratch.url, &common::catalog())
        .await
        .unwrap();
    claims_in_the_task_list(&store).await;
    store.database().close().await;
    scratch.drop_database().await;
}
