//! `onething bench`: whole cases driven as agencies would drive them, beside
//! the database's own ceilings measured in the same run on the same database
//! at the same concurrency, and optionally the Python `eventsourcing` peer.
//! Ends with one JSON line holding every figure and ratio.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;
use onething_core::case::{
    case_id_for, Action, Actor, CaseCommand, CaseView, MaterialDeclaration, MaterialProvision,
    StepState,
};
use onething_core::value_type::{Field, ValueKind};
use onething_core::workflow::{Definition, MaterialSource, StepKind};
use onething_store::{bench, CaseStore};
use serde_json::{json, Value};

use crate::bench_machine::{own_cpu_seconds, peak_rss_kib, postgres_cpu_seconds};
use crate::bench_peer::run_peer;
use crate::bench_report::print_table;
use crate::bench_seed::{seed, seeded_copies};
use crate::options::{open_store, GlobalOptions};
use crate::Terminal;

#[derive(Debug, Args)]
pub struct BenchArguments {
    /// The bundle whose cases are driven.
    #[arg(long, default_value = "newborn")]
    bundle: String,
    /// Concurrent workers, each driving one case at a time.
    #[arg(long, default_value_t = 16)]
    pub(crate) workers: usize,
    /// Seconds measured (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Seconds driven before measuring, not counted.
    #[arg(long, default_value_t = 2)]
    pub(crate) warmup: u64,
    /// Seconds each database ceiling is measured; 0 skips the ceilings.
    #[arg(long, default_value_t = 5)]
    ceiling_seconds: u64,
    /// Drive this many cases and stop (instead of `--seconds`): a fixed amount
    /// of work, for counting instructions with callgrind.
    #[arg(long)]
    cases: Option<u64>,
    /// Also drive the cases over HTTP, through a server started in this process.
    #[arg(long)]
    http: bool,
    /// Skip the audit verification figure (it reads the whole store).
    #[arg(long)]
    no_verify: bool,
    /// Before measuring, fill the store up to this many cases, to see the
    /// command path over a large store: a few cases are opened by commands,
    /// the rest are copies of their rows under new numbers (see
    /// `docs/performance.md`); verification is then skipped, since every copy
    /// still names its template.
    #[arg(long, value_name = "CASES")]
    seed_cases: Option<u64>,
    /// Send at most this many commands per second in all, spread over the
    /// workers: for latency at a given load (e.g. half the maximum).
    #[arg(long, value_name = "COMMANDS_PER_S")]
    rate: Option<f64>,
    /// The Python of a virtual environment with the peer's requirements: runs
    /// `../shared/peers/eventsourcing-newborn` on the same PostgreSQL.
    #[arg(long, value_name = "VENV_PYTHON")]
    peer_eventsourcing: Option<PathBuf>,
    /// Where the peer's `bench.py` is.
    #[arg(long, default_value = "../shared/peers/eventsourcing-newborn")]
    pub(crate) peer_folder: PathBuf,
}

/// One command's latency, by kind.
#[derive(Default)]
struct Samples {
    by_kind: BTreeMap<&'static str, Vec<Duration>>,
    cases: u64,
    failures: u64,
}

impl Samples {
    fn commands(&self) -> usize {
        self.by_kind.values().map(Vec::len).sum()
    }
}

/// A value of a field's type that its checks accept.
fn sample(field: &Field, at: DateTime<Utc>) -> Value {
    match field.kind {
        ValueKind::Text => json!("测试"),
        ValueKind::Integer => json!(1),
        ValueKind::Decimal => json!(88.5),
        ValueKind::Money => json!(100_000),
        ValueKind::Date => json!((at - chrono::Duration::days(3)).date_naive().to_string()),
        ValueKind::Boolean => json!(true),
        ValueKind::OneOf => json!(field.options.first().cloned().unwrap_or_default()),
        ValueKind::List => json!([]),
        ValueKind::CitizenId => json!("11010519491231002X"),
        ValueKind::CreditCode => json!("91350100M000100Y43"),
        ValueKind::Phone => json!("13800138000"),
    }
}

fn object(fields: &[Field], at: DateTime<Utc>) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|field| (field.name.clone(), sample(field, at)))
            .collect(),
    )
}

