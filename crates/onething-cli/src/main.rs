//! `onething`: validate and inspect workflow files, run cases, serve the API.

use std::process::ExitCode;

fn main() -> ExitCode {
    onething_cli::main_with_args(std::env::args_os())
}
