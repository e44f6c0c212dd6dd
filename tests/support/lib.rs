//! Helpers shared by the end-to-end tests: paths of the repository, running
//! the command line in-process, and comparing output with expected files.

use std::path::{Path, PathBuf};

/// The repository's top folder.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

pub fn shipped_workflows() -> PathBuf {
    repository().join("workflows")
}

pub fn test_data() -> PathBuf {
    repository().join("tests").join("data")
}

/// What one run of the command line gave.
#[derive(Debug)]
pub struct Run {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `onething ARGS…` in-process, as a user would type it.
pub fn onething(args: &[&str]) -> Run {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = {
        let mut terminal = onething_cli::Terminal {
            out: &mut out,
            err: &mut err,
        };
        let full: Vec<&str> = std::iter::once("onething")
            .chain(args.iter().copied())
            .collect();
        onething_cli::run_with_args(full, &mut terminal)
    };
    Run {
        code,
        stdout: String::from_utf8(out).expect("output is UTF-8"),
        stderr: String::from_utf8(err).expect("output is UTF-8"),
    }
}

/// Compares `actual` with the file at `expected`; with `UPDATE_EXPECT=1`
/// in the environment, rewrites the file instead (then review the diff).
pub fn check_expected(expected: &Path, actual: &str) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(expected, actual).expect("writing the expected file");
        return;
    }
    let wanted = std::fs::read_to_string(expected).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with UPDATE_EXPECT=1 to create it",
            expected.display()
        )
    });
    assert_eq!(
        wanted,
        actual,
        "output differs from {} (run with UPDATE_EXPECT=1 to accept the new output)",
        expected.display()
    );
}

/// A multi-threaded runtime for tests that call the stores directly.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The PostgreSQL server the tests use: `ONETHING_TEST_POSTGRES` or the
/// local one that `scripts/start-postgres` sets up.
pub fn postgres_admin_url() -> String {
    std::env::var("ONETHING_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://onething:onething@127.0.0.1:5432/postgres".to_string())
}

/// A database of its own for one test, dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    name: Option<String>,
    _folder: Option<TempFolder>,
}

impl TestDatabase {
    /// A fresh SQLite file in a folder of its own.
    pub fn sqlite() -> TestDatabase {
        let folder = TempFolder::new("sqlite");
        let url = format!("sqlite://{}", folder.path.join("onething.db").display());
        TestDatabase {
            url,
            name: None,
            _folder: Some(folder),
        }
    }

    /// A fresh database on the test PostgreSQL server.
    pub fn postgres() -> TestDatabase {
        use sqlx::Connection;
        let admin = postgres_admin_url();
        let name = format!("onething_test_{}", uuid::Uuid::new_v4().simple());
        runtime().block_on(async {
            let mut connection =
                sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|error| {
                        panic!(
                            "cannot reach the test PostgreSQL at {admin}: {error}\n\
                     start it with `scripts/start-postgres` (the README's test command does) \
                     or point ONETHING_TEST_POSTGRES at a server"
                        )
                    });
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut connection)
                .await
                .expect("creating a test database");
        });
        let url = match admin.rfind('/') {
            Some(slash) => format!("{}/{name}", &admin[..slash]),
            None => panic!("the PostgreSQL URL {admin} names no database"),
        };
        TestDatabase {
            url,
            name: Some(name),
            _folder: None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        use sqlx::Connection;
        if let Some(name) = &self.name {
            let admin = postgres_admin_url();
            let name = name.clone();
            let _ = std::thread::spawn(move || {
                runtime().block_on(async {
                    if let Ok(mut connection) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut connection)
                                .await;
                    }
                })
            })
            .join();
        }
    }
}

/// A temporary folder, removed when dropped.
pub struct TempFolder {
    pub path: PathBuf,
}

impl TempFolder {
    pub fn new(hint: &str) -> TempFolder {
        let path =
            std::env::temp_dir().join(format!("onething-{hint}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("creating a temporary folder");
        TempFolder { path }
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A valid newborn application form, for tests that need any case.
pub fn newborn_form() -> serde_json::Value {
    serde_json::json!({
        "baby_name": "测试", "baby_sex": "female", "birth_date": "2025-06-01", "born_in_province": true,
        "mother_id": "11010519491231002X", "household_head_id": "11010519491231002X",
        "address": "某路1号", "phone": "13800138000"
    })
}

/// The open command of a newborn case from the window, at `at`; the case id
/// is derived from the command id.
pub fn open_newborn(
    command_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> (String, onething_core::case::CaseCommand) {
    use onething_core::case::{case_id_for, Action, Actor, CaseCommand};
    let case_id = case_id_for(command_id);
    let command = CaseCommand {
        command_id: command_id.into(),
        actor: Actor::Agency {
            agency: "window".into(),
            operator: Some("operator-1".into()),
        },
        at,
        action: Action::Open {
            case_id: case_id.clone(),
            workflow: "newborn".into(),
            form: newborn_form(),
            materials: vec![],
            opted_in: vec![],
            channel: Default::default(),
        },
    };
    (case_id, command)
}

/// A scripted scenario of `tests/data/scenarios/`: commands with their times.
pub struct Scenario {
    pub name: String,
    pub script: serde_json::Value,
}

/// Every scenario, by file name.
pub fn scenarios() -> Vec<Scenario> {
    let folder = test_data().join("scenarios");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == "json")
                && !path.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| Scenario {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            script: serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|error| panic!("{}: {error}", path.display())),
        })
        .collect()
}

/// Runs a scenario against a database through the command line; returns the case id.
pub fn play(scenario: &Scenario, database: &str, scratch: &std::path::Path) -> String {
    let workflows = shipped_workflows();
    let mut case_id = String::new();
    for (index, step) in scenario.script["commands"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let mut args: Vec<String> = vec![
            "--workflows".into(),
            workflows.to_string_lossy().into_owned(),
            "--database".into(),
            database.into(),
            "--now".into(),
            step["at"].as_str().unwrap().into(),
        ];
        let run: Vec<String> = step["run"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap().replace("$CASE", &case_id))
            .collect();
        let mutating = !matches!(run[1].as_str(), "show" | "list" | "tick" | "tasks");
        args.extend(run.iter().cloned());
        for (key, flag) in [
            ("form", "--form"),
            ("data", "--data"),
            ("materials", "--materials"),
        ] {
            if let Some(value) = step.get(key) {
                let path = scratch.join(format!("{}-{index}-{key}.json", scenario.name));
                std::fs::write(&path, serde_json::to_string(value).unwrap()).unwrap();
                args.push(flag.into());
                args.push(path.to_string_lossy().into_owned());
            }
        }
        if mutating && !run.iter().any(|arg| arg == "--command-id") {
            args.push("--command-id".into());
            args.push(format!("{}-{index}", scenario.name));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let result = onething(&refs);
        assert_eq!(
            result.code,
            0,
            "{} command {index} ({}) failed:\n{}",
            scenario.name,
            run.join(" "),
            result.stderr
        );
        if run[1] == "open" {
            case_id = result.stdout.trim().to_string();
        }
    }
    case_id
}
