/**
 * The composition root: store and its lease, providers, limiters, outbox, runner, use cases and the
 * Bolt app with its listeners. Wiring only; every rule lives in the module it belongs to.
 */
import type { App } from '@slack/bolt';
import { z } from 'zod';
import type { ParseContext } from '../commands/reboot.js';
import type { Config } from './config.js';
import { errorMessage } from './errors.js';
import { HealthBoard } from './health.js';
import { LimiterPool } from './jobs/limiters.js';
import { ApproverDirectory } from './jobs/policy.js';
import { expireDue, type RequestContext } from './jobs/requests.js';
import { Inspector } from './jobs/preflight.js';
import { Runner } from './jobs/runner.js';
import { DEFAULT_VERIFY } from './jobs/verifier.js';
import type { Logger } from './log.js';
import { instrumentProvider, instrumentProviders } from './observability/instrument-providers.js';
import { PolicyHolder } from './policy/load.js';
import { DEFAULT_PROVIDER_TUNING } from './providers/registry.js';
import { BotMetrics } from './observability/metrics.js';
import { Readiness, slackAuthCheck } from './observability/readiness.js';
import { observabilityRoutes } from './observability/routes.js';
import { defaultCatalog, type Catalog } from './providers/catalog.js';
import type { Provider, ProviderName } from './providers/provider.js';
import { QuietGate } from './quiet-gate.js';
import { GroupCommit } from './store/group-commit.js';
import { createBoltApp } from './slack/bolt-app.js';
import { onUndeliverable } from './slack/delivery-failures.js';
import { ChannelMemberships } from './slack/channel-memberships.js';
import { slackErrorLabel } from './slack/error-label.js';
import { registerListeners } from './slack/listeners.js';
import { Outbox } from './slack/outbox.js';
import { DEFAULT_METHOD_BUDGETS } from './slack/channel-pacer.js';
import { RedisChannelPacer } from './slack/redis-channel-pacer.js';
import { closeRedis, openRedis } from './redis/client.js';
import { RESULTS_HOLD_MS, SlackReporter } from './slack/reporter.js';
import { registerViews } from './slack/views.js';
import type { Store } from './store/contract.js';
import { takeLease, waitForLease } from './store/lease.js';
import { joinReplicas, ReplicaCoordinator } from './replicas/coordinator.js';
import { PgStore } from './store/pg-store.js';
import { RetentionSweep } from './store/retention.js';
import { SqliteStore } from './store/sqlite-store.js';
import { checkpointHealth } from './store/wal-checkpointer.js';

/** Knobs that are not part of the public configuration: tests shorten them. */
export interface Tuning {
  /**
   * The gap between Slack's answer to one write to a channel and the next write there: chat.postMessage
   * allows about 1 per second per channel (https://api.slack.com/methods/chat.postMessage#rate_limiting).
   */
  channelIntervalMs: number;
  /** Workspace-wide chat.update calls per sliding minute: Tier 3 (https://api.slack.com/methods/chat.update). */
  slackUpdatesPerMinute: number;
  /** Workspace-wide chat.getPermalink calls per sliding minute: Tier 4 (https://api.slack.com/methods/chat.getPermalink). */
  slackPermalinksPerMinute: number;
  /** Least time between two progress updates of one running job's card (src/slack/outbox.ts). */
  cardProgressIntervalMs: number;
  /** Background work starts once no Slack request has arrived for this long (src/quiet-gate.ts)… */
  quietMs: number;
  /** …or after this long at the latest. */
  quietMaxWaitMs: number;
  outboxIdleMs: number;
  /** Longest pause between two tries of a Slack write that failed transiently (it is retried for ever). */
  outboxMaxBackoffMs: number;
  expirySweepMs: number;
  groupCacheMs: number;
  /** How long a user's channels (users.conversations) are reused for the App Home tab (src/slack/channel-memberships.ts). */
  memberChannelsCacheMs: number;
  /** The single-writer lease: how often it is renewed, and when a silent holder may be taken over. */
  leaseHeartbeatMs: number;
  leaseStaleMs: number;
  /** The refill period of per-minute instance budgets (Huawei); tests shorten it. */
  budgetPeriodMs: number;
  /** Verification's polling (its timeout is REBOOT_VERIFY_TIMEOUT, in the configuration). */
  verifyFirstReadMs: number;
  verifyIntervalMs: number;
  verifyMaxIntervalMs: number;
  /** Readings in a row of a running instance without proof of its reboot, before it is "not confirmed". */
  verifySettleReadings: number;
  /** How long a large job's part-filled results message waits for more (src/slack/reporter.ts). */
  resultsHoldMs: number;
  /** Retention's first sweep after start, and the period of the next ones (src/store/retention.ts). */
  retentionFirstRunMs: number;
  retentionSweepMs: number;
  /** How long /readyz keeps Slack's auth.test answer (src/observability/readiness.ts). */
  readinessAuthCacheMs: number;
  /** With REBOOT_REDIS_URL, the start of every shared limit's key: REBOOT_REDIS_PREFIX unless a test sets its own. */
  redisKeyPrefix?: string;
}

