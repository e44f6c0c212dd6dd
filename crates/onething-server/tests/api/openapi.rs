//! The OpenAPI document served at `/openapi.json`.

use serde_json::Value;

use crate::support::{app, get};

async fn document() -> Value {
    let (app, _) = app().await;
    get("/openapi.json").send(&app).await.json
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_1() {
    assert_eq!(document().await["openapi"], "3.1.0");
}

#[tokio::test]
async fn the_openapi_document_covers_every_route_with_its_errors_in_the_error_shape() {
    let document = document().await;
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/api/v1/cases",
        "/api/v1/cases/{case}",
        "/api/v1/cases/{case}/at/{sequence}",
        "/api/v1/cases/{case}/history",
        "/api/v1/cases/{case}/export",
        "/api/v1/cases/{case}/steps/{step}/complete",
        "/api/v1/cases/{case}/steps/{step}/return",
        "/api/v1/cases/{case}/steps/{step}/refuse",
        "/api/v1/cases/{case}/steps/{step}/request-supplement",
        "/api/v1/cases/{case}/steps/{step}/extend",
        "/api/v1/cases/{case}/steps/{step}/extension-decision",
        "/api/v1/cases/{case}/steps/{step}/suspend",
        "/api/v1/cases/{case}/steps/{step}/resume",
        "/api/v1/cases/{case}/steps/{step}/claim",
        "/api/v1/cases/{case}/steps/{step}/dispatch",
        "/api/v1/cases/{case}/steps/{step}/send-back",
        "/api/v1/cases/{case}/steps/{step}/report",
        "/api/v1/cases/{case}/supplement",
        "/api/v1/cases/{case}/payments",
        "/api/v1/cases/{case}/withdraw",
        "/api/v1/cases/{case}/rating",
        "/api/v1/agencies/{agency}/inbox",
        "/api/v1/events",
        "/api/v1/workflows",
        "/api/v1/workflows/reload",
        "/api/v1/workflows/{workflow}",
        "/api/v1/workflows/{workflow}/graph",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{subscription}/resume",
        "/api/v1/audit/verify",
        "/api/v1/statistics",
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is documented"));
        // Which errors each operation lists is checked in tests/openapi.rs.
        for operation in item.as_object().unwrap().values() {
            assert!(
                operation["responses"].get("500").is_some(),
                "{path} documents 500"
            );
        }
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_bearer_scheme_and_the_request_bodies() {
    let document = document().await;
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    assert!(document["components"]["schemas"]["OpenCaseRequest"].is_object());
}
