/**
 * Acknowledgement latency of `/reboot` under bursts of 50 concurrent commands, against a bare Bolt app (bench/bare-bolt.ts)
 * acking the same signed requests. Rounds alternate which app goes first, so neither always meets a busier machine;
 * the bot process is frozen while bare Bolt answers (its queued background work would otherwise slow the yardstick).
 */
import { performance } from 'node:perf_hooks';
import { ACK_DEADLINE_MS, type Figure } from './floors.js';
import type { BenchChild } from './ipc.js';
import { burst, commandBody, poolFor, quantile } from './load.js';
import { REQUESTER, SIGNING_SECRET, sleep, startStage } from './stage.js';
import { cloudOf } from '../chaos/clouds.js';
import { Rng } from '../chaos/rng.js';

export const CONCURRENT_COMMANDS = 50;
/** Ack p99 may be at most this many times bare Bolt's. */
export const ACK_RATIO = 1.5;

export interface AckSample {
  bot: number[];
  bare: number[];
}

export function ackFigure(name: string, sample: AckSample): Figure[] {
  const q = (xs: number[], p: number): string => quantile(xs, p).toFixed(0);
  const botP99 = quantile(sample.bot, 0.99);
  const bareP99 = quantile(sample.bare, 0.99);
  const late = sample.bot.filter((ms) => ms > ACK_DEADLINE_MS).length;
  return [
    {
      name: `${name}: ack p50/p99/max (n=${sample.bot.length})`,
      value: `${q(sample.bot, 0.5)}/${q(sample.bot, 0.99)}/${Math.max(...sample.bot).toFixed(0)} ms; bare Bolt ${q(sample.bare, 0.5)}/${q(sample.bare, 0.99)}/${Math.max(...sample.bare).toFixed(0)} ms; p99 ratio ${(botP99 / bareP99).toFixed(2)}`,
      target: `p99 ≤ ${ACK_RATIO}× bare`,
      verdict: botP99 <= ACK_RATIO * bareP99 ? 'PASS' : 'MISS',
    },
    { name: `${name}: acks past Slack's 3 s`, value: `${late} of ${sample.bot.length}`, target: '0', verdict: late === 0 ? 'PASS' : 'MISS' },
  ];
}

/** Between two bursts to the bot: time for the work one burst causes (50 cards, 50 pre-flight reads). */
const BURST_GAP_MS = 1000;
/** Unmeasured bursts to each app before the rounds. */
const WARM_UP_BURSTS = 3;

export async function benchCommandAcks(bare: BenchChild, rounds: number): Promise<{ figures: Figure[]; maxRss: number }> {
  const stage = await startStage(['alibaba']);
  const sim = stage.sims.sims.alibaba!;
  const rng = new Rng(7);
  const botPool = poolFor(stage.bot.url, CONCURRENT_COMMANDS);
  const barePool = poolFor(bare.url, CONCURRENT_COMMANDS);
  const sample: AckSample = { bot: [], bare: [] };
  try {
    const bodies = (): string[] =>
      Array.from({ length: CONCURRENT_COMMANDS }, (_, i) => {
        const id = cloudOf('alibaba').newId(rng);
        sim.fleet.add('cn-hangzhou', id);
        return commandBody(REQUESTER, `C0ACK${String(i).padStart(2, '0')}`, `alibaba cn-hangzhou ${id} --reason "bench ack"`, stage.slack.newResponseUrl());
      });
    // Warm-up bursts, as many for each app: connections open, code paths compiled. After one, the bot's first two
    // measured bursts still took half as long again as its later ones (V8 had not yet optimised its code), which
    // is start-up, not the steady state this figure is about. Each bot burst has the same BURST_GAP_MS as any
    // other to post its cards and start its reads, or the first measured burst would meet that work.
    for (let w = 0; w < WARM_UP_BURSTS; w++) {
      await burst(botPool, SIGNING_SECRET, bodies());
      await sleep(BURST_GAP_MS);
      await burst(barePool, SIGNING_SECRET, bodies());
    }
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['bot', 'bare'] as const) : (['bare', 'bot'] as const);
      for (const who of order) {
        // The bot is frozen while bare Bolt answers, so its background work does not slow the yardstick down, and
        // then gets the frozen time back idle before anything else is asked of it, so it loses no time either.
        const frozenAt = performance.now();
        if (who === 'bare') stage.bot.pause();
        const answers = await burst(who === 'bot' ? botPool : barePool, SIGNING_SECRET, bodies()).finally(() => {
          if (who === 'bare') stage.bot.resume();
        });
        if (who === 'bare') await sleep(performance.now() - frozenAt);
        // The load is a burst of 50 commands, not 50 more every few milliseconds: the next burst comes once the bot has
        // had BURST_GAP_MS to post the cards and start the reads this one caused.
        if (who === 'bot') await sleep(BURST_GAP_MS);
        const bad = answers.find((a) => a.status !== 200);
        if (bad) throw new Error(`${who} answered ${bad.status} to a signed /reboot`);
        sample[who].push(...answers.map((a) => a.ms));
      }
    }
    const { bytes } = await stage.bot.ask({ type: 'max-rss' });
    return { figures: ackFigure(`/reboot × ${CONCURRENT_COMMANDS} concurrent`, sample), maxRss: bytes };
  } finally {
    await botPool.close();
    await barePool.close();
    await stage.close();
  }
}
