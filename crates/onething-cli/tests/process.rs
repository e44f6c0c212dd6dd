//! The real binary, one process per command: a case opened by one process
//! is continued by the next, after the first has exited.

use std::path::PathBuf;
use std::process::Command;

fn workflows() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows")
}

fn onething(database: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_onething"))
        .arg("--workflows")
        .arg(workflows())
        .arg("--database")
        .arg(database)
        .args(args)
        .env_remove("ONETHING_NOW")
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_case_survives_the_process() {
    let folder = std::env::temp_dir().join(format!("onething-process-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let database = format!("sqlite://{}", folder.join("cases.db").display());
    let form = folder.join("form.json");
    std::fs::write(
        &form,
        r#"{"baby_name":"王小明","baby_sex":"male","birth_date":"2026-03-02","born_in_province":true,
            "mother_id":"11010519491231002X","household_head_id":"11010519491231002X",
            "address":"某路1号","phone":"13800138000"}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = onething(
        &database,
        &[
            "--now",
            "2026-03-03T09:00:00+08:00",
            "case",
            "open",
            "newborn",
            "--form",
            form.to_str().unwrap(),
            "--as",
            "window",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let opened: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let case_id = opened["id"].as_str().unwrap().to_string();

    let outputs = folder.join("outputs.json");
    std::fs::write(&outputs, r#"{"certificate_number":"Q1"}"#).unwrap();
    let (code, _, stderr) = onething(
        &database,
        &[
            "case",
            "complete",
            &case_id,
            "birth_certificate",
            "--as",
            "hospital",
            "--data",
            outputs.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) = onething(&database, &["case", "show", &case_id, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let state = |step: &str| {
        shown["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == step)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("birth_certificate"), "completed");
    assert_eq!(state("household_registration"), "active");
    assert_eq!(shown["sequence"], 7);

    // A refused command exits non-zero, says why, and stores nothing.
    let (code, _, stderr) = onething(
        &database,
        &[
            "case",
            "complete",
            &case_id,
            "household_registration",
            "--as",
            "hospital",
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("refused: hospital may not complete: step `household_registration` belongs to agency `police`"), "{stderr}");
    let (_, stdout, _) = onething(&database, &["case", "show", &case_id, "--json"]);
    let again: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(again["sequence"], 7);
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn the_server_refuses_to_start_with_an_agency_client_acting_as_the_window() {
    let folder =
        std::env::temp_dir().join(format!("onething-window-agency-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let config = folder.join("bad.toml");
    std::fs::write(
        &config,
        "[[client]]\nid = \"counter\"\nrole = \"agency\"\nagency = \"window\"\ntoken_sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n",
    )
    .unwrap();
    let database = format!("sqlite://{}", folder.join("cases.db").display());
    let (code, _, stderr) = onething(
        &database,
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("client `counter` has the role agency but acts as `window`"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn materials_are_read_from_standard_input_given_as_dash() {
    use std::io::Write;
    let folder = std::env::temp_dir().join(format!("onething-stdin-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let database = format!("sqlite://{}", folder.join("cases.db").display());
    let form =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/forms/newborn.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_onething"))
        .arg("--workflows")
        .arg(workflows())
        .arg("--database")
        .arg(&database)
        .args([
            "--now",
            "2025-06-03T10:00:00+08:00",
            "case",
            "open",
            "newborn",
        ])
        .arg("--form")
        .arg(&form)
        .args(["--materials", "-", "--as", "window"])
        .env_remove("ONETHING_NOW")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"[{"material": "no_such_material", "status": "submitted"}]"#)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Read and understood: the case refuses the material it does not know.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("materials.no_such_material"), "{stderr}");
    let _ = std::fs::remove_dir_all(&folder);
}
