//! Everything of onething that touches storage: the workflows folder on disk,
//! and (from the case engine on) the event stores on SQLite and PostgreSQL,
//! their migrations and the read models.

pub mod workflow_files;
