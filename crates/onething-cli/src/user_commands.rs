//! `onething user add|list|disable|enable|reset-password`: the people who
//! sign in to the web console, kept in the database (never in the
//! configuration file).

use std::io::BufRead;

use clap::Subcommand;
use onething_store::console_users;
use onething_web::accounts::{self, AccountError, NewUser};

use crate::options::{open_store, GlobalOptions};
use crate::Terminal;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is read from standard input (one line), or
    /// made at random and printed once with `--random-password`.
    Add {
        /// The name they sign in with: letters, digits, `-`, `_`, `.`.
        login: String,
        /// Their name as the audited history shows it (e.g. 王警官).
        #[arg(long)]
        name: String,
        /// clerk, officer, approver, supervisor or admin.
        #[arg(long)]
        role: String,
        /// The agency an officer or approver acts for (an id of agencies.toml).
        #[arg(long)]
        agency: Option<String>,
        /// zh (the default) or en.
        #[arg(long, default_value = "zh")]
        language: String,
        #[arg(long)]
        random_password: bool,
    },
    /// List the users (never their passwords).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they cannot sign in, their sessions end now.
    Disable { login: String },
    /// Enable a disabled user again.
    Enable { login: String },
    /// Set a new password (from standard input, or `--random-password`);
    /// every session of the user ends.
    ResetPassword {
        login: String,
        #[arg(long)]
        random_password: bool,
    },
}

fn password_from(random: bool, terminal: &mut Terminal<'_>) -> anyhow::Result<(String, bool)> {
    if random {
        return Ok((accounts::random_password(), true));
    }
    writeln!(terminal.err, "password (one line on standard input):")?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
}

fn explain(error: AccountError) -> anyhow::Error {
    match error {
        AccountError::Invalid(problems) => {
            anyhow::anyhow!(
                "the user has {} problem(s):\n  {}",
                problems.len(),
                problems.join("\n  ")
            )
        }
        other => anyhow::anyhow!(other),
    }
}

pub async fn run(
    options: GlobalOptions<'_>,
    command: UserCommand,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<u8> {
    let store = open_store(&options, terminal).await?;
    let database = store.database();
    let now = chrono::Utc::now();
    match command {
        UserCommand::Add {
            login,
            name,
            role,
            agency,
            language,
            random_password,
        } => {
            let (password, print) = password_from(random_password, terminal)?;
            let catalog = crate::workflow_commands::load(options.workflows, terminal)?;
            let known: Vec<String> = catalog.registry.agencies.keys().cloned().collect();
            let user = NewUser {
                login,
                name,
                agency,
                role,
                password: password.clone(),
                language,
            };
            let added = accounts::add_user(database, user, &known, now)
                .await
                .map_err(explain)?;
            writeln!(
                terminal.out,
                "added {} ({}, {}, {})",
                added.login, added.name, added.role, added.agency
            )?;
            if print {
                writeln!(terminal.out, "password: {password}")?;
            }
        }
        UserCommand::List { json } => {
            let users = console_users::list(database).await?;
            if json {
                let rows: Vec<serde_json::Value> = users
                    .iter()
                    .map(|u| {
                        serde_json::json!({
                            "login": u.login, "name": u.name, "agency": u.agency,
                            "role": u.role, "language": u.language, "disabled": u.disabled,
                        })
                    })
                    .collect();
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&rows)?)?;
            } else {
                let width = |f: &dyn Fn(&console_users::ConsoleUser) -> usize, header: usize| {
                    users.iter().map(f).max().unwrap_or(0).max(header)
                };
                let login_width = width(&|u| u.login.chars().count(), 5);
                let agency_width = width(&|u| u.agency.chars().count(), 6);
                writeln!(
                    terminal.out,
                    "{:<login_width$}  {:<agency_width$}  {:<10}  {:<8}  name",
                    "login", "agency", "role", "state"
                )?;
                for user in &users {
                    writeln!(
                        terminal.out,
                        "{:<login_width$}  {:<agency_width$}  {:<10}  {:<8}  {}",
                        user.login,
                        user.agency,
                        user.role,
                        if user.disabled { "disabled" } else { "active" },
                        user.name
                    )?;
                }
            }
        }
        UserCommand::Disable { login } => {
            if !console_users::set_disabled(database, &login, true, now).await? {
                anyhow::bail!("no user `{login}`");
            }
            writeln!(terminal.out, "disabled {login}; their sessions ended")?;
        }
        UserCommand::Enable { login } => {
            if !console_users::set_disabled(database, &login, false, now).await? {
                anyhow::bail!("no user `{login}`");
            }
            writeln!(terminal.out, "enabled {login}")?;
        }
        UserCommand::ResetPassword {
            login,
            random_password,
        } => {
            let (password, print) = password_from(random_password, terminal)?;
            accounts::reset_password(database, &login, &password, now)
                .await
                .map_err(explain)?;
            writeln!(
                terminal.out,
                "new password set for {login}; their sessions ended"
            )?;
            if print {
                writeln!(terminal.out, "password: {password}")?;
            }
        }
    }
    Ok(0)
}
