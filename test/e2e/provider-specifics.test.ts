import { afterEach, describe, expect, it } from 'vitest';
import { idempotencyKey } from '../../src/domain/job.js';
import { createVolcengineProvider } from '../../src/providers/volcengine/client.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { APPROVER_1, CHANNEL, Harness, textOf } from '../helpers/harness.js';
import { rebootCalls } from '../helpers/cloud-requests.js';

describe('provider-specific behaviour through the whole bot', () => {
  let h: Harness;
  afterEach(async () => {
    await h.stop();
  });

  it('volcengine: a batch whose answer was lost in a crash is resent with the same ClientToken and reboots once', async () => {
    h = await Harness.start({ providers: ['volcengine'] });
    const id = 'i-ycc01lmwecgh9z3sq001';
    const sim = h.sims.sims.volcengine!;
    sim.fleet.add('cn-beijing', id);
    const { card } = await h.request(`volc cn-beijing ${id}`);
    await h.restart(async (db) => {
      const store = new SqliteStore(db);
      const job = store.jobsInState('pending')[0]!;
      store.approve(job.id, APPROVER_1, Date.now());
      store.startRun(job.id, [{ wave: 0, ids: [id] }], Date.now());
      store.markBatchSending(job.id, 0, Date.now());
      store.close();
      // The request that reached the cloud just before the process died.
      const provider = createVolcengineProvider({
        credentials: { accessKeyId: h.sims.env.VOLCENGINE_ACCESS_KEY!, secretAccessKey: h.sims.env.VOLCENGINE_SECRET_KEY! },
        endpoint: h.sims.env.VOLCENGINE_ENDPOINT!,
        retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
        timeoutMs: 2000,
      });
      await provider.reboot({ region: 'cn-beijing', ids: [id], force: false, idempotencyKey: idempotencyKey(job.id, 0) });
    });
    await h.settle();
    expect(sim.fleet.get('cn-beijing', id)?.rebootCount).toBe(1);
    const tokens = rebootCalls('volcengine', sim.requests).map((r) => new URLSearchParams(r.query).get('ClientToken'));
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).toBe(tokens[1]);
    expect(h.slack.thread(card.ts).map(textOf).join('\n')).toContain(`\`${id}\` back up, running`);
  });

  it('huawei: the async job is polled and its progress is posted in the thread', async () => {
    h = await Harness.start({ providers: ['huawei'], rebootMs: 300 });
    const ids = Array.from({ length: 6 }, (_, i) => `616fb98f-46ca-475e-917e-2563e5a8cd${String(i).padStart(2, '0')}`);
    for (const id of ids) h.sims.sims.huawei!.fleet.add('cn-north-4', id);
    const { card } = await h.request(`hwc cn-north-4 ${ids.join(' ')}`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    const thread = h.slack.thread(card.ts).map(textOf).join('\n');
    expect(thread).toMatch(/Huawei Cloud ECS accepted job `[0-9a-f]+` for 6 instances/);
    expect(thread).toMatch(/Huawei Cloud ECS job `[0-9a-f]+`: \d\/6 servers done/);
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('6 verified');
    expect(h.sims.sims.huawei!.fleet.totalReboots()).toBe(6);
  });
});
