/**
 * `/reboot cancel <request>` and the card's Cancel button, over signed HTTP against the fake Slack and the Baidu
 * simulator. Baidu reboots one instance per call, so under a slow limiter (one call at a time, 400 ms apart) a job
 * of a few instances is many batches, and a cancel lands between them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outcomeLines } from '../../chaos/observe.js';
import type { FakeMessage } from '../../src/local/fake-slack.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { rebootCalls } from '../helpers/cloud-requests.js';
import { APPROVER_1, CHANNEL, GROUP_MEMBER, Harness, INCIDENT, REQUESTER, STRANGER, hasButtons, textOf, waitFor } from '../helpers/harness.js';

const REGION = 'bj';
let serial = 0;
/** Fresh Baidu ids per test, added to the simulated fleet. */
function fleet(h: Harness, n: number): string[] {
  return Array.from({ length: n }, () => {
    const id = `i-cncl${String(++serial).padStart(4, '0')}`;
    h.sims.sims.baidu!.fleet.add(REGION, id);
    return id;
  });
}

function idOf(reply: string): string {
  const id = /`(r-[a-z2-7]{10})`/.exec(reply)?.[1];
  if (!id) throw new Error(`no request id in ${reply}`);
  return id;
}

function buttonIds(message: FakeMessage): string[] {
  return (message.blocks as Array<{ type: string; elements?: Array<{ action_id?: string }> }>).filter((b) => b.type === 'actions').flatMap((b) => (b.elements ?? []).map((e) => e.action_id ?? ''));
}

