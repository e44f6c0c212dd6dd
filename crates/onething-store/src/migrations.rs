//! Versioned schema migrations, applied in order by the program itself.
//! Each runs in its own transaction and is recorded in `schema_migrations`;
//! a migration once released is never edited, only followed by another.

use crate::database::{Database, StoreSettings};
use crate::error::StoreError;
use crate::with_pool;

mod statements;
use statements::*;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// The event table is the one sqlite-es and postgres-es read and write; its
/// primary key is what turns a concurrent append into an optimistic-lock conflict.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "events and definitions",
        sqlite: "
CREATE TABLE events (
  aggregate_type text NOT NULL,
  aggregate_id   text NOT NULL,
  sequence       integer CHECK (sequence >= 0) NOT NULL,
  event_type     text NOT NULL,
  event_version  text NOT NULL,
  payload        text NOT NULL,
  metadata       text NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) STRICT;
CREATE TABLE snapshots (
  aggregate_type   text NOT NULL,
  aggregate_id     text NOT NULL,
  last_sequence    integer CHECK (last_sequence >= 0) NOT NULL,
  current_snapshot integer CHECK (current_snapshot >= 0) NOT NULL,
  payload          text NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
) STRICT;
CREATE TABLE definitions (
  hash        text PRIMARY KEY,
  workflow    text NOT NULL,
  version     integer NOT NULL,
  body        text NOT NULL,
  recorded_at text NOT NULL
) STRICT;
",
        postgres: "
