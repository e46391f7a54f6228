/**
 * The one path for Slack writes. Rows wait in SQLite (so a restart loses nothing), leave one channel
 * at a time in order, at most about one per second per channel, and a 429 pauses that channel for
 * its Retry-After. The WebClient is dedicated and never retries by itself, so a rate limit here
 * cannot freeze the interactive client used for button clicks.
 */
import { webApi } from '@slack/bolt';
import { z } from 'zod';
import type { Batch, Job, Tally } from '../domain/job.js';
import type { OutboxRow } from '../domain/outbox-message.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/contract.js';
import { errorMessage } from '../errors.js';
import type { HealthBoard } from '../health.js';
import type { Catalog } from '../providers/catalog.js';
import { incidentMessage, noteMessage, requestCard, resultLinesMessage, resultsMessage, summaryMessage, supersededCard, type SlackMessage } from './messages.js';
import { resultsCsv } from './results-csv.js';

export interface OutboxOptions {
  token: string;
  /** Names the providers on cards; the built-in catalog when absent. */
  catalog?: Catalog;
  apiUrl?: string;
  /** Spacing between two writes to one channel. */
  channelIntervalMs: number;
  /** Poll interval when idle. */
  idleMs: number;
  /** Longest wait between two tries of a write that failed transiently. */
  maxBackoffMs: number;
  now: () => number;
  log: Logger;
  health: HealthBoard;
  /** Told about a write Slack refused for good, e.g. to tell the requester their card never appeared. */
  onPermanentFailure?: (row: OutboxRow, slackError: string) => void | Promise<void>;
  onDelivered?: (row: OutboxRow) => void;
}

/**
 * Slack errors that say the request was not carried out and may succeed later. They are retried for
 * as long as it takes: Slack incidents last longer than any fixed number of attempts.
 * https://api.slack.com/methods/chat.postMessage#errors documents internal_error, fatal_error,
 * service_unavailable, request_timeout and ratelimited as such.
 */
const TRANSIENT = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited', 'team_added_to_org']);

/** Errors that stop every write, not one channel's: the health check fails until a write succeeds. */
export const BOT_WIDE_SLACK_ERRORS: ReadonlySet<string> = new Set(['invalid_auth', 'token_revoked', 'account_inactive', 'not_authed', 'token_expired', 'missing_scope']);

/** After this many transient failures in a row, one channel's stalled delivery is shown in /healthz. */
const STALL_ATTEMPTS = 5;

/** A write that can never succeed, whatever Slack says next time. */
class UndeliverableError extends Error {}

const PostResult = z.object({ ok: z.literal(true), ts: z.string(), channel: z.string() });
const PermalinkResult = z.object({ ok: z.literal(true), permalink: z.string() });

export class Outbox {
  private readonly client: webApi.WebClient;
  private readonly nextSlot = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = true;
  private wake: (() => void) | undefined;
  /** Consecutive failures of the loop itself (the database, not Slack), for its backoff. */
  private loopFailures = 0;

