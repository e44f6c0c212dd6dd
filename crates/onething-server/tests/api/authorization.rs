//! Who may do what: tokens, the role × command matrix, and an agency outside
//! a bundle told its cases do not exist.

use axum::http::StatusCode;
use axum::Router;
use serde_json::{json, Value};

use crate::support::{
    app, get, hotline_order_being_handled, newborn_form, newborn_waiting_for_a_supplement,
    newborn_with_birth_certificate, open, post, restaurant_licence_under_review, sequence, step,
    Call,
};

#[tokio::test]
async fn a_request_without_a_token_is_401_unauthorized() {
    let (app, _) = app().await;
    let none = get("/api/v1/cases").send(&app).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.json["code"], "unauthorized");
}

#[tokio::test]
async fn a_request_with_an_unknown_token_is_401() {
    let (app, _) = app().await;
    let wrong = get("/api/v1/cases").as_("impostor").send(&app).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_agency_cannot_complete_another_agencys_step() {
    let (app, state) = app().await;
    let case = open(&app, "errors-1").await;
    let forbidden = step(&case, "birth_certificate", "complete")
        .as_("police")
        .json(json!({"outputs": {"certificate_number": "x"}}))
        .send(&app)
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(forbidden.json["code"], "forbidden");
    assert_eq!(sequence(&state, &case).await, 3, "nothing was stored");
}

/// Puts a fresh case into the state a command needs (none to open).
async fn case_for(app: &Router, command: &str, key: &str) -> Option<String> {
    let case = match command {
        "open" => return None,
        "suspend" => restaurant_licence_under_review(app, key, false).await,
        "resume" => restaurant_licence_under_review(app, key, true).await,
        "extend" => hotline_order_being_handled(app, key, false).await,
        "decide_extension" => hotline_order_being_handled(app, key, true).await,
        "return" | "refuse" | "request_supplement" => {
            newborn_with_birth_certificate(app, key).await
        }
        "supplement" => newborn_waiting_for_a_supplement(app, key).await,
        "pay" => {
            let case = newborn_with_birth_certificate(app, key).await;
            step(&case, "medical_insurance", "complete")
                .as_("medical_security")
                .json(json!({"outputs": {"insurance_number": "M"}}))
                .send(app)
                .await
                .assert_success();
            case
        }
        "rate" => {
            let case = open(app, key).await;
            post(format!("/api/v1/cases/{case}/withdraw"))
                .as_("window")
                .json(json!({"reason": "moved"}))
                .send(app)
                .await
                .assert_success();
            case
        }
        _ => open(app, key).await,
    };
    Some(case)
}

/// The request of a command on `case` (ignored to open), without its client.
fn command(command: &str, case: Option<&str>) -> Call {
    let case = case.unwrap_or("");
    let (path, body): (String, Value) = match command {
        "open" => (
            "/api/v1/cases".to_string(),
            json!({"workflow": "newborn", "form": newborn_form()}),
        ),
        "complete" => (
            format!("/api/v1/cases/{case}/steps/birth_certificate/complete"),
            json!({"outputs": {"certificate_number": "Q"}}),
        ),
        "return" => (
            format!("/api/v1/cases/{case}/steps/household_registration/return"),
            json!({"to": "birth_certificate", "reason": "wrong name"}),
        ),
        "refuse" => (
            format!("/api/v1/cases/{case}/steps/household_registration/refuse"),
            json!({"reason": "不予许可"}),
        ),
        "request_supplement" => (
            format!("/api/v1/cases/{case}/steps/household_registration/request-supplement"),
            json!({"items": ["x"], "reason": "r"}),
        ),
        "supplement" => (
            format!("/api/v1/cases/{case}/supplement"),
            json!({"items": {"marriage_certificate": "scan"}}),
        ),
        "pay" => (
            format!("/api/v1/cases/{case}/payments"),
            json!({"payer": "guardian", "amount": 40000, "receipt": "R1"}),
        ),
        "withdraw" => (
            format!("/api/v1/cases/{case}/withdraw"),
            json!({"reason": "moved"}),
        ),
        "rate" => (format!("/api/v1/cases/{case}/rating"), json!({"score": 5})),
        "extend" => (
            format!("/api/v1/cases/{case}/steps/handle/extend"),
            json!({"reason": "联合复查"}),
        ),
        "suspend" => (
            format!("/api/v1/cases/{case}/steps/food_licence/suspend"),
            json!({"procedure": "专家评审", "reason": "工艺复杂"}),
        ),
        "resume" => (
            format!("/api/v1/cases/{case}/steps/food_licence/resume"),
            json!({}),
        ),
        "decide_extension" => (
            format!("/api/v1/cases/{case}/steps/handle/extension-decision"),
            json!({"approve": true, "reason": "同意"}),
        ),
        other => panic!("unknown command {other}"),
    };
    post(path).json(body)
}

#[tokio::test]
async fn every_role_may_give_only_its_own_commands_and_a_refused_one_stores_nothing() {
    let (app, state) = app().await;
    // Who may give each command on a newborn case: the window, the owner of
    // the step (or of a first step, to open), the collector of a payment.
    let allowed: &[(&str, &[&str])] = &[
        ("open", &["window", "hospital", "cdc"]),
        ("complete", &["hospital"]),
        ("return", &["police"]),
        ("refuse", &["police"]),
        ("request_supplement", &["police"]),
        ("supplement", &["window"]),
        ("pay", &["window", "tax"]),
        ("withdraw", &["window"]),
        ("rate", &["window"]),
        ("extend", &["market_regulation"]),
        ("decide_extension", &["hotline"]),
        ("suspend", &["market_regulation"]),
        ("resume", &["market_regulation"]),
    ];
    let roles = [
        "window",
        "hospital",
        "cdc",
        "police",
        "tax",
        "tobacco",
        "hotline",
        "market_regulation",
        "auditor",
        "admin",
    ];
    let mut checked = 0;
    for (name, who) in allowed {
        for role in roles {
            let key = format!("matrix-{name}-{role}");
            let case = case_for(&app, name, &format!("{key}-setup")).await;
            let before = match &case {
                Some(case) => sequence(&state, case).await,
                None => 0,
            };
            let reply = command(name, case.as_deref())
                .as_(role)
                .idempotency_key(&key)
                .send(&app)
                .await;
            // An agency that takes no part in the case's bundle is told
            // the case does not exist; everyone else who may not is refused.
            let outsider = match &case {
                Some(case) if !["window", "auditor", "admin"].contains(&role) => {
                    let loaded = state.store.load(case).await.unwrap();
                    let hash = &loaded.file().unwrap().hash;
                    let definition = state.store.library().by_hash(hash).unwrap();
                    !definition.agencies.iter().any(|agency| agency.id == role)
                }
                _ => false,
            };
            if who.contains(&role) {
                assert!(
                    reply.status.is_success(),
                    "{role} may {name}: {} {}",
                    reply.status,
                    reply.text
                );
            } else {
                let expected = if outsider {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::FORBIDDEN
                };
                assert_eq!(
                    reply.status, expected,
                    "{role} may not {name}: {}",
                    reply.text
                );
                if outsider {
                    assert!(reply.json.get("state").is_none(), "{}", reply.text);
                }
                let case_id = case.unwrap_or_else(|| onething_core::case::case_id_for(&key));
                assert_eq!(
                    sequence(&state, &case_id).await,
                    before,
                    "{role} {name}: nothing stored on 403"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, allowed.len() * roles.len());
}

#[tokio::test]
async fn an_agency_outside_a_bundle_commanding_one_of_its_cases_gets_the_404_of_a_missing_case() {
    let (app, _) = app().await;
    let case = open(&app, "outsider-1").await;
    for (existing, missing) in [
        (
            format!("/api/v1/cases/{case}/steps/household_registration/complete"),
            "/api/v1/cases/CNOSUCHCASE/steps/household_registration/complete".to_string(),
        ),
        (
            format!("/api/v1/cases/{case}/withdraw"),
            "/api/v1/cases/CNOSUCHCASE/withdraw".to_string(),
        ),
    ] {
        let body = if existing.ends_with("withdraw") {
            json!({"reason": "r"})
        } else {
            json!({"outputs": {}})
        };
        let outside = post(existing.as_str())
            .as_("tobacco")
            .json(body.clone())
            .send(&app)
            .await;
        let nothing = post(missing).as_("tobacco").json(body).send(&app).await;
        assert_eq!(outside.status, StatusCode::NOT_FOUND, "{}", outside.text);
        assert_eq!(outside.text, nothing.text, "{existing}");
        assert!(outside.json.get("state").is_none());
    }
}

#[tokio::test]
async fn an_agency_outside_a_bundle_reading_one_of_its_cases_gets_the_404_of_a_missing_case() {
    let (app, _) = app().await;
    // A case just opened, and one further along.
    let cases = [
        open(&app, "outsider-1").await,
        newborn_with_birth_certificate(&app, "read-1").await,
    ];
    for case in &cases {
        for path in ["", "/history", "/at/1"] {
            let outside = get(format!("/api/v1/cases/{case}{path}"))
                .as_("tobacco")
                .send(&app)
                .await;
            let nothing = get(format!("/api/v1/cases/CNOSUCHCASE{path}"))
                .as_("tobacco")
                .send(&app)
                .await;
            assert_eq!(
                outside.status,
                StatusCode::NOT_FOUND,
                "an outsider is told the case does not exist: {path}"
            );
            assert_eq!(
                outside.text.replace(case.as_str(), "ID"),
                nothing.text.replace("CNOSUCHCASE", "ID"),
                "the same answer as for an id that does not exist: {path}"
            );
        }
    }
}
