//! How `onething case` prints a command's outcome and a refusal.

use onething_core::case::CaseError;
use onething_store::CommandOutcome;

use crate::Terminal;

/// ` provisional (2027)`: a due time counted on provisional calendar years.
pub(crate) fn provisional_flag(years: &[i32]) -> String {
    let years: Vec<String> = years.iter().map(ToString::to_string).collect();
    format!(" provisional ({})", years.join(", "))
}

pub(crate) fn print_refusal(error: &CaseError, terminal: &mut Terminal<'_>) -> std::io::Result<()> {
    match error {
        CaseError::InvalidApplication { problems } | CaseError::InvalidOutputs { problems, .. } => {
            let head = match error {
                CaseError::InvalidOutputs { step, .. } => format!(
                    "refused: the outputs of step `{step}` have {} problem(s):",
                    problems.len()
                ),
                _ => format!(
                    "refused: the application has {} problem(s):",
                    problems.len()
                ),
            };
            writeln!(terminal.err, "{head}")?;
            for problem in problems {
                writeln!(terminal.err, "  {}: {}", problem.field, problem.message)?;
            }
        }
        other => writeln!(terminal.err, "refused: {other}")?,
    }
    Ok(())
}

/// Runs one command; prints what happened; returns the exit code.
pub(crate) fn report(outcome: &CommandOutcome, terminal: &mut Terminal<'_>) -> std::io::Result<()> {
    match &outcome.already_applied {
        Some(applied) => writeln!(
            terminal.err,
            "{}: already applied (events {}–{}); nothing changed",
            outcome.case_id, applied.first_sequence, applied.last_sequence
        ),
        None => {
            for stored in &outcome.appended {
                writeln!(
                    terminal.err,
                    "{} #{} {}",
                    outcome.case_id,
                    stored.sequence,
                    stored.event.change.name()
                )?;
            }
            Ok(())
        }
    }
}