describe('cancelling a request', () => {
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reboot-cancel-'));
    const config = join(dir, 'limits.json');
    writeFileSync(config, JSON.stringify({ limits: { baidu: { maxConcurrent: 1, minTimeMs: 400 } } }));
    // Card progress every 200 ms instead of 5 s: the Cancel button shows on the running card while batches remain.
    h = await Harness.start({ providers: ['baidu'], env: { REBOOT_CONFIG: config }, rebootMs: 150, tuning: { cardProgressIntervalMs: 200 } });
  });
  afterAll(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const reboots = (): number => rebootCalls('baidu', h.sims.sims.baidu!.requests).length;
  const rebootCount = (id: string): number => h.sims.sims.baidu!.fleet.get(REGION, id)!.rebootCount;
  async function cancel(user: string, jobId: string): Promise<string> {
    const res = await h.driver.command(user, CHANNEL, `cancel \`${jobId}\``);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { response_type: string; text: string };
    expect(body.response_type).toBe('ephemeral');
    return body.text;
  }
  const card = (ts: string): FakeMessage => h.slack.message(CHANNEL, ts)!;
  const threadText = (ts: string): string => h.slack.thread(ts).map(textOf).join('\n');
  /** Requests an approved job and waits until `sent` of its reboots reached the cloud. */
  async function running(n: number, sent: number): Promise<{ jobId: string; ids: string[]; cardTs: string }> {
    const ids = fleet(h, n);
    const before = reboots();
    const { reply, card: posted } = await h.request(`baidu ${REGION} ${ids.join(' ')}`);
    await h.driver.clickButton(APPROVER_1, posted, 'reboot_approve');
    await waitFor(() => reboots() - before >= sent, `${sent} reboot(s) sent`, 10_000);
    return { jobId: idOf(reply), ids, cardTs: posted.ts };
  }

  it('a pending request cancelled by its requester: card withdrawn, state cancelled, audited, nothing sent; approving it later changes nothing', async () => {
    const ids = fleet(h, 2);
    const before = reboots();
    const { reply, card: posted } = await h.request(`baidu ${REGION} ${ids.join(' ')}`);
    const jobId = idOf(reply);
    expect(await cancel(REQUESTER, jobId)).toContain(`Request \`${jobId}\` is cancelled`);
    await h.settle();
    expect(h.sqlite.getJob(jobId)).toMatchObject({ state: 'cancelled', cancelledBy: REQUESTER });
    const live = card(posted.ts);
    expect(hasButtons(live)).toBe(false);
    expect(textOf(live)).toContain(`Cancelled by <@${REQUESTER}> at`);
    expect(textOf(live)).toContain('Nothing was rebooted');
    expect(h.sqlite.auditTrail(jobId).filter((e) => e.event === 'cancelled')).toEqual([expect.objectContaining({ actor: REQUESTER, data: { was: 'pending' } })]);
    const approveLate = await h.driver.click(APPROVER_1, CHANNEL, posted.ts, 'reboot_approve', jobId);
    expect(await h.replyTo(approveLate)).toContain('was cancelled');
    await h.settle();
    expect(h.sqlite.getJob(jobId)?.state).toBe('cancelled');
    expect(reboots()).toBe(before);
    expect(await (await fetch(`${h.bot.url}/metrics`)).text()).toContain('reboot_requests_total{outcome="cancelled"} 1\n');
    // Never approved, so the incident channel never heard of it and hears nothing now.
    expect(h.slack.topLevel(INCIDENT).filter((m) => textOf(m).includes(jobId))).toHaveLength(0);
  });

  it('a stranger may not cancel: a clear ephemeral refusal, audited, nothing changes', async () => {
    const ids = fleet(h, 1);
    const { reply, card: posted } = await h.request(`baidu ${REGION} ${ids.join(' ')}`);
    const jobId = idOf(reply);
    const before = textOf(card(posted.ts));
    expect(await cancel(STRANGER, jobId)).toBe(`Only the requester (<@${REQUESTER}>) or an approver may cancel \`${jobId}\`. Nothing was changed.`);
    const click = await h.driver.click(STRANGER, CHANNEL, posted.ts, 'reboot_cancel', jobId);
    expect(await h.replyTo(click)).toContain('Only the requester');
    await h.settle();
    expect(h.sqlite.getJob(jobId)).toMatchObject({ state: 'pending', cancelledAt: null });
    expect(textOf(card(posted.ts))).toBe(before);
    expect(h.sqlite.auditTrail(jobId).filter((e) => e.event === 'refused').map((e) => [e.actor, (e.data as { reason: string }).reason])).toEqual([
      [STRANGER, 'cancel by a non-approver'],
      [STRANGER, 'cancel by a non-approver'],
    ]);
    expect(await cancel(REQUESTER, jobId)).toContain('is cancelled');
  });

  it('an unknown or malformed request id is answered, nothing changes', async () => {
    expect(await cancel(REQUESTER, 'r-zzzzzzzzzz')).toContain('not known');
    const res = await h.driver.command(REQUESTER, CHANNEL, 'cancel r-../etc');
    expect((JSON.parse(res.body) as { text: string }).text).toContain('is not a request id');
  });

  it('a running job cancelled by an approver mid-job: no batch is sent after the cancel, each instance is either rebooted or cancelled, sent ones are verified', async () => {
    const n = 6;
    const { jobId, ids, cardTs } = await running(n, 2);
    expect(await cancel(STRANGER, jobId)).toContain('Only the requester');
    const text = await cancel(GROUP_MEMBER, jobId);
    expect(text).toContain('no further batch or wave is sent');
    await h.settle();

    const job = h.sqlite.getJob(jobId)!;
    expect(job).toMatchObject({ state: 'completed', cancelledBy: GROUP_MEMBER });
    const outcomes = h.sqlite.outcomes(jobId);
    const cancelled = outcomes.filter((o) => o.status === 'cancelled').map((o) => o.id);
    const sent = outcomes.filter((o) => o.status !== 'cancelled');
    expect(cancelled.length).toBeGreaterThan(0);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(cancelled.length + sent.length).toBe(n);
    // Sent or cancelled, never both, never neither: the cloud rebooted exactly the instances not reported cancelled.
    for (const id of ids) expect(rebootCount(id)).toBe(cancelled.includes(id) ? 0 : 1);
    // Verification of what was sent went on to a verdict (Baidu has no time field: a missed transition is "unconfirmed").
    expect(sent.map((o) => o.status).filter((s) => s !== 'verified' && s !== 'unconfirmed')).toEqual([]);
    // The audit trail: no batch was claimed after the cancel.
    const trail = h.sqlite.auditTrail(jobId);
    const at = trail.findIndex((e) => e.event === 'cancelled');
    expect(trail[at]).toMatchObject({ actor: GROUP_MEMBER, data: { was: 'running', notSent: cancelled.length } });
    expect(trail.slice(at).filter((e) => e.event === 'batch sent')).toHaveLength(0);

    const live = card(cardTs);
    expect(buttonIds(live)).toEqual([]);
    expect(textOf(live)).toContain(`Cancelled by <@${GROUP_MEMBER}> at`);
    expect(textOf(live)).toContain(`${cancelled.length} cancelled`);
    const thread = threadText(cardTs);
    expect(thread).toContain(`Cancelled by <@${GROUP_MEMBER}>: no further batch or wave is sent; ${cancelled.length} instance`);
    expect(thread).toContain(`finished (cancelled by <@${GROUP_MEMBER}>: ${cancelled.length} not sent)`);
    // Every instance named once in the thread, as the crash trials read it.
    const lines = outcomeLines(h.slack.thread(cardTs));
    for (const o of outcomes) expect(lines.get(o.id)).toEqual([o.status === 'cancelled' ? 'cancelled' : o.status === 'verified' ? 'succeeded' : o.status]);
    expect(h.slack.topLevel(INCIDENT).filter((m) => textOf(m).includes(`after a cancel by <@${GROUP_MEMBER}>`))).toHaveLength(1);

    expect(await cancel(REQUESTER, jobId)).toContain('has already finished');
    // GET /metrics: each instance not sent counts once, as cancelled (the request itself counted as approved).
    const metrics = await (await fetch(`${h.bot.url}/metrics`)).text();
    expect(metrics).toContain(`reboot_instances_total{provider="baidu",outcome="cancelled"} ${cancelled.length}\n`);
  });

  it("the card's Cancel button (behind a confirm dialog) cancels a running job for its requester; a click on a pending card cancels it too", async () => {
    const { jobId, cardTs } = await running(8, 1);
    const live = await waitFor(() => (buttonIds(card(cardTs)).includes('reboot_cancel') ? card(cardTs) : undefined), 'Cancel button on the running card', 10_000);
    const button = (live.blocks as Array<{ type: string; elements?: Array<{ action_id: string; confirm?: { title: { text: string }; style: string } }> }>)
      .flatMap((b) => b.elements ?? [])
      .find((e) => e.action_id === 'reboot_cancel')!;
    expect(button.confirm).toMatchObject({ title: { text: 'Cancel this reboot?' }, style: 'danger' });
    await h.driver.clickButton(REQUESTER, live, 'reboot_cancel');
    await h.settle();
    expect(h.sqlite.getJob(jobId)).toMatchObject({ state: 'completed', cancelledBy: REQUESTER });
    expect(h.sqlite.outcomes(jobId).some((o) => o.status === 'cancelled')).toBe(true);
    expect(textOf(card(cardTs))).toContain(`Cancelled by <@${REQUESTER}>`);
    expect(h.slack.violations).toEqual([]);

    // A client still showing an older rendering of a card can send the click while the job is pending: same rules.
    const ids = fleet(h, 1);
    const { reply, card: pending } = await h.request(`baidu ${REGION} ${ids.join(' ')}`);
    const click = await h.driver.click(APPROVER_1, CHANNEL, pending.ts, 'reboot_cancel', idOf(reply));
    await h.settle();
    expect(h.driver.responsesTo(click.responseUrl)).toEqual([]);
    expect(h.sqlite.getJob(idOf(reply))).toMatchObject({ state: 'cancelled', cancelledBy: APPROVER_1 });
  });

  it('a finished job cannot be cancelled: "already finished", nothing changes', async () => {
    const ids = fleet(h, 1);
    const { reply, card: posted } = await h.request(`baidu ${REGION} ${ids.join(' ')}`);
    const jobId = idOf(reply);
    await h.driver.clickButton(APPROVER_1, posted, 'reboot_approve');
    await h.settle();
    const trail = h.sqlite.auditTrail(jobId).length;
    const before = textOf(card(posted.ts));
    expect(await cancel(REQUESTER, jobId)).toBe(`Request \`${jobId}\` has already finished (completed); there is nothing to cancel. Nothing was changed.`);
    await h.settle();
    expect(h.sqlite.auditTrail(jobId)).toHaveLength(trail);
    expect(textOf(card(posted.ts))).toBe(before);
    expect(h.sqlite.getJob(jobId)).toMatchObject({ state: 'completed', cancelledAt: null });
  });

  it('a cancel survives a restart: sent right before one, or stored just before a kill the runner never saw', async () => {
    // Typed, then the bot stops at once: the new one finishes what was sent and sends nothing more.
    const first = await running(5, 1);
    expect(await cancel(REQUESTER, first.jobId)).toContain('no further batch');
    await h.restart();
    await h.settle();
    expect(h.sqlite.getJob(first.jobId)).toMatchObject({ state: 'completed', cancelledBy: REQUESTER });
    const cancelledFirst = h.sqlite.outcomes(first.jobId).filter((o) => o.status === 'cancelled').map((o) => o.id);
    for (const id of first.ids) expect(rebootCount(id)).toBe(cancelledFirst.includes(id) ? 0 : 1);

    // Stored by a process that was killed before its runner looked again: the next start honours it.
    const second = await running(5, 1);
    let sentBeforeKill = 0;
    await h.restart((dbPath) => {
      sentBeforeKill = reboots();
      const store = new SqliteStore(dbPath);
      try {
        expect(store.cancel(second.jobId, APPROVER_1, Date.now(), `cancelled by <@${APPROVER_1}> before it was sent`)?.kind).toBe('stopping');
      } finally {
        store.close();
      }
    });
    await h.settle();
    expect(reboots()).toBe(sentBeforeKill);
    expect(h.sqlite.getJob(second.jobId)).toMatchObject({ state: 'completed', cancelledBy: APPROVER_1 });
    const outcomes = h.sqlite.outcomes(second.jobId);
    expect(outcomes).toHaveLength(5);
    for (const o of outcomes) expect(rebootCount(o.id)).toBe(o.status === 'cancelled' ? 0 : 1);
    expect(h.slack.thread(second.cardTs).filter((m) => textOf(m).includes('finished (cancelled by'))).toHaveLength(1);
  });
});
