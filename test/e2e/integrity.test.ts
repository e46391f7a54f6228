/**
 * Regression tests for the gaps that crash and fault trials found (issue 6): each drives the real bot
 * over signed HTTP and injects the fault at the real store, Slack or clock boundary.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startBot } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { blockActionsPayload, slashCommandFields } from '../../src/local/slack-driver.js';
import { silentLogger } from '../../src/log.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { APPROVER_1, CHANNEL, Harness, INCIDENT, REQUESTER, STRANGER, hasButtons, textOf, waitFor } from '../helpers/harness.js';
import { rebootCalls } from '../helpers/cloud-requests.js';

const REGION = 'cn-hangzhou';
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);

let h: Harness;
afterEach(async () => {
  await h.stop();
});

async function aliHarness(n: number): Promise<string[]> {
  h = await Harness.start({ providers: ['alibaba'] });
  const all = ids(n);
  for (const id of all) h.sims.sims.alibaba!.fleet.add(REGION, id);
  return all;
}

function threadText(cardTs: string): string {
  return h.slack.thread(cardTs).map(textOf).join('\n');
}

function auditEvents(jobId: string): Array<{ event: string; actor: string; data: unknown }> {
  return h.sqlite.auditTrail(jobId).map(({ event, actor, data }) => ({ event, actor, data }));
}

describe('a state change and the Slack messages that report it commit together', () => {
  it('outcomes whose thread lines could not be queued are not kept either: after a restart every instance is in the thread', async () => {
    const all = await aliHarness(3);
    const { card } = await h.request(`alibaba ${REGION} ${all.join(' ')}`);
    const store = h.sqlite;
    // The process "dies" between storing the outcomes and queuing their lines.
    const record = store.recordOutcomes.bind(store);
    store.recordOutcomes = (jobId, seq, outcomes, after, now) =>
      record(jobId, seq, outcomes, after, now, () => {
        throw new Error('killed between the outcome and its thread lines');
      });
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.bot.runner.idle();
    expect(store.outcomes(store.jobsInState('running')[0]!.id)).toEqual([]);
    await h.restart();
    await h.settle();
    const thread = threadText(card.ts);
    for (const id of all) expect(thread).toContain(id);
    // Each instance was rebooted once and never resent. The answer was lost, but the follow-up read finds each
    // StartTime moved past the call: that proves the reboot, so the instances are watched and verified.
    for (const id of all) expect(h.sims.sims.alibaba!.fleet.get(REGION, id)?.rebootCount).toBe(1);
    expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(1);
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('3 verified');
  });

  it('an approval whose incident notice could not be queued is not kept: the clicker is told and may click again', async () => {
    const [a] = await aliHarness(1);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    const store = h.sqlite;
    const approve = store.approve.bind(store);
    let failNext = true;
    store.approve = (jobId, userId, now, report) =>
      approve(jobId, userId, now, (result) => {
        const writes = report ? report(result) : [];
        if (failNext && writes.some((w) => w.message.kind === 'incident')) {
          failNext = false;
          throw new Error('database or disk is full');
        }
        return writes;
      });
    const first = await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    expect(await h.replyTo(first)).toContain('could not be recorded');
    expect(store.jobsInState('pending')).toHaveLength(1);
    expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(0);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    const incident = h.slack.topLevel(INCIDENT).map(textOf).join('\n');
    expect(incident).toContain('approved');
    expect(incident).toContain('completed');
    expect(h.sims.sims.alibaba!.fleet.get(REGION, a!)?.rebootCount).toBe(1);
  });
});

describe('a running job whose provider lost its credentials across a restart', () => {
  it('reports every remaining instance and completes instead of waiting for ever', async () => {
    const all = await aliHarness(2);
    const { card } = await h.request(`alibaba ${REGION} ${all.join(' ')}`);
    await h.restart(
      (db) => {
        const store = new SqliteStore(db);
        const job = store.jobsInState('pending')[0]!;
        store.approve(job.id, APPROVER_1, Date.now());
        store.startRun(job.id, [{ wave: 0, ids: [all[0]!] }, { wave: 0, ids: [all[1]!] }], Date.now());
        store.markBatchSending(job.id, 1, Date.now());
        store.close();
      },
      { ALIBABA_CLOUD_ACCESS_KEY_ID: undefined, ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined },
    );
    await h.settle();
    expect(h.sqlite.jobsInState('completed')).toHaveLength(1);
    const thread = threadText(card.ts);
    expect(thread).toContain(`\`${all[0]}\` *ProviderNotConfigured*`);
    // The second batch may have left before the restart: unknown, never "failed".
    expect(thread).toContain(`\`${all[1]}\` *unknown*`);
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).not.toContain('waiting');
    expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(0);
  });
});

describe('approvals do not survive long downtime', () => {
  it('an approved job that did not start within REBOOT_APPROVAL_TTL goes back to pending approval, and the card says why', async () => {
    const [a] = await aliHarness(1);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    await h.restart((db) => {
      const store = new SqliteStore(db);
      const job = store.jobsInState('pending')[0]!;
      // Approved three days ago; the bot was down since.
      store.approve(job.id, APPROVER_1, job.createdAt);
      store.db.prepare('UPDATE jobs SET decided_at = ? WHERE id = ?').run(Date.now() - 3 * 86_400_000, job.id);
      store.close();
    });
    await h.settle();
    expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(0);
    const job = h.sqlite.jobsInState('pending')[0]!;
    expect(h.sqlite.approvals(job.id)).toEqual([]);
    const live = h.slack.message(CHANNEL, card.ts)!;
    expect(textOf(live)).toContain('Approval lapsed');
    expect(hasButtons(live)).toBe(true);
    expect(auditEvents(job.id).map((e) => e.event)).toContain('approval lapsed');
    // A fresh approval runs it once.
    await h.driver.clickButton(APPROVER_1, live, 'reboot_approve');
    await h.settle();
    expect(h.sims.sims.alibaba!.fleet.get(REGION, a!)?.rebootCount).toBe(1);
  });
});

describe('request integrity', () => {
  it('a replayed slash command (same trigger_id) is acknowledged and creates nothing', async () => {
    const [a] = await aliHarness(1);
    const body = new URLSearchParams(
      slashCommandFields({ user: REQUESTER, channel: CHANNEL, text: `alibaba ${REGION} ${a}`, responseUrl: h.slack.newResponseUrl(), team: 'T0FAKE', triggerId: '1337.42.abcdef' }),
    ).toString();
    const first = await h.driver.postRaw(body);
    const second = await h.driver.postRaw(body);
    const third = await h.driver.postRaw(body);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body).toContain('already received');
    expect(third.body).toContain('already received');
    await h.settle();
    expect(h.sqlite.jobsInState('pending')).toHaveLength(1);
    expect(h.cards()).toHaveLength(1);
  });

  it('a request stamped more than 5 minutes in the future is refused', async () => {
    const [a] = await aliHarness(1);
    const body = new URLSearchParams(
      slashCommandFields({ user: REQUESTER, channel: CHANNEL, text: `alibaba ${REGION} ${a}`, responseUrl: h.slack.newResponseUrl(), team: 'T0FAKE' }),
    ).toString();
    const ahead = await h.driver.postRaw(body, Math.floor(Date.now() / 1000) + 3600);
    expect(ahead.status).toBe(401);
    const slightlyAhead = await h.driver.postRaw(body, Math.floor(Date.now() / 1000) + 60);
    expect(slightlyAhead.status).toBe(200);
    await h.settle();
    expect(h.sqlite.jobsInState('pending')).toHaveLength(1);
  });

  it('a click that does not name its card (no container.message_ts) changes nothing', async () => {
    const [a] = await aliHarness(1);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    const jobId = h.sqlite.jobsInState('pending')[0]!.id;
    const responseUrl = h.slack.newResponseUrl();
    const payload = blockActionsPayload({ user: APPROVER_1, channel: CHANNEL, messageTs: card.ts, actionId: 'reboot_approve', value: jobId, responseUrl, team: 'T0FAKE' });
    delete payload.container;
    const res = await h.driver.postRaw(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
    expect(res.status).toBe(200);
    expect(await h.replyTo({ responseUrl })).toContain('could not be read');
    await h.settle();
    expect(h.sqlite.jobsInState('pending')).toHaveLength(1);
    expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(0);
  });

  it('refused clicks leave an audit row each: self-approval, a non-approver, a click from another channel', async () => {
    const [a] = await aliHarness(1);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    const jobId = h.sqlite.jobsInState('pending')[0]!.id;
    await h.replyTo(await h.driver.clickButton(REQUESTER, card, 'reboot_approve'));
    await h.replyTo(await h.driver.clickButton(STRANGER, card, 'reboot_approve'));
    await h.replyTo(await h.driver.click(APPROVER_1, 'C0ELSEWHERE', card.ts, 'reboot_approve', jobId));
    await h.replyTo(await h.driver.clickButton(STRANGER, card, 'reboot_deny'));
    const refused = auditEvents(jobId).filter((e) => e.event === 'refused');
    expect(refused.map((e) => [e.actor, (e.data as { reason: string }).reason])).toEqual([
      [REQUESTER, 'self-approval'],
      [STRANGER, 'not an approver'],
      [APPROVER_1, 'approve click from another channel'],
      [STRANGER, 'deny by a non-approver'],
    ]);
    expect(h.sqlite.jobsInState('pending')).toHaveLength(1);
  });

  it('user text echoed in an error is escaped, even inside code spans', async () => {
    await aliHarness(1);
    const res = await h.driver.command(REQUESTER, CHANNEL, '&lt;!channel&gt; cn-hangzhou i-1 &amp; <@U0BOSS>');
    const reply = JSON.parse(res.body) as { text: string };
    expect(reply.text).toContain('&lt;!channel&gt;');
    expect(reply.text).not.toContain('<!channel>');
    expect(reply.text).not.toContain('<@U0BOSS>');
  });
});

describe('a card Slack got just before a crash', () => {
  /** Slack accepted the card, but the bot died before storing its ts (and before marking its row sent). */
  const forgetCard = (db: string): void => {
    const store = new SqliteStore(db);
    store.db.prepare('UPDATE jobs SET card_ts = NULL').run();
    store.db.prepare(`UPDATE outbox SET state = 'sending' WHERE kind = 'post_card'`).run();
    store.close();
  };

  it('is found again by its request id after the restart and kept: no second card, and its buttons work', async () => {
    const [a] = await aliHarness(1);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    await h.restart(forgetCard);
    const jobId = h.sqlite.jobsInState('pending')[0]!.id;
    await waitFor(() => h.sqlite.requireJob(jobId).cardTs === card.ts, 'the card adopted');
    await h.settle();
    expect(h.cards()).toHaveLength(1);
    expect(h.slack.callsTo('conversations.history').length).toBeGreaterThanOrEqual(1);
    expect((await h.driver.clickButton(APPROVER_1, card, 'reboot_approve')).status).toBe(200);
    await waitFor(() => h.sqlite.requireJob(jobId).state === 'completed', 'the job to complete', 15_000);
  });

  it('posted twice when Slack refuses the look-up: a click on the copy that is not the stored card rewrites that copy as superseded and changes nothing', async () => {
    const [a] = await aliHarness(1);
    const { card: orphan } = await h.request(`alibaba ${REGION} ${a}`);
    // An install without the history scopes: the restart cannot find the card, and posts it again.
    h.slack.injectFault('conversations.history', { error: 'missing_scope' });
    await h.restart((db) => {
      const store = new SqliteStore(db);
      store.db.prepare('UPDATE jobs SET card_ts = NULL').run();
      store.db.prepare(`UPDATE outbox SET state = 'sending' WHERE kind = 'post_card'`).run();
      store.close();
    });
    const live = await waitFor(() => (h.cards().length === 2 ? h.cards()[1] : undefined), 'second card');
    const jobId = h.sqlite.jobsInState('pending')[0]!.id;
    // Slack has the second copy a moment before the bot has stored its ts.
    await waitFor(() => h.sqlite.requireJob(jobId).cardTs === live.ts, 'the live card stored');
    const click = await h.driver.clickButton(APPROVER_1, orphan, 'reboot_approve');
    expect(await h.replyTo(click)).toContain('old copy');
    await h.settle();
    const rewritten = h.slack.message(CHANNEL, orphan.ts)!;
    expect(hasButtons(rewritten)).toBe(false);
    expect(textOf(rewritten)).toContain('superseded');
    expect(textOf(rewritten)).toContain('live card');
    expect(hasButtons(h.slack.message(CHANNEL, live.ts)!)).toBe(true);
    expect(h.sqlite.jobsInState('pending')).toHaveLength(1);
    expect(auditEvents(jobId).map((e) => e.event)).toContain('card superseded');
  });
});

describe('one bot process per database', () => {
  it('a second process on the same database is refused, naming the database and the holder', async () => {
    await aliHarness(1);
    const config = loadConfig({ SLACK_BOT_TOKEN: h.slack.botToken, SLACK_SIGNING_SECRET: 'x'.repeat(20), SLACK_API_URL: h.slack.apiUrl, PORT: '0', REBOOT_DB: h.dbPath });
    await expect(startBot({ config, providers: {}, log: silentLogger })).rejects.toThrow(
      new RegExp(`database ${h.dbPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is in use by pid ${process.pid}`),
    );
    // The first process is untouched.
    const { card } = await h.request(`alibaba ${REGION} ${ids(1)[0]}`);
    expect(hasButtons(card)).toBe(true);
  });
});
