//! A database of a test's own on the suite's PostgreSQL (`scripts/test`
//! starts it; `ONETHING_TEST_POSTGRES` names another), dropped at the end,
//! and the newborn application the store tests open.

// Each test binary uses some of these.
#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use onething_store::workflow_files::Catalog;
use sqlx::Connection;

/// The shipped bundles, as the store tests open them.
pub fn catalog() -> Catalog {
    Catalog::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows")).unwrap()
}

/// A time written in RFC 3339.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

pub struct ScratchPostgres {
    pub url: String,
    name: String,
    admin: sqlx::PgConnection,
}

impl ScratchPostgres {
    pub async fn create(prefix: &str) -> ScratchPostgres {
        let admin_url = std::env::var("ONETHING_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://onething:onething@127.0.0.1:5432/postgres".into());
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot reach the test PostgreSQL at {admin_url}: {error} (scripts/start-postgres)")
            });
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("ONETHING_TEST_POSTGRES `{admin_url}` names no database"),
        };
        ScratchPostgres { url, name, admin }
    }

    /// Drops the database, closing whatever still holds it.
    pub async fn drop_database(mut self) {
        sqlx::raw_sql(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}

/// Opening a newborn case with a valid form and no materials declared.
pub fn open_newborn(case_id: &str) -> onething_core::case::Action {
    onething_core::case::Action::Open {
        case_id: case_id.to_string(),
        workflow: "newborn".into(),
        form: serde_json::json!({
            "baby_name": "王小明", "baby_sex": "male", "birth_date": "2026-05-30", "born_in_province": true,
            "mother_id": "11010519491231002X", "household_head_id": "11010519491231002X",
            "address": "某路1号", "phone": "13800138000"
        }),
        materials: vec![],
        opted_in: vec![],
        channel: Default::default(),
    }
}
