//! `onething`: validate and inspect workflow files, run cases, serve the API.

use std::process::ExitCode;

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut terminal = onething_cli::Terminal {
        out: &mut stdout.lock(),
        err: &mut stderr.lock(),
    };
    ExitCode::from(onething_cli::run_with_args(
        std::env::args_os(),
        &mut terminal,
    ))
}
