/**
 * The Outbox on its own: a real SqliteStore (in memory) and the in-repo fake Slack Web API on
 * loopback. Timing is asserted only as lower bounds that follow from the outbox's own clock (claim
 * times, Slack's arrival times against the failure that preceded them), or with a test clock that
 * only moves when the test moves it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.js';
import type { OutboxRow } from '../../src/domain/outbox-message.js';
import { HealthBoard } from '../../src/health.js';
import { FakeSlack, type FakeMessage } from '../../src/local/fake-slack.js';
import { silentLogger } from '../../src/log.js';
import { Outbox, type OutboxOptions } from '../../src/slack/outbox.js';
import { SlackReporter } from '../../src/slack/reporter.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { INCIDENTS, OPS, newJob, outboxRows, until } from '../helpers/fixtures.js';

const OTHER = 'C0OTHER';

/** A HealthBoard that also remembers every problem it was told of, however briefly it stood. */
class RecordingHealth extends HealthBoard {
  readonly sets: Array<{ key: string; reason: string; fatal: boolean }> = [];
  override set(key: string, reason: string, fatal: boolean): void {
    this.sets.push({ key, reason, fatal });
    super.set(key, reason, fatal);
  }
}

let slack: FakeSlack;
let store: SqliteStore;
let health: RecordingHealth;
let outbox: Outbox | undefined;
let permanent: Array<{ row: OutboxRow; error: string }>;
let delivered: OutboxRow[];
const reporter = new SlackReporter(INCIDENTS);

beforeEach(async () => {
  slack = new FakeSlack();
  await slack.start();
  store = new SqliteStore(':memory:');
  health = new RecordingHealth();
  permanent = [];
  delivered = [];
  outbox = undefined;
});
afterEach(async () => {
  await outbox?.stop();
  await slack.stop();
  store.close();
});

function makeOutbox(over: Partial<OutboxOptions> = {}): Outbox {
  outbox = new Outbox(store, {
    token: slack.botToken,
    apiUrl: slack.apiUrl,
    channelIntervalMs: 5,
    idleMs: 20,
    maxBackoffMs: 50,
    now: Date.now,
    log: silentLogger,
    health,
    onPermanentFailure: (row, error) => {
      permanent.push({ row, error });
    },
    onDelivered: (row) => delivered.push(row),
    ...over,
  });
  return outbox;
}

/** A job in the store, its card queued. */
function jobWithCard(id: string, channel = OPS): Job {
  const { job } = store.createJob(newJob({ id, channel }), 'test', undefined, (j) => reporter.requested(j)) as { job: Job };
  return job;
}

const note = (job: Job, text: string): void => store.enqueue(reporter.note(job, text));
const current = (id: string): Job => store.getJob(id) as Job;
const writesTo = (channel: string): FakeMessage[] => slack.messages.filter((m) => m.channel === channel);

/** Records when each row was claimed (the outbox sets the channel's next slot right after). */
function recordClaims(): Array<{ id: number; at: number }> {
  const claims: Array<{ id: number; at: number }> = [];
  const claim = store.claimOutbox.bind(store);
  store.claimOutbox = (id) => {
    claims.push({ id, at: Date.now() });
    return claim(id);
  };
  return claims;
}

describe('Outbox: order and pace', () => {
  it('keeps each channel in FIFO order: the card first, then its thread in the order queued', async () => {
    const a = jobWithCard('r-outbox0001', OPS);
    const b = jobWithCard('r-outbox0002', OTHER);
    for (let i = 1; i <= 4; i++) {
      note(a, `a${i}`);
      note(b, `b${i}`);
    }
    makeOutbox().start();
    await outbox!.drain(5000);
    for (const [job, channel, prefix] of [
      [a, OPS, 'a'],
      [b, OTHER, 'b'],
    ] as const) {
      const cardTs = current(job.id).cardTs;
      const writes = writesTo(channel);
      expect(writes[0]).toMatchObject({ ts: cardTs });
      expect(writes[0]?.threadTs).toBeUndefined();
      expect(writes.slice(1).map((m) => [m.threadTs, m.text])).toEqual([1, 2, 3, 4].map((i) => [cardTs, `${prefix}${i}`]));
    }
    expect(slack.violations).toEqual([]);
    expect(delivered).toHaveLength(10);
  });

  it('spaces writes to one channel by channelIntervalMs, but not writes to different channels', async () => {
    const interval = 80;
    const a = jobWithCard('r-outbox0001', OPS);
    jobWithCard('r-outbox0002', OTHER);
    for (let i = 1; i <= 3; i++) note(a, `a${i}`);
    const claims = recordClaims();
    makeOutbox({ channelIntervalMs: interval }).start();
    await outbox!.drain(5000);
    const rows = outboxRows(store);
    const channelOf = new Map(rows.map((r) => [r.id, r.channel]));
    const ops = claims.filter((c) => channelOf.get(c.id) === OPS);
    expect(ops).toHaveLength(4);
    for (let i = 1; i < ops.length; i++) expect(ops[i]!.at - ops[i - 1]!.at).toBeGreaterThanOrEqual(interval);
    // The other channel's card went in the first round, before OPS's second write.
    const other = claims.findIndex((c) => channelOf.get(c.id) === OTHER);
    expect(other).toBeGreaterThanOrEqual(0);
    expect(other).toBeLessThan(claims.indexOf(ops[1]!));
  });
});

