//! Commands racing on the same case and on different cases, on both backends:
//! optimistic conflicts are retried, nothing is lost or stored twice, and a
//! command id repeated any number of times, at once or in turn, acts once.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use onething_core::case::{Action, Actor, Case, CaseCommand, Change, StepState};
use onething_store::workflow_files::Catalog;
use onething_store::{open_case_store, CaseStore, StoredEvent};
use onething_tests::{runtime, shipped_workflows, TestDatabase};
use serde_json::json;

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

fn at(hour: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 3, hour, 0, 0).unwrap()
}

fn open_command(command_id: &str) -> (String, CaseCommand) {
    onething_tests::open_newborn(command_id, at(1))
}

fn complete(command_id: &str, by: &str, step: &str, outputs: serde_json::Value) -> CaseCommand {
    CaseCommand {
        command_id: command_id.into(),
        actor: agency(by),
        at: at(2),
        action: Action::Complete {
            step: step.into(),
            outputs,
        },
    }
}

fn replay(events: &[StoredEvent]) -> Case {
    let mut case = Case::default();
    for stored in events {
        case.apply_event(stored.event.clone());
    }
    case
}

/// Every stored event of a case: gapless, and each command's events once.
async fn check_case(store: &CaseStore, case_id: &str) -> Vec<StoredEvent> {
    let events = store.events(case_id).await.unwrap();
    for (index, stored) in events.iter().enumerate() {
        assert_eq!(
            stored.sequence,
            index as u64 + 1,
            "case {case_id}: sequences are gapless"
        );
    }
    let mut completions: Vec<&str> = events
        .iter()
        .filter_map(|stored| match &stored.event.change {
            Change::StepCompleted { step, .. } => Some(step.as_str()),
            _ => None,
        })
        .collect();
    let before = completions.len();
    completions.sort_unstable();
    completions.dedup();
    assert_eq!(
        before,
        completions.len(),
        "case {case_id}: no step completed twice"
    );
    events
}

async fn race(database: &str) {
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let store = Arc::new(open_case_store(database, &catalog).await.unwrap());
    const CASES: usize = 12;

    // Open every case at once, each open command sent three times concurrently.
    let mut tasks = Vec::new();
    let mut case_ids = Vec::new();
    for number in 0..CASES {
        let (case_id, command) = open_command(&format!("race-open-{number}"));
        case_ids.push(case_id.clone());
        for _ in 0..3 {
            let store = store.clone();
            let (case_id, command) = (case_id.clone(), command.clone());
            tasks.push(tokio::spawn(async move {
                store.execute(&case_id, command).await
            }));
        }
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("opening succeeds, or finds the case already open");
    }

    // The birth certificate first; then, at the same moment, three agencies
    // complete the three parallel steps of every case, each twice.
    let mut tasks = Vec::new();
    for case_id in &case_ids {
        let store = store.clone();
        let case_id = case_id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .execute(
                    &case_id,
                    complete(
                        &format!("{case_id}-bc"),
                        "hospital",
                        "birth_certificate",
                        json!({"certificate_number": "BC"}),
                    ),
                )
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut tasks = Vec::new();
    let mut conflicts = 0;
    for case_id in &case_ids {
        let commands = [
            complete(
                &format!("{case_id}-vc"),
                "cdc",
                "vaccination_card",
                json!({"card_number": "VC"}),
            ),
            complete(
                &format!("{case_id}-hr"),
                "police",
                "household_registration",
                json!({"child_id": "110101202506010015"}),
            ),
            complete(
                &format!("{case_id}-mi"),
                "medical_security",
                "medical_insurance",
                json!({"insurance_number": "MI"}),
            ),
        ];
        for command in commands {
            for _ in 0..2 {
                let store = store.clone();
                let (case_id, command) = (case_id.clone(), command.clone());
                tasks.push(tokio::spawn(async move {
                    store.execute(&case_id, command).await
                }));
            }
        }
    }
    for task in tasks {
        let outcome = task
            .await
            .unwrap()
            .expect("every parallel completion succeeds");
        conflicts += outcome.conflicts;
    }
    eprintln!("{database}: {conflicts} conflicts retried");

    for case_id in &case_ids {
        let events = check_case(&store, case_id).await;
        let case = replay(&events);
        let file = case.file().expect("opened once");
        for step in [
            "birth_certificate",
            "vaccination_card",
            "household_registration",
            "medical_insurance",
        ] {
            assert_eq!(
                file.step(step).unwrap().state,
                StepState::Completed,
                "{case_id}: {step}"
            );
        }
        // The join after household registration and medical insurance started once.
        assert_eq!(
            file.step("social_security_card").unwrap().state,
            StepState::Active
        );
        assert_eq!(file.step("social_security_card").unwrap().passes, 1);
        assert_eq!(
            store.load(case_id).await.unwrap(),
            case,
            "loading equals replaying"
        );
    }
    store.database().close().await;
}

#[test]
fn racing_commands_on_sqlite_lose_nothing_and_store_nothing_twice() {
    let database = TestDatabase::sqlite();
    runtime().block_on(race(&database.url));
}

#[test]
fn racing_commands_on_postgres_lose_nothing_and_store_nothing_twice() {
    let database = TestDatabase::postgres();
    runtime().block_on(race(&database.url));
}

async fn idempotency(database: &str) {
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let store = Arc::new(open_case_store(database, &catalog).await.unwrap());
    let (case_id, open) = open_command("idempotent-open");
    for _ in 0..10 {
        store.execute(&case_id, open.clone()).await.unwrap();
    }
    let command = complete(
        "the-same-id",
        "hospital",
        "birth_certificate",
        json!({"certificate_number": "BC"}),
    );
    // Ten at once…
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (store, case_id, command) = (store.clone(), case_id.clone(), command.clone());
            tokio::spawn(async move { store.execute(&case_id, command).await })
        })
        .collect();
    let mut appended = 0;
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        appended += usize::from(!outcome.appended.is_empty());
        if outcome.appended.is_empty() {
            let applied = outcome
                .already_applied
                .expect("a repeat says where its events are");
            assert_eq!(applied.first_sequence, 4);
        }
    }
    assert_eq!(appended, 1, "exactly one of ten concurrent repeats appends");
    // …and ten in turn.
    for _ in 0..10 {
        let outcome = store.execute(&case_id, command.clone()).await.unwrap();
        assert!(outcome.appended.is_empty());
    }
    let events = check_case(&store, &case_id).await;
    let opened = events
        .iter()
        .filter(|s| matches!(s.event.change, Change::CaseOpened { .. }))
        .count();
    assert_eq!(
        opened, 1,
        "one case, however often it is opened with the same command"
    );
    let by_command = events
        .iter()
        .filter(|s| s.event.command_id == "the-same-id")
        .count();
    // The completion; household registration and medical insurance start;
    // the maternity allowance, not chosen, is skipped.
    assert_eq!(by_command, 4);
    store.database().close().await;
}

