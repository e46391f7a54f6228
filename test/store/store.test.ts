import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type NewJob } from '../../src/store/store.js';

const job = (over: Partial<NewJob> = {}): NewJob => ({
  id: 'r-aaaaaaaaaa',
  provider: 'alibaba',
  region: 'cn-hangzhou',
  ids: ['i-bp1aaaaaaaaaaaaaaaaa', 'i-bp1bbbbbbbbbbbbbbbbb'],
  force: false,
  dryRun: false,
  reason: null,
  requester: 'U0REQ',
  channel: 'C0OPS',
  approvalsNeeded: 1,
  createdAt: 1000,
  expiresAt: 10_000,
  ...over,
});

describe('store', () => {
  let dir: string;
  let a: Store;
  let b: Store;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'reboot-store-'));
    // Two connections to one file stand for two bot processes.
    a = new Store(join(dir, 'db.sqlite'));
    b = new Store(join(dir, 'db.sqlite'));
  });
  afterEach(() => {
    a.close();
    b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exactly one approval wins pending → approved across connections', () => {
    a.createJob(job(), 'alibaba cn-hangzhou …');
    const first = a.approve('r-aaaaaaaaaa', 'U1', 2000);
    const second = b.approve('r-aaaaaaaaaa', 'U2', 2001);
    expect(first.kind).toBe('approved');
    expect(second.kind).toBe('not-pending');
    expect(b.requireJob('r-aaaaaaaaaa').state).toBe('approved');
  });

  it('force jobs collect distinct approvers; a repeat approval does not count', () => {
    a.createJob(job({ approvalsNeeded: 2 }), '…');
    expect(a.approve('r-aaaaaaaaaa', 'U1', 2000).kind).toBe('recorded');
    expect(b.approve('r-aaaaaaaaaa', 'U1', 2001).kind).toBe('duplicate');
    expect(b.approve('r-aaaaaaaaaa', 'U2', 2002).kind).toBe('approved');
    expect(a.approvals('r-aaaaaaaaaa').map((x) => x.userId)).toEqual(['U1', 'U2']);
  });

  it('an approval after the deadline expires the job instead', () => {
    a.createJob(job(), '…');
    expect(a.approve('r-aaaaaaaaaa', 'U1', 10_000).kind).toBe('expired');
    expect(a.requireJob('r-aaaaaaaaaa').state).toBe('expired');
    expect(a.deny('r-aaaaaaaaaa', 'U1', 10_001)).toBe(false);
  });

  it('expireDue expires each job once, only past its deadline', () => {
    a.createJob(job(), '…');
    a.createJob(job({ id: 'r-bbbbbbbbbb', expiresAt: 50_000 }), '…');
    expect(a.expireDue(20_000).map((j) => j.id)).toEqual(['r-aaaaaaaaaa']);
    expect(b.expireDue(20_000)).toEqual([]);
    expect(a.requireJob('r-bbbbbbbbbb').state).toBe('pending');
  });

  it('a batch can be claimed for sending once, and run started once', () => {
    a.createJob(job(), '…');
    a.approve('r-aaaaaaaaaa', 'U1', 2000);
    expect(a.startRun('r-aaaaaaaaaa', [['i-bp1aaaaaaaaaaaaaaaaa'], ['i-bp1bbbbbbbbbbbbbbbbb']], 2001)).toBe(true);
    expect(b.startRun('r-aaaaaaaaaa', [['x']], 2002)).toBe(false);
    expect(a.markBatchSending('r-aaaaaaaaaa', 0, 2003)).toBe(true);
    expect(b.markBatchSending('r-aaaaaaaaaa', 0, 2004)).toBe(false);
    expect(b.batches('r-aaaaaaaaaa').map((x) => x.state)).toEqual(['sending', 'planned']);
  });

  it('outcomes are stored once per instance and the audit trail is append-only', () => {
    a.createJob(job(), '…');
    a.approve('r-aaaaaaaaaa', 'U1', 2000);
    a.startRun('r-aaaaaaaaaa', [job().ids], 2001);
    const o = { id: 'i-bp1aaaaaaaaaaaaaaaaa', status: 'succeeded' as const };
    expect(a.recordOutcomes('r-aaaaaaaaaa', 0, [o], false, 2002)).toHaveLength(1);
    expect(b.recordOutcomes('r-aaaaaaaaaa', 0, [o], true, 2003)).toHaveLength(0);
    expect(a.completeRun('r-aaaaaaaaaa', 2004, {})).toBe(true);
    expect(b.completeRun('r-aaaaaaaaaa', 2005, {})).toBe(false);
    expect(a.auditTrail('r-aaaaaaaaaa').map((e) => [e.event, e.actor])).toEqual([
      ['requested', 'U0REQ'],
      ['approval', 'U1'],
      ['approved', 'U1'],
      ['started', 'system'],
      ['outcome', 'system'],
      ['completed', 'system'],
    ]);
  });

  it('thread lines coalesce into waiting messages up to the cap, never into one being sent', () => {
    a.createJob(job(), '…');
    a.appendThreadLines('r-aaaaaaaaaa', 'C0OPS', ['1', '2'], 3, 1);
    a.appendThreadLines('r-aaaaaaaaaa', 'C0OPS', ['3', '4'], 3, 1);
    let heads = a.outboxHeads();
    expect(heads[0]?.payload).toEqual({ lines: ['1', '2', '3'] });
    expect(a.claimOutbox(heads[0]!.id)).toBe(true);
    a.appendThreadLines('r-aaaaaaaaaa', 'C0OPS', ['5'], 3, 1);
    a.finishOutbox(heads[0]!.id, 'done');
    heads = a.outboxHeads();
    expect(heads[0]?.payload).toEqual({ lines: ['4', '5'] });
  });

  it('a replayed trigger_id gets the first job back, across connections', () => {
    expect(a.createJob(job(), '…', '1.2.abc').kind).toBe('created');
    const replay = b.createJob(job({ id: 'r-bbbbbbbbbb' }), '…', '1.2.abc');
    expect(replay).toMatchObject({ kind: 'replay', job: { id: 'r-aaaaaaaaaa' } });
    expect(b.getJob('r-bbbbbbbbbb')).toBeUndefined();
  });

  it('a failure inside atomically() keeps neither the state change nor its outbox rows', () => {
    a.createJob(job(), '…');
    expect(() =>
      a.atomically(() => {
        a.approve('r-aaaaaaaaaa', 'U0APP', 2000);
        a.enqueue({ channel: 'C0OPS', kind: 'update_card', jobId: 'r-aaaaaaaaaa', payload: {}, now: 2000 });
        throw new Error('crash');
      }),
    ).toThrow('crash');
    expect(b.requireJob('r-aaaaaaaaaa').state).toBe('pending');
    expect(b.outboxPendingCount()).toBe(0);
  });

  describe('single-writer lease', () => {
    const alive = (): boolean => true;
    const dead = (): boolean => false;
    const first = { id: 'one', pid: 101, host: 'host-a' };
    const second = { id: 'two', pid: 202, host: 'host-a' };

    it('a second process is refused while the holder is alive and renewing, with who holds it', () => {
      expect(a.acquireLease(first, 1000, 30_000, alive)).toEqual({ kind: 'acquired' });
      expect(b.acquireLease(second, 20_000, 30_000, alive)).toEqual({ kind: 'held', holder: first, heartbeatAgeMs: 19_000 });
      expect(a.renewLease('one', 25_000)).toBe(true);
      expect(b.acquireLease(second, 50_000, 30_000, alive)).toMatchObject({ kind: 'held' });
    });

    it('a holder silent for 30 s, or dead on this host, is taken over; the old holder then learns it lost', () => {
      a.acquireLease(first, 1000, 30_000, alive);
      expect(b.acquireLease(second, 31_001, 30_000, alive)).toEqual({ kind: 'acquired' });
      expect(a.renewLease('one', 31_002)).toBe(false);
      const third = { id: 'three', pid: 303, host: 'host-a' };
      expect(a.acquireLease(third, 31_003, 30_000, dead)).toEqual({ kind: 'acquired' });
      // A holder on another host cannot be probed: only its heartbeat's age counts.
      const remote = { id: 'four', pid: 404, host: 'host-b' };
      expect(b.acquireLease(remote, 31_004, 30_000, dead)).toMatchObject({ kind: 'held' });
      a.releaseLease('three');
      expect(b.acquireLease(remote, 31_005, 30_000, alive)).toEqual({ kind: 'acquired' });
    });
  });
});
