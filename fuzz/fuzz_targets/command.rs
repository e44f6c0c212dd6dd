//! Any JSON as a command's action (the body of every command endpoint, as
//! the engine receives it): decided against an open newborn case by every
//! kind of actor, it gives events or a refusal, and the events apply.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use onething_core::case::{decide_with_library, Action, Actor, Case, CaseCommand, Library};

static SETUP: OnceLock<(Arc<Library>, Case)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(action) = serde_json::from_slice::<Action>(data) else {
        return;
    };
    let (library, case) = SETUP.get_or_init(|| {
        let library = onething_fuzz::library();
        let case = onething_fuzz::opened_case(&library);
        (library, case)
    });
    let actors = [
        onething_fuzz::window(),
        Actor::Agency { agency: "hospital".into(), operator: Some("op".into()) },
        Actor::Agency { agency: "police".into(), operator: None },
        Actor::Applicant { id: None },
        Actor::System,
    ];
    for actor in actors {
        let command = CaseCommand {
            command_id: "fuzz".into(),
            actor,
            at: onething_fuzz::at() + chrono::Duration::hours(1),
            action: action.clone(),
        };
        for start in [&Case::default(), case] {
            if let Ok(events) = decide_with_library(start, library, &command) {
                let mut after = start.clone();
                for event in events {
                    after.apply_event(event);
                }
            }
        }
    }
});
