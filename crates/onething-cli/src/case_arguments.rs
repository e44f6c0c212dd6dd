//! The `onething case` subcommands and their arguments (clap), and reading
//! the JSON they are given.

use std::io::Read;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct Acting {
    /// Who acts: AGENCY[/OPERATOR] (an agency id of the registry) or applicant[/ID].
    #[arg(long = "as", value_name = "ACTOR")]
    pub actor: String,
    /// The command's id; repeating an id already applied changes nothing.
    #[arg(long)]
    pub command_id: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelArgument {
    Window,
    Online,
    SelfService,
    Proxy,
}

#[derive(Debug, Subcommand)]
pub enum CaseCommandLine {
    /// Open a case of a bundle; prints the new case id.
    Open {
        bundle: String,
        /// The application form as JSON: inline (`{…}`), a file, or - for standard input.
        #[arg(long)]
        form: String,
        /// The materials as a JSON list of {"material", "status", ["deadline"]}:
        /// inline (`[…]`), a file, or - for standard input.
        #[arg(long)]
        materials: Option<String>,
        /// Optional services the applicant opts into (comma-separated step ids).
        #[arg(long = "opt", value_delimiter = ',')]
        opted_in: Vec<String>,
        #[arg(long, value_enum, default_value_t = ChannelArgument::Window)]
        channel: ChannelArgument,
        #[command(flatten)]
        acting: Acting,
        #[arg(long)]
        json: bool,
    },
    /// Complete an active step with its outputs.
    Complete {
        case: String,
        step: String,
        /// The step's outputs as JSON (a file, or - for standard input).
        #[arg(long)]
        data: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Send the case back from a step to an earlier one (退回).
    Return {
        case: String,
        step: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Refuse a step (不予许可).
    Refuse {
        case: String,
        step: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Ask the applicant for a supplement (补正); the step's clock pauses.
    RequestSupplement {
        case: String,
        step: String,
        #[arg(long, value_delimiter = ',', required = true)]
        items: Vec<String>,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Ask for more time on a step before its limit runs out (延期).
    Extend {
        case: String,
        step: String,
        /// How much longer, e.g. "5 working days"; the longest allowed by default.
        #[arg(long)]
        length: Option<String>,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Grant (--approve) or deny (--deny) a requested extension.
    DecideExtension {
        case: String,
        step: String,
        #[arg(long, conflicts_with = "deny", required_unless_present = "deny")]
        approve: bool,
        #[arg(long)]
        deny: bool,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Stop a step's clock for a special procedure (特别程序).
    Suspend {
        case: String,
        step: String,
        /// hearing, testing, appraisal, expert review, public notice…
        #[arg(long)]
        procedure: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Restart a suspended step's clock.
    Resume {
        case: String,
        step: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Supply what was asked for: JSON {"items": {...}, "materials": [...]}.
    Supplement {
        case: String,
        #[arg(long)]
        data: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Record a payer's payment of their bill.
    Pay {
        case: String,
        #[arg(long)]
        payer: String,
        /// The amount in fen (1 yuan = 100 fen).
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
        #[arg(long)]
        receipt: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Withdraw the application; payments received become refunds owed.
    Withdraw {
        case: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Rate a case that has ended (好差评), 1 to 5.
    Rate {
        case: String,
        #[arg(long)]
        score: u8,
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Count the deadlines of every running step again after a calendar
    /// changed (e.g. the official holiday table replaced a provisional
    /// year): each changed step gets a `deadline_revised` event.
    ReviseDeadlines {
        /// Print the revision report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check every open case's deadlines: warn and mark overdue, once each.
    Tick {
        /// The time to check at (RFC 3339); now by default.
        #[arg(long)]
        now: Option<String>,
    },
    /// Show a case as it is now, or as it was after event N (`--at N`).
    Show {
        case: String,
        #[arg(long, value_name = "SEQUENCE")]
        at: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// The case's timeline: every event, who, when, in words, with its hash.
    History {
        case: String,
        #[arg(long)]
        json: bool,
    },
    /// List cases from the summaries.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        bundle: Option<String>,
        /// Cases in which this agency has a step waiting now.
        #[arg(long)]
        agency: Option<String>,
        /// With --agency: every case of the bundles it takes part in.
        #[arg(long, requires = "agency")]
        involved: bool,
        #[arg(long)]
        overdue: bool,
        #[arg(long)]
        json: bool,
    },
    /// A bundle's dashboard figures: volume, on-time rate, time used against
    /// the promise, supplements, returns, materials saved, satisfaction.
    Stats {
        bundle: String,
        #[arg(long)]
        json: bool,
    },
    /// Dispatch a step awaiting its dispatcher (派单) to its lead and co-handlers.
    Dispatch {
        case: String,
        step: String,
        /// The lead (主办单位), from the step's set.
        #[arg(long)]
        to: String,
        /// The co-handlers (协办单位), comma-separated.
        #[arg(long, value_delimiter = ',')]
        with: Vec<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Send a dispatched step back to its dispatcher (退单; the lead).
    SendBack {
        case: String,
        step: String,
        #[arg(long)]
        reason: String,
        /// The rule the send-back rests on.
        #[arg(long)]
        basis: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Report a co-handler's part of a dispatched step (协办意见).
    Report {
        case: String,
        step: String,
        #[arg(long)]
        text: String,
        /// Data of the part as JSON (a file, or - for standard input).
        #[arg(long)]
        data: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// An agency's open tasks, oldest due first.
    Tasks {
        agency: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        #[arg(long)]
        json: bool,
    },
}

impl CaseCommandLine {
    /// The case, the actor and the action of a command on a dispatched step
    /// (`dispatch`, `send-back`, `report`).
    pub fn dispatch_action(self) -> anyhow::Result<(String, Acting, onething_core::case::Action)> {
        use onething_core::case::Action;
        Ok(match self {
            CaseCommandLine::Dispatch {
                case,
                step,
                to,
                with,
                acting,
            } => (case, acting, Action::Dispatch { step, to, with }),
            CaseCommandLine::SendBack {
                case,
                step,
                reason,
                basis,
                acting,
            } => (
                case,
                acting,
                Action::SendBack {
                    step,
                    reason,
                    basis,
                },
            ),
            CaseCommandLine::Report {
                case,
                step,
                text,
                data,
                acting,
            } => {
                let outputs = match data {
                    Some(source) => read_json(&source, "the report's data")?,
                    None => serde_json::Value::Null,
                };
                (
                    case,
                    acting,
                    Action::Report {
                        step,
                        text,
                        outputs,
                    },
                )
            }
            other => anyhow::bail!("not a command on a dispatched step: {other:?}"),
        })
    }
}

/// JSON given inline (`{…}` or `[…]`), from standard input (`-`) or in a file.
pub(crate) fn read_json(source: &str, what: &str) -> anyhow::Result<Value> {
    let inline = source.trim_start();
    if inline.starts_with('{') || inline.starts_with('[') {
        return serde_json::from_str(inline).with_context(|| format!("{what} is not valid JSON"));
    }
    let text = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("reading {what} from standard input"))?;
        text
    } else {
        std::fs::read_to_string(source).with_context(|| format!("reading {what} from {source}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("{what} in {source} is not valid JSON"))
}
