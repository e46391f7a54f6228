/**
 * The replica registry of PgStore (src/store/contract.ts ReplicaRegistry): the SQL behind active-active replicas.
 *
 * Heartbeats are written and compared on the database's clock (DB_NOW_MS), so replicas on hosts whose clocks
 * disagree still agree on who is silent. Orphaned work is claimed with `SELECT … FOR UPDATE SKIP LOCKED`
 * (https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE): two replicas sweeping at once
 * each skip the rows the other is claiming, so every orphan gets exactly one new owner.
 */
import type { LeaseHolder, OrphanWork, ReplicaRegistry } from './contract.js';
import { DB_NOW_MS, type Session } from './pg-session.js';

/** A job's owner column counts as free when it is empty, or names a replica that is no longer registered. */
const freeOwner = (column: string): string => `(${column} IS NULL OR NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = ${column}))`;

export class PgReplicaRegistry implements ReplicaRegistry {
  constructor(
    readonly me: LeaseHolder,
    private readonly q: Session,
    private readonly tx: <T>(fn: (q: Session) => Promise<T>) => Promise<T>,
  ) {}

  /** Adds the replica's row (PgStore.joinReplicas, inside its transaction). */
  static async register(me: LeaseHolder, q: Session): Promise<void> {
    await q.run(`INSERT INTO replicas (id, pid, host, started_at, heartbeat_at) VALUES ($1, $2, $3, ${DB_NOW_MS}, ${DB_NOW_MS})`, [me.id, me.pid, me.host]);
  }

  async renew(): Promise<boolean> {
    return (await this.q.run(`UPDATE replicas SET heartbeat_at = ${DB_NOW_MS} WHERE id = $1`, [this.me.id])) === 1;
  }

  async reap(staleMs: number, isAlive: (replica: LeaseHolder) => boolean): Promise<LeaseHolder[]> {
    const others = await this.q.rows<{ id: string; pid: number; host: string; age: number }>(
      `SELECT id, pid, host, ${DB_NOW_MS} - heartbeat_at AS age FROM replicas WHERE id <> $1`,
      [this.me.id],
    );
    const reaped: LeaseHolder[] = [];
    for (const r of others) {
      const holder = { id: r.id, pid: r.pid, host: r.host };
      const gone = !isAlive(holder);
      if (!gone && r.age <= staleMs) continue;
      // A silent replica is removed only if it is still silent now: one that renewed meanwhile stays.
      const removed = gone
        ? await this.q.run(`DELETE FROM replicas WHERE id = $1`, [r.id])
        : await this.q.run(`DELETE FROM replicas WHERE id = $1 AND ${DB_NOW_MS} - heartbeat_at > $2`, [r.id, staleMs]);
      if (removed === 1) reaped.push(holder);
    }
    return reaped;
  }

  async claimOrphans(limit: number): Promise<OrphanWork[]> {
    return this.tx(async (q) => {
      const runs = await q.rows<{ id: string; state: 'approved' | 'running' }>(
        `WITH c AS (
           SELECT id FROM jobs WHERE state IN ('approved', 'running') AND ${freeOwner('run_owner')}
           ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         UPDATE jobs SET run_owner = $1 FROM c WHERE jobs.id = c.id RETURNING jobs.id, jobs.state`,
        [this.me.id, limit],
      );
      // A pre-flight without an owner at all was never started by a replica (a job from before replicas): a restart's
      // recovery reads it again, as does this.
      const preflights = await q.rows<{ id: string }>(
        `WITH c AS (
           SELECT id FROM jobs WHERE state = 'pending' AND preflight_at IS NULL AND ${freeOwner('preflight_owner')}
           ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         UPDATE jobs SET preflight_owner = $1 FROM c WHERE jobs.id = c.id RETURNING jobs.id`,
        [this.me.id, limit],
      );
      return [...runs.map((r): OrphanWork => ({ kind: 'run', jobId: r.id, state: r.state })), ...preflights.map((r): OrphanWork => ({ kind: 'preflight', jobId: r.id }))];
    });
  }

  async requeueOrphanOutbox(): Promise<number> {
    return this.q.run(`UPDATE outbox SET state = 'pending', claimed_by = NULL WHERE state = 'sending' AND claimed_by IS NOT NULL AND ${freeOwner('claimed_by')}`);
  }

  async claimRun(jobId: string): Promise<boolean> {
    const won = await this.q.run(
      `UPDATE jobs SET run_owner = $1 WHERE id = $2 AND state IN ('approved', 'running') AND (run_owner = $1 OR ${freeOwner('run_owner')})`,
      [this.me.id, jobId],
    );
    return won === 1;
  }

  async releaseRun(jobId: string): Promise<void> {
    await this.q.run(`UPDATE jobs SET run_owner = NULL WHERE id = $1 AND run_owner = $2`, [jobId, this.me.id]);
  }

  async claimPreflight(jobId: string): Promise<boolean> {
    const won = await this.q.run(
      `UPDATE jobs SET preflight_owner = $1 WHERE id = $2 AND state = 'pending' AND preflight_at IS NULL AND (preflight_owner = $1 OR ${freeOwner('preflight_owner')})`,
      [this.me.id, jobId],
    );
    return won === 1;
  }

  async leave(): Promise<void> {
    await this.tx(async (q) => {
      await q.run(`DELETE FROM replicas WHERE id = $1`, [this.me.id]);
      await q.run(`UPDATE jobs SET run_owner = NULL WHERE run_owner = $1`, [this.me.id]);
      await q.run(`UPDATE jobs SET preflight_owner = NULL WHERE preflight_owner = $1`, [this.me.id]);
    });
  }
}
