//! Which read-model rows a command changed, so that only those are written.
//!
//! The rows stored for a case are those of its state before the command:
//! they were written in the transaction of its last event, and the append's
//! version check lets a command's events in only right after that state. So
//! rows the command did not change need no write, rows whose key is gone are
//! deleted one by one, and the new or changed ones are upserted by key. A
//! step's figure row changes in place (one `UPDATE` of a row, often without
//! touching its indexes) instead of every row of the case being deleted and
//! inserted again with both its indexes.

use std::sync::LazyLock;

use crate::figures::{FigureRows, StepFigureRow};
use crate::views::{ReadModels, TaskRow};

/// The rows of one table a write must touch.
#[derive(Debug)]
pub enum Changed<'a, R> {
    /// Every row of the case is replaced (no state before: a new case, a
    /// rebuild, a backfill).
    All(&'a [R]),
    /// Only these: rows to insert or replace, and stored rows whose key is gone.
    Some {
        upsert: Vec<&'a R>,
        removed: Vec<&'a R>,
    },
}

impl<'a, R: PartialEq> Changed<'a, R> {
    fn between(before: &'a [R], after: &'a [R], same_key: impl Fn(&R, &R) -> bool) -> Self {
        // A case has a few dozen rows at most: comparing all pairs is cheaper
        // than building an index of them.
        let upsert = after.iter().filter(|row| !before.contains(row)).collect();
        let removed = before
            .iter()
            .filter(|old| !after.iter().any(|new| same_key(new, old)))
            .collect();
        Changed::Some { upsert, removed }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Changed::All(_) => false,
            Changed::Some { upsert, removed } => upsert.is_empty() && removed.is_empty(),
        }
    }
}

/// What one write must touch of a case's task and figure rows.
#[derive(Debug)]
pub struct RowChanges<'a> {
    pub tasks: Changed<'a, TaskRow>,
    /// Whether the case's own figure row changed.
    pub case_figures: bool,
    pub step_figures: Changed<'a, StepFigureRow>,
}

impl<'a> RowChanges<'a> {
    /// Every row of `after`, replacing whatever is stored.
    pub fn all(after: &'a ReadModels) -> RowChanges<'a> {
        RowChanges {
            tasks: Changed::All(&after.tasks),
            case_figures: true,
            step_figures: Changed::All(&after.figures.steps),
        }
    }

    /// The rows that differ between the state before a command and after it.
    pub fn between(
        tasks_before: &'a [TaskRow],
        figures_before: &'a FigureRows,
        after: &'a ReadModels,
    ) -> RowChanges<'a> {
        RowChanges {
            tasks: Changed::between(tasks_before, &after.tasks, |a, b| {
                a.step == b.step && a.agency == b.agency
            }),
            case_figures: figures_before.case != after.figures.case,
            step_figures: Changed::between(&figures_before.steps, &after.figures.steps, |a, b| {
                a.step == b.step && a.agency == b.agency
            }),
        }
    }

    /// Whether the case's figures changed, so that its day is summed again.
    pub fn figures_changed(&self) -> bool {
        self.case_figures || !self.step_figures.is_empty()
    }
}

/// ` ON CONFLICT (keys) DO UPDATE SET column = excluded.column, …` for
/// every column that is not a key.
pub(crate) fn upsert_clause(columns: &str, keys: &[&str]) -> String {
    let updates: Vec<String> = columns
        .split(',')
        .map(str::trim)
        .filter(|column| !keys.contains(column))
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    format!(
        " ON CONFLICT ({}) DO UPDATE SET {}",
        keys.join(", "),
        updates.join(", ")
    )
}

pub(crate) static TASKS_UPSERT: LazyLock<String> = LazyLock::new(|| {
    upsert_clause(
        crate::views::task_columns!(),
        &["case_id", "step", "agency"],
    )
});
pub(crate) static CASE_FIGURES_UPSERT: LazyLock<String> =
    LazyLock::new(|| upsert_clause(crate::figures::case_figure_columns!(), &["case_id"]));
pub(crate) static STEP_FIGURES_UPSERT: LazyLock<String> = LazyLock::new(|| {
    upsert_clause(
        crate::figures::step_figure_columns!(),
        &["case_id", "step", "agency"],
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_clause_updates_every_column_but_the_keys() {
        assert_eq!(
            upsert_clause("case_id, step, state, due", &["case_id", "step"]),
            " ON CONFLICT (case_id, step) DO UPDATE SET state = excluded.state, due = excluded.due"
        );
    }

    #[test]
    fn only_new_changed_and_removed_rows_are_touched() {
        let before = [("a", 1), ("b", 2), ("c", 3)];
        let after = [("a", 1), ("b", 5), ("d", 4)];
        let Changed::Some { upsert, removed } =
            Changed::between(&before, &after, |a, b| a.0 == b.0)
        else {
            panic!("a diff, not a replacement");
        };
        assert_eq!(upsert, [&("b", 5), &("d", 4)]);
        assert_eq!(removed, [&("c", 3)]);
        assert!(Changed::between(&before, &before, |a, b| a.0 == b.0).is_empty());
    }
}
