//! The workflow language, end to end: every shipped bundle validates and can
//! be inspected; every kind of mistake in a file is reported where it is.

use std::path::{Path, PathBuf};

use onething_core::diagnostic::Diagnostic;
use onething_core::registry::Registry;
use onething_core::workflow::{parse_workflow, Definition};
use onething_store::workflow_files::{load_registry, Catalog};
use onething_tests::{check_expected, onething, shipped_workflows, test_data};

fn registry() -> Registry {
    load_registry(&shipped_workflows()).expect("the shipped registry is valid")
}

fn bundle_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shipped_workflows())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == "toml")
                && path.file_name().is_some_and(|name| name != "agencies.toml")
        })
        .collect();
    files.sort();
    files
}

fn render(name: &str, text: &str, diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|diagnostic| diagnostic.render(name, text) + "\n")
        .collect()
}

#[test]
fn every_shipped_bundle_validates() {
    let registry = registry();
    let files = bundle_files();
    assert!(files.len() >= 6, "six bundles are shipped, found {files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if let Err(diagnostics) = parse_workflow(&text, &registry) {
            panic!(
                "{}",
                render(&file.display().to_string(), &text, &diagnostics)
            );
        }
    }
    let catalog = Catalog::load(&shipped_workflows()).expect("the shipped folder loads");
    for id in [
        "newborn",
        "home-transfer",
        "restaurant",
        "retirement",
        "hotline-12345",
        "credit-repair",
        "bankruptcy-check",
    ] {
        assert!(catalog.latest(id).is_some(), "bundle {id} is shipped");
    }
}

#[test]
fn validate_command_accepts_the_shipped_folder() {
    let workflows = shipped_workflows();
    let run = onething(&[
        "--workflows",
        workflows.to_str().unwrap(),
        "workflow",
        "validate",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("workflow(s) valid"), "{}", run.stdout);
    assert_eq!(run.stderr, "");
}

/// Each file in `tests/data/invalid-workflows` holds one kind of mistake;
/// the `.expected` file beside it holds the exact report.
#[test]
fn invalid_files_report_every_problem_with_its_position() {
    let registry = registry();
    let folder = test_data().join("invalid-workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 15,
        "at least 15 kinds of mistake are covered"
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        let diagnostics = match parse_workflow(&text, &registry) {
            Ok(_) => panic!("{name} should be refused"),
            Err(diagnostics) => diagnostics,
        };
        assert!(!diagnostics.is_empty(), "{name}: refused without a reason");
        check_expected(
            &file.with_extension("expected"),
            &render(name, &text, &diagnostics),
        );
    }
}

#[test]
fn validate_command_reports_problems_on_stderr_and_exits_1() {
    let workflows = shipped_workflows();
    let bad = test_data()
        .join("invalid-workflows")
        .join("unknown-agency.toml");
    let run = onething(&[
        "--workflows",
        workflows.to_str().unwrap(),
        "workflow",
        "validate",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    let first = run.stderr.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("{}:11:10: agency `tax_bureau`", bad.display())),
        "{first}"
    );
}

fn parse_shipped(
    file: &str,
    edit: impl FnOnce(String) -> String,
) -> Result<Definition, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(shipped_workflows().join(file)).unwrap();
    parse_workflow(&edit(text), &registry())
}

#[test]
fn the_hash_is_stable_and_ignores_layout_and_comments() {
    let first = parse_shipped("newborn.toml", |text| text).unwrap();
    let again = parse_shipped("newborn.toml", |text| text).unwrap();
    assert_eq!(first.hash, again.hash);
    assert!(first.hash.starts_with("sha256:") && first.hash.len() == 7 + 64);
    let relaid = parse_shipped("newborn.toml", |text| {
        format!(
            "# a new comment\n\n{}",
            text.replace("version = 1\n", "version   =   1 # same\n")
        )
    })
    .unwrap();
    assert_eq!(first.hash, relaid.hash);
    let cli = onething(&[
        "--workflows",
        shipped_workflows().to_str().unwrap(),
        "workflow",
        "show",
        "newborn",
        "--json",
    ]);
    let shown: serde_json::Value = serde_json::from_str(&cli.stdout).unwrap();
    assert_eq!(shown["hash"], first.hash.as_str());
}

#[test]
fn the_hash_changes_with_every_semantic_edit() {
    let original = parse_shipped("newborn.toml", |text| text).unwrap().hash;
    let edits: [(&str, &str); 9] = [
        ("version = 2\n", "version = 3\n"),
        ("trips = 4\n", "trips = 3\n"),
        (
            "time_limit = \"1 working day\"",
            "time_limit = \"2 working days\"",
        ),
        ("amount = \"40000\"", "amount = \"42000\""),
        (
            "when = \"form.born_in_province\"",
            "when = \"form.born_in_province && true\"",
        ),
        ("en = \"Baby's name\"", "en = \"Name of the baby\""),
        (
            "after = [\"medical_insurance\"]",
            "after = [\"medical_insurance\", \"birth_certificate\"]",
        ),
        ("opt_in = true", "opt_in = false"),
        ("value = \"form.baby_name\"", "value = \"form.address\""),
    ];
    for (from, to) in edits {
        let edited = parse_shipped("newborn.toml", |text| {
            assert!(text.contains(from), "the newborn bundle contains {from}");
            text.replacen(from, to, 1)
        })
        .unwrap_or_else(|problems| panic!("{from} → {to}: {problems:?}"));
        assert_ne!(
            edited.hash, original,
            "editing {from} → {to} must change the hash"
        );
    }
}

