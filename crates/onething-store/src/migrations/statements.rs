//! The SQL of the migrations, by name; `MIGRATIONS` says which runs when.

// SQLite cannot change a primary key in place: the (cleared) table is made anew.
pub(super) const STEP_FIGURES_BY_AGENCY_SQLITE: &str = "
DELETE FROM case_figures;
DELETE FROM figure_rollup_cases;
DELETE FROM figure_rollup_steps;
DELETE FROM figure_days_dirty;
DROP TABLE step_figures;
CREATE TABLE step_figures (
  case_id           text NOT NULL,
  step              text NOT NULL,
  workflow          text NOT NULL,
  agency            text NOT NULL,
  opened_at         text NOT NULL,
  opened_day        text NOT NULL,
  state             text NOT NULL,
  passes            bigint NOT NULL,
  returns_made      bigint NOT NULL,
  warned            bigint NOT NULL,
  overdue           bigint NOT NULL,
  statutory_overdue bigint NOT NULL,
  is_open           bigint NOT NULL,
  completed         bigint NOT NULL,
  on_time           bigint,
  working_days      bigint,
  PRIMARY KEY (case_id, step, agency)
);
CREATE INDEX step_figures_by_day ON step_figures (workflow, opened_day);
";

pub(super) const STEP_FIGURES_BY_AGENCY_POSTGRES: &str = "
DELETE FROM case_figures;
DELETE FROM step_figures;
DELETE FROM figure_rollup_cases;
DELETE FROM figure_rollup_steps;
DELETE FROM figure_days_dirty;
ALTER TABLE step_figures DROP CONSTRAINT step_figures_pkey;
ALTER TABLE step_figures ADD PRIMARY KEY (case_id, step, agency);
";

pub(super) const TASK_PARTS: &str = "
ALTER TABLE agency_tasks ADD COLUMN part text;
";

pub(super) const MATERIAL_FIGURES: &str = "
ALTER TABLE case_figures ADD COLUMN materials_by_commitment bigint NOT NULL DEFAULT 0;
ALTER TABLE case_figures ADD COLUMN materials_waived bigint NOT NULL DEFAULT 0;
ALTER TABLE figure_rollup_cases ADD COLUMN materials_by_commitment bigint NOT NULL DEFAULT 0;
ALTER TABLE figure_rollup_cases ADD COLUMN materials_waived bigint NOT NULL DEFAULT 0;
DELETE FROM case_figures;
DELETE FROM step_figures;
DELETE FROM figure_rollup_cases;
DELETE FROM figure_rollup_steps;
DELETE FROM figure_days_dirty;
ALTER TABLE agency_tasks ADD COLUMN inputs text;
";

