//! The definitions and calendars a case may need, held in memory. The store
//! fills it from the database (every definition ever used, by hash) and from
//! the workflows folder (every version of each bundle, each with its period,
//! and the calendars), installed together so that a reader never sees the
//! bundles of one catalogue with the calendars of another.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDate, Utc};

use super::error::CaseError;
use crate::calendar::Calendar;
use crate::workflow::Definition;

#[derive(Debug, Default)]
pub struct Library {
    inner: RwLock<LibraryInner>,
}

#[derive(Debug, Default)]
struct LibraryInner {
    by_hash: HashMap<String, Arc<Definition>>,
    /// The versions of each bundle in the workflows folder, oldest period first.
    versions: BTreeMap<String, Vec<Arc<Definition>>>,
    calendars: HashMap<String, Arc<Calendar>>,
}

impl LibraryInner {
    fn add_definition(&mut self, definition: Definition) -> Arc<Definition> {
        self.by_hash
            .entry(definition.hash.clone())
            .or_insert_with(|| Arc::new(definition))
            .clone()
    }

    /// The date `at` falls on where the definition's administration is.
    fn local_date(&self, definition: &Definition, at: DateTime<Utc>) -> NaiveDate {
        self.calendars
            .get(&definition.calendar)
            .map_or_else(|| at.date_naive(), |calendar| calendar.local_date(at))
    }
}

/// Whether a definition is in force on a date.
pub fn in_force_on(definition: &Definition, date: NaiveDate) -> bool {
    definition.effective_from <= date && definition.effective_until.is_none_or(|end| date <= end)
}

/// A definition's period, as people read it: `v2 2026-01-01 to 2026-12-31`.
pub fn period(definition: &Definition) -> String {
    match definition.effective_until {
        Some(until) => format!(
            "v{} {} to {until}",
            definition.version, definition.effective_from
        ),
        None => format!("v{} from {}", definition.version, definition.effective_from),
    }
}

impl Library {
    pub fn new() -> Library {
        Library::default()
    }

    /// Adds a definition that cases may already run on (known by hash only).
    pub fn add_definition(&self, definition: Definition) -> Arc<Definition> {
        self.inner
            .write()
            .expect("library lock")
            .add_definition(definition)
    }

    /// Installs a catalogue: its bundle versions replace the current ones and
    /// its calendars replace theirs, in one step. Definitions stay known by
    /// hash, so cases opened on a removed version still run.
    pub fn install(&self, definitions: Vec<Definition>, calendars: Vec<Calendar>) {
        let mut inner = self.inner.write().expect("library lock");
        let mut versions: BTreeMap<String, Vec<Arc<Definition>>> = BTreeMap::new();
        for definition in definitions {
            let shared = inner.add_definition(definition);
            versions.entry(shared.id.clone()).or_default().push(shared);
        }
        for list in versions.values_mut() {
            list.sort_by_key(|definition| (definition.effective_from, definition.version));
        }
        inner.versions = versions;
        inner.calendars = calendars
            .into_iter()
            .map(|calendar| (calendar.id.clone(), Arc::new(calendar)))
            .collect();
    }

    /// Makes a definition the only version of its bundle (tests and tools).
    pub fn set_current(&self, definition: Definition) {
        let mut inner = self.inner.write().expect("library lock");
        let shared = inner.add_definition(definition);
        inner.versions.insert(shared.id.clone(), vec![shared]);
    }

    pub fn add_calendar(&self, calendar: Calendar) {
        let mut inner = self.inner.write().expect("library lock");
        inner
            .calendars
            .insert(calendar.id.clone(), Arc::new(calendar));
    }

    /// The version of a bundle that a case applied for at `at` opens on.
    pub fn in_force(
        &self,
        workflow: &str,
        at: DateTime<Utc>,
    ) -> Result<Arc<Definition>, CaseError> {
        let inner = self.inner.read().expect("library lock");
        let versions = inner
            .versions
            .get(workflow)
            .ok_or_else(|| CaseError::UnknownWorkflow {
                workflow: workflow.to_string(),
            })?;
        if let Some(definition) = versions
            .iter()
            .find(|definition| in_force_on(definition, inner.local_date(definition, at)))
        {
            return Ok(definition.clone());
        }
        let date = versions
            .first()
            .map_or_else(|| at.date_naive(), |first| inner.local_date(first, at));
        Err(CaseError::NotInForce {
            workflow: workflow.to_string(),
            date: date.to_string(),
            periods: versions
                .iter()
                .map(|definition| period(definition))
                .collect(),
        })
    }

    /// The version in force at `at`, or else the newest: what a reader means
    /// by "the bundle" when no case pins a version.
    pub fn current_at(&self, workflow: &str, at: DateTime<Utc>) -> Option<Arc<Definition>> {
        self.in_force(workflow, at)
            .ok()
            .or_else(|| self.versions(workflow).last().cloned())
    }

    /// Every version of a bundle, oldest period first.
    pub fn versions(&self, workflow: &str) -> Vec<Arc<Definition>> {
        self.inner
            .read()
            .expect("library lock")
            .versions
            .get(workflow)
            .cloned()
            .unwrap_or_default()
    }

    pub fn by_hash(&self, hash: &str) -> Option<Arc<Definition>> {
        self.inner
            .read()
            .expect("library lock")
            .by_hash
            .get(hash)
            .cloned()
    }

    pub fn calendar(&self, id: &str) -> Option<Arc<Calendar>> {
        self.inner
            .read()
            .expect("library lock")
            .calendars
            .get(id)
            .cloned()
    }

    pub fn calendars(&self) -> Vec<Arc<Calendar>> {
        let mut all: Vec<_> = self
            .inner
            .read()
            .expect("library lock")
            .calendars
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// The bundles an agency takes part in, in any version cases run on.
    pub fn workflows_of_agency(&self, agency: &str) -> Vec<String> {
        let mut workflows: Vec<String> = self
            .inner
            .read()
            .expect("library lock")
            .by_hash
            .values()
            .filter(|definition| definition.agencies.iter().any(|a| a.id == agency))
            .map(|definition| definition.id.clone())
            .collect();
        workflows.sort();
        workflows.dedup();
        workflows
    }

    /// Every version of every bundle in the workflows folder, by bundle id
    /// and then by period.
    pub fn current_definitions(&self) -> Vec<Arc<Definition>> {
        self.inner
            .read()
            .expect("library lock")
            .versions
            .values()
            .flatten()
            .cloned()
            .collect()
    }
}
