/**
 * One stage of the bench: a fake Slack that enforces Slack's rate limits, the simulators, and the bot in its own
 * process, configured as production is (defaults everywhere; the simulators' reboots take REBOOT_MS).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeSlack, type FakeCall, type FakeMessage } from '../src/local/fake-slack.js';
import { SLACK_LIMITS } from '../src/local/slack-limits.js';
import { startSimulators, type SimulatorSet } from '../src/local/simulators.js';
import { findButtonValue } from '../src/local/slack-driver.js';
import type { ProviderName } from '../src/providers/provider.js';
import { BenchChild, type JobTimes } from './ipc.js';

/** Physics of the simulators: one reboot takes 3 s, long enough for the first read (1 s) to see it under way. */
export const REBOOT_MS = 3000;
export const SIGNING_SECRET = 'bench-signing-secret';
export const APPROVER = 'U0APPROVER';
export const REQUESTER = 'U0REQUESTER';
/** The methods that write to a channel. */
export const WRITE_METHODS: ReadonlySet<string> = new Set(['chat.postMessage', 'chat.update', 'files.completeUploadExternal']);

export interface Stage {
  slack: FakeSlack;
  sims: SimulatorSet;
  bot: BenchChild;
  close(): Promise<void>;
}

export async function startStage(providers: readonly ProviderName[], env: Record<string, string> = {}): Promise<Stage> {
  const dir = mkdtempSync(join(tmpdir(), 'reboot-bench-'));
  const slack = new FakeSlack({ slackLimits: SLACK_LIMITS });
  await slack.start();
  const sims = await startSimulators({ providers, rebootMs: REBOOT_MS });
  const bot = await BenchChild.start(new URL('./child.js', import.meta.url), {
    ...sims.env,
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    PORT: '0',
    REBOOT_APPROVERS: APPROVER,
    REBOOT_DB: join(dir, 'bench.db'),
    REBOOT_MAX_INSTANCES: '5000',
    ...env,
  });
  return {
    slack,
    sims,
    bot,
    async close() {
      // A profiled bot must exit on its own to write its profile (bench/ipc.ts).
      await (process.env.BENCH_CPU_PROF ? bot.stop(30_000) : bot.kill());
      await sims.stop();
      await slack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function channelOf(call: FakeCall): string | undefined {
  const c = call.args.channel ?? call.args.channel_id;
  return typeof c === 'string' ? c : undefined;
}

/** Waits until `channel` shows a card with an approve button; undefined if none came within `timeoutMs`. */
export async function cardIn(slack: FakeSlack, channel: string, timeoutMs: number): Promise<FakeMessage | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const card = slack.topLevel(channel).find((m) => findButtonValue(m.blocks, 'reboot_approve') !== undefined);
    if (card || Date.now() > until) return card;
    await sleep(100);
  }
}

/** Waits until Slack has had no call of `method` for `quietMs`; false if that did not happen within `timeoutMs`. */
export async function quietFor(slack: FakeSlack, method: string, quietMs: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    let last = 0;
    for (let i = slack.calls.length - 1; i >= 0 && last === 0; i--) if (slack.calls[i]!.method === method) last = slack.calls[i]!.at;
    if (Date.now() - last >= quietMs) return true;
    if (Date.now() > until) return false;
    await sleep(100);
  }
}

/** Polls the bot until every channel listed has a completed job, or the time is up. */
export async function completedJobs(bot: BenchChild, channels: readonly string[], timeoutMs: number): Promise<Map<string, JobTimes>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { jobs } = await bot.ask({ type: 'completed-jobs' });
    const byChannel = new Map(jobs.filter((j) => channels.includes(j.channel)).map((j) => [j.channel, j]));
    if (byChannel.size >= channels.length || Date.now() > until) return byChannel;
    await sleep(500);
  }
}

/** The most chat.postMessage attempts (429s included) to one channel inside any 1 s window. */
export function busiestChannelSecond(calls: readonly FakeCall[]): number {
  const byChannel = new Map<string, number[]>();
  for (const call of calls) {
    const channel = channelOf(call);
    if (call.method !== 'chat.postMessage' || channel === undefined) continue;
    byChannel.set(channel, [...(byChannel.get(channel) ?? []), call.at]);
  }
  let most = 0;
  for (const times of byChannel.values()) {
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      most = Math.max(most, i - j + 1);
    }
  }
  return most;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
