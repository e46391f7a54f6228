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
import { Store } from './store/store.js';

/** Knobs that are not part of the public configuration: tests shorten them. */
export interface Tuning {
  /** Spacing of Slack writes per channel (Slack allows about 1 message/s). */
  channelIntervalMs: number;
  outboxIdleMs: number;
  outboxMaxAttempts: number;
  expirySweepMs: number;
  groupCacheMs: number;
}

export const DEFAULT_TUNING: Tuning = {
  channelIntervalMs: 1100,
  outboxIdleMs: 500,
  outboxMaxAttempts: 8,
  expirySweepMs: 5000,
  groupCacheMs: 120_000,
};

export interface BotOptions {
  config: Config;
  providers: Partial<Record<ProviderName, Provider>>;
  log: Logger;
  tuning?: Partial<Tuning>;
  now?: () => number;
}

export interface RunningBot {
  app: App;
  store: Store;
  runner: Runner;
  outbox: Outbox;
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
  const reporter = new Reporter(store, config.incidentChannel, now);
  const responseUrls = new Map<string, string>();
  const outbox = new Outbox(store, {
    token,
    ...(config.slack.apiUrl ? { apiUrl: config.slack.apiUrl } : {}),
    channelIntervalMs: tuning.channelIntervalMs,
    idleMs: tuning.outboxIdleMs,
    maxAttempts: tuning.outboxMaxAttempts,
    now,
    log,
    onDelivered: (row) => {
      if (row.kind === 'post_card' && row.jobId) responseUrls.delete(row.jobId);
    },
    onPermanentFailure: (row, slackError) => {
      if (row.kind !== 'post_card' || !row.jobId) return;
      const url = responseUrls.get(row.jobId);
      responseUrls.delete(row.jobId);
      if (!store.abandon(row.jobId, now(), slackError)) return;
      if (url) void tellRequester(url, cardFailureText(slackError), log);
    },
  });
  const kick = (): void => outbox.kick();
  const limiters = new LimiterPool(config.limits);
  const runner = new Runner({ store, providers: opts.providers, limiters, reporter, now, log, kick });

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
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
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
    (group, err) => log.warn('user group lookup failed', { group, error: err instanceof Error ? err.message : String(err) }),
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
    for (const job of store.expireDue(now())) {
      reporter.updateCard(job);
      log.info('request expired', { jobId: job.id });
    }
    kick();
  };
  sweep();
  const sweeper = setInterval(sweep, tuning.expirySweepMs);
  sweeper.unref();
  outbox.start();
  runner.recover();

  return {
    app,
    store,
    runner,
    outbox,
    url,
    async settle(timeoutMs = 10_000) {
      await listenersIdle();
      await runner.idle();
      await outbox.drain(timeoutMs);
    },
    async stop() {
      clearInterval(sweeper);
      await app.stop();
      await listenersIdle();
      await runner.idle();
      // Give queued Slack writes a moment; whatever is left stays in the store for the next start.
      await outbox.drain(5000).catch(() => undefined);
      await outbox.stop();
      await limiters.stop();
      store.close();
    },
  };
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
