/**
 * The Runner on its own: a real SqliteStore (in memory), the real SlackReporter as its JobEvents, a
 * real LimiterPool, and a provider written here (the Provider contract is a plain interface). No
 * outbox runs, so every row the runner queued is still in the store to be read.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Batch } from '../../src/domain/job.js';
import type { JobOutcome } from '../../src/domain/outcome.js';
import { LimiterPool } from '../../src/jobs/limiters.js';
import { Runner } from '../../src/jobs/runner.js';
import { DEFAULT_VERIFY } from '../../src/jobs/verifier.js';
import type { Logger } from '../../src/log.js';
import type { BatchResult, InstanceOutcome, PollCall, Provider, ProviderInfo, ProviderName, RebootCall } from '../../src/providers/provider.js';
import { outcomeLine } from '../../src/slack/messages.js';
import { SlackReporter } from '../../src/slack/reporter.js';
import type { AuditEvent } from '../../src/store/contract.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { INCIDENTS, OPS, instanceIds, newJob, outboxRows, providerInfo } from '../helpers/fixtures.js';

const J = 'r-runner00001';
const APPROVER = 'U0APPROVER';
const TTL = 15 * 60_000;

interface FakeProvider extends Provider {
  calls: RebootCall[];
  polls: PollCall[];
}

const succeededAll = (call: RebootCall): BatchResult => ({ outcomes: call.ids.map((id): InstanceOutcome => ({ id, status: 'succeeded' })) });

function fakeProvider(
  info: ProviderInfo,
  reboot: (call: RebootCall) => BatchResult | Promise<BatchResult> = succeededAll,
  poll?: (call: PollCall) => InstanceOutcome[] | Promise<InstanceOutcome[]>,
): FakeProvider {
  const provider: FakeProvider = {
    info,
    calls: [],
    polls: [],
    async reboot(call) {
      provider.calls.push(call);
      return reboot(call);
    },
    // Reads answer nothing here: suites of reads use a provider that does (verification.test.ts).
    describe: () => Promise.resolve({ kind: 'read', readings: [] }),
  };
  if (poll) {
    provider.poll = async (call) => {
      provider.polls.push(call);
      return poll(call);
    };
  }
  return provider;
}

/** What a follow-up read adds to an unknown outcome when the provider's read answers nothing. */
const UNREAD = '; a follow-up read could not see its state';

const seqOf = (call: RebootCall): number => Number(call.idempotencyKey.split('-b').at(-1));

let store: SqliteStore;
let limiters: LimiterPool;
let clock: { now: number };
let logged: Array<{ level: string; msg: string; data?: Record<string, unknown> }>;

/** Notes every line; a child's bindings go into each line's data, as pino puts them on each line. */
function capturing(bindings: Record<string, unknown> = {}): Logger {
  const note = (level: string) => (msg: string, data?: Record<string, unknown>) => {
    const all = { ...bindings, ...data };
    logged.push({ level, msg, ...(Object.keys(all).length > 0 ? { data: all } : {}) });
  };
  return { debug: note('debug'), info: note('info'), warn: note('warn'), error: note('error'), child: (more) => capturing({ ...bindings, ...more }) };
}
const log: Logger = capturing();

/** `incidentChannel: null` for a bot configured without one. */
function runner(providers: Partial<Record<ProviderName, Provider>>, incidentChannel: string | null = INCIDENTS): Runner {
  return new Runner({ store, providers, limiters, events: new SlackReporter(incidentChannel ?? undefined), now: () => clock.now, log, approvalTtlMs: TTL, verify: DEFAULT_VERIFY });
}

/** A job approved just now (by the store: the approval's own rows are not the runner's concern). */
function approvedJob(ids: string[], over: Parameters<typeof newJob>[0] = {}): string {
  store.createJob(newJob({ id: J, ids, createdAt: clock.now, expiresAt: clock.now + TTL, ...over }), 'test');
  expect(store.approve(J, APPROVER, clock.now).kind).toBe('approved');
  return J;
}

