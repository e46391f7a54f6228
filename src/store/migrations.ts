/** Schema migrations, applied in order; `user_version` records how far a database has come. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    provider TEXT NOT NULL,
    region TEXT NOT NULL,
    ids TEXT NOT NULL,
    force INTEGER NOT NULL,
    dry_run INTEGER NOT NULL,
    reason TEXT,
    requester TEXT NOT NULL,
    channel TEXT NOT NULL,
    approvals_needed INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decided_at INTEGER,
    decided_by TEXT,
    completed_at INTEGER,
    card_ts TEXT
  );
  CREATE INDEX jobs_state ON jobs(state);

  CREATE TABLE approvals (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    user_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (job_id, user_id)
  );

  CREATE TABLE batches (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    seq INTEGER NOT NULL,
    ids TEXT NOT NULL,
    state TEXT NOT NULL,
    async_job_id TEXT,
    PRIMARY KEY (job_id, seq)
  );

  CREATE TABLE outcomes (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    instance_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (job_id, instance_id)
  );

  -- Append-only: nothing updates or deletes these rows.
  CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL,
    data TEXT
  );
  CREATE INDEX audit_job ON audit(job_id);

  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    job_id TEXT,
    coalesce_key TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_error TEXT
  );
  CREATE INDEX outbox_pending ON outbox(state, channel, id);
  CREATE INDEX outbox_coalesce ON outbox(coalesce_key, state);
  `,
  `
  -- A replayed slash command (same trigger_id) must not create a second job.
  ALTER TABLE jobs ADD COLUMN trigger_id TEXT;
  CREATE UNIQUE INDEX jobs_trigger ON jobs(trigger_id) WHERE trigger_id IS NOT NULL;
  -- Why a job is waiting for approval again (its approval lapsed while the bot was down).
  ALTER TABLE jobs ADD COLUMN reapproval_reason TEXT;
  CREATE INDEX outbox_job ON outbox(job_id, kind, state);

  -- One writer per database: a process holds this row and renews its heartbeat.
  CREATE TABLE lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    heartbeat_at INTEGER NOT NULL
  );
  `,
  `
  -- Issue 8: verification and rolling waves per job, waves and reboot times per batch, pre-flight readings.
  ALTER TABLE jobs ADD COLUMN verify INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE jobs ADD COLUMN rolling INTEGER;
  ALTER TABLE jobs ADD COLUMN preflight_at INTEGER;
  ALTER TABLE jobs ADD COLUMN preflight_errors TEXT;
  ALTER TABLE batches ADD COLUMN wave INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE batches ADD COLUMN sent_at INTEGER;
  ALTER TABLE batches ADD COLUMN accepted_at INTEGER;
  CREATE TABLE instance_state (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    instance_id TEXT NOT NULL,
    reading TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (job_id, instance_id)
  );
  `,
  `
  -- Issue 9: outcomes counted in SQL (Store.tally) instead of reading and parsing every one.
  ALTER TABLE outcomes ADD COLUMN status TEXT;
  UPDATE outcomes SET status = json_extract(outcome, '$.status');
  CREATE INDEX outcomes_status ON outcomes(job_id, status);
  -- Store.outcomes reads a job's in the order they came, without sorting them each time.
  CREATE INDEX outcomes_order ON outcomes(job_id, at);
  -- Retention (REBOOT_RETENTION, src/store/retention.ts) amends migration 1's "append-only" note on audit:
  -- rows are still never updated, but a whole job that ended before the retention period is deleted with
  -- its audit rows, as are delivered outbox rows. Exporting the audit trail before pruning is the operator's.
  -- Retention finds delivered rows by age.
  CREATE INDEX outbox_delivered ON outbox(state, created_at);
  `,
  `
  -- Issue 9, priority lanes: the outbox reads the waiting rows by channel and job, and a job's card by kind.
  CREATE INDEX outbox_lanes ON outbox(state, channel, job_id, id);
  `,
  `
  -- Issue 10: /reboot list reads the newest jobs of a channel, or of a requester across channels, newest first.
  CREATE INDEX jobs_channel_recent ON jobs(channel, created_at, id);
  CREATE INDEX jobs_requester_recent ON jobs(requester, created_at, id);
  `,
  `
  -- Issue 10: /reboot cancel. Who cancelled a job and when; a running job keeps running until what was sent is seen through.
  ALTER TABLE jobs ADD COLUMN cancelled_at INTEGER;
  ALTER TABLE jobs ADD COLUMN cancelled_by TEXT;
  `,
  `
  -- Issue 11: the provider account a job runs under, and the approvers its policy rule named when it was
  -- requested (JSON {users, groups}; NULL for older jobs, which REBOOT_APPROVERS governs).
  ALTER TABLE jobs ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
  ALTER TABLE jobs ADD COLUMN approvers TEXT;
  `,
];
