/**
 * Every floor the bench compares the bot with, computed from configuration and physics only: the provider's
 * `info.limits` (src/providers/<name>/info.ts), its batch sizes, the simulator's reboot duration, the configured
 * verification schedule (src/jobs/verifier.ts DEFAULT_VERIFY) and Huawei's job-poll schedule
 * (src/providers/registry.ts DEFAULT_PROVIDER_TUNING, src/providers/huawei/job-follower.ts), and Slack's write rule.
 * Nothing here looks at what the bot did: a slower bot cannot move a floor, only its ratio.
 *
 * Configured delays are part of a floor on purpose: the bot cannot know a reboot finished before it looks, and it
 * looks when its schedule says. Call latency on loopback is taken as zero, so every floor is a true lower bound.
 */
import type { RateLimits } from '../src/providers/provider.js';
import { RESULTS_BUDGET } from '../src/slack/messages.js';

/** Slack: 1 chat.postMessage per second per channel (https://api.slack.com/apis/rate-limits , "Special" tier). */
export const SLACK_WRITE_MS = 1000;
/** Slack's acknowledgement deadline (https://api.slack.com/interactivity/handling#acknowledgment_response). */
export const ACK_DEADLINE_MS = 3000;
/** Jobs over this many instances also get a CSV file in the thread (src/slack/reporter.ts RESULTS_FILE_MIN_INSTANCES − 1). */
export const CSV_ABOVE_INSTANCES = 1000;
/** Longest name a compact result line shows (src/slack/messages.ts NAME_MAX). */
const COMPACT_NAME_MAX = 40;

/** A back-off schedule: the first wait, then each wait `growth` times the last, capped. */
export interface Backoff {
  firstMs: number;
  /** The second wait (verification: intervalMs); later ones grow from it. Defaults to firstMs × growth. */
  secondMs?: number;
  growth: number;
  maxMs: number;
}

/** The offsets, from the start, at which a schedule looks, until one is at or after `atLeastMs`: that one. */
export function firstLookAtOrAfter(schedule: Backoff, atLeastMs: number): number {
  let at = schedule.firstMs;
  let wait = Math.min(schedule.maxMs, schedule.secondMs ?? schedule.firstMs * schedule.growth);
  while (at < atLeastMs) {
    at += wait;
    wait = Math.min(schedule.maxMs, wait * schedule.growth);
  }
  return at;
}

/** How many looks a schedule makes up to and including its first one at or after `atLeastMs`. */
export function looksUntil(schedule: Backoff, atLeastMs: number): number {
  let at = schedule.firstMs;
  let wait = Math.min(schedule.maxMs, schedule.secondMs ?? schedule.firstMs * schedule.growth);
  let looks = 1;
  while (at < atLeastMs) {
    at += wait;
    wait = Math.min(schedule.maxMs, wait * schedule.growth);
    looks += 1;
  }
  return looks;
}

export interface CloudModel {
  instances: number;
  /** ProviderInfo.maxBatch: instance ids per reboot call. */
  maxBatch: number;
  /** ProviderInfo.maxDescribe: instance ids per read call. */
  maxDescribe: number;
  /** ProviderInfo.limits (after configuration overrides). */
  limits: RateLimits;
  /** Refill period of `limits.instancesPerMinute` (one minute; src/app.ts DEFAULT_TUNING.budgetPeriodMs). */
  budgetPeriodMs: number;
  /** Physics: how long one reboot takes in the simulator (the instance is running again after it). */
  rebootMs: number;
  /** Async clouds (Huawei): the job poll schedule and when the cloud job's last sub-job ends after rebootMs. */
  asyncJob?: { poll: Backoff; spreadMs: number };
  /** Verification's read schedule (firstReadMs, then intervalMs growing by half up to maxIntervalMs); none with --no-verify. */
  verify?: Backoff;
  /**
   * A cloud whose reads carry no clock that proves a reboot (Baidu): verification must see the reboot under way, so
   * each instance is first read within this long of its reboot call (firstReadMs, "first read within a second",
   * src/jobs/verifier.ts). Absent where a clock proves it, or where the job poll proves it (Huawei).
   */
  earlyLookWithinMs?: number;
}

/**
 * When each reboot call may start: `minTimeMs` apart (bottleneck's minTime), and no sooner than the instance budget
 * (instancesPerMinute, refilled each period) has room for every instance sent so far. maxConcurrent does not bind
 * with zero-latency calls.
 */
export function rebootCallStarts(m: CloudModel): number[] {
  const calls = Math.ceil(m.instances / m.maxBatch);
  const starts: number[] = [];
  for (let k = 0; k < calls; k++) {
    const sentThrough = Math.min(m.instances, (k + 1) * m.maxBatch);
    const budget = m.limits.instancesPerMinute;
    const refillsNeeded = budget === undefined ? 0 : Math.ceil(sentThrough / budget) - 1;
    starts.push(Math.max(k * m.limits.minTimeMs, refillsNeeded * m.budgetPeriodMs));
  }
  return starts;
}

