/**
 * Issue 12 with real replicas: two bot processes (`node dist/src/main.js`, as `npm start` runs it; chaos/bot-process.ts)
 * on loopback, sharing one PostgreSQL database and one Redis, both serving Slack at once. The fake Slack and the
 * Alibaba simulator run in this process and see what both replicas do together:
 * - a command served by one replica and its approval click by the other run the job once;
 * - two jobs of 500 instances, approved at the same moment at the two replicas, hold one provider rate together (and a
 *   control, replicas on Redis prefixes of their own, shows the same measurement seeing the rate doubled);
 * - Slack writes to one channel from both replicas keep Slack's 1 per second per channel;
 * - in Socket Mode each replica opens its own connection, and an event may reach either (in-process bots there).
 * The lab (processes, fake Slack, simulator, measurements) is test/replicas/two-replica-lab.ts; the build is made current
 * by the suite's globalSetup (test/replicas/build-bot.ts).
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { incidentNotices, isSummary, measure, threadOf, ZERO } from '../../chaos/observe.js';
import { expectSoon, within } from '../../chaos/wait.js';
import { startBot, type RunningBot } from '../../src/app.js';
import { blockActionsPayload, findButtonValue, slashCommandFields } from '../../src/local/slack-driver.js';
import { silentLogger } from '../../src/log.js';
import { buildProviders } from '../../src/providers/registry.js';
import { rebootCalls } from '../helpers/cloud-requests.js';
import { APPROVER_1, CHANNEL as HARNESS_CHANNEL, FAST_TUNING, Harness, hasButtons, REQUESTER as HARNESS_REQUESTER } from '../helpers/harness.js';
import { SocketModeServer } from '../helpers/socket-mode-server.js';
import { freshDatabase, requirePostgres } from './pg.js';
import { connectTestRedis, deleteKeys, freePort, TEST_REDIS_URL, uniquePrefix } from './redis.js';
import {
  APPROVE,
  ARRIVAL_SLACK_MS,
  CHANNEL,
  CHANNEL_WRITE_MS,
  channelWrites,
  flowControl,
  idsOf,
  INCIDENT,
  OTHER_CHANNEL,
  peakInWindow,
  REGION,
  REPLICA_TIMEOUT,
  shortestGap,
  TwoReplicaLab,
} from './two-replica-lab.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function eventually(probe: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

beforeEach(requirePostgres);

// At load: a Redis that does not answer fails the whole file with the reason (no test is counted as skipped).
const redisAdmin: Redis = await connectTestRedis();
afterAll(() => redisAdmin.disconnect(false));

/**
 * 5 calls a second for Alibaba, reads and reboots together (src/jobs/limiters.ts: one `calls` limiter per provider,
 * account and region, shared through Redis by the replicas). REBOOT_CONFIG's `limits` sets it; maxConcurrent is high
 * enough that the gap, not the calls' latency, sets the pace.
 */
const MIN_TIME_MS = 200;
const PER_SECOND = 1000 / MIN_TIME_MS;
const RATE_CONFIG = { limits: { alibaba: { maxConcurrent: 5, minTimeMs: MIN_TIME_MS } } };

/**
 * Two requests of 500 instances, one at each replica at once, each approved at the other replica at once; returns what
 * the cloud saw. The simulated cloud throttles above the configured rate, with a margin of two calls a second: calls
 * the limiter started 200 ms apart reach it up to tens of ms closer (signing, a busy event loop releasing two granted
 * starts at once). Limiters of their own at each replica would run 10 a second whenever both work.
 */
