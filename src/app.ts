/**
 * The composition root: store, providers, limiters, outbox, runner and the Bolt app with its
 * listeners, wired for one of two transports (HTTP or Socket Mode).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import { request } from 'undici';
import { z } from 'zod';
import type { ParseContext, ProviderAvailability } from '../commands/reboot.js';
import type { Config } from './config.js';
import { LimiterPool } from './jobs/limiters.js';
import { ApproverDirectory } from './jobs/policy.js';
import { Runner } from './jobs/runner.js';
import type { Logger } from './log.js';
import type { Provider, ProviderName } from './providers/provider.js';
import { IMPLEMENTED_PROVIDERS } from './providers/registry.js';
import { registerListeners } from './slack/listeners.js';
import { Outbox } from './slack/outbox.js';
import { Reporter } from './slack/reporter.js';
import { Store, type LeaseHolder } from './store/store.js';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { errorMessage } from './errors.js';
import { HealthBoard } from './health.js';
import { BOT_WIDE_SLACK_ERRORS } from './slack/outbox.js';

/** Knobs that are not part of the public configuration: tests shorten them. */
export interface Tuning {
  /** Spacing of Slack writes per channel (Slack allows about 1 message/s). */
  channelIntervalMs: number;
  outboxIdleMs: number;
  /** Longest pause between two tries of a Slack write that failed transiently (it is retried for ever). */
  outboxMaxBackoffMs: number;
  expirySweepMs: number;
  groupCacheMs: number;
  /** The single-writer lease: how often it is renewed, and when a silent holder may be taken over. */
  leaseHeartbeatMs: number;
  leaseStaleMs: number;
  /** The refill period of per-minute instance budgets (Huawei); tests shorten it. */
  budgetPeriodMs: number;
}

export const DEFAULT_TUNING: Tuning = {
  channelIntervalMs: 1100,
  outboxIdleMs: 500,
  outboxMaxBackoffMs: 5 * 60_000,
  expirySweepMs: 5000,
  groupCacheMs: 120_000,
  leaseHeartbeatMs: 5000,
  leaseStaleMs: 30_000,
  budgetPeriodMs: 60_000,
};

/** How far ahead of our clock a Slack request may be stamped; Bolt only checks how old it is. */
export const MAX_FUTURE_SKEW_S = 5 * 60;

/** Another process holds the database: two writers would report each other's batches as unknown. */
export class DatabaseInUseError extends Error {}

export interface BotOptions {
  config: Config;
  providers: Partial<Record<ProviderName, Provider>>;
  log: Logger;
  tuning?: Partial<Tuning>;
  now?: () => number;
  /** Called when another process took over the database lease: this one must stop at once. */
  onLeaseLost?: () => void;
}

export interface RunningBot {
  app: App;
  store: Store;
  runner: Runner;
  outbox: Outbox;
  health: HealthBoard;
  /** Resolves when no listener, job run or Slack write is in progress. */
  settle(timeoutMs?: number): Promise<void>;
  /** Base URL of the HTTP listener (HTTP mode: /slack/events and /healthz; Socket Mode: /healthz). */
  url: string;
  stop(): Promise<void>;
}

const UserGroupMembers = z.object({ ok: z.literal(true), users: z.array(z.string()) });

export function availabilityOf(providers: Partial<Record<ProviderName, Provider>>): (name: ProviderName) => ProviderAvailability {
  return (name) => (!IMPLEMENTED_PROVIDERS.includes(name) ? 'not-available-yet' : providers[name] ? 'ready' : 'not-configured');
}