describe('Outbox: Slack answering 429', () => {
  it('waits at least Retry-After before trying that row again, then delivers it', async () => {
    jobWithCard('r-outbox0001');
    slack.injectFault('chat.postMessage', { status: 429, retryAfter: 1 });
    makeOutbox().start();
    await outbox!.drain(5000);
    const posts = slack.callsTo('chat.postMessage');
    expect(posts.map((p) => p.error)).toEqual(['ratelimited', undefined]);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(current('r-outbox0001').cardTs).toBe(slack.topLevel(OPS)[0]?.ts);
    expect(permanent).toEqual([]);
  });

  it('pauses only that channel (test clock): others keep going; the paused row goes once Retry-After has passed', async () => {
    const clock = { now: 1_000_000 };
    const a = jobWithCard('r-outbox0001', OPS);
    note(a, 'behind the card');
    slack.injectFault('chat.postMessage', { status: 429, retryAfter: 2 });
    makeOutbox({ now: () => clock.now, channelIntervalMs: 0 }).start();
    await until(() => outboxRows(store).find((r) => r.jobId === a.id && r.message.kind === 'post_card' && r.lastError === 'ratelimited'), 'the 429 to be stored');
    const paused = outboxRows(store).find((r) => r.jobId === a.id && r.message.kind === 'post_card')!;
    expect(paused).toMatchObject({ state: 'pending', notBefore: clock.now + 2000, attempts: 1 });
    // Only now does the other channel get work, so the 429 certainly went to OPS.
    const b = jobWithCard('r-outbox0002', OTHER);
    note(b, 'b1');
    note(b, 'b2');
    await until(() => writesTo(OTHER).length === 3 || undefined, 'the other channel to be delivered');
    // OPS is still paused, its queued note behind the card too, while the test clock has not moved.
    expect(writesTo(OPS)).toEqual([]);
    clock.now += 1999;
    outbox!.kick();
    await new Promise((r) => setTimeout(r, 30));
    expect(writesTo(OPS)).toEqual([]);
    clock.now += 1;
    outbox!.kick();
    await until(() => writesTo(OPS).length === 2 || undefined, 'OPS after Retry-After');
    expect(writesTo(OPS).map((m) => m.text)[1]).toBe('behind the card');
  });
});

describe('Outbox: transient failures', () => {
  it('retries internal_error and HTTP 500 until delivered, each retry after the capped backoff', async () => {
    const maxBackoff = 40;
    jobWithCard('r-outbox0001');
    for (let i = 0; i < 3; i++) slack.injectFault('chat.postMessage', { error: 'internal_error' });
    for (let i = 0; i < 2; i++) slack.injectFault('chat.postMessage', { status: 500 });
    let lastNow = 0;
    const retries: Array<{ delay: number; error: string }> = [];
    const retry = store.retryOutbox.bind(store);
    store.retryOutbox = (id, notBefore, error) => {
      retries.push({ delay: notBefore - lastNow, error });
      return retry(id, notBefore, error);
    };
    makeOutbox({ maxBackoffMs: maxBackoff, now: () => (lastNow = Date.now()) }).start();
    await outbox!.drain(5000);
    const posts = slack.callsTo('chat.postMessage');
    expect(posts.map((p) => p.error)).toEqual(['internal_error', 'internal_error', 'internal_error', 'http_500', 'http_500', undefined]);
    for (let i = 1; i < posts.length; i++) expect(posts[i]!.at - posts[i - 1]!.at).toBeGreaterThanOrEqual(maxBackoff);
    // Uncapped, these would be 1 s, 2 s, 4 s, 8 s, 16 s.
    expect(retries.map((r) => r.delay)).toEqual([maxBackoff, maxBackoff, maxBackoff, maxBackoff, maxBackoff]);
    expect(retries.slice(0, 3).map((r) => r.error)).toEqual(['internal_error', 'internal_error', 'internal_error']);
    expect(retries.slice(3).every((r) => r.error.includes('500'))).toBe(true);
    expect(permanent).toEqual([]);
    // Five failures in a row are shown (not fatal) while they last; the delivery clears them.
    expect(health.sets).toEqual([{ key: `slack:${OPS}`, reason: expect.stringContaining('still retrying') as unknown, fatal: false }]);
    expect(health.has(`slack:${OPS}`)).toBe(false);
    expect(outboxRows(store)[0]).toMatchObject({ state: 'done', attempts: 6 });
  });

  it('the backoff doubles from one second up to maxBackoffMs (test clock)', async () => {
    const clock = { now: 1_000_000 };
    jobWithCard('r-outbox0001');
    for (let i = 0; i < 5; i++) slack.injectFault('chat.postMessage', { error: 'service_unavailable' });
    const delays: number[] = [];
    const retry = store.retryOutbox.bind(store);
    store.retryOutbox = (id, notBefore, error) => {
      delays.push(notBefore - clock.now);
      return retry(id, notBefore, error);
    };
    makeOutbox({ maxBackoffMs: 5000, now: () => clock.now }).start();
    for (let i = 1; i <= 5; i++) {
      await until(() => delays.length === i || undefined, `failure ${i}`);
      clock.now += delays[i - 1]!;
      outbox!.kick();
    }
    await outbox!.drain(5000);
    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(slack.topLevel(OPS)).toHaveLength(1);
  });
});

