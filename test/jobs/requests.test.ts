/**
 * The request use cases on their own: a real SqliteStore (in memory), the real SlackReporter and a
 * real ApproverDirectory whose group lookup is a function written here. Every refusal must leave
 * an audit row and change nothing else.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApproverDirectory } from '../../src/jobs/policy.js';
import { abandonCard, approve, deny, expireDue, reportUndelivered, request, type Click, type NewRequest, type RequestContext } from '../../src/jobs/requests.js';
import { silentLogger } from '../../src/log.js';
import { SlackReporter } from '../../src/slack/reporter.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { INCIDENTS, OPS, REQUESTER, instanceIds, outboxRows } from '../helpers/fixtures.js';
import { resetWal, walCommits } from '../store/wal-commits.js';

const APPROVER_1 = 'U0APPROVER1';
const APPROVER_2 = 'U0APPROVER2';
const GROUP = 'S0ONCALL';
const GROUP_MEMBER = 'U0GROUPMEMBER';
const STRANGER = 'U0STRANGER';
const CARD_TS = '1700000000.000001';
const TTL = 30 * 60_000;

let store: SqliteStore;
let ctx: RequestContext;
let clock: { now: number };
let groups: { up: boolean; members: string[]; lookups: number };
let started: string[];
let inspected: string[];

beforeEach(() => {
  store = new SqliteStore(':memory:');
  clock = { now: 5_000_000 };
  groups = { up: true, members: [GROUP_MEMBER], lookups: 0 };
  started = [];
  inspected = [];
  const approvers = new ApproverDirectory(
    // The requester is a configured approver too: that must not let them approve their own request.
    { users: [APPROVER_1, APPROVER_2, REQUESTER], groups: [GROUP] },
    async (group) => {
      groups.lookups += 1;
      if (!groups.up) throw new Error('slack unavailable');
      return group === GROUP ? groups.members : [];
    },
    60_000,
    () => clock.now,
  );
  ctx = {
    store,
    events: new SlackReporter(INCIDENTS),
    approvers,
    startRun: (id) => started.push(id),
    inspect: (id) => inspected.push(id),
    now: () => clock.now,
    log: silentLogger,
    forceApprovals: 2,
    approvalTtlMs: TTL,
  };
});
afterEach(() => store.close());

let counter = 0;
function input(over: Partial<NewRequest> = {}): NewRequest {
  counter += 1;
  return {
    id: `r-req${String(counter).padStart(7, '0')}`,
    provider: 'alibaba',
    account: 'default',
    region: 'cn-hangzhou',
    ids: instanceIds(2),
    force: false,
    dryRun: false,
    verify: true,
    rolling: null,
    reason: 'kernel patch',
    requester: REQUESTER,
    channel: OPS,
    commandText: 'alibaba cn-hangzhou i-… --reason "kernel patch"',
    ...over,
  };
}

/** A pending request whose card Slack has confirmed (its ts is stored). */
async function posted(over: Partial<NewRequest> = {}): Promise<string> {
  const result = await request(ctx, input(over));
  if (result.kind !== 'created') throw new Error(`request was ${result.kind}`);
  store.setCardTs(result.job.id, CARD_TS);
  return result.job.id;
}

const click = (jobId: string, user: string, over: Partial<Click> = {}): Click => ({ jobId, user, channel: OPS, messageTs: CARD_TS, ...over });

function refusals(jobId: string): Array<{ actor: string; data: unknown }> {
  return store.auditTrail(jobId).filter((e) => e.event === 'refused').map(({ actor, data }) => ({ actor, data }));
}

