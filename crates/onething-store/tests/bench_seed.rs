//! `onething bench --seed-cases` fills a store with copies of opened cases:
//! each copy has every row of its template under its own number, new
//! commands work beside them, and verification names every copy as moved
//! (its events still name the template), on SQLite and on PostgreSQL.

mod common;

use common::ScratchPostgres;
use onething_core::audit::Damage;
use onething_core::case::{case_id_for, Actor, CaseCommand};
use onething_store::{audit, bench, open_case_store, views, CaseStore};

async fn open(store: &CaseStore, name: &str) -> String {
    let case_id = case_id_for(name);
    let command = CaseCommand {
        command_id: name.into(),
        actor: Actor::Agency {
            agency: "window".into(),
            operator: None,
        },
        at: common::at("2026-06-01T09:00:00+08:00"),
        action: common::open_newborn(&case_id),
    };
    store.execute(&case_id, command).await.unwrap();
    case_id
}

async fn count(store: &CaseStore, sql: &str) -> i64 {
    let sql = store.database().sql(sql);
    match store.database() {
        onething_store::Database::Sqlite(pool) => {
            sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap()
        }
        onething_store::Database::Postgres(pool) => {
            sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap()
        }
    }
}

async fn seeding(store: &CaseStore) {
    let templates = vec![open(store, "seed-a").await, open(store, "seed-b").await];
    let intact = audit::verify(store.database(), None, None, &mut |_| {})
        .await
        .unwrap();
    assert!(intact.intact(), "{:?}", intact.findings);
    let events_per_case = intact.events as i64 / 2;
    let tasks_per_case = count(store, "SELECT COUNT(*) FROM agency_tasks").await / 2;
    assert!(events_per_case > 1 && tasks_per_case > 0);

    let mut reported = Vec::new();
    let added = bench::seed_copies(store.database(), &templates, 7, &mut |made| {
        reported.push(made)
    })
    .await
    .unwrap();
    // Whole rounds of both templates: 2 stored, 3 rounds make 8.
    assert_eq!(added, 6);
    assert_eq!(reported.last(), Some(&6));
    assert_eq!(bench::stored_cases(store.database()).await.unwrap(), 8);
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM events").await,
        8 * events_per_case
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM agency_tasks").await,
        8 * tasks_per_case
    );
    assert_eq!(count(store, "SELECT COUNT(*) FROM case_figures").await, 8);
    let copy = format!("SEED-3-{}", templates[1]);
    let tasks = views::agency_tasks(store.database(), "hospital", 100, 0)
        .await
        .unwrap();
    assert!(tasks.iter().any(|task| task.case_id == copy), "{tasks:?}");
    // A second seeding goes on from the copies made, and a full store is left.
    let more = bench::seed_copies(store.database(), &templates, 10, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(more, 2);
    assert_eq!(bench::stored_cases(store.database()).await.unwrap(), 10);
    assert_eq!(
        bench::seed_copies(store.database(), &templates, 10, &mut |_| {})
            .await
            .unwrap(),
        0
    );

    // A new case beside the copies.
    open(store, "seed-c").await;
    let report = audit::verify(store.database(), None, None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.cases, 11);
    assert_eq!(report.findings.len(), 8, "every copy, and only the copies");
    for finding in &report.findings {
        assert!(finding.case_id.starts_with("SEED-"), "{finding:?}");
        assert!(
            matches!(&finding.damage, Damage::MovedFrom { case_id } if templates.contains(case_id)),
            "{finding:?}"
        );
    }
}

#[tokio::test]
async fn seeded_copies_hold_every_row_of_their_template_on_sqlite() {
    let store = open_case_store("sqlite::memory:", &common::catalog())
        .await
        .unwrap();
    seeding(&store).await;
}

#[tokio::test]
async fn seeded_copies_hold_every_row_of_their_template_on_postgres() {
    let scratch = ScratchPostgres::create("onething_seed").await;
    let store = open_case_store(&scratch.url, &common::catalog())
        .await
        .unwrap();
    seeding(&store).await;
    store.database().close().await;
    scratch.drop_database().await;
}
