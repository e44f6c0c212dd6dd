//! Narration: events told in Chinese and English, with times in the
//! calendar's local time, for the histories people read.

use chrono::{DateTime, FixedOffset, Utc};

use super::event::{CancelReason, CaseOutcome, Change, SkipReason, StatutoryDeadline};
use crate::calendar::{Calendar, TimeSpan, TimeUnit};
use crate::localized::Localized;
use crate::workflow::Definition;

/// A step's title; an instance's is its step's with its number.
fn step_title(definition: Option<&Definition>, step: &str) -> Localized {
    let title = definition
        .and_then(|definition| definition.step(step))
        .map(|s| s.title.clone())
        .unwrap_or_else(|| Localized {
            zh: step.to_string(),
            en: step.to_string(),
        });
    match crate::workflow::split_instance_id(step) {
        Some((_, number)) if title.zh != step => Localized {
            zh: format!("{}（第{number}件）", title.zh),
            en: format!("{} (item {number})", title.en),
        },
        _ => title,
    }
}

fn span_zh(span: &TimeSpan) -> String {
    let unit = match span.unit {
        TimeUnit::WorkingDays => "个工作日",
        TimeUnit::CalendarDays => "日",
        TimeUnit::Hours => "小时",
    };
    format!("{}{unit}", span.amount)
}

fn yuan(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, (fen % 100).abs())
}

/// A time as people at the administration read it: in the calendar's local
/// time with its offset, or in UTC when no calendar is known.
pub fn local_time(time: DateTime<Utc>, calendar: Option<&Calendar>, format: &str) -> String {
    match calendar.and_then(|c| FixedOffset::east_opt(c.utc_offset_minutes * 60)) {
        Some(offset) => {
            let minutes = offset.local_minus_utc() / 60;
            let sign = if minutes < 0 { '-' } else { '+' };
            format!(
                "{} (UTC{sign}{:02}:{:02})",
                time.with_timezone(&offset).format(format),
                minutes.abs() / 60,
                minutes.abs() % 60
            )
        }
        None => format!("{} UTC", time.format(format)),
    }
}

/// The note that a time was counted on provisional calendar years.
pub fn provisional_note(provisional_years: &[i32]) -> Localized {
    if provisional_years.is_empty() {
        return Localized {
            zh: String::new(),
            en: String::new(),
        };
    }
    let years: Vec<String> = provisional_years.iter().map(ToString::to_string).collect();
    Localized {
        zh: format!(
            "（暂定：{}年节假日安排尚未公布，按法定节假日推算）",
            years.join("、")
        ),
        en: format!(
            " (provisional: no official holiday table for {} yet, counted on the statutory holidays)",
            years.join(", ")
        ),
    }
}

/// `what: step, due …` in both languages; the due part only with a limit.
fn with_due(
    (zh, en): (&str, &str),
    step: &Localized,
    due: Option<DateTime<Utc>>,
    provisional_years: &[i32],
    calendar: Option<&Calendar>,
) -> Localized {
    let due = due.map(|d| local_time(d, calendar, "%Y-%m-%d %H:%M"));
    let note = provisional_note(provisional_years);
    Localized {
        zh: format!(
            "{zh}：{}{}",
            step.zh,
            due.as_ref()
                .map(|d| format!("，时限至 {d}{}", note.zh))
                .unwrap_or_default()
        ),
        en: format!(
            "{en}: {}{}",
            step.en,
            due.map(|d| format!(", due {d}{}", note.en))
                .unwrap_or_default()
        ),
    }
}

/// The line with the step's statutory due time after it, when it has one.
fn with_statutory(
    line: Localized,
    statutory: Option<&StatutoryDeadline>,
    calendar: Option<&Calendar>,
) -> Localized {
    let Some(statutory) = statutory else {
        return line;
    };
    let due = local_time(statutory.due, calendar, "%Y-%m-%d %H:%M");
    let note = provisional_note(&statutory.provisional_years);
    Localized {
        zh: format!("{}，法定时限至 {due}{}", line.zh, note.zh),
        en: format!("{}, statutory limit {due}{}", line.en, note.en),
    }
}

