//! Commands stamped by the server's clock and racing on one case: the one
//! whose time was read first may commit second. It is then taken at the
//! later event's time, not refused as dated in the past (found by
//! `scripts/torture` under load); a time given by hand still is refused.

mod common;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use onething_core::case::{case_id_for, Action, Actor, CaseCommand, CaseError};
use onething_store::workflow_files::Catalog;
use onething_store::{open_case_store, Attribution, CommandError};
use serde_json::json;

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-06-01T09:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::seconds(seconds)
}

fn command(id: &str, actor: Actor, seconds: i64, action: Action) -> CaseCommand {
    CaseCommand {
        command_id: id.into(),
        actor,
        at: at(seconds),
        action,
    }
}

#[tokio::test]
async fn a_clock_stamped_command_that_lost_a_race_is_taken_at_the_later_time_and_a_given_time_is_refused(
) {
    let catalog =
        Catalog::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows")).unwrap();
    let store = open_case_store("sqlite::memory:", &catalog).await.unwrap();
    let case_id = case_id_for("race-open");
    let open = common::open_newborn(&case_id);
    store
        .execute(&case_id, command("race-open", agency("window"), 0, open))
        .await
        .unwrap();
    // The hospital's command commits at +10 s …
    let hospital = Action::Complete {
        step: "birth_certificate".into(),
        outputs: json!({"certificate_number": "Q1"}),
    };
    store
        .execute(
            &case_id,
            command("race-hospital", agency("hospital"), 10, hospital),
        )
        .await
        .unwrap();
    // … while the CDC's, read from the clock at +9 s, arrives after it.
    let cdc = || Action::Complete {
        step: "vaccination_card".into(),
        outputs: json!({"card_number": "V1"}),
    };
    let clock = Attribution {
        channel: "api".into(),
        clock_time: true,
        ..Attribution::default()
    };
    let taken = store
        .execute_with(
            &case_id,
            command("race-cdc", agency("cdc"), 9, cdc()),
            &clock,
        )
        .await
        .unwrap();
    assert!(taken
        .appended
        .iter()
        .all(|stored| stored.event.at == at(10)));

    // A time given by hand, earlier than the last event, is refused.
    let given = Attribution {
        channel: "cli".into(),
        ..Attribution::default()
    };
    let police = Action::Complete {
        step: "household_registration".into(),
        outputs: json!({"child_id": "440304202605301230"}),
    };
    let refused = store
        .execute_with(
            &case_id,
            command("late-police", agency("police"), 5, police),
            &given,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            CommandError::Refused(CaseError::BeforeLastEvent { .. })
        ),
        "{refused:?}"
    );
}
