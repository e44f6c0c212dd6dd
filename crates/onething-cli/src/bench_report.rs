//! How `onething bench` prints its figures beside the baselines.

use serde_json::Value;

use crate::Terminal;

pub(crate) fn print_table(result: &Value, terminal: &mut Terminal<'_>) -> std::io::Result<()> {
    let number = |value: &Value| value.as_f64().unwrap_or(0.0);
    let mut line = |name: &str, figures: &Value| {
        writeln!(
            terminal.err,
            "  {name:<22} {:>9.0} commands/s {:>7.1} cases/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  cpu {:.3} ms/command (postgres {:.3})",
            number(&figures["commands_per_s"]),
            number(&figures["cases_per_s"]),
            number(&figures["p50_ms"]),
            number(&figures["p99_ms"]),
            number(&figures["max_ms"]),
            number(&figures["cpu_ms_per_command"]),
            number(&figures["postgres_cpu_ms_per_command"]),
        )
    };
    line("onething in process", &result["in_process"])?;
    if result.get("http").is_some() {
        line("onething over HTTP", &result["http"])?;
    }
    writeln!(
        terminal.err,
        "  {:<22} {:>9.0} inserts/s\n  {:<22} {:>9.0} loads+inserts/s\n  ratio to load+insert: {:.2}",
        "ceiling: raw insert",
        number(&result["ceilings"]["raw_insert_per_s"]),
        "ceiling: load+insert",
        number(&result["ceilings"]["load_insert_per_s"]),
        number(&result["ratios"]["commands_per_load_insert"]),
    )?;
    if let Some(verify) = result.get("verify") {
        writeln!(
            terminal.err,
            "  audit verify           {:>9.0} events/s beside read+decode {:.0} events/s ({:.2}), {} events",
            number(&verify["events_per_s"]),
            number(&verify["read_decode_per_s"]),
            number(&verify["ratio"]),
            verify["events"]
        )?;
    }
    if let Some(peer) = result.get("peer") {
        writeln!(
            terminal.err,
            "  peer (eventsourcing)   {:>9.0} commands/s {:>7.1} cases/s; onething is {:.2}× per command, {:.2}× per case",
            number(&peer["commands_per_s"]),
            number(&peer["cases_per_s"]),
            number(&result["ratios"]["commands_per_peer"]),
            number(&result["ratios"]["cases_per_peer"]),
        )?;
    }
    Ok(())
}