CREATE TABLE events (
  aggregate_type text NOT NULL,
  aggregate_id   text NOT NULL,
  sequence       bigint CHECK (sequence >= 0) NOT NULL,
  event_type     text NOT NULL,
  event_version  text NOT NULL,
  payload        json NOT NULL,
  metadata       json NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE TABLE snapshots (
  aggregate_type   text NOT NULL,
  aggregate_id     text NOT NULL,
  last_sequence    bigint CHECK (last_sequence >= 0) NOT NULL,
  current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
  payload          json NOT NULL,
  PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);
CREATE TABLE definitions (
  hash        text PRIMARY KEY,
  workflow    text NOT NULL,
  version     bigint NOT NULL,
  body        text NOT NULL,
  recorded_at text NOT NULL
);
",
    },
    Migration {
        version: 2,
        name: "case summaries and agency tasks",
        sqlite: "
CREATE TABLE case_summaries (
  case_id   text PRIMARY KEY,
  workflow  text NOT NULL,
  status    text NOT NULL,
  opened_at text NOT NULL,
  ended_at  text,
  sequence  integer NOT NULL,
  overdue   integer NOT NULL,
  applicant text,
  summary   text NOT NULL
) STRICT;
CREATE INDEX case_summaries_by_status ON case_summaries (status, opened_at);
CREATE TABLE agency_tasks (
  case_id      text NOT NULL,
  step         text NOT NULL,
  agency       text NOT NULL,
  workflow     text NOT NULL,
  state        text NOT NULL,
  due          text,
  warned       integer NOT NULL,
  overdue      integer NOT NULL,
  activated_at text,
  PRIMARY KEY (case_id, step)
) STRICT;
CREATE INDEX agency_tasks_by_agency ON agency_tasks (agency, due);
",
        postgres: "
CREATE TABLE case_summaries (
  case_id   text PRIMARY KEY,
  workflow  text NOT NULL,
  status    text NOT NULL,
  opened_at text NOT NULL,
  ended_at  text,
  sequence  bigint NOT NULL,
  overdue   bigint NOT NULL,
  applicant text,
  summary   text NOT NULL
);
CREATE INDEX case_summaries_by_status ON case_summaries (status, opened_at);
CREATE TABLE agency_tasks (
  case_id      text NOT NULL,
  step         text NOT NULL,
  agency       text NOT NULL,
  workflow     text NOT NULL,
  state        text NOT NULL,
  due          text,
  warned       bigint NOT NULL,
  overdue      bigint NOT NULL,
  activated_at text,
  PRIMARY KEY (case_id, step)
);
CREATE INDEX agency_tasks_by_agency ON agency_tasks (agency, due);
",
    },
    Migration {
        version: 3,
        name: "audit checkpoints",
        sqlite: "
CREATE TABLE checkpoints (
  id       integer PRIMARY KEY AUTOINCREMENT,
  taken_at text NOT NULL,
  root     text NOT NULL,
  cases    integer NOT NULL,
  events   integer NOT NULL,
  body     text NOT NULL
) STRICT;
",
        postgres: "
CREATE TABLE checkpoints (
  id       bigserial PRIMARY KEY,
  taken_at text NOT NULL,
  root     text NOT NULL,
  cases    bigint NOT NULL,
  events   bigint NOT NULL,
  body     text NOT NULL
);
",
    },
    Migration {
        version: 4,
        name: "global event order, webhook subscriptions, leases",
        // SQLite writes one transaction at a time, so the rowid of `events`
        // is already the commit order. PostgreSQL hands out sequence values
        // before commit, so each event also records its transaction id; the
        // feed orders by (transaction, position) and reads only below the
        // oldest transaction still running.
        sqlite: "
CREATE TABLE webhook_subscriptions (
  id              text PRIMARY KEY,
  client          text NOT NULL,
  url             text NOT NULL,
  agency          text,
  cursor          text,
  delivered       integer NOT NULL DEFAULT 0,
  failures        integer NOT NULL DEFAULT 0,
  parked          integer NOT NULL DEFAULT 0,
  last_error      text,
  next_attempt_at text NOT NULL,
  lease_owner     text,
  lease_until     text
) STRICT;
CREATE TABLE leases (
  name  text PRIMARY KEY,
  owner text NOT NULL,
  until text NOT NULL
) STRICT;
",
        postgres: "
ALTER TABLE events ADD COLUMN position bigserial;
ALTER TABLE events ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_feed_order ON events (xact_id, position);
CREATE TABLE webhook_subscriptions (
  id              text PRIMARY KEY,
  client          text NOT NULL,
  url             text NOT NULL,
  agency          text,
  cursor          text,
  delivered       bigint NOT NULL DEFAULT 0,
  failures        bigint NOT NULL DEFAULT 0,
  parked          bigint NOT NULL DEFAULT 0,
  last_error      text,
  next_attempt_at text NOT NULL,
  lease_owner     text,
  lease_until     text
);
CREATE TABLE leases (
  name  text PRIMARY KEY,
  owner text NOT NULL,
  until text NOT NULL
);
",
    },
    Migration {
        version: 5,
        name: "a task per agency: a step and its extension's approver",
        // An extension waiting for another agency's decision puts the step in
        // that agency's task list too, so a step may have two rows.
        sqlite: "
CREATE TABLE agency_tasks_by_step_and_agency (
  case_id      text NOT NULL,
  step         text NOT NULL,
  agency       text NOT NULL,
  workflow     text NOT NULL,
  state        text NOT NULL,
  due          text,
  warned       integer NOT NULL,
  overdue      integer NOT NULL,
  activated_at text,
  PRIMARY KEY (case_id, step, agency)
) STRICT;
INSERT INTO agency_tasks_by_step_and_agency SELECT * FROM agency_tasks;
DROP TABLE agency_tasks;
ALTER TABLE agency_tasks_by_step_and_agency RENAME TO agency_tasks;
CREATE INDEX agency_tasks_by_agency ON agency_tasks (agency, due);
",
        postgres: "
ALTER TABLE agency_tasks DROP CONSTRAINT agency_tasks_pkey;
ALTER TABLE agency_tasks ADD PRIMARY KEY (case_id, step, agency);
",
    },
    Migration {
        version: 6,
        name: "task due times counted on provisional calendar years",
        // `calendars` holds each calendar as the running deadlines were last
        // counted on: a file that differs is a change to revise them for.
        sqlite: "
ALTER TABLE agency_tasks ADD COLUMN provisional_years text;
CREATE TABLE calendars (
  id          text PRIMARY KEY,
  body        text NOT NULL,
  recorded_at text NOT NULL
) STRICT;
",
        postgres: "
ALTER TABLE agency_tasks ADD COLUMN provisional_years text;
CREATE TABLE calendars (
  id          text PRIMARY KEY,
  body        text NOT NULL,
  recorded_at text NOT NULL
);
",
    },
    Migration {
        version: 7,
        name: "case summaries compressed with lz4",
        // A summary (about 2 KiB) is rewritten by every command; pglz, the
        // default, costs the server more than the rest of the upsert.
        sqlite: "SELECT 1;",
        postgres: "ALTER TABLE case_summaries ALTER COLUMN summary SET COMPRESSION lz4;",
    },
    Migration {
        version: 8,
        name: "the access log of personal data",
        // Who read a case with its ID numbers unmasked (个人信息保护法):
        // one row per read, never updated; the auditor queries it.
        sqlite: "
CREATE TABLE personal_data_reads (
  id       integer PRIMARY KEY AUTOINCREMENT,
  read_at  text NOT NULL,
  client   text NOT NULL,
  role     text NOT NULL,
  agency   text,
  operator text,
  channel  text NOT NULL,
  case_id  text NOT NULL,
  what     text NOT NULL
) STRICT;
CREATE INDEX personal_data_reads_by_case ON personal_data_reads (case_id, read_at);
CREATE INDEX personal_data_reads_by_client ON personal_data_reads (client, read_at);
",
        postgres: "
CREATE TABLE personal_data_reads (
  id       bigserial PRIMARY KEY,
  read_at  text NOT NULL,
  client   text NOT NULL,
  role     text NOT NULL,
  agency   text,
  operator text,
  channel  text NOT NULL,
  case_id  text NOT NULL,
  what     text NOT NULL
);
CREATE INDEX personal_data_reads_by_case ON personal_data_reads (case_id, read_at);
CREATE INDEX personal_data_reads_by_client ON personal_data_reads (client, read_at);
",
    },
    Migration {
        version: 9,
        name: "console users and sessions",
        // People who sign in to the web console, apart from the API's
        // clients (configured by token). Passwords only as argon2 hashes,
        // sessions only by the SHA-256 of their cookie.
        sqlite: CONSOLE_USERS,
        postgres: CONSOLE_USERS,
    },
    Migration {
        version: 10,
        name: "scanned documents by their SHA-256",
        // Content-addressed: an event attaching a document records its hash,
        // and verification recomputes the hash of what is stored.
        sqlite: "
CREATE TABLE documents (
  sha256     text PRIMARY KEY,
  media_type text NOT NULL,
  size       bigint NOT NULL,
  content    blob NOT NULL,
  stored_at  text NOT NULL
);
",
        postgres: "
CREATE TABLE documents (
  sha256     text PRIMARY KEY,
  media_type text NOT NULL,
  size       bigint NOT NULL,
  content    bytea NOT NULL,
  stored_at  text NOT NULL
);
",
    },
    Migration {
        version: 11,
        name: "the applicants' query codes",
        // The code printed on a receipt (查询码) with which the applicant
        // follows the case without an account. A credential, not a fact of
        // the case: kept beside the history, never in an event or an export.
        sqlite: QUERY_CODES,
        postgres: QUERY_CODES,
    },
    Migration {
        version: 12,
        name: "indexes for supervision and the newest cases",
        // The supervision page lists the warned and overdue tasks of every
        // agency (a few among all open ones); the console's case list shows
        // the newest cases first, a page at a time.
        sqlite: LATE_TASKS,
        postgres: LATE_TASKS,
    },
    Migration {
        version: 13,
        name: "the law's due time and the escalations reached, in the task list",
        // A step with a statutory limit (法定时限) is past the law apart from
        // its promise; escalation points (催办, 通报) reached are listed by id.
        // Rows of earlier cases have neither, as the defaults say.
        sqlite: "
ALTER TABLE agency_tasks ADD COLUMN statutory_due text;
ALTER TABLE agency_tasks ADD COLUMN statutory_overdue integer NOT NULL DEFAULT 0;
ALTER TABLE agency_tasks ADD COLUMN escalations text;
",
        postgres: "
ALTER TABLE agency_tasks ADD COLUMN statutory_due text;
ALTER TABLE agency_tasks ADD COLUMN statutory_overdue bigint NOT NULL DEFAULT 0;
ALTER TABLE agency_tasks ADD COLUMN escalations text;
",
    },
    Migration {
        version: 14,
        name: "the dashboard's figures per case and per step",
        // Flat facts kept beside the summary in the same transaction, and
        // their sums per bundle, opening day and agency, summed again for
        // the days a command marked dirty (see `dashboard.rs`).
        // Cases stored before this migration get their rows from the
        // figures backfill (`views rebuild`, or `serve` at start).
        sqlite: FIGURES,
        postgres: FIGURES,
    },
    Migration {
        version: 15,
        name: "who claimed each task",
        // The person of the agency who took the step on (认领) in this pass.
        // Rows written before this migration have none until the case's next
        // event or a `views rebuild`; a claim is always a new event, so a
        // row of a claimed step is rewritten with its claimant.
        sqlite: CLAIMED_BY,
        postgres: CLAIMED_BY,
    },
    Migration {
        version: 16,
        name: "materials by commitment and waived, counted as shared; each task's inputs",
        // A material counts as not submitted only when it was really shared:
        // an e-licence fetched, or produced by a step that ran. Commitments
        // and waivers are figures of their own. Every figure row was counted
        // by the old rule, so all are removed: the figures backfill (`serve`
        // at start, `views rebuild`) writes them again from the events, and
        // marks each day to be summed again. A task's inputs (`[[step.input]]`,
        // masked) are new with this version: no earlier row has any.
        sqlite: MATERIAL_FIGURES,
        postgres: MATERIAL_FIGURES,
    },
    Migration {
        version: 17,
        name: "each task's part of a dispatched step",
        // A dispatched step (派单) is in its dispatcher's list while it
        // awaits dispatch (`dispatch`), then in its lead's (`lead`) and in
        // each co-handler's until it reported (`co_handler`); other tasks
        // have none. No row written before this migration is of a
        // dispatched step, which is new with this version.
        sqlite: TASK_PARTS,
        postgres: TASK_PARTS,
    },
    Migration {
        version: 18,
        name: "a dispatched step's figures per agency it was dispatched to",
        // A dispatched step has a figure row for each agency that led it
        // (its dispatches and send-backs, 退单), so a step's rows are keyed
        // by its agency too. Rows of earlier cases are removed with the
        // rest of the figures and written again by the figures backfill
        // (`serve` at start, `views rebuild`), as in version 16.
        sqlite: STEP_FIGURES_BY_AGENCY_SQLITE,
        postgres: STEP_FIGURES_BY_AGENCY_POSTGRES,
    },
    Migration {
        version: 19,
        name: "materials the applicant handed over and trips, for the before-reform comparison",
        // A bundle's `[before_reform]` baseline is compared with what its
        // completed cases used: the materials the applicant handed over and
        // the trips made, summed per day like the other figures. Earlier
        // rows are removed and written again by the figures backfill, as in
        // version 16.
        sqlite: HANDED_OVER_FIGURES,
        postgres: HANDED_OVER_FIGURES,
    },
];