#[test]
fn a_command_id_repeated_ten_times_acts_once_on_sqlite() {
    let database = TestDatabase::sqlite();
    runtime().block_on(idempotency(&database.url));
}

#[test]
fn a_command_id_repeated_ten_times_acts_once_on_postgres() {
    let database = TestDatabase::postgres();
    runtime().block_on(idempotency(&database.url));
}

/// Two stores on one database, each with its own cache of folded cases (as
/// two servers have): a store whose cached case is behind decides again on
/// the stored case, and racing completions through both lose nothing.
async fn two_caches(database: &str) {
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let first = Arc::new(open_case_store(database, &catalog).await.unwrap());
    let second = Arc::new(open_case_store(database, &catalog).await.unwrap());

    // A stale cache: the first store opened the case, the second moved it on.
    let (case_id, open) = open_command("two-caches-stale");
    first.execute(&case_id, open).await.unwrap();
    assert_eq!(first.cached_cases(), 1);
    second
        .execute(
            &case_id,
            complete(
                "stale-bc",
                "hospital",
                "birth_certificate",
                json!({"certificate_number": "BC"}),
            ),
        )
        .await
        .unwrap();
    // Household registration waits for the birth certificate: by the first
    // store's cached case it is not active yet, by the stored case it is.
    let outcome = first
        .execute(
            &case_id,
            complete(
                "stale-hr",
                "police",
                "household_registration",
                json!({"child_id": "110101202506010015"}),
            ),
        )
        .await
        .expect("decided again on the stored case, not refused on the cached one");
    let events = check_case(&first, &case_id).await;
    assert_eq!(
        replay(&events),
        outcome.case,
        "the outcome is the stored case"
    );
    let file = outcome.case.file().unwrap();
    assert_eq!(
        file.step("birth_certificate").unwrap().state,
        StepState::Completed
    );
    assert_eq!(
        file.step("household_registration").unwrap().state,
        StepState::Completed
    );
    // A real refusal is still a refusal.
    let refused = first
        .execute(
            &case_id,
            complete(
                "stale-hr-again",
                "police",
                "household_registration",
                json!({"child_id": "110101202506010015"}),
            ),
        )
        .await;
    assert!(
        refused.is_err(),
        "a completed step cannot be completed again"
    );

    // Racing: on every case, one store completes the vaccination card while
    // the other completes the birth certificate, both from cached cases.
    const CASES: usize = 10;
    let mut case_ids = Vec::new();
    for number in 0..CASES {
        let (case_id, open) = open_command(&format!("two-caches-{number}"));
        first.execute(&case_id, open.clone()).await.unwrap();
        second.execute(&case_id, open).await.unwrap();
        case_ids.push(case_id);
    }
    let mut tasks = Vec::new();
    for case_id in &case_ids {
        for (store, command) in [
            (
                first.clone(),
                complete(
                    &format!("{case_id}-bc"),
                    "hospital",
                    "birth_certificate",
                    json!({"certificate_number": "BC"}),
                ),
            ),
            (
                second.clone(),
                complete(
                    &format!("{case_id}-vc"),
                    "cdc",
                    "vaccination_card",
                    json!({"card_number": "VC"}),
                ),
            ),
        ] {
            let case_id = case_id.clone();
            tasks.push(tokio::spawn(async move {
                store.execute(&case_id, command).await
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().expect("both completions succeed");
    }
    for case_id in &case_ids {
        let events = check_case(&first, case_id).await;
        let file = replay(&events);
        let file = file.file().unwrap();
        for step in ["birth_certificate", "vaccination_card"] {
            assert_eq!(
                file.step(step).unwrap().state,
                StepState::Completed,
                "{case_id}: {step}"
            );
        }
        // Both stores' next commands start from the whole stored case.
        for store in [&first, &second] {
            let outcome = store
                .execute(
                    case_id,
                    complete(
                        &format!("{case_id}-bc"),
                        "hospital",
                        "birth_certificate",
                        json!({"certificate_number": "BC"}),
                    ),
                )
                .await
                .unwrap();
            assert!(
                outcome.appended.is_empty(),
                "already applied, seen through either cache"
            );
            assert_eq!(outcome.case, replay(&events));
        }
    }
}

#[test]
fn two_stores_with_caches_of_their_own_lose_no_update_on_sqlite() {
    let database = TestDatabase::sqlite();
    runtime().block_on(two_caches(&database.url));
}

#[test]
fn two_stores_with_caches_of_their_own_lose_no_update_on_postgres() {
    let database = TestDatabase::postgres();
    runtime().block_on(two_caches(&database.url));
}

/// A server killed while it held a lease (a webhook subscription's, a
/// periodic job's) never gives it back: once it has expired, another server
/// takes it, and the holder may renew its own. On SQLite the conditions of
/// both queries use a placeholder twice, which once bound NULL to the second
/// use, so an expired lease was never taken over and deliveries stopped for
/// good after a crash.
async fn leases_left_by_a_dead_server(database: &str) {
    use onething_store::{leases, webhooks};
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let store = open_case_store(database, &catalog).await.unwrap();
    let database = store.database();
    let start = at(1);
    let later = |seconds: i64| start + chrono::Duration::seconds(seconds);

    webhooks::declare(
        database,
        "feed",
        "window",
        "http://127.0.0.1:9/",
        None,
        None,
        start,
    )
    .await
    .unwrap();
    assert!(webhooks::lease(database, "feed", "dead", start, later(15))
        .await
        .unwrap());
    assert!(
        !webhooks::lease(database, "feed", "other", later(5), later(20))
            .await
            .unwrap(),
        "a lease still running is not taken"
    );
    assert!(
        webhooks::lease(database, "feed", "dead", later(5), later(20))
            .await
            .unwrap(),
        "the holder renews its own lease"
    );
    assert!(
        webhooks::lease(database, "feed", "other", later(21), later(36))
            .await
            .unwrap(),
        "an expired lease is taken over"
    );

    assert!(
        leases::acquire(database, "deadline-check", "dead", start, later(15))
            .await
            .unwrap()
    );
    assert!(
        !leases::acquire(database, "deadline-check", "other", later(5), later(20))
            .await
            .unwrap()
    );
    assert!(
        leases::acquire(database, "deadline-check", "dead", later(5), later(20))
            .await
            .unwrap()
    );
    assert!(
        leases::acquire(database, "deadline-check", "other", later(21), later(36))
            .await
            .unwrap()
    );
    database.close().await;
}

#[test]
fn an_expired_lease_of_a_dead_server_is_taken_over_on_sqlite() {
    let database = TestDatabase::sqlite();
    runtime().block_on(leases_left_by_a_dead_server(&database.url));
}

#[test]
fn an_expired_lease_of_a_dead_server_is_taken_over_on_postgres() {
    let database = TestDatabase::postgres();
    runtime().block_on(leases_left_by_a_dead_server(&database.url));
}
