/**
 * PostgreSQL schema migrations (src/store/pg-store.ts), applied in order; `schema_migrations` records each
 * one applied. Append-only, like src/store/migrations.ts: a migration that has shipped is never edited.
 *
 * Migration 1 is the final schema of the SQLite migrations 1 to 7 in one step, in PostgreSQL's types:
 * epoch-millisecond times as bigint, flags as boolean, identity columns where SQLite had rowids. Two
 * columns are PostgreSQL's own: `jobs.instances` (the length of `ids`, counted once at insert instead of
 * with json_array_length on every listing), and `seq` on approvals and outcomes (their order of arrival,
 * which SQLite reads from the rowid).
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    provider TEXT NOT NULL,
    region TEXT NOT NULL,
    ids TEXT NOT NULL,
    instances INTEGER NOT NULL,
    force BOOLEAN NOT NULL,
    dry_run BOOLEAN NOT NULL,
    verify BOOLEAN NOT NULL DEFAULT TRUE,
    rolling INTEGER,
    reason TEXT,
    requester TEXT NOT NULL,
    channel TEXT NOT NULL,
    approvals_needed INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by TEXT,
    completed_at BIGINT,
    card_ts TEXT,
    -- A replayed slash command (same trigger_id) must not create a second job.
    trigger_id TEXT,
    -- Why a job is waiting for approval again (its approval lapsed while the bot was down).
    reapproval_reason TEXT,
    preflight_at BIGINT,
    preflight_errors TEXT,
    cancelled_at BIGINT,
    cancelled_by TEXT
  );
  CREATE INDEX jobs_state ON jobs(state);
  CREATE UNIQUE INDEX jobs_trigger ON jobs(trigger_id) WHERE trigger_id IS NOT NULL;
  CREATE INDEX jobs_channel_recent ON jobs(channel, created_at, id);
  CREATE INDEX jobs_requester_recent ON jobs(requester, created_at, id);

  CREATE TABLE approvals (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    user_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (job_id, user_id)
  );

  CREATE TABLE batches (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    seq INTEGER NOT NULL,
    wave INTEGER NOT NULL DEFAULT 0,
    ids TEXT NOT NULL,
    state TEXT NOT NULL,
    async_job_id TEXT,
    sent_at BIGINT,
    accepted_at BIGINT,
    PRIMARY KEY (job_id, seq)
  );

  CREATE TABLE outcomes (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    instance_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status TEXT NOT NULL,
    at BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (job_id, instance_id)
  );
  CREATE INDEX outcomes_status ON outcomes(job_id, status);
  CREATE INDEX outcomes_order ON outcomes(job_id, at, seq);

  CREATE TABLE instance_state (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    instance_id TEXT NOT NULL,
    reading TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (job_id, instance_id)
  );

  -- Rows are never updated; a whole job that ended before the retention period goes with its audit rows.
  CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    data TEXT
  );
  CREATE INDEX audit_job ON audit(job_id, id);

  CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    job_id TEXT,
    coalesce_key TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_error TEXT
  );
  CREATE INDEX outbox_pending ON outbox(state, channel, id);
  CREATE INDEX outbox_coalesce ON outbox(coalesce_key, state);
  CREATE INDEX outbox_job ON outbox(job_id, kind, state);
  CREATE INDEX outbox_delivered ON outbox(state, created_at);
  CREATE INDEX outbox_lanes ON outbox(state, channel, job_id, id);

  -- One writer per database: a process holds this row and renews its heartbeat (src/store/lease.ts).
  CREATE TABLE lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    heartbeat_at BIGINT NOT NULL
  );
  `,
  `
  -- Issue 11: the provider account a job runs under, and the approvers its policy rule named when it was
  -- requested (JSON {users, groups}; NULL: REBOOT_APPROVERS governs), as SQLite's migration 8.
  ALTER TABLE jobs ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
  ALTER TABLE jobs ADD COLUMN approvers TEXT;
  `,
  `
  -- Issue 12, active-active replicas (src/replicas/coordinator.ts, src/store/pg-replicas.ts). Each replica registers
  -- here and renews its heartbeat on the database's clock; a replica whose row is gone is dead. A job's run and its
  -- pre-flight are owned by one replica each; the work of a dead one is claimed by another. An outbox row being sent
  -- names the replica sending it, so only a dead replica's rows go back to the queue.
  CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
  );
  ALTER TABLE jobs ADD COLUMN run_owner TEXT;
  ALTER TABLE jobs ADD COLUMN preflight_owner TEXT;
  ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
  CREATE INDEX jobs_open ON jobs(created_at) WHERE state IN ('pending', 'approved', 'running');
  `,
];
