//! A step's clock: its `time_limit` and `warn_before`, the `[[step.time_limits]]`
//! rules that pick another limit for some cases, its `statutory_limit` and
//! `statutory_warn_before`, its `[step.extension]`, and `special_procedures`,
//! which stop the clock. All but the first need a `time_limit` to work on.

use super::{limit_hours, Parser, Spans};
use crate::calendar::TimeSpan;
use crate::toml_reader::{Located, Table};
use crate::workflow::model::{Extension, TimeLimitRule};

impl Parser<'_> {
    /// The step's own limit and warning; a warning must be shorter than its limit.
    pub(super) fn limit_and_warning(
        &mut self,
        time_limit: Option<Located<String>>,
        warn_before: Option<Located<String>>,
        spans: &mut Spans,
    ) -> (Option<TimeSpan>, Option<TimeSpan>) {
        let time_limit_written = time_limit.is_some();
        let warn_span = warn_before.as_ref().map(|t| t.span.clone());
        let time_limit = self.time_span(time_limit, spans);
        let warn_before = self.time_span(warn_before, spans);
        match (time_limit, warn_before, warn_span) {
            (None, Some(_), Some(span)) if !time_limit_written => {
                self.error(span, "`warn_before` needs a `time_limit` to warn before");
            }
            (Some(limit), Some(warn), Some(span)) if limit_hours(warn) >= limit_hours(limit) => {
                self.error(
                    span,
                    format!("`warn_before` ({warn}) must be shorter than the time limit ({limit})"),
                );
            }
            _ => {}
        }
        (time_limit, warn_before)
    }

    /// The step's statutory limit (法定时限) and its warning: the promised
    /// `time_limit` must be written beside it and may not be longer.
    pub(super) fn statutory_limit_and_warning(
        &mut self,
        statutory_limit: Option<Located<String>>,
        statutory_warn_before: Option<Located<String>>,
        promised: Option<TimeSpan>,
        time_limit_written: bool,
        spans: &mut Spans,
    ) -> (Option<TimeSpan>, Option<TimeSpan>) {
        let limit_span = statutory_limit.as_ref().map(|t| t.span.clone());
        let warn_span = statutory_warn_before.as_ref().map(|t| t.span.clone());
        let limit_written = statutory_limit.is_some();
        let limit = self.time_span(statutory_limit, spans);
        let warn = self.time_span(statutory_warn_before, spans);
        if let Some(span) = limit_span {
            if !time_limit_written {
                self.error(
                    span,
                    "`statutory_limit` needs a `time_limit` beside it, the promised limit (承诺时限) the step is held to; write the same limit if the promise is the law's",
                );
            } else if let (Some(statutory), Some(promised)) = (limit, promised) {
                if limit_hours(statutory) < limit_hours(promised) {
                    self.error(
                        span,
                        format!("the statutory limit ({statutory}) is shorter than the promised `time_limit` ({promised}): a promise cannot give more time than the law"),
                    );
                }
            }
        }
        match (limit, warn, warn_span) {
            (None, Some(_), Some(span)) if !limit_written => {
                self.error(
                    span,
                    "`statutory_warn_before` needs a `statutory_limit` to warn before",
                );
            }
            (Some(limit), Some(warn), Some(span)) if limit_hours(warn) >= limit_hours(limit) => {
                self.error(
                    span,
                    format!("`statutory_warn_before` ({warn}) must be shorter than the statutory limit ({limit})"),
                );
            }
            _ => {}
        }
        (limit, warn)
    }

    /// The `[[step.time_limits]]` rules, in order; their conditions are kept
    /// in `spans` to be checked as expressions once every step is known.
    /// No rule may promise more time than the step's statutory limit.
    pub(super) fn time_limit_rules(
        &mut self,
        step_id: &Located<String>,
        rule_tables: &[Table<'_, '_>],
        time_limit_written: bool,
        statutory_limit: Option<TimeSpan>,
        spans: &mut Spans,
    ) -> Vec<TimeLimitRule> {
        let mut time_limits = Vec::new();
        for (index, rule) in rule_tables.iter().enumerate() {
            let d = &mut Vec::new();
            let when = rule.required_string("when", d);
            let limit = rule.required_string("limit", d);
            let warn = rule.string("warn_before", d);
            rule.finish(d);
            self.diagnostics.append(d);
            let warn_span = warn.as_ref().map(|w| w.span.clone());
            let limit_span = limit.as_ref().map(|l| l.span.clone());
            let limit = self.time_span(limit, spans);
            if let (Some(limit), Some(statutory), Some(span)) = (limit, statutory_limit, limit_span)
            {
                if limit_hours(limit) > limit_hours(statutory) {
                    self.error(
                        span,
                        format!("this rule's limit ({limit}) is longer than the step's `statutory_limit` ({statutory}): a promise cannot give more time than the law"),
                    );
                }
            }
            let warn = self.time_span(warn, spans);
            if let (Some(limit), Some(warn), Some(span)) = (limit, warn, warn_span) {
                if limit_hours(warn) >= limit_hours(limit) {
                    self.error(
                        span,
                        format!(
                            "`warn_before` ({warn}) must be shorter than the time limit ({limit})"
                        ),
                    );
                }
            }
            if let Some(when) = &when {
                spans
                    .limit_conditions
                    .insert((step_id.value.clone(), index), when.clone());
            }
            if let (Some(when), Some(limit)) = (when, limit) {
                time_limits.push(TimeLimitRule {
                    when: when.value,
                    limit,
                    warn_before: warn,
                });
            }
        }
        if let Some(first) = rule_tables.first() {
            if !time_limit_written {
                self.error(
                    first.span(),
                    "a step with `time_limits` needs a `time_limit` for the cases no rule picks out",
                );
            }
        }
        time_limits
    }

    pub(super) fn check_special_procedures(
        &mut self,
        step: &Table<'_, '_>,
        special_procedures: bool,
        time_limit_written: bool,
    ) {
        if special_procedures && !time_limit_written {
            if let Some(span) = step.key_span("special_procedures") {
                self.error(
                    span,
                    "`special_procedures` stops the step's clock, and this step has no `time_limit`",
                );
            }
        }
    }

    /// The `[step.extension]`: how much longer the limit may be made, and the
    /// agency that must approve it (none named: the owner extends at once).
    pub(super) fn extension(
        &mut self,
        extension_table: Option<Table<'_, '_>>,
        time_limit_written: bool,
        spans: &mut Spans,
    ) -> Option<Extension> {
        let extension = extension_table?;
        let d = &mut Vec::new();
        let limit = extension.required_string("limit", d);
        let approved_by = extension.string("approved_by", d);
        extension.finish(d);
        self.diagnostics.append(d);
        if let Some(approved_by) = &approved_by {
            self.known_agency(approved_by, "approved_by");
        }
        if !time_limit_written {
            self.error(
                extension.span(),
                "an `extension` extends the step's `time_limit`, and this step has none",
            );
        }
        let limit = self.time_span(limit, spans)?;
        Some(Extension {
            limit,
            approved_by: approved_by.map(|a| a.value),
        })
    }
}