/// One line saying what an event means; times in the calendar's local time.
pub fn describe(
    change: &Change,
    definition: Option<&Definition>,
    calendar: Option<&Calendar>,
) -> Localized {
    let both = |zh: String, en: String| Localized { zh, en };
    let title = |step: &str| step_title(definition, step);
    let agency = |id: &str| -> String {
        definition
            .and_then(|d| d.agency(id))
            .map_or(id.to_string(), |found| found.name.zh.clone())
    };
    match change {
        Change::CaseOpened {
            workflow,
            version,
            promised_by,
            promise_provisional_years,
            ..
        } => {
            let name = definition
                .map(|d| d.title.clone())
                .unwrap_or_else(|| Localized {
                    zh: workflow.clone(),
                    en: workflow.clone(),
                });
            let note = provisional_note(promise_provisional_years);
            let (promise_zh, promise_en) = match promised_by {
                Some(by) => {
                    let by = local_time(*by, calendar, "%Y-%m-%d %H:%M");
                    (
                        format!("，承诺 {by} 前办结{}", note.zh),
                        format!(", promised by {by}{}", note.en),
                    )
                }
                None => (String::new(), String::new()),
            };
            both(
                format!("受理申请：{}（第{version}版）{promise_zh}", name.zh),
                format!(
                    "Application accepted: {} (version {version}){promise_en}",
                    name.en
                ),
            )
        }
        Change::StepActivated {
            step,
            due,
            provisional_years,
            continued,
            statutory,
            ..
        } => with_statutory(
            with_due(
                if *continued {
                    (
                        "重新办理（时限接续计算）",
                        "Taken up again, its clock going on",
                    )
                } else {
                    ("开始办理", "Started")
                },
                &title(step),
                *due,
                provisional_years,
                calendar,
            ),
            statutory.as_ref(),
            calendar,
        ),
        Change::StepInstancesStarted { step, items } => {
            let t = title(step);
            let count = items.len();
            both(
                format!("开始办理：{}，逐项办理{count}件", t.zh),
                format!("Started: {}, one task for each of {count} items", t.en),
            )
        }
        Change::StepSkipped { step, reason, .. } => {
            let t = title(step);
            let (zh, en) = match reason {
                SkipReason::ConditionFalse => ("条件不满足", "its condition does not hold"),
                SkipReason::UpstreamSkipped => {
                    ("前序环节均未办理", "every step before it was skipped")
                }
                SkipReason::NotOptedIn => ("申请人未选择", "not chosen by the applicant"),
                SkipReason::OtherBranch => ("已选择其他分支", "another branch runs"),
                SkipReason::NoItems => ("没有需要逐项办理的事项", "its list has no items"),
            };
            both(
                format!("无需办理：{}（{zh}）", t.zh),
                format!("Skipped: {} ({en})", t.en),
            )
        }
        Change::BillsIssued { step, bills } => {
            let total: i64 = bills.iter().map(|bill| bill.total).sum();
            let t = title(step);
            both(
                format!(
                    "开具缴费单：{}，共 {} 张，合计 {}",
                    t.zh,
                    bills.len(),
                    yuan(total)
                ),
                format!(
                    "Bills issued: {}, {} bill(s), {} in all",
                    t.en,
                    bills.len(),
                    yuan(total)
                ),
            )
        }
        Change::PaymentReceived {
            payer,
            amount,
            receipt,
            ..
        } => both(
            format!("收到缴款：{payer} {}（凭证 {receipt}）", yuan(*amount)),
            format!(
                "Payment received: {payer} paid {} (receipt {receipt})",
                yuan(*amount)
            ),
        ),
        Change::StepCompleted { step, .. } => {
            let t = title(step);
            both(
                format!("办结环节：{}", t.zh),
                format!("Completed: {}", t.en),
            )
        }
        Change::StepReturned {
            step, to, reason, ..
        } => {
            let (from, target) = (title(step), title(to));
            both(
                format!("退回：{} 退回至 {}（{reason}）", from.zh, target.zh),
                format!(
                    "Returned: {} sent the case back to {} ({reason})",
                    from.en, target.en
                ),
            )
        }
        Change::StepRefused { step, reason } => {
            let t = title(step);
            both(
                format!("不予许可：{}（{reason}）", t.zh),
                format!("Refused: {} ({reason})", t.en),
            )
        }
        Change::StepCancelled { step, reason } => {
            let t = title(step);
            let (zh, en) = match reason {
                CancelReason::UpstreamRefused => {
                    ("前序环节不予许可", "a step it depends on was refused")
                }
                CancelReason::Withdrawn => ("申请人撤回", "the application was withdrawn"),
                CancelReason::Terminated => {
                    ("容缺材料逾期未补", "a promised material was not supplied")
                }
            };
            both(
                format!("终止环节：{}（{zh}）", t.zh),
                format!("Cancelled: {} ({en})", t.en),
            )
        }
        Change::SupplementRequested {
            step,
            items,
            reason,
        } => {
            let t = title(step);
            both(
                format!(
                    "一次性告知补正：{}，需补 {}（{reason}）",
                    t.zh,
                    items.join("、")
                ),
                format!(
                    "Supplement requested by {}: {} ({reason})",
                    t.en,
                    items.join(", ")
                ),
            )
        }
        Change::SupplementProvided {
            items, materials, ..
        } => {
            let mut supplied: Vec<String> = items.keys().cloned().collect();
            supplied.extend(materials.iter().cloned());
            both(
                format!("申请人已补正：{}", supplied.join("、")),
                format!("Supplement provided: {}", supplied.join(", ")),
            )
        }
        Change::ExtensionRequested {
            step,
            length,
            reason,
        } => {
            let t = title(step);
            both(
                format!("申请延期：{}，延长 {}（{reason}）", t.zh, span_zh(length)),
                format!("Extension requested for {}: {length} ({reason})", t.en),
            )
        }
        Change::StepExtended {
            step,
            length,
            reason,
            due,
            provisional_years,
            ..
        } => {
            let t = title(step);
            let due = local_time(*due, calendar, "%Y-%m-%d %H:%M");
            let note = provisional_note(provisional_years);
            both(
                format!(
                    "准予延期：{}，延长 {}，时限至 {due}{}（{reason}）",
                    t.zh,
                    span_zh(length),
                    note.zh
                ),
                format!(
                    "Extended: {} by {length}, due {due}{} ({reason})",
                    t.en, note.en
                ),
            )
        }
        Change::ExtensionDenied { step, reason } => {
            let t = title(step);
            both(
                format!("不同意延期：{}（{reason}）", t.zh),
                format!("Extension denied: {} ({reason})", t.en),
            )
        }
        Change::StepSuspended {
            step,
            procedure,
            reason,
        } => {
            let t = title(step);
            both(
                format!("中止计时（特别程序：{procedure}）：{}（{reason}）", t.zh),
                format!(
                    "Clock stopped for a special procedure ({procedure}): {} ({reason})",
                    t.en
                ),
            )
        }
        Change::StepResumed {
            step,
            due,
            provisional_years,
            ..
        } => with_due(
            ("恢复计时", "Clock restarted"),
            &title(step),
            *due,
            provisional_years,
            calendar,
        ),
        Change::DeadlineRevised {
            step,
            previous_due,
            due,
            provisional_years,
            reason,
            overdue_cleared,
            ..
        } => {
            let t = title(step);
            let time = |time: &Option<DateTime<Utc>>| {
                time.map_or_else(
                    || "—".to_string(),
                    |time| local_time(time, calendar, "%Y-%m-%d %H:%M"),
                )
            };
            let note = provisional_note(provisional_years);
            let (cleared_zh, cleared_en) = if *overdue_cleared {
                (
                    "，按调整后时限不再超期",
                    "; by the revised time it is no longer overdue",
                )
            } else {
                ("", "")
            };
            both(
                format!(
                    "时限调整：{}，时限由 {} 改为 {}{}{cleared_zh}（{reason}）",
                    t.zh,
                    time(previous_due),
                    time(due),
                    note.zh
                ),
                format!(
                    "Deadline revised: {}, due {} instead of {}{}{cleared_en} ({reason})",
                    t.en,
                    time(due),
                    time(previous_due),
                    note.en
                ),
            )
        }
        Change::StepWarned { step } => {
            let t = title(step);
            both(
                format!("时限预警（黄灯）：{}", t.zh),
                format!("Deadline warning: {}", t.en),
            )
        }
        Change::StepOverdue { step } => {
            let t = title(step);
            both(
                format!("超期（红灯）：{}", t.zh),
                format!("Overdue: {}", t.en),
            )
        }
        Change::StepStatutoryWarned { step } => {
            let t = title(step);
            both(
                format!("法定时限预警：{}", t.zh),
                format!("Statutory limit warning: {}", t.en),
            )
        }
        Change::StepStatutoryOverdue { step } => {
            let t = title(step);
            both(
                format!("超过法定时限：{}", t.zh),
                format!("Past the statutory limit: {}", t.en),
            )
        }
        Change::StepEscalated { step, name, .. } => {
            let t = title(step);
            both(
                format!("{}：{}（已超期）", name.zh, t.zh),
                format!("{}: {} (overdue)", name.en, t.en),
            )
        }
        Change::MaterialDeadlineMissed { material } => both(
            format!("容缺材料逾期未补：{material}"),
            format!("Promised material not supplied in time: {material}"),
        ),
        Change::CaseWithdrawn { reason } => both(
            format!("申请人撤回（{reason}）"),
            format!("Withdrawn by the applicant ({reason})"),
        ),
        Change::RefundOwed {
            payer,
            payee,
            amount,
            ..
        } => both(
            format!("应退款：{payee} 退还 {payer} {}", yuan(*amount)),
            format!("Refund owed: {payee} owes {payer} {}", yuan(*amount)),
        ),
        Change::CaseEnded { outcome, .. } => {
            let (zh, en) = match outcome {
                CaseOutcome::Completed => ("办结", "completed"),
                CaseOutcome::PartiallyCompleted => ("部分办结", "partially completed"),
                CaseOutcome::Withdrawn => ("已撤回", "withdrawn"),
                CaseOutcome::Terminated => ("已终止", "terminated"),
            };
            both(format!("办件结束：{zh}"), format!("Case ended: {en}"))
        }
        Change::DocumentAttached { document } => {
            let material = document.material.as_ref().map(|id| {
                definition
                    .and_then(|d| d.materials.iter().find(|m| &m.id == id))
                    .map(|m| m.name.clone())
                    .unwrap_or_else(|| Localized {
                        zh: id.clone(),
                        en: id.clone(),
                    })
            });
            both(
                format!(
                    "附上材料扫描件：{}{}（{} 字节，SHA-256 {}…）",
                    document.name,
                    material
                        .as_ref()
                        .map(|m| format!("，{}", m.zh))
                        .unwrap_or_default(),
                    document.size,
                    &document.sha256[..document.sha256.len().min(12)]
                ),
                format!(
                    "Document attached: {}{} ({} bytes, SHA-256 {}…)",
                    document.name,
                    material
                        .as_ref()
                        .map(|m| format!(", {}", m.en))
                        .unwrap_or_default(),
                    document.size,
                    &document.sha256[..document.sha256.len().min(12)]
                ),
            )
        }
        Change::CaseRated {
            score,
            by_default: true,
            ..
        } => both(
            format!("默认评价：{score} 星（申请人未在评价期限内评价）"),
            format!("Default rating {score} of 5 (the applicant gave none in the period)"),
        ),
        Change::CaseRated { score, .. } => {
            both(format!("评价：{score} 星"), format!("Rated {score} of 5"))
        }
        Change::PromiseRevised {
            previous,
            promised_by,
            provisional_years,
            reason,
        } => {
            let time = |time: &Option<DateTime<Utc>>| {
                time.map_or_else(
                    || "—".to_string(),
                    |time| local_time(time, calendar, "%Y-%m-%d %H:%M"),
                )
            };
            let note = provisional_note(provisional_years);
            both(
                format!(
                    "承诺办结时间调整：由 {} 改为 {}{}（{reason}）",
                    time(previous),
                    time(promised_by),
                    note.zh
                ),
                format!(
                    "Promised date revised: {} instead of {}{} ({reason})",
                    time(promised_by),
                    time(previous),
                    note.en
                ),
            )
        }
        Change::SupervisionNoticeIssued {
            step,
            notice,
            answer_by,
            provisional_years,
        } => {
            let title = title(step);
            let by = local_time(*answer_by, calendar, "%Y-%m-%d %H:%M");
            let note = provisional_note(provisional_years);
            both(
                format!(
                    "督办通知：{}——{notice}，限 {by}{} 前反馈",
                    title.zh, note.zh
                ),
                format!(
                    "Supervision notice on {}: {notice}; answer due {by}{}",
                    title.en, note.en
                ),
            )
        }
        Change::FollowUpRecorded { result, resolved } => both(
            format!(
                "差评回访整改完成：{result}（{}）",
                if *resolved {
                    "问题已解决"
                } else {
                    "问题未解决"
                }
            ),
            format!(
                "Follow-up of the bad rating done: {result} ({})",
                if *resolved { "solved" } else { "not solved" }
            ),
        ),
        Change::SupervisionAnswered { step, answer } => {
            let title = title(step);
            both(
                format!("督办反馈：{}——{answer}", title.zh),
                format!("Answer to the supervision notice on {}: {answer}", title.en),
            )
        }
        Change::TaskClaimed { step, by } => {
            let title = title(step);
            both(
                format!("{}由 {by} 认领", title.zh),
                format!("{} claimed by {by}", title.en),
            )
        }
        Change::StepDispatched {
            step,
            lead,
            co_handlers,
            due,
            provisional_years,
            statutory,
            ..
        } => {
            let (with_zh, with_en) = if co_handlers.is_empty() {
                (String::new(), String::new())
            } else {
                let names: Vec<String> = co_handlers.iter().map(|c| agency(c)).collect();
                (
                    format!("，协办单位 {}", names.join("、")),
                    format!(", co-handled by {}", co_handlers.join(", ")),
                )
            };
            with_statutory(
                with_due(
                    (
                        &format!("派单至 {}{with_zh}", agency(lead)),
                        &format!("Dispatched to {lead}{with_en}"),
                    ),
                    &title(step),
                    *due,
                    provisional_years,
                    calendar,
                ),
                statutory.as_ref(),
                calendar,
            )
        }
        Change::StepSentBack {
            step,
            by,
            to,
            reason,
            basis,
        } => {
            let t = title(step);
            let (basis_zh, basis_en) = basis
                .as_ref()
                .map(|b| (format!("，依据：{b}"), format!(", on the basis of {b}")))
                .unwrap_or_default();
            both(
                format!(
                    "退单：{} 将{}退回 {}（{reason}{basis_zh}）",
                    agency(by),
                    t.zh,
                    agency(to)
                ),
                format!(
                    "Sent back: {by} sent {} back to {to} ({reason}{basis_en})",
                    t.en
                ),
            )
        }
        Change::CoHandlerReported {
            step,
            agency: by,
            text,
            ..
        } => {
            let t = title(step);
            both(
                format!("协办意见：{} 就{}反馈——{text}", agency(by), t.zh),
                format!("Co-handler's report: {by} on {}: {text}", t.en),
            )
        }
        Change::FollowUpOpened {
            due,
            provisional_years,
        } => {
            let due = local_time(*due, calendar, "%Y-%m-%d %H:%M");
            let note = provisional_note(provisional_years);
            both(
                format!("差评回访整改，时限至 {due}{}", note.zh),
                format!("Follow-up of a bad rating, due {due}{}", note.en),
            )
        }
    }
}
