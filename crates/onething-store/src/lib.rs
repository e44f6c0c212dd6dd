//! Everything of onething that touches storage: the workflows folder on disk,
//! the event stores on SQLite (embedded default) and PostgreSQL, their
//! migrations, and the read models.

pub mod access_log;
pub mod audit;
pub mod bench;
pub mod calendars;
pub mod case_cache;
pub mod cases;
pub mod console_users;
pub mod dashboard;
pub mod database;
pub mod documents;
pub mod error;
pub mod export;
pub mod feed;
pub mod figures;
pub mod leases;
pub mod metadata;
pub mod migrations;
pub mod multi_host;
pub mod query_codes;
mod rebuild;
pub mod row_changes;
pub mod search;
pub mod supervision;
pub mod time;
pub mod views;
pub mod webhooks;
pub mod workflow_files;

pub use cases::{Attribution, CaseStore, CommandOutcome, StoredEvent};
pub use database::Database;
pub use error::{CommandError, StoreError};
pub use metadata::EventMetadata;

use std::sync::Arc;

use onething_core::case::Library;
use workflow_files::Catalog;

/// Opens the database and prepares the case store: installs the catalog
/// (recording its definitions by hash) and loads every definition ever used.
pub async fn open_case_store(url: &str, catalog: &Catalog) -> Result<CaseStore, StoreError> {
    open_case_store_with(url, catalog, &database::StoreSettings::default()).await
}

/// As [`open_case_store`], with the pool's limits and timeouts.
pub async fn open_case_store_with(
    url: &str,
    catalog: &Catalog,
    settings: &database::StoreSettings,
) -> Result<CaseStore, StoreError> {
    let database = Database::open_with(url, settings).await?;
    let store = CaseStore::with_cache(database, Arc::new(Library::new()), settings.case_cache);
    store.install_catalog(catalog).await?;
    store.load_definitions().await?;
    Ok(store)
}