describe('Outbox: permanent failures', () => {
  it('channel_not_found: the row is dropped (one try), onPermanentFailure is told, health lists it as not fatal', async () => {
    const job = jobWithCard('r-outbox0001');
    makeOutbox().start();
    await outbox!.drain(5000);
    slack.injectFault('chat.postMessage', { error: 'channel_not_found' });
    note(job, 'lost');
    await outbox!.drain(5000);
    expect(slack.callsTo('chat.postMessage').filter((c) => c.error === 'channel_not_found')).toHaveLength(1);
    expect(outboxRows(store).at(-1)).toMatchObject({ state: 'failed', lastError: 'channel_not_found', attempts: 1 });
    expect(permanent.map((p) => [p.row.jobId, p.row.message, p.error])).toEqual([[job.id, { kind: 'thread_note', text: 'lost' }, 'channel_not_found']]);
    const report = health.report();
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([
      { key: `slack:${OPS}`, reason: expect.stringContaining('channel_not_found') as unknown, fatal: false, since: expect.any(Number) as unknown },
    ]);
    // The next write to that channel goes (it is not blocked behind the failed row) and clears the entry.
    note(job, 'found again');
    await outbox!.drain(5000);
    expect(slack.thread(current(job.id).cardTs!).map((m) => m.text)).toEqual(['found again']);
    expect(health.report().problems).toEqual([]);
  });

  it('a card that can never be posted fails the rows behind it for good instead of holding the channel', async () => {
    slack.channelsWithoutBot.add(OPS);
    const job = jobWithCard('r-outbox0001');
    note(job, 'needs the card');
    const other = jobWithCard('r-outbox0002', OTHER);
    makeOutbox().start();
    await outbox!.drain(5000);
    expect(permanent.map((p) => [p.row.message.kind, p.error])).toEqual([
      ['post_card', 'not_in_channel'],
      ['thread_note', 'the request card was never posted'],
    ]);
    expect(current(other.id).cardTs).not.toBeNull();
  });

  it('a row naming no known job is dropped as undeliverable', async () => {
    store.enqueue([{ channel: OPS, jobId: 'r-nosuchjob1', message: { kind: 'update_card' } }]);
    makeOutbox().start();
    await outbox!.drain(5000);
    expect(slack.calls).toEqual([]);
    expect(permanent.map((p) => p.error)).toEqual(['outbox row 1 names no known job']);
  });

  it('token_revoked fails health (fatal) until a write succeeds again', async () => {
    slack.tokenRevoked = true;
    jobWithCard('r-outbox0001');
    makeOutbox().start();
    await outbox!.drain(5000);
    expect(permanent.map((p) => p.error)).toEqual(['token_revoked']);
    expect(health.report()).toMatchObject({ ok: false, problems: [{ key: 'slack:auth', fatal: true, reason: expect.stringContaining('token_revoked') as unknown }] });
    expect(health.has(`slack:${OPS}`)).toBe(false);
    slack.tokenRevoked = false;
    jobWithCard('r-outbox0002');
    await outbox!.drain(5000);
    expect(health.report()).toEqual({ ok: true, problems: [] });
  });

  it('an onPermanentFailure that throws does not stop delivery', async () => {
    slack.injectFault('chat.postMessage', { error: 'is_archived' });
    jobWithCard('r-outbox0001');
    jobWithCard('r-outbox0002');
    makeOutbox({
      onPermanentFailure: () => {
        throw new Error('handler bug');
      },
    }).start();
    await outbox!.drain(5000);
    expect(slack.topLevel(OPS)).toHaveLength(1);
  });
});

