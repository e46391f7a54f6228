/**
 * 1,000 instances on each cloud, verified (the default) and with --no-verify, and 5,000 on Alibaba, all in one bot
 * at once: each job in its own region (each region has its own limiter, src/jobs/limiters.ts) and its own channel.
 * For each: the cloud part (approval → the job's completion, when its last outcome is stored) against its limiter
 * floor, and end to end (approval → the last Slack write in its channel) against cloud floor + 1 s per required write.
 */
import { cloudOf } from '../chaos/clouds.js';
import { Rng } from '../chaos/rng.js';
import { DEFAULT_TUNING } from '../src/app.js';
import { findButtonValue } from '../src/local/slack-driver.js';
import { defaultCatalog } from '../src/providers/catalog.js';
import type { ProviderName } from '../src/providers/provider.js';
import { DEFAULT_PROVIDER_TUNING } from '../src/providers/registry.js';
import { byMethod } from './busy.js';
import { cloudFloorMs, compactLineChars, endToEndFloorMs, slackWritesFloor, withinAllowance, withinRatio, type Backoff, type CloudModel, type Figure } from './floors.js';
import { burst, clickBody, commandBody, poolFor } from './load.js';
import { APPROVER, busiestChannelSecond, cardIn, channelOf, completedJobs, REBOOT_MS, REQUESTER, SIGNING_SECRET, sleep, startStage, WRITE_METHODS } from './stage.js';

export const CLOUD_RATIO = 1.1;
export const END_TO_END_ALLOWANCE_MS = 10_000;

/** Verification's schedule as configured: first read, then intervalMs growing by half to maxIntervalMs (src/jobs/verifier.ts). */
const VERIFY_SCHEDULE: Backoff = { firstMs: DEFAULT_TUNING.verifyFirstReadMs, secondMs: DEFAULT_TUNING.verifyIntervalMs, growth: 1.5, maxMs: DEFAULT_TUNING.verifyMaxIntervalMs };
/** On a cloud whose reads carry a clock that proves the reboot, the early look is skipped: first intervalMs (src/jobs/verifier.ts). */
const CLOCKED_VERIFY_SCHEDULE: Backoff = { firstMs: DEFAULT_TUNING.verifyIntervalMs, growth: 1.5, maxMs: DEFAULT_TUNING.verifyMaxIntervalMs };
/**
 * Clouds whose reboot is an async job the bot polls: Huawei (src/providers/huawei/job-follower.ts: first poll after
 * initialDelayMs, each wait 1.5× the last up to maxDelayMs). Its simulator ends sub-job i of n at rebootMs + spread·i/n,
 * spread rebootMs / 2 by default (src/providers/huawei/simulator.ts).
 */
const ASYNC_JOBS: Partial<Record<ProviderName, CloudModel['asyncJob']>> = {
  huawei: { poll: { firstMs: DEFAULT_PROVIDER_TUNING.poll.initialDelayMs, growth: 1.5, maxMs: DEFAULT_PROVIDER_TUNING.poll.maxDelayMs }, spreadMs: REBOOT_MS / 2 },
};

interface Plan {
  label: string;
  provider: ProviderName;
  region: string;
  channel: string;
  ids: string[];
  verify: boolean;
}

export interface CloudsResult {
  figures: Figure[];
  notes: string[];
  maxRss: number;
  busiestSecond: number;
  rateLimited: number;
}

export function plans(instances: number, big: number, only: readonly ProviderName[]): Plan[] {
  const rng = new Rng(42);
  const list: Plan[] = [];
  for (const provider of only) {
    const info = defaultCatalog.get(provider)!.info;
    for (const verify of [true, false]) {
      const region = info.regions[verify ? 0 : 1]!;
      const ids = Array.from({ length: instances }, () => cloudOf(provider).newId(rng));
      list.push({ label: `${provider} ${instances}${verify ? '' : ' --no-verify'}`, provider, region, channel: `C0${provider.toUpperCase()}${verify ? 'V' : 'N'}`, ids, verify });
    }
  }
  if (big > 0) {
    const info = defaultCatalog.get('alibaba')!.info;
    list.push({ label: `alibaba ${big} in one request`, provider: 'alibaba', region: info.regions[2]!, channel: 'C0ALIBABABIG', ids: Array.from({ length: big }, () => cloudOf('alibaba').newId(rng)), verify: true });
  }
  return list;
}