pub(super) const FIGURES: &str = "
CREATE TABLE case_figures (
  case_id                 text PRIMARY KEY,
  workflow                text NOT NULL,
  opened_at               text NOT NULL,
  opened_day              text NOT NULL,
  ended_at                text,
  status                  text NOT NULL,
  channel                 text NOT NULL,
  overdue_now             bigint NOT NULL,
  statutory_overdue_now   bigint NOT NULL,
  on_time                 bigint,
  statutory_counted       bigint NOT NULL,
  statutory_overdue       bigint NOT NULL,
  escalations             bigint NOT NULL,
  working_days            bigint,
  supplemented            bigint NOT NULL,
  returned                bigint NOT NULL,
  one_go                  bigint NOT NULL,
  materials_not_submitted bigint NOT NULL,
  trips_made              bigint NOT NULL,
  trips_saved             bigint NOT NULL,
  rating                  bigint,
  follow_up               text,
  satisfied               bigint
);
CREATE INDEX case_figures_by_day ON case_figures (workflow, opened_day);
CREATE INDEX case_figures_unrated ON case_figures (ended_at) WHERE rating IS NULL AND ended_at IS NOT NULL;
CREATE TABLE step_figures (
  case_id           text NOT NULL,
  step              text NOT NULL,
  workflow          text NOT NULL,
  agency            text NOT NULL,
  opened_at         text NOT NULL,
  opened_day        text NOT NULL,
  state             text NOT NULL,
  passes            bigint NOT NULL,
  returns_made      bigint NOT NULL,
  warned            bigint NOT NULL,
  overdue           bigint NOT NULL,
  statutory_overdue bigint NOT NULL,
  is_open           bigint NOT NULL,
  completed         bigint NOT NULL,
  on_time           bigint,
  working_days      bigint,
  PRIMARY KEY (case_id, step)
);
CREATE INDEX step_figures_by_day ON step_figures (workflow, opened_day);
CREATE TABLE figure_rollup_cases (
  workflow   text NOT NULL,
  opened_day text NOT NULL,
  agency     text NOT NULL,
  status     text NOT NULL,
  channel    text NOT NULL,
  cases bigint NOT NULL,
  open bigint NOT NULL,
  ended bigint NOT NULL,
  overdue_now bigint NOT NULL,
  statutory_overdue_now bigint NOT NULL,
  ended_on_time bigint NOT NULL,
  statutory_counted bigint NOT NULL,
  statutory_overdue bigint NOT NULL,
  escalations bigint NOT NULL,
  working_days_total bigint NOT NULL,
  working_days_counted bigint NOT NULL,
  supplemented bigint NOT NULL,
  returned bigint NOT NULL,
  one_go bigint NOT NULL,
  materials_not_submitted bigint NOT NULL,
  trips_saved bigint NOT NULL,
  rated bigint NOT NULL,
  good_ratings bigint NOT NULL,
  bad_ratings bigint NOT NULL,
  follow_ups_due bigint NOT NULL,
  follow_ups_resolved bigint NOT NULL,
  follow_ups_unresolved bigint NOT NULL,
  PRIMARY KEY (workflow, opened_day, agency, status, channel)
);
CREATE TABLE figure_rollup_steps (
  workflow   text NOT NULL,
  opened_day text NOT NULL,
  agency     text NOT NULL,
  step       text NOT NULL,
  steps bigint NOT NULL,
  open bigint NOT NULL,
  yellow bigint NOT NULL,
  red bigint NOT NULL,
  completed bigint NOT NULL,
  completed_on_time bigint NOT NULL,
  working_days_total bigint NOT NULL,
  working_days_counted bigint NOT NULL,
  passes bigint NOT NULL,
  returns_made bigint NOT NULL,
  satisfied bigint NOT NULL,
  satisfaction_answers bigint NOT NULL,
  PRIMARY KEY (workflow, opened_day, agency, step)
);
CREATE TABLE figure_days_dirty (
  workflow   text NOT NULL,
  opened_day text NOT NULL,
  PRIMARY KEY (workflow, opened_day)
);
";

pub(super) const CLAIMED_BY: &str = "
ALTER TABLE agency_tasks ADD COLUMN claimed_by text;
";

pub(super) const LATE_TASKS: &str = "
CREATE INDEX agency_tasks_late ON agency_tasks (overdue, due) WHERE warned <> 0 OR overdue <> 0;
CREATE INDEX case_summaries_by_opening ON case_summaries (opened_at, case_id);
";

pub(super) const QUERY_CODES: &str = "
CREATE TABLE query_codes (
  case_id    text PRIMARY KEY,
  code       text NOT NULL,
  created_at text NOT NULL
);
";

pub(super) const CONSOLE_USERS: &str = "
CREATE TABLE console_users (
  login         text PRIMARY KEY,
  name          text NOT NULL,
  agency        text NOT NULL,
  role          text NOT NULL,
  password_hash text NOT NULL,
  language      text NOT NULL,
  disabled      bigint NOT NULL DEFAULT 0,
  created_at    text NOT NULL,
  changed_at    text NOT NULL
);
CREATE TABLE console_sessions (
  token_hash   text PRIMARY KEY,
  login        text NOT NULL REFERENCES console_users (login),
  csrf_token   text NOT NULL,
  created_at   text NOT NULL,
  last_seen_at text NOT NULL
);
CREATE INDEX console_sessions_by_login ON console_sessions (login);
";

pub(super) const CREATE_LEDGER: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    bigint PRIMARY KEY,
  name       text NOT NULL,
  applied_at text NOT NULL
)";

pub(super) const HANDED_OVER_FIGURES: &str = "
ALTER TABLE case_figures ADD COLUMN materials_submitted bigint NOT NULL DEFAULT 0;
ALTER TABLE figure_rollup_cases ADD COLUMN materials_submitted bigint NOT NULL DEFAULT 0;
ALTER TABLE figure_rollup_cases ADD COLUMN trips_made bigint NOT NULL DEFAULT 0;
DELETE FROM case_figures;
DELETE FROM step_figures;
DELETE FROM figure_rollup_cases;
DELETE FROM figure_rollup_steps;
DELETE FROM figure_days_dirty;
";
