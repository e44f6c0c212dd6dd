//! The task list shows a step's statutory limit (法定时限) and the escalation
//! points it reached, written with the events and rebuilt from them alike.

mod common;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use onething_core::calendar::{TimeSpan, TimeUnit};
use onething_core::case::{case_id_for, Action, Actor, CaseCommand};
use onething_core::localized::Localized;
use onething_core::workflow::Escalation;
use onething_store::workflow_files::Catalog;
use onething_store::{open_case_store, views};

fn local(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn working_days(amount: u32) -> TimeSpan {
    TimeSpan {
        amount,
        unit: TimeUnit::WorkingDays,
    }
}

/// The shipped folder, with the newborn bundle's first step (the hospital's,
/// promised in 1 working day) given 3 by law and a reminder a working day
/// after its due time.
fn catalog() -> Catalog {
    let mut catalog =
        Catalog::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows")).unwrap();
    for definition in &mut catalog.versions {
        if definition.id != "newborn" {
            continue;
        }
        let step = definition
            .steps
            .iter_mut()
            .find(|step| step.id == "birth_certificate")
            .unwrap();
        step.statutory_limit = Some(working_days(3));
        step.escalations = vec![Escalation {
            id: "reminder".into(),
            name: Localized {
                zh: "催办".into(),
                en: "Reminder".into(),
            },
            after_due: working_days(1),
        }];
        definition.hash = definition.content_hash();
    }
    catalog
}

#[tokio::test]
async fn the_task_list_shows_the_statutory_due_time_its_mark_and_the_escalations() {
    let store = open_case_store("sqlite::memory:", &catalog())
        .await
        .unwrap();
    let case_id = case_id_for("limits-open");
    let open = common::open_newborn(&case_id);
    let command = |id: &str, actor: Actor, at: &str, action: Action| CaseCommand {
        command_id: id.into(),
        actor,
        at: local(at),
        action,
    };
    store
        .execute(
            &case_id,
            command(
                "limits-open",
                Actor::Agency {
                    agency: "window".into(),
                    operator: None,
                },
                "2026-06-01T09:00:00+08:00",
                open,
            ),
        )
        .await
        .unwrap();
    let task = || async {
        views::agency_tasks(store.database(), "hospital", 10, 0)
            .await
            .unwrap()
            .into_iter()
            .find(|task| task.step == "birth_certificate")
            .unwrap()
    };
    let started = task().await;
    // Monday 1 June: promised by the end of Tuesday, by law of Thursday.
    assert_eq!(started.due, Some(local("2026-06-03T00:00:00+08:00")));
    assert_eq!(
        started.statutory_due,
        Some(local("2026-06-05T00:00:00+08:00"))
    );
    assert!(!started.statutory_overdue && started.escalations.is_empty());

    store
        .execute(
            &case_id,
            command(
                "limits-tick",
                Actor::System,
                "2026-06-08T09:00:00+08:00",
                Action::CheckDeadlines,
            ),
        )
        .await
        .unwrap();
    let checked = task().await;
    assert!(checked.overdue && checked.statutory_overdue);
    assert_eq!(checked.escalations, ["reminder"]);

    let report = views::rebuild(&store, true, &mut |_| {}).await.unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
}
