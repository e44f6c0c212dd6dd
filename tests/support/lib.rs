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
