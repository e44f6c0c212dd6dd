//! The core of onething: the workflow language (parse and validate a bundle
//! from text), working-day calendars, and the case aggregate. Nothing here
//! touches files, the network, a database or the clock: text, time and ids
//! come in as arguments, so every decision is a pure function.

pub mod audit;
pub mod calendar;
pub mod case;
pub mod diagnostic;
pub mod expression;
pub mod identifiers;
pub mod localized;
pub mod money;
pub mod registry;
pub mod toml_reader;
pub mod value_type;
pub mod workflow;
