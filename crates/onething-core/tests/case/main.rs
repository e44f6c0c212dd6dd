//! Given / when / then for every case command, rejections included, on
//! small bundles (`data_test_bundle.toml` uses every construct), one module
//! per concern as in `src/case/decide/`.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod checks;
mod claims;
mod closing;
mod deadlines;
mod dispatch;
mod documents;
mod extensions;
mod flow;
mod inputs;
mod instances;
mod limits;
mod opening;
mod payments;
mod special_procedures;
mod steps;
mod supervision;
mod supplements;
mod time_order;
mod values;
