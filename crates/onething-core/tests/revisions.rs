//! Given / when / then for provisional calendar years and the revision of
//! running deadlines when the official holiday table arrives.
//!
//! The test bundle's intake step has 5 working days for a price of a
//! million or more, warned 2 working days ahead; a case opened on Monday
//! 2026-12-28 runs into 2027, which the shipped calendar has only as a
//! provisional year. The "official" 2027 table of these tests adds 2027-01-04
//! as a day off (a made-up notice: the real one is not published yet).

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use onething_core::case::*;
use onething_core::registry::Registry;
use onething_core::workflow::parse_workflow;
use serde_json::json;

mod common;
use common::AGENCIES;

const OFFICIAL_2027: &str = "[years.2027]
source = \"a test notice\"
holidays = [2027-01-01, 2027-01-02, 2027-01-03, 2027-01-04]
workdays = []

[provisional]";

fn library(official_2027: bool) -> Arc<Library> {
    let shipped = include_str!("../../../workflows/calendars/cn.toml");
    let calendar = if official_2027 {
        shipped.replacen("[provisional]", OFFICIAL_2027, 1)
    } else {
        shipped.to_string()
    };
    let mut registry = Registry::default();
    registry.add_agencies(AGENCIES).unwrap();
    registry.add_calendar(&calendar).unwrap();
    let definition = parse_workflow(include_str!("data_test_bundle.toml"), &registry).unwrap();
    let limits = parse_workflow(include_str!("data_limits_bundle.toml"), &registry).unwrap();
    let library = Library::new();
    library.install(
        vec![definition, limits],
        vec![registry.calendars["cn"].clone()],
    );
    Arc::new(library)
}

