//! Deadlines: warnings and overdue marks, once each, and materials promised
//! but not supplied in time.

use onething_core::case::*;

use crate::support::*;

#[test]
fn deadlines_warn_once_and_mark_overdue_once() {
    assert_eq!(
        when(&[open(1)], check("t1", local(4, 23))).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        when(&[open(1)], check("t1", local(5, 8))).unwrap(),
        ["step_warned intake"]
    );
    let warned = [open(1), check("t1", local(5, 8))];
    assert_eq!(
        when(&warned, check("t2", local(5, 9))).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        when(&warned, check("t2", local(6, 9))).unwrap(),
        ["step_overdue intake"]
    );
    let overdue = [open(1), check("t1", local(5, 8)), check("t2", local(6, 9))];
    assert_eq!(
        when(&overdue, check("t3", local(7, 9))).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn a_paused_step_is_not_overdue() {
    let given = [open(1), request_supplement(local(3, 10))];
    assert_eq!(
        when(&given, check("t", local(20, 9))).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn a_promised_material_not_supplied_in_time_ends_the_case() {
    let opening = open_with(
        1,
        &[],
        vec![
            MaterialDeclaration {
                material: "contract".into(),
                provision: MaterialProvision::Promised {
                    deadline: local(5, 18),
                },
            },
            submitted("permit"),
        ],
    );
    assert_eq!(
        when(std::slice::from_ref(&opening), check("t", local(5, 19))).unwrap(),
        [
            "step_warned intake",
            "material_deadline_missed contract",
            "step_cancelled intake Terminated",
            "step_cancelled left Terminated",
            "step_cancelled right Terminated",
            "step_cancelled extra Terminated",
            "step_cancelled pay Terminated",
            "step_cancelled finish Terminated",
            "step_cancelled fast Terminated",
            "step_cancelled slow Terminated",
            "case_ended Terminated delivered [] not [left_licence,right_licence,certificate]",
        ]
    );
    let supplied = command(
        "sup",
        applicant(),
        local(4, 9),
        Action::Supplement {
            items: Default::default(),
            materials: vec!["contract".into()],
        },
    );
    assert!(when(
        &[opening.clone(), supplied.clone()],
        check("t", local(5, 19))
    )
    .unwrap()
    .iter()
    .all(|e| !e.contains("missed")));
}
