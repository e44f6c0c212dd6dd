//! Reads the workflows folder: the agency registry (`agencies.toml`), the
//! calendars (`calendars/*.toml`) and one bundle per other `*.toml` file.
//! The core parses text; this module only finds and reads the files.

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

/// Bundle files read and validated: the valid definitions, every problem,
/// and warnings that do not stop a catalogue from loading.
#[derive(Debug, Clone, Default)]
pub struct LoadedBundles {
    pub definitions: Vec<Definition>,
    pub problems: Vec<FileProblem>,
    pub warnings: Vec<FileProblem>,
}

/// Parses and validates bundle files. Several files may hold versions of one
/// bundle, each with its own period; overlapping periods (or a version
/// number used twice) are problems, a gap between periods is a warning.
pub fn load_bundles(registry: &Registry, files: &[PathBuf]) -> LoadedBundles {
    let mut loaded = LoadedBundles::default();
    // Each valid definition with the file it came from and that file's text.
    let mut parsed: Vec<(Definition, &PathBuf, String)> = Vec::new();
    for path in files {
        let Some(text) = read(path, &mut loaded.problems) else {
            continue;
        };
        match parse_workflow(&text, registry) {
            Ok(definition) => parsed.push((definition, path, text)),
            Err(diagnostics) => loaded.problems.extend(located(path, &text, diagnostics)),
        }
    }
    parsed.sort_by(|(a, ..), (b, ..)| {
        (&a.id, a.effective_from, a.version).cmp(&(&b.id, b.effective_from, b.version))
    });
    let at_key = |path: &PathBuf, text: &str, key: &str, message: String| FileProblem {
        path: path.clone(),
        position: Some(LineIndex::new(text).position(top_key_offset(text, key))),
        message,
    };
    let mut kept: Vec<usize> = Vec::new();
    for (index, (definition, path, text)) in parsed.iter().enumerate() {
        let earlier = kept
            .iter()
            .map(|&i| &parsed[i])
            .filter(|(other, ..)| other.id == definition.id);
        let mut valid = true;
        for (other, other_path, _) in earlier {
            let ends_after_start = other
                .effective_until
                .is_none_or(|until| until >= definition.effective_from);
            if other.version == definition.version {
                valid = false;
                loaded.problems.push(at_key(
                    path,
                    text,
                    "version",
                    format!(
                        "version {} of workflow `{}` is also defined in {}",
                        definition.version,
                        definition.id,
                        other_path.display()
                    ),
                ));
            } else if ends_after_start {
                valid = false;
                loaded.problems.push(at_key(
                    path,
                    text,
                    "effective_from",
                    format!(
                        "the period of workflow `{}` v{} ({}) overlaps v{} in {} ({}): one version is in force on any date",
                        definition.id,
                        definition.version,
                        onething_core::case::period(definition),
                        other.version,
                        other_path.display(),
                        onething_core::case::period(other),
                    ),
                ));
            }
        }
        if !valid {
            continue;
        }
        let previous = kept
            .iter()
            .rev()
            .map(|&i| &parsed[i].0)
            .find(|other| other.id == definition.id);
        if let Some(until) = previous.and_then(|previous| previous.effective_until) {
            if until.succ_opt() != Some(definition.effective_from) {
                loaded.warnings.push(at_key(
                    path,
                    text,
                    "effective_from",
                    format!(
                        "workflow `{}` is in force on no date from {} to {}: v{} starts on {}",
                        definition.id,
                        until.succ_opt().unwrap_or(until),
                        definition
                            .effective_from
                            .pred_opt()
                            .unwrap_or(definition.effective_from),
                        definition.version,
                        definition.effective_from
                    ),
                ));
            }
        }
        kept.push(index);
    }
    loaded.definitions = kept.into_iter().map(|i| parsed[i].0.clone()).collect();
    loaded
}

/// Everything in a workflows folder, loaded and valid: installed as one, at
/// start and on reload.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub registry: Registry,
    /// Every version of every bundle, by bundle id and then by period.
    pub versions: Vec<Definition>,
    /// Gaps between versions and the like: reported, not refused.
    pub warnings: Vec<FileProblem>,
}

impl Catalog {
    pub fn load(folder: &Path) -> Result<Catalog, Vec<FileProblem>> {
        let registry = load_registry(folder)?;
        let mut problems = Vec::new();
        let files = bundle_files(&[folder.to_path_buf()], &mut problems);
        let mut loaded = load_bundles(&registry, &files);
        problems.append(&mut loaded.problems);
        if problems.is_empty() {
            Ok(Catalog {
                registry,
                versions: loaded.definitions,
                warnings: loaded.warnings,
            })
        } else {
            Err(problems)
        }
    }

    /// The bundle ids, each once.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.versions.iter().map(|d| d.id.as_str()).collect();
        ids.dedup();
        ids
    }

    pub fn versions_of(&self, id: &str) -> Vec<&Definition> {
        self.versions
            .iter()
            .filter(|definition| definition.id == id)
            .collect()
    }

    /// The version with the latest period.
    pub fn latest(&self, id: &str) -> Option<&Definition> {
        self.versions
            .iter()
            .rev()
            .find(|definition| definition.id == id)
    }

    /// The version in force on a date.
    pub fn in_force(&self, id: &str, date: chrono::NaiveDate) -> Option<&Definition> {
        self.versions.iter().find(|definition| {
            definition.id == id && onething_core::case::in_force_on(definition, date)
        })
    }
}

/// Where the top-level `KEY = …` line starts, for a problem about that key.
fn top_key_offset(text: &str, key: &str) -> usize {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return offset + (line.len() - trimmed.len());
            }
        }
        offset += line.len();
    }
    0
}
