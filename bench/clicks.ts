/**
 * The approve-click ack under 100 simultaneous clicks, over several rounds: each round stores 100 fresh 20-instance
 * requests in 100 channels, waits for their cards, then sends bare Bolt the 100 approve clicks (the bot frozen, as in
 * bench/acks.ts) and the bot the same clicks, and lets those jobs finish and post their threads before the next
 * round. One burst of 100 makes the p99 its second-slowest answer, and a single burst of bare Bolt's moved between
 * 41 and 95 ms from run to run; several rounds make both p99s figures of the apps rather than of one burst.
 */
import { cloudOf } from '../chaos/clouds.js';
import { Rng } from '../chaos/rng.js';
import { findButtonValue } from '../src/local/slack-driver.js';
import { alibaba } from '../src/providers/alibaba/index.js';
import { ackFigure, type AckSample } from './acks.js';
import type { Figure } from './floors.js';
import type { BenchChild } from './ipc.js';
import { burst, clickBody, commandBody, poolFor } from './load.js';
import { APPROVER, cardIn, completedJobs, quietFor, REQUESTER, SIGNING_SECRET, sleep, startStage, type Stage } from './stage.js';

export const CLICKS = 100;
export const INSTANCES_PER_JOB = 20;
/** Rounds of 100 clicks to each app. */
const ROUNDS = 3;
/** No chat.postMessage for this long: every channel's posts are out (each channel may post once a second). */
const POSTS_QUIET_MS = 2000;

/**
 * `channels.length` requests of 20 Alibaba instances each, one per channel, spread over Alibaba's regions (each region
 * its own limiter, src/jobs/limiters.ts, as separate teams' would be), sent at once; answers the approve click of
 * each card once every card is posted.
 */
export async function postedRequests(stage: Stage, channels: readonly string[], rng: Rng, reason: string): Promise<string[]> {
  const sim = stage.sims.sims.alibaba!;
  const regions = alibaba.info.regions;
  const commands = channels.map((channel, i) => {
    const region = regions[i % regions.length]!;
    const ids = Array.from({ length: INSTANCES_PER_JOB }, () => cloudOf('alibaba').newId(rng));
    for (const id of ids) sim.fleet.add(region, id);
    return commandBody(REQUESTER, channel, `alibaba ${region} ${ids.join(' ')} --reason "${reason}"`, stage.slack.newResponseUrl());
  });
  const pool = poolFor(stage.bot.url, channels.length);
  try {
    await burst(pool, SIGNING_SECRET, commands);
  } finally {
    await pool.close();
  }
  const cards = await Promise.all(channels.map((c) => cardIn(stage.slack, c, 60_000)));
  if (cards.some((c) => c === undefined)) throw new Error(`not every request got its card within 60 s (${reason})`);
  // No wait for the pre-flight card updates: chat.update's tier (50 a minute) spreads 100 of them over two
  // minutes, and clicks do not need them.
  return cards.map((card) => clickBody(APPROVER, card!.channel, card!.ts, 'reboot_approve', findButtonValue(card!.blocks, 'reboot_approve')!, stage.slack.newResponseUrl()));
}

/** The same clicks to bare Bolt (the bot frozen, then given that time back idle) and then to the bot. */
async function clickBoth(stage: Stage, bare: BenchChild, clicks: readonly string[]): Promise<AckSample> {
  const botPool = poolFor(stage.bot.url, clicks.length);
  const barePool = poolFor(bare.url, clicks.length);
  try {
    const frozenAt = Date.now();
    stage.bot.pause();
    const bareAnswers = await burst(barePool, SIGNING_SECRET, clicks).finally(() => stage.bot.resume());
    await sleep(Date.now() - frozenAt);
    const botAnswers = await burst(botPool, SIGNING_SECRET, clicks);
    const bad = [...bareAnswers, ...botAnswers].find((a) => a.status !== 200);
    if (bad) throw new Error(`an app answered ${bad.status} to a signed approve click`);
    return { bot: botAnswers.map((a) => a.ms), bare: bareAnswers.map((a) => a.ms) };
  } finally {
    await botPool.close();
    await barePool.close();
  }
}

export async function benchApproveClicks(bare: BenchChild): Promise<{ figures: Figure[]; maxRss: number }> {
  const stage = await startStage(['alibaba']);
  const rng = new Rng(13);
  const sample: AckSample = { bot: [], bare: [] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const channels = Array.from({ length: CLICKS }, (_, i) => `C0CLICK${round}${String(i).padStart(3, '0')}`);
      const clicks = await postedRequests(stage, channels, rng, 'bench clicks');
      const answers = await clickBoth(stage, bare, clicks);
      sample.bot.push(...answers.bot);
      sample.bare.push(...answers.bare);
      // Each round starts from the same state as the first: the jobs its clicks approved have finished and their
      // threads are posted. Without the second wait, the next round's clicks met a hundred summaries and result
      // messages being sent (a profile of that round showed them taking a third of the burst), which is no part of
      // acknowledging a click and which the first round never met.
      const done = await completedJobs(stage.bot, channels, 120_000);
      if (done.size < channels.length) throw new Error(`click round ${round}: ${done.size} of ${channels.length} jobs completed in 120 s`);
      if (!(await quietFor(stage.slack, 'chat.postMessage', POSTS_QUIET_MS, 60_000))) throw new Error(`click round ${round}: the jobs' posts did not end within 60 s`);
    }
    const { bytes } = await stage.bot.ask({ type: 'max-rss' });
    return { figures: ackFigure(`approve click × ${CLICKS} simultaneous, ${ROUNDS} rounds`, sample), maxRss: bytes };
  } finally {
    await stage.close();
  }
}