/**
 * The cloud part's floor (approval → last outcome), in ms:
 * - without verification: the last reboot call's start; for an async cloud, plus its first job poll at or after the
 *   cloud job's end (rebootMs + spreadMs);
 * - with verification: the last batch must be read back running. Its first read at or after rebootMs (or, on an async
 *   cloud, the first read after the poll that proved the job), plus the read calls that batch needs, minTimeMs apart.
 *   On a cloud without a clock that proves the reboot, the last reboot call itself comes later: the early reads made
 *   while sending take limiter slots too (sendSpanWithEarlyLooks).
 *   Nor can it beat every call the job needs at all: one reboot call per batch and, for each look the schedule makes
 *   until the reboot is over, one read per maxDescribe instances, each call minTimeMs after the last.
 */
export function cloudFloorMs(m: CloudModel): number {
  const starts = rebootCallStarts(m);
  const last = Math.max(starts[starts.length - 1] ?? 0, m.verify && m.earlyLookWithinMs ? sendSpanWithEarlyLooks(starts.length, m.limits.minTimeMs, m.earlyLookWithinMs) : 0);
  const lastBatch = m.instances - (starts.length - 1) * m.maxBatch;
  const readsOfLastBatch = Math.ceil(lastBatch / m.maxDescribe);
  const polled = m.asyncJob ? firstLookAtOrAfter(m.asyncJob.poll, m.rebootMs + m.asyncJob.spreadMs) : 0;
  if (!m.verify) return last + polled;
  // After a proving poll the instance is already back: the first read after it suffices.
  const seenBack = m.asyncJob ? polled + m.verify.firstMs : firstLookAtOrAfter(m.verify, m.rebootMs);
  const lastConfirmed = last + seenBack + (readsOfLastBatch - 1) * m.limits.minTimeMs;
  const looks = m.asyncJob ? 1 : looksUntil(m.verify, m.rebootMs);
  const allCalls = (starts.length + looks * Math.ceil(m.instances / m.maxDescribe) - 1) * m.limits.minTimeMs;
  return Math.max(lastConfirmed, allCalls);
}

/**
 * From the first reboot call to the last, when instances must also be read within `withinMs` of their reboot call
 * while the reboots are still being sent: at least one read call every `withinMs`, and every call, read or reboot,
 * takes its own `minTimeMs` of the same limiter, so the reads stretch the sending they must keep up with.
 */
export function sendSpanWithEarlyLooks(calls: number, minTimeMs: number, withinMs: number): number {
  if (calls <= 1 || minTimeMs <= 0) return 0;
  if (withinMs <= minTimeMs) throw new Error('a read every minTimeMs leaves no slot for the reboots');
  let reads = 0;
  for (;;) {
    const span = (calls - 1 + reads) * minTimeMs;
    const needed = Math.floor(span / withinMs);
    if (needed <= reads) return span;
    reads = needed;
  }
}

/** One instance's characters in the compact results layout: `id  name` and its line break (src/slack/messages.ts). */
export function compactLineChars(id: string, name: string | undefined): number {
  return id.length + (name ? 2 + Math.min(COMPACT_NAME_MAX, name.length) : 0) + 1;
}

/**
 * The fewest chat.postMessage writes to a job's channel after approval that Slack's rules leave room for: results
 * messages filled to the message budget (RESULTS_BUDGET characters, under Slack's msg_blocks_too_long limit), the
 * summary, and, above 1,000 instances, the message sharing the CSV file. Card updates (chat.update) are not paced
 * per channel and are not counted.
 */
export function slackWritesFloor(instances: number, resultChars: number): number {
  return Math.ceil(resultChars / RESULTS_BUDGET) + 1 + (instances > CSV_ABOVE_INSTANCES ? 1 : 0);
}

/**
 * End to end (approval → last Slack write): the cloud floor, then every required write 1 s apart (the issue's
 * yardstick; not a strict lower bound, since results messages may go out while the cloud part still runs).
 */
export function endToEndFloorMs(cloudFloor: number, writes: number): number {
  return cloudFloor + writes * SLACK_WRITE_MS;
}

// ---- targets ----------------------------------------------------------------------------------------

export type Verdict = 'PASS' | 'MISS';

export interface Figure {
  name: string;
  value: string;
  target: string;
  verdict: Verdict;
}

/** Wall time against a floor: at most `ratio` × the floor (1.10 for the cloud part). */
export function withinRatio(name: string, measuredMs: number, floorMs: number, ratio: number): Figure {
  const r = floorMs > 0 ? measuredMs / floorMs : Number.POSITIVE_INFINITY;
  return {
    name,
    value: `${s(measuredMs)} / floor ${s(floorMs)} = ${r.toFixed(2)}`,
    target: `≤ ${ratio.toFixed(2)}`,
    verdict: measuredMs <= floorMs * ratio ? 'PASS' : 'MISS',
  };
}

/** Wall time against a floor plus a fixed allowance (end to end: floor + 10 s). */
export function withinAllowance(name: string, measuredMs: number, floorMs: number, allowanceMs: number): Figure {
  return {
    name,
    value: `${s(measuredMs)} / floor ${s(floorMs)}`,
    target: `≤ floor + ${s(allowanceMs)}`,
    verdict: measuredMs <= floorMs + allowanceMs ? 'PASS' : 'MISS',
  };
}

/** A count or amount against a ceiling. */
export function atMost(name: string, measured: number, ceiling: number, unit = ''): Figure {
  return { name, value: `${measured}${unit}`, target: `≤ ${ceiling}${unit}`, verdict: measured <= ceiling ? 'PASS' : 'MISS' };
}

function s(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
