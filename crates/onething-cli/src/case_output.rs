//! How `onething case` prints a command's outcome and a refusal.

use onething_core::case::CaseError;
use onething_store::CommandOutcome;

use crate::Terminal;

/// ` provisional (2027)`: a due time counted on provisional calendar years.
pub(crate) fn provisional_flag(years: &[i32]) -> String {
    let years: Vec<String> = years.iter().map(ToString::to_string).collect();
    format!(" provisional ({})", years.join(", "))
}

/// What `case show` writes after a step's due time beyond its warning and
/// overdue flags: the law's due time and mark, and the escalation points
/// reached (` by law 2025-06-11 00:00 (UTC+08:00) PAST THE LAW; reminder, criticism`).
pub(crate) fn limit_flags(
    step: &onething_core::case::StepView,
    local: impl Fn(chrono::DateTime<chrono::Utc>) -> String,
) -> String {
    let mut flags = String::new();
    if let Some(statutory) = &step.statutory {
        flags.push_str(&format!(" by law {}", local(statutory.due)));
        if statutory.overdue {
            flags.push_str(" PAST THE LAW");
        }
    }
    if !step.escalations.is_empty() {
        let reached: Vec<&str> = step.escalations.iter().map(|r| r.id.as_str()).collect();
        flags.push_str(&format!("; {}", reached.join(", ")));
    }
    flags
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
