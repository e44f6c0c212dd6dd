//! The console's pages and forms through the router (`oneshot`): signing
//! in and its limits, CSRF, expired sessions, who may see what, and forms
//! that tell every problem at once and store nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use onething_server::{AppState, Clients, HttpLimits};
use onething_store::console_users;
use onething_store::workflow_files::Catalog;
use onething_web::accounts::{add_user, NewUser};
use onething_web::{Console, SessionSettings};
use tower::ServiceExt;

fn workflows() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows")
}

const PEOPLE: &[(&str, &str, &str, Option<&str>)] = &[
    ("zhang", "Zhang", "clerk", None),
    ("wang", "Wang", "officer", Some("police")),
    ("li", "Li", "officer", Some("hospital")),
    ("zhao", "Zhao", "officer", Some("hospital")),
    ("chen", "Chen", "officer", Some("cdc")),
    ("he", "He", "officer", Some("tobacco")),
    ("song", "Song", "supervisor", None),
    ("sun", "Sun", "officer", Some("hotline")),
    ("zhou", "Zhou", "officer", Some("housing")),
    ("wu", "Wu", "officer", Some("subdistrict")),
];

fn password(login: &str) -> String {
    format!("password-{login}-2026")
}

async fn app() -> (Router, AppState) {
    app_with(Some(
        chrono::DateTime::parse_from_rfc3339("2026-06-01T09:00:00+08:00")
            .unwrap()
            .with_timezone(&chrono::Utc),
    ))
    .await
}

/// The console with commands at `fixed_now`, or on the clock when `None`.
async fn app_with(fixed_now: Option<chrono::DateTime<chrono::Utc>>) -> (Router, AppState) {
    app_on(Catalog::load(&workflows()).unwrap(), fixed_now).await
}

