//! The case (办件): one application running through one bundle, as an
//! event-sourced aggregate that interprets any validated definition.

mod command;
mod decide;
mod error;
mod event;
mod library;
mod state;

pub use command::*;
pub use decide::{decide, FOLLOW_UP_WORKING_DAYS};
pub use error::CaseError;
pub use event::*;
pub use library::Library;
pub use state::*;

use std::sync::Arc;

/// The registry id of the comprehensive window (综合窗口), which may open
/// a case of any bundle and act for the applicant.
pub const WINDOW_AGENCY: &str = "window";

impl cqrs_es::Aggregate for Case {
    const TYPE: &'static str = "case";
    type Command = CaseCommand;
    type Event = CaseEvent;
    type Error = CaseError;
    type Services = Arc<Library>;

    async fn handle(
        &mut self,
        command: CaseCommand,
        library: &Arc<Library>,
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), CaseError> {
        let events = decide_with_library(self, library, &command)?;
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: CaseEvent) {
        self.apply_event(event);
    }
}

/// Looks up the definition and calendar the command needs, then decides.
pub fn decide_with_library(
    case: &Case,
    library: &Library,
    command: &CaseCommand,
) -> Result<Vec<CaseEvent>, CaseError> {
    let definition = match (case.file(), &command.action) {
        (Some(file), _) => library
            .by_hash(&file.hash)
            .ok_or_else(|| CaseError::UnknownDefinition {
                hash: file.hash.clone(),
            })?,
        (None, Action::Open { workflow, .. }) => {
            library
                .current(workflow)
                .ok_or_else(|| CaseError::UnknownWorkflow {
                    workflow: workflow.clone(),
                })?
        }
        (None, _) => return Err(CaseError::NotOpened),
    };
    let calendar = library
        .calendar(&definition.calendar)
        .ok_or_else(|| CaseError::UnknownCalendar {
            calendar: definition.calendar.clone(),
        })?;
    decide(case, &definition, &calendar, command)
}
