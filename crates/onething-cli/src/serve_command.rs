//! `onething serve` and `onething token new`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use onething_server::auth::token_hash;
use onething_server::{AppState, Client, Clients, Config, Role};
use tokio::sync::Notify;

use crate::options::GlobalOptions;
use crate::workflow_commands::load;
use crate::Terminal;

#[derive(Debug, Args)]
pub struct ServeArguments {
    /// The address to listen on (overrides the configuration's `bind`).
    #[arg(long)]
    bind: Option<String>,
    /// The configuration file (see onething.example.toml). Without one, the
    /// server makes a token for each role and agency and prints them.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new random token and the SHA-256 to put in the configuration.
    New,
}

fn random_token() -> String {
    format!(
        "ot_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub fn run_token(command: TokenCommand, terminal: &mut Terminal<'_>) -> anyhow::Result<u8> {
    match command {
        TokenCommand::New => {
            let token = random_token();
            writeln!(terminal.out, "token        = {token}")?;
            writeln!(terminal.out, "token_sha256 = \"{}\"", token_hash(&token))?;
            writeln!(
                terminal.err,
                "give the token to the client; put only token_sha256 in the configuration"
            )?;
            Ok(0)
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

pub async fn run(
    options: GlobalOptions<'_>,
    arguments: ServeArguments,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<u8> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let mut config = match &arguments.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::parse(&path.display().to_string(), &text)?
        }
        None => Config::default(),
    };
    if let Some(bind) = arguments.bind {
        config.bind = bind;
    }
    let workflows = config
        .workflows
        .clone()
        .unwrap_or_else(|| options.workflows.to_path_buf());
    let database = config
        .database
        .clone()
        .unwrap_or_else(|| options.database.to_string());
    let catalog = load(&workflows, terminal)?;
    for warning in &catalog.warnings {
        tracing::warn!("{warning}");
    }
    let store = onething_store::open_case_store_with(&database, &catalog, &config.store_settings())
        .await
        .with_context(|| format!("opening {}", onething_store::database::redact(&database)))?;
    for warning in onething_server::horizon::warnings(store.library(), options.now) {
        tracing::warn!("{warning} (see docs/cases.md, when the holiday notice is published)");
    }

    let unknown: Vec<String> = config
        .clients
        .iter()
        .filter_map(|client| client.agency.as_ref().map(|agency| (client, agency)))
        .filter(|(_, agency)| !catalog.registry.agencies.contains_key(*agency))
        .map(|(client, agency)| {
            format!(
                "client `{}` names agency `{agency}`, which is not in agencies.toml",
                client.id
            )
        })
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!("the configuration has problems: {}", unknown.join("; "));
    }
    let mut printed_tokens = Vec::new();
    let clients = if config.clients.is_empty() {
        // No configuration: one token per role and agency, for this run only.
        let mut clients = Vec::new();
        let mut add = |id: String, role: Role, agency: Option<String>| {
            let token = random_token();
            printed_tokens.push((id.clone(), role, token.clone()));
            clients.push((token_hash(&token), Client { id, role, agency }));
        };
        add("admin".into(), Role::Admin, None);
        add("auditor".into(), Role::Auditor, None);
        add("window".into(), Role::Window, Some("window".into()));
        for agency in catalog
            .registry
            .agencies
            .keys()
            .filter(|id| *id != "window")
        {
            add(agency.clone(), Role::Agency, Some(agency.clone()));
        }
        Clients::new(clients)
    } else {
        Clients::new(config.clients.iter().map(|client| {
            (
                client.token_sha256.clone(),
                Client {
                    id: client.id.clone(),
                    role: client.role,
                    agency: match client.role {
                        Role::Window => {
                            Some(client.agency.clone().unwrap_or_else(|| "window".into()))
                        }
                        _ => client.agency.clone(),
                    },
                },
            )
        }))
    };
    onething_server::declare_subscriptions(&store, &config).await?;
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| format!("listening on {}", config.bind))?;
    let address = listener.local_addr()?;
    let state = AppState {
        store: Arc::new(store),
        clients,
        metrics: Arc::default(),
        feed_signal: Arc::new(Notify::new()),
        workflows_folder: workflows.clone(),
        node: format!("{}-{}", address, uuid::Uuid::new_v4().simple()),
        retry_after_seconds: config.retry_after_seconds,
        fixed_now: options.fixed_now,
        trusted_checkpoint_key: config.checkpoint_trusted_key.clone(),
    };
    writeln!(
        terminal.err,
        "onething is serving {} bundle(s) from {} on {}",
        catalog.ids().len(),
        workflows.display(),
        onething_store::database::redact(&database)
    )?;
    writeln!(
        terminal.err,
        "  API:      http://{address}/api/v1/  (OpenAPI: http://{address}/openapi.json)"
    )?;
    writeln!(
        terminal.err,
        "  health:   http://{address}/healthz   metrics: http://{address}/metrics"
    )?;
    if !printed_tokens.is_empty() {
        writeln!(
            terminal.err,
            "  tokens for this run (new at every start; give a --config for fixed ones):"
        )?;
        for (id, role, token) in &printed_tokens {
            writeln!(terminal.err, "    {:<20} {:<8} {token}", id, role.name())?;
        }
        writeln!(
            terminal.err,
            "  e.g. curl -H 'Authorization: Bearer TOKEN' http://{address}/api/v1/workflows"
        )?;
    }
    match onething_web::accounts::first_admin(state.store.database(), chrono::Utc::now()).await {
        Ok(Some(password)) => writeln!(
            terminal.err,
            "  console:  http://{address}/  — a first user was made: sign in as `admin` with the password {password}\n            (shown this once; add people with `onething user add`, see docs/console.md)"
        )?,
        Ok(None) => writeln!(
            terminal.err,
            "  console:  http://{address}/  (people sign in as the users of `onething user list`)"
        )?,
        Err(error) => anyhow::bail!("making the first console user: {error}"),
    }
    terminal.err.flush()?;
    let console = onething_web::Console::new(onething_web::SessionSettings {
        idle_timeout: std::time::Duration::from_secs(config.console_idle_minutes.max(1) * 60),
        max_failures: config.console_max_failed_sign_ins.max(1),
        lockout: std::time::Duration::from_secs(config.console_lockout_seconds),
    });
    let (stop_watcher, watcher_stop) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(onething_web::live::watch_feed(
        state.clone(),
        console.clone(),
        watcher_stop,
    ));
    let streams = console.clone();
    let shutdown = async move {
        shutdown_signal().await;
        streams.live.stop();
    };
    let served = onething_server::serve_beside(
        listener,
        state,
        &config,
        onething_web::router(console),
        shutdown,
    )
    .await;
    let _ = stop_watcher.send(true);
    let _ = watcher.await;
    served?;
    writeln!(terminal.err, "stopped")?;
    Ok(0)
}