async function thousandAtOnce(lab: TwoReplicaLab): Promise<{
  calls: number;
  meanPerSecond: number;
  peak: number;
  throttled: number;
  failedStatuses: number[];
  notOnce: string[];
  rebootCalls: number;
  seen: string;
}> {
  await lab.startReplicas();
  const sim = lab.alibaba;
  const first = idsOf('first', 500);
  const second = idsOf('second', 500);
  for (const id of [...first, ...second]) sim.fleet.add(REGION, id);
  const cloud = flowControl(sim, PER_SECOND + 2, 1000);

  // Each request in a channel of its own, so Slack's 1 write per second per channel does not set the pace.
  const [a, b] = await Promise.all([
    lab.request(0, CHANNEL, `alibaba ${REGION} ${first.join(' ')} --no-verify`),
    lab.request(1, OTHER_CHANNEL, `alibaba ${REGION} ${second.join(' ')} --no-verify`),
  ]);
  // Pre-flight (5 reads of 100 ids per request) has run at both replicas meanwhile; the approvals go out together.
  await Promise.all([lab.approve(1, a.card), lab.approve(0, b.card)]);
  await Promise.all([lab.finished(CHANNEL, [a.jobId], 90_000), lab.finished(OTHER_CHANNEL, [b.jobId], 90_000)]);
  cloud.disarm();

  const arrivals = [...cloud.arrivals].sort((x, y) => x - y);
  const spanMs = arrivals.at(-1)! - arrivals[0]!;
  const meanPerSecond = ((arrivals.length - 1) * 1000) / spanMs;
  const peak = peakInWindow(arrivals, 1000);
  return {
    calls: arrivals.length,
    meanPerSecond,
    peak,
    throttled: cloud.throttled(),
    failedStatuses: sim.requests.filter((r) => r.status !== 200).map((r) => r.status),
    notOnce: [...first, ...second].filter((id) => sim.fleet.get(REGION, id)?.rebootCount !== 1),
    rebootCalls: rebootCalls('alibaba', sim.requests).length,
    seen: `${arrivals.length} calls over ${spanMs} ms (${meanPerSecond.toFixed(2)}/s); peak ${peak} in a second; shortest gap ${shortestGap(arrivals)} ms; ${cloud.throttled()} throttled`,
  };
}

