//! Any text as a workflow file: parsed and validated against the shipped
//! registry, it gives a definition or diagnostics, never a panic or a hang.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use onething_core::registry::Registry;

static REGISTRY: OnceLock<Registry> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let registry = REGISTRY.get_or_init(onething_fuzz::registry);
    if let Ok(definition) = onething_core::workflow::parse_workflow(text, registry) {
        // A valid definition draws and hashes.
        let _ = onething_core::workflow::render_graph(&definition, onething_core::workflow::GraphFormat::Mermaid);
        let _ = onething_core::workflow::render_graph(&definition, onething_core::workflow::GraphFormat::Dot);
    }
});
