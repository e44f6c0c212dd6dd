//! Opening, reading and listing cases: the case view, its history, the case
//! at an earlier event, the lists and their filters, ID numbers masked.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{app, get, newborn_with_birth_certificate, open, open_newborn, step};

#[tokio::test]
async fn opening_a_case_answers_201_with_its_location_and_its_open_state() {
    let (app, _) = app().await;
    let first = open_newborn().idempotency_key("open-1").send(&app).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let case = first.json["case_id"].as_str().unwrap().to_string();
    assert_eq!(
        first.headers["location"],
        format!("/api/v1/cases/{case}").as_str()
    );
    assert_eq!(first.json["already_applied"], false);
    assert_eq!(first.json["case"]["status"], "open");
}

#[tokio::test]
async fn an_agency_of_the_case_reads_it_to_its_last_event_with_the_full_id_number() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "read-1").await;
    let shown = get(format!("/api/v1/cases/{case}"))
        .as_("police")
        .send(&app)
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json["sequence"], 7);
    assert_eq!(
        shown.json["applicant"], "11010519491231002X",
        "an agency of the case sees the full number"
    );
}

#[tokio::test]
async fn a_case_list_filtered_by_status_and_bundle_masks_id_numbers() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    let list = get("/api/v1/cases?status=open&bundle=newborn&limit=10")
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.json["cases"][0]["applicant"], "110105***********X",
        "lists mask ID numbers"
    );
}

#[tokio::test]
async fn a_case_list_filtered_by_opening_dates_leaves_out_cases_opened_on_other_days() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    let dated = get("/api/v1/cases?opened_from=2000-01-01&opened_to=2000-01-02")
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(dated.json["cases"], json!([]));
}

#[tokio::test]
async fn the_history_lists_every_event_with_its_actor_channel_and_chained_hash() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "read-1").await;
    let history = get(format!("/api/v1/cases/{case}/history"))
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(history.json.as_array().unwrap().len(), 7);
    assert_eq!(history.json[3]["type"], "step_completed");
    assert_eq!(history.json[3]["actor"], "hospital");
    assert_eq!(history.json[3]["channel"], "api");
    assert_eq!(history.json[3]["prev_hash"], history.json[2]["hash"]);
}

#[tokio::test]
async fn a_case_at_a_sequence_is_shown_as_it_was_after_that_event() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "read-1").await;
    let at = get(format!("/api/v1/cases/{case}/at/3"))
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(at.status, StatusCode::OK);
    assert_eq!(at.json["sequence"], 3);
}

#[tokio::test]
async fn a_case_at_a_sequence_beyond_its_last_event_is_404() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "read-1").await;
    let beyond = get(format!("/api/v1/cases/{case}/at/99"))
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(beyond.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_case_at_a_sequence_that_is_not_a_number_is_400_invalid_input() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "read-1").await;
    let bad = get(format!("/api/v1/cases/{case}/at/three"))
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json["code"], "invalid_input");
}

#[tokio::test]
async fn an_agencys_case_list_leaves_out_the_cases_no_longer_waiting_on_it() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "involved-1").await;
    let list = get("/api/v1/cases").as_("hospital").send(&app).await;
    assert_eq!(
        list.case_ids(),
        Vec::<String>::new(),
        "nothing waits on the hospital any more"
    );
}

#[tokio::test]
async fn with_involved_an_agency_lists_every_case_it_takes_part_in() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "involved-1").await;
    let list = get("/api/v1/cases?involved=true")
        .as_("hospital")
        .send(&app)
        .await;
    assert_eq!(list.case_ids(), [case]);
}

#[tokio::test]
async fn the_window_lists_the_cases_an_agency_takes_part_in() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "involved-1").await;
    let list = get("/api/v1/cases?agency=hospital&involved=true")
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(list.case_ids(), [case]);
}

#[tokio::test]
async fn with_involved_an_agency_outside_the_bundle_lists_no_case() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "involved-1").await;
    let list = get("/api/v1/cases?involved=true")
        .as_("tobacco")
        .send(&app)
        .await;
    assert_eq!(
        list.case_ids(),
        Vec::<String>::new(),
        "tobacco takes part in no newborn case"
    );
}

#[tokio::test]
async fn the_window_lists_the_cases_waiting_on_an_agency() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "involved-1").await;
    let list = get("/api/v1/cases?agency=police")
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(list.case_ids(), [case]);
}

#[tokio::test]
async fn citizen_id_numbers_are_masked_by_type_wherever_the_forms_are() {
    let (app, _) = app().await;
    let case = open(&app, "masking-1").await;
    let child_id = "110105202605200039";
    for (step_id, token, outputs) in [
        (
            "birth_certificate",
            "hospital",
            json!({"certificate_number": "Q1"}),
        ),
        (
            "household_registration",
            "police",
            json!({"child_id": child_id}),
        ),
    ] {
        let done = step(&case, step_id, "complete")
            .as_(token)
            .json(json!({ "outputs": outputs }))
            .send(&app)
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    }
    let full_numbers = ["11010519491231002X", child_id];
    let endpoints = [
        format!("/api/v1/cases/{case}"),
        format!("/api/v1/cases/{case}/at/9"),
        format!("/api/v1/cases/{case}/history"),
        format!("/api/v1/cases/{case}/export"),
        "/api/v1/cases?workflow=newborn".to_string(),
        "/api/v1/cases?workflow=newborn&agency=police&involved=true".to_string(),
        "/api/v1/events".to_string(),
        "/api/v1/agencies/police/inbox".to_string(),
        "/api/v1/statistics?workflow=newborn".to_string(),
    ];
    let mut masked_seen = 0;
    for role in ["admin", "auditor", "window", "police", "hospital", "tax"] {
        for path in &endpoints {
            let reply = get(path.as_str()).as_(role).send(&app).await;
            if !reply.status.is_success() {
                continue;
            }
            // Lists show every case masked; an admin sees every case masked.
            let masked = role == "admin" || path.starts_with("/api/v1/cases?");
            if masked {
                for number in full_numbers {
                    assert!(
                        !reply.text.contains(number),
                        "{role} {path} shows {number} in full: {}",
                        reply.text
                    );
                }
                if reply.text.contains("110105***********9") {
                    masked_seen += 1;
                }
            } else if path == &format!("/api/v1/cases/{case}") {
                assert_eq!(
                    reply.json["steps"][2]["outputs"]["child_id"], child_id,
                    "{role} reads the case in full"
                );
            }
        }
    }
    assert!(
        masked_seen >= 7,
        "the masked child's number is shown where it is masked ({masked_seen})"
    );
}
