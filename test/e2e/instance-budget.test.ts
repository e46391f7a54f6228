/**
 * The per-minute instance budget (Huawei: 1000 servers per minute per account and region) against
 * batch planning: with a budget below the API's batch size, a request larger than the budget used
 * to be planned as one batch that bottleneck could never schedule, and hung every later job.
 */
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { APPROVER_1, CHANNEL, Harness, textOf } from '../helpers/harness.js';

const REGION = 'cn-north-4';
const serverIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `616fb98f-46ca-475e-917e-${String(i).padStart(12, '0')}`);

describe('batches are planned within the per-minute instance budget', () => {
  let h: Harness;
  afterEach(async () => {
    await h.stop();
  });

  async function run(budget: number, count: number): Promise<number[]> {
    h = await Harness.start({ providers: ['huawei'], tuning: { budgetPeriodMs: 300 } });
    const config = h.file('limits.json');
    writeFileSync(config, JSON.stringify({ limits: { huawei: { instancesPerMinute: budget } } }));
    await h.restart(undefined, { REBOOT_CONFIG: config });
    const ids = serverIds(count);
    for (const id of ids) h.sims.sims.huawei!.fleet.add(REGION, id);
    const { card } = await h.request(`huawei ${REGION} ${ids.join(' ')}`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(h.sims.sims.huawei!.fleet.totalReboots()).toBe(count);
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain(`${count} verified`);
    const posts = h.sims.sims.huawei!.requests.filter((r) => r.method === 'POST');
    return posts.map((r) => (JSON.parse(r.body) as { reboot: { servers: unknown[] } }).reboot.servers.length);
  }

  it('below the batch size: 7 servers under a budget of 3 go as 3 + 3 + 1, one refill apart', async () => {
    expect(await run(3, 7)).toEqual([3, 3, 1]);
  });

  it('equal to the request: one batch', async () => {
    expect(await run(5, 5)).toEqual([5]);
  });

  it('above the request: one batch', async () => {
    expect(await run(50, 5)).toEqual([5]);
  });
});