export const DEFAULT_TUNING: Tuning = {
  channelIntervalMs: 1000,
  slackUpdatesPerMinute: 50,
  cardProgressIntervalMs: 5_000,
  quietMs: 20,
  quietMaxWaitMs: 250,
  slackPermalinksPerMinute: 100,
  outboxIdleMs: 500,
  outboxMaxBackoffMs: 5 * 60_000,
  expirySweepMs: 5000,
  groupCacheMs: 120_000,
  memberChannelsCacheMs: 60_000,
  leaseHeartbeatMs: 5000,
  leaseStaleMs: 30_000,
  budgetPeriodMs: 60_000,
  verifyFirstReadMs: DEFAULT_VERIFY.firstReadMs,
  verifyIntervalMs: DEFAULT_VERIFY.intervalMs,
  verifyMaxIntervalMs: DEFAULT_VERIFY.maxIntervalMs,
  verifySettleReadings: DEFAULT_VERIFY.settleReadings,
  resultsHoldMs: RESULTS_HOLD_MS,
  retentionFirstRunMs: 60_000,
  retentionSweepMs: 3_600_000,
  readinessAuthCacheMs: 30_000,
};

export interface BotOptions {
  config: Config;
  providers: Partial<Record<ProviderName, Provider>>;
  /** The providers requests may name and cards describe; loadConfig and buildProviders must have used it too. */
  catalog?: Catalog;
  log: Logger;
  tuning?: Partial<Tuning>;
  now?: () => number;
  /**
   * Called when another process took over the database lease, or (active-active) another replica found this one
   * silent and took over its jobs: this one must stop at once. `why` says which, for the operator.
   */
  onLeaseLost?: (why: string) => void;
  /**
   * The policy in force (REBOOT_POLICY, src/policy/load.ts), which the caller reloads; absent: REBOOT_APPROVERS
   * for every channel and the default accounts, as before policy files existed.
   */
  policy?: PolicyHolder;
}

export interface RunningBot {
  app: App;
  /** A SqliteStore, or a PgStore when REBOOT_DATABASE_URL is set. */
  store: Store;
  runner: Runner;
  outbox: Outbox;
  health: HealthBoard;
  /** This bot's metrics, on its own registry (GET /metrics). */
  metrics: BotMetrics;
  /** The policy in force: `policy.reload()` is what SIGHUP does (src/main.ts). */
  policy: PolicyHolder;
  /** Resolves when no listener, job run or Slack write is in progress. */
  settle(timeoutMs?: number): Promise<void>;
  /** Base URL of the HTTP listener (HTTP mode: /slack/events, /healthz, /readyz, /metrics; Socket Mode: the last three). */
  url: string;
  stop(): Promise<void>;
}

const UserGroupMembers = z.object({ ok: z.literal(true), users: z.array(z.string()) });

