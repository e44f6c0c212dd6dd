//! The definitions and calendars a case may need, held in memory. The store
//! fills it from the database (every definition ever used, by hash) and from
//! the workflows folder (the current version of each bundle).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::calendar::Calendar;
use crate::workflow::Definition;

#[derive(Debug, Default)]
pub struct Library {
    inner: RwLock<LibraryInner>,
}

#[derive(Debug, Default)]
struct LibraryInner {
    by_hash: HashMap<String, Arc<Definition>>,
    current: HashMap<String, Arc<Definition>>,
    calendars: HashMap<String, Arc<Calendar>>,
}

impl Library {
    pub fn new() -> Library {
        Library::default()
    }

    /// Adds a definition that cases may already run on (known by hash only).
    pub fn add_definition(&self, definition: Definition) -> Arc<Definition> {
        let mut inner = self.inner.write().expect("library lock");
        inner
            .by_hash
            .entry(definition.hash.clone())
            .or_insert_with(|| Arc::new(definition))
            .clone()
    }

    /// Makes a definition the one new cases of its workflow open with.
    pub fn set_current(&self, definition: Definition) {
        let shared = self.add_definition(definition);
        let mut inner = self.inner.write().expect("library lock");
        inner.current.insert(shared.id.clone(), shared);
    }

    pub fn add_calendar(&self, calendar: Calendar) {
        let mut inner = self.inner.write().expect("library lock");
        inner
            .calendars
            .insert(calendar.id.clone(), Arc::new(calendar));
    }

    pub fn current(&self, workflow: &str) -> Option<Arc<Definition>> {
        self.inner
            .read()
            .expect("library lock")
            .current
            .get(workflow)
            .cloned()
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

    pub fn current_definitions(&self) -> Vec<Arc<Definition>> {
        let mut all: Vec<_> = self
            .inner
            .read()
            .expect("library lock")
            .current
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }
}
