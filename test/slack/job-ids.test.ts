import { describe, expect, it } from 'vitest';
import { REQUEST_ID } from '../../commands/reboot.js';
import { newJobId } from '../../src/slack/listeners.js';

describe('newJobId', () => {
  it('gives ids the command parser accepts, all different, across refills of its random pool', () => {
    // 256 ids come from one pool of random bytes; 2,000 span several refills.
    const ids = Array.from({ length: 2000 }, () => newJobId());
    for (const id of ids) expect(id).toMatch(REQUEST_ID);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('uses every letter of its alphabet at about the same rate', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 3200; i++) for (const c of newJobId().slice(2)) counts.set(c, (counts.get(c) ?? 0) + 1);
    // 32,000 letters over 32: 1,000 each on average; 5 standard deviations (about 31 each) either side.
    expect(counts.size).toBe(32);
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(160);
  });
});
