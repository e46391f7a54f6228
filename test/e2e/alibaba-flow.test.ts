import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fleet } from '../../src/providers/simulator-kit.js';
import type { AlibabaSimulator } from '../../src/providers/alibaba/simulator.js';
import {
  APPROVER_1,
  APPROVER_2,
  CHANNEL,
  GROUP_MEMBER,
  Harness,
  INCIDENT,
  STRANGER,
  hasButtons,
  textOf,
  waitFor,
} from '../helpers/harness.js';
import { rebootCalls } from '../helpers/cloud-requests.js';

const REGION = 'cn-hangzhou';
const A = 'i-bp1aaaaaaaaaaaaaaaaa';
const B = 'i-bp1bbbbbbbbbbbbbbbbb';
const C = 'i-bp1ccccccccccccccccc';

describe('alibaba end to end', () => {
  let h: Harness;
  let fleet: Fleet;
  let sim: AlibabaSimulator;

  beforeEach(async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    sim = h.sims.sims.alibaba as AlibabaSimulator;
    fleet = sim.fleet;
    for (const id of [A, B, C]) fleet.add(REGION, id);
  });
  afterEach(async () => {
    await h.stop();
  });

  it('request → approve → thread results → broadcast summary → incident notices', async () => {
    const { reply, card } = await h.request(`alibaba ${REGION} ${A},${B} --reason "kernel patch"`);
    expect(reply).toContain('posted for approval');
    expect(hasButtons(card)).toBe(true);
    expect(textOf(card)).toContain('kernel patch');
    expect(textOf(card)).toContain(A);

    const click = await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    expect(click.status).toBe(200);
    await h.settle();

    expect(fleet.get(REGION, A)?.rebootCount).toBe(1);
    expect(fleet.get(REGION, B)?.rebootCount).toBe(1);
    expect(fleet.get(REGION, C)?.rebootCount).toBe(0);

    const thread = h.slack.thread(card.ts);
    const results = thread.map(textOf).join('\n');
    expect(results).toContain(`\`${A}\` back up, running`);
    expect(results).toContain(`\`${B}\` back up, running`);
    // Two instances, one coalesced result message, one broadcast summary.
    const summary = thread.filter((m) => m.replyBroadcast);
    expect(summary).toHaveLength(1);
    expect(textOf(summary[0]!)).toContain('2 verified');

    const finalCard = h.slack.message(CHANNEL, card.ts)!;
    expect(hasButtons(finalCard)).toBe(false);
    expect(textOf(finalCard)).toContain('Finished');
    expect(textOf(finalCard)).toContain(`<@${APPROVER_1}>`);

    const incident = h.slack.topLevel(INCIDENT).map(textOf);
    expect(incident).toHaveLength(2);
    expect(incident[0]).toContain('approved by');
    expect(incident[0]).toContain('/archives/C0OPS/p');
    expect(incident[1]).toContain('completed');
    expect(h.slack.violations).toEqual([]);

    const events = h.sqlite.auditTrail(h.sqlite.jobsInState('completed')[0]!.id).map((e) => e.event);
    expect(events).toEqual(['requested', 'preflight', 'approval', 'approved', 'started', 'batch sent', 'verifying', 'outcome', 'outcome', 'completed']);
  });

  it('deny rewrites the card and reboots nothing', async () => {
    const { card } = await h.request(`aliyun ${REGION} ${A}`);
    await h.driver.clickButton(APPROVER_2, card, 'reboot_deny');
    await h.settle();
    const after = h.slack.message(CHANNEL, card.ts)!;
    expect(hasButtons(after)).toBe(false);
    expect(textOf(after)).toContain(`Denied by <@${APPROVER_2}>`);
    expect(fleet.totalReboots()).toBe(0);
    expect(rebootCalls('alibaba', sim.requests)).toHaveLength(0);
    // A late approve changes nothing.
    const late = await h.driver.click(APPROVER_1, CHANNEL, card.ts, 'reboot_approve', h.sqlite.jobsInState('denied')[0]!.id);
    await h.settle();
    expect(await h.replyTo(late)).toContain('already denied');
    expect(fleet.totalReboots()).toBe(0);
  });

  it('self-approval is refused and changes nothing', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A}`, APPROVER_1);
    const res = await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(await h.replyTo(res)).toContain('cannot approve your own');
    expect(h.sqlite.jobsInState('pending')).toHaveLength(1);
    expect(hasButtons(h.slack.message(CHANNEL, card.ts)!)).toBe(true);
    expect(fleet.totalReboots()).toBe(0);
  });

  it('a non-approver is refused; a member of an approver user group may approve', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A}`);
    await h.settle();
    const updates = h.slack.message(CHANNEL, card.ts)!.updates;
    const res = await h.driver.clickButton(STRANGER, card, 'reboot_approve');
    await h.settle();
    expect(await h.replyTo(res)).toContain('not allowed');
    expect(h.sqlite.jobsInState('pending')).toHaveLength(1);
    expect(h.slack.message(CHANNEL, card.ts)!.updates).toBe(updates);
    const deny = await h.driver.clickButton(STRANGER, card, 'reboot_deny');
    await h.settle();
    expect(await h.replyTo(deny)).toContain('not allowed');

    await h.driver.clickButton(GROUP_MEMBER, card, 'reboot_approve');
    await h.settle();
    expect(fleet.get(REGION, A)?.rebootCount).toBe(1);
    expect(h.slack.callsTo('usergroups.users.list')).toHaveLength(1);
  });

  it('a double click and two approvers clicking at once execute the job exactly once', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A} ${B}`);
    await Promise.all([
      h.driver.clickButton(APPROVER_1, card, 'reboot_approve'),
      h.driver.clickButton(APPROVER_1, card, 'reboot_approve'),
      h.driver.clickButton(APPROVER_2, card, 'reboot_approve'),
    ]);
    await h.settle();
    expect(fleet.get(REGION, A)?.rebootCount).toBe(1);
    expect(fleet.get(REGION, B)?.rebootCount).toBe(1);
    expect(rebootCalls('alibaba', sim.requests)).toHaveLength(1);
    expect(h.slack.thread(card.ts).filter((m) => m.replyBroadcast)).toHaveLength(1);
  });

  it('--force needs two distinct approvers and sends ForceReboot=true', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A} —force`);
    expect(textOf(card)).toContain('--force');
    const approve = (card.blocks as Array<{ type: string; elements?: Array<{ action_id: string; confirm?: unknown }> }>)
      .find((b) => b.type === 'actions')!
      .elements!.find((e) => e.action_id === 'reboot_approve')!;
    expect(approve.confirm).toBeDefined();

    const first = await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(await h.replyTo(first)).toContain('1 of 2');
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain(`Approvals: 1 of 2 (<@${APPROVER_1}>)`);
    const again = await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(await h.replyTo(again)).toContain('already approved');
    expect(fleet.totalReboots()).toBe(0);

    await h.driver.clickButton(APPROVER_2, card, 'reboot_approve');
    await h.settle();
    expect(fleet.get(REGION, A)).toMatchObject({ rebootCount: 1, lastForce: true });
    expect(rebootCalls('alibaba', sim.requests)[0]?.query).toContain('ForceReboot=true');
  });

  it('throttling is retried and the reboot still happens once', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A}`);
    sim.faults.inject({ kind: 'throttle', count: 2 });
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(rebootCalls('alibaba', sim.requests).map((r) => r.status)).toEqual([400, 400, 200]);
    expect(fleet.get(REGION, A)?.rebootCount).toBe(1);
    expect(h.slack.thread(card.ts).map(textOf).join('\n')).toContain(`\`${A}\` back up, running`);
  });

  it('a partial failure is reported per instance', async () => {
    fleet.get(REGION, C)!.state = 'stopped';
    const missing = 'i-bp1doesnotexist0000';
    const { card } = await h.request(`alibaba ${REGION} ${A} ${C} ${missing}`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    const thread = h.slack.thread(card.ts).map(textOf).join('\n');
    expect(thread).toContain(`\`${A}\` back up, running`);
    expect(thread).toMatch(new RegExp(`\`${C}\` \\*IncorrectInstanceStatus\\*`));
    expect(thread).toMatch(new RegExp(`\`${missing}\` \\*InvalidInstanceId.NotFound\\*`));
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('1 verified · 0 running, unconfirmed · 0 not back · 2 failed');
    const summary = h.slack.thread(card.ts).find((m) => m.replyBroadcast)!;
    expect(textOf(summary)).toContain(':warning:');
  });

  it('--dry-run needs no approval, only reads, and adds the cloud’s own permission check', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A} --dry-run`);
    expect(hasButtons(card)).toBe(false);
    await h.settle();
    expect(fleet.totalReboots()).toBe(0);
    expect(rebootCalls('alibaba', sim.requests)).toEqual([]);
    const actions = sim.requests.map((r) => `${r.headers['x-acs-action'] ?? ''}${new URLSearchParams(r.query).get('DryRun') === 'true' ? ' DryRun' : ''}`);
    expect(actions).toEqual(['DescribeInstances', 'RebootInstances DryRun']);
    // Its permission check runs with the default AllTogether: SuccessFirst would answer DRYRUN.SUCCESS for everything.
    expect(sim.requests[1]?.query).not.toContain('BatchOptimization');
    const thread = h.slack.thread(card.ts).map(textOf).join('\n');
    expect(thread).toContain(`\`${A}\` would reboot`);
    expect(thread).toContain('Permission check');
  });

  it('a pending request survives a restart and its buttons still work', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A}`);
    await h.restart();
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(fleet.get(REGION, A)?.rebootCount).toBe(1);
    expect(hasButtons(h.slack.message(CHANNEL, card.ts)!)).toBe(false);
  });

  it('no secret reaches Slack', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A}`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    const everything = JSON.stringify([h.slack.calls, h.slack.responses]);
    expect(everything).not.toContain(h.sims.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET);
    expect(everything).not.toContain('test-signing-secret');
    expect(everything).not.toMatch(/Signature=[0-9a-f]{16}/);
  });
});

describe('alibaba expiry', () => {
  it('an unapproved request expires: card rewritten without buttons, late click changes nothing', async () => {
    const h = await Harness.start({ providers: ['alibaba'], env: { REBOOT_APPROVAL_TTL: '300ms' } });
    try {
      h.sims.sims.alibaba!.fleet.add(REGION, A);
      const { card } = await h.request(`alibaba ${REGION} ${A}`);
      const expired = await waitFor(() => {
        const m = h.slack.message(CHANNEL, card.ts);
        return m && !hasButtons(m) ? m : undefined;
      }, 'card to expire');
      expect(textOf(expired)).toContain('Expired');
      const jobId = h.sqlite.jobsInState('expired')[0]!.id;
      const late = await h.driver.click(APPROVER_1, CHANNEL, card.ts, 'reboot_approve', jobId);
      await h.settle();
      expect(await h.replyTo(late)).toContain('expired');
      expect(h.sims.sims.alibaba!.fleet.totalReboots()).toBe(0);
      expect(h.sqlite.auditTrail(jobId).map((e) => e.event)).toEqual(['requested', 'preflight', 'expired']);
    } finally {
      await h.stop();
    }
  });
});
