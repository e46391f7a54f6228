/**
 * Two bot processes as replicas (`node dist/src/main.js`, chaos/bot-process.ts) on one PostgreSQL database and one
 * Redis, with the fake Slack and the Alibaba simulator in the test process, for test/replicas/two-replicas.test.ts;
 * and what the tests measure from outside: request arrivals at the cloud, writes per Slack channel.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { BotProcess } from '../../chaos/bot-process.js';
import { cardsOf, isSummary, threadOf } from '../../chaos/observe.js';
import { expectSoon, poll } from '../../chaos/wait.js';
import { FakeSlack, type FakeCall, type FakeMessage } from '../../src/local/fake-slack.js';
import { findButtonValue, SlackDriver } from '../../src/local/slack-driver.js';
import { SLACK_LIMITS } from '../../src/local/slack-limits.js';
import { startSimulators, type SimulatorSet } from '../../src/local/simulators.js';
import { SimulatorServer } from '../../src/providers/simulator-kit.js';
import { freshDatabase } from './pg.js';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from './redis.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REGION = 'cn-hangzhou';
export const REQUESTER = 'U0TWOREQUESTER';
export const APPROVER = 'U0TWOAPPROVER';
export const CHANNEL = 'C0TWOOPS';
export const OTHER_CHANNEL = 'C0TWOOPS2';
export const INCIDENT = 'C0TWOINCIDENT';
export const APPROVE = 'reboot_approve';
/** How long a silent replica counts as alive (REBOOT_REPLICA_TIMEOUT): short, as a test can afford. */
export const REPLICA_TIMEOUT = '2s';
/** Slack's floor between two writes to one channel (https://api.slack.com/methods/chat.postMessage#rate_limiting). */
export const CHANNEL_WRITE_MS = 1000;
/**
 * Arrival times are read by the fake Slack and the simulator once the request's body is in, so two writes the pacer
 * spaced by exactly the gap may land a few ms closer; far below what an unshared pacer would show (two writes at once).
 */
export const ARRIVAL_SLACK_MS = 30;

/** Alibaba instance ids (i- and 8-32 lowercase letters or digits), unique per test by `tag`. */
export function idsOf(tag: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `i-${tag}${String(i).padStart(5, '0')}`);
}

/**
 * One test's world: the fake Slack and the Alibaba simulator here, a fresh PostgreSQL database, a Redis key prefix of
 * its own, and two bot processes on them.
 */
export class TwoReplicaLab {
  readonly replicas: BotProcess[] = [];
  readonly drivers: SlackDriver[] = [];
  private constructor(
    readonly slack: FakeSlack,
    readonly sims: SimulatorSet,
    readonly db: { url: string; drop(): Promise<void> },
    readonly prefix: string,
    readonly dir: string,
    private readonly signingSecret: string,
  ) {}

  /**
   * `config` is REBOOT_CONFIG's JSON (e.g. provider limits); `slackLimits` makes the fake Slack refuse what real Slack
   * would; `prefixPerReplica` gives each replica a Redis prefix of its own (under the lab's), so they share nothing in
   * Redis: the controls.
   */
  static async create(opts: { config?: object; slackLimits?: boolean; prefixPerReplica?: boolean } = {}): Promise<TwoReplicaLab> {
    const slack = new FakeSlack(opts.slackLimits ? { slackLimits: SLACK_LIMITS } : {});
    await slack.start();
    const sims = await startSimulators({ providers: ['alibaba'], rebootMs: 100 });
    const db = await freshDatabase();
    const lab = new TwoReplicaLab(slack, sims, db, uniquePrefix(), mkdtempSync(join(tmpdir(), 'reboot-two-replicas-')), randomBytes(24).toString('hex'));
    const configFile = join(lab.dir, 'config.json');
    writeFileSync(configFile, `${JSON.stringify(opts.config ?? {})}\n`);
    for (const name of ['a', 'b']) {
      lab.replicas.push(
        new BotProcess({
          cwd: repoRoot,
          logFile: join(lab.dir, `replica-${name}.log`),
          readyTimeoutMs: 20_000,
          env: {
            SLACK_BOT_TOKEN: slack.botToken,
            SLACK_SIGNING_SECRET: lab.signingSecret,
            SLACK_API_URL: slack.apiUrl,
            REBOOT_APPROVERS: APPROVER,
            REBOOT_INCIDENT_CHANNEL: INCIDENT,
            // Unused with REBOOT_DATABASE_URL; set so that no replica could fall back to a shared ./data file.
            REBOOT_DB: join(lab.dir, `replica-${name}.db`),
            REBOOT_DATABASE_URL: db.url,
            REBOOT_REDIS_URL: TEST_REDIS_URL,
            REBOOT_REDIS_PREFIX: opts.prefixPerReplica ? `${lab.prefix}-${name}` : lab.prefix,
            REBOOT_REPLICA_TIMEOUT: REPLICA_TIMEOUT,
            REBOOT_CONFIG: configFile,
            ...sims.env,
          },
        }),
      );
    }
    return lab;
  }

