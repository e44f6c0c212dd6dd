//! The router without a server (`oneshot`): every endpoint, every error code,
//! and the authorization matrix — every role against every command, allowed
//! or 403, nothing stored on a 403. One behaviour a test, grouped by resource.

mod support;

mod access_log;
mod audit;
mod authorization;
mod cases;
mod checks;
mod claims;
mod commands;
mod dispatch;
mod errors;
mod extensions;
mod feed;
mod inbox;
mod instances;
mod limits;
mod openapi;
mod operations;
mod statistics;
mod supervision;
mod webhooks;
mod workflows;