export async function startBot(opts: BotOptions): Promise<RunningBot> {
  const { config, log } = opts;
  const tuning: Tuning = { ...DEFAULT_TUNING, ...opts.tuning };
  const now = opts.now ?? Date.now;
  const token = config.slack.botToken;
  if (!token) throw new Error('SLACK_BOT_TOKEN is required outside local mode');

  const store = new Store(config.dbPath);
  const lease = takeLease(store, config.dbPath, tuning, now);
  const health = new HealthBoard(now);
  const reporter = new Reporter(store, config.incidentChannel, now);
  const responseUrls = new Map<string, string>();
  const outbox = new Outbox(store, {
    token,
    ...(config.slack.apiUrl ? { apiUrl: config.slack.apiUrl } : {}),
    channelIntervalMs: tuning.channelIntervalMs,
    idleMs: tuning.outboxIdleMs,
    maxBackoffMs: tuning.outboxMaxBackoffMs,
    now,
    log,
    health,
    onDelivered: (row) => {
      if (row.kind === 'post_card' && row.jobId) responseUrls.delete(row.jobId);
    },
    onPermanentFailure: (row, slackError) => {
      if (!row.jobId) return;
      if (row.kind === 'post_card') {
        const url = responseUrls.get(row.jobId);
        responseUrls.delete(row.jobId);
        if (!store.abandon(row.jobId, now(), slackError)) return;
        if (url) void tellRequester(url, cardFailureText(slackError), log);
        return;
      }
      // Anything else about a job that cannot reach its channel reaches the requester directly,
      // once per job; a notice that itself failed, or a token Slack refuses, has nowhere to go.
      if (row.kind === 'requester_notice' || BOT_WIDE_SLACK_ERRORS.has(slackError)) return;
      const job = store.getJob(row.jobId);
      if (!job) return;
      reporter.requesterNotice(job, undeliveredText(job.id, row.channel, slackError));
      outbox.kick();
    },
  });
  const kick = (): void => outbox.kick();
  const limiters = new LimiterPool(config.limits, tuning.budgetPeriodMs);
  const runner = new Runner({ store, providers: opts.providers, limiters, reporter, now, log, kick, approvalTtlMs: config.approvalTtlMs });

  const clientOptions = {
    ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    // Interactive calls (group lookups, respond) should fail fast rather than queue for minutes.
    retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2000 },
  };
  const boltLogger = toBoltLogger(log);
  const healthz = {
    path: '/healthz',
    method: ['GET'],
    handler: (_req: unknown, res: { writeHead(s: number, h?: Record<string, string>): void; end(b: string): void }) => {
      const report = health.report();
      res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: report.ok ? 'ok' : 'failing', problems: report.problems }));
    },
  };

  let app: App;
  if (config.slack.appToken) {
    app = new App({
      token,
      appToken: config.slack.appToken,
      socketMode: true,
      port: config.port,
      customRoutes: [healthz],
      clientOptions,
      logger: boltLogger,
    });
  } else {
    if (!config.slack.signingSecret) throw new Error('SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)');
    const receiver = new HTTPReceiver({
      signingSecret: config.slack.signingSecret,
      endpoints: '/slack/events',
      customRoutes: [healthz],
      logger: boltLogger,
    });
    refuseFutureTimestamps(receiver, () => now() / 1000, log);
    app = new App({ token, receiver, clientOptions, logger: boltLogger });
  }

  // Counts listener invocations still running after their ack, so shutdown and tests can wait for them.
  let inflight = 0;
  app.use(async ({ next }) => {
    inflight += 1;
    try {
      await next();
    } finally {
      inflight -= 1;
    }
  });
  const listenersIdle = async (): Promise<void> => {
    while (inflight > 0) await new Promise((r) => setTimeout(r, 5));
  };

  const approvers = new ApproverDirectory(
    config.approvers,
    async (group) => UserGroupMembers.parse(await app.client.usergroups.users.list({ usergroup: group })).users,
    tuning.groupCacheMs,
    now,
    (group, err) => log.warn('user group lookup failed', { group, error: errorMessage(err) }),
  );
  const parseContext: ParseContext = {
    availability: availabilityOf(opts.providers),
    maxInstances: config.maxInstances,
    extraRegions: config.extraRegions,
  };
  registerListeners(app, {
    store,
    runner,
    reporter,
    approvers,
    parseContext,
    forceApprovals: config.forceApprovals,
    approvalTtlMs: config.approvalTtlMs,
    now,
    log,
    kick,
    responseUrls,
  });

  const started = (await app.start(config.port)) as unknown;
  const url = listenUrl(started, config.port);

  const sweep = (): void => {
    try {
      // Each expiry and its card update commit together.
      const expired = store.atomically(() => {
        const due = store.expireDue(now());
        for (const job of due) reporter.updateCard(job);
        return due;
      });
      for (const job of expired) log.info('request expired', { jobId: job.id });
      health.clear('expiry');
    } catch (err) {
      // A timer callback that throws would end the process; the next sweep tries again.
      health.set('expiry', `expiry sweep failed: ${errorMessage(err)}`, true);
      log.error('expiry sweep failed', { error: errorMessage(err) });
    }
    kick();
  };
  sweep();
  const sweeper = setInterval(sweep, tuning.expirySweepMs);
  sweeper.unref();
  outbox.start();
  runner.recover();

  const heartbeat = setInterval(() => {
    try {
      if (store.renewLease(lease.id, now())) return health.clear('lease');
      health.set('lease', `another process took over ${config.dbPath}`, true);
      log.error('database lease lost to another process; this process must stop', { db: config.dbPath });
      opts.onLeaseLost?.();
    } catch (err) {
      health.set('lease', `cannot renew the database lease: ${errorMessage(err)}`, true);
      log.error('database lease renewal failed', { error: errorMessage(err) });
    }
  }, tuning.leaseHeartbeatMs);
  heartbeat.unref();

  return {
    app,
    store,
    runner,
    outbox,
    health,
    url,
    async settle(timeoutMs = 10_000) {
      await listenersIdle();
      await runner.idle();
      await outbox.drain(timeoutMs);
    },
    async stop() {
      clearInterval(sweeper);
      clearInterval(heartbeat);
      await app.stop();
      await listenersIdle();
      await runner.idle();
      // Give queued Slack writes a moment; whatever is left stays in the store for the next start.
      await outbox.drain(5000).catch(() => undefined);
      await outbox.stop();
      await limiters.stop();
      store.releaseLease(lease.id);
      store.close();
    },
  };
}

