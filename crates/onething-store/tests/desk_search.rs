//! The desk's search and the receipt's query code on both backends: the
//! SQL differs between SQLite and PostgreSQL (`LIKE`'s case, `ESCAPE`, a
//! NULL pattern), the answers must not.

mod common;
use common::ScratchPostgres;

use chrono::{DateTime, Utc};
use onething_core::case::{case_id_for, Action, Actor, CaseCommand};
use onething_store::{open_case_store, query_codes, search, CaseStore};
use serde_json::json;

async fn open_newborn(store: &CaseStore, command_id: &str, baby_name: &str) -> String {
    let case_id = case_id_for(command_id);
    let at: DateTime<Utc> = "2026-06-01T01:00:00Z".parse().unwrap();
    let open = Action::Open {
        case_id: case_id.clone(),
        workflow: "newborn".into(),
        form: json!({
            "baby_name": baby_name, "baby_sex": "male", "birth_date": "2026-05-30", "born_in_province": true,
            "mother_id": "11010519491231002X", "household_head_id": "440304198503151231",
            "address": "幸福路1号 100%", "phone": "13800138000"
        }),
        materials: vec![],
        opted_in: vec![],
        channel: Default::default(),
    };
    let command = CaseCommand {
        command_id: command_id.into(),
        actor: Actor::Agency {
            agency: "window".into(),
            operator: None,
        },
        at,
        action: open,
    };
    store.execute(&case_id, command).await.unwrap();
    case_id
}

async fn searches_and_codes(store: &CaseStore) {
    let xiaoming = open_newborn(store, "search-1", "王小明").await;
    let xiaohong = open_newborn(store, "search-2", "Li Xiaohong").await;
    let database = store.database();
    let found = |text: &'static str| async move {
        let mut ids = search::agency_cases_by_applicant(database, "hospital", text)
            .await
            .unwrap();
        ids.sort();
        ids
    };
    let mut both = vec![xiaoming.clone(), xiaohong.clone()];
    both.sort();
    assert_eq!(found("小明").await, vec![xiaoming.clone()]);
    assert_eq!(
        found("xiaohong").await,
        vec![xiaohong.clone()],
        "any letter case"
    );
    assert_eq!(found("110105").await, both, "the masked ID number");
    assert_eq!(found("100%").await, both, "`%` as typed");
    assert_eq!(
        found("1_0").await,
        Vec::<String>::new(),
        "`_` as typed, not any character"
    );
    assert_eq!(
        found("birth_certificate").await,
        Vec::<String>::new(),
        "not a form value"
    );
    assert_eq!(found("王小明").await.len(), 1);
    assert!(
        search::agency_cases_by_applicant(database, "police", "小明")
            .await
            .unwrap()
            .is_empty(),
        "an agency with no task on the case finds nothing"
    );
    let code = query_codes::code_for(database, &xiaoming, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        query_codes::code_for(database, &xiaoming, Utc::now())
            .await
            .unwrap(),
        code
    );
    assert!(
        query_codes::matches(database, &xiaoming, &code.to_lowercase())
            .await
            .unwrap()
    );
    assert!(!query_codes::matches(database, &xiaohong, &code)
        .await
        .unwrap());
}

#[tokio::test]
async fn the_desk_search_and_the_query_code_on_sqlite() {
    let store = open_case_store("sqlite::memory:", &common::catalog())
        .await
        .unwrap();
    searches_and_codes(&store).await;
}

#[tokio::test]
async fn the_desk_search_and_the_query_code_on_postgres() {
    let scratch = ScratchPostgres::create("onething_search").await;
    let store = open_case_store(&scratch.url, &common::catalog())
        .await
        .unwrap();
    searches_and_codes(&store).await;
    store.database().close().await;
    scratch.drop_database().await;
}
