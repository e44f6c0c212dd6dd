//! The case (办件): one application running through one bundle, as an
//! event-sourced aggregate that interprets any validated definition.

mod clock;
mod command;
mod decide;
mod error;
mod event;
mod figures;
mod library;
mod narration;
mod rating;
mod savings;
mod state;
mod statistics;
mod step_record;
mod supervision;
mod view;

pub use clock::{deadline, Deadline};
pub use command::*;
pub use decide::{decide, FOLLOW_UP_WORKING_DAYS};
pub use error::CaseError;
pub use event::*;
pub use figures::{
    channel_name, figures, handed_over, material_counts, trips_made, CaseFacts, CaseFigures,
    FollowUpState, MaterialCounts, StepFacts,
};
pub use library::{in_force_on, period, Library};
pub use narration::{describe, local_time};
pub use rating::FollowUp;
pub use savings::{savings, CompletedTotals, Saving, Savings};
pub use state::*;
pub use statistics::{statistics, Statistics};
pub use supervision::SupervisionRecord;
pub use view::*;

use std::sync::Arc;

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

/// The definition a command is decided on: the one the case runs on, or for
/// an open command the version of the bundle in force on the application date.
pub fn definition_for(
    case: &Case,
    library: &Library,
    command: &CaseCommand,
) -> Result<Arc<crate::workflow::Definition>, CaseError> {
    match (case.file(), &command.action) {
        (Some(file), _) => {
            library
                .by_hash(&file.hash)
                .ok_or_else(|| CaseError::UnknownDefinition {
                    hash: file.hash.clone(),
                })
        }
        (None, Action::Open { workflow, .. }) => library.in_force(workflow, command.at),
        (None, _) => Err(CaseError::NotOpened),
    }
}

/// Looks up the definition and calendar the command needs, then decides.
pub fn decide_with_library(
    case: &Case,
    library: &Library,
    command: &CaseCommand,
) -> Result<Vec<CaseEvent>, CaseError> {
    let definition = definition_for(case, library, command)?;
    let calendar =
        library
            .calendar(&definition.calendar)
            .ok_or_else(|| CaseError::UnknownCalendar {
                calendar: definition.calendar.clone(),
            })?;
    decide(case, &definition, &calendar, command)
}

/// The id of the case that an open command creates: derived from the
/// command id, so that repeating the command finds the case it made.
pub fn case_id_for(open_command_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(open_command_id.as_bytes());
    let hex: String = digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02X}"))
        .collect();
    format!("C{hex}")
}
