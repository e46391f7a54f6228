/**
 * 100 concurrent 20-instance jobs in 100 channels, with the incident channel hearing of each: the approve-click ack
 * p99 under 100 simultaneous clicks (against bare Bolt acking the same clicks just before), when the last incident
 * notice was posted after the last job completed, and how many calls Slack answered 429.
 */
import { cloudOf } from '../chaos/clouds.js';
import { Rng } from '../chaos/rng.js';
import { alibaba } from '../src/providers/alibaba/index.js';
import { findButtonValue } from '../src/local/slack-driver.js';
import { ackFigure } from './acks.js';
import type { FakeCall } from '../src/local/fake-slack.js';
import { atMost, type Figure } from './floors.js';
import type { BenchChild } from './ipc.js';
import { burst, clickBody, commandBody, poolFor } from './load.js';
import { APPROVER, busiestChannelSecond, cardIn, channelOf, completedJobs, REQUESTER, SIGNING_SECRET, sleep, startStage } from './stage.js';

const JOBS = 100;
const INSTANCES = 20;
const INCIDENT_CHANNEL = 'C0INCIDENT';
/** Target: the last incident notice at most this long after the last job completed. */
const INCIDENT_LAG_MS = 10_000;
/** How long past the last completion the bench waits for the writes still queued. */
const INCIDENT_WAIT_MS = 30_000;

export interface BusyResult {
  figures: Figure[];
  notes: string[];
  maxRss: number;
  busiestSecond: number;
}

export async function benchBusyChannels(bare: BenchChild): Promise<BusyResult> {
  const stage = await startStage(['alibaba'], { REBOOT_INCIDENT_CHANNEL: INCIDENT_CHANNEL });
  const sim = stage.sims.sims.alibaba!;
  const rng = new Rng(11);
  const channels = Array.from({ length: JOBS }, (_, i) => `C0BUSY${String(i).padStart(3, '0')}`);
  const regions = alibaba.info.regions;
  const botPool = poolFor(stage.bot.url, JOBS);
  const barePool = poolFor(bare.url, JOBS);
  try {
    // Jobs spread over Alibaba's regions, each region its own limiter (src/jobs/limiters.ts), as separate teams' would be.
    const commands = channels.map((channel, i) => {
      const region = regions[i % regions.length]!;
      const ids = Array.from({ length: INSTANCES }, () => cloudOf('alibaba').newId(rng));
      for (const id of ids) sim.fleet.add(region, id);
      return commandBody(REQUESTER, channel, `alibaba ${region} ${ids.join(' ')} --reason "bench busy"`, stage.slack.newResponseUrl());
    });
    await burst(botPool, SIGNING_SECRET, commands);
    const cards = await Promise.all(channels.map((c) => cardIn(stage.slack, c, 60_000)));
    if (cards.some((c) => c === undefined)) throw new Error('not every busy job got its card within 60 s');
    // No wait for the pre-flight card updates: chat.update's tier (50 a minute) spreads 100 of them over two
    // minutes, and clicks do not need them.
    const clicks = cards.map((card) =>
      clickBody(APPROVER, card!.channel, card!.ts, 'reboot_approve', findButtonValue(card!.blocks, 'reboot_approve')!, stage.slack.newResponseUrl()),
    );
    // Bare Bolt answers with the bot frozen (see bench/acks.ts); the bot then gets that time back idle.
    const frozenAt = Date.now();
    stage.bot.pause();
    const bareAnswers = await burst(barePool, SIGNING_SECRET, clicks).finally(() => stage.bot.resume());
    await sleep(Date.now() - frozenAt);
    const callsBefore = stage.slack.calls.length;
    const botAnswers = await burst(botPool, SIGNING_SECRET, clicks);
    const figures = ackFigure(`approve click × ${JOBS} simultaneous`, { bot: botAnswers.map((a) => a.ms), bare: bareAnswers.map((a) => a.ms) });

    const done = await completedJobs(stage.bot, channels, 180_000);
    const lastCompletion = Math.max(...[...done.values()].map((j) => j.completedAt ?? Number.POSITIVE_INFINITY));
    // The last notice is the post that brings the incident channel's "completed" notices to one per job; notices
    // may be merged into digests (one post for several jobs), so they are counted in the posts' text.
    const lastNoticeAt = await lastCompletionNotice(stage.slack.calls, JOBS, lastCompletion + INCIDENT_WAIT_MS);
    const posted = stage.slack.calls.filter((c) => c.method === 'chat.postMessage' && channelOf(c) === INCIDENT_CHANNEL && c.error === undefined);
    const lag = lastNoticeAt === undefined ? undefined : lastNoticeAt - lastCompletion;
    const calls = stage.slack.calls.slice(callsBefore);
    const rateLimited = calls.filter((c) => c.error === 'ratelimited').length;
    figures.push(
      done.size < JOBS
        ? { name: `${JOBS} jobs × ${INSTANCES}: jobs completed`, value: `${done.size} of ${JOBS} in 180 s`, target: `${JOBS}`, verdict: 'MISS' }
        : lag === undefined
          ? { name: `${JOBS} jobs: last incident notice after last completion`, value: `not every completion notice posted by +${INCIDENT_WAIT_MS / 1000} s (${posted.length} incident posts)`, target: `≤ ${INCIDENT_LAG_MS / 1000} s`, verdict: 'MISS' }
          : { name: `${JOBS} jobs: last incident notice after last completion`, value: `${(lag / 1000).toFixed(1)} s (${posted.length} posts)`, target: `≤ ${INCIDENT_LAG_MS / 1000} s`, verdict: lag <= INCIDENT_LAG_MS ? 'PASS' : 'MISS' },
      atMost(`${JOBS} jobs: calls answered 429`, rateLimited, 0),
    );
    const { bytes } = await stage.bot.ask({ type: 'max-rss' });
    return { figures, notes: [`${JOBS} jobs: Slack calls by method ${byMethod(calls)}`], maxRss: bytes, busiestSecond: busiestChannelSecond(calls) };
  } finally {
    await botPool.close();
    await barePool.close();
    await stage.close();
  }
}

/** When the incident channel's completion notices reached `jobs` (polling the fake Slack until `deadline`); undefined if never. */
async function lastCompletionNotice(calls: readonly FakeCall[], jobs: number, deadline: number): Promise<number | undefined> {
  for (;;) {
    let notices = 0;
    for (const call of calls) {
      if (call.method !== 'chat.postMessage' || channelOf(call) !== INCIDENT_CHANNEL || call.error !== undefined) continue;
      notices += String(call.args.text ?? '').split(' completed: ').length - 1;
      if (notices >= jobs) return call.at;
    }
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export function byMethod(calls: ReadonlyArray<{ method: string; error?: string }>): string {
  const counts = new Map<string, number>();
  for (const c of calls) counts.set(c.method, (counts.get(c.method) ?? 0) + 1);
  const limited = calls.filter((c) => c.error === 'ratelimited').length;
  return [...counts].map(([m, n]) => `${m} ${n}`).join(', ') + (limited ? ` (${limited} × 429)` : '');
}