/// The console over `catalog`, with commands at `fixed_now`.
async fn app_on(
    catalog: Catalog,
    fixed_now: Option<chrono::DateTime<chrono::Utc>>,
) -> (Router, AppState) {
    let store = onething_store::open_case_store("sqlite::memory:", &catalog)
        .await
        .unwrap();
    let state = AppState {
        store: Arc::new(store),
        clients: Clients::default(),
        metrics: Arc::default(),
        feed_signal: Arc::default(),
        workflows_folder: workflows(),
        node: "test".into(),
        retry_after_seconds: 1,
        trusted_checkpoint_key: None,
        fixed_now,
    };
    let agencies: Vec<String> = catalog.registry.agencies.keys().cloned().collect();
    for (login, name, role, agency) in PEOPLE {
        let user = NewUser {
            login: login.to_string(),
            name: name.to_string(),
            agency: agency.map(str::to_string),
            role: role.to_string(),
            password: password(login),
            language: "en".into(),
        };
        add_user(state.store.database(), user, &agencies, chrono::Utc::now())
            .await
            .unwrap();
    }
    let console = Console::new(SessionSettings {
        idle_timeout: Duration::from_secs(30 * 60),
        max_failures: 2,
        lockout: Duration::from_secs(300),
    });
    let router = onething_server::router_beside(
        state.clone(),
        &HttpLimits::default(),
        onething_web::router(console),
    );
    (router, state)
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    cookie: Option<String>,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        location,
        cookie,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Request<Body> {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let mut request =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::from(body.join("&"))).unwrap()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs in; the session cookie and the page's CSRF token.
async fn sign_in(app: &Router, login: &str) -> (String, String) {
    let answer = send(
        app,
        post(
            "/login",
            None,
            &[
                ("login", login),
                ("password", &password(login)),
                ("next", "/"),
            ],
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let set = answer.cookie.expect("a session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let page = send(app, get("/cases", Some(&cookie))).await;
    (cookie, csrf_of(&page.body))
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

fn value_of(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

const NEWBORN: &[(&str, &str)] = &[
    ("form.baby_name", "Wang Xiaoming"),
    ("form.baby_sex", "male"),
    ("form.birth_date", "2026-05-30"),
    ("form.born_in_province", "true"),
    ("form.mother_id", "11010519491231002X"),
    ("form.household_head_id", "440304198503151231"),
    ("form.address", "1 Xingfu Road"),
    ("form.phone", "13800138000"),
    ("material.parents_ids", "shared"),
    ("material.household_booklet", "shared"),
    ("material.marriage_certificate", "commitment"),
];

/// The clerk opens a newborn case; its id.
async fn open_case(app: &Router, cookie: &str, csrf: &str, command_id: &str) -> Answer {
    let mut form: Vec<(&str, &str)> = NEWBORN.to_vec();
    form.push(("_csrf", csrf));
    form.push(("command_id", command_id));
    send(app, post("/window/newborn/apply", Some(cookie), &form)).await
}

fn case_of(answer: &Answer) -> String {
    let location = answer
        .location
        .as_deref()
        .expect("a redirect to the receipt");
    location.split('/').nth(2).unwrap().to_string()
}

#[tokio::test]
async fn a_page_without_a_session_sends_to_sign_in_and_back() {
    let (app, _) = app().await;
    let answer = send(&app, get("/desk?tab=overdue", None)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.location.as_deref(),
        Some("/login?next=/desk%3Ftab%3Doverdue")
    );
    let login = send(&app, get("/login?next=/desk", None)).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("name=\"next\" value=\"/desk\""));
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_repeated_failures_are_throttled() {
    let (app, _) = app().await;
    for _ in 0..2 {
        let answer = send(
            &app,
            post(
                "/login",
                None,
                &[("login", "wang"), ("password", "not-it-at-all")],
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer.cookie.is_none());
    }
    let right = send(
        &app,
        post(
            "/login",
            None,
            &[("login", "wang"), ("password", &password("wang"))],
        ),
    )
    .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(right.cookie.is_none());
    // Another login is not locked by wang's failures.
    let other = send(
        &app,
        post(
            "/login",
            None,
            &[("login", "li"), ("password", &password("li"))],
        ),
    )
    .await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_page_of_the_window_and_the_desk_answers() {
    let (app, _) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    for path in [
        "/window",
        "/window?q=newborn",
        "/window/newborn/guide",
        "/window/newborn/apply",
        "/window/home-transfer/apply",
        "/cases",
        "/desk",
    ] {
        let answer = send(&app, get(path, Some(&clerk))).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    }
    let opened = open_case(&app, &clerk, &csrf, "open-1").await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let case = case_of(&opened);
    for path in [
        format!("/cases/{case}"),
        format!("/cases/{case}?at=1"),
        format!("/cases/{case}?page=1&order=oldest"),
        format!("/cases/{case}/notices/receipt"),
    ] {
        let answer = send(&app, get(&path, Some(&clerk))).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
    }
    let (hospital, _) = sign_in(&app, "li").await;
    let desk = send(&app, get("/desk", Some(&hospital))).await;
    assert!(desk.body.contains(&format!(
        "data-case=\"{case}\" data-step=\"birth_certificate\""
    )));
    let task = send(
        &app,
        get(
            &format!("/cases/{case}/steps/birth_certificate"),
            Some(&hospital),
        ),
    )
    .await;
    assert_eq!(task.status, StatusCode::OK);
    assert!(task.body.contains("name=\"outputs.certificate_number\""));
    for asset in [
        "/assets/htmx.min.js",
        "/assets/htmx-sse.js",
        "/assets/console.css",
    ] {
        assert_eq!(
            send(&app, get(asset, None)).await.status,
            StatusCode::OK,
            "{asset}"
        );
    }
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_is_refused_and_stores_nothing() {
    let (app, state) = app().await;
    let (clerk, _) = sign_in(&app, "zhang").await;
    let answer = open_case(&app, &clerk, "forged", "open-forged").await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let case = onething_core::case::case_id_for("open-forged");
    assert!(state.store.events(&case).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_session_idle_past_the_limit_has_ended() {
    let (app, state) = app().await;
    let (clerk, _) = sign_in(&app, "zhang").await;
    let token = clerk.split_once('=').unwrap().1;
    let hash = onething_web::session::token_hash(token);
    console_users::touch_session(
        state.store.database(),
        &hash,
        chrono::Utc::now() - chrono::Duration::hours(2),
    )
    .await
    .unwrap();
    let answer = send(&app, get("/window", Some(&clerk))).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.location.as_deref(),
        Some("/login?next=/window&expired=1")
    );
    // And it stays ended.
    let again = send(&app, get("/window", Some(&clerk))).await;
    assert_eq!(
        again.location.as_deref(),
        Some("/login?next=/window&expired=1")
    );
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_at_once() {
    let (app, state) = app().await;
    let (clerk, _) = sign_in(&app, "zhang").await;
    console_users::set_disabled(state.store.database(), "zhang", true, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        send(&app, get("/window", Some(&clerk))).await.status,
        StatusCode::SEE_OTHER
    );
    let again = send(
        &app,
        post(
            "/login",
            None,
            &[("login", "zhang"), ("password", &password("zhang"))],
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_application_names_every_problem_and_opens_nothing() {
    let (app, state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let form = [
        ("_csrf", csrf.as_str()),
        ("command_id", "open-wrong"),
        ("form.mother_id", "110105194912310021"),
        ("form.birth_date", "2026-13-01"),
        ("material.marriage_certificate", "commitment"),
    ];
    let answer = send(&app, post("/window/newborn/apply", Some(&clerk), &form)).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in [
        "form.baby_name",
        "form.mother_id",
        "form.birth_date",
        "form.household_head_id",
        "form.address",
        "form.phone",
    ] {
        assert!(
            answer.body.contains(&format!("<code>{field}</code>")),
            "{field} not named:\n{}",
            answer.body
        );
    }
    // The same command id is kept, so the corrected form opens one case.
    assert_eq!(value_of(&answer.body, "command_id"), "open-wrong");
    let case = onething_core::case::case_id_for("open-wrong");
    assert!(state.store.events(&case).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_same_application_sent_twice_opens_one_case() {
    let (app, state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let first = open_case(&app, &clerk, &csrf, "open-twice").await;
    let second = open_case(&app, &clerk, &csrf, "open-twice").await;
    assert_eq!(first.location, second.location);
    let case = case_of(&first);
    let opened = state.store.events(&case).await.unwrap();
    assert_eq!(
        opened
            .iter()
            .filter(|e| e.event.change.name() == "case_opened")
            .count(),
        1
    );
    assert_eq!(
        onething_store::views::case_counts(state.store.database())
            .await
            .unwrap(),
        vec![("newborn".to_string(), 1)]
    );
}

#[tokio::test]
async fn an_officer_acts_only_on_their_agencys_steps_and_is_named_in_the_history() {
    let (app, state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let case = case_of(&open_case(&app, &clerk, &csrf, "open-officers").await);
    let (cdc, cdc_csrf) = sign_in(&app, "chen").await;
    let task = send(
        &app,
        get(
            &format!("/cases/{case}/steps/birth_certificate"),
            Some(&cdc),
        ),
    )
    .await;
    assert_eq!(task.status, StatusCode::FORBIDDEN);
    let act = send(
        &app,
        post(
            &format!("/cases/{case}/steps/birth_certificate/complete"),
            Some(&cdc),
            &[("_csrf", &cdc_csrf), ("outputs.certificate_number", "X")],
        ),
    )
    .await;
    assert_eq!(act.status, StatusCode::FORBIDDEN);
    // An agency with no part in the bundle is told the case does not exist.
    let (tobacco, _) = sign_in(&app, "he").await;
    assert_eq!(
        send(&app, get(&format!("/cases/{case}"), Some(&tobacco)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let (hospital, hospital_csrf) = sign_in(&app, "li").await;
    let wrong = send(
        &app,
        post(
            &format!("/cases/{case}/steps/birth_certificate/complete"),
            Some(&hospital),
            &[("_csrf", &hospital_csrf), ("command_id", "c-1")],
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .body
            .contains("<code>outputs.certificate_number</code>"),
        "{}",
        wrong.body
    );
    let before = state.store.events(&case).await.unwrap().len();
    certificate_issued(&app, &case, &hospital, &hospital_csrf, "c-2").await;
    let events = state.store.events(&case).await.unwrap();
    assert!(events.len() > before);
    let completed = events
        .iter()
        .find(|e| e.event.change.name() == "step_completed")
        .unwrap();
    assert_eq!(completed.metadata.actor, "hospital/Li");
    assert_eq!(completed.metadata.channel, "console");
    let reads = onething_store::access_log::list(
        state.store.database(),
        &onething_store::access_log::AccessFilter {
            case_id: Some(case.clone()),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(reads
        .iter()
        .any(|r| r.client == "console:li" && r.channel == "console"));
}

#[tokio::test]
async fn a_refused_application_prints_its_notice_with_every_reason_and_stores_nothing() {
    let (app, state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let form = [
        ("_csrf", csrf.as_str()),
        ("command_id", "open-not-accepted"),
        ("form.baby_name", "Wang Xiaoming"),
        ("form.mother_id", "110105194912310021"),
    ];
    let answer = send(
        &app,
        post("/window/newborn/refusal-notice", Some(&clerk), &form),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains("Notice of refusal to accept"));
    for field in ["form.mother_id", "form.household_head_id", "form.phone"] {
        assert!(
            answer.body.contains(&format!("<code>{field}</code>")),
            "{field}"
        );
    }
    assert!(answer.body.contains("Wang Xiaoming"));
    let case = onething_core::case::case_id_for("open-not-accepted");
    assert!(state.store.events(&case).await.unwrap().is_empty());
    let forged = send(
        &app,
        post("/window/newborn/refusal-notice", Some(&clerk), &form[1..]),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----onething-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    if let Some((file_name, content)) = file {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn upload(
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> Request<Body> {
    let (content_type, body) = multipart(fields, file);
    Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn a_scan_is_stored_by_its_hash_downloaded_like_the_case_and_checked_by_verification() {
    let (app, state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let case = case_of(&open_case(&app, &clerk, &csrf, "open-scan").await);
    let scan: &[u8] = b"%PDF-1.4\n% a scanned household booklet\n%%EOF\n";
    let path = format!("/cases/{case}/documents");
    let attached = send(
        &app,
        upload(
            &path,
            &clerk,
            &[
                ("_csrf", &csrf),
                ("command_id", "d-1"),
                ("material", "household_booklet"),
            ],
            Some(("booklet.pdf", scan)),
        ),
    )
    .await;
    assert_eq!(attached.status, StatusCode::SEE_OTHER, "{}", attached.body);
    let sha256 = onething_core::audit::sha256_hex(scan);
    let page = send(&app, get(&format!("/cases/{case}"), Some(&clerk))).await;
    assert!(page
        .body
        .contains(&format!("/cases/{case}/documents/{sha256}")));
    let download = app
        .clone()
        .oneshot(get(
            &format!("/cases/{case}/documents/{sha256}"),
            Some(&clerk),
        ))
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()[header::CONTENT_TYPE], "application/pdf");
    assert_eq!(
        download
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .as_ref(),
        scan
    );
    // Another agency of another bundle: as if the case did not exist.
    let (tobacco, _) = sign_in(&app, "he").await;
    assert_eq!(
        send(
            &app,
            get(&format!("/cases/{case}/documents/{sha256}"), Some(&tobacco))
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // Not a PDF, JPEG or PNG: refused in the case's words, nothing attached.
    let wrong = send(
        &app,
        upload(
            &path,
            &clerk,
            &[("_csrf", &csrf), ("command_id", "d-2")],
            Some(("notes.txt", b"just text")),
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("document.media_type"), "{}", wrong.body);
    // Without the CSRF token: refused.
    let forged = send(
        &app,
        upload(
            &path,
            &clerk,
            &[("command_id", "d-3")],
            Some(("b.pdf", scan)),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let attached_events = state
        .store
        .events(&case)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event.change.name() == "document_attached")
        .count();
    assert_eq!(attached_events, 1);

    let database = state.store.database();
    let verify = |database| async move {
        onething_store::audit::verify(database, None, None, &mut |_| {})
            .await
            .unwrap()
    };
    assert!(verify(database).await.intact());
    let onething_store::Database::Sqlite(pool) = database else {
        panic!("sqlite")
    };
    sqlx::query("UPDATE documents SET content = x'255044462d'")
        .execute(pool)
        .await
        .unwrap();
    let report = verify(database).await;
    assert_eq!(report.findings.len(), 1);
    assert_eq!(
        report.findings[0].damage,
        onething_core::audit::Damage::DocumentChanged {
            sha256: sha256.clone()
        }
    );
    sqlx::query("DELETE FROM documents")
        .execute(pool)
        .await
        .unwrap();
    let report = verify(database).await;
    assert_eq!(
        report.findings[0].damage,
        onething_core::audit::Damage::DocumentMissing { sha256 }
    );
}

#[tokio::test]
async fn a_person_switches_the_language_and_keeps_it() {
    let (app, state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    assert!(send(&app, get("/window", Some(&clerk)))
        .await
        .body
        .contains("The window: choose a bundle"));
    let switched = send(
        &app,
        post(
            "/language",
            Some(&clerk),
            &[("_csrf", &csrf), ("lang", "zh"), ("next", "/window")],
        ),
    )
    .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert!(send(&app, get("/window", Some(&clerk)))
        .await
        .body
        .contains("\u{7efc}\u{5408}\u{7a97}\u{53e3}"));
    let user = console_users::find(state.store.database(), "zhang")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.language, "zh");
    // Without the token nothing changes.
    let forged = send(&app, post("/language", Some(&clerk), &[("lang", "en")])).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let user = console_users::find(state.store.database(), "zhang")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.language, "zh");
}

#[tokio::test]
async fn a_desk_finds_a_task_by_the_applicants_name_or_masked_id_number() {
    let (app, _) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let case = case_of(&open_case(&app, &clerk, &csrf, "open-search").await);
    let (hospital, _) = sign_in(&app, "li").await;
    let row = format!("data-case=\"{case}\" data-step=\"birth_certificate\"");
    // The mother's number, 11010519491231002X, is shown masked: its first six and last digits.
    for (query, found) in [
        ("110105", true),
        ("002x", false),
        ("X", true),
        // The household head's number, masked the same way: any person the form names.
        ("440304", true),
        ("440305", false),
        (&case[..6], true),
        ("wang%20xiao", true),
        ("Xiaoming", true),
        ("Xiaohong", false),
        // In the summary's JSON, but not a form value.
        ("birth_certificate", false),
        ("100%25", false),
    ] {
        let desk = send(&app, get(&format!("/desk?q={query}"), Some(&hospital))).await;
        assert_eq!(desk.body.contains(&row), found, "q={query}");
    }
}

/// The query code on a receipt's page, if it shows one.
fn code_in(body: &str) -> Option<String> {
    let at = body.find("class=\"facts query-code\"")?;
    let start = at + body[at..].find("<code>")? + "<code>".len();
    let end = start + body[start..].find("</code>")?;
    Some(body[start..end].to_string())
}

#[tokio::test]
async fn the_receipt_prints_one_query_code_for_the_window_and_none_for_an_agency() {
    let (app, state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let case = case_of(&open_case(&app, &clerk, &csrf, "open-code").await);
    let path = format!("/cases/{case}/notices/receipt");
    let first = send(&app, get(&path, Some(&clerk))).await;
    let code = code_in(&first.body).expect("a query code on the window's receipt");
    assert_eq!(code.len(), 14, "{code}");
    let again = send(&app, get(&path, Some(&clerk))).await;
    assert_eq!(
        code_in(&again.body).as_deref(),
        Some(code.as_str()),
        "printed again, the same code"
    );
    assert!(
        first.body.contains("<figure class=\"qr\""),
        "a QR code beside the code"
    );
    assert!(first.body.contains(&format!("/track?case={case}")));
    assert!(
        !first.body.contains(&format!("code={code}")),
        "the code is never in the link"
    );
    let prefilled = send(
        &app,
        get(&format!("/track?case={}", case.to_lowercase()), None),
    )
    .await;
    assert!(
        prefilled.body.contains(&format!("value=\"{case}\"")),
        "{}",
        prefilled.body
    );
    assert!(
        onething_store::query_codes::matches(state.store.database(), &case, &code)
            .await
            .unwrap()
    );
    let (hospital, _) = sign_in(&app, "li").await;
    let seen_by_agency = send(&app, get(&path, Some(&hospital))).await;
    assert_eq!(seen_by_agency.status, StatusCode::OK);
    assert_eq!(
        code_in(&seen_by_agency.body),
        None,
        "{}",
        seen_by_agency.body
    );
    assert!(!seen_by_agency.body.contains(&code));
}

/// The clerk opens a newborn case and prints its receipt: the case and its code.
async fn case_with_code(app: &Router, command_id: &str) -> (String, String) {
    let (clerk, csrf) = sign_in(app, "zhang").await;
    let case = case_of(&open_case(app, &clerk, &csrf, command_id).await);
    let receipt = send(
        app,
        get(&format!("/cases/{case}/notices/receipt"), Some(&clerk)),
    )
    .await;
    (case, code_in(&receipt.body).expect("a query code"))
}

fn track(form: &[(&str, &str)], address: &str) -> Request<Body> {
    let mut request = post("/track", None, form);
    request
        .headers_mut()
        .insert("x-forwarded-for", address.parse().unwrap());
    request
}

#[tokio::test]
async fn the_applicant_follows_the_case_by_number_and_code_without_ids_or_officers() {
    let (app, _) = app().await;
    let (case, code) = case_with_code(&app, "track-1").await;
    let form = send(&app, get("/track", None)).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("action=\"/track\""));
    // As a person types it: lower case, without dashes.
    let typed = code.replace('-', "").to_lowercase();
    let lower_case_number = case.to_lowercase();
    let page = send(
        &app,
        track(
            &[("case", &lower_case_number), ("code", &typed)],
            "10.0.0.1",
        ),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&case));
    assert!(
        page.body.contains("class=\"state-active\""),
        "{}",
        page.body
    );
    for secret in [
        "11010519491231002X",
        "110105",
        "440304",
        "Zhang",
        "zhang",
        "window/",
    ] {
        assert!(
            !page.body.contains(secret),
            "the applicant's page shows `{secret}`"
        );
    }
}

#[tokio::test]
async fn a_wrong_code_says_nothing_of_the_case_and_wrong_tries_are_throttled() {
    let (app, _) = app().await;
    let (case, code) = case_with_code(&app, "track-2").await;
    let wrong = send(
        &app,
        track(&[("case", &case), ("code", "AAAA-BBBB-CCCC")], "10.0.0.2"),
    )
    .await;
    let unknown_case = "C0000000000000000";
    let unknown = send(
        &app,
        track(
            &[("case", unknown_case), ("code", "AAAA-BBBB-CCCC")],
            "10.0.0.3",
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert_eq!(
        wrong.body.replace(&case, "NUMBER"),
        unknown.body.replace(unknown_case, "NUMBER"),
        "a wrong code on a case and any code on no case answer alike"
    );
    // The second wrong try locks the case number out (two in these tests),
    // from any address, even with the right code …
    let _ = send(
        &app,
        track(&[("case", &case), ("code", "AAAA-BBBB-CCCD")], "10.0.0.4"),
    )
    .await;
    let locked = send(&app, track(&[("case", &case), ("code", &code)], "10.0.0.5")).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!locked.body.contains("state-active"));
    // … and an address that guesses across case numbers is locked out too.
    let (other_case, other_code) = case_with_code(&app, "track-3").await;
    for guess in ["C1111111111111111", "C2222222222222222"] {
        let _ = send(
            &app,
            track(&[("case", guess), ("code", "AAAA-BBBB-CCCC")], "10.0.0.6"),
        )
        .await;
    }
    let from_guesser = send(
        &app,
        track(&[("case", &other_case), ("code", &other_code)], "10.0.0.6"),
    )
    .await;
    assert_eq!(from_guesser.status, StatusCode::TOO_MANY_REQUESTS);
    let from_elsewhere = send(
        &app,
        track(&[("case", &other_case), ("code", &other_code)], "10.0.0.7"),
    )
    .await;
    assert_eq!(from_elsewhere.status, StatusCode::OK);
}

#[tokio::test]
async fn the_applicant_supplies_what_was_asked_and_rates_the_ended_case_once() {
    let (app, state) = app().await;
    let (case, code) = case_with_code(&app, "track-4").await;
    let (hospital, hospital_csrf) = sign_in(&app, "li").await;
    let done = send(
        &app,
        post(
            &format!("/cases/{case}/steps/birth_certificate/complete"),
            Some(&hospital),
            &[
                ("_csrf", &hospital_csrf),
                ("outputs.certificate_number", "Q440012345"),
            ],
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let (police, police_csrf) = sign_in(&app, "wang").await;
    let asked = send(
        &app,
        post(
            &format!("/cases/{case}/steps/household_registration/request-supplement"),
            Some(&police),
            &[
                ("_csrf", &police_csrf),
                ("items", "marriage_certificate_number"),
                ("reason", "records differ"),
            ],
        ),
    )
    .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    let page = send(&app, track(&[("case", &case), ("code", &code)], "10.0.1.1")).await;
    assert!(
        page.body.contains("marriage_certificate_number"),
        "{}",
        page.body
    );
    assert!(page.body.contains("class=\"state-paused\""));
    let supplied = send(
        &app,
        track(
            &[
                ("case", &case),
                ("code", &code),
                ("action", "supplement"),
                ("command_id", "applicant-1"),
                ("item", "marriage_certificate_number"),
                ("item_value", "J440304-2020-001"),
            ],
            "10.0.1.1",
        ),
    )
    .await;
    assert_eq!(supplied.status, StatusCode::OK, "{}", supplied.body);
    assert!(
        !supplied.body.contains("class=\"state-paused\""),
        "{}",
        supplied.body
    );
    let events = state.store.events(&case).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.metadata.actor, "applicant");
    assert_eq!(last.metadata.channel, "online");

    // Not ended: no rating form; then withdrawn, rated once.
    assert!(!supplied.body.contains("name=\"score\""));
    let withdraw = onething_core::case::CaseCommand {
        command_id: "withdraw-1".into(),
        actor: onething_core::case::Actor::Agency {
            agency: "window".into(),
            operator: None,
        },
        at: state.now(),
        action: onething_core::case::Action::Withdraw {
            reason: "the parents moved".into(),
        },
    };
    state.store.execute(&case, withdraw).await.unwrap();
    let ended = send(&app, track(&[("case", &case), ("code", &code)], "10.0.1.1")).await;
    assert!(ended.body.contains("name=\"score\""), "{}", ended.body);
    let no_level = send(
        &app,
        track(
            &[("case", &case), ("code", &code), ("action", "rate")],
            "10.0.1.1",
        ),
    )
    .await;
    assert_eq!(no_level.status, StatusCode::UNPROCESSABLE_ENTITY);
    let rated = send(
        &app,
        track(
            &[
                ("case", &case),
                ("code", &code),
                ("action", "rate"),
                ("score", "1"),
                ("aspect.efficiency", "1"),
                ("aspect.attitude", "4"),
                ("comment", "too slow"),
            ],
            "10.0.1.1",
        ),
    )
    .await;
    assert_eq!(rated.status, StatusCode::OK, "{}", rated.body);
    assert!(!rated.body.contains("name=\"score\""));
    let again = send(
        &app,
        track(
            &[
                ("case", &case),
                ("code", &code),
                ("action", "rate"),
                ("score", "5"),
            ],
            "10.0.1.1",
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "rated once");
    let view = onething_core::case::view(
        &state.store.load(&case).await.unwrap(),
        None,
        onething_core::case::Disclosure::Masked,
    )
    .unwrap();
    let rating = view.rating.unwrap();
    assert_eq!(
        (rating.score, rating.comment.as_deref()),
        (1, Some("too slow"))
    );
    assert_eq!(rating.aspects.get("efficiency"), Some(&1));
    assert_eq!(rating.aspects.get("attitude"), Some(&4));
    assert_eq!(rating.aspects.get("convenience"), None, "left out");
    assert!(
        rating.follow_up_due.is_some(),
        "a bad rating opens the follow-up"
    );
    // It waits in the window's desk with its due time; the clerk records it.
    let (clerk, clerk_csrf) = sign_in(&app, "zhang").await;
    let row = format!("data-case=\"{case}\" data-step=\"follow_up\"");
    let desk = send(&app, get("/desk?tab=follow_up", Some(&clerk))).await;
    assert!(desk.body.contains(&row), "{}", desk.body);
    assert!(desk.body.contains(&format!("/cases/{case}#follow-up")));
    let recorded = send(
        &app,
        post(
            &format!("/cases/{case}/follow-up"),
            Some(&clerk),
            &[
                ("_csrf", &clerk_csrf),
                ("result", "Called back; the card was sent"),
                ("resolved", "true"),
            ],
        ),
    )
    .await;
    assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.body);
    let desk = send(&app, get("/desk?tab=follow_up", Some(&clerk))).await;
    assert!(!desk.body.contains(&row), "recorded: off the desk");
    let page = send(&app, get(&format!("/cases/{case}"), Some(&clerk))).await;
    assert!(
        page.body.contains("Called back; the card was sent"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_supervisor_sees_every_late_step_as_a_yellow_or_red_card_and_others_may_not() {
    // On the clock: the console's commands are taken after the deadline
    // checks this test dates ahead.
    let (app, state) = app_with(None).await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let late = case_of(&open_case(&app, &clerk, &csrf, "late-1").await);
    let on_time = case_of(&open_case(&app, &clerk, &csrf, "late-2").await);
    let (supervisor, supervisor_csrf) = sign_in(&app, "song").await;
    let before = send(&app, get("/supervision", Some(&supervisor))).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    assert!(!before.body.contains(&late));
    // Ten days on, the deadline check finds the first case's steps overdue.
    let check = onething_core::case::CaseCommand {
        command_id: "check-late-1".into(),
        actor: onething_core::case::Actor::System,
        at: state.now() + chrono::Duration::days(10),
        action: onething_core::case::Action::CheckDeadlines,
    };
    state.store.execute(&late, check).await.unwrap();
    let after = send(&app, get("/supervision", Some(&supervisor))).await;
    assert!(
        after.body.contains(&format!(
            "<tr class=\"mark-overdue\" data-case=\"{late}\" data-step=\"birth_certificate\">"
        )),
        "{}",
        after.body
    );
    assert!(!after.body.contains(&format!("data-case=\"{on_time}\"")));
    assert!(after.body.contains("data-agency=\"hospital\""));
    assert!(after.body.contains("<svg class=\"chart\""));
    // The other case: past the police step's warning point, not its limit —
    // a yellow card for the police.
    let (hospital, hospital_csrf) = sign_in(&app, "li").await;
    let done = send(
        &app,
        post(
            &format!("/cases/{on_time}/steps/birth_certificate/complete"),
            Some(&hospital),
            &[
                ("_csrf", &hospital_csrf),
                ("outputs.certificate_number", "Q440012345"),
            ],
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let police_step = onething_core::case::view(
        &state.store.load(&on_time).await.unwrap(),
        None,
        onething_core::case::Disclosure::Masked,
    )
    .unwrap()
    .steps
    .into_iter()
    .find(|s| s.id == "household_registration")
    .unwrap();
    let warn_at = police_step
        .warn_at
        .expect("the police step has a warning point");
    let check = onething_core::case::CaseCommand {
        command_id: "check-late-2".into(),
        actor: onething_core::case::Actor::System,
        at: warn_at + chrono::Duration::minutes(1),
        action: onething_core::case::Action::CheckDeadlines,
    };
    state.store.execute(&on_time, check).await.unwrap();
    let yellow = send(&app, get("/supervision", Some(&supervisor))).await;
    assert!(
        yellow.body.contains(&format!(
        "<tr class=\"mark-warned\" data-case=\"{on_time}\" data-step=\"household_registration\">"
    )),
        "{}",
        yellow.body
    );
    let csv = send(&app, get("/supervision.csv", Some(&supervisor))).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.body
            .starts_with("card,agency,case,workflow,step,due,state,person\n"),
        "{}",
        csv.body
    );
    assert!(
        csv.body
            .contains(&format!("red,hospital,{late},newborn,birth_certificate,")),
        "{}",
        csv.body
    );
    assert!(
        csv.body.contains(&format!(
            "yellow,police,{on_time},newborn,household_registration,"
        )),
        "{}",
        csv.body
    );
    // A supervision notice on the red card; the hospital answers it.
    let issued = send(
        &app,
        post(
            &format!("/cases/{late}/steps/birth_certificate/supervise"),
            Some(&supervisor),
            &[
                ("_csrf", &supervisor_csrf),
                ("notice", "Act now and say why it is late"),
            ],
        ),
    )
    .await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER, "{}", issued.body);
    let again = send(
        &app,
        post(
            &format!("/cases/{late}/steps/birth_certificate/supervise"),
            Some(&supervisor),
            &[("_csrf", &supervisor_csrf), ("notice", "Again")],
        ),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "one notice waits at a time"
    );
    let forged = send(
        &app,
        post(
            &format!("/cases/{late}/steps/birth_certificate/supervise"),
            Some(&hospital),
            &[("_csrf", &hospital_csrf), ("notice", "Self-supervision")],
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let supervised_row = format!("data-case=\"{late}\" data-step=\"birth_certificate\"");
    let desk = send(&app, get("/desk?tab=supervised", Some(&hospital))).await;
    assert!(desk.body.contains(&supervised_row), "{}", desk.body);
    assert!(desk
        .body
        .contains("class=\"badge mark-overdue supervised\""));
    let task = send(
        &app,
        get(
            &format!("/cases/{late}/steps/birth_certificate"),
            Some(&hospital),
        ),
    )
    .await;
    assert!(
        task.body.contains("Act now and say why it is late"),
        "{}",
        task.body
    );
    assert!(task
        .body
        .contains("/steps/birth_certificate/answer-supervision"));
    let answered = send(
        &app,
        post(
            &format!("/cases/{late}/steps/birth_certificate/answer-supervision"),
            Some(&hospital),
            &[
                ("_csrf", &hospital_csrf),
                ("answer", "Staff added; done today"),
            ],
        ),
    )
    .await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.body);
    let desk = send(&app, get("/desk?tab=supervised", Some(&hospital))).await;
    assert!(
        !desk.body.contains(&supervised_row),
        "answered: no longer waiting"
    );
    let events = state.store.events(&late).await.unwrap();
    let actors: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.event.change.name(), e.metadata.actor.as_str()))
        .filter(|(kind, _)| kind.starts_with("supervision"))
        .collect();
    assert_eq!(
        actors,
        [
            ("supervision_notice_issued", "supervision/Song"),
            ("supervision_answered", "hospital/Li")
        ]
    );
    for path in ["/supervision", "/supervision.csv"] {
        for cookie in [&clerk, &hospital] {
            assert_eq!(
                send(&app, get(path, Some(cookie))).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn the_dashboard_shows_every_figure_with_its_chart_table_and_csv_and_names_every_wrong_filter(
) {
    let (app, _state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    for id in ["dash-1", "dash-2", "dash-3"] {
        open_case(&app, &clerk, &csrf, id).await;
    }
    let refused = send(&app, get("/dashboard", Some(&clerk))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "only supervisors");
    let (supervisor, _) = sign_in(&app, "song").await;
    let page = send(&app, get("/dashboard?workflow=newborn", Some(&supervisor))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for part in ["figures", "status", "channel", "days", "agencies"] {
        assert!(
            page.body.contains(&format!("id=\"{part}\"")),
            "{part}: {}",
            page.body
        );
        assert!(page
            .body
            .contains(&format!("/dashboard.csv?table={part}&amp;workflow=newborn")));
    }
    assert_eq!(page.body.matches("<svg class=\"chart\"").count(), 4);
    assert!(page
        .body
        .contains("<tr data-key=\"open\"><td>open</td><td class=\"money\">3</td>"));
    assert!(page.body.contains("<tr data-agency=\"hospital\">"));
    // Each table as CSV, with the same filter.
    let status = send(
        &app,
        get(
            "/dashboard.csv?table=status&workflow=newborn",
            Some(&supervisor),
        ),
    )
    .await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body, "status,count\nopen,3\n");
    let figures = send(
        &app,
        get(
            "/dashboard.csv?table=figures&workflow=newborn",
            Some(&supervisor),
        ),
    )
    .await;
    assert!(
        figures.body.starts_with("figure,value\nCases,3\nOpen,3\n"),
        "{}",
        figures.body
    );
    let agencies = send(
        &app,
        get("/dashboard.csv?table=agencies", Some(&supervisor)),
    )
    .await;
    assert!(
        agencies.body.contains("\nhospital,3,3,0,0,0,0,0,0,3,0\n"),
        "{}",
        agencies.body
    );
    // A period before the cases: none counted.
    let none = send(
        &app,
        get(
            "/dashboard.csv?table=status&to=2026-05-31",
            Some(&supervisor),
        ),
    )
    .await;
    assert_eq!(none.body, "status,count\n");
    let today = send(
        &app,
        get(
            "/dashboard.csv?table=status&from=2026-06-01&to=2026-06-01",
            Some(&supervisor),
        ),
    )
    .await;
    assert_eq!(today.body, "status,count\nopen,3\n");
    // Every wrong filter at once, and no figures.
    let wrong = send(
        &app,
        get(
            "/dashboard?workflow=nothing&agency=nobody&from=2026-13-01&to=yesterday",
            Some(&supervisor),
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    for problem in ["nothing", "nobody", "2026-13-01", "yesterday"] {
        assert!(wrong.body.contains(problem), "{problem}: {}", wrong.body);
    }
    assert!(!wrong.body.contains("id=\"figures\""));
    let reversed = send(
        &app,
        get(
            "/dashboard?from=2026-06-02&to=2026-06-01",
            Some(&supervisor),
        ),
    )
    .await;
    assert!(reversed.body.contains("The period ends before it starts"));
    // Each bundle against its before-reform baseline: none of the three
    // newborn cases is completed yet, so nothing is saved so far.
    let overview = send(&app, get("/dashboard", Some(&supervisor))).await;
    assert!(
        overview.body.contains("id=\"savings\""),
        "{}",
        overview.body
    );
    assert!(
        overview.body.contains("Before and after the reform"),
        "{}",
        overview.body
    );
    let savings = send(
        &app,
        get(
            "/dashboard.csv?table=savings&workflow=newborn",
            Some(&supervisor),
        ),
    )
    .await;
    assert_eq!(
        savings.body,
        "workflow,figure,before,after_average,completed,saved\n\
         newborn,applications,7,,0,0\n\
         newborn,materials,9,,0,0\n\
         newborn,trips,4,,0,0\n\
         newborn,working_days,32,,0,0\n"
    );
    let unknown = send(&app, get("/dashboard.csv?table=secrets", Some(&supervisor))).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    // The 12345 bundle adds the handling agencies' figures.
    let hotline = send(
        &app,
        get("/dashboard?workflow=hotline-12345", Some(&supervisor)),
    )
    .await;
    assert!(hotline.body.contains("id=\"hotline\""), "{}", hotline.body);
    let rows = send(
        &app,
        get(
            "/dashboard.csv?table=hotline&workflow=hotline-12345",
            Some(&supervisor),
        ),
    )
    .await;
    assert!(rows
        .body
        .starts_with("agency,dispatched,sent_back,handled,handled_on_time,satisfied"));
    assert!(
        rows.body.contains("\nmarket_regulation,0,0,0,0,0,0\n"),
        "{}",
        rows.body
    );
}

#[tokio::test]
async fn an_officer_claims_a_task_from_the_desk_another_takes_it_over_and_the_card_names_them() {
    let (app, state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let case = case_of(&open_case(&app, &clerk, &csrf, "open-claims").await);
    let claim_path = format!("/cases/{case}/steps/birth_certificate/claim");
    let (li, li_csrf) = sign_in(&app, "li").await;
    let desk = send(&app, get("/desk", Some(&li))).await;
    assert!(
        desk.body
            .contains("<span class=\"unclaimed\">Unclaimed</span>"),
        "{}",
        desk.body
    );
    assert!(desk.body.contains(&format!("action=\"{claim_path}\"")));
    // Another agency may not claim the hospital's step; a step not started
    // cannot be claimed.
    let (cdc, cdc_csrf) = sign_in(&app, "chen").await;
    let by_cdc = send(&app, post(&claim_path, Some(&cdc), &[("_csrf", &cdc_csrf)])).await;
    assert_eq!(by_cdc.status, StatusCode::FORBIDDEN);
    let (police, police_csrf) = sign_in(&app, "wang").await;
    let waiting = send(
        &app,
        post(
            &format!("/cases/{case}/steps/household_registration/claim"),
            Some(&police),
            &[("_csrf", &police_csrf)],
        ),
    )
    .await;
    assert_eq!(waiting.status, StatusCode::UNPROCESSABLE_ENTITY);

    let claimed = send(
        &app,
        post(
            &claim_path,
            Some(&li),
            &[
                ("_csrf", &li_csrf),
                ("command_id", "claim-li"),
                ("from", "desk"),
            ],
        ),
    )
    .await;
    assert_eq!(claimed.status, StatusCode::SEE_OTHER, "{}", claimed.body);
    assert_eq!(claimed.location.as_deref(), Some("/desk"));
    let desk = send(&app, get("/desk", Some(&li))).await;
    assert!(desk.body.contains("<span class=\"claimed-by\">Li</span>"));
    assert!(
        !desk.body.contains(&format!("action=\"{claim_path}\"")),
        "the holder has nothing to claim"
    );

    // A colleague sees who holds it, and takes it over from the task page.
    let (zhao, zhao_csrf) = sign_in(&app, "zhao").await;
    let desk = send(&app, get("/desk", Some(&zhao))).await;
    assert!(desk.body.contains("<span class=\"claimed-by\">Li</span>"));
    assert!(desk.body.contains(&format!("action=\"{claim_path}\"")));
    let task = send(
        &app,
        get(
            &format!("/cases/{case}/steps/birth_certificate"),
            Some(&zhao),
        ),
    )
    .await;
    assert!(
        task.body
            .contains("Handled by <span class=\"claimed-by\">Li</span>"),
        "{}",
        task.body
    );
    assert!(task.body.contains(&format!("action=\"{claim_path}\"")));
    let taken = send(
        &app,
        post(&claim_path, Some(&zhao), &[("_csrf", &zhao_csrf)]),
    )
    .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.body);
    assert_eq!(
        taken.location.as_deref(),
        Some(format!("/cases/{case}/steps/birth_certificate").as_str())
    );
    let events = state.store.events(&case).await.unwrap();
    let claims: Vec<&str> = events
        .iter()
        .filter(|e| e.event.change.name() == "task_claimed")
        .map(|e| e.metadata.actor.as_str())
        .collect();
    assert_eq!(claims, ["hospital/Li", "hospital/Zhao"]);

    // Overdue ten days on: the red card names the person, on the page and
    // in the CSV.
    let check = onething_core::case::CaseCommand {
        command_id: "check-claims".into(),
        actor: onething_core::case::Actor::System,
        at: state.now() + chrono::Duration::days(10),
        action: onething_core::case::Action::CheckDeadlines,
    };
    state.store.execute(&case, check).await.unwrap();
    let (supervisor, _) = sign_in(&app, "song").await;
    let cards = send(&app, get("/supervision", Some(&supervisor))).await;
    assert!(
        cards.body.contains("<td class=\"person\">Zhao</td>"),
        "{}",
        cards.body
    );
    let csv = send(&app, get("/supervision.csv", Some(&supervisor))).await;
    let row = csv
        .body
        .lines()
        .find(|line| line.contains(&case))
        .expect("the case's card");
    assert!(row.starts_with("red,hospital,"), "{row}");
    assert!(row.ends_with(",active,Zhao"), "{row}");
}

/// The hospital's officer issues the birth certificate from its task page.
async fn certificate_issued(app: &Router, case: &str, cookie: &str, csrf: &str, command_id: &str) {
    let done = send(
        app,
        post(
            &format!("/cases/{case}/steps/birth_certificate/complete"),
            Some(cookie),
            &[
                ("_csrf", csrf),
                ("command_id", command_id),
                ("outputs.certificate_number", "Q440012345"),
            ],
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
}

#[tokio::test]
async fn a_task_page_shows_exactly_the_data_its_step_receives_typed() {
    let (app, _state) = app().await;
    let (clerk, csrf) = sign_in(&app, "zhang").await;
    let case = case_of(&open_case(&app, &clerk, &csrf, "open-inputs").await);
    let (hospital, hospital_csrf) = sign_in(&app, "li").await;
    certificate_issued(&app, &case, &hospital, &hospital_csrf, "c-inputs").await;
    let (police, _) = sign_in(&app, "wang").await;
    let task = send(
        &app,
        get(
            &format!("/cases/{case}/steps/household_registration"),
            Some(&police),
        ),
    )
    .await;
    assert_eq!(task.status, StatusCode::OK);
    assert!(
        task.body.contains("Data this step receives"),
        "{}",
        task.body
    );
    assert!(
        task.body
            .contains("<dt>Birth certificate number</dt><dd data-type=\"text\">Q440012345</dd>"),
        "{}",
        task.body
    );
    assert!(
        task.body.contains("<dd data-type=\"date\">"),
        "{}",
        task.body
    );
    // Only the inputs: the phone number is on the form but not among them,
    // and the earlier steps' results are not listed beside them.
    assert!(!task.body.contains("Contact phone"), "{}", task.body);
    assert!(
        !task.body.contains("Shared data (earlier steps' results)"),
        "{}",
        task.body
    );
}

/// The shipped bundles and `instances-example` of the language reference.
fn catalog_with_instances_example() -> Catalog {
    let docs = include_str!("../../../docs/workflow-language.md");
    let example = docs
        .split("```toml\n")
        .find(|block| block.starts_with("id = \"instances-example\""))
        .and_then(|block| block.split("```").next())
        .unwrap();
    let mut catalog = Catalog::load(&workflows()).unwrap();
    let definition = onething_core::workflow::parse_workflow(example, &catalog.registry).unwrap();
    catalog.versions.push(definition);
    catalog
}

#[tokio::test]
async fn each_instance_of_a_multi_instance_step_has_its_task_page_and_its_item() {
    let now = chrono::DateTime::parse_from_rfc3339("2025-06-03T09:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let (app, state) = app_on(catalog_with_instances_example(), Some(now)).await;
    let case = onething_core::case::case_id_for("open-instances");
    let open = onething_core::case::CaseCommand {
        command_id: "open-instances".into(),
        actor: onething_core::case::Actor::Agency {
            agency: "window".into(),
            operator: None,
        },
        at: now,
        action: onething_core::case::Action::Open {
            case_id: case.clone(),
            workflow: "instances-example".into(),
            form: serde_json::json!({ "plates": ["闽A12345", "闽A67890"] }),
            materials: vec![],
            opted_in: vec![],
            channel: Default::default(),
        },
    };
    state.store.execute(&case, open).await.unwrap();
    let (police, police_csrf) = sign_in(&app, "wang").await;
    let task = send(
        &app,
        get(&format!("/cases/{case}/steps/permit.2"), Some(&police)),
    )
    .await;
    assert_eq!(task.status, StatusCode::OK, "{}", task.body);
    assert!(task.body.contains("闽A67890"), "{}", task.body);
    assert!(!task.body.contains("闽A12345"), "{}", task.body);
    let done = send(
        &app,
        post(
            &format!("/cases/{case}/steps/permit.2/complete"),
            Some(&police),
            &[
                ("_csrf", &police_csrf),
                ("command_id", "c-permit-2"),
                ("outputs.permit_number", "P-2"),
            ],
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let case_file = state.store.load(&case).await.unwrap();
    let file = case_file.file().unwrap();
    assert_eq!(file.step("permit.2").unwrap().state.name(), "completed");
    assert_eq!(file.step("permit.1").unwrap().state.name(), "active");
    // The step itself is no one's task: its page says to take an instance.
    let whole = send(
        &app,
        post(
            &format!("/cases/{case}/steps/permit/complete"),
            Some(&police),
            &[
                ("_csrf", &police_csrf),
                ("command_id", "c-permit"),
                ("outputs.permit_number", "P"),
            ],
        ),
    )
    .await;
    assert_ne!(whole.status, StatusCode::SEE_OTHER, "{}", whole.body);
    assert!(
        whole.body.contains("runs one task per item"),
        "{}",
        whole.body
    );
}

/// The shipped bundles and the test-only dispatched work order.
fn catalog_with_work_order() -> Catalog {
    let text = include_str!("../../../tests/data/dispatch/work-order.toml");
    let mut catalog = Catalog::load(&workflows()).unwrap();
    let definition = onething_core::workflow::parse_workflow(text, &catalog.registry).unwrap();
    catalog.versions.push(definition);
    catalog
}

#[tokio::test]
async fn a_work_order_is_dispatched_reported_on_and_completed_from_the_console() {
    let now = chrono::DateTime::parse_from_rfc3339("2025-06-03T09:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let (app, state) = app_on(catalog_with_work_order(), Some(now)).await;
    let case = onething_core::case::case_id_for("open-work-order");
    let open = onething_core::case::CaseCommand {
        command_id: "open-work-order".into(),
        actor: onething_core::case::Actor::Agency {
            agency: "hotline".into(),
            operator: None,
        },
        at: now,
        action: onething_core::case::Action::Open {
            case_id: case.clone(),
            workflow: "work-order".into(),
            form: serde_json::json!({ "complaint": "楼道堆物" }),
            materials: vec![],
            opted_in: vec![],
            channel: Default::default(),
        },
    };
    state.store.execute(&case, open).await.unwrap();
    let step = format!("/cases/{case}/steps/handle");
    let form_of = |action: &str| format!("action=\"{step}/{action}\"");
    let (hotline, hotline_csrf) = sign_in(&app, "sun").await;
    let (housing, housing_csrf) = sign_in(&app, "zhou").await;
    let (subdistrict, subdistrict_csrf) = sign_in(&app, "wu").await;

    // Awaiting dispatch: the hotline dispatches, nobody completes.
    let page = send(&app, get(&step, Some(&hotline))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&form_of("dispatch")), "{}", page.body);
    assert!(!page.body.contains(&form_of("complete")), "{}", page.body);
    let page = send(&app, get(&step, Some(&housing))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let dispatched = send(
        &app,
        post(
            &format!("{step}/dispatch"),
            Some(&hotline),
            &[
                ("_csrf", &hotline_csrf),
                ("command_id", "c-dispatch"),
                ("to", "housing"),
                ("with", "subdistrict"),
            ],
        ),
    )
    .await;
    assert_eq!(
        dispatched.status,
        StatusCode::SEE_OTHER,
        "{}",
        dispatched.body
    );

    // Each inbox shows its part; the lead completes and may send back, the
    // co-handler only reports, the hotline only follows.
    let desk = send(&app, get("/desk", Some(&subdistrict))).await;
    assert!(desk.body.contains("part-co_handler"), "{}", desk.body);
    let desk = send(&app, get("/desk", Some(&housing))).await;
    assert!(desk.body.contains("part-lead"), "{}", desk.body);
    let lead = send(&app, get(&step, Some(&housing))).await;
    assert!(lead.body.contains(&form_of("complete")), "{}", lead.body);
    assert!(lead.body.contains(&form_of("send-back")), "{}", lead.body);
    let co = send(&app, get(&step, Some(&subdistrict))).await;
    assert!(co.body.contains(&form_of("report")), "{}", co.body);
    assert!(!co.body.contains(&form_of("complete")), "{}", co.body);
    let follows = send(&app, get(&step, Some(&hotline))).await;
    assert_eq!(follows.status, StatusCode::OK, "{}", follows.body);
    assert!(
        !follows.body.contains(&form_of("dispatch")),
        "{}",
        follows.body
    );

    // The lead cannot complete before the co-handler reported.
    let complete = |id: &'static str| {
        post(
            &format!("{step}/complete"),
            Some(&housing),
            &[
                ("_csrf", &housing_csrf),
                ("command_id", id),
                ("outputs.answer", "已清理"),
            ],
        )
    };
    let early = send(&app, complete("c-complete-early")).await;
    assert_eq!(
        early.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        early.body
    );
    assert!(early.body.contains("subdistrict"), "{}", early.body);
    let reported = send(
        &app,
        post(
            &format!("{step}/report"),
            Some(&subdistrict),
            &[
                ("_csrf", &subdistrict_csrf),
                ("command_id", "c-report"),
                ("text", "已配合清理"),
            ],
        ),
    )
    .await;
    assert_eq!(reported.status, StatusCode::SEE_OTHER, "{}", reported.body);
    let co = send(&app, get(&step, Some(&subdistrict))).await;
    assert!(!co.body.contains(&form_of("report")), "{}", co.body);
    let done = send(&app, complete("c-complete")).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let case_file = state.store.load(&case).await.unwrap();
    let file = case_file.file().unwrap();
    assert_eq!(file.step("handle").unwrap().state.name(), "completed");
}
