//! A step's agency chosen at run time (派单): `agency = { any_of = [...],
//! dispatched_by = "hotline" }`, and how many co-handling agencies a
//! dispatch may name beside the lead (`co_handlers = N`).

use super::Parser;
use crate::toml_reader::{type_name, Located, Table};
use crate::workflow::model::Dispatch;

/// What `agency` says: one agency, or the dispatcher and its set.
pub(super) struct AgencyKey {
    /// The step's own agency, or its dispatcher.
    pub holder: Option<Located<String>>,
    pub dispatch: Option<Dispatch>,
}

impl Parser<'_> {
    /// Reads `agency`: a string names the step's agency; a table names the
    /// agencies the dispatcher chooses from.
    pub(super) fn agency_key(&mut self, table: &Table<'_, '_>) -> AgencyKey {
        let Some(value) = table.get("agency") else {
            self.error(table.span(), "missing key `agency`");
            return AgencyKey {
                holder: None,
                dispatch: None,
            };
        };
        let d = &mut Vec::new();
        let key = match value.get_ref() {
            toml::de::DeValue::String(text) => {
                let agency = Located::new(text.to_string(), value.span());
                self.known_agency(&agency, "agency");
                AgencyKey {
                    holder: Some(agency),
                    dispatch: None,
                }
            }
            toml::de::DeValue::Table(_) => {
                let dispatch = Table::from_value(value, "`agency`", d).expect("a table");
                let any_of = dispatch.strings("any_of", d);
                let dispatched_by = dispatch.required_string("dispatched_by", d);
                if dispatch.get("any_of").is_none() {
                    d.push(crate::diagnostic::Diagnostic::new(
                        dispatch.span(),
                        "missing key `any_of` (the agencies the dispatcher chooses from)",
                    ));
                }
                dispatch.finish(d);
                self.diagnostics.append(d);
                if let (Some(list), true) = (dispatch.get("any_of"), any_of.is_empty()) {
                    if matches!(list.get_ref(), toml::de::DeValue::Array(_)) {
                        self.error(
                            list.span(),
                            "`any_of` is empty: a dispatched step needs at least one agency to dispatch to",
                        );
                    }
                }
                for agency in &any_of {
                    self.known_agency(agency, "agency in `any_of`");
                }
                self.duplicates(&any_of, "agency in `any_of`");
                if let Some(dispatcher) = &dispatched_by {
                    self.known_agency(dispatcher, "dispatched_by");
                    if let Some(listed) = any_of.iter().find(|a| a.value == dispatcher.value) {
                        self.error(
                            listed.span.clone(),
                            format!(
                                "`{}` dispatches the step (`dispatched_by`) and cannot also be one of the agencies it dispatches to",
                                dispatcher.value
                            ),
                        );
                    }
                }
                AgencyKey {
                    holder: dispatched_by,
                    dispatch: Some(Dispatch {
                        any_of: any_of.into_iter().map(|a| a.value).collect(),
                        co_handlers: 0,
                    }),
                }
            }
            other => {
                self.error(
                    value.span(),
                    format!(
                        "`agency` must be an agency or a table `{{ any_of = [...], dispatched_by = \"...\" }}`, found {}",
                        type_name(other)
                    ),
                );
                AgencyKey {
                    holder: None,
                    dispatch: None,
                }
            }
        };
        self.diagnostics.append(d);
        key
    }

    /// `co_handlers = N`: at most N co-handling agencies, chosen at
    /// dispatch from the step's set beside the lead.
    pub(super) fn co_handlers(
        &mut self,
        written: Option<Located<i64>>,
        dispatch: Option<&mut Dispatch>,
    ) {
        let Some(written) = written else {
            return;
        };
        let Some(dispatch) = dispatch else {
            self.error(
                written.span,
                "`co_handlers` are chosen when the step is dispatched, and this step's agency is fixed (write `agency = { any_of = [...], dispatched_by = \"...\" }`)",
            );
            return;
        };
        let others = dispatch.any_of.len().saturating_sub(1);
        match u32::try_from(written.value) {
            Ok(count) if count >= 1 && (count as usize) <= others => dispatch.co_handlers = count,
            _ if written.value < 1 => self.error(
                written.span,
                format!(
                    "`co_handlers` is the most co-handling agencies a dispatch may name, at least 1, not {}",
                    written.value
                ),
            ),
            _ => self.error(
                written.span,
                format!(
                    "`co_handlers = {}` asks for more co-handlers than `any_of` has agencies beside the lead ({others})",
                    written.value
                ),
            ),
        }
    }
}
