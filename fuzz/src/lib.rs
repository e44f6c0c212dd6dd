//! What the fuzz targets share: the shipped registry (agencies and
//! calendars) and the shipped newborn bundle, read at compile time.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use onething_core::case::{Action, Actor, Case, CaseCommand, Channel, Library};
use onething_core::registry::Registry;
use onething_core::workflow::{parse_workflow, Definition};

pub const NEWBORN: &str = include_str!("../../workflows/newborn.toml");

/// The registry the server builds from `workflows/agencies.toml` and
/// `workflows/calendars/`.
pub fn registry() -> Registry {
    let mut registry = Registry::default();
    registry
        .add_agencies(include_str!("../../workflows/agencies.toml"))
        .expect("the shipped agencies are valid");
    registry
        .add_calendar(include_str!("../../workflows/calendars/cn.toml"))
        .expect("the shipped calendar is valid");
    registry
}

pub fn newborn() -> Definition {
    parse_workflow(NEWBORN, &registry()).expect("the shipped newborn bundle is valid")
}

pub fn library() -> Arc<Library> {
    let registry = registry();
    let library = Library::new();
    for calendar in registry.calendars.values() {
        library.add_calendar(calendar.clone());
    }
    library.set_current(newborn());
    Arc::new(library)
}

pub fn window() -> Actor {
    Actor::Agency {
        agency: "window".into(),
        operator: None,
    }
}

pub fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 3, 2, 0, 0).unwrap()
}

/// A newborn case just opened at the window with the sample form.
pub fn opened_case(library: &Library) -> Case {
    let form: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/data/forms/newborn.json")).unwrap();
    let command = CaseCommand {
        command_id: "open".into(),
        actor: window(),
        at: at(),
        action: Action::Open {
            case_id: "C1".into(),
            workflow: "newborn".into(),
            form,
            materials: Vec::new(),
            opted_in: vec!["maternity_allowance".into()],
            channel: Channel::Window,
        },
    };
    let mut case = Case::default();
    for event in onething_core::case::decide_with_library(&case, library, &command)
        .expect("the sample newborn application opens")
    {
        case.apply_event(event);
    }
    case
}