/// The materials an applicant hands over: every applicant material submitted.
fn materials(definition: &Definition) -> Vec<MaterialDeclaration> {
    definition
        .materials
        .iter()
        .filter(|material| material.source == MaterialSource::Applicant)
        .map(|material| MaterialDeclaration {
            material: material.id.clone(),
            provision: MaterialProvision::Submitted,
        })
        .collect()
}

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.to_string(),
        operator: Some("bench".into()),
    }
}

/// What the driver needs of a case to choose its next commands.
struct Progress {
    id: String,
    open: bool,
    /// Active steps with their pass.
    active: Vec<(String, u32)>,
    /// Unpaid bills: step, payer, total.
    unpaid: Vec<(String, String, i64)>,
}

impl Progress {
    fn of_case(case: &onething_core::case::Case) -> Option<Progress> {
        let file = case.file()?;
        Some(Progress {
            id: file.id.clone(),
            open: file.status == onething_core::case::CaseStatus::Open,
            active: file
                .steps
                .iter()
                .filter(|step| step.state == StepState::Active)
                .map(|step| (step.id.clone(), step.passes))
                .collect(),
            unpaid: file
                .payments
                .iter()
                .filter(|payment| !payment.paid)
                .map(|payment| {
                    (
                        payment.step.clone(),
                        payment.bill.payer.clone(),
                        payment.bill.total,
                    )
                })
                .collect(),
        })
    }

    fn of_view(view: &CaseView) -> Progress {
        Progress {
            id: view.id.clone(),
            open: view.status == "open",
            active: view
                .steps
                .iter()
                .filter(|step| step.state == StepState::Active)
                .map(|step| (step.id.clone(), step.passes))
                .collect(),
            unpaid: view
                .payments
                .iter()
                .filter(|payment| !payment.paid)
                .map(|payment| (payment.step.clone(), payment.payer.clone(), payment.total))
                .collect(),
        }
    }
}

/// The next commands a case needs: every active task step completed with
/// sample outputs, every unpaid bill of an active payment step paid.
fn next_commands(
    definition: &Definition,
    case: &Progress,
    at: DateTime<Utc>,
) -> Vec<(&'static str, CaseCommand)> {
    let mut commands = Vec::new();
    for (step_id, passes) in &case.active {
        let Some(defined) = definition.step(step_id) else {
            continue;
        };
        match defined.kind {
            StepKind::Task => commands.push((
                "complete",
                CaseCommand {
                    command_id: format!("{}-{step_id}-{passes}", case.id),
                    actor: agency(&defined.agency),
                    at,
                    action: Action::Complete {
                        step: step_id.clone(),
                        outputs: object(&defined.outputs, at),
                    },
                },
            )),
            StepKind::Payment => {
                for (_, payer, total) in case.unpaid.iter().filter(|(step, ..)| step == step_id) {
                    commands.push((
                        "pay",
                        CaseCommand {
                            command_id: format!("{}-{step_id}-{payer}", case.id),
                            actor: agency(&defined.agency),
                            at,
                            action: Action::Pay {
                                payer: payer.clone(),
                                amount: *total,
                                receipt: format!("R-{}-{payer}", case.id),
                            },
                        },
                    ));
                }
            }
        }
    }
    commands
}

pub(crate) fn open_command(
    definition: &Definition,
    run: &str,
    number: u64,
    at: DateTime<Utc>,
) -> CaseCommand {
    let command_id = format!("bench-{run}-{number}");
    CaseCommand {
        command_id: command_id.clone(),
        actor: agency("window"),
        at,
        action: Action::Open {
            case_id: case_id_for(&command_id),
            workflow: definition.id.clone(),
            form: object(&definition.form, at),
            materials: materials(definition),
            opted_in: Vec::new(),
            channel: Default::default(),
        },
    }
}

/// Sends one command, in process or over HTTP; the case after it.
enum Driver {
    InProcess(Arc<CaseStore>),
    Http {
        base: String,
        client: reqwest::Client,
    },
}

