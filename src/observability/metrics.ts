/**
 * The bot's Prometheus metrics (prom-client, https://github.com/siimon/prom-client), served on GET /metrics.
 * Each bot has its own Registry rather than prom-client's global one, so several bots in one process (the
 * tests) keep separate counts. Label values come from fixed lists where the code has one: a new request or
 * instance outcome is one more entry in REQUEST_OUTCOMES or OUTCOME_STATUSES (src/domain/outcome.ts).
 * Names follow https://prometheus.io/docs/practices/naming/ (unit suffixes, `_total` on counters).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { OUTCOME_STATUSES, type OutcomeStatus } from '../domain/outcome.js';
import type { ProviderName } from '../providers/provider.js';
import type { Awaitable } from '../store/contract.js';

/** How a request left the pending state. */
export const REQUEST_OUTCOMES = ['approved', 'denied', 'withdrawn', 'expired', 'cancelled', 'abandoned'] as const;
export type RequestOutcome = (typeof REQUEST_OUTCOMES)[number];

/** The provider calls timed, as the runner and pre-flight make them (src/providers/provider.ts). */
export type ProviderCallKind = 'reboot' | 'describe' | 'poll' | 'permission';

/** One HTTP exchange with a cloud: 'ok' (2xx), the status class of any other answer, or no answer at all. */
export type HttpCallStatus = 'ok' | '1xx' | '3xx' | '4xx' | '5xx' | 'timeout' | 'error';

export function httpStatusLabel(status: number): HttpCallStatus {
  if (status >= 200 && status < 300) return 'ok';
  if (status < 200) return '1xx';
  if (status < 400) return '3xx';
  return status < 500 ? '4xx' : '5xx';
}

/** What /metrics reads from the store on each scrape. */
/** The store's reads behind the gauges; a networked store answers with promises, which prom-client's collect awaits. */
export interface MetricsSource {
  outboxBacklog(now: number): Awaitable<ReadonlyArray<{ channel: string; depth: number; oldestCreatedAt: number }>>;
  runningJobCount(): Awaitable<number>;
}

export class BotMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'outcome'>;
  private readonly instances: Counter<'provider' | 'outcome'>;
  private readonly providerCalls: Histogram<'provider' | 'call' | 'status'>;
  private readonly throttles: Counter<'provider' | 'region'>;
  private readonly slackErrors: Counter<'method' | 'error'>;

  constructor(source: MetricsSource, now: () => number, providers: readonly ProviderName[] = []) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'reboot_requests_total', help: 'Reboot requests by how they left the pending state.', labelNames: ['outcome'], registers });
    this.instances = new Counter({
      name: 'reboot_instances_total',
      help: 'Instances by their final outcome in a job, per provider (dry runs report checked or failed).',
      labelNames: ['provider', 'outcome'],
      registers,
    });
    this.providerCalls = new Histogram({
      name: 'reboot_provider_call_duration_seconds',
      help: 'One HTTP exchange with a cloud API, by provider, call (reboot, describe, poll, permission) and status (ok, 4xx, 5xx, timeout, error).',
      labelNames: ['provider', 'call', 'status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.throttles = new Counter({ name: 'reboot_provider_throttles_total', help: 'Throttling answers received from a cloud, per provider and region.', labelNames: ['provider', 'region'], registers });
    this.slackErrors = new Counter({ name: 'reboot_slack_api_errors_total', help: 'Failed Slack Web API calls, by method and error.', labelNames: ['method', 'error'], registers });
    // Zeroes for every known outcome, so a dashboard's rate() has a series before the first event.
    for (const outcome of REQUEST_OUTCOMES) this.requests.inc({ outcome }, 0);
    for (const provider of providers) for (const outcome of OUTCOME_STATUSES) this.instances.inc({ provider, outcome }, 0);

    new Gauge({
      name: 'reboot_outbox_depth',
      help: 'Slack writes waiting in the outbox, per channel.',
      labelNames: ['channel'],
      registers,
      async collect() {
        const backlog = await source.outboxBacklog(now());
        this.reset();
        for (const row of backlog) this.set({ channel: row.channel }, row.depth);
      },
    });
    new Gauge({
      name: 'reboot_outbox_oldest_age_seconds',
      help: 'Age of the oldest Slack write waiting in the outbox, per channel.',
      labelNames: ['channel'],
      registers,
      async collect() {
        const at = now();
        const backlog = await source.outboxBacklog(at);
        this.reset();
        for (const row of backlog) this.set({ channel: row.channel }, Math.max(0, at - row.oldestCreatedAt) / 1000);
      },
    });
    new Gauge({
      name: 'reboot_jobs_running',
      help: 'Jobs in the running state.',
      registers,
      async collect() {
        this.set(await source.runningJobCount());
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  requestDecided(outcome: RequestOutcome, count = 1): void {
    if (count > 0) this.requests.inc({ outcome }, count);
  }

  instancesSettled(provider: ProviderName, outcomes: ReadonlyArray<{ status: OutcomeStatus }>): void {
    for (const o of outcomes) this.instances.inc({ provider, outcome: o.status });
  }

  providerHttp(provider: ProviderName, call: ProviderCallKind, status: HttpCallStatus, seconds: number): void {
    this.providerCalls.observe({ provider, call, status }, seconds);
  }

  throttled(provider: ProviderName, region: string): void {
    this.throttles.inc({ provider, region });
  }

  slackError(method: string, error: string): void {
    this.slackErrors.inc({ method, error });
  }

  /** The text exposition format, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** What the parts of the bot that count things need; absent in unit tests that do not look at metrics. */
export type RequestMetrics = Pick<BotMetrics, 'requestDecided' | 'instancesSettled'>;
export type InstanceMetrics = Pick<BotMetrics, 'instancesSettled'>;
export type SlackMetrics = Pick<BotMetrics, 'slackError'>;
