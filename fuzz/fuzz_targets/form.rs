//! Any JSON as an application form and as a step's outputs: checked against
//! the newborn bundle's declared fields, it gives problems or none, never a
//! panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use onething_core::workflow::Definition;

static DEFINITION: OnceLock<Definition> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let definition = DEFINITION.get_or_init(onething_fuzz::newborn);
    let _ = onething_core::value_type::check_object(&definition.form, &value);
    for step in &definition.steps {
        let _ = onething_core::value_type::check_object(&step.outputs, &value);
    }
});