export async function startBot(opts: BotOptions): Promise<RunningBot> {
  const { config, log } = opts;
  const catalog = opts.catalog ?? defaultCatalog;
  const tuning: Tuning = { ...DEFAULT_TUNING, ...opts.tuning };
  const now = opts.now ?? Date.now;
  const { botToken: token, appToken, signingSecret, apiUrl } = config.slack;
  if (!token) throw new Error('SLACK_BOT_TOKEN is required outside local mode');

  const health = new HealthBoard(now);
  const store = await openStore(config, log, health);
  const redisKeyPrefix = tuning.redisKeyPrefix ?? config.redisPrefix;
  const leaseTiming = { heartbeatMs: tuning.leaseHeartbeatMs, staleMs: tuning.leaseStaleMs };
  const onLeaseLost = opts.onLeaseLost;
  const leaseWatch = { health, log, now, ...(onLeaseLost ? { onLost: () => onLeaseLost(`another process took over ${databaseName(config)}`) } : {}) };
  // PostgreSQL and Redis: every process is an active replica, registered instead of holding the database alone
  // (src/replicas/coordinator.ts). PostgreSQL alone: limits cannot be shared, so a second process is a standby that
  // waits for the lease and takes over when the holder stops or dies. SQLite is one process's file: a second
  // process there is a mistake, refused at once.
  const registry =
    store instanceof PgStore && config.redisUrl
      ? await joinReplicas(store, databaseName(config), leaseTiming.staleMs, now()).catch(async (err: unknown) => {
          await store.close();
          throw err;
        })
      : undefined;
  const lease = registry
    ? undefined
    : await (config.databaseUrl ? waitForLease(store, databaseName(config), leaseTiming, leaseWatch) : takeLease(store, databaseName(config), leaseTiming, leaseWatch)).catch(async (err: unknown) => {
        await store.close();
        throw err;
      });
  const metrics = new BotMetrics(store, now, Object.keys(opts.providers));
  // Every provider call the bot makes is timed and its throttles counted (src/observability/instrument-providers.ts).
  const providers = instrumentProviders(opts.providers, metrics);
  const policy =
    opts.policy ??
    new PolicyHolder({
      context: { catalog, env: {}, configured: Object.keys(opts.providers), extraRegions: config.extraRegions, approvers: config.approvers, forceApprovals: config.forceApprovals, providerTuning: DEFAULT_PROVIDER_TUNING },
      log,
    });
  // A named account's client, instrumented once per client: a reload builds new ones.
  const instrumented = new WeakMap<Provider, Provider>();
  const accountProvider = (name: ProviderName, account: string): Provider | undefined => {
    const client = policy.current.accountProvider(name, account);
    if (client === undefined) return undefined;
    let watched = instrumented.get(client);
    if (watched === undefined) {
      watched = instrumentProvider(client, metrics);
      instrumented.set(client, watched);
    }
    return watched;
  };
  const readiness = new Readiness({
    store,
    slackAuth: slackAuthCheck(token, apiUrl, (error) => metrics.slackError('auth.test', error)),
    now,
    outboxStuckMs: config.readyOutboxStuckMs,
    authCacheMs: tuning.readinessAuthCacheMs,
  });
  // Acks first: background work (cards, reads, runs) starts once requests pause (src/quiet-gate.ts).
  const quiet = new QuietGate({ quietMs: tuning.quietMs, maxWaitMs: tuning.quietMaxWaitMs });
  const bolt = createBoltApp(
    { token, port: config.port, ...(appToken ? { appToken } : {}), ...(signingSecret ? { signingSecret } : {}), ...(apiUrl ? { apiUrl } : {}) },
    health,
    now,
    log,
    quiet,
    observabilityRoutes(metrics, readiness, log),
  );
  // Names for the compact results come from pre-flight's readings: the store reads them in the transaction that reports the outcomes.
  const events = new SlackReporter(config.incidentChannel, { holdMs: tuning.resultsHoldMs });
  // Shared limits (REBOOT_REDIS_URL): provider limits and Slack pacing are kept in Redis for every replica at once.
  const redis = config.redisUrl ? openRedis(config.redisUrl, { log, health, purpose: 'Slack pacing' }) : undefined;
  const shared = redis ? { redis, prefix: redisKeyPrefix, log, health } : undefined;
  const limiters = new LimiterPool(config.limits, tuning.budgetPeriodMs, shared);
  const verify = { firstReadMs: tuning.verifyFirstReadMs, intervalMs: tuning.verifyIntervalMs, maxIntervalMs: tuning.verifyMaxIntervalMs, settleReadings: tuning.verifySettleReadings, timeoutMs: config.verifyTimeoutMs };
  const ownership = registry ? { ownership: registry } : {};
  const runner = new Runner({ store, providers, accountProvider, limiters, events, now, log, approvalTtlMs: config.approvalTtlMs, verify, quiet, metrics, ...ownership });
  const inspector = new Inspector({ store, providers, accountProvider, limiters, events, now, log, quiet, ...ownership });
  const approvers = new ApproverDirectory(
    config.approvers,
    async (group) => UserGroupMembers.parse(await bolt.app.client.usergroups.users.list({ usergroup: group })).users,
    tuning.groupCacheMs,
    now,
    (group, err) => {
      metrics.slackError('usergroups.users.list', slackErrorLabel(err));
      log.warn('user group lookup failed', { group, error: errorMessage(err) });
    },
  );
  const requests: RequestContext = {
    store,
    events,
    approvers,
    startRun: (id) => runner.start(id),
    inspect: (id) => inspector.start(id),
    now,
    log,
    metrics,
    forceApprovals: config.forceApprovals,
    approvalTtlMs: config.approvalTtlMs,
    policy: () => policy.current.policy,
    groupCommit: new GroupCommit(store),
  };
  const responseUrls = new Map<string, string>();
  // Its holds on channels name this replica, so that they go the moment it is found dead (releaseHoldsOf).
  const pacer = redis
    ? new RedisChannelPacer(
        redis,
        {
          channelIntervalMs: tuning.channelIntervalMs,
          perMinute: { ...DEFAULT_METHOD_BUDGETS, 'chat.update': tuning.slackUpdatesPerMinute, 'chat.getPermalink': tuning.slackPermalinksPerMinute },
        },
        redisKeyPrefix,
        registry?.me.id,
      )
    : undefined;
  const outbox = new Outbox(store, {
    quiet,
    token,
    catalog,
    ...(apiUrl ? { apiUrl } : {}),
    channelIntervalMs: tuning.channelIntervalMs,
    updatesPerMinute: tuning.slackUpdatesPerMinute,
    permalinksPerMinute: tuning.slackPermalinksPerMinute,
    progressUpdateIntervalMs: tuning.cardProgressIntervalMs,
    ...(pacer ? { pacer } : {}),
    idleMs: tuning.outboxIdleMs,
    maxBackoffMs: tuning.outboxMaxBackoffMs,
    now,
    log,
    health,
    metrics,
    onDelivered: (row) => {
      if (row.message.kind === 'post_card' && row.jobId) responseUrls.delete(row.jobId);
    },
    onPermanentFailure: onUndeliverable(requests, responseUrls),
  });
  const parseContext: ParseContext = {
    catalog,
    // A provider is offered when it has any account: its own variables, or a named one of the policy in force.
    availability: (name) => (providers[name] || (policy.current.policy.accounts[name] ?? []).length > 0 ? 'ready' : 'not-configured'),
    maxInstances: config.maxInstances,
    extraRegions: config.extraRegions,
  };
  registerListeners(bolt.app, { requests, parseContext, responseUrls });
  const memberships = new ChannelMemberships(
    // Public and private channels: the bot's token sees the private ones it is in, which is where its cards are.
    (user, cursor) => bolt.app.client.users.conversations({ user, types: 'public_channel,private_channel', limit: 200, ...(cursor ? { cursor } : {}) }),
    tuning.memberChannelsCacheMs,
    now,
  );
  registerViews(bolt.app, { store, catalog, memberships, now, log });

  const url = await bolt.start();
  const sweep = async (): Promise<void> => {
    try {
      await expireDue(requests);
      health.clear('expiry');
    } catch (err) {
      // A timer callback that throws would end the process; the next sweep tries again.
      health.set('expiry', `expiry sweep failed: ${errorMessage(err)}`, true);
      log.error('expiry sweep failed', { error: errorMessage(err) });
    }
  };
  await sweep();
  const sweeper = setInterval(() => void sweep(), tuning.expirySweepMs);
  sweeper.unref();
  outbox.start();
  const retention = new RetentionSweep(store, { retentionMs: config.retentionMs, firstRunMs: tuning.retentionFirstRunMs, sweepMs: tuning.retentionSweepMs, now, log });
  retention.start();
  // A replica recovers only what no live replica owns; a single process recovers everything at start.
  const coordinator = registry
    ? new ReplicaCoordinator(registry, {
        timeoutMs: config.replicaTimeoutMs,
        log,
        health,
        takeOver: async (work) => (work.kind === 'run' ? runner.resume(work.jobId, work.state) : inspector.start(work.jobId)),
        outboxRequeued: () => outbox.kick(),
        freeGoneSlots: () => limiters.releaseGoneClients(),
        ...(pacer ? { releaseHolds: async (replica) => void (await pacer.releaseHoldsOf(replica.id)) } : {}),
        onLost: () => onLeaseLost?.(`another replica found this one silent for ${config.replicaTimeoutMs} ms and took over its jobs`),
      })
    : undefined;
  if (coordinator) {
    log.info('running as one of several replicas', { replica: coordinator.me.id, timeoutMs: config.replicaTimeoutMs });
    await coordinator.start();
  } else {
    await runner.recover();
    await inspector.recover();
  }

  return {
    app: bolt.app,
    store,
    runner,
    outbox,
    health,
    metrics,
    policy,
    url,
    async settle(timeoutMs = 10_000) {
      await bolt.idle();
      await inspector.idle();
      await runner.idle();
      await outbox.drain(timeoutMs);
    },
    /**
     * Bounded by REBOOT_SHUTDOWN_GRACE: no new batch or wave starts from the first moment, provider calls in flight get
     * the grace to be answered and stored, and whatever is left (planned batches, instances being watched) stays in
     * the store for runner.recover() at the next start. Jobs are not waited for to the end.
     */
    async stop() {
      const deadline = Date.now() + config.shutdownGraceMs;
      const left = (): number => Math.max(0, deadline - Date.now());
      const draining = runner.shutdown(config.shutdownGraceMs);
      clearInterval(sweeper);
      coordinator?.stopClaiming();
      await retention.stop();
      await bolt.app.stop();
      await bolt.idle();
      await Promise.race([inspector.idle(), delay(left())]);
      await draining;
      // Give queued Slack writes a moment; whatever is left stays in the store for the next start.
      await outbox.drain(Math.min(5000, Math.max(500, left()))).catch(() => undefined);
      if (redis) {
        // The outbox waits for Redis before each write (src/redis/client.ts): a Redis that does not answer would hold
        // its stop for ever. After a moment the connection is closed under it; a write caught between Slack's answer
        // and its bookkeeping is sent again at the next start, as after a crash (src/slack/outbox.ts).
        await Promise.race([outbox.stop(), delay(Math.min(5000, Math.max(1000, left())))]);
        closeRedis(redis);
      }
      await outbox.stop();
      await limiters.stop();
      // A replica hands its unfinished runs to the others at once (they claim them at their next sweep).
      await coordinator?.leave();
      await lease?.release();
      await store.close();
    },
  };
}

/** PostgreSQL when REBOOT_DATABASE_URL is set (shared by replicas), else the SQLite file (one process). */
async function openStore(config: Config, log: Logger, health: HealthBoard): Promise<Store> {
  if (config.databaseUrl === undefined) {
    const store = new SqliteStore(config.dbPath, { backgroundCheckpoints: true });
    store.checkpointer?.onReport(checkpointHealth(health, log));
    return store;
  }
  return PgStore.open({
    url: config.databaseUrl,
    // An idle connection that breaks is replaced by the pool; the next query on a dead server fails where it is made.
    onError: (err) => log.warn('database connection failed', { error: errorMessage(err) }),
  });
}

/** The database as messages name it: the file, or the server and database without the URL's credentials. */
export function databaseName(config: Config): string {
  if (config.databaseUrl === undefined) return config.dbPath;
  const url = new URL(config.databaseUrl);
  return `postgres://${url.host}${url.pathname}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
