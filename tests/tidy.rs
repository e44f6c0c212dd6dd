//! Invariants of the code base, checked as tests: every file says what it is
//! for, and the core stays free of input and output.

use std::path::{Path, PathBuf};

use onething_tests::repository;

fn rust_files(folder: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                rust_files(&path, found);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_doc_comment() {
    let mut files = Vec::new();
    rust_files(&repository().join("crates"), &mut files);
    rust_files(&repository().join("tests"), &mut files);
    assert!(files.len() > 30);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must open with a `//!` line saying what lives there",
            file.display()
        );
    }
}

#[test]
fn the_core_does_no_input_or_output_and_reads_no_clock() {
    let core = repository().join("crates").join("onething-core");
    let mut files = Vec::new();
    rust_files(&core.join("src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for forbidden in [
            "std::fs",
            "std::net",
            "std::process",
            "sqlx",
            "tokio",
            "reqwest",
            "axum",
            "Utc::now",
            "SystemTime",
            "std::env",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} uses {forbidden}: the core parses from strings and takes time from commands",
                file.display()
            );
        }
    }
    let manifest = std::fs::read_to_string(core.join("Cargo.toml")).unwrap();
    for crate_name in [
        "sqlx",
        "tokio",
        "axum",
        "reqwest",
        "postgres-es",
        "sqlite-es",
    ] {
        assert!(
            !manifest.contains(crate_name),
            "onething-core must not depend on {crate_name}"
        );
    }
}

#[test]
fn every_api_route_is_added_with_its_documentation() {
    // `utoipa_axum::routes!` routes a handler and documents it at once; a
    // plain axum `.route(` would serve a path the OpenAPI document lacks.
    let mut files = Vec::new();
    rust_files(
        &repository()
            .join("crates")
            .join("onething-server")
            .join("src"),
        &mut files,
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(".route("),
            "{} adds a route with `.route(`: use `.routes(routes!(handler))` so it is documented",
            file.display()
        );
    }
}

#[test]
fn no_source_file_grows_past_seven_hundred_lines() {
    let mut files = Vec::new();
    for crate_folder in std::fs::read_dir(repository().join("crates")).unwrap() {
        rust_files(&crate_folder.unwrap().path().join("src"), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > 700).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these into modules: {long:?}");
}