describe('two replica processes on one PostgreSQL and one Redis', () => {
  let lab: TwoReplicaLab | undefined;

  afterEach(async ({ task }) => {
    // A failed test keeps its replicas' logs and names them (task.result is final by now; onTestFailed would come too late).
    const failed = task.result?.state === 'fail';
    if (failed && lab) console.error(`two replicas: logs kept in ${lab.dir}\n${lab.logTail()}`);
    await lab?.stop(failed, redisAdmin);
    lab = undefined;
  });

  it('a command served by replica A and its approval click by replica B: the job runs once', { timeout: 90_000 }, async () => {
    lab = await TwoReplicaLab.create();
    await lab.startReplicas();
    const sim = lab.alibaba;
    const ids = idsOf('onejob', 3);
    for (const id of ids) sim.fleet.add(REGION, id);

    const { card, jobId } = await lab.request(0, CHANNEL, `alibaba ${REGION} ${ids.join(' ')} --reason "two replicas"`);
    await lab.approve(1, card);
    await lab.finished(CHANNEL, [jobId]);

    for (const id of ids) expect(sim.fleet.get(REGION, id)?.rebootCount, id).toBe(1);
    expect(rebootCalls('alibaba', sim.requests)).toHaveLength(1);
    const rebootCounts = new Map(ids.map((id) => [id, sim.fleet.get(REGION, id)?.rebootCount ?? 0]));
    const { figures, notes } = measure({ jobId, ids, channel: CHANNEL, incidentChannel: INCIDENT, messages: lab.slack.messages, rebootCounts });
    // One card, one summary, one incident 'approved' and one 'completed', every instance's line once, none unknown.
    expect({ figures, notes }).toEqual({ figures: ZERO, notes: [] });
    const finalCard = lab.slack.message(CHANNEL, card.ts);
    expect(finalCard && hasButtons(finalCard)).toBe(false);
    expect(lab.slack.violations).toEqual([]);
  });

  it('1,000 instances through one provider and region, half approved at each replica at once: one rate for both, zero throttles', { timeout: 120_000 }, async () => {
    lab = await TwoReplicaLab.create({ config: RATE_CONFIG });
    const run = await thousandAtOnce(lab);
    expect(run.calls, run.seen).toBeGreaterThanOrEqual(20);
    // Over the whole run, the configured rate (starts 200 ms apart), give or take the jitter of the first and last
    // arrival; doubled, it would be near 10 a second while both replicas work.
    expect(run.meanPerSecond, run.seen).toBeLessThanOrEqual(PER_SECOND * 1.15);
    expect(run.peak, run.seen).toBeLessThanOrEqual(PER_SECOND + 2);
    expect(run.throttled, run.seen).toBe(0);
    expect(run.failedStatuses).toEqual([]);
    expect(run.notOnce, 'instances not rebooted exactly once').toEqual([]);
    // 10 calls of 100 ids: none resent.
    expect(run.rebootCalls).toBe(10);
  });

  it('control: replicas on Redis prefixes of their own keep a limiter each, and the same measurement sees the rate doubled', { timeout: 120_000 }, async () => {
    lab = await TwoReplicaLab.create({ config: RATE_CONFIG, prefixPerReplica: true });
    const run = await thousandAtOnce(lab);
    expect(run.meanPerSecond > PER_SECOND * 1.15 || run.peak > PER_SECOND + 2, run.seen).toBe(true);
    expect(run.throttled, run.seen).toBeGreaterThan(0);
  });

  it("Slack writes to one channel from both replicas stay at Slack's 1 a second", { timeout: 120_000 }, async () => {
    // The fake Slack answers 429 to a second chat.postMessage to one channel within a second (src/local/slack-limits.ts).
    lab = await TwoReplicaLab.create({ slackLimits: true });
    await lab.startReplicas();
    const sim = lab.alibaba;
    const first = idsOf('pacea', 2);
    const second = idsOf('paceb', 2);
    for (const id of [...first, ...second]) sim.fleet.add(REGION, id);

    // Two requests in one channel at once, one at each replica, each approved at the other: both replicas post cards,
    // update them and write results into the same channel at the same time.
    const [a, b] = await Promise.all([
      lab.request(0, CHANNEL, `alibaba ${REGION} ${first.join(' ')} --no-verify`),
      lab.request(1, CHANNEL, `alibaba ${REGION} ${second.join(' ')} --no-verify`),
    ]);
    await Promise.all([lab.approve(1, a.card), lab.approve(0, b.card)]);
    await lab.finished(CHANNEL, [a.jobId, b.jobId], 90_000);

    const writes = channelWrites(lab.slack.calls, CHANNEL);
    const times = writes.map((w) => w.at);
    const seen = `${writes.length} writes: ${writes.map((w) => `${w.method}@${w.at - times[0]!}`).join(' ')}`;
    // At least: two cards, their approval updates, and the two summaries (results and progress may share writes).
    expect(writes.length, seen).toBeGreaterThanOrEqual(6);
    expect(shortestGap(times), seen).toBeGreaterThanOrEqual(CHANNEL_WRITE_MS - ARRIVAL_SLACK_MS);
    expect(lab.slack.rateLimitedCalls(), seen).toEqual([]);
    expect(lab.slack.violations).toEqual([]);
    const incident = lab.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.args.channel === INCIDENT).map((c) => c.at);
    expect(shortestGap(incident)).toBeGreaterThanOrEqual(CHANNEL_WRITE_MS - ARRIVAL_SLACK_MS);
    expect(incidentNotices(lab.slack.messages, INCIDENT)).toEqual({ approved: 2, completed: 2 });
    for (const id of [...first, ...second]) expect(sim.fleet.get(REGION, id)?.rebootCount, id).toBe(1);
  });
});

