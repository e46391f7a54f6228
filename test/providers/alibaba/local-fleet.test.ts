import { afterEach, describe, expect, it } from 'vitest';
import { seedFleet } from '../../../src/local/fleet-seed.js';
import { createAlibabaProvider } from '../../../src/providers/alibaba/client.js';
import { alibaba } from '../../../src/providers/alibaba/index.js';
import type { ProviderSimulator } from '../../../src/providers/simulator-kit.js';

const account = { keyId: alibaba.local.keyId, secret: 'local-secret-0123456789abcdef' };
let sim: ProviderSimulator | undefined;

afterEach(async () => {
  await sim?.stop();
});

describe('local fleet', () => {
  it('keeps the old ids, names every instance, and adds a financially locked one and one that never comes back', async () => {
    const ids = alibaba.local.fleet.map((i) => i.id);
    expect(ids.slice(0, 4)).toEqual(['i-bp1g6zv0ce8oghu7a001', 'i-bp1g6zv0ce8oghu7a002', 'i-bp1g6zv0ce8oghu7a003', 'i-uf6f5trc95ug8t33a004']);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => alibaba.info.isInstanceId(id))).toBe(true);
    expect(alibaba.local.fleet.every((i) => typeof i.name === 'string' && i.name !== '')).toBe(true);
    const locked = alibaba.local.fleet.find((i) => i.lockReason === 'financial');
    const never = alibaba.local.fleet.find((i) => i.neverComesBack);
    expect(locked).toMatchObject({ region: 'cn-hangzhou' });
    expect(never).toMatchObject({ region: 'cn-hangzhou', name: 'db-never-back', state: 'running' });

    // Seeded the way local mode does it, and read through the real client.
    sim = alibaba.local.simulator(account, { rebootMs: 100 });
    seedFleet(alibaba.local, sim);
    const url = await sim.start();
    const client = createAlibabaProvider({ credentials: { accessKeyId: account.keyId, accessKeySecret: account.secret }, endpoint: url, retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 }, timeoutMs: 2_000 });
    const result = await client.describe({ region: 'cn-hangzhou', ids: [locked?.id ?? '', never?.id ?? ''] });
    expect(result).toMatchObject({
      kind: 'read',
      readings: [
        { id: locked?.id, found: true, phase: 'locked', lockReason: 'financial', name: locked?.name },
        { id: never?.id, found: true, phase: 'running', name: 'db-never-back' },
      ],
    });
    const reboot = await client.reboot({ region: 'cn-hangzhou', ids: [locked?.id ?? ''], force: false, idempotencyKey: 'local-b1' });
    expect(reboot.outcomes[0]).toMatchObject({ status: 'failed', code: 'InstanceExpiredOrInArrears' });
  });
});
