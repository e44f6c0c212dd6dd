//! What every test of the router needs: an app on an in-memory store with a
//! fixed clock, a small request builder, and cases put into the state a test
//! starts from.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use onething_server::auth::token_hash;
use onething_server::{AppState, Client, Clients, Role};
use onething_store::workflow_files::Catalog;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const MAX_BODY: usize = 64 * 1024;

pub fn workflows() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows")
}

/// Tokens are `t-` and the client id.
fn clients() -> Clients {
    let mut all = vec![
        ("admin", Role::Admin, None),
        ("auditor", Role::Auditor, None),
        ("window", Role::Window, Some("window")),
    ];
    for agency in [
        "hospital",
        "cdc",
        "police",
        "medical_security",
        "tax",
        "hrss",
        "tobacco",
        "hotline",
        "market_regulation",
        "fire",
        "ecology",
    ] {
        all.push((agency, Role::Agency, Some(agency)));
    }
    // A second system of one agency (a standby, another office).
    all.push(("police-backup", Role::Agency, Some("police")));
    Clients::new(all.into_iter().map(|(id, role, agency)| {
        (
            token_hash(&format!("t-{id}")),
            Client {
                id: id.to_string(),
                role,
                agency: agency.map(str::to_string),
            },
        )
    }))
}

/// The router and its state, the clock at 2026-06-01 09:00 Beijing time:
/// inside the calendar's years, so that working-day limits never reach a
/// year without a holiday table, whenever the tests run.
pub async fn app() -> (Router, AppState) {
    app_at("2026-06-01T09:00:00+08:00").await
}

/// The router and its state with the clock fixed at `now` (RFC 3339).
pub async fn app_at(now: &str) -> (Router, AppState) {
    app_on(workflows(), now).await
}

/// The router and its state over another workflows folder.
/// The shipped registry and calendars with one more bundle (`text`, in
/// `file`), in a folder of the calling test's own (`name`).
pub fn folder_with_bundle(name: &str, file: &str, text: &str) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("onething-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(folder.join("calendars")).unwrap();
    let shipped = workflows();
    std::fs::copy(shipped.join("agencies.toml"), folder.join("agencies.toml")).unwrap();
    for entry in std::fs::read_dir(shipped.join("calendars")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            folder.join("calendars").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::write(folder.join(file), text).unwrap();
    folder
}

pub async fn app_on(folder: PathBuf, now: &str) -> (Router, AppState) {
    let catalog = Catalog::load(&folder).unwrap();
    let store = onething_store::open_case_store("sqlite::memory:", &catalog)
        .await
        .unwrap();
    let state = AppState {
        store: Arc::new(store),
        clients: clients(),
        metrics: Arc::default(),
        feed_signal: Arc::default(),
        workflows_folder: folder,
        node: "test".into(),
        retry_after_seconds: 2,
        trusted_checkpoint_key: None,
        fixed_now: Some(
            chrono::DateTime::parse_from_rfc3339(now)
                .unwrap()
                .with_timezone(&chrono::Utc),
        ),
    };
    (onething_server::router(state.clone(), MAX_BODY), state)
}

/// How many events a case has (0 for one never stored).
pub async fn sequence(state: &AppState, case: &str) -> usize {
    state.store.events(case).await.unwrap().len()
}

// ---------------------------------------------------------------------------
// Requests

/// A request being put together: `get(path).as_("police").send(&app)`,
/// `post(path).as_("window").json(body).idempotency_key("k").send(&app)`.
#[must_use = "a request does nothing until it is sent"]
pub struct Call {
    method: Method,
    path: String,
    token: Option<String>,
    body: Option<Value>,
    key: Option<String>,
    headers: Vec<(String, String)>,
}

pub fn request(method: Method, path: impl Into<String>) -> Call {
    Call {
        method,
        path: path.into(),
        token: None,
        body: None,
        key: None,
        headers: Vec::new(),
    }
}

pub fn get(path: impl Into<String>) -> Call {
    request(Method::GET, path)
}

pub fn post(path: impl Into<String>) -> Call {
    request(Method::POST, path)
}

/// `POST /api/v1/cases/{case}/steps/{step}/{action}`.
pub fn step(case: &str, step: &str, action: &str) -> Call {
    post(format!("/api/v1/cases/{case}/steps/{step}/{action}"))
}

impl Call {
    /// Sends the request as the client `client`, with its token `t-{client}`.
    pub fn as_(mut self, client: &str) -> Self {
        self.token = Some(format!("t-{client}"));
        self
    }

    /// A JSON body (with its content type).
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn idempotency_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }

    /// Any other header (`X-Operator`, …).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub async fn send(self, app: &Router) -> Reply {
        let mut request = Request::builder().method(self.method).uri(self.path);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(token) = self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(key) = self.key {
            request = request.header("idempotency-key", key);
        }
        let request = match self.body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            headers,
        }
    }
}

/// An answer: its status, its body as JSON (`Null` if it is not) and as
/// text, and its headers.
pub struct Reply {
    pub status: StatusCode,
    pub json: Value,
    pub text: String,
    pub headers: HeaderMap,
}

