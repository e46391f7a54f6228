import { describe, expect, it } from 'vitest';
import { ackFigure } from '../../bench/acks.js';
import { quantile } from '../../bench/load.js';
import { busiestChannelSecond } from '../../bench/stage.js';

/** A bench that cannot miss is a defect: each of these verdicts must turn to MISS when the bot is slowed. */
describe('bench verdicts on slowed bots', () => {
  const bare = Array.from({ length: 100 }, (_, i) => 10 + i);

  it('ack p99 passes at 1.5× bare Bolt and misses above it, and any ack past 3 s misses', () => {
    const same = ackFigure('x', { bot: bare.map((ms) => ms * 1.5), bare });
    expect(same.map((f) => f.verdict)).toEqual(['PASS', 'PASS']);
    const slowed = ackFigure('x', { bot: bare.map((ms) => ms * 1.6), bare });
    expect(slowed[0]!.verdict).toBe('MISS');
    const late = ackFigure('x', { bot: [...bare.slice(1), 3001], bare: [...bare.slice(1), 3001] });
    expect(late[1]).toMatchObject({ value: '1 of 100', verdict: 'MISS' });
  });

  it('quantile is nearest rank', () => {
    expect(quantile(bare, 0.5)).toBe(59);
    expect(quantile(bare, 0.99)).toBe(108);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('counts chat.postMessage attempts to one channel inside any sliding second, 429s included', () => {
    const post = (channel: string, at: number, error?: string) => ({ method: 'chat.postMessage', args: { channel }, at, ...(error ? { error } : {}) });
    expect(busiestChannelSecond([post('C1', 0), post('C1', 1000), post('C1', 2000), post('C2', 2100)])).toBe(1);
    expect(busiestChannelSecond([post('C1', 0), post('C1', 1500), post('C1', 2400, 'ratelimited')])).toBe(2);
    // chat.update is paced by its tier, not per channel.
    expect(busiestChannelSecond([post('C1', 0), { method: 'chat.update', args: { channel: 'C1' }, at: 10 }])).toBe(1);
  });
});
