//! `onething`: validate and inspect workflow files, run cases, serve the API.

use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Unlocked handles: the server's log lines go to stderr from other threads.
    let mut terminal = onething_cli::Terminal {
        out: &mut std::io::stdout(),
        err: &mut std::io::stderr(),
    };
    ExitCode::from(onething_cli::run_with_args(
        std::env::args_os(),
        &mut terminal,
    ))
}
