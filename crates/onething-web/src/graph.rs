//! The step graph of a case drawn as SVG on the server: steps in columns by
//! how many steps come before them, arrows for `after`, each box coloured
//! *and* labelled by its live state (colour alone tells nothing in black
//! and white or to the colour-blind), with its agency and due time.

use std::collections::BTreeMap;
use std::fmt::Write;

use onething_core::case::{StepState, StepView};
use onething_core::workflow::Definition;

use crate::messages::Lang;

const BOX_WIDTH: i32 = 190;
const BOX_HEIGHT: i32 = 74;
const COLUMN_GAP: i32 = 60;
const ROW_GAP: i32 = 22;
const MARGIN: i32 = 12;

/// The state a person reads: the engine's, sharpened by the clock marks.
pub fn shown_state(step: &StepView) -> &'static str {
    match step.state {
        StepState::Active if step.overdue => "overdue",
        StepState::Active if step.warned => "warned",
        StepState::Active => "active",
        StepState::Paused => "paused",
        StepState::Suspended => "suspended",
        StepState::Waiting => "waiting",
        StepState::Completed => "completed",
        StepState::Skipped => "skipped",
        StepState::Refused => "refused",
        StepState::Cancelled => "cancelled",
    }
}

fn depths(definition: &Definition) -> BTreeMap<String, usize> {
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    // The longest path from a first step; the graph is acyclic (the
    // validator checks), so as many passes as steps settle it in any order.
    for _ in 0..definition.steps.len() {
        let mut moved = false;
        for step in &definition.steps {
            let level = step
                .after
                .iter()
                .filter_map(|before| depth.get(before))
                .map(|d| d + 1)
                .max()
                .unwrap_or(0);
            if depth.insert(step.id.clone(), level) != Some(level) {
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    depth
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn clip(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        let mut clipped: String = text.chars().take(chars.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

/// The SVG, with a title and description for screen readers (the table
/// beside it says the same in full).
pub fn case_graph(
    lang: Lang,
    definition: &Definition,
    steps: &[StepView],
    due_text: &dyn Fn(&StepView) -> String,
) -> String {
    let depth = depths(definition);
    let mut rows_in_column: BTreeMap<usize, i32> = BTreeMap::new();
    let mut place: BTreeMap<&str, (i32, i32)> = BTreeMap::new();
    for step in &definition.steps {
        let column = depth.get(&step.id).copied().unwrap_or(0);
        let row = rows_in_column.entry(column).or_insert(0);
        let x = MARGIN + column as i32 * (BOX_WIDTH + COLUMN_GAP);
        let y = MARGIN + *row * (BOX_HEIGHT + ROW_GAP);
        *row += 1;
        place.insert(step.id.as_str(), (x, y));
    }
    let columns = depth.values().max().map_or(1, |d| d + 1) as i32;
    let rows = rows_in_column.values().max().copied().unwrap_or(1);
    let width = 2 * MARGIN + columns * BOX_WIDTH + (columns - 1) * COLUMN_GAP;
    let height = 2 * MARGIN + rows * BOX_HEIGHT + (rows - 1) * ROW_GAP;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" aria-labelledby="graph-title" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><title id="graph-title">{}</title>"#,
        escape(lang.t("case.graph"))
    );
    svg.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>"##);
    for step in &definition.steps {
        let Some(&(x, y)) = place.get(step.id.as_str()) else {
            continue;
        };
        for before in &step.after {
            if let Some(&(bx, by)) = place.get(before.as_str()) {
                let _ = write!(
                    svg,
                    r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#444" stroke-width="1.5" marker-end="url(#arrow)"/>"##,
                    bx + BOX_WIDTH,
                    by + BOX_HEIGHT / 2,
                    x - 2,
                    y + BOX_HEIGHT / 2
                );
            }
        }
    }
    for step in &definition.steps {
        let Some(&(x, y)) = place.get(step.id.as_str()) else {
            continue;
        };
        let view = steps.iter().find(|s| s.id == step.id);
        let state = view.map_or("waiting", shown_state);
        let agency = definition
            .agency(&step.agency)
            .map_or(step.agency.clone(), |a| lang.pick(&a.name));
        let due = view.map(due_text).unwrap_or_default();
        let _ = write!(
            svg,
            r#"<g class="step state-{state}" data-step="{id}"><rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6"/><text x="{tx}" y="{y1}" class="step-title">{title}</text><text x="{tx}" y="{y2}" class="step-agency">{agency}</text><text x="{tx}" y="{y3}" class="step-state">{state_words}{due}</text></g>"#,
            id = escape(&step.id),
            tx = x + 8,
            y1 = y + 20,
            y2 = y + 40,
            y3 = y + 60,
            title = escape(&clip(&lang.pick(&step.title), 13)),
            agency = escape(&clip(&agency, 14)),
            state_words = escape(lang.t(&format!("state.{state}"))),
            due = if due.is_empty() {
                String::new()
            } else {
                escape(&format!(" · {due}"))
            },
        );
    }
    svg.push_str("</svg>");
    svg
}
