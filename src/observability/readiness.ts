/**
 * GET /readyz: can this bot do its work right now? Liveness stays with /healthz (src/health.ts). Not ready when
 * the database cannot be written, when Slack refuses auth.test (https://api.slack.com/methods/auth.test) with
 * the bot's token, or when a Slack write due for delivery has waited longer than REBOOT_READY_OUTBOX_STUCK.
 * auth.test's answer is kept for a while (30 s by default) so a probe every few seconds does not become a
 * stream of Slack calls.
 */
import { webApi } from '@slack/bolt';
import { errorMessage } from '../errors.js';
import type { Store } from '../store/contract.js';
import { slackErrorLabel } from '../slack/error-label.js';

export type ReadinessCheck = 'database' | 'slack' | 'outbox';

export interface ReadinessReport {
  ok: boolean;
  problems: Array<{ check: ReadinessCheck; reason: string }>;
}

export interface ReadinessOptions {
  store: Pick<Store, 'probeWrite' | 'outboxBacklog'>;
  /** Resolves when Slack accepts the bot's token; rejects with the reason otherwise. */
  slackAuth: () => Promise<void>;
  now: () => number;
  outboxStuckMs: number;
  /** How long auth.test's answer, good or bad, stands. */
  authCacheMs: number;
}

export class Readiness {
  private auth: { at: number; result: Promise<string | null> } | undefined;

  constructor(private readonly opts: ReadinessOptions) {}

  async check(): Promise<ReadinessReport> {
    const problems: ReadinessReport['problems'] = [];
    try {
      await this.opts.store.probeWrite();
    } catch (err) {
      problems.push({ check: 'database', reason: `the database cannot be written: ${errorMessage(err)}` });
    }
    const slack = await this.slackProblem();
    if (slack) problems.push({ check: 'slack', reason: slack });
    const stuck = await this.stuckOutbox(problems.some((p) => p.check === 'database'));
    if (stuck) problems.push({ check: 'outbox', reason: stuck });
    return { ok: problems.length === 0, problems };
  }

  private slackProblem(): Promise<string | null> {
    const now = this.opts.now();
    if (!this.auth || now - this.auth.at >= this.opts.authCacheMs) {
      const result = this.opts.slackAuth().then(
        () => null,
        (err: unknown) => `Slack auth.test failed: ${slackErrorLabel(err)}`,
      );
      this.auth = { at: now, result };
    }
    return this.auth.result;
  }

  private async stuckOutbox(databaseDown: boolean): Promise<string | null> {
    if (databaseDown) return null;
    const now = this.opts.now();
    let worst: { channel: string; waitedMs: number } | undefined;
    try {
      for (const row of await this.opts.store.outboxBacklog(now)) {
        if (row.oldestDueCreatedAt === null) continue;
        const waitedMs = now - row.oldestDueCreatedAt;
        if (!worst || waitedMs > worst.waitedMs) worst = { channel: row.channel, waitedMs };
      }
    } catch (err) {
      return `the outbox cannot be read: ${errorMessage(err)}`;
    }
    if (!worst || worst.waitedMs <= this.opts.outboxStuckMs) return null;
    return `a Slack write to ${worst.channel} has waited ${Math.round(worst.waitedMs / 1000)} s (limit ${Math.round(this.opts.outboxStuckMs / 1000)} s)`;
  }
}

/**
 * auth.test on a client of its own: no retries and a short timeout, so a probe answers quickly, and no queue
 * shared with the interactive client. Failures are counted like every other Slack error.
 */
export function slackAuthCheck(token: string, apiUrl: string | undefined, onError: (error: string) => void): () => Promise<void> {
  const client = new webApi.WebClient(token, { ...(apiUrl ? { slackApiUrl: apiUrl } : {}), retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: 5_000 });
  return async () => {
    try {
      await client.auth.test();
    } catch (err) {
      onError(slackErrorLabel(err));
      throw err;
    }
  };
}