  /** Starts both replicas, both at once as a deployment does: they migrate the one schema under its advisory lock. */
  async startReplicas(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.start()));
    this.drivers.push(...this.replicas.map((r) => new SlackDriver(r.url, this.signingSecret, this.slack)));
  }

  get alibaba(): SimulatorServer {
    const sim = this.sims.sims.alibaba;
    if (!(sim instanceof SimulatorServer)) throw new Error('no Alibaba simulator');
    return sim;
  }

  /**
   * Sends `/reboot <text>` to one replica and waits for the card of that request in `channel` (found by the request id of
   * the reply: two requests sent at once must not take each other's card), until it can be clicked; returns it and the id.
   */
  async request(replica: number, channel: string, text: string): Promise<{ card: FakeMessage; jobId: string }> {
    const reply = await this.driver(replica).command(REQUESTER, channel, text);
    if (reply.status !== 200) throw new Error(`/reboot at replica ${replica} answered HTTP ${reply.status}: ${reply.body.slice(0, 200)}`);
    const jobId = /`(r-[a-z2-7]{10})`/.exec(reply.body)?.[1];
    if (!jobId) throw new Error(`no request id in the reply of replica ${replica}: ${reply.body.slice(0, 200)}`);
    // Clickable once the bot has stored Slack's answer to the card (a click on a card it has not confirmed is refused,
    // src/jobs/requests.ts, card-unconfirmed): its first update (pre-flight's reading) shows it has.
    const card = await expectSoon(
      () => cardsOf(this.slack.messages, channel).find((c) => findButtonValue(c.blocks, APPROVE) === jobId && c.updates > 0),
      `the card of ${jobId}, updated by pre-flight`,
      30_000,
    );
    return { card, jobId };
  }

  /** The approver clicks Approve on `card`, the click going to one replica. */
  async approve(replica: number, card: FakeMessage): Promise<void> {
    const ack = await this.driver(replica).clickButton(APPROVER, card, APPROVE);
    if (ack.status !== 200) throw new Error(`the Approve click at replica ${replica} answered HTTP ${ack.status}`);
  }

  /** Waits for the job's summary in the thread of its card, then for Slack to stay quiet a while (late duplicates come within it). */
  async finished(channel: string, jobIds: readonly string[], timeoutMs = 60_000): Promise<void> {
    await expectSoon(
      () => jobIds.every((id) => threadOf(this.slack.messages, channel).some((m) => isSummary(m, id))),
      `the summaries of ${jobIds.join(', ')}`,
      timeoutMs,
    );
    await this.quiet(2500);
  }

  /** Resolves once no Slack call has arrived for `ms`. */
  async quiet(ms: number): Promise<void> {
    await poll(() => Date.now() - (this.slack.calls.at(-1)?.at ?? 0) >= ms, 30_000, 100);
  }

  driver(replica: number): SlackDriver {
    const driver = this.drivers[replica];
    if (!driver) throw new Error(`no replica ${replica}`);
    return driver;
  }

  /** The replicas' warnings and errors, for a failing test's message. */
  logTail(): string {
    return this.replicas
      .map((_, i) => {
        const file = join(this.dir, `replica-${'ab'[i]}.log`);
        let lines: string[] = [];
        try {
          lines = readFileSync(file, 'utf8')
            .split('\n')
            .filter((l) => /"level":"?(warn|error|40|50)|^reboot-bot:|Error/.test(l))
            .slice(-15);
        } catch {
          lines = ['(no log)'];
        }
        return `replica ${'ab'[i]} (${file}):\n${lines.map((l) => `  ${l.slice(0, 400)}`).join('\n')}`;
      })
      .join('\n');
  }

  /** Stops the replicas, the fake Slack and the simulator; drops the database and the run's Redis keys (through `redis`). */
  async stop(keepDir: boolean, redis: Redis): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.stop(5000)));
    await Promise.all([this.slack.stop(), this.sims.stop()]);
    await this.db.drop().catch(() => undefined);
    await deleteKeys(redis, this.prefix);
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Writes to `channel` (posts and updates, refused ones included), in order of arrival. */
export function channelWrites(calls: readonly FakeCall[], channel: string): FakeCall[] {
  return calls.filter((c) => (c.method === 'chat.postMessage' || c.method === 'chat.update') && c.args.channel === channel).sort((a, b) => a.at - b.at);
}

/** The shortest time between two consecutive entries of sorted times; Infinity for fewer than two. */
export function shortestGap(times: readonly number[]): number {
  let gap = Infinity;
  for (let i = 1; i < times.length; i += 1) gap = Math.min(gap, times[i]! - times[i - 1]!);
  return gap;
}

/** The most entries of sorted `times` inside any window [t, t + windowMs). */
export function peakInWindow(times: readonly number[], windowMs: number): number {
  let peak = 0;
  for (let first = 0, last = 0; first < times.length; first += 1) {
    while (last < times.length && times[last]! < times[first]! + windowMs) last += 1;
    peak = Math.max(peak, last - first);
  }
  return peak;
}

/**
 * The cloud's flow control as the test's simulator applies it: it records when each request arrives and answers
 * Throttling (a fault of the simulator's own queue, so with Alibaba's own error) to any that would make more than
 * `perWindow` accepted requests within `windowMs`. Returns the arrival times and how many were throttled.
 */
export function flowControl(sim: SimulatorServer, perWindow: number, windowMs: number): { arrivals: number[]; throttled: () => number; disarm: () => void } {
  const arrivals: number[] = [];
  const accepted: number[] = [];
  let throttled = 0;
  const disarm = sim.onRequest(() => {
    const now = Date.now();
    arrivals.push(now);
    while (accepted.length > 0 && accepted[0]! <= now - windowMs) accepted.shift();
    if (accepted.length >= perWindow) {
      throttled += 1;
      sim.faults.inject({ kind: 'throttle', count: 1 });
    } else {
      accepted.push(now);
    }
  });
  return { arrivals, throttled: () => throttled, disarm };
}
