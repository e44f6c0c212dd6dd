//! An agency's inbox: the tasks waiting on it.

use axum::http::StatusCode;

use crate::support::{app, get, hotline_order_being_handled, newborn_with_birth_certificate};

#[tokio::test]
async fn an_agency_finds_the_step_waiting_on_it_in_its_inbox() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    let inbox = get("/api/v1/agencies/police/inbox")
        .as_("police")
        .send(&app)
        .await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert_eq!(inbox.json["tasks"][0]["step"], "household_registration");
}

#[tokio::test]
async fn an_agency_cannot_read_another_agencys_inbox() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    let other = get("/api/v1/agencies/hospital/inbox")
        .as_("police")
        .send(&app)
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_inbox_of_an_agency_that_does_not_exist_is_404() {
    let (app, _) = app().await;
    let nobody = get("/api/v1/agencies/nobody/inbox")
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_inbox_writes_due_times_as_the_case_view_does() {
    let (app, _) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", true).await;
    let shown = get(format!("/api/v1/cases/{case}"))
        .as_("hotline")
        .send(&app)
        .await;
    let handling = shown.json["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", shown.text))
        .iter()
        .find(|s| s["id"] == "handle")
        .unwrap()
        .clone();
    let inbox = get("/api/v1/agencies/market_regulation/inbox")
        .as_("market_regulation")
        .send(&app)
        .await;
    assert!(handling["due"].is_string(), "{}", shown.text);
    assert_eq!(
        inbox.json["tasks"][0]["due"], handling["due"],
        "the inbox writes times as the case view does"
    );
}

#[tokio::test]
async fn the_task_carries_the_data_its_step_receives_typed_masked_in_the_inbox() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "inputs-1").await;
    let inbox = get("/api/v1/agencies/police/inbox")
        .as_("police")
        .send(&app)
        .await;
    let inputs = inbox.json["tasks"][0]["inputs"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", inbox.text))
        .clone();
    assert_eq!(inputs[0]["name"], "birth_certificate_number");
    assert_eq!(inputs[0]["type"], "text");
    assert_eq!(inputs[0]["label"]["zh"], "出生医学证明编号");
    assert!(inputs[0]["value"].is_string(), "{}", inbox.text);
    let mother = inputs.iter().find(|i| i["name"] == "mother_id").unwrap();
    assert_eq!(mother["type"], "citizen_id");
    assert!(
        mother["value"].as_str().unwrap().contains('*'),
        "ID numbers are masked in lists: {}",
        inbox.text
    );
    let shown = get(format!("/api/v1/cases/{case}"))
        .as_("police")
        .send(&app)
        .await;
    let registration = shown.json["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", shown.text))
        .iter()
        .find(|s| s["id"] == "household_registration")
        .unwrap()
        .clone();
    assert_eq!(
        registration["inputs"][0]["value"], inputs[0]["value"],
        "{}",
        shown.text
    );
    assert_eq!(registration["inputs"][3]["type"], "date");
    let hospital = shown.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "birth_certificate")
        .unwrap()
        .clone();
    assert!(
        hospital.get("inputs").is_none(),
        "a step without inputs has none"
    );
}
