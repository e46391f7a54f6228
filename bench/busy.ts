/**
 * 100 concurrent 20-instance jobs in 100 channels, with the incident channel hearing of each: when the last incident
 * notice was posted after the last job completed, and how many calls Slack answered 429. (The approve clicks that
 * start them are timed in bench/clicks.ts.)
 */
import { Rng } from '../chaos/rng.js';
import type { FakeCall } from '../src/local/fake-slack.js';
import { CLICKS, INSTANCES_PER_JOB, postedRequests } from './clicks.js';
import { atMost, type Figure } from './floors.js';
import { burst, poolFor } from './load.js';
import { busiestChannelSecond, channelOf, completedJobs, SIGNING_SECRET, startStage } from './stage.js';

const JOBS = CLICKS;
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

export async function benchBusyChannels(): Promise<BusyResult> {
  const stage = await startStage(['alibaba'], { REBOOT_INCIDENT_CHANNEL: INCIDENT_CHANNEL });
  const rng = new Rng(11);
  const channels = Array.from({ length: JOBS }, (_, i) => `C0BUSY${String(i).padStart(3, '0')}`);
  const botPool = poolFor(stage.bot.url, JOBS);
  try {
    const clicks = await postedRequests(stage, channels, rng, 'bench busy');
    // The approve-click ack is measured in bench/clicks.ts; these clicks start the 100 jobs.
    const callsBefore = stage.slack.calls.length;
    const approved = await burst(botPool, SIGNING_SECRET, clicks);
    const bad = approved.find((a) => a.status !== 200);
    if (bad) throw new Error(`the bot answered ${bad.status} to a signed approve click`);
    const done = await completedJobs(stage.bot, channels, 180_000);
    const lastCompletion = Math.max(...[...done.values()].map((j) => j.completedAt ?? Number.POSITIVE_INFINITY));
    // The last notice is the post that brings the incident channel's "completed" notices to one per job; notices
    // may be merged into digests (one post for several jobs), so they are counted in the posts' text.
    const lastNoticeAt = await lastCompletionNotice(stage.slack.calls, JOBS, lastCompletion + INCIDENT_WAIT_MS);
    const posted = stage.slack.calls.filter((c) => c.method === 'chat.postMessage' && channelOf(c) === INCIDENT_CHANNEL && c.error === undefined);
    const lag = lastNoticeAt === undefined ? undefined : lastNoticeAt - lastCompletion;
    const calls = stage.slack.calls.slice(callsBefore);
    const rateLimited = calls.filter((c) => c.error === 'ratelimited').length;
    const figures: Figure[] = [
      done.size < JOBS
        ? { name: `${JOBS} jobs × ${INSTANCES_PER_JOB}: jobs completed`, value: `${done.size} of ${JOBS} in 180 s`, target: `${JOBS}`, verdict: 'MISS' }
        : lag === undefined
          ? { name: `${JOBS} jobs: last incident notice after last completion`, value: `not every completion notice posted by +${INCIDENT_WAIT_MS / 1000} s (${posted.length} incident posts)`, target: `≤ ${INCIDENT_LAG_MS / 1000} s`, verdict: 'MISS' }
          : { name: `${JOBS} jobs: last incident notice after last completion`, value: `${(lag / 1000).toFixed(1)} s (${posted.length} posts)`, target: `≤ ${INCIDENT_LAG_MS / 1000} s`, verdict: lag <= INCIDENT_LAG_MS ? 'PASS' : 'MISS' },
      atMost(`${JOBS} jobs: calls answered 429`, rateLimited, 0),
    ];
    const { bytes } = await stage.bot.ask({ type: 'max-rss' });
    return { figures, notes: [`${JOBS} jobs: Slack calls by method ${byMethod(calls)}`], maxRss: bytes, busiestSecond: busiestChannelSecond(calls) };
  } finally {
    await botPool.close();
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