describe('two replicas in Socket Mode (in-process bots on one PostgreSQL and one Redis)', () => {
  let h: Harness | undefined;
  let second: RunningBot | undefined;
  let secondStarting: Promise<RunningBot> | undefined;
  let socket: SocketModeServer | undefined;
  let db: { url: string; drop(): Promise<void> } | undefined;
  let prefix = '';

  afterEach(async () => {
    await second?.stop();
    await h?.stop().catch(() => undefined);
    // A second replica that never finished starting (a standby) takes over once the first stops: stop it then.
    if (!second && secondStarting) await (await within(secondStarting.catch(() => undefined), 15_000))?.stop();
    await socket?.stop();
    await db?.drop();
    await deleteKeys(redisAdmin, prefix);
    h = second = secondStarting = socket = db = undefined;
  });

  it('each replica opens its own connection; the command arrives over one, the click over the other, and the job runs once', { timeout: 60_000 }, async () => {
    socket = await SocketModeServer.start();
    db = await freshDatabase();
    prefix = uniquePrefix();
    const id = 'i-bp1sockettworeplic1';
    h = await Harness.start({
      providers: ['alibaba'],
      databaseUrl: db.url,
      socketMode: { appToken: 'xapp-1-two-replicas', url: socket.url },
      tuning: { redisKeyPrefix: prefix },
      // Bolt does not tell which port its Socket Mode HTTP listener took, so each replica gets a free one.
      env: { PORT: String(await freePort()), REBOOT_REDIS_URL: TEST_REDIS_URL, REBOOT_REDIS_PREFIX: prefix, REBOOT_REPLICA_TIMEOUT: REPLICA_TIMEOUT },
    });
    const fleet = h.sims.sims.alibaba!.fleet;
    fleet.add(REGION, id);
    secondStarting = startBot({
      config: { ...h.config, port: await freePort() },
      providers: buildProviders(h.config.providers, { retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 }, timeoutMs: 2000, poll: { initialDelayMs: 10, maxDelayMs: 40, timeoutMs: 5000 } }),
      log: silentLogger,
      tuning: { ...FAST_TUNING, redisKeyPrefix: prefix },
    });
    second = await within(secondStarting, 20_000);
    if (!second) throw new Error('the second replica did not start within 20 s (standing by for the database lease?)');

    // Each replica asked Slack for a connection URL and connected (Slack allows up to 10 per app).
    expect(await socket.waitForConnections(2)).toHaveLength(2);
    expect(h.slack.callsTo('apps.connections.open')).toHaveLength(2);

    // Round-robin: the command over one connection, the click over the other.
    const commandAck = await socket.deliver(
      'slash_commands',
      slashCommandFields({ user: HARNESS_REQUESTER, channel: HARNESS_CHANNEL, text: `alibaba ${REGION} ${id}`, responseUrl: h.slack.newResponseUrl(), team: 'T0FAKE' }),
    );
    expect(String(commandAck.payload?.text)).toContain('posted for approval');
    const card = await expectSoon(() => h?.cards()[0], 'the request card', 10_000);
    const jobId = findButtonValue(card.blocks, APPROVE);
    if (!jobId) throw new Error('the card has no Approve button');
    // A click on a card the bot has not yet confirmed (stored Slack's answer to) is refused (src/jobs/requests.ts).
    const store = h.bot.store;
    await eventually(async () => (await store.getJob(jobId))?.cardTs === card.ts, 'the card to be confirmed');
    const clickAck = await socket.deliver(
      'interactive',
      blockActionsPayload({ user: APPROVER_1, channel: HARNESS_CHANNEL, messageTs: card.ts, actionId: APPROVE, value: jobId, responseUrl: h.slack.newResponseUrl(), team: 'T0FAKE' }),
    );
    expect(clickAck.connection).not.toBe(commandAck.connection);

    const bots = [h.bot, second];
    await expectSoon(() => threadOf(h?.slack.messages ?? [], HARNESS_CHANNEL).some((m) => isSummary(m, jobId)), 'the summary', 30_000);
    await Promise.all(bots.map((b) => b.settle()));
    await sleep(500);
    expect(fleet.get(REGION, id)?.rebootCount).toBe(1);
    expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(1);
    expect(threadOf(h.slack.messages, HARNESS_CHANNEL).filter((m) => isSummary(m, jobId))).toHaveLength(1);
    expect(hasButtons(h.slack.message(HARNESS_CHANNEL, card.ts)!)).toBe(false);
    expect((await h.bot.store.getJob(jobId))?.state).toBe('completed');
  });
});