export async function benchClouds(instances: number, big: number, only: readonly ProviderName[]): Promise<CloudsResult> {
  const jobs = plans(instances, big, only);
  const providers = [...new Set(jobs.map((j) => j.provider))];
  const stage = await startStage(providers);
  const pool = poolFor(stage.bot.url, jobs.length);
  try {
    for (const job of jobs) for (const id of job.ids) stage.sims.sims[job.provider]!.fleet.add(job.region, id);
    const commands = jobs.map((j) => commandBody(REQUESTER, j.channel, `${j.provider} ${j.region} ${j.ids.join(' ')}${j.verify ? '' : ' --no-verify'} --reason "bench"`, stage.slack.newResponseUrl()));
    await burst(pool, SIGNING_SECRET, commands);
    const cards = await Promise.all(jobs.map((j) => cardIn(stage.slack, j.channel, 120_000)));
    if (cards.some((c) => c === undefined)) throw new Error('not every cloud job got its card within 120 s');
    // Pre-flight's reads and card update happen before approval: the clock starts at the click. The floor counts
    // from a limiter with no call behind it, so the clicks also wait out the spacing (minTimeMs) after pre-flight's
    // last read: on Huawei (500 ms) a click just after that read put its reboot call 450 ms past the approval.
    await stage.bot.ask({ type: 'settle', timeoutMs: 180_000 });
    await sleep(Math.max(...providers.map((p) => defaultCatalog.get(p)!.info.limits.minTimeMs)));
    const callsBefore = stage.slack.calls.length;
    const clicks = cards.map((card) => clickBody(APPROVER, card!.channel, card!.ts, 'reboot_approve', findButtonValue(card!.blocks, 'reboot_approve')!, stage.slack.newResponseUrl()));
    const answers = await burst(pool, SIGNING_SECRET, clicks);
    const done = await completedJobs(stage.bot, jobs.map((j) => j.channel), 600_000);
    // Whatever Slack writes remain (results held to fill up, the summary) go out before the end-to-end clock stops.
    await stage.bot.ask({ type: 'settle', timeoutMs: 180_000 });
    const calls = stage.slack.calls.slice(callsBefore);
    const figures: Figure[] = [];
    const notes: string[] = [
      `cloud floors (bench/floors.ts) rest on each cloud's info.limits and batch sizes, a simulated reboot of ${REBOOT_MS / 1000} s, zero call latency, and the waits the bot is configured to make before it can know: ` +
        `the first verification read ${VERIFY_SCHEDULE.firstMs / 1000} s after a reboot call (${CLOCKED_VERIFY_SCHEDULE.firstMs / 1000} s where a clock proves the reboot; where none does, every instance is read within ${DEFAULT_TUNING.verifyFirstReadMs / 1000} s of its call, so a read takes a limiter slot at least that often while the reboots are sent), then ${VERIFY_SCHEDULE.secondMs! / 1000} s growing ×${VERIFY_SCHEDULE.growth} to ${VERIFY_SCHEDULE.maxMs / 1000} s; ` +
        `Huawei's first job poll ${DEFAULT_PROVIDER_TUNING.poll.initialDelayMs / 1000} s after its call, then ×1.5 to ${DEFAULT_PROVIDER_TUNING.poll.maxDelayMs / 1000} s. ` +
        `End-to-end floors add 1 s per chat.postMessage Slack's 1 write/s/channel rule requires.`,
    ];
    jobs.forEach((job, i) => {
      const approvedAt = answers[i]!.sentAt;
      const info = defaultCatalog.get(job.provider)!.info;
      const model: CloudModel = {
        instances: job.ids.length,
        maxBatch: info.maxBatch,
        maxDescribe: info.maxDescribe,
        limits: info.limits,
        budgetPeriodMs: DEFAULT_TUNING.budgetPeriodMs,
        rebootMs: REBOOT_MS,
        ...(ASYNC_JOBS[job.provider] ? { asyncJob: ASYNC_JOBS[job.provider] } : {}),
        ...(job.verify ? { verify: info.clockProvesReboot ? CLOCKED_VERIFY_SCHEDULE : VERIFY_SCHEDULE } : {}),
        ...(job.verify && !info.clockProvesReboot && !ASYNC_JOBS[job.provider] ? { earlyLookWithinMs: DEFAULT_TUNING.verifyFirstReadMs } : {}),
      };
      const floor = cloudFloorMs(model);
      const times = done.get(job.channel);
      if (times?.completedAt == null) {
        figures.push({ name: `${job.label}: cloud part`, value: 'did not complete', target: `≤ ${CLOUD_RATIO}× floor`, verdict: 'MISS' });
        return;
      }
      figures.push(withinRatio(`${job.label}: cloud part`, times.completedAt - approvedAt, floor, CLOUD_RATIO));
      const sim = stage.sims.sims[job.provider]!;
      const chars = job.ids.reduce((sum, id) => sum + compactLineChars(id, sim.fleet.get(job.region, id)?.name), 0);
      const writes = slackWritesFloor(job.ids.length, chars);
      const mine = calls.filter((c) => channelOf(c) === job.channel);
      const lastWrite = Math.max(...mine.filter((c) => WRITE_METHODS.has(c.method) && c.error === undefined).map((c) => c.at));
      figures.push(withinAllowance(`${job.label}: end to end (${writes} writes)`, lastWrite - approvedAt, endToEndFloorMs(floor, writes), END_TO_END_ALLOWANCE_MS));
      notes.push(`${job.label}: Slack calls by method ${byMethod(mine)}`);
    });
    const { bytes } = await stage.bot.ask({ type: 'max-rss' });
    return { figures, notes, maxRss: bytes, busiestSecond: busiestChannelSecond(calls), rateLimited: calls.filter((c) => c.error === 'ratelimited').length };
  } finally {
    await pool.close();
    await stage.close();
  }
}
