//! The dashboard's comparison with the old way (改革前后对比): for each
//! bundle that declares a `[before_reform]` baseline, its figures beside
//! the average of the completed cases in the filter, and the total saved,
//! as the reform's own reports state them ("32 → 5 working days").

use std::collections::BTreeMap;
use std::fmt::Write as _;

use maud::{html, Markup};
use onething_core::case::{savings, CompletedTotals, Savings};
use onething_server::AppState;
use onething_store::figures::DashboardFilter;

use crate::messages::Lang;

/// One bundle's comparison.
pub struct SavingsRow {
    pub workflow: String,
    pub title: String,
    pub savings: Savings,
}

/// The rows for the bundles in `filter` (every bundle when it names none)
/// that declare a baseline, by the current version's baseline.
pub fn savings_rows(
    state: &AppState,
    lang: Lang,
    filter: &DashboardFilter,
    completed: &BTreeMap<String, CompletedTotals>,
) -> Vec<SavingsRow> {
    let mut rows: Vec<SavingsRow> = state
        .store
        .library()
        .current_definitions()
        .into_iter()
        .filter(|d| filter.workflow.as_ref().is_none_or(|w| *w == d.id))
        .filter_map(|d| {
            let baseline = d.before_reform.as_ref()?;
            let totals = completed.get(&d.id).copied().unwrap_or_default();
            Some(SavingsRow {
                workflow: d.id.clone(),
                title: super::localized(lang, &d.title),
                savings: savings(baseline, totals),
            })
        })
        .collect();
    rows.sort_by(|a, b| a.workflow.cmp(&b.workflow));
    rows.dedup_by(|a, b| a.workflow == b.workflow);
    rows
}

fn after(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |v| format!("{v:.1}"))
}

pub fn section(lang: Lang, rows: &[SavingsRow], csv_link: Markup) -> Markup {
    html! {
        section class="dashboard-part" id="savings" {
            h2 { (lang.t("dashboard.savings")) }
            table class="savings" {
                caption { (lang.t("dashboard.savings")) " · " (csv_link) }
                thead { tr {
                    th scope="col" { (lang.t("dashboard.bundle")) }
                    th scope="col" { (lang.t("dashboard.figure")) }
                    th scope="col" { (lang.t("dashboard.before_reform")) }
                    th scope="col" { (lang.t("dashboard.after_reform")) }
                    th scope="col" { (lang.t("dashboard.completed_cases")) }
                    th scope="col" { (lang.t("dashboard.saved_in_all")) }
                } }
                tbody {
                    @for row in rows {
                        @for saving in &row.savings.figures {
                            tr data-workflow=(row.workflow) data-figure=(saving.figure) {
                                td { (row.title) }
                                td { (lang.t(&format!("dashboard.saving.{}", saving.figure))) }
                                td class="money" { (saving.before) }
                                td class="money" { (after(saving.after)) }
                                td class="money" { (row.savings.completed) }
                                td class="money" { (saving.saved) }
                            }
                        }
                    }
                }
            }
            @for row in rows {
                p class="source" { (row.title) ": " (lang.t("dashboard.baseline_source")) " " (row.savings.source) }
            }
        }
    }
}

pub fn csv(rows: &[SavingsRow]) -> String {
    let mut out = String::from("workflow,figure,before,after_average,completed,saved\n");
    for row in rows {
        for saving in &row.savings.figures {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{}",
                super::csv_cell(&row.workflow),
                saving.figure,
                saving.before,
                saving.after.map_or_else(String::new, |v| format!("{v:.2}")),
                row.savings.completed,
                saving.saved
            );
        }
    }
    out
}
