//! The `onething` command line: parses arguments and glues the core and the
//! stores together. The only crate that prints, reads the environment or uses
//! `anyhow`.

mod audit_commands;
mod bench_command;
mod bench_machine;
mod bench_peer;
mod bench_report;
mod bench_seed;
mod case_arguments;
mod case_commands;
mod case_output;
mod options;
mod serve_command;
mod user_commands;
mod workflow_commands;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "onething",
    version,
    about = "Bundled government services (高效办成一件事), event-sourced"
)]
pub struct Cli {
    /// The folder of workflow files, agencies and calendars.
    #[arg(
        long,
        global = true,
        env = "ONETHING_WORKFLOWS",
        default_value = "workflows"
    )]
    pub workflows: PathBuf,
    /// Where cases are stored: `sqlite://FILE` (the default) or `postgres://…`.
    #[arg(
        long,
        global = true,
        env = "ONETHING_DATABASE_URL",
        default_value = "sqlite://onething.db"
    )]
    pub database: String,
    /// The time commands are given at (RFC 3339), instead of the clock:
    /// for replaying a scripted scenario or back-filling. Use with care.
    #[arg(long, global = true, env = "ONETHING_NOW")]
    pub now: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate and inspect bundle definitions.
    #[command(subcommand)]
    Workflow(workflow_commands::WorkflowCommand),
    /// Open and act on cases, directly on the store.
    #[command(subcommand)]
    Case(case_arguments::CaseCommandLine),
    /// Verify the hash chains, take checkpoints, export case records.
    #[command(subcommand)]
    Audit(audit_commands::AuditCommand),
    /// Rebuild or check the read models.
    #[command(subcommand)]
    Views(audit_commands::ViewsCommand),
    /// Run the HTTP API with its background jobs.
    Serve(serve_command::ServeArguments),
    /// Measure whole cases beside the database's own ceilings, in one run.
    Bench(bench_command::BenchArguments),
    /// The people who sign in to the web console.
    #[command(subcommand)]
    User(user_commands::UserCommand),
    /// Make API tokens for the configuration file.
    #[command(subcommand)]
    Token(serve_command::TokenCommand),
}

/// Where a command writes: data to `out`, everything else to `err`.
pub struct Terminal<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// Runs the program as if started with `args`; returns the exit code
/// (0 success, 1 a refusal or a problem found, 2 a usage error).
pub fn run_with_args(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    terminal: &mut Terminal<'_>,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let rendered = error.render().to_string();
            if error.use_stderr() {
                let _ = write!(terminal.err, "{rendered}");
                return 2;
            }
            let _ = write!(terminal.out, "{rendered}");
            return 0;
        }
    };
    match run(cli, terminal) {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(terminal.err, "error: {error:#}");
            1
        }
    }
}

fn run(cli: Cli, terminal: &mut Terminal<'_>) -> anyhow::Result<u8> {
    let Cli {
        workflows,
        database,
        now,
        command,
    } = cli;
    let fixed_now = match &now {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|error| {
                    anyhow::anyhow!("--now `{text}` is not an RFC 3339 time: {error}")
                })?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    let now = fixed_now.unwrap_or_else(chrono::Utc::now);
    let command = match command {
        Command::Workflow(command) => {
            return workflow_commands::run(&workflows, now, command, terminal)
        }
        Command::Token(command) => return serve_command::run_token(command, terminal),
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let options = options::GlobalOptions {
        workflows: &workflows,
        database: &database,
        now,
        fixed_now,
    };
    runtime.block_on(async move {
        match command {
            Command::Case(command) => case_commands::run(options, command, terminal).await,
            Command::Audit(command) => audit_commands::run_audit(options, command, terminal).await,
            Command::Views(command) => audit_commands::run_views(options, command, terminal).await,
            Command::Serve(arguments) => serve_command::run(options, arguments, terminal).await,
            Command::Bench(arguments) => bench_command::run(options, arguments, terminal).await,
            Command::User(command) => user_commands::run(options, command, terminal).await,
            Command::Workflow(_) | Command::Token(_) => unreachable!("handled above"),
        }
    })
}
