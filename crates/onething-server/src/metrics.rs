//! Prometheus metrics in the text exposition format, without a library:
//! a few labelled counters and gauges are all the server reports.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    gauges: Mutex<BTreeMap<(&'static str, String), i64>>,
    /// Background jobs started on this node, and whether each still runs.
    jobs: Mutex<BTreeMap<&'static str, bool>>,
}

/// Marks a background job as running while it lives; dropped when the job's
/// loop ends, however it ends (its return or a panic unwinding through it).
#[derive(Debug)]
pub struct JobRunning<'a> {
    metrics: &'a Metrics,
    job: &'static str,
}

impl Drop for JobRunning<'_> {
    fn drop(&mut self) {
        self.metrics
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(self.job, false);
    }
}

const HELP: &[(&str, &str, &str)] = &[
    (
        "onething_http_requests_total",
        "counter",
        "HTTP requests by method, route and status",
    ),
    (
        "onething_commands_total",
        "counter",
        "Case commands by action and outcome",
    ),
    (
        "onething_conflicts_retried_total",
        "counter",
        "Optimistic-concurrency conflicts retried",
    ),
    (
        "onething_webhook_deliveries_total",
        "counter",
        "Webhook deliveries by subscription and result",
    ),
    (
        "onething_feed_lag_events",
        "gauge",
        "Events not yet delivered, per webhook subscription (as of the last poll, at most one page of 100)",
    ),
    (
        "onething_feed_lag_seconds",
        "gauge",
        "Age of the oldest event not yet delivered, per webhook subscription (0 when none waits)",
    ),
    (
        "onething_deadline_events_total",
        "counter",
        "Warnings and overdue marks recorded by the scheduler",
    ),
    (
        "onething_job_failures_total",
        "counter",
        "Failures of background jobs by job: a failed or panicking run, or one case it could not handle",
    ),
    (
        "onething_checkpoints_total",
        "counter",
        "Audit checkpoints taken by this node",
    ),
    (
        "onething_calendar_official_until_days",
        "gauge",
        "Days until the last official holiday table of a calendar ends (after it, due times are provisional)",
    ),
    (
        "onething_calendar_until_days",
        "gauge",
        "Days until the last table, official or provisional, of a calendar ends (after it, working-day limits are refused)",
    ),
    (
        "onething_bundle_effective_until_days",
        "gauge",
        "Days until a bundle version's period ends, for versions with an end",
    ),
    (
        "onething_deadlines_revised_total",
        "counter",
        "Steps whose due times were revised after a calendar changed",
    ),
];

fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| {
            format!(
                "{key}=\"{}\"",
                value.replace('\\', "\\\\").replace('"', "\\\"")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Metrics {
    pub fn increment(&self, name: &'static str, pairs: &[(&str, &str)], by: u64) {
        let mut counters = self.counters.lock().expect("metrics lock");
        *counters.entry((name, labels(pairs))).or_default() += by;
    }

    pub fn set(&self, name: &'static str, pairs: &[(&str, &str)], value: i64) {
        self.gauges
            .lock()
            .expect("metrics lock")
            .insert((name, labels(pairs)), value);
    }

    /// Records that a background job's loop runs, until the guard is dropped.
    pub fn job_running(&self, job: &'static str) -> JobRunning<'_> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(job, true);
        JobRunning { metrics: self, job }
    }

    /// Every background job started on this node: `running` or `stopped`.
    pub fn jobs(&self) -> BTreeMap<String, String> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(job, running)| {
                let state = if *running { "running" } else { "stopped" };
                (job.to_string(), state.to_string())
            })
            .collect()
    }

    pub fn render(&self) -> String {
        let counters = self.counters.lock().expect("metrics lock");
        let gauges = self.gauges.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let values = counters
                .iter()
                .filter(|((n, _), _)| n == name)
                .map(|((_, l), v)| (l.clone(), *v as i64))
                .chain(
                    gauges
                        .iter()
                        .filter(|((n, _), _)| n == name)
                        .map(|((_, l), v)| (l.clone(), *v)),
                );
            for (label, value) in values {
                if label.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{label}}} {value}");
                }
            }
        }
        out
    }
}
