//! The peer of `onething bench --peer-eventsourcing`: the same bundle on
//! Python's `eventsourcing`, run on the same PostgreSQL in the same run.

use anyhow::{bail, Context};
use serde_json::Value;

use crate::bench_command::BenchArguments;

/// Runs the peer's load phase on the same PostgreSQL (its fastest write mode).
pub(crate) fn run_peer(
    database_url: &str,
    python: &std::path::Path,
    arguments: &BenchArguments,
) -> anyhow::Result<Value> {
    let url = database_url
        .strip_prefix("postgres://")
        .or_else(|| database_url.strip_prefix("postgresql://"))
        .context("the peer runs on PostgreSQL only")?;
    let (credentials, place) = url.split_once('@').context("the URL names no user")?;
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let host_port = place.split('/').next().unwrap_or("127.0.0.1:5432");
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    let folder = std::fs::canonicalize(&arguments.peer_folder)
        .with_context(|| format!("the peer folder {}", arguments.peer_folder.display()))?;
    let environment = [
        ("PEER_PGHOST", host),
        ("PEER_PGPORT", port),
        ("PEER_PGUSER", user),
        ("PEER_PGPASSWORD", password),
        ("PEER_PGDATABASE", "es_bench"),
        ("PEER_ES_DB_FUNCTIONS", "yes"),
    ];
    let setup = std::process::Command::new(python)
        .current_dir(&folder)
        .envs(environment)
        .args(["-c", "import bench; bench.reset_db()"])
        .output()?;
    if !setup.status.success() {
        bail!(
            "the peer's database set-up failed: {}",
            String::from_utf8_lossy(&setup.stderr)
        );
    }
    let workers = arguments.workers.min(4).to_string();
    let run = std::process::Command::new(python)
        .current_dir(&folder)
        .envs(environment)
        .args([
            "bench.py",
            "load",
            "--workers",
            &workers,
            "--mode",
            "process",
            "--warmup",
            &arguments.warmup.to_string(),
            "--measure",
            &arguments.seconds.to_string(),
        ])
        .output()?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    let line = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("RESULT "))
        .with_context(|| {
            format!(
                "the peer printed no result: {}",
                String::from_utf8_lossy(&run.stderr)
            )
        })?;
    Ok(serde_json::from_str(line)?)
}
