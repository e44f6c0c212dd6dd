//! What the command line prints for a person: refusals in words, times in
//! local time with their offset, tables whose columns fit their content, and
//! arguments read the way their help says.

use std::path::Path;

use onething_tests::{onething, shipped_workflows, test_data, TempFolder, TestDatabase};

fn run_in(folder: &Path, database: &str, now: &str, args: &[&str]) -> onething_tests::Run {
    let mut full = vec![
        "--workflows",
        folder.to_str().unwrap(),
        "--database",
        database,
        "--now",
        now,
    ];
    full.extend_from_slice(args);
    onething(&full)
}

fn newborn_form() -> String {
    test_data()
        .join("forms")
        .join("newborn.json")
        .to_string_lossy()
        .into_owned()
}

/// Opens a newborn case at `now`; returns its id.
fn open_newborn(database: &TestDatabase, now: &str) -> String {
    let open = run_in(
        &shipped_workflows(),
        &database.url,
        now,
        &[
            "case",
            "open",
            "newborn",
            "--form",
            &newborn_form(),
            "--as",
            "window",
        ],
    );
    assert_eq!(open.code, 0, "{}", open.stderr);
    open.stdout.trim().to_string()
}

/// The hospital completes the birth certificate at `now`.
fn issue_certificate(
    database: &TestDatabase,
    case_id: &str,
    now: &str,
    number: &str,
) -> onething_tests::Run {
    let outputs = format!(r#"{{"certificate_number":"{number}"}}"#);
    run_in(
        &shipped_workflows(),
        &database.url,
        now,
        &[
            "case",
            "complete",
            case_id,
            "birth_certificate",
            "--as",
            "hospital",
            "--data",
            &outputs,
        ],
    )
}

#[test]
fn a_command_dated_before_the_case_s_last_event_is_refused_and_says_both_times() {
    let database = TestDatabase::sqlite();
    let case_id = open_newborn(&database, "2025-06-03T10:00:00+08:00");
    let back = issue_certificate(&database, &case_id, "2025-06-02T10:00:00+08:00", "Q1");
    assert_eq!(back.code, 1, "{}", back.stderr);
    assert!(
        back.stderr.contains(
            "refused: the command is dated 2025-06-02T02:00:00+00:00, before the case's last event at 2025-06-03T02:00:00+00:00"
        ),
        "{}",
        back.stderr
    );
}

#[test]
fn an_agency_the_workflow_does_not_name_is_told_so_with_the_agencies_it_names() {
    let database = TestDatabase::sqlite();
    let case_id = open_newborn(&database, "2025-06-03T10:00:00+08:00");
    let unknown = run_in(
        &shipped_workflows(),
        &database.url,
        "2025-06-03T11:00:00+08:00",
        &[
            "case",
            "complete",
            &case_id,
            "birth_certificate",
            "--as",
            "UNKNOWN",
        ],
    );
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    assert!(
        unknown
            .stderr
            .contains("refused: no agency \"UNKNOWN\" in workflow `newborn` (its agencies: "),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stderr.contains("hospital"), "{}", unknown.stderr);
    assert!(!unknown.stderr.contains("belongs to"), "{}", unknown.stderr);
}

#[test]
fn case_show_prints_due_times_in_local_time_with_the_offset_as_the_history_does() {
    let database = TestDatabase::sqlite();
    let case_id = open_newborn(&database, "2025-06-03T10:00:00+08:00");
    let show = run_in(
        &shipped_workflows(),
        &database.url,
        "2025-06-03T10:00:00+08:00",
        &["case", "show", &case_id],
    );
    assert_eq!(show.code, 0, "{}", show.stderr);
    // One working day from Tuesday 3 June: the end of Wednesday 4 June, local time.
    let line = show
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("birth_certificate"))
        .unwrap();
    assert!(
        line.contains(" active ") && line.ends_with("  2025-06-05 00:00 (UTC+08:00)"),
        "{}",
        show.stdout
    );
    assert!(!show.stdout.contains("+00:00"), "{}", show.stdout);
    let history = run_in(
        &shipped_workflows(),
        &database.url,
        "2025-06-03T10:00:00+08:00",
        &["case", "history", &case_id],
    );
    assert!(
        history.stdout.contains("2025-06-03 10:00 (UTC+08:00)"),
        "{}",
        history.stdout
    );
    let tasks = run_in(
        &shipped_workflows(),
        &database.url,
        "2025-06-03T10:00:00+08:00",
        &["case", "tasks", "hospital"],
    );
    assert!(
        tasks.stdout.contains("\t2025-06-05 00:00 (UTC+08:00)"),
        "{}",
        tasks.stdout
    );
}

