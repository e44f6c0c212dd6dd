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
/// reached (` by law 2025-06-11 00:00 (UTC+08:00) PAST THE LAW; reminder, criticism`);
/// for a multi-instance step how many instances it runs (` 2 instances`), for
/// an instance the item it is for (` item "闽A12345"`).
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
    if step.instances > 0 {
        flags.push_str(&format!(" {} instances", step.instances));
    }
    if let Some(item) = &step.item {
        flags.push_str(&format!(" item {item}"));
    }
    if let Some(dispatch) = &step.dispatch {
        flags.push_str(&format!("; dispatched by {}", dispatch.dispatcher));
        if !dispatch.co_handlers.is_empty() {
            let missing = dispatch.missing_reports();
            flags.push_str(&format!(
                ", co-handlers {} ({} reported)",
                dispatch.co_handlers.join(", "),
                dispatch.co_handlers.len() - missing.len()
            ));
        }
    }
    if step.sent_back > 0 {
        flags.push_str(&format!("; sent back {}×", step.sent_back));
    }
    flags
}

/// What `case tasks` writes after a task's provisional years: the part of a
/// dispatched step (`\tto dispatch`, `\tlead`, `\tco-handler`), `\tpast the
/// law` and `\tescalated reminder,criticism`, each only when it applies, so
/// that the lines of other tasks keep their columns.
pub(crate) fn task_limit_flags(task: &onething_store::views::AgencyTask) -> String {
    let mut flags = match task.part.as_deref() {
        Some("dispatch") => "\tto dispatch".to_string(),
        Some("lead") => "\tlead".to_string(),
        Some("co_handler") => "\tco-handler".to_string(),
        _ => String::new(),
    };
    if task.statutory_overdue {
        flags.push_str("\tpast the law");
    }
    if !task.escalations.is_empty() {
        flags.push_str(&format!("\tescalated {}", task.escalations.join(",")));
    }
    flags
}

/// The lines under a step or task that show the data it received
/// (`[[step.input]]`), one per input: name, label, value by its type.
pub(crate) fn input_lines(inputs: &[onething_core::case::InputValue], indent: &str) -> Vec<String> {
    let names = inputs
        .iter()
        .map(|i| i.name.chars().count())
        .max()
        .unwrap_or(0);
    inputs
        .iter()
        .map(|input| {
            let fallback = if input.fallback { " (fallback)" } else { "" };
            format!(
                "{indent}{:<names$}  {}  {}{fallback}",
                input.name,
                input.label.zh,
                input_value(input.kind, &input.value)
            )
        })
        .collect()
}

/// A value as a person reads it: money in yuan and fen, lists joined, `-`
/// for a value not given.
fn input_value(kind: onething_core::value_type::ValueKind, value: &serde_json::Value) -> String {
    use onething_core::value_type::ValueKind;
    use serde_json::Value;
    match (kind, value) {
        (_, Value::Null) => "-".to_string(),
        (ValueKind::Money, Value::Number(fen)) => match fen.as_i64() {
            Some(fen) => format!("¥{}.{:02} ({fen} fen)", fen / 100, (fen % 100).abs()),
            None => fen.to_string(),
        },
        (_, Value::String(text)) => text.clone(),
        (_, Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        (_, other) => other.to_string(),
    }
}

/// What `case stats` writes about materials: those not submitted because
/// they were shared, and those replaced by a commitment or waived.
pub(crate) fn materials_line(figures: &onething_core::case::Statistics) -> String {
    format!(
        "  materials not submitted {} ({} per case); by commitment {}, waived {}",
        figures.materials_not_submitted,
        figures
            .materials_not_submitted_per_case
            .map_or("-".to_string(), |d| format!("{d:.1}")),
        figures.materials_by_commitment,
        figures.materials_waived
    )
}

/// What `case stats` writes about the completed cases against the bundle's
/// before-reform baseline: one line per figure, "before → after".
pub(crate) fn savings_lines(figures: &onething_core::case::Statistics) -> Vec<String> {
    let Some(savings) = &figures.savings else {
        return Vec::new();
    };
    let mut lines = vec![format!(
        "  before the reform    over {} completed case(s), from: {}",
        savings.completed, savings.source
    )];
    for saving in &savings.figures {
        lines.push(format!(
            "    {:<18} {} → {} per case, {} saved in all",
            saving.figure.replace('_', " "),
            saving.before,
            saving.after.map_or("-".to_string(), |a| format!("{a:.1}")),
            saving.saved
        ));
    }
    lines
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

#[cfg(test)]
mod tests {
    use onething_core::case::{EscalationRecord, StatutoryClock, StepState, StepView};
    use onething_core::localized::Localized;

    use super::limit_flags;

    #[test]
    fn a_step_shows_the_law_s_due_time_its_mark_and_the_escalations_reached() {
        let at = chrono::DateTime::parse_from_rfc3339("2025-06-10T16:00:00Z")
            .unwrap()
            .to_utc();
        let mut step = StepView {
            id: "review".into(),
            agency: "a".into(),
            state: StepState::Active,
            due: None,
            warn_at: None,
            warned: false,
            overdue: true,
            passes: 1,
            outputs: None,
            inputs: vec![],
            requested_items: vec![],
            extension: None,
            provisional: false,
            provisional_years: vec![],
            statutory: None,
            escalations: vec![],
            claimed_by: None,
            instances: 0,
            item: None,
            dispatch: None,
            sent_back: 0,
        };
        let local = |time: chrono::DateTime<chrono::Utc>| time.format("%m-%d %H:%M").to_string();
        assert_eq!(limit_flags(&step, local), "");
        step.item = Some(serde_json::json!("闽A12345"));
        assert_eq!(limit_flags(&step, local), r#" item "闽A12345""#);
        step.item = None;
        step.statutory = Some(StatutoryClock {
            due: at,
            warn_at: None,
            provisional_years: vec![],
            warned: true,
            overdue: true,
        });
        step.escalations = ["reminder", "criticism"]
            .map(|id| EscalationRecord {
                id: id.into(),
                name: Localized {
                    zh: String::new(),
                    en: String::new(),
                },
                at,
            })
            .to_vec();
        assert_eq!(
            limit_flags(&step, local),
            " by law 06-10 16:00 PAST THE LAW; reminder, criticism"
        );
    }
}
