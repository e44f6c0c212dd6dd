//! The supervision dashboard's figures, read from the figures read model,
//! against the same figures counted here straight from the event history of
//! every scenario (on SQLite and PostgreSQL): per bundle, per agency, and
//! for a period that leaves some cases out. The counting below follows the
//! events, not the read model's code, so a fault in either shows.

use std::collections::BTreeMap;

use onething_core::case::{CaseStatus, Change, Channel, CompletedTotals, MaterialProvision};
use onething_core::workflow::MaterialSource;
use onething_store::figures::{self, DashboardFilter};
use onething_store::open_case_store;
use onething_store::workflow_files::Catalog;
use onething_tests::{play, runtime, scenarios, shipped_workflows, TempFolder, TestDatabase};

/// What the events of one case say.
#[derive(Debug, Default)]
struct Counted {
    workflow: String,
    opened_at: String,
    status: String,
    channel: String,
    supplemented: bool,
    returned: bool,
    rating: Option<u8>,
    escalations: i64,
    on_time: Option<bool>,
    /// For the before-reform comparison: the materials the applicant
    /// handed over at opening, the trips made, and the opening and end.
    materials_handed_over: u64,
    trips: u64,
    ended_at: Option<chrono::DateTime<chrono::Utc>>,
    opened: Option<chrono::DateTime<chrono::Utc>>,
    /// Per agency: activations, returns sent, steps completed at the end, steps open at the end.
    agencies: BTreeMap<String, [i64; 4]>,
}

