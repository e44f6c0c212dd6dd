//! Conditional requirements and checks over the API: opening a case answers
//! with every failing check beside the form's and materials' problems, and
//! stores nothing.

use std::path::PathBuf;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{app_on, get, post};

const BUNDLE: &str = r#"
id = "road-transport"
version = 1
title = { zh = "开办道路运输企业", en = "Opening a road-transport company" }
calendar = "cn"
effective_from = 2025-01-01

[[field]]
name = "scope"
label = { zh = "经营范围", en = "Scope" }
type = "one_of"
options = ["general", "dangerous_goods"]

[[field]]
name = "vehicle_count"
label = { zh = "车辆数", en = "Vehicles" }
type = "integer"

[[material]]
id = "safety_rules"
name = { zh = "安全生产管理制度", en = "Safety management rules" }
source = "applicant"
required = "form.scope == 'dangerous_goods'"

[[step]]
id = "licence"
title = { zh = "核发道路运输经营许可证", en = "Operating licence" }
agency = "market_regulation"

[[check]]
id = "fleet_size"
rule = "form.vehicle_count <= 50"
message = { zh = "车辆数不得超过 50", en = "At most 50 vehicles" }
"#;

/// The shipped registry and calendars with one more bundle, in a folder of
/// this test's own.
fn folder_with_bundle() -> PathBuf {
    crate::support::folder_with_bundle("checks", "road-transport.toml", BUNDLE)
}

#[tokio::test]
async fn a_failing_check_is_refused_with_the_other_problems_and_nothing_is_stored() {
    let folder = folder_with_bundle();
    let (app, _) = app_on(folder.clone(), "2026-06-01T09:00:00+08:00").await;
    let refused = post("/api/v1/cases")
        .as_("window")
        .json(json!({
            "workflow": "road-transport",
            "form": {"scope": "dangerous_goods", "vehicle_count": 60}
        }))
        .send(&app)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        refused.json
    );
    assert_eq!(refused.json["code"], "invalid_input");
    assert_eq!(
        refused.reasons(),
        vec![
            "materials.safety_rules: 安全生产管理制度 (Safety management rules) is missing (when `form.scope == 'dangerous_goods'`)",
            "checks.fleet_size: 车辆数不得超过 50 (At most 50 vehicles)",
        ]
    );
    let listed = get("/api/v1/cases?workflow=road-transport")
        .as_("admin")
        .send(&app)
        .await;
    assert_eq!(listed.case_ids(), Vec::<String>::new(), "{:?}", listed.json);

    let opened = post("/api/v1/cases")
        .as_("window")
        .json(json!({
            "workflow": "road-transport",
            "form": {"scope": "general", "vehicle_count": 3}
        }))
        .send(&app)
        .await;
    opened.assert_success();
    let listed = get("/api/v1/cases?workflow=road-transport")
        .as_("admin")
        .send(&app)
        .await;
    assert_eq!(listed.case_ids().len(), 1, "{:?}", listed.json);
    std::fs::remove_dir_all(folder).unwrap();
}
