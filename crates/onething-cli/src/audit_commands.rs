//! `onething audit …` and `onething views …`: verification, checkpoints,
//! exports and read-model rebuilds, for auditors and operators.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use onething_core::audit::{public_key_hex, seed_hex, Checkpoint};
use onething_store::audit::{latest_checkpoint, take_checkpoint, verify};
use onething_store::export::{export_case, render_html};
use onething_store::views::rebuild;

use crate::options::{open_store, record_cli_read, GlobalOptions};
use crate::Terminal;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash chain and compare the heads with the latest checkpoint.
    Verify {
        /// Only this case.
        #[arg(long)]
        case: Option<String>,
        /// Compare with this exported checkpoint instead of the latest stored one.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Accept only a checkpoint signed with this Ed25519 public key (64
        /// hex characters, as `audit keygen` prints it, or a file holding it).
        #[arg(long)]
        trusted_key: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Record every case's head and a Merkle root over them.
    Checkpoint {
        /// Sign with the Ed25519 seed in this file (64 hex characters).
        #[arg(long)]
        sign_key: Option<PathBuf>,
        /// Also write the checkpoint to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a self-contained record of one case.
    Export {
        case: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The access log of personal data: who read which case with its ID
    /// numbers unmasked, when and through which channel; oldest first.
    AccessLog {
        /// Only reads of this case.
        #[arg(long)]
        case: Option<String>,
        /// Only reads by this client (`cli` for the command line).
        #[arg(long)]
        client: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        #[arg(long)]
        json: bool,
    },
    /// Make a new Ed25519 signing key (a 32-byte seed, as hex) for checkpoints.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Json,
    Html,
}

#[derive(Debug, Subcommand)]
pub enum ViewsCommand {
    /// Rebuild the read models from the events; `--check` compares instead.
    Rebuild {
        /// Change nothing: report every difference between the live read
        /// models and the ones the events give (exit 1 if any).
        #[arg(long)]
        check: bool,
    },
}

/// Reports progress on a terminal, and nothing when piped.
fn progress(what: &'static str) -> impl FnMut(u64) + Send {
    let show = std::io::stderr().is_terminal();
    move |count| {
        if show {
            eprint!("\r{what}: {count}…");
        }
    }
}

fn end_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}

use onething_store::time::stamp as millis;

pub async fn run_audit(
    options: GlobalOptions<'_>,
    command: AuditCommand,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<u8> {
    if let AuditCommand::Keygen { out } = &command {
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        std::fs::write(out, seed_hex(seed) + "\n")
            .with_context(|| format!("writing {}", out.display()))?;
        writeln!(
            terminal.err,
            "wrote a new signing key to {}; keep it secret",
            out.display()
        )?;
        // The public key is data: verifiers pass it as --trusted-key.
        writeln!(terminal.out, "{}", public_key_hex(&seed_hex(seed))?)?;
        return Ok(0);
    }
    let store = open_store(&options, terminal).await?;
    match command {
        AuditCommand::Verify {
            case,
            checkpoint,
            trusted_key,
            json,
        } => {
            // A file holding the key, or the key itself.
            let trusted_key = match trusted_key {
                Some(text) if std::path::Path::new(&text).is_file() => Some(
                    std::fs::read_to_string(&text)
                        .with_context(|| format!("reading {text}"))?
                        .trim()
                        .to_string(),
                ),
                other => other,
            };
            let checkpoint: Option<Checkpoint> = match checkpoint {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Some(
                        serde_json::from_str(&text)
                            .with_context(|| format!("{} is not a checkpoint", path.display()))?,
                    )
                }
                None => latest_checkpoint(store.database()).await?,
            };
            if trusted_key.is_some() && checkpoint.is_none() {
                writeln!(
                    terminal.err,
                    "no checkpoint to check against the trusted key"
                )?;
                return Ok(1);
            }
            if let Some(checkpoint) = &checkpoint {
                let checked = match &trusted_key {
                    Some(trusted) => checkpoint.check_trusted(trusted),
                    None => checkpoint.check(),
                };
                if let Err(error) = checked {
                    writeln!(
                        terminal.err,
                        "the checkpoint of {} cannot be trusted: {error}",
                        checkpoint.taken_at
                    )?;
                    return Ok(1);
                }
            }
            let report = verify(
                store.database(),
                case.as_deref(),
                checkpoint.as_ref(),
                &mut progress("events verified"),
            )
            .await?;
            end_progress();
            if json {
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&report)?)?;
            }
            for finding in &report.findings {
                writeln!(
                    terminal.err,
                    "case {} damaged at event {}: {}",
                    finding.case_id,
                    finding.sequence,
                    finding.damage.describe()
                )?;
            }
            let against = match &report.checkpoint {
                Some((taken_at, root)) => format!(
                    ", checked against the checkpoint of {taken_at} (root {})",
                    &root[..16]
                ),
                None => ", no checkpoint to compare with".to_string(),
            };
            if report.intact() {
                if !json {
                    writeln!(
                        terminal.out,
                        "{} cases, {} events verified{against}",
                        report.cases, report.events
                    )?;
                }
                Ok(0)
            } else {
                writeln!(
                    terminal.err,
                    "{} of {} cases damaged ({} events read){against}",
                    report.findings.len(),
                    report.cases.max(report.findings.len() as u64),
                    report.events
                )?;
                Ok(1)
            }
        }
        AuditCommand::Checkpoint { sign_key, out } => {
            let seed = match sign_key {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            };
            let checkpoint = take_checkpoint(
                store.database(),
                millis(options.now),
                seed.as_deref().map(str::trim),
            )
            .await?;
            let body = serde_json::to_string_pretty(&checkpoint)?;
            if let Some(out) = out {
                std::fs::write(&out, body + "\n")
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            writeln!(
                terminal.out,
                "checkpoint {}: {} cases, {} events, root {}{}",
                checkpoint.taken_at,
                checkpoint.cases,
                checkpoint.events,
                checkpoint.root,
                if checkpoint.signature.is_some() {
                    ", signed"
                } else {
                    ""
                }
            )?;
            Ok(0)
        }
        AuditCommand::Export { case, format, out } => {
            let Some(export) = export_case(&store, &case, millis(options.now)).await? else {
                writeln!(terminal.err, "no case `{case}`")?;
                return Ok(1);
            };
            record_cli_read(&store, &case, "export").await?;
            let text = match format {
                ExportFormat::Json => serde_json::to_string_pretty(&export)? + "\n",
                ExportFormat::Html => render_html(&export),
            };
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => write!(terminal.out, "{text}")?,
            }
            Ok(if export.verification.intact { 0 } else { 1 })
        }
        AuditCommand::AccessLog {
            case,
            client,
            limit,
            offset,
            json,
        } => {
            let filter = onething_store::access_log::AccessFilter {
                case_id: case,
                client,
                limit,
                offset,
                ..Default::default()
            };
            let reads = onething_store::access_log::list(store.database(), &filter).await?;
            if json {
                writeln!(terminal.out, "{}", serde_json::to_string_pretty(&reads)?)?;
            } else {
                for read in &reads {
                    writeln!(
                        terminal.out,
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        millis(read.read_at),
                        read.channel,
                        read.client,
                        read.operator.as_deref().unwrap_or("-"),
                        read.role,
                        read.case_id,
                        read.what
                    )?;
                }
            }
            Ok(0)
        }
        AuditCommand::Keygen { .. } => bail!("handled above"),
    }
}

pub async fn run_views(
    options: GlobalOptions<'_>,
    command: ViewsCommand,
    terminal: &mut Terminal<'_>,
) -> anyhow::Result<u8> {
    let store = open_store(&options, terminal).await?;
    match command {
        ViewsCommand::Rebuild { check } => {
            let report = rebuild(&store, check, &mut progress("cases")).await?;
            end_progress();
            for difference in &report.differences {
                writeln!(terminal.err, "{difference}")?;
            }
            if check {
                if report.differences.is_empty() {
                    writeln!(
                        terminal.out,
                        "{} cases: the read models match the events",
                        report.cases
                    )?;
                    Ok(0)
                } else {
                    writeln!(
                        terminal.err,
                        "{} difference(s) in {} cases",
                        report.differences.len(),
                        report.cases
                    )?;
                    Ok(1)
                }
            } else {
                writeln!(
                    terminal.out,
                    "{} cases: read models rebuilt from the events",
                    report.cases
                )?;
                Ok(0)
            }
        }
    }
}