/** A job the previous process left running, with these batches planned. */
function runningJob(batches: string[][]): void {
  approvedJob(batches.flat());
  expect(store.startRun(J, batches.map((ids) => ({ wave: 0, ids })), clock.now)).toBe(true);
}

const events = (): AuditEvent[] => store.auditTrail(J).map((e) => e.event);

beforeEach(() => {
  store = new SqliteStore(':memory:');
  limiters = new LimiterPool({}, 100);
  clock = { now: 50_000_000 };
  logged = [];
});
afterEach(async () => {
  await limiters.stop();
  store.close();
});

describe('Runner: batch planning', () => {
  it('plans batches of at most maxBatch, in order, each sent once with its own idempotency key', async () => {
    const ids = instanceIds(7);
    const provider = fakeProvider(providerInfo({ maxBatch: 3 }));
    approvedJob(ids, { force: true, region: 'cn-north-4' });
    const r = runner({ alibaba: provider });
    r.start(J);
    await r.idle();
    expect(store.batches(J).map((b) => [b.seq, b.ids, b.state])).toEqual([
      [0, ids.slice(0, 3), 'done'],
      [1, ids.slice(3, 6), 'done'],
      [2, ids.slice(6), 'done'],
    ]);
    const calls = [...provider.calls].sort((a, b) => seqOf(a) - seqOf(b));
    expect(calls).toEqual([0, 1, 2].map((seq) => ({ region: 'cn-north-4', ids: store.batches(J)[seq]!.ids, force: true, idempotencyKey: `${J}-b${seq}` })));
    expect(store.getJob(J)?.state).toBe('completed');
  });

  it('plans batches within the per-minute instance budget as the limiter sees it (an override lowers it)', async () => {
    limiters = new LimiterPool({ alibaba: { instancesPerMinute: 4 } }, 100);
    const ids = instanceIds(7);
    const provider = fakeProvider(providerInfo({ maxBatch: 100, limits: { maxConcurrent: 5, minTimeMs: 0, instancesPerMinute: 1000 } }));
    approvedJob(ids);
    const r = runner({ alibaba: provider });
    r.start(J);
    await r.idle();
    expect(store.batches(J).map((b) => b.ids.length)).toEqual([4, 3]);
    expect(provider.calls.map((c) => c.ids.length).sort()).toEqual([3, 4]);
    expect(store.outcomes(J)).toHaveLength(7);
  });

  it('a second start of the same job, while it runs, sends nothing twice', async () => {
    const provider = fakeProvider(providerInfo({ maxBatch: 2 }));
    approvedJob(instanceIds(5));
    const r = runner({ alibaba: provider });
    r.start(J);
    r.start(J);
    await r.idle();
    r.start(J);
    await r.idle();
    expect(provider.calls.map(seqOf).sort()).toEqual([0, 1, 2]);
    expect(events().filter((e) => e === 'completed')).toHaveLength(1);
  });
});

