//! Reads the workflows folder: the agency registry (`agencies.toml`), the
//! calendars (`calendars/*.toml`) and one bundle per other `*.toml` file.
//! The core parses text; this module only finds and reads the files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use onething_core::diagnostic::{Diagnostic, LineIndex, Position};
use onething_core::registry::Registry;
use onething_core::workflow::{parse_workflow, Definition};

pub const AGENCIES_FILE: &str = "agencies.toml";
pub const CALENDARS_FOLDER: &str = "calendars";

/// A problem in a file, located by line and column when it is about content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub path: PathBuf,
    pub position: Option<Position>,
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(position) => write!(f, "{}:{position}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

fn located(path: &Path, text: &str, diagnostics: Vec<Diagnostic>) -> Vec<FileProblem> {
    let index = LineIndex::new(text);
    diagnostics
        .into_iter()
        .map(|diagnostic| FileProblem {
            path: path.to_path_buf(),
            position: Some(index.position(diagnostic.span.start)),
            message: diagnostic.message,
        })
        .collect()
}

fn read(path: &Path, problems: &mut Vec<FileProblem>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) => {
            problems.push(FileProblem {
                path: path.to_path_buf(),
                position: None,
                message: format!("cannot read: {error}"),
            });
            None
        }
    }
}

fn toml_files(folder: &Path, problems: &mut Vec<FileProblem>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) => {
            problems.push(FileProblem {
                path: folder.to_path_buf(),
                position: None,
                message: format!("cannot read folder: {error}"),
            });
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

/// Reads the agencies and calendars of a workflows folder.
pub fn load_registry(folder: &Path) -> Result<Registry, Vec<FileProblem>> {
    let mut problems = Vec::new();
    let mut registry = Registry::default();
    let agencies_path = folder.join(AGENCIES_FILE);
    if let Some(text) = read(&agencies_path, &mut problems) {
        if let Err(diagnostics) = registry.add_agencies(&text) {
            problems.extend(located(&agencies_path, &text, diagnostics));
        }
    }
    for path in toml_files(&folder.join(CALENDARS_FOLDER), &mut problems) {
        if let Some(text) = read(&path, &mut problems) {
            if let Err(diagnostics) = registry.add_calendar(&text) {
                problems.extend(located(&path, &text, diagnostics));
            }
        }
    }
    if problems.is_empty() {
        Ok(registry)
    } else {
        Err(problems)
    }
}

/// The bundle files named by `paths`: files as given, folders by their
/// `*.toml` files other than the agency registry.
pub fn bundle_files(paths: &[PathBuf], problems: &mut Vec<FileProblem>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    // The same file named twice (itself and through its folder) is read once.
    let mut push = |file: PathBuf, files: &mut Vec<PathBuf>| {
        let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if !seen.contains(&key) {
            seen.push(key);
            files.push(file);
        }
    };
    for path in paths {
        if path.is_dir() {
            for file in toml_files(path, problems)
                .into_iter()
                .filter(|file| file.file_name().is_some_and(|name| name != AGENCIES_FILE))
            {
                push(file, &mut files);
            }
        } else if path.exists() {
            push(path.clone(), &mut files);
        } else {
            problems.push(FileProblem {
                path: path.clone(),
                position: None,
                message: "no such file or folder".into(),
            });
        }
    }
    files
}

/// Parses and validates bundle files; a workflow id used twice is a problem.
pub fn load_bundles(
    registry: &Registry,
    files: &[PathBuf],
) -> (BTreeMap<String, Definition>, Vec<FileProblem>) {
    let mut problems = Vec::new();
    let mut definitions: BTreeMap<String, Definition> = BTreeMap::new();
    let mut defined_in: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files {
        let Some(text) = read(path, &mut problems) else {
            continue;
        };
        match parse_workflow(&text, registry) {
            Ok(definition) => {
                if let Some(first) = defined_in.get(&definition.id) {
                    let id_offset = id_key_offset(&text);
                    problems.push(FileProblem {
                        path: path.clone(),
                        position: Some(LineIndex::new(&text).position(id_offset)),
                        message: format!(
                            "duplicate workflow id `{}` (also defined in {})",
                            definition.id,
                            first.display()
                        ),
                    });
                    continue;
                }
                defined_in.insert(definition.id.clone(), path.clone());
                definitions.insert(definition.id.clone(), definition);
            }
            Err(diagnostics) => problems.extend(located(path, &text, diagnostics)),
        }
    }
    (definitions, problems)
}

/// Everything in a workflows folder, loaded and valid.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub registry: Registry,
    pub workflows: BTreeMap<String, Definition>,
}

impl Catalog {
    pub fn load(folder: &Path) -> Result<Catalog, Vec<FileProblem>> {
        let registry = load_registry(folder)?;
        let mut problems = Vec::new();
        let files = bundle_files(&[folder.to_path_buf()], &mut problems);
        let (workflows, mut bundle_problems) = load_bundles(&registry, &files);
        problems.append(&mut bundle_problems);
        if problems.is_empty() {
            Ok(Catalog {
                registry,
                workflows,
            })
        } else {
            Err(problems)
        }
    }
}

/// Where the top-level `id = …` line starts, for a problem about the id.
fn id_key_offset(text: &str) -> usize {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix("id") {
            if rest.trim_start().starts_with('=') {
                return offset + (line.len() - trimmed.len());
            }
        }
        offset += line.len();
    }
    0
}