/// A local (UTC+8) time.
fn local(year: i32, month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(year, month, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

fn command(id: &str, actor: Actor, at: DateTime<Utc>, action: Action) -> CaseCommand {
    CaseCommand {
        command_id: id.into(),
        actor,
        at,
        action,
    }
}

fn open_at(at: DateTime<Utc>) -> CaseCommand {
    command(
        "open",
        agency("window"),
        at,
        Action::Open {
            case_id: "C1".into(),
            workflow: "test".into(),
            form: json!({ "applicant_id": "11010519491231002X", "price": 2_000_000 }),
            materials: vec![
                MaterialDeclaration {
                    material: "contract".into(),
                    provision: MaterialProvision::Submitted,
                },
                MaterialDeclaration {
                    material: "permit".into(),
                    provision: MaterialProvision::Submitted,
                },
            ],
            opted_in: vec![],
            channel: Channel::Window,
        },
    )
}

fn revise(id: &str, at: DateTime<Utc>) -> CaseCommand {
    command(
        id,
        Actor::System,
        at,
        Action::ReviseDeadlines {
            reason: "calendar `cn`: the official table for 2027 replaces the provisional year"
                .into(),
        },
    )
}

/// Applies accepted commands on `library`; panics on a refusal.
fn run(library: &Library, case: &mut Case, commands: &[CaseCommand]) -> Vec<CaseEvent> {
    let mut all = Vec::new();
    for command in commands {
        let events = decide_with_library(case, library, command)
            .unwrap_or_else(|error| panic!("{} was refused: {error}", command.command_id));
        for event in events {
            case.apply_event(event.clone());
            all.push(event);
        }
    }
    all
}

fn step_revisions(events: &[CaseEvent]) -> usize {
    events
        .iter()
        .filter(|event| matches!(event.change, Change::DeadlineRevised { .. }))
        .count()
}

fn intake(case: &Case) -> &StepRecord {
    case.file().unwrap().step("intake").unwrap()
}

#[test]
fn a_step_counted_into_a_year_without_a_notice_is_marked_provisional() {
    let provisional = library(false);
    let mut case = Case::default();
    let events = run(&provisional, &mut case, &[open_at(local(2026, 12, 28, 10))]);
    let activated = events
        .iter()
        .find_map(|event| match &event.change {
            Change::StepActivated {
                step,
                due,
                warn_at,
                provisional_years,
                ..
            } if step == "intake" => Some((*due, *warn_at, provisional_years.clone())),
            _ => None,
        })
        .expect("intake starts");
    // 12-29, 12-30, 12-31, (01-01 New Year's Day, weekend), 01-04, 01-05.
    assert_eq!(
        activated,
        (
            Some(local(2027, 1, 6, 0)),
            Some(local(2027, 1, 4, 0)),
            vec![2027]
        )
    );
    let shown = view(&case, None, Disclosure::Full).unwrap();
    let step = shown.steps.iter().find(|s| s.id == "intake").unwrap();
    assert!(step.provisional);
    assert_eq!(step.provisional_years, vec![2027]);
    let text = describe(
        &events[1].change,
        None,
        provisional.calendar("cn").as_deref(),
    );
    assert!(text.zh.contains("暂定：2027年"), "{}", text.zh);
    assert!(text.en.contains("provisional"), "{}", text.en);
}

#[test]
fn the_official_table_revises_a_running_step_once() {
    let mut case = Case::default();
    run(
        &library(false),
        &mut case,
        &[open_at(local(2026, 12, 28, 10))],
    );
    let official = library(true);
    let events = run(
        &official,
        &mut case,
        &[revise("revise-1", local(2026, 12, 29, 9))],
    );
    let revisions: Vec<_> = events
        .iter()
        .filter(|event| !matches!(event.change, Change::PromiseRevised { .. }))
        .map(|event| match &event.change {
            Change::DeadlineRevised {
                step,
                previous_due,
                due,
                previous_warn_at,
                warn_at,
                provisional_years,
                overdue_cleared,
                ..
            } => (
                step.clone(),
                *previous_due,
                *due,
                *previous_warn_at,
                *warn_at,
                provisional_years.clone(),
                *overdue_cleared,
            ),
            other => panic!("only revisions, not {other:?}"),
        })
        .collect();
    // 01-04 is now a day off: the fourth and fifth working days are 01-05 and 01-06.
    assert_eq!(
        revisions,
        vec![(
            "intake".to_string(),
            Some(local(2027, 1, 6, 0)),
            Some(local(2027, 1, 7, 0)),
            Some(local(2027, 1, 4, 0)),
            Some(local(2027, 1, 5, 0)),
            vec![],
            false
        )]
    );
    assert_eq!(events[0].actor, Actor::System);
    assert_eq!(intake(&case).due, Some(local(2027, 1, 7, 0)));
    assert!(intake(&case).provisional_years.is_empty());
    // The same run again, or another run: nothing left to revise.
    assert!(run(
        &official,
        &mut case,
        &[revise("revise-1", local(2026, 12, 29, 9))]
    )
    .is_empty());
    assert!(run(
        &official,
        &mut case,
        &[revise("revise-2", local(2026, 12, 29, 10))]
    )
    .is_empty());
}

#[test]
fn the_promised_date_of_the_case_is_revised_with_its_steps() {
    let mut case = Case::default();
    run(
        &library(false),
        &mut case,
        &[open_at(local(2026, 12, 28, 10))],
    );
    let file = case.file().unwrap();
    // Ten working days: 12-29 to 12-31, then 01-04 to 01-08 and 01-11, 01-12.
    assert_eq!(file.promised_by, Some(local(2027, 1, 13, 0)));
    assert_eq!(file.promise_provisional_years, vec![2027]);
    let events = run(
        &library(true),
        &mut case,
        &[revise("revise-1", local(2026, 12, 29, 9))],
    );
    let promise = events
        .iter()
        .find_map(|event| match &event.change {
            Change::PromiseRevised {
                previous,
                promised_by,
                provisional_years,
                ..
            } => Some((*previous, *promised_by, provisional_years.clone())),
            _ => None,
        })
        .expect("the promise is revised");
    assert_eq!(
        promise,
        (
            Some(local(2027, 1, 13, 0)),
            Some(local(2027, 1, 14, 0)),
            vec![]
        )
    );
}

#[test]
fn a_server_with_the_old_calendar_does_not_undo_a_revision() {
    let mut case = Case::default();
    run(
        &library(false),
        &mut case,
        &[open_at(local(2026, 12, 28, 10))],
    );
    run(
        &library(true),
        &mut case,
        &[revise("revise-1", local(2026, 12, 29, 9))],
    );
    let stale = run(
        &library(false),
        &mut case,
        &[revise("revise-2", local(2026, 12, 29, 10))],
    );
    assert!(stale.is_empty(), "{stale:?}");
    assert_eq!(intake(&case).due, Some(local(2027, 1, 7, 0)));
}

#[test]
fn a_paused_step_is_revised_from_its_start_and_resumes_from_the_revised_time() {
    let provisional = library(false);
    let mut case = Case::default();
    run(
        &provisional,
        &mut case,
        &[
            open_at(local(2026, 12, 28, 10)),
            command(
                "ask",
                agency("a"),
                local(2026, 12, 29, 10),
                Action::RequestSupplement {
                    step: "intake".into(),
                    items: vec!["contract".into()],
                    reason: "unreadable".into(),
                },
            ),
        ],
    );
    let official = library(true);
    let events = run(
        &official,
        &mut case,
        &[revise("revise-1", local(2026, 12, 30, 9))],
    );
    assert_eq!(step_revisions(&events), 1);
    assert_eq!(intake(&case).state, StepState::Paused);
    assert_eq!(intake(&case).due, Some(local(2027, 1, 7, 0)));
    // The applicant answers on 12-31: 12-29 and 12-30 (two working days) are
    // given back after the revised last day 01-06: 01-07 and 01-08.
    run(
        &official,
        &mut case,
        &[command(
            "supply",
            Actor::Applicant { id: None },
            local(2026, 12, 31, 10),
            Action::Supplement {
                items: serde_json::Map::from_iter([("contract".to_string(), json!("ok"))]),
                materials: vec![],
            },
        )],
    );
    assert_eq!(intake(&case).state, StepState::Active);
    assert_eq!(intake(&case).due, Some(local(2027, 1, 9, 0)));
}

#[test]
fn an_overdue_step_that_the_revision_gives_more_time_is_no_longer_overdue() {
    let provisional = library(false);
    let mut case = Case::default();
    run(
        &provisional,
        &mut case,
        &[
            open_at(local(2026, 12, 28, 10)),
            command(
                "tick",
                Actor::System,
                local(2027, 1, 6, 8),
                Action::CheckDeadlines,
            ),
        ],
    );
    assert!(intake(&case).overdue && intake(&case).warned);
    let events = run(
        &library(true),
        &mut case,
        &[revise("revise-1", local(2027, 1, 6, 9))],
    );
    match &events[0].change {
        Change::DeadlineRevised {
            overdue_cleared,
            warning_cleared,
            ..
        } => assert!(*overdue_cleared && !*warning_cleared),
        other => panic!("{other:?}"),
    }
    assert!(!intake(&case).overdue, "due 01-07 now");
    assert!(intake(&case).warned, "the warning point 01-05 has passed");
}

#[test]
fn a_finished_step_is_never_revised() {
    let provisional = library(false);
    let mut case = Case::default();
    run(
        &provisional,
        &mut case,
        &[
            open_at(local(2026, 12, 28, 10)),
            command(
                "done",
                agency("a"),
                local(2026, 12, 29, 10),
                Action::Complete {
                    step: "intake".into(),
                    outputs: json!({ "number": "N1" }),
                },
            ),
        ],
    );
    let before = intake(&case).clone();
    let events = run(
        &library(true),
        &mut case,
        &[revise("revise-1", local(2026, 12, 30, 9))],
    );
    assert_eq!(step_revisions(&events), 0, "{events:?}");
    assert_eq!(intake(&case), &before);
}

#[test]
fn only_the_scheduler_revises_deadlines() {
    let mut case = Case::default();
    run(
        &library(false),
        &mut case,
        &[open_at(local(2026, 12, 28, 10))],
    );
    let mut by_agency = revise("revise-1", local(2026, 12, 29, 9));
    by_agency.actor = agency("a");
    let refused = decide_with_library(&case, &library(true), &by_agency);
    assert!(
        matches!(&refused, Err(CaseError::Forbidden { action, .. }) if action == "revise_deadlines"),
        "{refused:?}"
    );
}

#[test]
fn a_case_opens_in_2027_and_in_2030_on_the_shipped_calendar() {
    let library = library(false);
    let shipped_newborn = {
        let mut registry = Registry::default();
        registry
            .add_agencies(include_str!("../../../workflows/agencies.toml"))
            .unwrap();
        registry
            .add_calendar(include_str!("../../../workflows/calendars/cn.toml"))
            .unwrap();
        parse_workflow(include_str!("../../../workflows/newborn.toml"), &registry).unwrap()
    };
    library.set_current(shipped_newborn);
    for at in [local(2027, 6, 1, 9), local(2030, 1, 15, 9)] {
        let mut case = Case::default();
        let opened = command(
            "open",
            agency("window"),
            at,
            Action::Open {
                case_id: "C1".into(),
                workflow: "newborn".into(),
                form: serde_json::from_str(include_str!("../../../tests/data/forms/newborn.json"))
                    .unwrap(),
                materials: vec![],
                opted_in: vec![],
                channel: Channel::Window,
            },
        );
        let events = decide_with_library(&case, &library, &opened)
            .unwrap_or_else(|error| panic!("open at {at}: {error}"));
        for event in events {
            case.apply_event(event);
        }
        let running = case
            .file()
            .unwrap()
            .steps
            .iter()
            .find(|step| step.state == StepState::Active)
            .expect("a first step runs");
        assert!(
            !running.provisional_years.is_empty(),
            "counted on a provisional year"
        );
    }
}

fn open_limits_at(at: DateTime<Utc>) -> CaseCommand {
    command(
        "open",
        agency("window"),
        at,
        Action::Open {
            case_id: "L1".into(),
            workflow: "limits".into(),
            form: json!({ "applicant_id": "11010519491231002X" }),
            materials: vec![],
            opted_in: vec![],
            channel: Channel::Window,
        },
    )
}

/// Review, opened Monday 2026-12-28: promised in 2 working days (the end of
/// Wed 30, before 2027), by law in 5 — on the provisional 2027 the end of
/// Tue 01-05, on the official table (01-04 a day off) the end of Wed 01-06;
/// its notice of criticism, 5 working days after the promise, at the end of
/// Thu 01-07, officially of Fri 01-08. A revision moves the law's deadline
/// alone, and clears the marks it puts ahead again.
#[test]
fn a_revision_moves_the_statutory_deadline_and_clears_the_marks_it_puts_ahead() {
    let provisional = library(false);
    let official = library(true);
    let tick = |id: &str, at| command(id, Actor::System, at, Action::CheckDeadlines);
    let review = |case: &Case| case.file().unwrap().step("review").unwrap().clone();
    let reached = |case: &Case| -> Vec<String> {
        review(case).escalations.into_iter().map(|r| r.id).collect()
    };
    let revision = |events: &[CaseEvent]| {
        events
            .iter()
            .find_map(|event| match &event.change {
                Change::DeadlineRevised {
                    step,
                    statutory,
                    statutory_overdue_cleared,
                    escalations_cleared,
                    previous_due,
                    due,
                    ..
                } if step == "review" => Some((
                    statutory.as_ref().map(|s| s.due),
                    *statutory_overdue_cleared,
                    escalations_cleared.clone(),
                    *previous_due == *due,
                )),
                _ => None,
            })
            .expect("the review's deadline is revised")
    };

    // Past the law by the provisional count only: the revision clears it.
    let mut case = Case::default();
    let checked = run(
        &provisional,
        &mut case,
        &[
            open_limits_at(local(2026, 12, 28, 10)),
            tick("tick", local(2027, 1, 6, 8)),
        ],
    );
    let clock = review(&case).statutory.unwrap();
    assert_eq!(
        (clock.due, clock.provisional_years, clock.overdue),
        (local(2027, 1, 6, 0), vec![2027], true)
    );
    assert!(checked.iter().any(
        |event| matches!(&event.change, Change::StepStatutoryOverdue { step } if step == "review")
    ));
    assert_eq!(reached(&case), ["reminder"]);
    let revised = run(
        &official,
        &mut case,
        &[revise("revise", local(2027, 1, 6, 9))],
    );
    assert_eq!(
        revision(&revised),
        (Some(local(2027, 1, 7, 0)), true, vec![], true),
        "the law's deadline moves, the promise does not"
    );
    assert!(!review(&case).statutory.unwrap().overdue);
    let again = run(
        &official,
        &mut case,
        &[tick("tick-again", local(2027, 1, 7, 9))],
    );
    let names: Vec<&str> = again.iter().map(|event| event.change.name()).collect();
    assert_eq!(names, ["step_statutory_overdue"]);

    // A notice of criticism reached by the provisional count only: cleared,
    // and reached again at its official time, once.
    let mut case = Case::default();
    run(
        &provisional,
        &mut case,
        &[
            open_limits_at(local(2026, 12, 28, 10)),
            tick("tick", local(2027, 1, 8, 1)),
        ],
    );
    assert_eq!(reached(&case), ["reminder", "criticism"]);
    let revised = run(
        &official,
        &mut case,
        &[revise("revise", local(2027, 1, 8, 2))],
    );
    assert_eq!(
        revision(&revised),
        (
            Some(local(2027, 1, 7, 0)),
            false,
            vec!["criticism".to_string()],
            true
        )
    );
    assert_eq!(reached(&case), ["reminder"]);
    assert!(run(
        &official,
        &mut case,
        &[tick("tick-early", local(2027, 1, 8, 9))]
    )
    .is_empty());
    let again = run(
        &official,
        &mut case,
        &[tick("tick-again", local(2027, 1, 9, 9))],
    );
    let names: Vec<&str> = again.iter().map(|event| event.change.name()).collect();
    assert_eq!(names, ["step_escalated"]);
    assert!(run(
        &official,
        &mut case,
        &[tick("tick-more", local(2027, 1, 9, 10))]
    )
    .is_empty());
}