/// Applies every migration not yet recorded. Concurrent starters on
/// PostgreSQL serialise on an advisory lock so that each runs once.
pub async fn migrate(database: &Database) -> Result<(), StoreError> {
    with_pool!(database, pool => {
        // Two servers starting on a new PostgreSQL database would race to
        // create the ledger; the advisory lock makes them take turns.
        let mut transaction = pool.begin().await?;
        if matches!(database, Database::Postgres(_)) {
            sqlx::raw_sql("SELECT pg_advisory_xact_lock(7212001)").execute(&mut *transaction).await?;
        }
        sqlx::raw_sql(CREATE_LEDGER).execute(&mut *transaction).await?;
        transaction.commit().await?;
        for migration in MIGRATIONS {
            let mut transaction = pool.begin().await?;
            if matches!(database, Database::Postgres(_)) {
                sqlx::raw_sql("SELECT pg_advisory_xact_lock(7212001)").execute(&mut *transaction).await?;
            }
            let applied: Option<(i64,)> = sqlx::query_as(&database.sql("SELECT version FROM schema_migrations WHERE version = $1"))
                .bind(migration.version)
                .fetch_optional(&mut *transaction)
                .await?;
            if applied.is_some() {
                continue;
            }
            let script = match database {
                Database::Sqlite(_) => migration.sqlite,
                Database::Postgres(_) => migration.postgres,
            };
            sqlx::raw_sql(script)
                .execute(&mut *transaction)
                .await
                .map_err(|error| StoreError::Migration {
                    version: migration.version,
                    name: migration.name,
                    message: error.to_string(),
                })?;
            sqlx::query(&database.sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)"))
                .bind(migration.version)
                .bind(migration.name)
                .bind(chrono::Utc::now().to_rfc3339())
                .execute(&mut *transaction)
                .await?;
            transaction.commit().await?;
        }
        Ok(())
    })
}

impl Database {
    /// Opens `sqlite://FILE`, `sqlite::memory:` or `postgres://…`, creating
    /// the SQLite file if needed, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Database, StoreError> {
        Database::open_with(url, &StoreSettings::default()).await
    }

    /// As [`Database::open`], with the pool's limits and timeouts.
    pub async fn open_with(url: &str, settings: &StoreSettings) -> Result<Database, StoreError> {
        let database = Database::connect(url, settings).await?;
        migrate(&database).await?;
        Ok(database)
    }
}
