import { describe, expect, it } from 'vitest';
import { QuietGate } from '../src/quiet-gate.js';

describe('QuietGate: background work waits for a lull in requests', () => {
  it('with no requests, it opens on the next turn of the event loop', async () => {
    const gate = new QuietGate({ quietMs: 50, maxWaitMs: 1000 });
    const start = Date.now();
    await gate.whenQuiet();
    expect(Date.now() - start).toBeLessThan(40);
  });

  it('waits while requests keep arriving, and opens quietMs after the last one', async () => {
    const gate = new QuietGate({ quietMs: 40, maxWaitMs: 5000 });
    const start = Date.now();
    const burst = setInterval(() => gate.touch(), 5);
    setTimeout(() => clearInterval(burst), 150);
    gate.touch();
    await gate.whenQuiet();
    expect(Date.now() - start).toBeGreaterThanOrEqual(150 + 30);
  });

  it('never waits longer than maxWaitMs, however busy', async () => {
    const gate = new QuietGate({ quietMs: 40, maxWaitMs: 120 });
    const burst = setInterval(() => gate.touch(), 5);
    const start = Date.now();
    gate.touch();
    await gate.whenQuiet();
    clearInterval(burst);
    const waited = Date.now() - start;
    expect(waited).toBeGreaterThanOrEqual(110);
    expect(waited).toBeLessThan(400);
  });
});
