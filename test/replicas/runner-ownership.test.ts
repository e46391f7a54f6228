/**
 * The Runner among replicas, on a real PostgreSQL registry: a run that fails part-way (the database connection went
 * away after the cloud was called) stays with its replica for a while, then is given back and resumed from the store
 * by a sweep, as a restart would resume it: the batch caught mid-send is not sent again without an idempotency token.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { LimiterPool } from '../../src/jobs/limiters.js';
import { QuietGate } from '../../src/quiet-gate.js';
import { Runner, type RunnerDeps } from '../../src/jobs/runner.js';
import { DEFAULT_VERIFY } from '../../src/jobs/verifier.js';
import { silentLogger } from '../../src/log.js';
import type { BatchResult, InstanceOutcome, Provider, ProviderInfo, RebootCall } from '../../src/providers/provider.js';
import { SlackReporter } from '../../src/slack/reporter.js';
import type { Store } from '../../src/store/contract.js';
import { newJob, providerInfo } from '../helpers/fixtures.js';
import { freshSchema, openStore, requirePostgres } from './pg.js';

beforeEach(requirePostgres);

const J = 'r-failedrun1';

/** A runner of this replica's, with a provider that accepts every reboot and records the calls. */
function replicaRunner(deps: Pick<RunnerDeps, 'store' | 'ownership'> & Partial<RunnerDeps>, info: Partial<ProviderInfo>): { runner: Runner; calls: RebootCall[] } {
  const calls: RebootCall[] = [];
  const provider: Provider = {
    info: providerInfo(info),
    async reboot(call): Promise<BatchResult> {
      calls.push(call);
      return { outcomes: call.ids.map((id): InstanceOutcome => ({ id, status: 'succeeded' })) };
    },
    describe: () => Promise.resolve({ kind: 'read', readings: [] }),
  };
  const runner = new Runner({
    providers: { alibaba: provider },
    limiters: new LimiterPool({}, 100),
    events: new SlackReporter(undefined),
    now: Date.now,
    log: silentLogger,
    approvalTtlMs: 60_000,
    verify: DEFAULT_VERIFY,
    ...deps,
  });
  return { runner, calls };
}

describe('a run that fails part-way among replicas', () => {
  it('is given back after the retry period and resumed by a sweep: the interrupted batch is unknown, never resent', async () => {
    const { schema, drop } = await freshSchema();
    const store = await openStore(schema);
    try {
      const joined = await store.joinReplicas({ id: 'r-runner', pid: process.pid, host: 'runner.example' }, Date.now(), 30_000, () => true);
      if (joined.kind !== 'joined') throw new Error('refused');
      const registry = joined.registry;
      // The database goes away once, right after the cloud answered the first batch.
      let outage = true;
      const flaky = new Proxy(store, {
        get(target, prop) {
          if (prop === 'recordOutcomes' && outage) {
            return async () => {
              outage = false;
              throw new Error('Connection terminated unexpectedly');
            };
          }
          const value: unknown = Reflect.get(target, prop, target);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }) as Store;
      const { runner, calls } = replicaRunner({ store: flaky, ownership: registry, failedRunRetryMs: 300 }, { resendSafe: false, maxBatch: 1 });
      await store.createJob(newJob({ id: J, ids: ['i-one', 'i-two'], createdAt: Date.now(), expiresAt: Date.now() + 60_000 }), 'test');
      expect((await store.approve(J, 'U0APPROVER', Date.now())).kind).toBe('approved');
      runner.start(J);
      await runner.idle();
      expect((await store.getJob(J))?.state).toBe('running');
      // Still this replica's: no sweep may take it yet.
      expect(await registry.claimOrphans(10)).toEqual([]);
      await new Promise((r) => setTimeout(r, 500));
      const orphans = await registry.claimOrphans(10);
      expect(orphans).toEqual([{ kind: 'run', jobId: J, state: 'running' }]);
      await runner.resume(J, 'running');
      await runner.idle();
      expect((await store.getJob(J))?.state).toBe('completed');
      const outcomes = await store.outcomes(J);
      // Each instance was sent once: the batch whose answer was lost with the connection is unknown, not resent.
      expect(calls.flatMap((c) => c.ids).sort()).toEqual(['i-one', 'i-two']);
      expect(outcomes.find((o) => o.status === 'unknown')).toBeDefined();
      expect(outcomes).toHaveLength(2);
    } finally {
      await store.close();
      await drop();
    }
  });

  it("is its approver's from the approval on, while it waits for its turn: the sweep of another replica cannot take it meanwhile", async () => {
    const { schema, drop } = await freshSchema();
    const store = await openStore(schema);
    const other = await openStore(schema);
    try {
      const joined = await store.joinReplicas({ id: 'r-approver', pid: process.pid, host: 'a.example' }, Date.now(), 30_000, () => true);
      const otherJoined = await other.joinReplicas({ id: 'r-sweeper', pid: process.pid, host: 'b.example' }, Date.now(), 30_000, () => true);
      if (joined.kind !== 'joined' || otherJoined.kind !== 'joined') throw new Error('refused');
      // Requests keep arriving at this replica: its background steps wait out maxWaitMs.
      const quiet = new QuietGate({ quietMs: 60_000, maxWaitMs: 1000 });
      quiet.touch();
      const { runner, calls } = replicaRunner({ store, ownership: joined.registry, quiet }, { maxBatch: 10 });
      await store.createJob(newJob({ id: J, ids: ['i-one', 'i-two'], createdAt: Date.now(), expiresAt: Date.now() + 60_000 }), 'test');
      expect((await store.approve(J, 'U0APPROVER', Date.now())).kind).toBe('approved');
      runner.start(J);
      await new Promise((r) => setTimeout(r, 200));
      // The run has not begun (its turn is up to a second away), and it is already this replica's (the approval's).
      expect(calls).toEqual([]);
      expect(await otherJoined.registry.claimOrphans(10)).toEqual([]);
      await runner.idle();
      expect((await store.getJob(J))?.state).toBe('completed');
      expect(calls.flatMap((c) => c.ids)).toEqual(['i-one', 'i-two']);
    } finally {
      await other.close();
      await store.close();
      await drop();
    }
  });
});
