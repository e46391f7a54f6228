/**
 * The store contract's tests, written against the interface only, so every backend runs the same
 * ones: `describeStoreContract(name, open)` where `open()` gives two connections to one fresh
 * database (standing for two bot processes) and a cleanup.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tallyOf } from '../../src/domain/job.js';
import type { JobOutcome } from '../../src/domain/outcome.js';
import type { OutboxWrite } from '../../src/domain/outbox-message.js';
import type { NewJob, Store } from '../../src/store/contract.js';

export interface StorePair {
  a: Store;
  b: Store;
  close(): Promise<void>;
}

export const job = (over: Partial<NewJob> = {}): NewJob => ({
  id: 'r-aaaaaaaaaa',
  provider: 'alibaba',
  region: 'cn-hangzhou',
  ids: ['i-bp1aaaaaaaaaaaaaaaaa', 'i-bp1bbbbbbbbbbbbbbbbb'],
  force: false,
  dryRun: false,
  verify: true,
  rolling: null,
  reason: null,
  requester: 'U0REQ',
  channel: 'C0OPS',
  approvalsNeeded: 1,
  createdAt: 1000,
  expiresAt: 10_000,
  ...over,
});

const J = 'r-aaaaaaaaaa';
const card = (jobId = J): OutboxWrite => ({ channel: 'C0OPS', jobId, message: { kind: 'update_card' }, coalesceKey: `card:${jobId}` });
const lines = (l: string[], mergeUpTo = 3): OutboxWrite => ({ channel: 'C0OPS', jobId: J, message: { kind: 'thread_lines', lines: l }, mergeUpTo });

export function describeStoreContract(name: string, open: () => Promise<StorePair>): void {
  describe(`store contract: ${name}`, () => {
    let a: Store;
    let b: Store;
    let pair: StorePair | undefined;
    beforeEach(async () => {
      pair = await open();
      ({ a, b } = pair);
    });
    afterEach(async () => {
      // Absent when opening failed (a server that does not answer): that failure is the one to read.
      await pair?.close();
      pair = undefined;
    });

    it('a job keeps its account and the approvers its rule named; older-style jobs have the default account and none', async () => {
      await a.createJob(job({ account: 'prod', approvers: { users: ['U1'], groups: ['S0G'] } }), 'alibaba cn-hangzhou … -a prod');
      expect(await b.getJob(J)).toMatchObject({ account: 'prod', approvers: { users: ['U1'], groups: ['S0G'] } });
      await a.createJob(job({ id: 'r-bbbbbbbbbb' }), 'alibaba cn-hangzhou …');
      expect(await b.getJob('r-bbbbbbbbbb')).toMatchObject({ account: 'default', approvers: null });
    });

    it('createJob answers with the job exactly as it was stored, for a request and for a dry run', async () => {
      for (const stored of [
        job({ account: 'prod', approvers: { users: ['U1'], groups: ['S0G'] }, reason: 'disk full', rolling: 5 }),
        job({ id: 'r-dddddddddd', approvalsNeeded: 0, dryRun: true, verify: false }),
      ]) {
        const created = await a.createJob(stored, '…', `trigger-${stored.id}`);
        expect(created.kind).toBe('created');
        expect(created.job).toEqual(await b.getJob(stored.id));
      }
      expect(await b.getJob('r-dddddddddd')).toMatchObject({ state: 'approved', decidedAt: 1000, decidedBy: 'dry run' });
    });

    it('together: each call is kept or rolled back alone, and answered in order', async () => {
      await a.createJob(job(), 'one', 'trigger-1', (j) => [card(j.id)]);
      let replay: unknown;
      const outcomes = await a.together([
        () => a.createJob(job({ requester: 'U0OTHER' }), 'a taken id', undefined, (j) => [card(j.id)]),
        () => a.createJob(job({ id: 'r-bbbbbbbbbb' }), 'two', undefined, (j) => [card(j.id)]),
        () => (replay = a.createJob(job({ id: 'r-cccccccccc' }), 'one, replayed', 'trigger-1', (j) => [card(j.id)])),
        () => a.approve(J, 'U0APP', 2000),
      ]);
      expect(outcomes.map((o) => o.ok)).toEqual([false, true, true, true]);
      expect(await replay).toMatchObject({ kind: 'replay', job: { id: J } });
      expect(await b.getJob(J)).toMatchObject({ requester: 'U0REQ', state: 'approved' });
      expect(await b.getJob('r-bbbbbbbbbb')).toBeDefined();
      expect(await b.getJob('r-cccccccccc')).toBeUndefined();
      // The first request's card and r-bbbbbbbbbb's: the failed request's and the replay's were never written.
      expect(await b.outboxPendingCount()).toBe(2);
      expect((await b.auditTrail(J)).map((e) => e.event)).toEqual(['requested', 'approval', 'approved']);
    });

    it('approve answers with the job as stored: unchanged while approvals are recorded, decided once approved', async () => {
      await a.createJob(job({ approvalsNeeded: 2, account: 'prod', approvers: { users: ['U1', 'U2'], groups: [] } }), '…');
      const recorded = await a.approve(J, 'U1', 2000);
      expect(recorded.kind).toBe('recorded');
      expect(recorded.job).toEqual(await b.getJob(J));
      const approved = await a.approve(J, 'U2', 3000);
      expect(approved.kind).toBe('approved');
      expect(approved.job).toEqual(await b.getJob(J));
      expect(approved.job).toMatchObject({ state: 'approved', decidedAt: 3000, decidedBy: 'U1,U2' });
    });

    it('exactly one approval wins pending → approved across connections', async () => {
      await a.createJob(job(), 'alibaba cn-hangzhou …');
      const first = await a.approve(J, 'U1', 2000);
      const second = await b.approve(J, 'U2', 2001);
      expect(first.kind).toBe('approved');
      expect(second.kind).toBe('not-pending');
      expect((await b.getJob(J))?.state).toBe('approved');
    });

    it('outboxBacklog: waiting rows per channel, the oldest, and the oldest due (a held row is not, until tried)', async () => {
      await a.createJob(job(), '…');
      const before = Date.now();
      await a.enqueue([card(), lines(['1'])]);
      const held: OutboxWrite = {
        channel: 'C0HELD',
        jobId: J,
        message: { kind: 'thread_results', layout: 'lines', entries: [{ outcome: { id: 'i-bp1aaaaaaaaaaaaaaaaa', status: 'succeeded' }, cost: 40 }] },
        mergeUpTo: 400,
        holdMs: 600_000,
      };
      await a.enqueue([held]);
      const after = Date.now();
      const backlog = await b.outboxBacklog(after);
      expect(backlog.map((r) => [r.channel, r.depth])).toEqual([
        ['C0HELD', 1],
        ['C0OPS', 2],
      ]);
      const ops = backlog.find((r) => r.channel === 'C0OPS');
      expect(ops?.oldestCreatedAt).toBeGreaterThanOrEqual(before);
      expect(ops?.oldestDueCreatedAt).toBe(ops?.oldestCreatedAt);
      expect(backlog.find((r) => r.channel === 'C0HELD')?.oldestDueCreatedAt).toBeNull();
      // Tried once and put back for later: it is late, whatever its next try.
      const [heldRow] = await a.outboxDueOf('C0HELD', 'thread_results', after + 600_000, 1);
      expect(await a.claimOutbox(heldRow!.id)).toBe(true);
      await a.retryOutbox(heldRow!.id, after + 600_000, 'internal_error');
      expect((await b.outboxBacklog(after)).find((r) => r.channel === 'C0HELD')?.oldestDueCreatedAt).toBeGreaterThanOrEqual(before);
    });

    it('runningJobCount and probeWrite', async () => {
      await a.createJob(job(), '…');
      expect(await b.runningJobCount()).toBe(0);
      await a.approve(J, 'U1', 2000);
      expect(await a.startRun(J, [{ wave: 0, ids: ['i-bp1aaaaaaaaaaaaaaaaa'] }], 2001)).toBe(true);
      expect(await b.runningJobCount()).toBe(1);
      await a.probeWrite();
      await b.probeWrite();
      expect((await b.getJob(J))?.state).toBe('running');
    });

    it('force jobs collect distinct approvers; a repeat approval does not count', async () => {
      await a.createJob(job({ approvalsNeeded: 2 }), '…');
      expect((await a.approve(J, 'U1', 2000)).kind).toBe('recorded');
      expect((await b.approve(J, 'U1', 2001)).kind).toBe('duplicate');
      expect((await b.approve(J, 'U2', 2002)).kind).toBe('approved');
      expect((await a.approvals(J)).map((x) => x.userId)).toEqual(['U1', 'U2']);
    });

    it('an approval after the deadline expires the job instead', async () => {
      await a.createJob(job(), '…');
      expect((await a.approve(J, 'U1', 10_000)).kind).toBe('expired');
      expect((await a.getJob(J))?.state).toBe('expired');
      expect(await a.deny(J, 'U1', 10_001)).toBeUndefined();
    });

    it('expireDue expires each job once, only past its deadline, with its card update', async () => {
      await a.createJob(job(), '…');
      await a.createJob(job({ id: 'r-bbbbbbbbbb', expiresAt: 50_000 }), '…');
      expect((await a.expireDue(20_000, (j) => [card(j.id)])).map((j) => j.id)).toEqual([J]);
      expect(await b.expireDue(20_000, (j) => [card(j.id)])).toEqual([]);
      expect((await a.getJob('r-bbbbbbbbbb'))?.state).toBe('pending');
      expect(await a.outboxPendingCount()).toBe(1);
    });

    it('a batch can be claimed for sending once, and run started once', async () => {
      await a.createJob(job(), '…');
      await a.approve(J, 'U1', 2000);
      expect(await a.startRun(J, [{ wave: 0, ids: ['i-bp1aaaaaaaaaaaaaaaaa'] }, { wave: 1, ids: ['i-bp1bbbbbbbbbbbbbbbbb'] }], 2001)).toBe(true);
      expect(await b.startRun(J, [{ wave: 0, ids: ['x'] }], 2002)).toBe(false);
      expect(await a.markBatchSending(J, 0, 2003)).toBe(true);
      expect(await b.markBatchSending(J, 0, 2004)).toBe(false);
      expect((await b.batches(J)).map((x) => x.state)).toEqual(['sending', 'planned']);
    });

    it('a cancel and a batch claim across connections: of the two, exactly one wins each batch', async () => {
      await a.createJob(job(), '…');
      await a.approve(J, 'U1', 2000);
      await a.startRun(J, [{ wave: 0, ids: ['i-bp1aaaaaaaaaaaaaaaaa'] }, { wave: 1, ids: ['i-bp1bbbbbbbbbbbbbbbbb'] }], 2001);
      expect(await a.markBatchSending(J, 0, 2002)).toBe(true);
      const reported: string[] = [];
      const result = await b.cancel(J, 'U0REQ', 2003, 'cancelled', (r) => {
        reported.push(r.kind);
        return [card()];
      });
      expect(result).toMatchObject({ kind: 'stopping', inFlight: 1, cancelled: [{ id: 'i-bp1bbbbbbbbbbbbbbbbb', status: 'cancelled', reason: 'cancelled' }] });
      expect(reported).toEqual(['stopping']);
      expect(await a.markBatchSending(J, 1, 2004)).toBe(false);
      expect((await a.batches(J)).map((x) => x.state)).toEqual(['sending', 'done']);
      expect(await a.getJob(J)).toMatchObject({ state: 'running', cancelledAt: 2003, cancelledBy: 'U0REQ' });
      expect((await a.cancel(J, 'U1', 2005, 'again'))?.kind).toBe('already-cancelled');
      expect((await a.auditTrail(J)).filter((e) => e.event === 'cancelled')).toHaveLength(1);
    });

    it('a pending or approved job is cancelled outright; a finished one is left alone and nothing is reported', async () => {
      await a.createJob(job(), '…');
      expect(await b.cancel(J, 'U0REQ', 2000, 'x')).toMatchObject({ kind: 'cancelled', was: 'pending', job: { state: 'cancelled', cancelledBy: 'U0REQ' } });
      expect(await a.approve(J, 'U1', 2001)).toMatchObject({ kind: 'not-pending' });
      const reports: string[] = [];
      expect((await a.cancel(J, 'U1', 2002, 'x', (r) => (reports.push(r.kind), [])))?.kind).toBe('finished');
      expect(reports).toEqual([]);
      await a.createJob(job({ id: 'r-bbbbbbbbbb' }), '…');
      await a.approve('r-bbbbbbbbbb', 'U1', 2003);
      expect(await a.cancel('r-bbbbbbbbbb', 'U1', 2004, 'x')).toMatchObject({ kind: 'cancelled', was: 'approved' });
      expect(await a.startRun('r-bbbbbbbbbb', [{ wave: 0, ids: ['i-bp1aaaaaaaaaaaaaaaaa'] }], 2005)).toBe(false);
      expect(await a.cancel('r-zzzzzzzzzz', 'U1', 2006, 'x')).toBeUndefined();
    });

    it('outcomes are stored once per instance and the audit trail is append-only', async () => {
      await a.createJob(job(), '…');
      await a.approve(J, 'U1', 2000);
      await a.startRun(J, [{ wave: 0, ids: job().ids }], 2001);
      const o = { id: 'i-bp1aaaaaaaaaaaaaaaaa', status: 'succeeded' as const };
      expect(await a.recordOutcomes(J, 0, [o], { state: 'open' }, 2002)).toHaveLength(1);
      expect(await b.recordOutcomes(J, 0, [o], { state: 'done' }, 2003)).toHaveLength(0);
      expect(await a.completeRun(J, 2004)).toMatchObject({ total: 2, succeeded: 1, waiting: 1 });
      expect(await b.completeRun(J, 2005)).toBeUndefined();
      expect((await a.auditTrail(J)).map((e) => [e.event, e.actor])).toEqual([
        ['requested', 'U0REQ'],
        ['approval', 'U1'],
        ['approved', 'U1'],
        ['started', 'system'],
        ['outcome', 'system'],
        ['completed', 'system'],
      ]);
    });

    it('a report of outcomes gets the names pre-flight read for their instances, from the same transaction', async () => {
      const [x, y] = job().ids as [string, string];
      const z = 'i-bp1ccccccccccccccccc';
      await a.createJob(job({ ids: [x, y, z] }), '…');
      const web = { id: x, found: true as const, name: 'web-1', phase: 'running' as const, rawStatus: 'Running', rebooting: false };
      await b.recordPreflight(J, { readings: [web, { ...web, id: y, name: null }, { id: z, found: false }], errors: [], done: true }, 1500);
      await a.approve(J, 'U1', 2000);
      await a.startRun(J, [{ wave: 0, ids: [x] }, { wave: 1, ids: [y, z] }], 2001);
      const seen: Array<[string[], Array<[string, string]>]> = [];
      await b.recordOutcomes(J, 0, [{ id: x, status: 'succeeded' }], { state: 'done' }, 2002, (stored, names) => {
        seen.push([stored.map((o) => o.id), [...names]]);
        return [];
      });
      expect(seen).toEqual([[[x], [[x, 'web-1']]]]);
      const cancelled = await a.cancel(J, 'U0REQ', 2003, 'cancelled');
      expect(cancelled).toMatchObject({ kind: 'stopping', cancelled: [{ id: y }, { id: z }] });
      expect(cancelled?.kind === 'stopping' ? [...cancelled.names] : undefined).toEqual([]);
    });

    it('an async job id is stored with the outcomes that came with it', async () => {
      await a.createJob(job(), '…');
      await a.approve(J, 'U1', 2000);
      await a.startRun(J, [{ wave: 0, ids: job().ids }], 2001);
      await a.recordOutcomes(J, 0, [], { state: 'polling', asyncJobId: 'job-1' }, 2002);
      expect(await b.batches(J)).toMatchObject([{ state: 'polling', asyncJobId: 'job-1' }]);
    });

    it('outcomes and the rows that report them commit together: a failing report keeps neither', async () => {
      await a.createJob(job(), '…');
      await a.approve(J, 'U1', 2000);
      await a.startRun(J, [{ wave: 0, ids: job().ids }], 2001);
      const o = { id: 'i-bp1aaaaaaaaaaaaaaaaa', status: 'succeeded' as const };
      await expect(
        (async () =>
          a.recordOutcomes(J, 0, [o], { state: 'done' }, 2002, () => {
            throw new Error('crash between the outcome and its lines');
          }))(),
      ).rejects.toThrow('crash');
      expect(await b.outcomes(J)).toEqual([]);
      expect((await b.batches(J))[0]?.state).toBe('planned');
      // And when it works, both are there.
      await a.recordOutcomes(J, 0, [o], { state: 'done' }, 2003, (stored) => [lines(stored.map((s) => s.id))]);
      expect(await b.outcomes(J)).toEqual([o]);
      expect((await b.outboxHeads())[0]?.message).toEqual({ kind: 'thread_lines', lines: ['i-bp1aaaaaaaaaaaaaaaaa'] });
    });

    it('an approval whose report fails is not kept', async () => {
      await a.createJob(job(), '…');
      await expect(
        (async () =>
          a.approve(J, 'U1', 2000, () => {
            throw new Error('disk full');
          }))(),
      ).rejects.toThrow('disk full');
      expect((await b.getJob(J))?.state).toBe('pending');
      expect(await b.approvals(J)).toEqual([]);
      expect(await b.outboxPendingCount()).toBe(0);
    });

    it('thread lines merge into waiting messages up to the cap, never into one being sent', async () => {
      await a.createJob(job(), '…');
      await a.enqueue([lines(['1', '2'])]);
      await a.enqueue([lines(['3', '4'])]);
      let heads = await a.outboxHeads();
      expect(heads[0]?.message).toEqual({ kind: 'thread_lines', lines: ['1', '2', '3'] });
      expect(await a.claimOutbox(heads[0]!.id)).toBe(true);
      await a.enqueue([lines(['5'])]);
      await a.finishOutbox(heads[0]!.id, 'done');
      heads = await a.outboxHeads();
      expect(heads[0]?.message).toEqual({ kind: 'thread_lines', lines: ['4', '5'] });
    });

    it('card updates coalesce while waiting; a listener hears of every commit that queued rows', async () => {
      let heard = 0;
      a.onOutboxWritten(() => (heard += 1));
      const commits = [
        () => a.createJob(job(), '…', undefined, (j) => [{ channel: j.channel, jobId: j.id, message: { kind: 'post_card' } }]),
        () => a.enqueue([card()]),
        () => a.enqueue([card()]),
      ];
      for (const [before, commit] of commits.entries()) {
        await commit();
        // Listeners hear on a later turn of the event loop, so a request is acknowledged before delivery starts:
        // never of the commit just returned (a networked store's earlier commits may have been heard meanwhile).
        expect(heard).toBeLessThanOrEqual(before);
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(heard).toBe(3);
      expect(await a.outboxPendingCount()).toBe(2);
    });

    it('a replayed trigger_id gets the first job back, across connections', async () => {
      expect((await a.createJob(job(), '…', '1.2.abc')).kind).toBe('created');
      const replay = await b.createJob(job({ id: 'r-bbbbbbbbbb' }), '…', '1.2.abc');
      expect(await replay).toMatchObject({ kind: 'replay', job: { id: J } });
      expect(await b.getJob('r-bbbbbbbbbb')).toBeUndefined();
    });

    it('a lapsed approval goes back to pending with its reason, approvals cleared', async () => {
      await a.createJob(job(), '…');
      await a.approve(J, 'U1', 2000);
      expect(await a.lapseApproval(J, 90_000, 99_000, 'too old', (j) => [card(j.id)])).toBe(true);
      expect(await b.lapseApproval(J, 90_001, 99_000, 'too old')).toBe(false);
      expect(await b.getJob(J)).toMatchObject({ state: 'pending', reapprovalReason: 'too old', expiresAt: 99_000, decidedAt: null });
      expect(await b.approvals(J)).toEqual([]);
    });

    it('a dry run (no approvals needed) is stored approved at once, audited as needing none', async () => {
      const created = await a.createJob(job({ dryRun: true, approvalsNeeded: 0 }), '…');
      expect(created.job).toMatchObject({ state: 'approved', decidedBy: 'dry run', verify: true, rolling: null });
      expect((await b.auditTrail(J)).map((e) => e.event)).toEqual(['requested', 'approved']);
    });

    it('pre-flight readings merge per instance, the newest wins, and only the last update marks it done', async () => {
      await a.createJob(job({ rolling: 5 }), '…');
      expect(await b.preflight(J)).toEqual({ checkedAt: null, readings: new Map(), errors: [] });
      const stopped = { id: 'i-bp1aaaaaaaaaaaaaaaaa', found: true as const, name: 'web', phase: 'stopped' as const, rawStatus: 'Stopped', rebooting: false };
      await a.recordPreflight(J, { readings: [stopped], errors: [], done: false }, 3000);
      const clock = { field: 'StartTime', raw: '2026-12-04T10:15Z', at: 1_796_379_300_000, precisionMs: 60_000, provesReboot: true };
      const runningNow = { ...stopped, phase: 'running' as const, rawStatus: 'Running', clock };
      await b.recordPreflight(J, { readings: [runningNow, { id: 'i-bp1bbbbbbbbbbbbbbbbb', found: false }], errors: [{ code: 'Throttling', message: 'slow down', ids: 1 }], done: true }, 3001, (j) => [card(j.id)]);
      const seen = await a.preflight(J);
      expect(seen.checkedAt).toBe(3001);
      expect([...seen.readings.values()]).toEqual([runningNow, { id: 'i-bp1bbbbbbbbbbbbbbbbb', found: false }]);
      expect(seen.errors).toEqual([{ code: 'Throttling', message: 'slow down', ids: 1 }]);
      expect((await a.getJob(J))?.rolling).toBe(5);
      expect((await a.auditTrail(J)).map((e) => e.event)).toContain('preflight');
    });

    it('batches keep their wave, when they were sent and when the cloud accepted them', async () => {
      await a.createJob(job(), '…');
      await a.approve(J, 'U1', 2000);
      await a.startRun(J, [{ wave: 0, ids: ['i-bp1aaaaaaaaaaaaaaaaa'] }, { wave: 1, ids: ['i-bp1bbbbbbbbbbbbbbbbb'] }], 2001);
      await a.markBatchSending(J, 0, 2002);
      await a.recordOutcomes(J, 0, [], { state: 'verifying', acceptedAt: 1999 }, 2003);
      expect(await b.batches(J)).toMatchObject([
        { seq: 0, wave: 0, state: 'verifying', sentAt: 2002, acceptedAt: 1999 },
        { seq: 1, wave: 1, state: 'planned', sentAt: null, acceptedAt: null },
      ]);
      const verdicts = [
        { id: 'i-bp1aaaaaaaaaaaaaaaaa', status: 'not_back' as const, detail: 'not running after 10m: state Starting' },
        { id: 'i-bp1bbbbbbbbbbbbbbbbb', status: 'not_started' as const, reason: 'not started: stopped after a failure in wave 1' },
      ];
      await a.recordOutcomes(J, 0, verdicts, { state: 'done' }, 2004);
      expect(await b.outcomes(J)).toEqual(verdicts);
    });

    it('recentJobs lists the newest jobs of the given channels and of the requester, newest first, up to the limit', async () => {
      const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
      await a.createJob(job({ id: 'r-aaaaaaaaa1', channel: 'C0A', requester: 'U1', createdAt: 1000, ids: ids(3) }), 'x');
      await a.createJob(job({ id: 'r-aaaaaaaaa2', channel: 'C0B', requester: 'U2', createdAt: 2000, ids: ids(1) }), 'x');
      await a.createJob(job({ id: 'r-aaaaaaaaa3', channel: 'C0HIDDEN', requester: 'U1', createdAt: 3000 }), 'x');
      await a.createJob(job({ id: 'r-aaaaaaaaa4', channel: 'C0HIDDEN', requester: 'U2', createdAt: 4000 }), 'x');
      await a.createJob(job({ id: 'r-aaaaaaaaa5', channel: 'C0A', requester: 'U2', createdAt: 5000 }), 'x');
      await a.deny('r-aaaaaaaaa2', 'U9', 2500);

      const seen = await b.recentJobs({ channels: ['C0A', 'C0B'], requester: 'U1' }, 20);
      expect(seen.map((j) => j.id)).toEqual(['r-aaaaaaaaa5', 'r-aaaaaaaaa3', 'r-aaaaaaaaa2', 'r-aaaaaaaaa1']);
      expect(seen[2]).toEqual({ id: 'r-aaaaaaaaa2', state: 'denied', provider: 'alibaba', region: 'cn-hangzhou', instances: 1, dryRun: false, requester: 'U2', channel: 'C0B', createdAt: 2000 });
      expect(seen[3]?.instances).toBe(3);
      expect((await b.recentJobs({ channels: ['C0A', 'C0B'], requester: 'U1' }, 2)).map((j) => j.id)).toEqual(['r-aaaaaaaaa5', 'r-aaaaaaaaa3']);
      expect((await b.recentJobs({ channels: [], requester: 'U2' }, 20)).map((j) => j.id)).toEqual(['r-aaaaaaaaa5', 'r-aaaaaaaaa4', 'r-aaaaaaaaa2']);
      expect(await b.recentJobs({ channels: [], requester: null }, 20)).toEqual([]);
    });

    describe('single-writer lease', () => {
      const alive = (): boolean => true;
      const dead = (): boolean => false;
      const first = { id: 'one', pid: 101, host: 'host-a' };
      const second = { id: 'two', pid: 202, host: 'host-a' };

      it('a second process is refused while the holder is alive and renewing, with who holds it', async () => {
        expect(await a.acquireLease(first, 1000, 30_000, alive)).toEqual({ kind: 'acquired' });
        expect(await b.acquireLease(second, 20_000, 30_000, alive)).toEqual({ kind: 'held', holder: first, heartbeatAgeMs: 19_000 });
        expect(await a.renewLease('one', 25_000)).toBe(true);
        expect(await b.acquireLease(second, 50_000, 30_000, alive)).toMatchObject({ kind: 'held' });
      });

      it('a holder silent for 30 s, or dead on this host, is taken over; the old holder then learns it lost', async () => {
        await a.acquireLease(first, 1000, 30_000, alive);
        expect(await b.acquireLease(second, 31_001, 30_000, alive)).toEqual({ kind: 'acquired' });
        expect(await a.renewLease('one', 31_002)).toBe(false);
        const third = { id: 'three', pid: 303, host: 'host-a' };
        expect(await a.acquireLease(third, 31_003, 30_000, dead)).toEqual({ kind: 'acquired' });
        // A holder on another host cannot be probed: only its heartbeat's age counts.
        const remote = { id: 'four', pid: 404, host: 'host-b' };
        expect(await b.acquireLease(remote, 31_004, 30_000, dead)).toMatchObject({ kind: 'held' });
        await a.releaseLease('three');
        expect(await b.acquireLease(remote, 31_005, 30_000, alive)).toEqual({ kind: 'acquired' });
      });
    });

    it('the tally counted by the store equals tallyOf over the stored outcomes, and outcomeIds names them, for any set of outcomes', async () => {
      const outcome = (id: string): fc.Arbitrary<JobOutcome> =>
        fc.oneof(
          fc.constantFrom<JobOutcome>({ id, status: 'succeeded' }, { id, status: 'checked', detail: 'running' }, { id, status: 'unknown', reason: 'timeout' }),
          fc.constantFrom<JobOutcome>({ id, status: 'failed', code: 'IncorrectInstanceStatus', message: 'stopped' }, { id, status: 'not_started', reason: 'stopped' }),
          fc.constantFrom<JobOutcome>({ id, status: 'verified', detail: 'x' }, { id, status: 'unconfirmed', detail: 'x' }, { id, status: 'not_back', detail: 'x' }),
        );
      const ids = Array.from({ length: 12 }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.subarray(ids).chain((some) => fc.tuple(...some.map(outcome))),
          fc.integer({ min: 1, max: 4 }),
          async (outcomes, chunks) => {
            const id = `r-t${String((run += 1)).padStart(9, '0')}`;
            await a.createJob(job({ id, ids, approvalsNeeded: 0 }), 'alibaba cn-hangzhou …');
            await a.startRun(id, [{ wave: 0, ids }], 2000);
            // Recorded in a few calls, the first outcome per instance winning, like batches and verification.
            const size = Math.ceil(outcomes.length / chunks);
            for (let i = 0; i < outcomes.length; i += size) await a.recordOutcomes(id, 0, outcomes.slice(i, i + size), { state: 'open' }, 2001);
            const expected = tallyOf({ ids }, await b.outcomes(id));
            expect(await b.tally(id)).toEqual(expected);
            expect((await b.outcomeIds(id)).sort()).toEqual((await b.outcomes(id)).map((o) => o.id).sort());
            expect(expected.waiting).toBe(ids.length - outcomes.length);
            expect(await a.completeRun(id, 3000)).toEqual(expected);
          },
        ),
        { numRuns: 40 },
      );
    });

    it('recentJobs lists a channel or a requester newest first (ties by id), with instance counts, at most the limit', async () => {
      await a.createJob(job({ id: 'r-old', createdAt: 1000 }), 'x');
      await a.createJob(job({ id: 'r-other', channel: 'C0ELSE', createdAt: 2000, ids: ['i-bp1ccccccccccccccccc'] }), 'x');
      await a.createJob(job({ id: 'r-tie-a', createdAt: 3000, requester: 'U0SOMEONE' }), 'x');
      await a.createJob(job({ id: 'r-tie-b', createdAt: 3000, dryRun: true, approvalsNeeded: 0 }), 'x');
      await a.deny('r-old', 'U1', 1500);
      const channel = await b.recentJobs({ channel: 'C0OPS' }, 10);
      expect(channel.map((j) => j.id)).toEqual(['r-tie-b', 'r-tie-a', 'r-old']);
      expect(channel[0]).toEqual({
        id: 'r-tie-b',
        state: 'approved',
        provider: 'alibaba',
        region: 'cn-hangzhou',
        instances: 2,
        dryRun: true,
        requester: 'U0REQ',
        channel: 'C0OPS',
        createdAt: 3000,
      });
      expect(channel[2]?.state).toBe('denied');
      expect((await b.recentJobs({ requester: 'U0REQ' }, 10)).map((j) => [j.id, j.channel, j.instances])).toEqual([
        ['r-tie-b', 'C0OPS', 2],
        ['r-other', 'C0ELSE', 1],
        ['r-old', 'C0OPS', 2],
      ]);
      expect((await b.recentJobs({ channel: 'C0OPS' }, 2)).map((j) => j.id)).toEqual(['r-tie-b', 'r-tie-a']);
      expect(await b.recentJobs({ channel: 'C0NONE' }, 10)).toEqual([]);
    });

    it('recordAction audits a person with the Slack writes it reports, in one transaction, and changes no state', async () => {
      await a.createJob(job(), 'x');
      const before = await a.getJob(J);
      await b.recordAction(J, 'audit exported', 'U0READER', 5000, { channel: 'C0OPS' }, (j) => [
        { channel: j.channel, jobId: j.id, message: { kind: 'audit_file', requestedBy: 'U0READER' } },
      ]);
      expect(await a.getJob(J)).toEqual(before);
      expect((await a.auditTrail(J)).at(-1)).toEqual({ jobId: J, event: 'audit exported', actor: 'U0READER', at: 5000, data: { channel: 'C0OPS' } });
      const kinds = (await a.outboxDueOf('C0OPS', 'audit_file', 10_000, 10)).map((r) => r.message);
      expect(kinds).toEqual([{ kind: 'audit_file', requestedBy: 'U0READER' }]);
    });

    it('recordAction on an unknown job writes nothing', async () => {
      await expect(Promise.resolve().then(() => a.recordAction('r-nothere00', 'audit exported', 'U0', 1, null, () => [
        { channel: 'C0OPS', jobId: 'r-nothere00', message: { kind: 'audit_file', requestedBy: 'U0' } },
      ]))).rejects.toThrow();
      expect(await a.auditTrail('r-nothere00')).toEqual([]);
      expect(await a.outboxPendingCount()).toBe(0);
    });

    describe('retention', () => {
      const DAY = 86_400_000;
      const old = (id: string, over: Partial<NewJob> = {}): NewJob => job({ id, createdAt: 1000, expiresAt: 10_000, ...over });
      const note = (jobId: string): OutboxWrite => ({ channel: 'C0OPS', jobId, message: { kind: 'thread_note', text: 'note' } });
      const deliverAll = async (store: Store): Promise<void> => {
        for (let heads = await store.outboxHeads(); heads.length > 0; heads = await store.outboxHeads()) {
          for (const row of heads) {
            await store.claimOutbox(row.id);
            await store.finishOutbox(row.id, 'done');
          }
        }
      };
      const everything = async (store: Store, id: string) => ({
        job: await store.getJob(id),
        approvals: await store.approvals(id),
        batches: await store.batches(id),
        outcomes: await store.outcomes(id),
        readings: (await store.preflight(id)).readings.size,
        audit: await store.auditTrail(id),
      });

      it('deletes jobs that ended before the cut-off with all their rows, and keeps live jobs and undelivered rows', async () => {
        const ids = job().ids;
        // Completed long ago, with a row of every kind.
        await a.createJob(old('r-completed'), 'x');
        await a.recordPreflight('r-completed', { readings: ids.map((id) => ({ id, found: false })), errors: [], done: true }, 1500);
        await a.approve('r-completed', 'U1', 2000);
        await a.startRun('r-completed', [{ wave: 0, ids }], 2001);
        await a.markBatchSending('r-completed', 0, 2002);
        await a.recordOutcomes('r-completed', 0, ids.map((id) => ({ id, status: 'succeeded' as const })), { state: 'done' }, 2003);
        await a.completeRun('r-completed', 2004);
        await a.createJob(old('r-denied'), 'x');
        await a.deny('r-denied', 'U1', 2000);
        await a.createJob(old('r-expired'), 'x');
        await a.expireDue(20_000);
        // Live, however old: pending (not yet expired by the sweep), approved, running.
        await a.createJob(old('r-pending', { expiresAt: 200 * DAY }), 'x');
        await a.createJob(old('r-approved'), 'x');
        await a.approve('r-approved', 'U1', 2000);
        await a.createJob(old('r-running'), 'x');
        await a.approve('r-running', 'U1', 2000);
        await a.startRun('r-running', [{ wave: 0, ids }], 2001);
        await a.enqueue(['r-completed', 'r-denied', 'r-expired', 'r-pending', 'r-approved', 'r-running'].map(note));
        await deliverAll(a);
        // Ended long ago, but Slack has not been told everything yet: kept until it has.
        await a.createJob(old('r-undelivered'), 'x');
        await a.deny('r-undelivered', 'U1', 2000);
        await a.enqueue([note('r-undelivered'), { channel: 'C0OTHER', jobId: null, message: { kind: 'thread_note', text: 'loose' } }]);
        // Ended within the retention period.
        await a.createJob(old('r-recent', { createdAt: 95 * DAY, expiresAt: 96 * DAY }), 'x');
        await a.deny('r-recent', 'U1', 95 * DAY);

        const pendingBefore = await a.outboxPendingCount();
        const pruned = await b.prune(90 * DAY, { jobs: 100, instances: 10_000, outboxRows: 1000 });
        expect(pruned).toMatchObject({ jobs: 3, more: false });
        for (const gone of ['r-completed', 'r-denied', 'r-expired']) {
          expect(await everything(a, gone)).toEqual({ job: undefined, approvals: [], batches: [], outcomes: [], readings: 0, audit: [] });
        }
        for (const kept of ['r-pending', 'r-approved', 'r-running', 'r-undelivered', 'r-recent']) {
          expect((await a.getJob(kept))?.id).toBe(kept);
          expect((await a.auditTrail(kept)).length).toBeGreaterThan(0);
        }
        expect((await a.batches('r-running')).length).toBe(1);
        expect(await a.outboxPendingCount()).toBe(pendingBefore);
        expect((await a.outboxHeads()).map((r) => r.jobId).sort()).toEqual([null, 'r-undelivered']);
        // The pruned jobs' delivered rows go with them; the others were queued now (the outbox uses the
        // machine's clock), long after this 1970 cut-off, so they stay.
        expect(pruned.outboxRows).toBe(3);
      });

      it('deletes delivered outbox rows older than the cut-off, never newer or undelivered ones', async () => {
        await a.enqueue([note('r-x'), note('r-y')].map((w) => ({ ...w, jobId: null })));
        await deliverAll(a);
        await a.enqueue([{ ...note('r-z'), jobId: null }]);
        expect(await a.prune(0, { jobs: 10, instances: 100, outboxRows: 10 })).toEqual({ jobs: 0, outboxRows: 0, more: false });
        expect(await a.prune(Date.now() + 60_000, { jobs: 10, instances: 100, outboxRows: 10 })).toEqual({ jobs: 0, outboxRows: 2, more: false });
        expect(await a.outboxPendingCount()).toBe(1);
      });

      it('each call deletes at most its limits, and says when there is more', async () => {
        for (let i = 0; i < 5; i++) {
          await a.createJob(old(`r-old${i}`), 'x');
          await a.deny(`r-old${i}`, 'U1', 2000);
        }
        await a.enqueue(Array.from({ length: 7 }, () => ({ ...note('r-x'), jobId: null })));
        await deliverAll(a);
        const limits = { jobs: 2, instances: 100, outboxRows: 3 };
        expect(await a.prune(Date.now() + 60_000, limits)).toEqual({ jobs: 2, outboxRows: 3, more: true });
        expect(await a.prune(Date.now() + 60_000, limits)).toEqual({ jobs: 2, outboxRows: 3, more: true });
        expect(await a.prune(Date.now() + 60_000, limits)).toEqual({ jobs: 1, outboxRows: 1, more: false });
        expect(await a.prune(Date.now() + 60_000, limits)).toEqual({ jobs: 0, outboxRows: 0, more: false });
        expect(await a.jobsInState('denied')).toEqual([]);
      });

      it('each call deletes at most its budget of instances, and always at least one due job however large', async () => {
        const many = Array.from({ length: 8 }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
        // Oldest first in the table: a job of 8 ids, then three of 2 (job() has 2 ids).
        await a.createJob(old('r-large00000', { ids: many }), 'x');
        await a.deny('r-large00000', 'U1', 2000);
        for (let i = 0; i < 3; i++) {
          await a.createJob(old(`r-small${i}0000`), 'x');
          await a.deny(`r-small${i}0000`, 'U1', 2000);
        }
        const limits = { jobs: 10, instances: 5, outboxRows: 100 };
        expect(await a.prune(Date.now() + 60_000, limits)).toMatchObject({ jobs: 1, more: true });
        expect(await a.getJob('r-large00000')).toBeUndefined();
        expect(await a.prune(Date.now() + 60_000, limits)).toMatchObject({ jobs: 2, more: true });
        expect(await a.prune(Date.now() + 60_000, limits)).toMatchObject({ jobs: 1, more: false });
        expect(await a.jobsInState('denied')).toEqual([]);
      });
    });
  });
}