fn channel_name(channel: Channel) -> String {
    serde_json::to_value(channel)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// The agency of a step, or of the step an instance (`repair.2`) belongs to.
fn agency(agency_of: &BTreeMap<String, String>, step: &str) -> String {
    let step = step.split_once('.').map_or(step, |(step, _)| step);
    agency_of[step].clone()
}

fn count(events: &[onething_store::StoredEvent], catalog: &Catalog) -> Counted {
    let mut counted = Counted {
        status: "open".into(),
        ..Counted::default()
    };
    let mut agency_of = BTreeMap::new();
    // Who has each step now: its agency, or the lead it was dispatched to.
    let mut holder: BTreeMap<String, String> = BTreeMap::new();
    let mut activations: BTreeMap<String, i64> = BTreeMap::new();
    let mut state: BTreeMap<String, &str> = BTreeMap::new();
    let mut instances_of = std::collections::BTreeSet::new();
    let mut overdue: BTreeMap<String, bool> = BTreeMap::new();
    let mut ended = false;
    for stored in events {
        match &stored.event.change {
            Change::CaseOpened {
                workflow,
                channel,
                steps,
                materials,
                ..
            } => {
                counted.workflow = workflow.clone();
                counted.opened_at = stored.event.at.to_rfc3339();
                counted.opened = Some(stored.event.at);
                counted.channel = channel_name(*channel);
                counted.trips = u64::from(matches!(channel, Channel::Window | Channel::Proxy));
                // Handed over: uploaded or on paper, promised, or a shared
                // material whose source is the applicant.
                let declared = |id: &str| {
                    catalog
                        .versions
                        .iter()
                        .filter(|d| d.id == *workflow)
                        .flat_map(|d| &d.materials)
                        .find(|m| m.id == id)
                        .map(|m| m.source.clone())
                };
                counted.materials_handed_over = materials
                    .iter()
                    .filter(|m| match m.provision {
                        MaterialProvision::Submitted | MaterialProvision::Promised { .. } => true,
                        MaterialProvision::Shared => {
                            declared(&m.material) == Some(MaterialSource::Applicant)
                        }
                        _ => false,
                    })
                    .count() as u64;
                for seed in steps {
                    agency_of.insert(seed.id.clone(), seed.agency.clone());
                }
            }
            Change::StepActivated {
                step, continued, ..
            } => {
                // Counted at the end for whoever has the step then.
                *activations.entry(step.clone()).or_default() += 1;
                holder.remove(step);
                state.insert(step.clone(), "active");
                if !continued {
                    overdue.insert(step.clone(), false);
                }
            }
            // A multi-instance step's work is its instances': the step
            // itself is no one's task and no row of the figures.
            Change::StepInstancesStarted { step, .. } => {
                instances_of.insert(step.clone());
            }
            Change::StepCompleted { step, .. } => {
                state.insert(step.clone(), "completed");
            }
            Change::StepSkipped { step, .. } => {
                state.insert(step.clone(), "skipped");
            }
            Change::StepRefused { step, .. } => {
                state.insert(step.clone(), "refused");
            }
            Change::StepCancelled { step, .. } => {
                state.insert(step.clone(), "cancelled");
            }
            Change::StepReturned { step, reset, .. } => {
                counted.returned = true;
                let returning = holder
                    .get(step)
                    .cloned()
                    .unwrap_or_else(|| agency(&agency_of, step));
                counted.agencies.entry(returning).or_default()[1] += 1;
                for id in reset {
                    state.insert(id.clone(), "waiting");
                    holder.remove(id);
                }
            }
            // A dispatch is a pass of its lead's; a send-back (退单) a
            // return of its lead's, and the step is its dispatcher's again.
            Change::StepDispatched { step, lead, .. } => {
                counted.agencies.entry(lead.clone()).or_default()[0] += 1;
                holder.insert(step.clone(), lead.clone());
            }
            Change::StepSentBack { step, by, .. } => {
                counted.agencies.entry(by.clone()).or_default()[1] += 1;
                holder.remove(step);
            }
            Change::StepOverdue { step, .. } => {
                overdue.insert(step.clone(), true);
            }
            Change::StepEscalated { .. } => counted.escalations += 1,
            Change::SupplementRequested { .. } => {
                counted.supplemented = true;
                counted.trips += 1;
            }
            Change::CaseEnded { outcome, .. } => {
                counted.status = CaseStatus::from(*outcome).name().to_string();
                counted.ended_at = Some(stored.event.at);
                ended = true;
            }
            Change::CaseRated { score, .. } => counted.rating = Some(*score),
            _ => {}
        }
    }
    for (step, passes) in activations
        .iter()
        .filter(|(step, _)| !instances_of.contains(*step) && !holder.contains_key(*step))
    {
        counted
            .agencies
            .entry(agency(&agency_of, step))
            .or_default()[0] += passes;
    }
    for (step, state) in state
        .iter()
        .filter(|(step, _)| !instances_of.contains(*step))
    {
        let has = holder
            .get(step)
            .cloned()
            .unwrap_or_else(|| agency(&agency_of, step));
        // Only agencies with a step that ran have a row.
        if let Some(row) = counted.agencies.get_mut(&has) {
            row[2] += i64::from(*state == "completed");
            row[3] += i64::from(*state == "active");
        }
    }
    counted.on_time = ended.then(|| !overdue.values().any(|late| *late));
    counted
}

fn dashboard_matches_the_events(database: &TestDatabase) {
    let scratch = TempFolder::new("dashboard");
    let mut case_ids = Vec::new();
    for scenario in scenarios() {
        case_ids.push(play(&scenario, &database.url, &scratch.path));
    }
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    runtime().block_on(async {
        let store = open_case_store(&database.url, &catalog).await.unwrap();
        let mut counted = Vec::new();
        for case_id in &case_ids {
            counted.push(count(&store.events(case_id).await.unwrap(), &catalog));
        }
        let mut workflows: Vec<Option<String>> =
            counted.iter().map(|c| Some(c.workflow.clone())).collect();
        workflows.sort();
        workflows.dedup();
        workflows.push(None);
        for workflow in workflows {
            let cases: Vec<&Counted> = counted
                .iter()
                .filter(|c| workflow.as_ref().is_none_or(|w| *w == c.workflow))
                .collect();
            let filter = DashboardFilter {
                workflow: workflow.clone(),
                ..DashboardFilter::default()
            };
            let shown = figures::dashboard(store.database(), &filter).await.unwrap();
            let what = format!("{workflow:?}");
            assert_eq!(shown.cases, cases.len() as i64, "{what}: cases");
            let mut by_status = BTreeMap::new();
            let mut by_channel = BTreeMap::new();
            for case in &cases {
                *by_status.entry(case.status.clone()).or_insert(0) += 1;
                *by_channel.entry(case.channel.clone()).or_insert(0) += 1;
            }
            assert_eq!(shown.by_status, by_status, "{what}: by status");
            assert_eq!(shown.by_channel, by_channel, "{what}: by channel");
            let sum = |f: &dyn Fn(&Counted) -> bool| cases.iter().filter(|c| f(c)).count() as i64;
            assert_eq!(shown.supplemented, sum(&|c| c.supplemented), "{what}");
            assert_eq!(shown.returned, sum(&|c| c.returned), "{what}");
            assert_eq!(
                shown.one_go,
                sum(&|c| c.status == "completed" && !c.supplemented && !c.returned),
                "{what}: one go"
            );
            assert_eq!(shown.rated, sum(&|c| c.rating.is_some()), "{what}");
            assert_eq!(
                shown.bad_ratings,
                sum(&|c| c.rating.is_some_and(|r| r <= 2)),
                "{what}"
            );
            assert_eq!(
                shown.ended_on_time,
                sum(&|c| c.on_time == Some(true)),
                "{what}: on time"
            );
            assert_eq!(
                shown.escalations,
                cases.iter().map(|c| c.escalations).sum::<i64>(),
                "{what}"
            );
            let mut agencies: BTreeMap<String, [i64; 4]> = BTreeMap::new();
            for case in &cases {
                for (agency, row) in &case.agencies {
                    let total = agencies.entry(agency.clone()).or_default();
                    for (sum, value) in total.iter_mut().zip(row) {
                        *sum += value;
                    }
                }
            }
            let shown_agencies: BTreeMap<String, [i64; 4]> = shown
                .agencies
                .iter()
                .map(|a| {
                    (
                        a.agency.clone(),
                        [a.passes, a.returns_made, a.completed, a.open],
                    )
                })
                .collect();
            assert_eq!(shown_agencies, agencies, "{what}: per agency");
            // What the completed cases used, for the before-reform comparison.
            let calendar = &catalog.registry.calendars["cn"];
            let mut completed: BTreeMap<String, CompletedTotals> = BTreeMap::new();
            for case in cases.iter().filter(|c| c.status == "completed") {
                let totals = completed.entry(case.workflow.clone()).or_default();
                totals.cases += 1;
                totals.materials_submitted += case.materials_handed_over;
                totals.trips_made += case.trips;
                let days = calendar
                    .working_days_between(case.opened.unwrap(), case.ended_at.unwrap())
                    .unwrap();
                totals.working_days_total += u64::from(days);
                totals.working_days_counted += 1;
            }
            assert_eq!(shown.completed_by_workflow, completed, "{what}: completed");
        }
        // A period: the cases opened from the latest opening day on.
        let latest = counted.iter().map(|c| c.opened_at.clone()).max().unwrap();
        let day = &latest[..10];
        let filter = DashboardFilter {
            first_day: Some(day.to_string()),
            ..DashboardFilter::default()
        };
        let shown = figures::dashboard(store.database(), &filter).await.unwrap();
        let start = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
        let expected = counted
            .iter()
            .filter(|c| {
                let opened = chrono::DateTime::parse_from_rfc3339(&c.opened_at).unwrap();
                // A day starts at midnight in China (UTC+8).
                opened
                    .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
                    .date_naive()
                    >= start
            })
            .count() as i64;
        assert!(
            expected < counted.len() as i64,
            "the period leaves cases out"
        );
        assert_eq!(shown.cases, expected, "from {day}");
        // An agency: only the cases it took part in, and only its own row.
        let filter = DashboardFilter {
            agency: Some("police".into()),
            ..DashboardFilter::default()
        };
        let shown = figures::dashboard(store.database(), &filter).await.unwrap();
        let expected = counted
            .iter()
            .filter(|c| c.agencies.contains_key("police"))
            .count() as i64;
        assert_eq!(shown.cases, expected);
        assert!(shown.agencies.iter().all(|a| a.agency == "police"));
        rebuilt_figures_are_the_live_ones(&store).await;
    });
}

/// A rebuild from the events finds no difference with the live read
/// models; then the store is closed.
async fn rebuilt_figures_are_the_live_ones(store: &onething_store::CaseStore) {
    let report = onething_store::views::rebuild(store, true, &mut |_| {})
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    store.database().close().await;
}

#[test]
fn the_dashboard_counts_what_the_events_say_on_sqlite() {
    dashboard_matches_the_events(&TestDatabase::sqlite());
}

#[test]
fn the_dashboard_counts_what_the_events_say_on_postgres() {
    dashboard_matches_the_events(&TestDatabase::postgres());
}

/// Materials on the dashboard, against a hand count: a restaurant whose
/// building fire acceptance is replaced by a commitment and whose sign design
/// is waived (no sign), and a newborn born outside the province, so that the
/// hospital's step, which produces the birth certificate, is skipped (and
/// household registration, which produces the child's ID number, with it).
fn materials_on_the_dashboard(database: &TestDatabase) {
    use onething_core::case::{
        case_id_for, Action, Actor, CaseCommand, MaterialDeclaration, MaterialProvision,
    };
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let declared = |material: &str, provision: MaterialProvision| MaterialDeclaration {
        material: material.into(),
        provision,
    };
    let open = |id: &str, workflow: &str, form: serde_json::Value, materials| CaseCommand {
        command_id: id.into(),
        actor: Actor::Agency {
            agency: "window".into(),
            operator: None,
        },
        at: chrono::DateTime::parse_from_rfc3339("2026-06-01T09:00:00+08:00")
            .unwrap()
            .to_utc(),
        action: Action::Open {
            case_id: case_id_for(id),
            workflow: workflow.into(),
            form,
            materials,
            opted_in: vec![],
            channel: Channel::Window,
        },
    };
    let restaurant = open(
        "materials-restaurant",
        "restaurant",
        serde_json::json!({
            "shop_name": "老街面馆", "has_business_licence": false, "entity_type": "sole_trader",
            "operator_id": "440304198503151231", "phone": "13600136000",
            "premises_address": "某市某区老街12号", "floor_area": 86.5,
            "food_categories": ["hot_food"], "fire_commitment": false, "wants_sign": false,
            "kitchen_fumes": false
        }),
        vec![
            declared("premises_proof", MaterialProvision::Submitted),
            declared("premises_layout", MaterialProvision::Submitted),
            declared("food_safety_rules", MaterialProvision::Submitted),
            declared("fire_facilities_plan", MaterialProvision::Submitted),
            declared("fire_safety_plan", MaterialProvision::Submitted),
            declared(
                "construction_fire_acceptance",
                MaterialProvision::Commitment,
            ),
            declared("sign_design", MaterialProvision::Waived),
        ],
    );
    let mut form: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(onething_tests::test_data().join("forms/newborn.json")).unwrap(),
    )
    .unwrap();
    form["born_in_province"] = false.into();
    let newborn = open("materials-newborn", "newborn", form, vec![]);
    runtime().block_on(async {
        let store = open_case_store(&database.url, &catalog).await.unwrap();
        for command in [restaurant, newborn] {
            let case_id = match &command.action {
                Action::Open { case_id, .. } => case_id.clone(),
                _ => unreachable!(),
            };
            store.execute(&case_id, command).await.unwrap();
        }
        let shown = figures::dashboard(store.database(), &DashboardFilter::default())
            .await
            .unwrap();
        // By hand. Restaurant: the operator's ID card is fetched from the
        // e-licence store (1); the business licence comes from a step not yet
        // run (0); the fire acceptance is committed (告知承诺), the sign
        // design waived. Newborn: the parents' IDs, the household booklet and
        // the marriage certificate are fetched (3); the birth certificate and
        // the child's ID number come from steps that were skipped (0).
        assert_eq!(
            (
                shown.materials_not_submitted,
                shown.materials_by_commitment,
                shown.materials_waived
            ),
            (4, 1, 1)
        );
        rebuilt_figures_are_the_live_ones(&store).await;
    });
}

#[test]
fn the_dashboard_counts_only_shared_materials_and_commitments_and_waivers_apart_on_sqlite() {
    materials_on_the_dashboard(&TestDatabase::sqlite());
}

#[test]
fn the_dashboard_counts_only_shared_materials_and_commitments_and_waivers_apart_on_postgres() {
    materials_on_the_dashboard(&TestDatabase::postgres());
}
