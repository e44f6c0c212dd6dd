//! The reform's saving against the old way (改革前后对比): each figure of a
//! bundle's `[before_reform]` baseline beside the average of its completed
//! cases, and the total saved over them, as the reform's own reports put
//! it ("32 → 5 working days, 4 → 1 trips, 9 → 2 materials").

use serde::Serialize;

use crate::workflow::BeforeReform;

/// What the completed cases of a bundle used, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompletedTotals {
    pub cases: u64,
    pub materials_submitted: u64,
    pub trips_made: u64,
    /// Working days over the cases whose working days are known, and how many those are.
    pub working_days_total: u64,
    pub working_days_counted: u64,
}

/// The comparison for one bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Savings {
    /// The baseline's source.
    pub source: String,
    /// Completed cases compared.
    pub completed: u64,
    /// The baseline's figures in order: applications, materials, trips, working days.
    pub figures: Vec<Saving>,
}

/// One figure: before the reform, after it on average, and saved in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saving {
    /// `applications`, `materials`, `trips` or `working_days`.
    pub figure: &'static str,
    pub before: u32,
    /// The average over the completed cases counted; none without any.
    pub after: Option<f64>,
    /// Σ (before − the case's own figure) over them; negative when the new
    /// way took more.
    pub saved: i64,
}

/// Compares `totals` with `baseline`. Every completed case made one
/// application.
pub fn savings(baseline: &BeforeReform, totals: CompletedTotals) -> Savings {
    let measured = [
        (
            "applications",
            baseline.applications,
            totals.cases,
            totals.cases,
        ),
        (
            "materials",
            baseline.materials,
            totals.materials_submitted,
            totals.cases,
        ),
        ("trips", baseline.trips, totals.trips_made, totals.cases),
        (
            "working_days",
            baseline.working_days,
            totals.working_days_total,
            totals.working_days_counted,
        ),
    ];
    let figures = measured
        .into_iter()
        .filter_map(|(figure, before, used, counted)| {
            let before = before?;
            Some(Saving {
                figure,
                before,
                after: (counted > 0).then(|| used as f64 / counted as f64),
                saved: (i128::from(before) * i128::from(counted) - i128::from(used)) as i64,
            })
        })
        .collect();
    Savings {
        source: baseline.source.clone(),
        completed: totals.cases,
        figures,
    }
}
