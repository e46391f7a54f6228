/**
 * The one path for Slack writes. Rows wait in SQLite (so a restart loses nothing), leave one channel
 * at a time in order, at most about one per second per channel, and a 429 pauses that channel for
 * its Retry-After. The WebClient is dedicated and never retries by itself, so a rate limit here
 * cannot freeze the interactive client used for button clicks.
 */
import { webApi } from '@slack/bolt';
import { z } from 'zod';
import { tallyOf } from '../jobs/job.js';
import type { Logger } from '../log.js';
import type { OutboxRow, Store } from '../store/store.js';
import { incidentMessage, noteMessage, requestCard, resultLinesMessage, summaryMessage, type SlackMessage } from './messages.js';

export interface OutboxOptions {
  token: string;
  apiUrl?: string;
  /** Spacing between two writes to one channel. */
  channelIntervalMs: number;
  /** Poll interval when idle. */
  idleMs: number;
  maxAttempts: number;
  now: () => number;
  log: Logger;
  /** Told about a write Slack refused for good, e.g. to tell the requester their card never appeared. */
  onPermanentFailure?: (row: OutboxRow, slackError: string) => void;
  onDelivered?: (row: OutboxRow) => void;
}

/** Slack errors that no retry can fix: the row is dropped and logged. */
const PERMANENT = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_blocks',
  'invalid_blocks_format',
  'msg_blocks_too_long',
  'msg_too_long',
  'cant_update_message',
  'message_not_found',
  'restricted_action',
  'restricted_action_thread_locked',
  'cannot_reply_to_message',
  'invalid_auth',
  'token_revoked',
  'missing_scope',
  'account_inactive',
]);

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
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.store.requeueInterruptedOutbox();
    void this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  /** Called after enqueueing, so delivery does not wait for the idle poll. */
  kick(): void {
    this.wake?.();
  }

  /** Resolves once nothing is waiting (tests and graceful shutdown). */
  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.store.outboxPendingCount() > 0) {
      if (Date.now() > deadline) throw new Error('outbox did not drain in time');
      this.kick();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped) {
        const waitMs = await this.tick();
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

  /** Sends every channel head that is due; returns how long to wait before the next look. */
  private async tick(): Promise<number> {
    const now = this.opts.now();
    let wait = this.opts.idleMs;
    const due: OutboxRow[] = [];
    for (const row of this.store.outboxHeads()) {
      const at = Math.max(row.notBefore, this.nextSlot.get(row.channel) ?? 0);
      if (at <= now) due.push(row);
      else wait = Math.min(wait, at - now);
    }
    await Promise.all(due.map((row) => this.deliver(row)));
    return due.length > 0 ? Math.min(wait, this.opts.channelIntervalMs) : wait;
  }

  private async deliver(row: OutboxRow): Promise<void> {
    if (!this.store.claimOutbox(row.id)) return;
    this.nextSlot.set(row.channel, this.opts.now() + this.opts.channelIntervalMs);
    try {
      await this.send(row);
      this.store.finishOutbox(row.id, 'done');
      this.opts.onDelivered?.(row);
    } catch (err) {
      this.handleFailure(row, err);
    }
  }

  private handleFailure(row: OutboxRow, err: unknown): void {
    const now = this.opts.now();
    const code = (err as { code?: unknown }).code;
    if (code === webApi.ErrorCode.RateLimitedError) {
      const retryAfterMs = Math.max(1, Number((err as { retryAfter?: unknown }).retryAfter) || 1) * 1000;
      this.nextSlot.set(row.channel, now + retryAfterMs);
      this.store.retryOutbox(row.id, now + retryAfterMs, 'ratelimited');
      this.opts.log.warn('slack rate limited; pausing channel', { channel: row.channel, retryAfterMs });
      return;
    }
    const slackError = code === webApi.ErrorCode.PlatformError ? String((err as { data?: { error?: unknown } }).data?.error) : undefined;
    const reason = slackError ?? (err instanceof Error ? err.message : String(err));
    const permanent = err instanceof UndeliverableError || (slackError !== undefined && PERMANENT.has(slackError));
    if (permanent || row.attempts + 1 >= this.opts.maxAttempts) {
      this.store.finishOutbox(row.id, 'failed', reason);
      this.opts.log.error('slack write failed permanently', { kind: row.kind, channel: row.channel, jobId: row.jobId, error: reason });
      this.opts.onPermanentFailure?.(row, reason);
      return;
    }
    const backoff = Math.min(60_000, 1000 * 2 ** row.attempts);
    this.store.retryOutbox(row.id, now + backoff, reason);
    this.opts.log.warn('slack write failed; will retry', { kind: row.kind, error: reason, backoffMs: backoff });
  }

  private async send(row: OutboxRow): Promise<void> {
    const job = row.jobId ? this.store.getJob(row.jobId) : undefined;
    if (!job) throw new UndeliverableError(`outbox row ${row.id} names no known job`);
    const card = (): SlackMessage =>
      requestCard({ job, approvals: this.store.approvals(job.id), tally: tallyOf(job, this.store.outcomes(job.id)) });
    const threadTs = (): string => {
      // Rows of one channel leave in order, so the card's own post came first: without its ts now,
      // it failed for good, and waiting would only hold up the rest of the channel.
      if (!job.cardTs) throw new UndeliverableError('the request card was never posted');
      return job.cardTs;
    };
    switch (row.kind) {
      case 'post_card': {
        if (job.cardTs) return;
        const res = PostResult.parse(await this.client.chat.postMessage({ channel: job.channel, ...card(), unfurl_links: false, unfurl_media: false }));
        this.store.setCardTs(job.id, res.ts);
        return;
      }
      case 'update_card':
        await this.client.chat.update({ channel: job.channel, ts: threadTs(), ...card() });
        return;
      case 'thread_lines': {
        const { lines } = z.object({ lines: z.array(z.string()) }).parse(row.payload);
        await this.post(job.channel, resultLinesMessage(lines), threadTs());
        return;
      }
      case 'thread_note': {
        const { text } = z.object({ text: z.string() }).parse(row.payload);
        await this.post(job.channel, noteMessage(text), threadTs());
        return;
      }
      case 'summary':
        await this.post(job.channel, summaryMessage(job, tallyOf(job, this.store.outcomes(job.id))), threadTs(), true);
        return;
      case 'incident': {
        const { event } = z.object({ event: z.enum(['approved', 'completed']) }).parse(row.payload);
        const permalink = job.cardTs ? await this.permalink(job.channel, job.cardTs) : null;
        await this.post(row.channel, incidentMessage(job, event, permalink, tallyOf(job, this.store.outcomes(job.id))));
        return;
      }
    }
  }

  private async post(channel: string, msg: SlackMessage, threadTs?: string, broadcast = false): Promise<void> {
    const base = { channel, text: msg.text, blocks: msg.blocks, unfurl_links: false, unfurl_media: false };
    if (threadTs) await this.client.chat.postMessage({ ...base, thread_ts: threadTs, reply_broadcast: broadcast });
    else await this.client.chat.postMessage(base);
  }

  private async permalink(channel: string, ts: string): Promise<string | null> {
    try {
      return PermalinkResult.parse(await this.client.chat.getPermalink({ channel, message_ts: ts })).permalink;
    } catch (err) {
      // A missing link must not hold back the incident notice itself.
      this.opts.log.warn('chat.getPermalink failed', { error: err instanceof Error ? err.message : String(err) });
      return null;
    }
  }
}
