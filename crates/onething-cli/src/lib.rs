//! The `onething` command line: parses arguments and glues the core and the
//! stores together. The only crate that prints, reads the environment or uses
//! `anyhow`.

mod workflow_commands;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "onething", version, about = "Bundled government services (高效办成一件事), event-sourced")]
pub struct Cli {
    /// The folder of workflow files, agencies and calendars.
    #[arg(long, global = true, env = "ONETHING_WORKFLOWS", default_value = "workflows")]
    pub workflows: PathBuf,
    /// Where cases are stored: `sqlite://FILE` (the default) or `postgres://…`.
    #[arg(long, global = true, env = "ONETHING_DATABASE_URL", default_value = "sqlite://onething.db")]
    pub database: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate and inspect bundle definitions.
    #[command(subcommand)]
    Workflow(workflow_commands::WorkflowCommand),
}

/// Runs the program as if started with `args`; returns the exit code.
pub fn main_with_args(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Workflow(command) => workflow_commands::run(&cli.workflows, command),
    }
}
