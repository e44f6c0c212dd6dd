//! Answering a supervision notice (督办通知) over the API: the step's agency
//! only, once per notice, with its answer in the case resource.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onething_core::case::{case_id_for, Action, Actor, CaseCommand, SUPERVISION_AGENCY};
use serde_json::json;

use crate::support::{app_at, get, newborn_form, sequence, step};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn the_steps_agency_answers_a_supervision_notice_once_and_no_one_else_may() {
    let (app, state) = app_at("2026-06-20T09:00:00+08:00").await;
    let case = case_id_for("supervised-open");
    let window = Actor::Agency {
        agency: "window".into(),
        operator: None,
    };
    let commands = [
        (
            "supervised-open",
            window,
            "2026-06-01T09:00:00+08:00",
            Action::Open {
                case_id: case.clone(),
                workflow: "newborn".into(),
                form: newborn_form(),
                materials: vec![],
                opted_in: vec![],
                channel: Default::default(),
            },
        ),
        (
            "supervised-check",
            Actor::System,
            "2026-06-10T09:00:00+08:00",
            Action::CheckDeadlines,
        ),
        (
            "supervised-notice",
            Actor::Agency {
                agency: SUPERVISION_AGENCY.into(),
                operator: Some("宋监察".into()),
            },
            "2026-06-10T10:00:00+08:00",
            Action::Supervise {
                step: "birth_certificate".into(),
                notice: "请说明超期原因".into(),
            },
        ),
    ];
    for (id, actor, time, action) in commands {
        state
            .store
            .execute(
                &case,
                CaseCommand {
                    command_id: id.into(),
                    actor,
                    at: at(time),
                    action,
                },
            )
            .await
            .unwrap();
    }
    let before = sequence(&state, &case).await;
    let by_police = step(&case, "birth_certificate", "supervision-answer")
        .as_("police")
        .json(json!({"answer": "不是本单位的环节"}))
        .send(&app)
        .await;
    assert_eq!(
        by_police.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_police.text
    );
    let unknown_field = step(&case, "birth_certificate", "supervision-answer")
        .as_("hospital")
        .json(json!({"reason": "已办"}))
        .send(&app)
        .await;
    assert_eq!(
        unknown_field.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unknown_field.text
    );
    assert_eq!(sequence(&state, &case).await, before, "nothing stored");
    let answered = step(&case, "birth_certificate", "supervision-answer")
        .as_("hospital")
        .json(json!({"answer": "系统故障已修复，今日签发"}))
        .send(&app)
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text);
    assert_eq!(answered.json["events"][0]["type"], "supervision_answered");
    let again = step(&case, "birth_certificate", "supervision-answer")
        .as_("hospital")
        .json(json!({"answer": "再次反馈"}))
        .send(&app)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    let resource = get(format!("/api/v1/cases/{case}"))
        .as_("hospital")
        .send(&app)
        .await;
    let notice = &resource.json["supervision"][0];
    assert_eq!(notice["step"], "birth_certificate");
    assert_eq!(notice["notice"], "请说明超期原因");
    assert_eq!(notice["answer"], "系统故障已修复，今日签发");
    assert_eq!(notice["answered_at"], "2026-06-20T01:00:00Z");
}