impl Driver {
    async fn send(&self, command: CaseCommand) -> anyhow::Result<Progress> {
        let case_id = match &command.action {
            Action::Open { case_id, .. } => case_id.clone(),
            _ => String::new(),
        };
        match self {
            Driver::InProcess(store) => {
                let case_id = if case_id.is_empty() {
                    command
                        .command_id
                        .split('-')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                } else {
                    case_id
                };
                let outcome = store.execute(&case_id, command).await?;
                Progress::of_case(&outcome.case).context("no case")
            }
            Driver::Http { base, client } => {
                let token = match &command.actor {
                    Actor::Agency { agency, .. } => format!("bench-{agency}"),
                    _ => "bench-window".into(),
                };
                let case = command
                    .command_id
                    .split('-')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let (path, body) = match &command.action {
                    Action::Open {
                        workflow,
                        form,
                        materials,
                        ..
                    } => (
                        "/api/v1/cases".to_string(),
                        json!({"workflow": workflow, "form": form, "materials": materials}),
                    ),
                    Action::Complete { step, outputs } => (
                        format!("/api/v1/cases/{case}/steps/{step}/complete"),
                        json!({"outputs": outputs}),
                    ),
                    Action::Pay {
                        payer,
                        amount,
                        receipt,
                    } => (
                        format!("/api/v1/cases/{case}/payments"),
                        json!({"payer": payer, "amount": amount, "receipt": receipt}),
                    ),
                    other => bail!("the benchmark does not send {}", other.name()),
                };
                let response = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", &command.command_id)
                    .json(&body)
                    .send()
                    .await?;
                let status = response.status();
                let reply: Value = response.json().await?;
                if !status.is_success() {
                    bail!("{status}: {reply}");
                }
                let view: CaseView = serde_json::from_value(reply["case"].clone())?;
                Ok(Progress::of_view(&view))
            }
        }
    }
}

