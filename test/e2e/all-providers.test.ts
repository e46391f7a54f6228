import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderName } from '../../src/providers/provider.js';
import { APPROVER_1, APPROVER_2, CHANNEL, Harness, INCIDENT, hasButtons, textOf } from '../helpers/harness.js';

interface Case {
  provider: ProviderName;
  alias: string;
  region: string;
  ids: [string, string, string];
}

const CASES: Case[] = [
  { provider: 'alibaba', alias: 'aliyun', region: 'cn-hangzhou', ids: ['i-bp1aaaaaaaaaaaaaaaaa', 'i-bp1bbbbbbbbbbbbbbbbb', 'i-bp1ccccccccccccccccc'] },
  { provider: 'volcengine', alias: 'volc', region: 'cn-beijing', ids: ['i-ycc01lmwecgh9z3sq001', 'i-ycc01lmwecgh9z3sq002', 'i-ycc01lmwecgh9z3sq003'] },
  { provider: 'baidu', alias: 'bce', region: 'bj', ids: ['i-YufwpQAe', 'i-Zx81kLm2', 'i-Stop0001'] },
  {
    provider: 'huawei',
    alias: 'hwc',
    region: 'cn-north-4',
    ids: ['616fb98f-46ca-475e-917e-2563e5a8cd19', '726fb98f-46ca-475e-917e-2563e5a8cd20', '836fb98f-46ca-475e-917e-2563e5a8cd21'],
  },
];

describe.each(CASES)('$provider end to end', ({ provider, alias, region, ids }) => {
  let h: Harness;
  const [a, b, stopped] = ids;
  beforeAll(async () => {
    h = await Harness.start({ providers: [provider] });
    const fleet = h.sims.sims[provider]!.fleet;
    fleet.add(region, a);
    fleet.add(region, b);
    fleet.add(region, stopped, 'stopped');
  });
  afterAll(async () => {
    await h.stop();
  });
  const fleet = () => h.sims.sims[provider]!.fleet;

  it('request → approve → per-instance results in the thread → summary → incident channel', async () => {
    const { card } = await h.request(`${alias} ${region} ${a}, ${stopped}`);
    expect(textOf(card)).toContain(region);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(fleet().get(region, a)?.rebootCount).toBe(1);
    expect(fleet().get(region, stopped)?.rebootCount).toBe(0);
    const thread = h.slack.thread(card.ts).map(textOf).join('\n');
    expect(thread).toContain(`\`${a}\` back up, running`);
    expect(thread).toMatch(new RegExp(`:x: \`${stopped}\` \\*[A-Za-z.0-9]+\\*`));
    expect(h.slack.thread(card.ts).filter((m) => m.replyBroadcast)).toHaveLength(1);
    const final = h.slack.message(CHANNEL, card.ts)!;
    expect(hasButtons(final)).toBe(false);
    expect(textOf(final)).toContain('1 verified · 0 running, unconfirmed · 0 not back · 1 failed');
    expect(h.slack.topLevel(INCIDENT).map(textOf).join('\n')).toContain('completed: 1 verified · 0 running, unconfirmed · 0 not back · 1 failed');
    expect(h.slack.violations).toEqual([]);
  });

  it('--dry-run needs no approval, reports what would happen and reboots nothing', async () => {
    const before = fleet().totalReboots();
    const { card } = await h.request(`${provider} ${region} ${b} ${stopped} --dry-run`);
    expect(hasButtons(card)).toBe(false);
    await h.settle();
    expect(fleet().totalReboots()).toBe(before);
    const thread = h.slack.thread(card.ts).map(textOf).join('\n');
    expect(thread).toContain(`\`${b}\` would reboot`);
    // Every cloud's read sees the stopped instance, including Alibaba, whose batch dry run would not.
    expect(thread).toContain(`:x: \`${stopped}\` *Stopped*: would fail: stopped`);
    expect(h.slack.topLevel(INCIDENT).map(textOf).join('\n')).not.toContain('Dry');
  });

  it('--force needs two approvers and reaches the cloud as a forced reboot', async () => {
    await new Promise((r) => setTimeout(r, 150)); // let the first test's reboot finish
    const { card } = await h.request(`${provider} ${region} ${b} --force`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(fleet().get(region, b)?.rebootCount).toBe(0);
    await h.driver.clickButton(APPROVER_2, card, 'reboot_approve');
    await h.settle();
    expect(fleet().get(region, b)).toMatchObject({ rebootCount: 1, lastForce: true });
  });
});