describe('request', () => {
  it('stores a pending job with its deadline and the row that posts its card, and audits the command', async () => {
    const result = await request(ctx, input({ id: 'r-new0000001' }));
    expect(result.kind).toBe('created');
    expect(store.getJob('r-new0000001')).toMatchObject({ state: 'pending', approvalsNeeded: 1, createdAt: clock.now, expiresAt: clock.now + TTL, cardTs: null });
    expect(outboxRows(store).map((r) => [r.channel, r.jobId, r.message])).toEqual([[OPS, 'r-new0000001', { kind: 'post_card' }]]);
    expect(store.auditTrail('r-new0000001').map((e) => [e.event, e.actor, e.data])).toEqual([
      ['requested', REQUESTER, { command: 'alibaba cn-hangzhou i-… --reason "kernel patch"', account: 'default' }],
    ]);
  });

  it('a forced request needs forceApprovals approvals; a plain one needs one', async () => {
    const forced = await request(ctx, input({ force: true }));
    const plain = await request(ctx, input({ force: false }));
    expect(forced.kind === 'created' && forced.job.approvalsNeeded).toBe(2);
    expect(plain.kind === 'created' && plain.job.approvalsNeeded).toBe(1);
  });

  it('a replayed slash command (same trigger id) gets the first job back and queues nothing more', async () => {
    const first = await request(ctx, input({ id: 'r-first00001', triggerId: '123.456.abc' }));
    const replay = await request(ctx, input({ id: 'r-second0001', triggerId: '123.456.abc' }));
    expect(first.kind).toBe('created');
    expect(replay).toMatchObject({ kind: 'replay', job: { id: 'r-first00001' } });
    expect(store.getJob('r-second0001')).toBeUndefined();
    expect(outboxRows(store)).toHaveLength(1);
    // A different trigger id is a new request.
    expect((await request(ctx, input({ triggerId: '123.456.def' }))).kind).toBe('created');
  });

  it('a /reboot is one commit: the job, its audit rows and its card row (a dry run too), counted in the WAL file', async () => {
    // A database on disk, in WAL mode like the bot's: every commit appends a commit frame to the -wal file.
    const dir = mkdtempSync(join(tmpdir(), 'reboot-requests-'));
    const path = join(dir, 'db.sqlite');
    const onDisk = new SqliteStore(path);
    try {
      const disk = { ...ctx, store: onDisk };
      resetWal(onDisk.db);
      expect((await request(disk, input({ id: 'r-disk000001', triggerId: '1.2.a' }))).kind).toBe('created');
      expect(walCommits(path)).toBe(1);
      expect(onDisk.auditTrail('r-disk000001').map((e) => e.event)).toEqual(['requested']);
      expect(outboxRows(onDisk).map((r) => r.message.kind)).toEqual(['post_card']);
      expect(inspected).toEqual(['r-disk000001']);

      resetWal(onDisk.db);
      expect((await request(disk, input({ id: 'r-disk000002', dryRun: true }))).kind).toBe('created');
      expect(walCommits(path)).toBe(1);
      expect(onDisk.auditTrail('r-disk000002').map((e) => e.event)).toEqual(['requested', 'approved']);
      expect(started).toEqual(['r-disk000002']);

      // A replay writes nothing at all.
      resetWal(onDisk.db);
      expect((await request(disk, input({ triggerId: '1.2.a' }))).kind).toBe('replay');
      expect(walCommits(path)).toBe(0);
    } finally {
      onDisk.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a request whose card row cannot be queued leaves nothing behind: job, audit and outbox commit together', async () => {
    const failing: RequestContext = {
      ...ctx,
      events: Object.assign(Object.create(ctx.events) as SlackReporter, {
        requested: () => {
          throw new Error('card could not be rendered');
        },
      }),
    };
    expect(await request(failing, input({ id: 'r-atomic0001' }))).toEqual({ kind: 'store-failed' });
    expect(store.getJob('r-atomic0001')).toBeUndefined();
    expect(store.auditTrail('r-atomic0001')).toEqual([]);
    expect(outboxRows(store)).toEqual([]);
    expect(inspected).toEqual([]);
  });

  it('a store failure answers store-failed instead of throwing', async () => {
    store.createJob = () => {
      throw new Error('database or disk is full');
    };
    expect(await request(ctx, input())).toEqual({ kind: 'store-failed' });
  });
});

describe('approve', () => {
  it('an approver’s click approves, starts the run, and queues the card update with the incident notice', async () => {
    const id = await posted();
    const result = await approve(ctx, click(id, APPROVER_1));
    expect(result).toMatchObject({ kind: 'approved', job: { id, state: 'approved', decidedBy: APPROVER_1, decidedAt: clock.now } });
    expect(started).toEqual([id]);
    expect(outboxRows(store).slice(1).map((r) => [r.channel, r.message])).toEqual([
      [OPS, { kind: 'update_card' }],
      [INCIDENTS, { kind: 'incident', event: 'approved' }],
    ]);
  });

  it('a member of an approver group may approve (membership looked up once, then cached)', async () => {
    const id = await posted();
    expect((await approve(ctx, click(id, GROUP_MEMBER))).kind).toBe('approved');
    const other = await posted();
    expect((await approve(ctx, click(other, GROUP_MEMBER))).kind).toBe('approved');
    expect(groups.lookups).toBe(1);
  });

  it('a forced request: first approval recorded, the same approver again is a duplicate, a second approver approves', async () => {
    const id = await posted({ force: true });
    expect(await approve(ctx, click(id, APPROVER_1))).toMatchObject({ kind: 'recorded', count: 1 });
    expect(started).toEqual([]);
    expect(await approve(ctx, click(id, APPROVER_1))).toMatchObject({ kind: 'duplicate' });
    expect(await approve(ctx, click(id, APPROVER_2))).toMatchObject({ kind: 'approved' });
    expect(started).toEqual([id]);
    expect(store.approvals(id).map((a) => a.userId)).toEqual([APPROVER_1, APPROVER_2]);
  });

  it('a click on a job no longer pending changes nothing', async () => {
    const id = await posted();
    await approve(ctx, click(id, APPROVER_1));
    expect(await approve(ctx, click(id, APPROVER_2))).toMatchObject({ kind: 'not-pending', job: { state: 'approved' } });
    expect(started).toEqual([id]);
  });

  it('an approval after the deadline expires the request instead, with its card update', async () => {
    const id = await posted();
    clock.now += TTL;
    expect(await approve(ctx, click(id, APPROVER_1))).toMatchObject({ kind: 'not-pending', job: { state: 'expired' } });
    expect(started).toEqual([]);
    expect(outboxRows(store).at(-1)?.message).toEqual({ kind: 'update_card' });
  });

  it('an unknown job is answered as such', async () => {
    expect(await approve(ctx, click('r-nosuchjob1', APPROVER_1))).toEqual({ kind: 'unknown-job' });
  });

  it('a store failure answers store-failed; the job stays pending and no run starts', async () => {
    const id = await posted();
    store.approve = () => {
      throw new Error('database or disk is full');
    };
    expect(await approve(ctx, click(id, APPROVER_1))).toMatchObject({ kind: 'store-failed', job: { id } });
    expect(store.getJob(id)?.state).toBe('pending');
    expect(started).toEqual([]);
  });
});

describe('refused clicks: nothing changes, and each leaves an audit row', () => {
  async function expectRefused(
    action: typeof approve | typeof deny,
    id: string,
    c: Click,
    refusal: string,
    reason: string,
  ): Promise<void> {
    const rowsBefore = outboxRows(store).length;
    expect(await action(ctx, c)).toMatchObject({ kind: 'refused', refusal, job: { id } });
    expect(store.getJob(id)?.state).toBe('pending');
    expect(store.approvals(id)).toEqual([]);
    expect(started).toEqual([]);
    expect(outboxRows(store)).toHaveLength(rowsBefore);
    expect(refusals(id)).toEqual([{ actor: c.user, data: { reason, messageTs: c.messageTs, channel: c.channel } }]);
  }

  it('self-approval, even by a configured approver', async () => {
    const id = await posted();
    await expectRefused(approve, id, click(id, REQUESTER), 'self', 'self-approval');
  });

  it('approval by someone who is not an approver', async () => {
    const id = await posted();
    await expectRefused(approve, id, click(id, STRANGER), 'not-approver', 'not an approver');
  });

  it('approval when group membership cannot be verified (lookup failing, nothing cached)', async () => {
    const id = await posted();
    groups.up = false;
    await expectRefused(approve, id, click(id, GROUP_MEMBER), 'unverified', 'approver membership unverified');
  });

  it('a click from another channel, even by an approver', async () => {
    const id = await posted();
    await expectRefused(approve, id, click(id, APPROVER_1, { channel: 'C0ELSEWHERE' }), 'other-channel', 'approve click from another channel');
  });

  it('a click before the card was confirmed by Slack', async () => {
    const result = await request(ctx, input());
    const id = result.kind === 'created' ? result.job.id : '';
    await expectRefused(approve, id, click(id, APPROVER_1), 'card-unconfirmed', 'approve click before the card was confirmed');
  });

  it('deny by someone who is not an approver', async () => {
    const id = await posted();
    await expectRefused(deny, id, click(id, STRANGER), 'not-approver', 'deny by a non-approver');
  });

  it('deny when membership cannot be verified', async () => {
    const id = await posted();
    groups.up = false;
    await expectRefused(deny, id, click(id, GROUP_MEMBER), 'unverified', 'deny: approver membership unverified');
  });

  it('deny from another channel, and before the card was confirmed', async () => {
    const id = await posted();
    await expectRefused(deny, id, click(id, APPROVER_1, { channel: 'C0ELSEWHERE' }), 'other-channel', 'deny click from another channel');
    const result = await request(ctx, input());
    const unconfirmed = result.kind === 'created' ? result.job.id : '';
    await expectRefused(deny, unconfirmed, click(unconfirmed, APPROVER_1), 'card-unconfirmed', 'deny click before the card was confirmed');
  });

  it('a refusal whose audit row cannot be written is still a refusal', async () => {
    const id = await posted();
    store.recordRefusal = () => {
      throw new Error('database or disk is full');
    };
    expect(await approve(ctx, click(id, STRANGER))).toMatchObject({ kind: 'refused', refusal: 'not-approver' });
    expect(store.getJob(id)?.state).toBe('pending');
  });
});

describe('a click on a stale copy of the card', () => {
  it.each([
    ['approve', approve],
    ['deny', deny],
  ] as const)('%s: answers stale-copy, audits it, queues the superseding rewrite of that copy, changes nothing else', async (_name, action) => {
    const id = await posted();
    const stale = '1700000000.000099';
    expect(await action(ctx, click(id, APPROVER_1, { messageTs: stale }))).toMatchObject({ kind: 'stale-copy', job: { id } });
    expect(store.getJob(id)?.state).toBe('pending');
    expect(started).toEqual([]);
    expect(outboxRows(store).at(-1)).toMatchObject({ channel: OPS, jobId: id, coalesceKey: `supersede:${id}:${stale}`, message: { kind: 'supersede_card', ts: stale } });
    expect(store.auditTrail(id).slice(1).map((e) => [e.event, e.actor])).toEqual([
      ['refused', APPROVER_1],
      ['card superseded', 'system'],
    ]);
    expect(refusals(id)[0]?.data).toEqual({ reason: 'click on a superseded copy of the card', messageTs: stale });
  });

  it('repeated clicks on one stale copy queue one rewrite while it waits', async () => {
    const id = await posted();
    await approve(ctx, click(id, APPROVER_1, { messageTs: '9.9' }));
    await approve(ctx, click(id, APPROVER_2, { messageTs: '9.9' }));
    expect(outboxRows(store).filter((r) => r.message.kind === 'supersede_card')).toHaveLength(1);
  });

  it('a store failure while marking the stale copy still answers stale-copy', async () => {
    const id = await posted();
    store.supersedeCard = () => {
      throw new Error('database is locked');
    };
    expect(await approve(ctx, click(id, APPROVER_1, { messageTs: '9.9' }))).toMatchObject({ kind: 'stale-copy' });
  });
});

describe('deny and withdraw', () => {
  it('an approver denies: the job is denied with its card update, and never runs', async () => {
    const id = await posted();
    expect(await deny(ctx, click(id, APPROVER_1))).toMatchObject({ kind: 'denied', job: { state: 'denied', decidedBy: APPROVER_1 } });
    expect(outboxRows(store).at(-1)).toMatchObject({ channel: OPS, message: { kind: 'update_card' }, coalesceKey: `card:${id}` });
    expect(await approve(ctx, click(id, APPROVER_2))).toMatchObject({ kind: 'not-pending' });
    expect(started).toEqual([]);
  });

  it('the requester withdraws their own request, approver or not', async () => {
    const id = await posted({ requester: 'U0NOTANAPPROVER' });
    expect(await deny(ctx, click(id, 'U0NOTANAPPROVER'))).toMatchObject({ kind: 'withdrawn', job: { state: 'denied', decidedBy: 'U0NOTANAPPROVER' } });
    expect(groups.lookups).toBe(0);
  });

  it('a deny after the deadline expires the request instead', async () => {
    const id = await posted();
    clock.now += TTL;
    expect(await deny(ctx, click(id, APPROVER_1))).toMatchObject({ kind: 'not-pending', job: { state: 'expired' } });
    expect(store.auditTrail(id).map((e) => e.event)).toContain('expired');
  });

  it('a deny of a job already approved is not-pending', async () => {
    const id = await posted();
    await approve(ctx, click(id, APPROVER_1));
    expect(await deny(ctx, click(id, APPROVER_2))).toMatchObject({ kind: 'not-pending', job: { state: 'approved' } });
  });

  it('a store failure answers store-failed and the job stays pending', async () => {
    const id = await posted();
    store.deny = () => {
      throw new Error('database or disk is full');
    };
    expect(await deny(ctx, click(id, APPROVER_1))).toMatchObject({ kind: 'store-failed', job: { id } });
    expect(store.getJob(id)?.state).toBe('pending');
  });
});

describe('expireDue, abandonCard, reportUndelivered', () => {
  it('expireDue expires each pending job past its deadline once, with its card update', async () => {
    const old = await posted();
    clock.now += 10 * 60_000;
    const young = await posted();
    clock.now += TTL - 5 * 60_000;
    const rowsBefore = outboxRows(store).length;
    expect((await expireDue(ctx)).map((j) => [j.id, j.state])).toEqual([[old, 'expired']]);
    expect(await expireDue(ctx)).toEqual([]);
    expect(store.getJob(young)?.state).toBe('pending');
    expect(outboxRows(store).slice(rowsBefore).map((r) => [r.jobId, r.message.kind])).toEqual([[old, 'update_card']]);
  });

  it('expireDue leaves approved jobs alone, however old', async () => {
    const id = await posted();
    await approve(ctx, click(id, APPROVER_1));
    clock.now += 10 * TTL;
    expect(await expireDue(ctx)).toEqual([]);
    expect(store.getJob(id)?.state).toBe('approved');
  });

  it('abandonCard cancels a pending request once, audited with the Slack error', async () => {
    const result = await request(ctx, input());
    const id = result.kind === 'created' ? result.job.id : '';
    expect(await abandonCard(ctx, id, 'channel_not_found')).toBe(true);
    expect(await abandonCard(ctx, id, 'channel_not_found')).toBe(false);
    expect(store.getJob(id)).toMatchObject({ state: 'expired', decidedBy: 'system' });
    expect(store.auditTrail(id).find((e) => e.event === 'card failed')?.data).toEqual({ reason: 'channel_not_found' });
  });

  it('abandonCard does not touch a job already approved', async () => {
    const id = await posted();
    await approve(ctx, click(id, APPROVER_1));
    expect(await abandonCard(ctx, id, 'is_archived')).toBe(false);
    expect(store.getJob(id)?.state).toBe('approved');
  });

  it('reportUndelivered queues one direct message to the requester per job (a newer one replaces it while waiting)', async () => {
    const id = await posted();
    await reportUndelivered(ctx, id, (job) => `first about ${job.id}`);
    await reportUndelivered(ctx, id, (job) => `second about ${job.id}`);
    const notices = outboxRows(store).filter((r) => r.message.kind === 'requester_notice');
    expect(notices.map((r) => [r.channel, r.message])).toEqual([[REQUESTER, { kind: 'requester_notice', text: `second about ${id}` }]]);
    await reportUndelivered(ctx, 'r-nosuchjob1', () => 'x');
    expect(outboxRows(store).filter((r) => r.message.kind === 'requester_notice')).toHaveLength(1);
  });
});