/// Drives whole cases with `workers` tasks until `until`; only commands that
/// start after `measure_from` are counted, and only cases opened after it;
/// `cases` stops after that many, `rate` paces the commands of all workers.
async fn drive(
    driver: Arc<Driver>,
    definition: Arc<Definition>,
    at: DateTime<Utc>,
    measure_from: Instant,
    until: Instant,
    (workers, cases, rate): (usize, Option<u64>, Option<f64>),
) -> Samples {
    let samples = Arc::new(Mutex::new(Samples::default()));
    let started_cases = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (driver, definition, samples, run, started_cases) = (
            driver.clone(),
            definition.clone(),
            samples.clone(),
            run.clone(),
            started_cases.clone(),
        );
        let mut pace = rate.filter(|rate| *rate > 0.0).map(|rate| {
            let mut pace = tokio::time::interval(Duration::from_secs_f64(workers as f64 / rate));
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            pace
        });
        tasks.push(tokio::spawn(async move {
            let mut number = worker as u64;
            while Instant::now() < until {
                let started = started_cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if cases.is_some_and(|cases| started >= cases) {
                    break;
                }
                let counted = Instant::now() >= measure_from;
                let mut pending = vec![("open", open_command(&definition, &run, number, at))];
                number += workers as u64;
                let mut ended = false;
                // A case of any shipped bundle ends within a few dozen commands.
                for _ in 0..64 {
                    let Some((kind, command)) = pending.pop() else {
                        break;
                    };
                    if let Some(pace) = &mut pace {
                        pace.tick().await;
                    }
                    let started = Instant::now();
                    match driver.send(command).await {
                        Ok(case) => {
                            if counted {
                                samples
                                    .lock()
                                    .expect("samples")
                                    .by_kind
                                    .entry(kind)
                                    .or_default()
                                    .push(started.elapsed());
                            }
                            if pending.is_empty() {
                                if !case.open {
                                    ended = true;
                                    break;
                                }
                                pending = next_commands(&definition, &case, at);
                                pending.reverse();
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "a benchmark command failed");
                            samples.lock().expect("samples").failures += 1;
                            break;
                        }
                    }
                }
                if ended && counted && (cases.is_some() || Instant::now() < until) {
                    samples.lock().expect("samples").cases += 1;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Arc::try_unwrap(samples)
        .map(|samples| samples.into_inner().expect("samples"))
        .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

/// The figures of one load window.
fn figures(samples: &mut Samples, seconds: f64, cpu: f64, postgres_cpu: f64) -> Value {
    let commands = samples.commands();
    let mut kinds = serde_json::Map::new();
    let mut all: Vec<Duration> = Vec::new();
    for (kind, latencies) in &mut samples.by_kind {
        latencies.sort();
        all.extend(latencies.iter());
        kinds.insert(
            kind.to_string(),
            json!({
                "commands": latencies.len(),
                "p50_ms": percentile(latencies, 0.5),
                "p99_ms": percentile(latencies, 0.99),
                "max_ms": percentile(latencies, 1.0),
            }),
        );
    }
    all.sort();
    json!({
        "commands_per_s": commands as f64 / seconds,
        "cases_per_s": samples.cases as f64 / seconds,
        "commands": commands,
        "cases": samples.cases,
        "failures": samples.failures,
        "p50_ms": percentile(&all, 0.5),
        "p99_ms": percentile(&all, 0.99),
        "max_ms": percentile(&all, 1.0),
        "cpu_ms_per_command": if commands == 0 { 0.0 } else { cpu * 1000.0 / commands as f64 },
        "postgres_cpu_ms_per_command": if commands == 0 { 0.0 } else { postgres_cpu * 1000.0 / commands as f64 },
        "by_kind": kinds,
    })
}

async fn measure(
    driver: Arc<Driver>,
    definition: Arc<Definition>,
    arguments: &BenchArguments,
    at: DateTime<Utc>,
) -> Value {
    let start = Instant::now();
    if let Some(cases) = arguments.cases {
        // A fixed amount of work, all of it counted.
        let before = (own_cpu_seconds(), postgres_cpu_seconds());
        let far = start + Duration::from_secs(24 * 3600);
        let mut samples = drive(
            driver,
            definition,
            at,
            start,
            far,
            (arguments.workers, Some(cases), arguments.rate),
        )
        .await;
        let seconds = start.elapsed().as_secs_f64();
        let cpu = own_cpu_seconds() - before.0;
        let postgres_cpu = postgres_cpu_seconds() - before.1;
        return figures(&mut samples, seconds, cpu, postgres_cpu);
    }
    let measure_from = start + Duration::from_secs(arguments.warmup);
    let until = measure_from + Duration::from_secs(arguments.seconds);
    // CPU is sampled at the edges of the measured window.
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = (own_cpu_seconds(), postgres_cpu_seconds());
        tokio::time::sleep_until(until.into()).await;
        (
            own_cpu_seconds() - before.0,
            postgres_cpu_seconds() - before.1,
        )
    });
    let mut samples = drive(
        driver,
        definition,
        at,
        measure_from,
        until,
        (arguments.workers, None, arguments.rate),
    )
    .await;
    let (cpu, postgres_cpu) = sampler.await.unwrap_or_default();
    figures(&mut samples, arguments.seconds as f64, cpu, postgres_cpu)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

pub async fn run(
    options: GlobalOptions<'_>,
    arguments: BenchArguments,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<u8> {
    let store = Arc::new(open_store(&options, terminal).await?);
    let definition = store
        .library()
        .in_force(&arguments.bundle, options.now)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let database = store.database().clone();
    let backend = database.backend();
    let at = options.now;
    writeln!(
        terminal.err,
        "bench: {} cases on {backend}, {} workers, {} s measured after {} s warm-up (durability as configured: SQLite synchronous=FULL, PostgreSQL its own settings)",
        arguments.bundle, arguments.workers, arguments.seconds, arguments.warmup
    )?;
    let mut seeded = None;
    if let Some(wanted) = arguments.seed_cases {
        seeded = Some(seed(&store, &definition, wanted, at, terminal).await?);
    }
    let in_process = measure(
        Arc::new(Driver::InProcess(store.clone())),
        definition.clone(),
        &arguments,
        at,
    )
    .await;
    let ceiling_time = Duration::from_secs(arguments.ceiling_seconds);
    let (raw_insert, load_insert) = if arguments.ceiling_seconds == 0 {
        (0.0, 0.0)
    } else {
        let raw = bench::raw_insert_ceiling(&database, arguments.workers, ceiling_time).await?;
        let load = bench::load_insert_ceiling(&database, arguments.workers, ceiling_time).await?;
        bench::clean_up(&database).await?;
        (raw, load)
    };
    let commands_per_s = in_process["commands_per_s"].as_f64().unwrap_or(0.0);
    let mut result = json!({
        "bundle": arguments.bundle,
        "backend": backend,
        "workers": arguments.workers,
        "seconds": arguments.seconds,
        "in_process": in_process,
        "ceilings": {
            "raw_insert_per_s": raw_insert,
            "load_insert_per_s": load_insert,
        },
        "ratios": {
            "commands_per_load_insert": ratio(commands_per_s, load_insert),
            "commands_per_raw_insert": ratio(commands_per_s, raw_insert),
        },
    });
    if arguments.http {
        let http =
            http_figures(&options, store.clone(), definition.clone(), &arguments, at).await?;
        result["ratios"]["http_per_in_process"] = json!(ratio(
            http["commands_per_s"].as_f64().unwrap_or(0.0),
            commands_per_s
        ));
        result["http"] = http;
    }
    if let Some(seeded) = seeded {
        result["seeded"] = seeded;
    }
    if !arguments.no_verify && seeded_copies(&result) == 0 {
        let started = Instant::now();
        let report = onething_store::audit::verify(&database, None, None, &mut |_| {}).await?;
        let verify_rate = report.events as f64 / started.elapsed().as_secs_f64();
        let (events, decode_rate) = bench::read_decode_rate(&database).await?;
        result["verify"] = json!({
            "events": events,
            "events_per_s": verify_rate,
            "read_decode_per_s": decode_rate,
            "ratio": ratio(verify_rate, decode_rate),
            "intact": report.intact(),
        });
    }
    if let Some(python) = &arguments.peer_eventsourcing {
        let peer = run_peer(options.database, python, &arguments)?;
        let peer_commands = peer["commands_per_s"].as_f64().unwrap_or(0.0);
        let peer_cases = peer["cases_per_s"].as_f64().unwrap_or(0.0);
        result["ratios"]["commands_per_peer"] = json!(ratio(commands_per_s, peer_commands));
        result["ratios"]["cases_per_peer"] = json!(ratio(
            result["in_process"]["cases_per_s"].as_f64().unwrap_or(0.0),
            peer_cases
        ));
        result["peer"] = peer;
    }
    result["peak_rss_kib"] = json!(peak_rss_kib());
    print_table(&result, terminal)?;
    writeln!(terminal.out, "{}", serde_json::to_string(&result)?)?;
    Ok(0)
}

/// The same load through a server started in this process on a loopback port.
async fn http_figures(
    options: &GlobalOptions<'_>,
    store: Arc<CaseStore>,
    definition: Arc<Definition>,
    arguments: &BenchArguments,
    at: DateTime<Utc>,
) -> anyhow::Result<Value> {
    use onething_server::auth::token_hash;
    use onething_server::{AppState, Client, Clients, Config, Role};
    let mut agencies: Vec<String> = definition.agencies.iter().map(|a| a.id.clone()).collect();
    agencies.push("window".into());
    let clients = Clients::new(agencies.iter().map(|agency| {
        (
            token_hash(&format!("bench-{agency}")),
            Client {
                id: format!("bench-{agency}"),
                role: if agency == "window" {
                    Role::Window
                } else {
                    Role::Agency
                },
                agency: Some(agency.clone()),
            },
        )
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = AppState {
        store,
        clients,
        metrics: Arc::default(),
        feed_signal: Arc::default(),
        workflows_folder: options.workflows.to_path_buf(),
        node: format!("bench-{}", uuid::Uuid::new_v4().simple()),
        retry_after_seconds: 1,
        fixed_now: Some(at),
        trusted_checkpoint_key: None,
    };
    let config = Config {
        deadline_check_seconds: 0,
        checkpoint_seconds: 0,
        ..Config::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = onething_server::serve(listener, state, &config, async {
            let _ = stopped.await;
        })
        .await;
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(arguments.workers)
        .build()?;
    let figures = measure(
        Arc::new(Driver::Http { base, client }),
        definition,
        arguments,
        at,
    )
    .await;
    let _ = stop.send(());
    let _ = server.await;
    Ok(figures)
}