describe('Runner: sending', () => {
  it('marks each batch sending (and audits it) before the provider call', async () => {
    const seen: Array<{ seq: number; batch: Batch | undefined; sentAudited: boolean; outcomes: number }> = [];
    const provider = fakeProvider(providerInfo({ maxBatch: 2 }), (call) => {
      const seq = seqOf(call);
      seen.push({
        seq,
        batch: store.batches(J).find((b) => b.seq === seq),
        sentAudited: store.auditTrail(J).some((e) => e.event === 'batch sent' && (e.data as { seq?: number }).seq === seq),
        outcomes: store.outcomes(J).filter((o) => call.ids.includes(o.id)).length,
      });
      return succeededAll(call);
    });
    approvedJob(instanceIds(5));
    const r = runner({ alibaba: provider });
    r.start(J);
    await r.idle();
    expect(seen).toHaveLength(3);
    for (const s of seen) {
      expect(s.batch?.state).toBe('sending');
      expect(s.sentAudited).toBe(true);
      expect(s.outcomes).toBe(0);
    }
    expect(store.batches(J).every((b) => b.state === 'done')).toBe(true);
  });

  it('passes the provider’s outcomes through, in order, an unknown one with what a follow-up read adds, and tallies them', async () => {
    const [a, b, c] = instanceIds(3) as [string, string, string];
    const answer: InstanceOutcome[] = [
      { id: a, status: 'succeeded', detail: 'accepted' },
      { id: b, status: 'failed', code: 'IncorrectInstanceStatus', message: 'The instance is stopped', requestId: 'req-1' },
      { id: c, status: 'unknown', reason: 'timeout after 3 tries' },
    ];
    approvedJob([a, b, c]);
    const r = runner({ alibaba: fakeProvider(providerInfo(), () => ({ outcomes: answer })) });
    r.start(J);
    await r.idle();
    expect(store.outcomes(J)).toEqual([answer[0], answer[1], { id: c, status: 'unknown', reason: `timeout after 3 tries${UNREAD}` }]);
    expect(store.auditTrail(J).find((e) => e.event === 'completed')?.data).toEqual({ total: 3, succeeded: 1, checked: 0, failed: 1, unknown: 1, verified: 0, unconfirmed: 0, not_back: 0, not_started: 0, cancelled: 0, waiting: 0 });
  });

  it('a provider that throws (our bug, after the request may have left) gives unknown outcomes, never a resend', async () => {
    const ids = instanceIds(3);
    const provider = fakeProvider(providerInfo(), () => {
      throw new TypeError('cannot read properties of undefined');
    });
    approvedJob(ids);
    const r = runner({ alibaba: provider });
    r.start(J);
    await r.idle();
    expect(provider.calls).toHaveLength(1);
    expect(store.outcomes(J)).toEqual(ids.map((id) => ({ id, status: 'unknown', reason: `internal error while sending this reboot; check the instance${UNREAD}` })));
    expect(store.getJob(J)?.state).toBe('completed');
    expect(logged.find((l) => l.msg === 'provider call threw')?.data).toMatchObject({ jobId: J, seq: 0, error: 'cannot read properties of undefined' });
  });
});