impl Reply {
    /// The `reasons` of an error answer (none if there are none).
    pub fn reasons(&self) -> Vec<String> {
        self.json["reasons"]
            .as_array()
            .map(|reasons| {
                reasons
                    .iter()
                    .filter_map(|reason| reason.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The ids of a case list.
    pub fn case_ids(&self) -> Vec<String> {
        self.json["cases"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", self.text))
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Asserts a 2xx answer, showing the body otherwise.
    #[track_caller]
    pub fn assert_success(&self) {
        assert!(self.status.is_success(), "{} {}", self.status, self.text);
    }
}

// ---------------------------------------------------------------------------
// Forms and cases

pub fn newborn_form() -> Value {
    json!({
        "baby_name": "王小明", "baby_sex": "male", "birth_date": "2026-11-20", "born_in_province": true,
        "mother_id": "11010519491231002X", "household_head_id": "11010519491231002X",
        "address": "某路1号", "phone": "13800138000"
    })
}

pub fn open_newborn() -> Call {
    post("/api/v1/cases")
        .as_("window")
        .json(json!({"workflow": "newborn", "form": newborn_form()}))
}

pub fn home_transfer_form() -> Value {
    json!({
        "seller_name": "李卖", "seller_id": "32010219620708461X", "seller_phone": "13900139000",
        "buyer_name": "张买", "buyer_id": "510107199302113459", "buyer_phone": "13700137000",
        "property_address": "某市某区和平路8号2单元301", "title_certificate_number": "某(2018)不动产权第0012345号",
        "price": 300000000, "area": 90.0, "buyer_first_home": true, "seller_years_held": 3,
        "seller_only_home": false, "location": "city", "delivery": "self_print"
    })
}

/// A newborn case opened at the window with the idempotency key `key`: its
/// first steps (birth certificate, vaccination card) are active.
pub async fn open(app: &Router, key: &str) -> String {
    let reply = open_newborn().idempotency_key(key).send(app).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json["case_id"].as_str().unwrap().to_string()
}

/// A newborn case whose birth certificate the hospital has issued: the
/// household registration waits on the police. Seven events.
pub async fn newborn_with_birth_certificate(app: &Router, key: &str) -> String {
    let case = open(app, key).await;
    let done = step(&case, "birth_certificate", "complete")
        .as_("hospital")
        .json(json!({"outputs": {"certificate_number": "Q1"}}))
        .send(app)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    case
}

/// A newborn case whose household registration the police have asked a
/// supplement (the marriage certificate) for.
pub async fn newborn_waiting_for_a_supplement(app: &Router, key: &str) -> String {
    let case = newborn_with_birth_certificate(app, key).await;
    step(&case, "household_registration", "request-supplement")
        .as_("police")
        .json(json!({"items": ["marriage_certificate"], "reason": "unclear"}))
        .send(app)
        .await
        .assert_success();
    case
}

/// A restaurant whose food licence market regulation is reviewing; with
/// `suspended`, its clock stands still for a water test.
pub async fn restaurant_licence_under_review(app: &Router, key: &str, suspended: bool) -> String {
    let materials: Vec<Value> = [
        "premises_proof",
        "premises_layout",
        "food_safety_rules",
        "fire_commitment_letter",
        "fire_facilities_plan",
        "fire_safety_plan",
    ]
    .iter()
    .map(|material| json!({"material": material, "status": "submitted"}))
    .collect();
    let reply = post("/api/v1/cases")
        .as_("window")
        .json(
            json!({"workflow": "restaurant", "materials": materials, "form": {
            "shop_name": "老街面馆", "has_business_licence": false, "entity_type": "sole_trader",
            "operator_id": "440304198503151231", "phone": "13600136000",
            "premises_address": "某市某区老街12号", "floor_area": 86.5,
            "food_categories": ["hot_food"], "fire_commitment": true, "wants_sign": false,
            "kitchen_fumes": false}}),
        )
        .idempotency_key(key)
        .send(app)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let case = reply.json["case_id"].as_str().unwrap().to_string();
    step(&case, "business_licence", "complete")
        .as_("market_regulation")
        .json(json!({"outputs": {"credit_code": "91350100M000100Y43"}}))
        .send(app)
        .await
        .assert_success();
    if suspended {
        step(&case, "food_licence", "suspend")
            .as_("market_regulation")
            .json(json!({"procedure": "检验", "reason": "水质检测"}))
            .send(app)
            .await
            .assert_success();
    }
    case
}

/// A 12345 order that market regulation is handling; with `extension`, it
/// has asked for two more working days and waits for the hotline to decide.
pub async fn hotline_order_being_handled(app: &Router, key: &str, extension: bool) -> String {
    let reply = post("/api/v1/cases")
        .as_("window")
        .json(json!({"workflow": "hotline-12345", "form": {
            "channel": "phone", "caller_phone": "13300133000", "caller_name": "钱女士",
            "content": "油烟扰民", "location": "花园路3号"}}))
        .idempotency_key(key)
        .send(app)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let case = reply.json["case_id"].as_str().unwrap().to_string();
    let intake = step(&case, "intake", "complete")
        .as_("hotline")
        .json(json!({"outputs": {"kind": "complaint", "urgent": false, "direct_answer": false}}))
        .send(app)
        .await;
    assert!(intake.status.is_success(), "intake: {}", intake.text);
    step(&case, "handle", "dispatch")
        .as_("hotline")
        .json(json!({"to": "market_regulation"}))
        .send(app)
        .await
        .assert_success();
    if extension {
        step(&case, "handle", "extend")
            .as_("market_regulation")
            .json(json!({"length": "2 working days", "reason": "联合复查"}))
            .send(app)
            .await
            .assert_success();
    }
    case
}
