import { describe, expect, it } from 'vitest';
import { QuietGate } from '../src/quiet-gate.js';

describe('QuietGate: background work waits for a lull in requests', () => {
  it('with no requests, it opens on the next turn of the event loop', async () => {
    const gate = new QuietGate({ quietMs: 50, maxWaitMs: 1000 });
    const start = Date.now();
    await gate.turn();
    expect(Date.now() - start).toBeLessThan(40);
  });

  it('waits while requests keep arriving, and opens quietMs after the last one', async () => {
    const gate = new QuietGate({ quietMs: 40, maxWaitMs: 5000 });
    const start = Date.now();
    const burst = setInterval(() => gate.touch(), 5);
    setTimeout(() => clearInterval(burst), 150);
    gate.touch();
    await gate.turn();
    expect(Date.now() - start).toBeGreaterThanOrEqual(150 + 30);
  });

  it('never waits longer than maxWaitMs, however busy', async () => {
    const gate = new QuietGate({ quietMs: 40, maxWaitMs: 120 });
    const burst = setInterval(() => gate.touch(), 5);
    const start = Date.now();
    gate.touch();
    await gate.turn();
    clearInterval(burst);
    const waited = Date.now() - start;
    expect(waited).toBeGreaterThanOrEqual(110);
    expect(waited).toBeLessThan(400);
  });
});

describe('QuietGate: background steps go one per turn of the event loop', () => {
  it('steps asked for together are granted on separate turns, so what arrived meanwhile is read between two of them', async () => {
    const gate = new QuietGate({ quietMs: 0, maxWaitMs: 1000 });
    const order: string[] = [];
    // Work queued for the next turn by the first step (as a socket read would be) comes before the second step;
    // steps released together in one turn would both run before it.
    const steps = [1, 2].map((n) =>
      gate.turn().then(() => {
        order.push(`step ${n}`);
        if (n === 1) setImmediate(() => order.push('next turn'));
      }),
    );
    await Promise.all(steps);
    expect(order).toEqual(['step 1', 'next turn', 'step 2']);
  });

  it('a request that arrives during one step holds the next until the lull', async () => {
    const gate = new QuietGate({ quietMs: 60, maxWaitMs: 5000 });
    const startedAt: number[] = [];
    const steps = [0, 1].map((n) =>
      gate.turn().then(() => {
        startedAt.push(Date.now());
        if (n === 0) gate.touch();
      }),
    );
    await Promise.all(steps);
    expect(startedAt[1]! - startedAt[0]!).toBeGreaterThanOrEqual(50);
  });

  it('many steps waiting under constant requests share one deadline instead of waiting maxWaitMs each', async () => {
    const gate = new QuietGate({ quietMs: 40, maxWaitMs: 120 });
    const busy = setInterval(() => gate.touch(), 5);
    gate.touch();
    const start = Date.now();
    await Promise.all(Array.from({ length: 20 }, () => gate.turn()));
    clearInterval(busy);
    const waited = Date.now() - start;
    expect(waited).toBeGreaterThanOrEqual(110);
    // Twenty steps waiting 120 ms each would take 2.4 s.
    expect(waited).toBeLessThan(600);
  });
});
