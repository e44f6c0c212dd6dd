//! Charts drawn on the server as SVG: horizontal bars, one per labelled
//! value. Every chart is shown beside a table with the same figures, so the
//! SVG is a picture only (`role="img"` with a title), never the sole carrier.

use std::fmt::Write as _;

use maud::{html, Markup, PreEscaped};

use crate::graph::escape;

/// One bar: its label, its length (any unit, scaled to the longest) and the
/// text written at its end.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub text: String,
}

/// Horizontal bars; `id` names the chart for its title (unique on the page).
pub fn bars(id: &str, title: &str, bars: &[Bar]) -> Markup {
    let most = bars
        .iter()
        .map(|bar| bar.value)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let row_height = 22;
    let label_width = 200;
    let bar_width = 340.0;
    let height = bars.len() * row_height + 6;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title" viewBox="0 0 {} {height}" width="100%" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title>"#,
        label_width + bar_width as usize + 90,
        escape(title)
    );
    for (index, bar) in bars.iter().enumerate() {
        let y = index * row_height + 3;
        let width = (bar.value.max(0.0) / most * bar_width).round() as usize;
        let _ = write!(
            svg,
            r#"<text x="0" y="{}" font-size="13">{}</text><rect class="bar" x="{label_width}" y="{y}" width="{width}" height="15"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            y + 12,
            escape(&bar.label),
            label_width + width + 4,
            y + 12,
            escape(&bar.text),
        );
    }
    svg.push_str("</svg>");
    html! { (PreEscaped(svg)) }
}
