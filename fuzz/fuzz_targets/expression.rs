//! Any text as a CEL expression: put into the newborn bundle as a step's
//! `when` and as a bill amount, it is compiled, its names resolved and it is
//! tried on sample values — a diagnostic or a definition, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use onething_core::registry::Registry;

static REGISTRY: OnceLock<Registry> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(expression) = std::str::from_utf8(data) else {
        return;
    };
    let registry = REGISTRY.get_or_init(onething_fuzz::registry);
    // A TOML basic string holding the expression exactly.
    let quoted = serde_json::to_string(expression).unwrap();
    let text = onething_fuzz::NEWBORN.replacen(
        "when = \"form.born_in_province\"",
        &format!("when = {quoted}"),
        1,
    );
    let _ = onething_core::workflow::parse_workflow(&text, registry);
});