  constructor(
    private readonly store: Store,
    private readonly opts: OutboxOptions,
  ) {
    this.client = new webApi.WebClient(opts.token, {
      ...(opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {}),
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: 15_000,
    });
    // Every commit that queued a row wakes the loop, so nobody has to remember to.
    store.onOutboxWritten(() => this.kick());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  /** Wakes the loop, so delivery does not wait for the idle poll. */
  kick(): void {
    this.wake?.();
  }

  /** Resolves once nothing is waiting (tests and graceful shutdown). */
  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.store.outboxPendingCount()) > 0) {
      if (Date.now() > deadline) throw new Error('outbox did not drain in time');
      this.kick();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      let requeued = false;
      while (!this.stopped) {
        const waitMs = await this.safeTick(async () => {
          // Rows caught mid-send by a crash go out again: Slack may show one twice, never none.
          if (!requeued) await this.store.requeueInterruptedOutbox();
          requeued = true;
          return this.tick();
        });
        // After a failed tick a row may be stuck 'sending' (its bookkeeping failed): send it again.
        if (this.loopFailures > 0) requeued = false;
        if (this.stopped) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, Math.max(1, waitMs));
        });
        if (this.timer) clearTimeout(this.timer);
        this.wake = undefined;
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * No failure may end the loop or the process: a database that cannot be written (disk full) is
   * logged, shown in /healthz, and tried again with a growing pause.
   */
  private async safeTick(step: () => Promise<number>): Promise<number> {
    try {
      const wait = await step();
      if (this.loopFailures > 0) this.opts.log.info('outbox recovered', { after: this.loopFailures });
      this.loopFailures = 0;
      this.opts.health.clear('outbox');
      return wait;
    } catch (err) {
      this.loopFailures += 1;
      const reason = `outbox cannot use the database: ${errorMessage(err)}`;
      this.opts.health.set('outbox', reason, true);
      this.opts.log.error('outbox loop failed; backing off', { error: errorMessage(err), failures: this.loopFailures });
      return Math.min(30_000, 250 * 2 ** Math.min(this.loopFailures, 7));
    }
  }

  /** Sends every channel head that is due; returns how long to wait before the next look. */
  private async tick(): Promise<number> {
    const now = this.opts.now();
    let wait = this.opts.idleMs;
    const due: OutboxRow[] = [];
    for (const row of await this.store.outboxHeads()) {
      const at = Math.max(row.notBefore, this.nextSlot.get(row.channel) ?? 0);
      if (at <= now) due.push(row);
      else wait = Math.min(wait, at - now);
    }
    // Every delivery finishes before a failure is reported, so a requeue never races one in flight.
    const settled = await Promise.allSettled(due.map((row) => this.deliver(row)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return due.length > 0 ? Math.min(wait, this.opts.channelIntervalMs) : wait;
  }

  private async deliver(row: OutboxRow): Promise<void> {
    if (!(await this.store.claimOutbox(row.id))) return;
    this.nextSlot.set(row.channel, this.opts.now() + this.opts.channelIntervalMs);
    try {
      await this.send(row);
    } catch (err) {
      await this.handleFailure(row, err);
      return;
    }
    await this.store.finishOutbox(row.id, 'done');
    this.opts.health.clear(`slack:${row.channel}`);
    this.opts.health.clear('slack:auth');
    this.opts.onDelivered?.(row);
  }

  private async handleFailure(row: OutboxRow, err: unknown): Promise<void> {
    const now = this.opts.now();
    const code = (err as { code?: unknown }).code;
    if (code === webApi.ErrorCode.RateLimitedError) {
      const retryAfterMs = Math.max(1, Number((err as { retryAfter?: unknown }).retryAfter) || 1) * 1000;
      this.nextSlot.set(row.channel, now + retryAfterMs);
      await this.store.retryOutbox(row.id, now + retryAfterMs, 'ratelimited');
      this.opts.log.warn('slack rate limited; pausing channel', { channel: row.channel, retryAfterMs });
      return;
    }
    const slackError = code === webApi.ErrorCode.PlatformError ? String((err as { data?: { error?: unknown } }).data?.error) : undefined;
    const reason = slackError ?? errorMessage(err);
    // HTTP errors (5xx), network errors and an unreadable answer are transient; so are the platform
    // errors Slack documents as such. Any other platform error will not change by trying again.
    const permanent = err instanceof UndeliverableError || (slackError !== undefined && !TRANSIENT.has(slackError));
    if (permanent) {
      await this.store.finishOutbox(row.id, 'failed', reason);
      this.opts.log.error('slack write failed permanently', { kind: row.message.kind, channel: row.channel, jobId: row.jobId, error: reason });
      if (slackError !== undefined && BOT_WIDE_SLACK_ERRORS.has(slackError)) {
        this.opts.health.set('slack:auth', `Slack refuses the bot token: ${slackError}`, true);
      } else {
        this.opts.health.set(`slack:${row.channel}`, `last write to ${row.channel} refused for good: ${reason} (${row.message.kind})`, false);
      }
      try {
        await this.opts.onPermanentFailure?.(row, reason);
      } catch (err) {
        this.opts.log.error('handling an undeliverable Slack write failed', { jobId: row.jobId, error: errorMessage(err) });
      }
      return;
    }
    const backoff = Math.min(this.opts.maxBackoffMs, 1000 * 2 ** Math.min(row.attempts, 20));
    await this.store.retryOutbox(row.id, now + backoff, reason);
    if (row.attempts + 1 >= STALL_ATTEMPTS) {
      this.opts.health.set(`slack:${row.channel}`, `writes to ${row.channel} failing since ${row.attempts + 1} attempts: ${reason}; still retrying`, false);
    }
    this.opts.log.warn('slack write failed; will retry', { kind: row.message.kind, channel: row.channel, error: reason, attempt: row.attempts + 1, backoffMs: backoff });
  }

  private async send(row: OutboxRow): Promise<void> {
    const { store } = this;
    const job = row.jobId ? await store.getJob(row.jobId) : undefined;
    if (!job) throw new UndeliverableError(`outbox row ${row.id} names no known job`);
    const tally = async (): Promise<Tally> => store.tally(job.id);
    const card = async (): Promise<SlackMessage> =>
      requestCard(
        { job, approvals: await store.approvals(job.id), tally: await tally(), preflight: await store.preflight(job.id), ...waveOf(job, await store.batches(job.id)) },
        this.opts.catalog,
      );
    const threadTs = (): string => {
      // Rows of one channel leave in order, so the card's own post came first: without its ts now,
      // it failed for good, and waiting would only hold up the rest of the channel.
      if (!job.cardTs) throw new UndeliverableError('the request card was never posted');
      return job.cardTs;
    };
    const message = row.message;
    switch (message.kind) {
      case 'post_card': {
        if (job.cardTs) return;
        const res = PostResult.parse(await this.client.chat.postMessage({ channel: job.channel, ...(await card()), unfurl_links: false, unfurl_media: false }));
        await store.setCardTs(job.id, res.ts);
        return;
      }
      case 'update_card':
        await this.client.chat.update({ channel: job.channel, ts: threadTs(), ...(await card()) });
        return;
      case 'thread_lines':
        await this.post(job.channel, resultLinesMessage(message.lines), threadTs());
        return;
      case 'thread_results':
        await this.post(job.channel, resultsMessage(message.layout, message.entries), threadTs());
        return;
      case 'results_file':
        await this.uploadResults(job, resultsCsv(job, await store.outcomes(job.id), await store.preflight(job.id)), threadTs());
        return;
      case 'thread_note':
        await this.post(job.channel, noteMessage(message.text), threadTs());
        return;
      case 'summary':
        await this.post(job.channel, summaryMessage(job, await tally(), this.opts.catalog), threadTs(), true);
        return;
      case 'supersede_card': {
        const live = job.cardTs ? await this.permalink(job.channel, job.cardTs) : null;
        await this.client.chat.update({ channel: job.channel, ts: message.ts, ...supersededCard(job, live) });
        return;
      }
      case 'requester_notice':
        await this.post(row.channel, noteMessage(message.text));
        return;
      case 'incident': {
        const permalink = job.cardTs ? await this.permalink(job.channel, job.cardTs) : null;
        await this.post(row.channel, incidentMessage(job, message.event, permalink, await tally(), this.opts.catalog));
        return;
      }
    }
  }

  private async post(channel: string, msg: SlackMessage, threadTs?: string, broadcast = false): Promise<void> {
    const base = { channel, text: msg.text, blocks: msg.blocks, unfurl_links: false, unfurl_media: false };
    if (threadTs) await this.client.chat.postMessage({ ...base, thread_ts: threadTs, reply_broadcast: broadcast });
    else await this.client.chat.postMessage(base);
  }

  /**
   * The whole table as a file in the thread, through files.getUploadURLExternal, the upload itself and
   * files.completeUploadExternal (https://api.slack.com/methods/files.getUploadURLExternal ,
   * https://api.slack.com/methods/files.completeUploadExternal). Without the files:write scope (an install
   * from an older manifest) the thread says so instead: the results themselves are all in it already.
   */
  private async uploadResults(job: Job, csv: string, threadTs: string): Promise<void> {
    try {
      await this.client.filesUploadV2({
        channel_id: job.channel,
        thread_ts: threadTs,
        file: Buffer.from(csv, 'utf8'),
        filename: `reboot-${job.id}.csv`,
        title: `Results of ${job.id} (${job.ids.length} instances)`,
        initial_comment: `Every instance of \`${job.id}\` with its result, as CSV.`,
      });
    } catch (err) {
      if ((err as { data?: { error?: unknown } }).data?.error !== 'missing_scope') throw err;
      this.opts.log.warn('cannot upload the results file: the app lacks the files:write scope', { jobId: job.id });
      await this.post(job.channel, noteMessage(`The full table of results could not be attached: the app lacks the \`files:write\` scope (reinstall it from manifest.yml).`), threadTs);
    }
  }

  private async permalink(channel: string, ts: string): Promise<string | null> {
    try {
      return PermalinkResult.parse(await this.client.chat.getPermalink({ channel, message_ts: ts })).permalink;
    } catch (err) {
      // A missing link must not hold back the incident notice itself.
      this.opts.log.warn('chat.getPermalink failed', { error: errorMessage(err) });
      return null;
    }
  }
}

/** A rolling job's progress for its card: the first wave not yet done, of how many. */
function waveOf(job: Job, batches: readonly Batch[]): { wave?: { current: number; total: number } } {
  if (job.rolling === null || batches.length === 0) return {};
  const total = Math.max(...batches.map((b) => b.wave)) + 1;
  const open = batches.filter((b) => b.state !== 'done').map((b) => b.wave);
  return { wave: { current: (open.length > 0 ? Math.min(...open) : total - 1) + 1, total } };
}