fn run_in(folder: &Path, args: &[&str]) -> onething_tests::Run {
    let mut full = vec!["--workflows", folder.to_str().unwrap()];
    full.extend_from_slice(args);
    onething(&full)
}

#[test]
fn list_show_and_graph_work_on_every_shipped_bundle() {
    let folder = shipped_workflows();
    let catalog = Catalog::load(&folder).unwrap();
    let list = run_in(&folder, &["workflow", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    for definition in &catalog.versions {
        let id = &definition.id;
        assert!(
            list.stdout
                .lines()
                .any(|line| line.starts_with(&format!("{id}\tv{}\t", definition.version))),
            "{id} is listed"
        );
        let show = run_in(&folder, &["workflow", "show", id, "--json"]);
        assert_eq!(show.code, 0, "{}", show.stderr);
        let json: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
        assert_eq!(json["id"], id.as_str());
        assert_eq!(json["version"], definition.version);
        assert!(json["title"]["zh"].is_string() && json["title"]["en"].is_string());
        for field in json["form"].as_array().unwrap() {
            assert!(
                field["name"].is_string()
                    && field["type"].is_string()
                    && (field["required"].is_boolean() || field["required"].is_string()),
                "{id}: field {} is required, optional or required on a condition",
                field["name"]
            );
            if field["type"] == "one_of" {
                assert!(!field["options"].as_array().unwrap().is_empty());
            }
        }
        for step in json["steps"].as_array().unwrap() {
            assert!(
                step["id"].is_string() && step["agency"].is_string() && step["after"].is_array()
            );
            assert!(step["kind"] == "task" || step["kind"] == "payment");
            for output in step["outputs"].as_array().unwrap() {
                assert!(output["name"].is_string() && output["type"].is_string());
                if output["type"] == "one_of" {
                    assert!(output["options"].is_array());
                }
            }
        }
        let agencies: Vec<&str> = json["agencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|agency| agency["id"].as_str().unwrap())
            .collect();
        for step in &definition.steps {
            assert!(agencies.contains(&step.agency.as_str()));
        }
        let mermaid = run_in(&folder, &["workflow", "graph", id]);
        assert_eq!(mermaid.code, 0);
        assert!(mermaid.stdout.starts_with("flowchart TD\n"));
        let dot = run_in(&folder, &["workflow", "graph", id, "--format", "dot"]);
        assert_eq!(dot.code, 0);
        assert!(dot.stdout.starts_with(&format!("digraph \"{id}\" {{")));
        for step in &definition.steps {
            assert!(mermaid.stdout.contains(&format!("    {}", step.id)));
            assert!(dot.stdout.contains(&format!("\"{}\"", step.id)));
            for after in &step.after {
                assert!(dot
                    .stdout
                    .contains(&format!("\"{after}\" -> \"{}\"", step.id)));
            }
        }
    }
    let missing = run_in(&folder, &["workflow", "show", "no-such-bundle"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no workflow `no-such-bundle`"));
}

/// The complete bundles that `docs/workflow-language.md` shows (a block that
/// starts with its `id` and has steps) validate on the shipped registry, as
/// a reader would copy them; the one showing mistakes is refused.
#[test]
fn the_complete_examples_of_the_language_reference_validate() {
    let docs = shipped_workflows().join("../docs/workflow-language.md");
    let text = std::fs::read_to_string(docs).unwrap();
    let registry = registry();
    let mut checked = Vec::new();
    for block in text.split("```toml\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let Some(id) = block
            .strip_prefix("id = \"")
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        if !block.contains("[[step]]") {
            continue;
        }
        let outcome = parse_workflow(block, &registry);
        if id.ends_with("-mistakes") {
            assert!(outcome.is_err(), "{id} shows mistakes and is refused");
        } else if let Err(problems) = outcome {
            panic!("{id}: {}", render(id, block, &problems));
        }
        checked.push(id.to_string());
    }
    for id in [
        "limits-example",
        "escalation-example",
        "checks-example",
        "inputs-example",
        "instances-example",
        "dispatch-example",
    ] {
        assert!(
            checked.iter().any(|c| c == id),
            "{id} is checked: {checked:?}"
        );
    }
}

/// `workflow show` lists a bundle's checks and when each is made; the
/// bundle is the language reference's own example.
#[test]
fn workflow_show_lists_the_checks_of_a_bundle() {
    let docs =
        std::fs::read_to_string(shipped_workflows().join("../docs/workflow-language.md")).unwrap();
    let example = docs
        .split("```toml\n")
        .find(|block| block.starts_with("id = \"checks-example\""))
        .and_then(|block| block.split("```").next())
        .unwrap();
    let folder = onething_tests::TempFolder::new("checks");
    std::fs::create_dir_all(folder.path.join("calendars")).unwrap();
    let shipped = shipped_workflows();
    std::fs::copy(
        shipped.join("agencies.toml"),
        folder.path.join("agencies.toml"),
    )
    .unwrap();
    for entry in std::fs::read_dir(shipped.join("calendars")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            folder
                .path
                .join("calendars")
                .join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::write(folder.path.join("checks-example.toml"), example).unwrap();
    let show = run_in(&folder.path, &["workflow", "show", "checks-example"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains(
            "  check child_under_one  on opening: years_between(form.child_birth_date, application_date) < 1"
        ),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("  check one_permit_per_vehicle  after vehicle_permits: size(steps.vehicle_permits.permit_numbers) == form.vehicle_count"),
        "{}",
        show.stdout
    );
}
