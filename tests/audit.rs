//! Audit: every kind of tampering with stored rows is found and named, on
//! SQLite and PostgreSQL, and an untouched store verifies clean; an
//! independent script recomputes the hashes; `case show --at N` is the replay
//! of the first N events; the read models can be checked and rebuilt.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use onething_core::case::{view, Action, Actor, Case, CaseCommand, Disclosure};
use onething_store::workflow_files::Catalog;
use onething_store::{open_case_store, with_pool, CaseStore, Database};
use onething_tests::{onething, runtime, shipped_workflows, TempFolder, TestDatabase};
use serde_json::{json, Value};

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: Some("operator-1".into()),
    }
}

/// Opens a newborn case and completes its first two steps: 7 events.
async fn newborn_case(store: &CaseStore, name: &str) -> String {
    let at = |hour| Utc.with_ymd_and_hms(2025, 6, 3, hour, 0, 0).unwrap();
    let (case_id, open) = onething_tests::open_newborn(&format!("{name}-open"), at(1));
    let commands = [
        open,
        CaseCommand {
            command_id: format!("{name}-bc"),
            actor: agency("hospital"),
            at: at(2),
            action: Action::Complete {
                step: "birth_certificate".into(),
                outputs: json!({"certificate_number": format!("BC-{name}")}),
            },
        },
    ];
    for command in commands {
        store.execute(&case_id, command).await.unwrap();
    }
    assert_eq!(store.events(&case_id).await.unwrap().len(), 7);
    case_id
}

fn cli(database: &str, args: &[&str]) -> onething_tests::Run {
    let workflows = shipped_workflows();
    let mut full = vec![
        "--workflows",
        workflows.to_str().unwrap(),
        "--database",
        database,
    ];
    full.extend_from_slice(args);
    onething(&full)
}

async fn sql(database: &Database, statements: &[String]) {
    for statement in statements {
        with_pool!(database, pool => { sqlx::raw_sql(statement).execute(pool).await.unwrap(); });
    }
}