describe('Outbox: coalescing', () => {
  it('card updates queued while one waits leave as one chat.update, rendered from the job’s latest state', async () => {
    const job = jobWithCard('r-outbox0001');
    makeOutbox().start();
    await outbox!.drain(5000);
    await outbox!.stop();
    // A whole run while delivery is stopped: approve, start, outcomes, completion.
    store.approve(job.id, 'U0APPROVER', 2000, (r) => (r.kind === 'approved' ? reporter.approved(r.job) : []));
    store.startRun(job.id, [{ wave: 0, ids: job.ids }], 2001, (j) => reporter.cardChanged(j));
    store.recordOutcomes(job.id, 0, job.ids.map((id) => ({ id, status: 'succeeded' as const })), { state: 'done' }, 2002, (stored) => reporter.outcomes(current(job.id), stored));
    store.completeRun(job.id, 2003, ({ job: done }) => reporter.completed(done));
    expect(outboxRows(store).filter((r) => r.state === 'pending' && r.message.kind === 'update_card')).toHaveLength(1);
    outbox!.start();
    await outbox!.drain(5000);
    expect(slack.callsTo('chat.update')).toHaveLength(1);
    const card = slack.message(OPS, current(job.id).cardTs!)!;
    expect(card.updates).toBe(1);
    expect(card.text).toContain('finished: 2 reboot accepted');
    // Both incident notices were waiting: they leave as one digest message, in order (issue 9).
    const incidents = slack.topLevel(INCIDENTS);
    expect(incidents).toHaveLength(1);
    expect(incidents[0]!.text.split('\n')).toEqual([expect.stringContaining('approved') as unknown, expect.stringContaining('completed') as unknown]);
  });
});

describe('Outbox: its own failures and restarts', () => {
  it('a database failure in the loop does not end it: health shows it (fatal) until the loop works again', async () => {
    const heads = store.outboxHeads.bind(store);
    let failing = true;
    let failedCalls = 0;
    store.outboxHeads = () => {
      if (failing) {
        failedCalls += 1;
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      }
      return heads();
    };
    makeOutbox().start();
    jobWithCard('r-outbox0001');
    await until(() => health.has('outbox'), 'the loop failure in health');
    expect(health.report()).toMatchObject({ ok: false, problems: [{ key: 'outbox', fatal: true, reason: expect.stringContaining('database or disk is full') as unknown }] });
    // Still looping: a kick makes it try again (and fail again).
    const before = failedCalls;
    outbox!.kick();
    await until(() => failedCalls > before, 'another try');
    failing = false;
    outbox!.kick();
    await outbox!.drain(5000);
    expect(slack.topLevel(OPS)).toHaveLength(1);
    expect(health.report()).toEqual({ ok: true, problems: [] });
  });

  // BUG (found by this suite, not fixed here): a row is claimed ('sending') before the Slack call;
  // if the database write that follows a failed call (retryOutbox) throws, the exception goes to
  // safeTick, which logs it and shows it in health, but the row stays 'sending'. Only rows 'pending'
  // are ever picked up again, and rows left 'sending' are requeued only when the loop starts, so the
  // write is never retried while this process lives: here the request card never appears (nobody
  // can approve it; it expires), drain() never finishes, and /healthz reports ok again at the next
  // good tick. The same happens when finishOutbox throws after a successful send (then the row is
  // resent only after a restart). Expected: once the database works again, the row is delivered.
  it('a database error while recording a failed write does not leave that row stuck until a restart', async () => {
    const retry = store.retryOutbox.bind(store);
    let failing = true;
    store.retryOutbox = (id, notBefore, error) => {
      if (failing) {
        failing = false;
        throw new Error('database or disk is full');
      }
      return retry(id, notBefore, error);
    };
    slack.injectFault('chat.postMessage', { error: 'internal_error' });
    jobWithCard('r-outbox0001');
    makeOutbox().start();
    await until(() => health.sets.some((p) => p.key === 'outbox'), 'the database failure in health');
    await until(() => !health.has('outbox'), 'the loop to recover');
    await until(() => slack.topLevel(OPS).length === 1 || undefined, 'the card, once the database works again', 1500);
  });

  it('rows left "sending" by a crash are queued again on start and delivered', async () => {
    jobWithCard('r-outbox0001');
    const [row] = store.outboxHeads();
    // The previous process claimed the row and died before Slack answered.
    expect(store.claimOutbox(row!.id)).toBe(true);
    expect(store.outboxHeads()).toEqual([]);
    makeOutbox().start();
    await outbox!.drain(3000);
    expect(slack.topLevel(OPS)).toHaveLength(1);
    expect(outboxRows(store)[0]).toMatchObject({ state: 'done', attempts: 2 });
  });
});
