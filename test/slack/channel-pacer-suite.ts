/**
 * What every ChannelPacer does (src/slack/channel-pacer.ts), run against LocalChannelPacer
 * (test/slack/channel-pacer.test.ts) and RedisChannelPacer (test/replicas/redis-channel-pacer.test.ts).
 * Time is the `now` each call is given, so nothing here depends on the machine's speed.
 */
import { describe, expect, it } from 'vitest';
import { WINDOW_MS, type ChannelPacer, type PacerLimits } from '../../src/slack/channel-pacer.js';

/** Makes a pacer with a schedule of its own (a fresh key prefix for a shared one). */
export type PacerFactory = (limits: PacerLimits) => ChannelPacer | Promise<ChannelPacer>;

const LIMITS: PacerLimits = { channelIntervalMs: 1000, perMinute: { 'chat.update': 3, 'chat.getPermalink': 2 } };
/** Far from 0, as Date.now() is. */
const T = 1_700_000_000_000;

export function channelPacerSuite(name: string, make: PacerFactory): void {
  describe(`${name}: the ChannelPacer contract`, () => {
    it("a channel's next write starts channelIntervalMs after Slack answered the previous one, not before", async () => {
      const pacer = await make(LIMITS);
      expect(await pacer.tryStart('chat.postMessage', 'C1', T)).toEqual({ granted: true });
      await pacer.answered('C1', T + 300);
      expect(await pacer.tryStart('chat.postMessage', 'C1', T + 1299)).toEqual({ granted: false, retryAt: T + 1300 });
      expect(await pacer.tryStart('chat.postMessage', 'C1', T + 1300)).toEqual({ granted: true });
    });

    it('channels are paced each on its own', async () => {
      const pacer = await make(LIMITS);
      expect(await pacer.tryStart('chat.postMessage', 'C1', T)).toEqual({ granted: true });
      await pacer.answered('C1', T + 10);
      expect(await pacer.tryStart('chat.postMessage', 'C2', T + 20)).toEqual({ granted: true });
    });

    it('a later answer never brings the gap forward', async () => {
      const pacer = await make(LIMITS);
      await pacer.tryStart('chat.postMessage', 'C1', T);
      await pacer.answered('C1', T + 5000);
      await pacer.answered('C1', T + 100);
      expect(await pacer.tryStart('chat.postMessage', 'C1', T + 5999)).toEqual({ granted: false, retryAt: T + 6000 });
    });

    it("a tiered method's budget is workspace-wide: spent in any channels, the next call waits until the oldest leaves the window", async () => {
      const pacer = await make(LIMITS);
      for (const [i, channel] of ['C1', 'C2', 'C3'].entries()) {
        expect(await pacer.tryStart('chat.update', channel, T + i)).toEqual({ granted: true });
      }
      expect(await pacer.tryStart('chat.update', 'C4', T + 10)).toEqual({ granted: false, retryAt: T + WINDOW_MS });
      expect(await pacer.methodOpenAt('chat.update', T + 10)).toBe(T + WINDOW_MS);
      expect(await pacer.tryStart('chat.update', 'C4', T + WINDOW_MS)).toEqual({ granted: true });
      // The first left; the second leaves a millisecond later.
      expect(await pacer.methodOpenAt('chat.update', T + WINDOW_MS)).toBe(T + WINDOW_MS + 1);
    });

    it('methodOpenAt takes nothing from the budget', async () => {
      const pacer = await make(LIMITS);
      for (let i = 0; i < 10; i += 1) expect(await pacer.methodOpenAt('chat.update', T)).toBe(T);
      for (let i = 0; i < 3; i += 1) expect(await pacer.tryStart('chat.update', `C${i}`, T)).toEqual({ granted: true });
      expect(await pacer.methodOpenAt('chat.update', T)).toBe(T + WINDOW_MS);
    });

    it('chat.postMessage has no budget: many channels at once are all granted', async () => {
      const pacer = await make(LIMITS);
      for (let i = 0; i < 60; i += 1) expect(await pacer.tryStart('chat.postMessage', `C${i}`, T)).toEqual({ granted: true });
      expect(await pacer.methodOpenAt('chat.postMessage', T)).toBe(T);
    });

    it("a refused call takes nothing: the budget's units go to calls that were granted", async () => {
      const pacer = await make(LIMITS);
      await pacer.tryStart('chat.postMessage', 'C1', T);
      await pacer.answered('C1', T);
      // Refused for the channel's gap: chat.update's budget is untouched.
      expect((await pacer.tryStart('chat.update', 'C1', T + 1)).granted).toBe(false);
      expect(await pacer.methodOpenAt('chat.update', T + 1)).toBe(T + 1);
      for (let i = 0; i < 3; i += 1) expect(await pacer.tryStart('chat.update', `D${i}`, T + 2)).toEqual({ granted: true });
    });

    it('a 429 on chat.postMessage pauses that channel for Retry-After, not the others nor the method', async () => {
      const pacer = await make(LIMITS);
      await pacer.tryStart('chat.postMessage', 'C1', T);
      await pacer.answered('C1', T + 10);
      await pacer.rateLimited('chat.postMessage', 'C1', 30_000, T + 10);
      expect(await pacer.tryStart('chat.postMessage', 'C1', T + 20_000)).toEqual({ granted: false, retryAt: T + 30_010 });
      expect(await pacer.tryStart('chat.postMessage', 'C2', T + 20_000)).toEqual({ granted: true });
      expect(await pacer.methodOpenAt('chat.postMessage', T + 20_000)).toBe(T + 20_000);
      expect(await pacer.tryStart('chat.postMessage', 'C1', T + 30_010)).toEqual({ granted: true });
    });

    it('a 429 on a tiered method pauses the method everywhere, and only it', async () => {
      const pacer = await make(LIMITS);
      await pacer.rateLimited('chat.update', 'C1', 5000, T);
      expect(await pacer.methodOpenAt('chat.update', T + 1)).toBe(T + 5000);
      expect(await pacer.tryStart('chat.update', 'C9', T + 1)).toEqual({ granted: false, retryAt: T + 5000 });
      expect(await pacer.tryStart('chat.postMessage', 'C9', T + 1)).toEqual({ granted: true });
      expect(await pacer.tryStart('chat.update', 'C8', T + 5000)).toEqual({ granted: true });
    });

    it('a read without a channel counts only its method: budget and pause', async () => {
      const pacer = await make(LIMITS);
      await pacer.tryStart('chat.postMessage', 'C1', T);
      await pacer.answered('C1', T);
      expect(await pacer.tryStart('chat.getPermalink', undefined, T + 1)).toEqual({ granted: true });
      expect(await pacer.tryStart('chat.getPermalink', undefined, T + 2)).toEqual({ granted: true });
      expect(await pacer.tryStart('chat.getPermalink', undefined, T + 3)).toEqual({ granted: false, retryAt: T + 1 + WINDOW_MS });
      await pacer.rateLimited('chat.getPermalink', undefined, 90_000, T + 4);
      expect(await pacer.methodOpenAt('chat.getPermalink', T + 1 + WINDOW_MS)).toBe(T + 90_004);
    });

    it('released lets a channel go without starting its gap', async () => {
      const pacer = await make(LIMITS);
      expect(await pacer.tryStart('chat.postMessage', 'C1', T)).toEqual({ granted: true });
      await pacer.released('C1');
      expect(await pacer.tryStart('chat.postMessage', 'C1', T + 1)).toEqual({ granted: true });
    });
  });
}