describe('Runner: a batch left "sending" by a crash', () => {
  async function resume(resendSafe: boolean): Promise<{ provider: FakeProvider; ids: string[] }> {
    const ids = instanceIds(3);
    runningJob([ids.slice(0, 2), ids.slice(2)]);
    // The previous process recorded batch 0 as sending and died before the answer came back.
    expect(store.markBatchSending(J, 0, clock.now)).toBe(true);
    const provider = fakeProvider(providerInfo({ maxBatch: 2, resendSafe }));
    const r = runner({ alibaba: provider });
    await r.recover();
    await r.idle();
    return { provider, ids };
  }

  it('is resent, with the same idempotency key, when the provider makes that safe', async () => {
    const { provider, ids } = await resume(true);
    expect(provider.calls.map((c) => [c.idempotencyKey, c.ids]).sort()).toEqual([
      [`${J}-b0`, ids.slice(0, 2)],
      [`${J}-b1`, ids.slice(2)],
    ]);
    expect(store.outcomes(J).map((o) => o.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(store.auditTrail(J).find((e) => e.event === 'resumed')?.data).toEqual({ batches: 2 });
  });

  it('is reported unknown and never sent when it is not safe; the batch that was only planned still goes', async () => {
    const { provider, ids } = await resume(false);
    expect(provider.calls.map((c) => c.ids)).toEqual([ids.slice(2)]);
    const outcomes = store.outcomes(J);
    expect(outcomes.slice(0, 2)).toEqual(
      ids.slice(0, 2).map((id) => ({ id, status: 'unknown', reason: expect.stringContaining('may or may not have been received') as unknown })),
    );
    expect(outcomes[2]).toEqual({ id: ids[2], status: 'succeeded' });
    expect(store.getJob(J)?.state).toBe('completed');
    expect(store.batches(J).map((b) => b.state)).toEqual(['done', 'done']);
  });

  it('recover() resumes running jobs, starts approved ones, and leaves finished ones alone', async () => {
    const provider = fakeProvider(providerInfo());
    runningJob([['i-running']]);
    store.createJob(newJob({ id: 'r-approved01', ids: ['i-approved'], createdAt: clock.now, expiresAt: clock.now + TTL }), 'test');
    store.approve('r-approved01', APPROVER, clock.now);
    store.createJob(newJob({ id: 'r-pending001', ids: ['i-pending'], createdAt: clock.now, expiresAt: clock.now + TTL }), 'test');
    const r = runner({ alibaba: provider });
    await r.recover();
    await r.idle();
    expect(provider.calls.map((c) => c.ids[0]).sort()).toEqual(['i-approved', 'i-running']);
    expect(store.getJob('r-pending001')?.state).toBe('pending');
    await r.recover();
    await r.idle();
    expect(provider.calls).toHaveLength(2);
  });
});

describe('Runner: asynchronous cloud jobs', () => {
  it('stores the async job id (with the outcomes that came with it) before polling, then records the final outcomes', async () => {
    const [a, b, c] = instanceIds(3) as [string, string, string];
    const seenWhilePolling: Array<{ batch: Batch | undefined; outcomes: JobOutcome[] }> = [];
    const provider = fakeProvider(
      providerInfo({ name: 'huawei', maxBatch: 10 }),
      () => ({ outcomes: [{ id: a, status: 'failed', code: 'Ecs.0114', message: 'not found' }], pending: { jobId: 'ajob-1', ids: [b, c] } }),
      (call) => {
        seenWhilePolling.push({ batch: store.batches(J)[0], outcomes: store.outcomes(J) });
        call.onProgress?.(1, 2);
        return [
          { id: b, status: 'succeeded' },
          { id: c, status: 'failed', code: 'Ecs.0001', message: 'sub-job failed' },
        ];
      },
    );
    approvedJob([a, b, c], { provider: 'huawei', region: 'cn-north-4' });
    const r = runner({ huawei: provider });
    r.start(J);
    await r.idle();
    expect(seenWhilePolling).toEqual([
      { batch: { jobId: J, seq: 0, wave: 0, ids: [a, b, c], state: 'polling', asyncJobId: 'ajob-1', sentAt: clock.now, acceptedAt: null }, outcomes: [{ id: a, status: 'failed', code: 'Ecs.0114', message: 'not found' }] },
    ]);
    expect(provider.polls.map((p) => ({ region: p.region, handle: p.handle }))).toEqual([{ region: 'cn-north-4', handle: { jobId: 'ajob-1', ids: [b, c] } }]);
    expect(store.outcomes(J).map((o) => [o.id, o.status])).toEqual([
      [a, 'failed'],
      [b, 'succeeded'],
      [c, 'failed'],
    ]);
    expect(store.batches(J)[0]?.state).toBe('done');
    expect(store.getJob(J)?.state).toBe('completed');
    expect(events()).toContain('batch accepted');
    const notes = outboxRows(store).filter((row) => row.message.kind === 'thread_note');
    expect(notes.map((n) => [n.coalesceKey, n.message])).toEqual([
      [null, { kind: 'thread_note', text: 'Fake huawei accepted job `ajob-1` for 2 instances; waiting for it to finish.' }],
      [`progress:${J}:ajob-1`, { kind: 'thread_note', text: 'Fake huawei job `ajob-1`: 1/2 servers done' }],
    ]);
  });

  it('a batch found polling after a restart is followed up by its stored id, never sent again', async () => {
    const [a, b, c] = instanceIds(3) as [string, string, string];
    runningJob([[a, b, c]]);
    store.markBatchSending(J, 0, clock.now);
    store.recordOutcomes(J, 0, [{ id: a, status: 'succeeded' }], { state: 'polling', asyncJobId: 'ajob-9' }, clock.now);
    const provider = fakeProvider(providerInfo({ resendSafe: false }), succeededAll, (call) => call.handle.ids.map((id) => ({ id, status: 'succeeded' })));
    const r = runner({ alibaba: provider });
    await r.recover();
    await r.idle();
    expect(provider.calls).toEqual([]);
    expect(provider.polls.map((p) => p.handle)).toEqual([{ jobId: 'ajob-9', ids: [b, c] }]);
    expect(store.outcomes(J).map((o) => o.id)).toEqual([a, b, c]);
    expect(store.getJob(J)?.state).toBe('completed');
  });

  // BUG (found by this suite, not fixed here): the runner guards against a reboot() that throws
  // (its instances become unknown and the job completes) but not against a poll() that throws. The
  // rejection escapes runBatch, Promise.all rejects, complete() is never called, and Runner.start
  // only logs "job run failed": the job stays 'running' with its batch 'polling' and no outcomes, so
  // the card shows "in progress" and no summary or incident notice is sent until the bot restarts
  // (and then polls again). Expected, as for reboot(): the batch's unfinished instances are
  // reported unknown and the job completes.
  it('a poll() that throws leaves its instances unknown and the job completed, like a reboot() that throws', async () => {
    const [a, b] = instanceIds(2) as [string, string];
    const provider = fakeProvider(
      providerInfo({ name: 'huawei' }),
      () => ({ outcomes: [], pending: { jobId: 'ajob-5', ids: [a, b] } }),
      () => {
        throw new TypeError('cannot read properties of undefined');
      },
    );
    approvedJob([a, b], { provider: 'huawei' });
    const r = runner({ huawei: provider });
    r.start(J);
    await r.idle();
    expect(store.outcomes(J).map((o) => [o.id, o.status])).toEqual([
      [a, 'unknown'],
      [b, 'unknown'],
    ]);
    expect(store.getJob(J)?.state).toBe('completed');
  });

  // BUG (found by this suite, not fixed here; it lives in SqliteStore's thread-line merging): lines
  // are merged into the job's newest *waiting* thread_results row even when rows queued after it (here
  // the "accepted job … waiting for it to finish" note) are waiting too. While Slack lags (rate limit,
  // outage, 1 msg/s pacing), the async job's final results therefore land in the thread *before*
  // the note announcing that job, breaking the per-channel FIFO the outbox promises for a thread.
  // Expected: lines merge only into a row that is still the job's last waiting row in that channel.
  it('thread rows stay in event order: the async job’s results come after the note that announced it', async () => {
    const [a, b, c] = instanceIds(3) as [string, string, string];
    const provider = fakeProvider(
      providerInfo({ name: 'huawei' }),
      () => ({ outcomes: [{ id: a, status: 'failed', code: 'Ecs.0114', message: 'not found' }], pending: { jobId: 'ajob-6', ids: [b, c] } }),
      (call) => call.handle.ids.map((id) => ({ id, status: 'succeeded' })),
    );
    approvedJob([a, b, c], { provider: 'huawei' });
    const r = runner({ huawei: provider });
    r.start(J);
    await r.idle();
    const rows = outboxRows(store).filter((row) => row.channel === OPS && row.message.kind !== 'update_card');
    const accepted = rows.findIndex((row) => row.message.kind === 'thread_note' && row.message.text.includes('accepted job `ajob-6`'));
    const results = rows.findIndex((row) => row.message.kind === 'thread_results' && row.message.entries.some((e) => e.outcome.id === b));
    expect(accepted).toBeGreaterThanOrEqual(0);
    expect(results).toBeGreaterThan(accepted);
  });

  it('a provider that answers "pending" but cannot poll reports those instances unknown', async () => {
    const [a, b] = instanceIds(2) as [string, string];
    const provider = fakeProvider(providerInfo(), () => ({ outcomes: [{ id: a, status: 'succeeded' }], pending: { jobId: 'ajob-2', ids: [b] } }));
    approvedJob([a, b]);
    const r = runner({ alibaba: provider });
    r.start(J);
    await r.idle();
    expect(store.outcomes(J)).toEqual([
      { id: a, status: 'succeeded' },
      { id: b, status: 'unknown', reason: `provider cannot report async job results${UNREAD}` },
    ]);
    expect(store.getJob(J)?.state).toBe('completed');
  });
});

describe('Runner: approvals that lapsed', () => {
  it('an approval older than approvalTtlMs goes back to pending: nothing is planned or sent, the card and thread say why', async () => {
    const provider = fakeProvider(providerInfo());
    approvedJob(instanceIds(2));
    const decidedAt = clock.now;
    clock.now = decidedAt + TTL + 1;
    const r = runner({ alibaba: provider });
    r.start(J);
    await r.idle();
    expect(provider.calls).toEqual([]);
    expect(store.batches(J)).toEqual([]);
    expect(store.approvals(J)).toEqual([]);
    expect(store.getJob(J)).toMatchObject({ state: 'pending', decidedAt: null, expiresAt: clock.now + TTL, reapprovalReason: expect.stringContaining('approved 15 min ago but not started') as unknown });
    expect(outboxRows(store).map((row) => [row.channel, row.message.kind, row.coalesceKey])).toEqual([
      [OPS, 'update_card', `card:${J}`],
      [OPS, 'thread_note', null],
    ]);
    const note = outboxRows(store)[1]?.message;
    expect(note?.kind === 'thread_note' && note.text).toContain('Approval lapsed');
    expect(events()).toContain('approval lapsed');
  });

  it('an approval exactly approvalTtlMs old still runs', async () => {
    const provider = fakeProvider(providerInfo());
    approvedJob(instanceIds(1));
    clock.now += TTL;
    const r = runner({ alibaba: provider });
    r.start(J);
    await r.idle();
    expect(provider.calls).toHaveLength(1);
    expect(store.getJob(J)?.state).toBe('completed');
  });
});

describe('Runner: a provider no longer configured', () => {
  it('a running job completes: planned batches fail with ProviderNotConfigured, ones that may have left are unknown', async () => {
    const ids = instanceIds(6);
    runningJob([ids.slice(0, 2), ids.slice(2, 4), ids.slice(4)]);
    store.markBatchSending(J, 1, clock.now);
    store.markBatchSending(J, 2, clock.now);
    store.recordOutcomes(J, 2, [], { state: 'polling', asyncJobId: 'ajob-3' }, clock.now);
    const r = runner({});
    await r.recover();
    await r.idle();
    const outcomes = store.outcomes(J);
    expect(outcomes.slice(0, 2)).toEqual(ids.slice(0, 2).map((id) => ({ id, status: 'failed', code: 'ProviderNotConfigured', message: expect.stringContaining('no credentials') as unknown })));
    expect(outcomes.slice(2).map((o) => [o.id, o.status])).toEqual(ids.slice(2).map((id) => [id, 'unknown']));
    expect(store.getJob(J)?.state).toBe('completed');
    expect(store.batches(J).map((b) => b.state)).toEqual(['done', 'done', 'done']);
    expect(outboxRows(store).some((row) => row.message.kind === 'summary')).toBe(true);
    expect(logged.some((l) => l.level === 'error' && l.msg.startsWith('provider not configured'))).toBe(true);
  });

  it('an approved job whose provider is gone completes with every instance failed, nothing sent', async () => {
    const ids = instanceIds(3);
    approvedJob(ids);
    const r = runner({});
    r.start(J);
    await r.idle();
    expect(store.getJob(J)?.state).toBe('completed');
    expect(store.outcomes(J).map((o) => [o.id, o.status, o.status === 'failed' ? o.code : undefined])).toEqual(ids.map((id) => [id, 'failed', 'ProviderNotConfigured']));
  });
});

describe('Runner: reporting', () => {
  it('completion writes the card, the summary in the job channel and the incident notice, once', async () => {
    const ids = instanceIds(4);
    approvedJob(ids);
    const r = runner({ alibaba: fakeProvider(providerInfo({ maxBatch: 2 })) });
    clock.now += 1000;
    r.start(J);
    await r.idle();
    expect(store.getJob(J)).toMatchObject({ state: 'completed', completedAt: clock.now });
    const rows = outboxRows(store);
    // One coalesced card update (nothing delivered it meanwhile), the thread lines, then the summary and incident.
    expect(rows.map((row) => [row.channel, row.message.kind])).toEqual([
      [OPS, 'update_card'],
      [OPS, 'thread_results'],
      [OPS, 'summary'],
      [INCIDENTS, 'incident'],
    ]);
    expect(rows[3]?.message).toEqual({ kind: 'incident', event: 'completed' });
    expect(rows.every((row) => row.jobId === J)).toBe(true);
    expect(store.auditTrail(J).filter((e) => e.event === 'completed').map((e) => e.data)).toEqual([{ total: 4, succeeded: 4, checked: 0, failed: 0, unknown: 0, verified: 0, unconfirmed: 0, not_back: 0, not_started: 0, cancelled: 0, waiting: 0 }]);
  });

  it('without an incident channel, completion writes no incident row', async () => {
    approvedJob(instanceIds(1));
    const r = runner({ alibaba: fakeProvider(providerInfo()) }, null);
    r.start(J);
    await r.idle();
    expect(outboxRows(store).map((row) => row.message.kind)).toEqual(['update_card', 'thread_results', 'summary']);
  });

  it('after every recordOutcomes, the stored outcomes and the queued thread lines agree exactly', async () => {
    const ids = instanceIds(9);
    let calls = 0;
    const mismatches: string[] = [];
    const record = store.recordOutcomes.bind(store);
    store.recordOutcomes = (...args) => {
      const stored = record(...args);
      calls += 1;
      const lines = outboxRows(store).flatMap((row) => (row.message.kind === 'thread_results' ? row.message.entries.map((e) => outcomeLine(e.outcome)) : []));
      const expected = store.outcomes(J).map(outcomeLine);
      if (JSON.stringify([...lines].sort()) !== JSON.stringify([...expected].sort())) mismatches.push(`after call ${calls}: ${lines.length} lines, ${expected.length} outcomes`);
      return stored;
    };
    // Sync answers, a throw, and an async job with its poll: every path that records outcomes.
    const provider = fakeProvider(
      providerInfo({ maxBatch: 2 }),
      (call) => {
        switch (seqOf(call)) {
          case 0:
            return succeededAll(call);
          case 1:
            throw new Error('bug');
          case 2:
            return { outcomes: [{ id: call.ids[0]!, status: 'failed', code: 'X', message: 'refused' }], pending: { jobId: 'ajob-4', ids: call.ids.slice(1) } };
          default:
            return { outcomes: call.ids.map((id): InstanceOutcome => ({ id, status: 'checked' })) };
        }
      },
      (call) => call.handle.ids.map((id) => ({ id, status: 'succeeded' })),
    );
    approvedJob(ids);
    const r = runner({ alibaba: provider });
    r.start(J);
    await r.idle();
    expect(calls).toBe(6);
    expect(mismatches).toEqual([]);
    expect(store.outcomes(J)).toHaveLength(9);
  });
});

describe('Runner: cancel and bounded shutdown', () => {
  /** A provider whose first call waits until `release` is called: a batch held in flight. */
  function heldProvider(): { provider: FakeProvider; release: () => void; inFlight: Promise<void> } {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inFlight = new Promise<void>((resolve) => (entered = resolve));
    const provider = fakeProvider(providerInfo({ maxBatch: 1, limits: { maxConcurrent: 1, minTimeMs: 20 } }), async (call) => {
      if (seqOf(call) === 0) {
        entered();
        await gate;
      }
      return succeededAll(call);
    });
    return { provider, release, inFlight };
  }

  it('a cancel stored while batch 0 is in flight: batch 0 is reported as answered, every later batch is cancelled and never sent', async () => {
    const ids = instanceIds(5);
    const { provider, release, inFlight } = heldProvider();
    approvedJob(ids);
    const r = runner({ alibaba: provider });
    r.start(J);
    await inFlight;
    const result = store.cancel(J, APPROVER, clock.now, 'cancelled before it was sent');
    expect(result).toMatchObject({ kind: 'stopping', inFlight: 1 });
    expect(result?.kind === 'stopping' ? result.cancelled.map((o) => o.id) : []).toEqual(ids.slice(1));
    release();
    await r.idle();
    expect(provider.calls.map((c) => c.ids)).toEqual([[ids[0]]]);
    expect(store.outcomes(J).map((o) => [o.id, o.status])).toEqual([...ids.slice(1).map((id) => [id, 'cancelled']), [ids[0], 'succeeded']]);
    expect(store.getJob(J)).toMatchObject({ state: 'completed', cancelledBy: APPROVER });
    expect(store.tally(J)).toMatchObject({ succeeded: 1, cancelled: 4, waiting: 0 });
    expect(store.cancel(J, APPROVER, clock.now, 'again')?.kind).toBe('finished');
  });

  it('shutdown: nothing new is sent at once; it waits for the call in flight up to the grace, then leaves the rest planned and the job running', async () => {
    const ids = instanceIds(4);
    const { provider, release, inFlight } = heldProvider();
    approvedJob(ids);
    const r = runner({ alibaba: provider });
    r.start(J);
    await inFlight;
    const started = Date.now();
    expect(await r.shutdown(80)).toBe(false);
    expect(Date.now() - started).toBeLessThan(500);
    expect(logged.some((l) => l.msg === 'shutdown: waiting for in-flight provider calls' && JSON.stringify(l.data?.jobs) === JSON.stringify([{ jobId: J, batches: 1, verifying: false }]))).toBe(true);
    release();
    await r.idle();
    // The held call's answer is still stored (the store is open here); nothing after it went out, and the job is left.
    expect(provider.calls).toHaveLength(1);
    expect(store.batches(J).map((b) => b.state)).toEqual(['done', 'planned', 'planned', 'planned']);
    expect(store.getJob(J)?.state).toBe('running');
    expect(logged.some((l) => l.msg === 'job left for the next start')).toBe(true);

    // The next start resumes it: the three planned batches are sent once each.
    const next = runner({ alibaba: provider });
    await next.recover();
    await next.idle();
    expect(provider.calls.map((c) => c.ids[0])).toEqual(ids);
    expect(store.getJob(J)?.state).toBe('completed');
  });

  it('after a cancel, a large job ends without pushing its unsent batches through the rate limit one by one', async () => {
    const ids = instanceIds(30);
    let first!: () => void;
    const firstSent = new Promise<void>((resolve) => (first = resolve));
    const provider = fakeProvider(providerInfo({ maxBatch: 1, limits: { maxConcurrent: 1, minTimeMs: 100 } }), (call) => {
      first();
      return succeededAll(call);
    });
    approvedJob(ids);
    const r = runner({ alibaba: provider });
    r.start(J);
    await firstSent;
    const started = Date.now();
    store.cancel(J, APPROVER, clock.now, 'cancelled before it was sent');
    await r.idle();
    // Queued all at once, the 29 cancelled batches would take 2.9 s of 100 ms slots; a few are queued ahead at most.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(provider.calls.length).toBeLessThanOrEqual(2);
    expect(store.tally(J)).toMatchObject({ succeeded: provider.calls.length, cancelled: 30 - provider.calls.length, waiting: 0 });
    expect(store.getJob(J)?.state).toBe('completed');
  });

  it('shutdown with nothing in flight returns at once', async () => {
    expect(await runner({}).shutdown(10_000)).toBe(true);
  });
});
