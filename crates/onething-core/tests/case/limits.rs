//! Promised and statutory limits per step (承诺时限, 法定时限) and the
//! escalation points after the due time (催办, 通报): each warning, overdue
//! mark and escalation recorded once, by the scheduler, from the case's own
//! state (`data_limits_bundle.toml`).

use onething_core::case::*;
use serde_json::json;

use crate::support::*;

fn open_limits() -> CaseCommand {
    command(
        "open",
        agency("window"),
        local(3, 9),
        Action::Open {
            case_id: "L1".into(),
            workflow: "limits".into(),
            form: json!({ "applicant_id": APPLICANT_ID }),
            materials: vec![],
            opted_in: vec![],
            channel: Channel::Window,
        },
    )
}

fn review_of(events: &[CaseEvent]) -> StepRecord {
    state(events).step("review").unwrap().clone()
}

fn statutory_due(events: &[CaseEvent]) -> Option<(String, Option<String>)> {
    review_of(events).statutory.map(|clock| {
        (
            clock.due.to_rfc3339(),
            clock.warn_at.map(|warn_at| warn_at.to_rfc3339()),
        )
    })
}

#[test]
fn a_step_with_both_limits_starts_with_the_promised_and_the_statutory_deadline() {
    let events = history(&[open_limits()]);
    let review = review_of(&events);
    // Promised 2 working days from Tue 3 June: the end of Thu 5, warned at its start.
    assert_eq!(review.due, Some(local(6, 0)));
    assert_eq!(review.warn_at, Some(local(5, 0)));
    // By law 5 working days: the end of Tue 10, warned at its start.
    assert_eq!(
        statutory_due(&events),
        Some((local(11, 0).to_rfc3339(), Some(local(10, 0).to_rfc3339())))
    );
    let activated = events
        .iter()
        .find_map(|event| match &event.change {
            Change::StepActivated {
                step, statutory, ..
            } if step == "review" => Some(statutory.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(activated.map(|s| s.due), Some(local(11, 0)));
}

#[test]
fn a_step_without_a_statutory_limit_records_none_and_keeps_the_old_event_shape() {
    let given = [
        open_limits(),
        complete("c-review", "a", "review", json!({}), local(4, 9)),
    ];
    let events = history(&given);
    let activated = events
        .iter()
        .find(
            |event| matches!(&event.change, Change::StepActivated { step, .. } if step == "decide"),
        )
        .unwrap();
    let json = serde_json::to_value(&activated.change).unwrap();
    assert_eq!(json.get("statutory"), None, "{json}");
    assert_eq!(state(&events).step("decide").unwrap().statutory, None);
}

#[test]
fn the_promise_and_the_law_are_warned_and_marked_overdue_apart_once_each() {
    let mut given = vec![open_limits()];
    let steps = [
        ("t1", local(5, 8), vec!["step_warned review"]),
        ("t2", local(6, 9), vec!["step_overdue review"]),
        ("t3", local(7, 9), vec!["step_escalated review reminder"]),
        ("t4", local(10, 9), vec!["step_statutory_warned review"]),
        ("t5", local(11, 9), vec!["step_statutory_overdue review"]),
        ("t6", local(12, 9), vec![]),
        ("t7", local(13, 9), vec!["step_escalated review criticism"]),
        ("t8", local(20, 9), vec![]),
    ];
    for (id, at, expected) in steps {
        assert_eq!(when(&given, check(id, at)).unwrap(), expected, "{id}");
        given.push(check(id, at));
    }
}

#[test]
fn a_late_check_records_everything_reached_in_order_and_a_second_nothing() {
    let given = [open_limits()];
    assert_eq!(
        when(&given, check("late", local(16, 9))).unwrap(),
        [
            "step_warned review",
            "step_overdue review",
            "step_statutory_warned review",
            "step_statutory_overdue review",
            "step_escalated review reminder",
            "step_escalated review criticism",
        ]
    );
    let checked = [open_limits(), check("late", local(16, 9))];
    assert_eq!(
        when(&checked, check("again", local(16, 10))).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn a_step_without_a_statutory_limit_is_never_overdue_against_the_law_and_escalates_on_its_own_points(
) {
    let given = [
        open_limits(),
        complete("c-review", "a", "review", json!({}), local(4, 9)),
    ];
    // Decide: 24 hours from Wed 4 09:00, its own urgent reminder 2 hours after.
    assert_eq!(
        when(&given, check("t", local(5, 10))).unwrap(),
        ["step_overdue decide"]
    );
    assert_eq!(
        when(&given, check("t", local(5, 11))).unwrap(),
        [
            "step_overdue decide",
            "step_escalated decide urgent_reminder"
        ]
    );
}

#[test]
fn a_step_that_declares_no_escalation_takes_none_of_the_bundle_s() {
    let given = [
        open_limits(),
        complete("c-review", "a", "review", json!({}), local(4, 9)),
        complete("c-decide", "b", "decide", json!({}), local(4, 10)),
    ];
    assert_eq!(
        when(&given, check("t", local(30, 9))).unwrap(),
        ["step_overdue deliver"]
    );
}

#[test]
fn a_paused_step_reaches_no_escalation_and_its_supplement_moves_both_deadlines() {
    let paused = [
        open_limits(),
        command(
            "s",
            agency("a"),
            local(4, 9),
            Action::RequestSupplement {
                step: "review".into(),
                items: vec!["applicant_id".into()],
                reason: "unreadable".into(),
            },
        ),
    ];
    assert_eq!(
        when(&paused, check("t", local(16, 9))).unwrap(),
        Vec::<String>::new()
    );
    // Paused from Wed 4 to Mon 9: the same three working days are given
    // back to the promise (due the end of Tue 10, not Thu 5) and the law
    // (the end of Fri 13, not Tue 10).
    let mut resumed = paused.to_vec();
    resumed.push(command(
        "sup",
        applicant(),
        local(9, 9),
        Action::Supplement {
            items: [("applicant_id".to_string(), json!(APPLICANT_ID))]
                .into_iter()
                .collect(),
            materials: vec![],
        },
    ));
    let events = history(&resumed);
    assert_eq!(review_of(&events).due, Some(local(11, 0)));
    assert_eq!(
        statutory_due(&events),
        Some((local(14, 0).to_rfc3339(), Some(local(13, 0).to_rfc3339())))
    );
}

#[test]
fn an_extension_moves_the_statutory_deadline_on_by_the_same_length() {
    let given = [
        open_limits(),
        command(
            "x",
            agency("a"),
            local(4, 9),
            Action::Extend {
                step: "review".into(),
                length: None,
                reason: "the head approved".into(),
            },
        ),
    ];
    let events = history(&given);
    assert_eq!(review_of(&events).due, Some(local(10, 0)));
    assert_eq!(
        statutory_due(&events),
        Some((local(13, 0).to_rfc3339(), Some(local(12, 0).to_rfc3339())))
    );
}

#[test]
fn a_return_by_another_agency_starts_a_new_pass_with_its_escalations_to_reach_again() {
    let escalated = [
        open_limits(),
        check("t", local(7, 9)),
        complete("c-review", "a", "review", json!({}), local(9, 9)),
        command(
            "r",
            agency("b"),
            local(9, 10),
            Action::Return {
                step: "decide".into(),
                to: "review".into(),
                reason: "incomplete".into(),
            },
        ),
    ];
    let events = history(&escalated);
    let review = review_of(&events);
    assert!(review.escalations.is_empty() && !review.overdue);
    assert_eq!(
        review.statutory.as_ref().map(|clock| clock.overdue),
        Some(false)
    );
    // The new pass: promised by the end of Wed 11, reminded a working day after.
    assert_eq!(
        when(&escalated, check("t2", local(12, 9))).unwrap(),
        ["step_warned review", "step_overdue review"]
    );
    assert_eq!(
        when(&escalated, check("t2", local(13, 9))).unwrap(),
        [
            "step_warned review",
            "step_overdue review",
            "step_escalated review reminder"
        ]
    );
}

#[test]
fn only_the_scheduler_checks_deadlines() {
    for actor in [agency("a"), agency("window"), applicant()] {
        then_refused(
            &[open_limits()],
            command("t", actor.clone(), local(16, 9), Action::CheckDeadlines),
            CaseError::Forbidden {
                actor: actor.to_string(),
                action: "check_deadlines".into(),
                reason: "deadlines are checked by the scheduler".into(),
            },
        );
    }
}

#[test]
fn the_view_and_the_statistics_show_both_limits_and_the_escalations() {
    let library = library();
    let definition = library.current_at("limits", local(3, 9)).unwrap();
    let late = history(&[open_limits(), check("late", local(16, 9))]);
    let view = view_file(&state(&late), Some(&definition), Disclosure::Full);
    let review = &view.steps[0];
    assert!(review.overdue);
    assert!(review.statutory.as_ref().unwrap().overdue);
    assert_eq!(
        review
            .escalations
            .iter()
            .map(|reached| (reached.id.as_str(), reached.name.zh.as_str(), reached.at))
            .collect::<Vec<_>>(),
        [
            ("reminder", "催办", local(16, 9)),
            ("criticism", "通报", local(16, 9))
        ]
    );
    assert!(view.is_statutory_overdue());

    // Ended: one case past the promise but within the law, one past both.
    let within_law = history(&[
        open_limits(),
        check("t", local(7, 9)),
        complete("c-review", "a", "review", json!({}), local(9, 9)),
        complete("c-decide", "b", "decide", json!({}), local(9, 10)),
        complete("c-deliver", "window", "deliver", json!({}), local(9, 11)),
    ]);
    let past_law = history(&[
        open_limits(),
        check("t", local(16, 9)),
        complete("c-review", "a", "review", json!({}), local(16, 10)),
        complete("c-decide", "b", "decide", json!({}), local(16, 11)),
        complete("c-deliver", "window", "deliver", json!({}), local(16, 12)),
    ]);
    let views: Vec<CaseView> = [&late, &within_law, &past_law]
        .iter()
        .map(|events| view_file(&state(events), Some(&definition), Disclosure::Full))
        .collect();
    let figures = statistics(&views, Some(&definition), None);
    assert_eq!(figures.overdue_now, 1);
    assert_eq!(figures.statutory_overdue_now, 1);
    assert_eq!(figures.on_time_rate, Some(0.0));
    assert_eq!(figures.statutory_on_time_rate, Some(0.5));
    assert_eq!(figures.statutory_overdue_ended, 1);
    assert_eq!(figures.escalated_cases, 3);
    assert_eq!(figures.escalations.get("reminder"), Some(&3));
    assert_eq!(figures.escalations.get("criticism"), Some(&2));

    // Against the old way (3 applications, 4 materials, 3 trips, 20 working
    // days), by hand: the two completed cases each made one application at
    // the window (one trip) with no material handed over, and took
    // [June 3, June 9) = 4 and [June 3, June 16) = 9 working days.
    let calendar = library.calendar("cn").unwrap();
    let savings = statistics(&views, Some(&definition), Some(&calendar))
        .savings
        .unwrap();
    assert_eq!(savings.completed, 2);
    assert_eq!(savings.source, "测试用改革前数据");
    let compared: Vec<_> = savings
        .figures
        .iter()
        .map(|s| (s.figure, s.before, s.after, s.saved))
        .collect();
    assert_eq!(
        compared,
        [
            ("applications", 3, Some(1.0), 4),
            ("materials", 4, Some(0.0), 8),
            ("trips", 3, Some(1.0), 4),
            ("working_days", 20, Some(6.5), 27),
        ]
    );
}

#[test]
fn a_baseline_compares_only_the_figures_it_gives_and_says_so_without_completed_cases() {
    let baseline = onething_core::workflow::BeforeReform {
        applications: None,
        materials: Some(9),
        trips: None,
        working_days: Some(32),
        source: "某省通报".into(),
    };
    let none = savings(&baseline, CompletedTotals::default());
    let compared: Vec<_> = none
        .figures
        .iter()
        .map(|s| (s.figure, s.before, s.after, s.saved))
        .collect();
    assert_eq!(
        compared,
        [("materials", 9, None, 0), ("working_days", 32, None, 0)]
    );
    // A case that took longer than the old way saves a negative amount.
    let slow = savings(
        &baseline,
        CompletedTotals {
            cases: 1,
            materials_submitted: 2,
            trips_made: 1,
            working_days_total: 40,
            working_days_counted: 1,
        },
    );
    assert_eq!(slow.figures[1].saved, -8);
    assert_eq!(slow.figures[0].saved, 7);
}

#[test]
fn the_history_names_the_statutory_limit_and_each_escalation() {
    let late = history(&[open_limits(), check("late", local(16, 9))]);
    let lines: Vec<String> = late
        .iter()
        .map(|event| describe(&event.change, None, None).zh)
        .collect();
    assert!(
        lines.iter().any(|line| line.contains("法定时限至")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"超过法定时限：review".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"通报：review（已超期）".to_string()),
        "{lines:?}"
    );
}