#[test]
fn materials_are_read_inline_or_from_a_file_as_the_help_says() {
    let help = onething(&["case", "open", "--help"]);
    assert!(
        help.stdout
            .contains("inline (`[…]`), a file, or - for standard input"),
        "{}",
        help.stdout
    );
    let database = TestDatabase::sqlite();
    let folder = TempFolder::new("materials");
    let file = folder.path.join("materials.json");
    let declared = r#"[{"material": "no_such_material", "status": "submitted"}]"#;
    std::fs::write(&file, declared).unwrap();
    for source in [declared, file.to_str().unwrap()] {
        let open = run_in(
            &shipped_workflows(),
            &database.url,
            "2025-06-03T10:00:00+08:00",
            &[
                "case",
                "open",
                "newborn",
                "--form",
                &newborn_form(),
                "--materials",
                source,
                "--as",
                "window",
            ],
        );
        // Read and understood: the case refuses the material it does not know.
        assert_eq!(open.code, 1, "{}", open.stderr);
        assert!(
            open.stderr.contains("materials.no_such_material"),
            "{}",
            open.stderr
        );
    }
}

const LONG_AGENCIES: &str = r#"
[[agency]]
id = "window"
name = { zh = "综合窗口", en = "Window" }
kind = "window"

[[agency]]
id = "provincial_market_regulation_bureau"
name = { zh = "省市场监督管理局", en = "Provincial market regulation bureau" }
kind = "government"

[[agency]]
id = "fire"
name = { zh = "消防", en = "Fire" }
kind = "government"
"#;

const LONG_BUNDLE: &str = r#"
id = "long-ids"
version = 1
title = { zh = "长标识", en = "Long ids" }
calendar = "cn"
effective_from = 2025-01-01
effective_until = 2026-12-31

[[field]]
name = "applicant_id"
label = { zh = "身份证号", en = "ID number" }
type = "citizen_id"

[[step]]
id = "check_the_premises_and_the_fire_safety_plan"
title = { zh = "核查", en = "Check" }
agency = "fire"
time_limit = "2 working days"

[[step]]
id = "licence"
title = { zh = "许可", en = "Licence" }
agency = "provincial_market_regulation_bureau"
after = ["check_the_premises_and_the_fire_safety_plan"]
"#;

/// The offset in `line` where `text` starts.
fn column(line: &str, text: &str) -> usize {
    line.find(text)
        .unwrap_or_else(|| panic!("{text} in {line:?}"))
}

