//! The before-reform baseline (`[before_reform]`): the figures of the old
//! way the bundle replaces, each a whole number of at least one, with the
//! source they come from.

use super::Parser;
use crate::toml_reader::Table;
use crate::workflow::model::BeforeReform;

const FIGURES: [&str; 4] = ["applications", "materials", "trips", "working_days"];

impl Parser<'_> {
    pub(super) fn before_reform(&mut self, table: &Table<'_, '_>) -> Option<BeforeReform> {
        let d = &mut Vec::new();
        let source = table.required_string("source", d);
        let figures = FIGURES.map(|key| (key, table.integer(key, d)));
        table.finish(d);
        self.diagnostics.append(d);
        if let Some(source) = &source {
            if source.value.trim().is_empty() {
                self.error(
                    source.span.clone(),
                    "`source` of `[before_reform]` is empty: say where the figures come from",
                );
            }
        }
        let mut valid = source.is_some();
        let mut values = [None; 4];
        for (slot, (key, figure)) in values.iter_mut().zip(figures) {
            let Some(figure) = figure else { continue };
            if figure.value < 1 || figure.value > 100_000 {
                self.error(
                    figure.span,
                    format!(
                        "`{key}` of `[before_reform]` must be a whole number from 1 to 100000, found {}",
                        figure.value
                    ),
                );
                valid = false;
            } else {
                *slot = Some(figure.value as u32);
            }
        }
        if FIGURES.iter().all(|key| table.get(key).is_none()) {
            self.error(
                table.span(),
                "`[before_reform]` gives none of its figures: `applications`, `materials`, `trips`, `working_days` (at least one)",
            );
            valid = false;
        }
        let [applications, materials, trips, working_days] = values;
        valid.then(|| BeforeReform {
            applications,
            materials,
            trips,
            working_days,
            source: source.map(|s| s.value).unwrap_or_default(),
        })
    }
}