fn tamper_suite(test_database: &TestDatabase) {
    let url = test_database.url.as_str();
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let names = [
        "payload",
        "metadata",
        "gap",
        "reorder",
        "truncate",
        "moved",
        "receiver",
        "deleted",
        "untouched",
    ];
    let (store, ids) = runtime().block_on(async {
        let store = Arc::new(open_case_store(url, &catalog).await.unwrap());
        let mut ids = std::collections::HashMap::new();
        for name in names {
            ids.insert(name, newborn_case(&store, name).await);
        }
        (store, ids)
    });

    let clean = cli(url, &["audit", "verify"]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert_eq!(
        clean.stdout,
        "9 cases, 63 events verified, no checkpoint to compare with\n"
    );
    let folder = TempFolder::new("checkpoint");
    let exported = folder.path.join("checkpoint.json");
    let taken = cli(
        url,
        &["audit", "checkpoint", "--out", exported.to_str().unwrap()],
    );
    assert_eq!(taken.code, 0, "{}", taken.stderr);
    let clean = cli(url, &["audit", "verify"]);
    assert_eq!(
        clean.code, 0,
        "an intact store verifies clean against its checkpoint: {}",
        clean.stderr
    );

    let postgres = matches!(store.database(), Database::Postgres(_));
    let replace = |column: &str, from: &str, to: &str| {
        if postgres {
            format!("{column} = replace({column}::text, '{from}', '{to}')::json")
        } else {
            format!("{column} = replace({column}, '{from}', '{to}')")
        }
    };
    let id = |name: &str| ids[name].clone();
    let statements = vec![
        format!("UPDATE events SET {} WHERE aggregate_id = '{}' AND sequence = 4", replace("payload", "BC-payload", "BC-forged"), id("payload")),
        format!("UPDATE events SET {} WHERE aggregate_id = '{}' AND sequence = 4", replace("metadata", "hospital/operator-1", "police/operator-1"), id("metadata")),
        format!("DELETE FROM events WHERE aggregate_id = '{}' AND sequence = 3", id("gap")),
        format!("UPDATE events SET sequence = 1000 WHERE aggregate_id = '{}' AND sequence = 2", id("reorder")),
        format!("UPDATE events SET sequence = 2 WHERE aggregate_id = '{}' AND sequence = 3", id("reorder")),
        format!("UPDATE events SET sequence = 3 WHERE aggregate_id = '{}' AND sequence = 1000", id("reorder")),
        format!("DELETE FROM events WHERE aggregate_id = '{}' AND sequence >= 6", id("truncate")),
        format!("UPDATE events SET aggregate_id = '{}', sequence = 8 WHERE aggregate_id = '{}' AND sequence = 4", id("receiver"), id("moved")),
        format!("DELETE FROM events WHERE aggregate_id = '{}'", id("deleted")),
    ];
    // A pool belongs to the runtime that made it: tamper through a new one.
    runtime().block_on(async {
        let database = Database::open(url).await.unwrap();
        sql(&database, &statements).await;
        database.close().await;
    });

    let mut expected = vec![
        json!({"case_id": id("payload"), "sequence": 4, "damage": {"kind": "changed"}}),
        json!({"case_id": id("metadata"), "sequence": 4, "damage": {"kind": "changed"}}),
        json!({"case_id": id("gap"), "sequence": 3, "damage": {"kind": "missing"}}),
        json!({"case_id": id("reorder"), "sequence": 2, "damage": {"kind": "reordered", "written_at": 3}}),
        json!({"case_id": id("truncate"), "sequence": 6, "damage": {"kind": "truncated", "head": 5, "checkpoint_head": 7}}),
        json!({"case_id": id("moved"), "sequence": 4, "damage": {"kind": "missing"}}),
        json!({"case_id": id("receiver"), "sequence": 8, "damage": {"kind": "moved_from", "case_id": id("moved")}}),
        json!({"case_id": id("deleted"), "sequence": 1, "damage": {"kind": "deleted", "checkpoint_head": 7}}),
    ];
    expected.sort_by_key(|finding| {
        (
            finding["case_id"].as_str().unwrap().to_string(),
            finding["sequence"].as_u64(),
        )
    });
    for args in [
        vec!["audit", "verify", "--json"],
        vec![
            "audit",
            "verify",
            "--json",
            "--checkpoint",
            exported.to_str().unwrap(),
        ],
    ] {
        let damaged = cli(url, &args);
        assert_eq!(damaged.code, 1, "{}", damaged.stderr);
        let report: Value = serde_json::from_str(&damaged.stdout).unwrap();
        assert_eq!(
            report["findings"],
            Value::Array(expected.clone()),
            "{}",
            damaged.stderr
        );
        assert!(
            !damaged.stderr.contains(&id("untouched")),
            "no false alarm on the untouched case"
        );
        assert!(
            damaged.stderr.contains(&format!(
                "case {} damaged at event 2: events reordered",
                id("reorder")
            )),
            "{}",
            damaged.stderr
        );
    }
    // One case alone.
    let one = cli(url, &["audit", "verify", "--case", &id("untouched")]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let one = cli(url, &["audit", "verify", "--case", &id("gap")]);
    assert_eq!(one.code, 1);
    assert!(
        one.stderr.contains("damaged at event 3: event missing"),
        "{}",
        one.stderr
    );
    drop(store);
}

#[test]
fn every_kind_of_tampering_is_found_on_sqlite() {
    tamper_suite(&TestDatabase::sqlite());
}

#[test]
fn every_kind_of_tampering_is_found_on_postgres() {
    tamper_suite(&TestDatabase::postgres());
}

#[test]
fn a_forged_or_altered_checkpoint_is_refused() {
    let database = TestDatabase::sqlite();
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    runtime().block_on(async {
        let store = open_case_store(&database.url, &catalog).await.unwrap();
        newborn_case(&store, "signed").await;
        store.database().close().await;
    });
    let folder = TempFolder::new("keys");
    let key = folder.path.join("key");
    let file = folder.path.join("checkpoint.json");
    assert_eq!(
        cli(
            &database.url,
            &["audit", "keygen", "--out", key.to_str().unwrap()]
        )
        .code,
        0
    );
    let signed = cli(
        &database.url,
        &[
            "audit",
            "checkpoint",
            "--sign-key",
            key.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    assert!(signed.stdout.contains(", signed"));
    assert_eq!(
        cli(
            &database.url,
            &["audit", "verify", "--checkpoint", file.to_str().unwrap()]
        )
        .code,
        0
    );
    let mut checkpoint: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    checkpoint["taken_at"] = json!("2020-01-01T00:00:00.000Z");
    std::fs::write(&file, checkpoint.to_string()).unwrap();
    let forged = cli(
        &database.url,
        &["audit", "verify", "--checkpoint", file.to_str().unwrap()],
    );
    assert_eq!(forged.code, 1);
    assert!(
        forged.stderr.contains("signature is not valid"),
        "{}",
        forged.stderr
    );
}

#[test]
fn an_independent_script_recomputes_every_stored_hash() {
    let database = TestDatabase::sqlite();
    let scratch = TempFolder::new("export");
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let case_id = runtime().block_on(async {
        let store = open_case_store(&database.url, &catalog).await.unwrap();
        let case_id = newborn_case(&store, "python").await;
        store.database().close().await;
        case_id
    });
    let export = scratch.path.join("case.json");
    let run = cli(
        &database.url,
        &[
            "audit",
            "export",
            &case_id,
            "--out",
            export.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let script = onething_tests::repository()
        .join("tests")
        .join("audit_hash.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&export)
        .output()
        .expect("python3 runs");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    for event in exported["events"].as_array().unwrap() {
        let line = format!(
            "{} {} ok",
            event["sequence"],
            event["metadata"]["hash"].as_str().unwrap()
        );
        assert!(
            printed.contains(&line),
            "the script computed the stored hash of event {}:\n{printed}",
            event["sequence"]
        );
    }
    assert!(printed.ends_with("intact\n"));
    // The script is not vacuous: an altered export fails it.
    let mut altered = exported.clone();
    altered["events"][3]["payload"]["change"]["outputs"]["certificate_number"] = json!("forged");
    std::fs::write(&export, altered.to_string()).unwrap();
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&export)
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[test]
fn the_case_at_every_sequence_is_the_replay_of_its_first_events() {
    // The newborn scenario has a supplement and a return loop.
    let database = TestDatabase::sqlite();
    let scenario: Value = serde_json::from_str(
        &std::fs::read_to_string(onething_tests::test_data().join("scenarios/newborn.json"))
            .unwrap(),
    )
    .unwrap();
    let scratch = TempFolder::new("time-travel");
    let mut case_id = String::new();
    for (index, step) in scenario["commands"].as_array().unwrap().iter().enumerate() {
        let mut args: Vec<String> = vec!["--now".into(), step["at"].as_str().unwrap().into()];
        args.extend(
            step["run"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().replace("$CASE", &case_id)),
        );
        for (key, flag) in [("form", "--form"), ("data", "--data")] {
            if let Some(value) = step.get(key) {
                let path = scratch.path.join(format!("{index}-{key}.json"));
                std::fs::write(&path, value.to_string()).unwrap();
                args.extend([flag.to_string(), path.to_string_lossy().into_owned()]);
            }
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = cli(&database.url, &refs);
        assert_eq!(run.code, 0, "{}", run.stderr);
        if index == 0 {
            case_id = run.stdout.trim().to_string();
        }
    }
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let events = runtime().block_on(async {
        let store = open_case_store(&database.url, &catalog).await.unwrap();
        let events = store.events(&case_id).await.unwrap();
        store.database().close().await;
        events
    });
    let kinds: Vec<&str> = events
        .iter()
        .map(|stored| stored.event.change.name())
        .collect();
    assert!(
        kinds.contains(&"step_returned") && kinds.contains(&"supplement_requested"),
        "{kinds:?}"
    );
    let definition = catalog.latest("newborn").unwrap().clone();
    let mut replayed = Case::default();
    for stored in &events {
        replayed.apply_event(stored.event.clone());
        let expected =
            serde_json::to_value(view(&replayed, Some(&definition), Disclosure::Full).unwrap())
                .unwrap();
        let sequence = stored.sequence.to_string();
        let shown = cli(
            &database.url,
            &["case", "show", &case_id, "--at", &sequence, "--json"],
        );
        assert_eq!(shown.code, 0, "{}", shown.stderr);
        let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
        assert_eq!(shown, expected, "the case after event {sequence}");
    }
}

#[test]
fn rebuilt_read_models_match_and_a_changed_row_is_reported_on_sqlite() {
    read_model_check(TestDatabase::sqlite());
}

#[test]
fn rebuilt_read_models_match_and_a_changed_row_is_reported_on_postgres() {
    read_model_check(TestDatabase::postgres());
}

fn read_model_check(database: TestDatabase) {
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let ids = runtime().block_on(async {
        let store = open_case_store(&database.url, &catalog).await.unwrap();
        let ids = vec![
            newborn_case(&store, "one").await,
            newborn_case(&store, "two").await,
        ];
        store.database().close().await;
        ids
    });
    let check = cli(&database.url, &["views", "rebuild", "--check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(check.stdout, "2 cases: the read models match the events\n");

    runtime().block_on(async {
        let store = open_case_store(&database.url, &catalog).await.unwrap();
        sql(
            store.database(),
            &[
                format!(
                    "UPDATE case_summaries SET status = 'completed' WHERE case_id = '{}'",
                    ids[0]
                ),
                format!(
                    "DELETE FROM agency_tasks WHERE case_id = '{}' AND step = 'vaccination_card'",
                    ids[1]
                ),
            ],
        )
        .await;
        store.database().close().await;
    });
    let check = cli(&database.url, &["views", "rebuild", "--check"]);
    assert_eq!(check.code, 1);
    assert!(
        check.stderr.contains(&format!(
            "case {}: summary status is completed, the events say open",
            ids[0]
        )),
        "{}",
        check.stderr
    );
    assert!(
        check
            .stderr
            .contains(&format!("case {}: tasks are [", ids[1])),
        "{}",
        check.stderr
    );

    let rebuilt = cli(&database.url, &["views", "rebuild"]);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    assert_eq!(cli(&database.url, &["views", "rebuild", "--check"]).code, 0);
}

/// A value nested `depth` levels deep: `{"a": {"a": … 1 …}}`.
fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = json!({ "a": value });
    }
    value
}

/// Rewrites the payload of event 1 of a case and chains every hash again,
/// as a row stored before values were bounded would be: intact, but deep.
async fn store_legacy_payload(store: &CaseStore, case_id: &str, change: impl Fn(&mut Value)) {
    let rows = onething_store::audit::case_rows(store.database(), case_id)
        .await
        .unwrap();
    let postgres = matches!(store.database(), Database::Postgres(_));
    let mut previous = onething_core::audit::GENESIS.to_string();
    for mut row in rows {
        if row.sequence == 1 {
            change(&mut row.payload);
        }
        row.metadata["prev_hash"] = Value::String(previous.clone());
        let hash = onething_core::audit::event_hash(
            case_id,
            row.sequence,
            &row.event_type,
            &row.event_version,
            &row.payload,
            &row.metadata,
        );
        row.metadata["hash"] = Value::String(hash.clone());
        previous = hash;
        let cast = if postgres { "::json" } else { "" };
        let sql = store.database().sql(&format!(
            "UPDATE events SET payload = $1{cast}, metadata = $2{cast} WHERE aggregate_id = $3 AND sequence = $4"
        ));
        with_pool!(store.database(), pool => {
            sqlx::query(&sql)
                .bind(row.payload.to_string())
                .bind(row.metadata.to_string())
                .bind(case_id)
                .bind(row.sequence as i64)
                .execute(pool)
                .await
                .unwrap();
        });
    }
}

fn stored_rows_are_read_without_panicking(test_database: &TestDatabase) {
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    runtime().block_on(async {
        let store = open_case_store(&test_database.url, &catalog).await.unwrap();
        // Deeper than the JSON reader's default limit of 128 levels, as the
        // API once let through in a supplement: it must read back, intact.
        let deep = newborn_case(&store, "deep").await;
        store_legacy_payload(&store, &deep, |payload| {
            let form = payload
                .pointer_mut("/change/form")
                .expect("the opening event holds the form");
            form["note"] = nested(130);
        })
        .await;
        let events = store.events(&deep).await.unwrap();
        assert_eq!(events.len(), 7);
        assert!(store.load(&deep).await.unwrap().file().is_some());
        let report = onething_store::audit::verify(store.database(), None, None, &mut |_| {})
            .await
            .unwrap();
        assert!(report.intact(), "{:?}", report.findings);
        let feed = onething_store::feed::read(store.database(), None, None, 100)
            .await
            .unwrap();
        assert!(
            feed.events.iter().all(|event| event.payload.is_object()),
            "every feed payload is read as JSON"
        );

        // A row that no longer decodes is an error naming the case and the
        // sequence, never a panic.
        let broken = newborn_case(&store, "broken").await;
        sql(
            store.database(),
            &[format!(
                "UPDATE events SET payload = '{{\"unexpected\": 1}}' WHERE aggregate_id = '{broken}' AND sequence = 2"
            )],
        )
        .await;
        match store.events(&broken).await {
            Err(onething_store::StoreError::UnreadableEvent {
                case_id, sequence, ..
            }) => {
                assert_eq!((case_id.as_str(), sequence), (broken.as_str(), 2));
            }
            other => panic!("expected an unreadable event, got {other:?}"),
        }
        let too_deep = newborn_case(&store, "too-deep").await;
        store_legacy_payload(&store, &too_deep, |payload| {
            let form = payload
                .pointer_mut("/change/form")
                .expect("the opening event holds the form");
            form["note"] = nested(400);
        })
        .await;
        let error = store.events(&too_deep).await.unwrap_err().to_string();
        assert!(
            error.contains(&format!("event 1 of case {too_deep}")) && error.contains("levels deep"),
            "{error}"
        );
        // The other cases are untouched by the broken ones.
        let ids = store.case_ids().await.unwrap();
        let readable = readable_cases(&store, &ids).await;
        assert_eq!(readable, 1, "only the deep case reads");
    });
}

async fn readable_cases(store: &CaseStore, ids: &[String]) -> usize {
    let mut readable = 0;
    for id in ids {
        if store.events(id).await.is_ok() {
            readable += 1;
        }
    }
    readable
}

#[test]
fn a_deeply_nested_stored_value_reads_back_and_a_broken_row_is_an_error_on_sqlite() {
    stored_rows_are_read_without_panicking(&TestDatabase::sqlite());
}

#[test]
fn a_deeply_nested_stored_value_reads_back_and_a_broken_row_is_an_error_on_postgres() {
    stored_rows_are_read_without_panicking(&TestDatabase::postgres());
}

#[test]
fn with_a_trusted_key_only_a_checkpoint_signed_with_it_is_accepted() {
    let database = TestDatabase::sqlite();
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    runtime().block_on(async {
        let store = open_case_store(&database.url, &catalog).await.unwrap();
        newborn_case(&store, "pinned").await;
        store.database().close().await;
    });
    let folder = TempFolder::new("trusted");
    let path = |name: &str| folder.path.join(name).to_str().unwrap().to_string();
    let keygen = |name: &str| {
        let made = cli(&database.url, &["audit", "keygen", "--out", &path(name)]);
        assert_eq!(made.code, 0, "{}", made.stderr);
        made.stdout.trim().to_string()
    };
    let trusted = keygen("trusted.key");
    let other = keygen("other.key");
    assert_eq!(trusted.len(), 64, "keygen prints the public key: {trusted}");
    assert_ne!(trusted, other);
    std::fs::write(path("trusted.pub"), format!("{trusted}\n")).unwrap();
    let checkpoint = |file: &str, key: Option<&str>| {
        let out = path(file);
        let mut args = vec!["audit", "checkpoint", "--out", out.as_str()];
        let key_path = key.map(path);
        if let Some(key) = &key_path {
            args.extend(["--sign-key", key.as_str()]);
        }
        let taken = cli(&database.url, &args);
        assert_eq!(taken.code, 0, "{}", taken.stderr);
    };
    checkpoint("signed.json", Some("trusted.key"));
    checkpoint("other.json", Some("other.key"));
    checkpoint("unsigned.json", None);
    let verify = |file: &str, trusted_key: Option<&str>| {
        let checkpoint = path(file);
        let mut args = vec!["audit", "verify", "--checkpoint", checkpoint.as_str()];
        if let Some(key) = trusted_key {
            args.extend(["--trusted-key", key]);
        }
        cli(&database.url, &args)
    };
    assert_eq!(verify("signed.json", Some(&trusted)).code, 0);
    let from_file = verify("signed.json", Some(&path("trusted.pub")));
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
    let unsigned = verify("unsigned.json", Some(&trusted));
    assert_eq!(unsigned.code, 1);
    assert!(
        unsigned.stderr.contains("the checkpoint is not signed"),
        "{}",
        unsigned.stderr
    );
    let differently = verify("other.json", Some(&trusted));
    assert_eq!(differently.code, 1);
    assert!(
        differently.stderr.contains(&format!(
            "signed with the key {other}, not with the trusted key"
        )),
        "{}",
        differently.stderr
    );
    // Without a trusted key, the file's own key is all there is to check.
    assert_eq!(verify("unsigned.json", None).code, 0);
    assert_eq!(verify("other.json", None).code, 0);
    // The latest stored checkpoint (unsigned here) is held to the key too.
    let stored = cli(
        &database.url,
        &["audit", "verify", "--trusted-key", &trusted],
    );
    assert_eq!(stored.code, 1, "{}", stored.stderr);
}

#[test]
fn the_command_line_records_each_unmasked_read_in_the_access_log() {
    let database = TestDatabase::sqlite();
    let form = onething_tests::test_data().join("forms/newborn.json");
    let opened = cli(
        &database.url,
        &[
            "--now",
            "2026-06-01T09:00:00+08:00",
            "case",
            "open",
            "newborn",
            "--form",
            form.to_str().unwrap(),
            "--as",
            "window",
        ],
    );
    assert_eq!(opened.code, 0, "{}", opened.stderr);
    let case_id = opened.stdout.trim().to_string();
    for args in [
        vec!["case", "show", case_id.as_str()],
        vec!["case", "history", case_id.as_str()],
        vec!["audit", "export", case_id.as_str()],
    ] {
        let run = cli(&database.url, &args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
    let log = cli(
        &database.url,
        &["audit", "access-log", "--case", &case_id, "--json"],
    );
    assert_eq!(log.code, 0, "{}", log.stderr);
    let reads: Vec<Value> = serde_json::from_str(&log.stdout).unwrap();
    let what: Vec<&str> = reads
        .iter()
        .map(|read| read["what"].as_str().unwrap())
        .collect();
    assert_eq!(what, ["show", "history", "export"]);
    assert!(reads
        .iter()
        .all(|read| read["channel"] == "cli" && read["client"] == "cli"));
}