/**
 * Takes the database's single-writer lease, or closes the store and throws a message that names the
 * database and the process holding it.
 */
function takeLease(store: Store, dbPath: string, tuning: Tuning, now: () => number): LeaseHolder {
  const me: LeaseHolder = { id: randomUUID(), pid: process.pid, host: hostname() };
  const result = store.acquireLease(me, now(), tuning.leaseStaleMs, isProcessAlive);
  if (result.kind === 'acquired') return me;
  store.close();
  const { holder, heartbeatAgeMs } = result;
  throw new DatabaseInUseError(
    `database ${dbPath} is in use by pid ${holder.pid} on ${holder.host} (heartbeat ${Math.round(heartbeatAgeMs / 1000)} s ago); ` +
      `one bot process per database. It is taken over once that heartbeat is ${Math.round(tuning.leaseStaleMs / 1000)} s old.`,
  );
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as { code?: unknown }).code !== 'ESRCH';
  }
}

/**
 * Bolt rejects requests stamped more than five minutes in the past but accepts any future stamp,
 * which leaves a captured request replayable for as long as its stamp is ahead. Slack's own rule is
 * symmetric: https://api.slack.com/authentication/verifying-requests-from-slack
 */
function refuseFutureTimestamps(receiver: HTTPReceiver, nowSeconds: () => number, log: Logger): void {
  const inner = receiver.requestListener;
  receiver.requestListener = (req, res) => {
    const stamp = Number(req.headers['x-slack-request-timestamp']);
    if (Number.isFinite(stamp) && stamp > nowSeconds() + MAX_FUTURE_SKEW_S) {
      log.warn('request refused: timestamp in the future', { aheadSeconds: Math.round(stamp - nowSeconds()) });
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('request timestamp is too far in the future');
      return;
    }
    inner(req, res);
  };
}

function undeliveredText(jobId: string, channel: string, slackError: string): string {
  return `:warning: I could not post updates about request \`${jobId}\` in <#${channel}> (\`${slackError}\`). Its results are kept in my audit trail; invite me back to that channel to see further updates.`;
}

function cardFailureText(slackError: string): string {
  const hint =
    slackError === 'not_in_channel' || slackError === 'channel_not_found'
      ? 'Invite me to this channel (`/invite @rebootbot`) and ask again.'
      : 'Ask again, or in another channel.';
  return `:x: I could not post the approval request here (\`${slackError}\`), so it was cancelled and nothing was rebooted. ${hint}`;
}

/** Answers through the command's response_url: the one way to reach a requester in a channel we cannot post to. */
async function tellRequester(responseUrl: string, text: string, log: Logger): Promise<void> {
  try {
    const res = await request(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }),
    });
    await res.body.dump();
  } catch (err) {
    log.warn('could not tell the requester', { error: err instanceof Error ? err.message : String(err) });
  }
}

function listenUrl(started: unknown, fallbackPort: number): string {
  const server = started as Partial<Server> | undefined;
  const address = typeof server?.address === 'function' ? (server.address() as AddressInfo | string | null) : null;
  const port = address && typeof address === 'object' ? address.port : fallbackPort;
  return `http://127.0.0.1:${port}`;
}

function toBoltLogger(log: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const text = (msgs: unknown[]): string => msgs.map((m) => (m instanceof Error ? m.message : typeof m === 'string' ? m : JSON.stringify(m))).join(' ');
  return {
    debug: (...m: unknown[]) => log.debug(text(m), { source: 'bolt' }),
    info: (...m: unknown[]) => log.info(text(m), { source: 'bolt' }),
    warn: (...m: unknown[]) => log.warn(text(m), { source: 'bolt' }),
    error: (...m: unknown[]) => log.error(text(m), { source: 'bolt' }),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