#[test]
fn tables_size_their_columns_to_ids_longer_than_sixteen_characters() {
    let folder = TempFolder::new("long-ids");
    std::fs::write(folder.path.join("agencies.toml"), LONG_AGENCIES).unwrap();
    std::fs::create_dir_all(folder.path.join("calendars")).unwrap();
    std::fs::copy(
        shipped_workflows().join("calendars").join("cn.toml"),
        folder.path.join("calendars").join("cn.toml"),
    )
    .unwrap();
    std::fs::write(folder.path.join("long-ids.toml"), LONG_BUNDLE).unwrap();
    let database = TestDatabase::sqlite();
    let now = "2025-06-03T10:00:00+08:00";

    let shown = run_in(
        &folder.path,
        &database.url,
        now,
        &["workflow", "show", "long-ids"],
    );
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let lines: Vec<&str> = shown.stdout.lines().skip(2).collect();
    assert_eq!(lines.len(), 2, "{}", shown.stdout);
    assert_eq!(
        column(lines[0], " fire"),
        column(lines[1], " provincial"),
        "{}",
        shown.stdout
    );
    assert_eq!(
        column(lines[0], "after:"),
        column(lines[1], "after:"),
        "{}",
        shown.stdout
    );

    let open = run_in(
        &folder.path,
        &database.url,
        now,
        &[
            "case",
            "open",
            "long-ids",
            "--form",
            r#"{"applicant_id": "11010519491231002X"}"#,
            "--as",
            "window",
        ],
    );
    assert_eq!(open.code, 0, "{}", open.stderr);
    let case_id = open.stdout.trim().to_string();
    let shown = run_in(
        &folder.path,
        &database.url,
        now,
        &["case", "show", &case_id],
    );
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let lines: Vec<&str> = shown
        .stdout
        .lines()
        .filter(|line| line.starts_with("  ") && !line.starts_with("  promised"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", shown.stdout);
    assert_eq!(
        column(lines[0], " fire"),
        column(lines[1], " provincial"),
        "{}",
        shown.stdout
    );
    assert_eq!(
        column(lines[0], "active"),
        column(lines[1], "waiting"),
        "{}",
        shown.stdout
    );
    // Two spaces at least between columns, however long the ids.
    assert!(lines[0].contains("plan  fire"), "{}", shown.stdout);
    assert!(lines[1].contains("bureau  waiting"), "{}", shown.stdout);
}

#[test]
fn case_show_and_the_task_list_show_each_step_s_inputs_typed() {
    let database = TestDatabase::sqlite();
    let case_id = open_newborn(&database, "2025-06-03T10:00:00+08:00");
    let completed = issue_certificate(
        &database,
        &case_id,
        "2025-06-03T11:00:00+08:00",
        "Q440012346",
    );
    assert_eq!(completed.code, 0, "{}", completed.stderr);
    let show = run_in(
        &shipped_workflows(),
        &database.url,
        "2025-06-03T11:00:00+08:00",
        &["case", "show", &case_id],
    );
    assert_eq!(show.code, 0, "{}", show.stderr);
    let lines: Vec<&str> = show.stdout.lines().collect();
    let registration = lines
        .iter()
        .position(|line| line.trim_start().starts_with("household_registration"))
        .unwrap();
    assert!(
        lines[registration + 1]
            .starts_with("      birth_certificate_number  出生医学证明编号  Q440012346"),
        "{}",
        show.stdout
    );
    let tasks = run_in(
        &shipped_workflows(),
        &database.url,
        "2025-06-03T11:00:00+08:00",
        &["case", "tasks", "police"],
    );
    assert!(
        tasks
            .stdout
            .contains("\n  birth_certificate_number  出生医学证明编号  Q440012346\n"),
        "{}",
        tasks.stdout
    );
    // The list masks ID numbers; the case shows them to those who may read it.
    let mother = tasks
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("mother_id"))
        .unwrap();
    assert!(mother.contains('*'), "{}", tasks.stdout);
    let json = run_in(
        &shipped_workflows(),
        &database.url,
        "2025-06-03T11:00:00+08:00",
        &["case", "tasks", "police", "--json"],
    );
    let tasks: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(tasks[0]["inputs"][0]["type"], "text");
    assert_eq!(tasks[0]["inputs"][0]["value"], "Q440012346");
    assert_eq!(tasks[0]["inputs"][3]["type"], "date");
}

/// The shipped folder with the language reference's `instances-example`.
fn folder_with_instances_example() -> TempFolder {
    let docs =
        std::fs::read_to_string(shipped_workflows().join("../docs/workflow-language.md")).unwrap();
    let example = docs
        .split("```toml\n")
        .find(|block| block.starts_with("id = \"instances-example\""))
        .and_then(|block| block.split("```").next())
        .unwrap();
    let folder = TempFolder::new("instances");
    let shipped = shipped_workflows();
    std::fs::create_dir_all(folder.path.join("calendars")).unwrap();
    std::fs::copy(
        shipped.join("agencies.toml"),
        folder.path.join("agencies.toml"),
    )
    .unwrap();
    for entry in std::fs::read_dir(shipped.join("calendars")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        std::fs::copy(&path, folder.path.join("calendars").join(name)).unwrap();
    }
    std::fs::write(folder.path.join("instances-example.toml"), example).unwrap();
    std::fs::write(
        folder.path.join("form.json"),
        r#"{"plates": ["闽A12345", "闽A67890"]}"#,
    )
    .unwrap();
    folder
}

#[test]
fn case_show_and_the_task_list_show_each_instance_of_a_multi_instance_step() {
    let folder = folder_with_instances_example();
    let database = TestDatabase::sqlite();
    let now = "2025-06-03T10:00:00+08:00";
    let run = |args: &[&str]| run_in(&folder.path, &database.url, now, args);
    let form = folder.path.join("form.json");
    let open = run(&[
        "case",
        "open",
        "instances-example",
        "--form",
        form.to_str().unwrap(),
        "--as",
        "window",
    ]);
    assert_eq!(open.code, 0, "{}", open.stderr);
    let case_id = open.stdout.trim().to_string();
    let tasks = run(&["case", "tasks", "police", "--json"]);
    let tasks: serde_json::Value = serde_json::from_str(&tasks.stdout).unwrap();
    let steps: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["permit.1", "permit.2"]);
    assert_eq!(tasks[1]["inputs"][0]["value"], "闽A67890");

    let complete = run(&[
        "case",
        "complete",
        &case_id,
        "permit.2",
        "--as",
        "police",
        "--data",
        r#"{"permit_number":"P-2"}"#,
    ]);
    assert_eq!(complete.code, 0, "{}", complete.stderr);
    let whole = run(&[
        "case",
        "complete",
        &case_id,
        "permit",
        "--as",
        "police",
        "--data",
        r#"{"permit_number":"P"}"#,
    ]);
    assert_ne!(whole.code, 0);
    assert!(
        whole.stderr.contains(
            "step `permit` runs one task per item: name one of its instances (permit.1, permit.2)"
        ),
        "{}",
        whole.stderr
    );
    let show = run(&["case", "show", &case_id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let line = |id: &str| {
        show.stdout
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} in {}", show.stdout))
            .to_string()
    };
    assert!(line("permit").contains("active") && line("permit").ends_with(" 2 instances"));
    assert!(line("permit.1").contains("active"), "{}", show.stdout);
    assert!(
        line("permit.1").ends_with(r#" item "闽A12345""#),
        "{}",
        show.stdout
    );
    assert!(line("permit.2").contains("completed"), "{}", show.stdout);
}

/// 企业破产信息核查: the opening refuses an appointment decision dated after the
/// application; a department's finished check must say whether it found
/// records and list them; the delivery's `partial` flag must match the answers.
#[test]
fn bankruptcy_check_refuses_answers_that_contradict_themselves() {
    let database = TestDatabase::sqlite();
    let scratch = TempFolder::new("bankruptcy-check");
    let workflows = shipped_workflows();
    let now = "2026-03-05T10:00:00+08:00";
    let form = |decided: &str| {
        let path = scratch.path.join(format!("form-{decided}.json"));
        let text = format!(
            r#"{{"administrator_name":"某某律师事务所","agent_name":"李明",
               "agent_id":"11010519491231002X","contact_phone":"13800138000",
               "court_name":"某市中级人民法院","appointment_decision_number":"（2026）某01破12号",
               "appointment_date":"{decided}","debtor_name":"某市老街餐饮管理有限公司",
               "debtor_credit_code":"91350100M000100Y43","query_items":["tax","vehicles"]}}"#
        );
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let materials = r#"[{"material":"appointment_decision","status":"submitted"},
        {"material":"acceptance_ruling","status":"submitted"},
        {"material":"authorisation_letter","status":"submitted"}]"#;
    let open = |form: &str| {
        run_in(
            &workflows,
            &database.url,
            now,
            &[
                "case",
                "open",
                "bankruptcy-check",
                "--form",
                form,
                "--materials",
                materials,
                "--as",
                "window",
            ],
        )
    };
    let complete = |case: &str, step: &str, agency: &str, data: &str| {
        let path = scratch.path.join(format!("{step}-{}.json", data.len()));
        std::fs::write(&path, data).unwrap();
        run_in(
            &workflows,
            &database.url,
            now,
            &[
                "case",
                "complete",
                case,
                step,
                "--data",
                path.to_str().unwrap(),
                "--as",
                agency,
            ],
        )
    };

    let early = open(&form("2026-03-06"));
    assert_eq!(early.code, 1, "{}", early.stdout);
    assert!(
        early
            .stderr
            .contains("checks.decision_not_after_application"),
        "{}",
        early.stderr
    );

    let opened = open(&form("2026-03-02"));
    assert_eq!(opened.code, 0, "{}", opened.stderr);
    let case = opened.stdout.trim().to_string();
    assert_eq!(complete(&case, "intake", "window", "{}").code, 0);

    for contradiction in [
        r#"{"answered":true}"#,
        r#"{"answered":true,"has_records":true}"#,
    ] {
        let refused = complete(&case, "tax", "tax", contradiction);
        assert_eq!(refused.code, 1, "{contradiction}: {}", refused.stdout);
        assert!(
            refused.stderr.contains("checks.tax_answer"),
            "{contradiction}: {}",
            refused.stderr
        );
    }
    let answered = complete(
        &case,
        "tax",
        "tax",
        r#"{"answered":true,"has_records":false}"#,
    );
    assert_eq!(answered.code, 0, "{}", answered.stderr);
    let unfinished = complete(&case, "vehicles", "police", r#"{"answered":false}"#);
    assert_eq!(unfinished.code, 0, "{}", unfinished.stderr);

    // The police had not finished: the result is partial, and saying otherwise is refused.
    let complete_claimed = complete(&case, "deliver", "window", r#"{"partial":false}"#);
    assert_eq!(complete_claimed.code, 1, "{}", complete_claimed.stdout);
    assert!(
        complete_claimed
            .stderr
            .contains("checks.partial_as_answered"),
        "{}",
        complete_claimed.stderr
    );
    let delivered = complete(&case, "deliver", "window", r#"{"partial":true}"#);
    assert_eq!(delivered.code, 0, "{}", delivered.stderr);
}
