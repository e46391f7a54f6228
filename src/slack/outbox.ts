/**
 * The one path for Slack writes. Rows wait in SQLite (so a restart loses nothing). Each channel sends
 * one write at a time and, when free, takes the highest priority lane whose head is due
 * (src/domain/outbox-lanes.ts): cards and replies to people first, card rewrites next, thread rows last,
 * each job's thread in order. When writes may start is decided by the ChannelPacer
 * (src/slack/channel-pacer.ts): a channel's next write 1 s after Slack answered its previous one,
 * chat.update within its workspace-wide tier, a 429 pausing the channel or the method for its Retry-After.
 * The WebClient is dedicated and never retries by itself, so a rate limit here cannot freeze the
 * interactive client used for button clicks.
 */
import { webApi } from '@slack/bolt';
import { z } from 'zod';
import { waveProgress, type Batch, type Job, type Tally } from '../domain/job.js';
import { laneRank } from '../domain/outbox-lanes.js';
import type { OutboxRow } from '../domain/outbox-message.js';
import type { QuietGate } from '../quiet-gate.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/contract.js';
import { errorMessage } from '../errors.js';
import type { HealthBoard } from '../health.js';
import type { SlackMetrics } from '../observability/metrics.js';
import type { Catalog } from '../providers/catalog.js';
import { DEFAULT_METHOD_BUDGETS, LocalChannelPacer, type ChannelPacer, type SlackMethod } from './channel-pacer.js';
import { slackErrorLabel } from './error-label.js';
import { DIGEST_MAX_BLOCKS, digestFit, incidentDigest } from './incident-digest.js';
import { incidentMessage, noteMessage, requestCard, resultLinesMessage, resultsMessage, summaryMessage, supersededCard, type SlackMessage } from './messages.js';
import { auditCsv } from './audit-csv.js';
import { resultsCsv } from './results-csv.js';

export interface OutboxOptions {
  token: string;
  /** Names the providers on cards; the built-in catalog when absent. */
  catalog?: Catalog;
  apiUrl?: string;
  /** The gap between Slack's answer to one write to a channel and the next write there. */
  channelIntervalMs: number;
  /** Workspace-wide chat.update calls per sliding minute (Tier 3); 50 when absent. */
  updatesPerMinute?: number;
  /** Workspace-wide chat.getPermalink calls per sliding minute (Tier 4); 100 when absent. */
  permalinksPerMinute?: number;
  /** Interactive requests first: each look at the queue, and each delivery, is a step that waits for them to pause (src/quiet-gate.ts). */
  quiet?: QuietGate;
  /** Least time between two progress updates of one running job's card; 0 when absent. */
  progressUpdateIntervalMs?: number;
  /** The schedule; a LocalChannelPacer built from the limits above when absent. */
  pacer?: ChannelPacer;
  /** Poll interval when idle. */
  idleMs: number;
  /** Longest wait between two tries of a write that failed transiently. */
  maxBackoffMs: number;
  now: () => number;
  log: Logger;
  health: HealthBoard;
  /** Counts every failed Slack call by method and error (GET /metrics). */
  metrics?: SlackMetrics;
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

/** Permalinks remembered per card (a card's link never changes); older ones are forgotten first. */
const PERMALINK_CACHE_SIZE = 5_000;

/** A write that can never succeed, whatever Slack says next time. */
class UndeliverableError extends Error {}

const PostResult = z.object({ ok: z.literal(true), ts: z.string(), channel: z.string() });

/**
 * Every request card carries its request id as message metadata (https://api.slack.com/metadata), so that a card whose
 * post may have reached Slack without the bot learning its ts can be found again (conversations.history with
 * include_all_metadata, https://api.slack.com/methods/conversations.history) instead of posted a second time.
 */
const CARD_EVENT = 'reboot_request';
const cardMetadata = (job: Job): SlackMetadata => ({ event_type: CARD_EVENT, event_payload: { request_id: job.id } });
/** A thread message names the outbox row it delivers, so that a retry of that row can find it (conversations.replies). */
const THREAD_EVENT = 'reboot_thread';
const threadMetadata = (row: OutboxRow): SlackMetadata => ({
  event_type: THREAD_EVENT,
  event_payload: { request_id: row.jobId ?? '', outbox_row: String(row.id) },
});
/** An incident digest names the outbox rows it delivers, so that a retry can find them (conversations.history). */
const ROWS_EVENT = 'reboot_rows';
const rowsMetadata = (rows: readonly OutboxRow[]): SlackMetadata => ({ event_type: ROWS_EVENT, event_payload: { outbox_rows: rows.map((r) => r.id).join(',') } });
type SlackMetadata = { event_type: string; event_payload: Record<string, string> };
const HistoryPage = z.object({
  ok: z.literal(true),
  messages: z.array(z.object({ ts: z.string(), metadata: z.object({ event_type: z.string(), event_payload: z.record(z.string(), z.unknown()).optional() }).optional() })),
  has_more: z.boolean().optional(),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
});
/** Pages read when looking for what an earlier try posted: a card among the channel's messages since its job was stored, a thread message among its thread's replies; 200 a page. */
const HISTORY_PAGES = 5;
const PermalinkResult = z.object({ ok: z.literal(true), permalink: z.string() });

/** A 429's Retry-After (seconds, as the WebClient reports it) in ms; a second when it is missing or unreadable. */
function retryAfterMsOf(err: unknown): number {
  return Math.max(1, Number((err as { retryAfter?: unknown }).retryAfter) || 1) * 1000;
}

/** The Web API method a row is written with, for the pacer. */
function methodOf(row: OutboxRow): SlackMethod {
  switch (row.message.kind) {
    case 'update_card':
    case 'supersede_card':
      return 'chat.update';
    case 'results_file':
    case 'audit_file':
      return 'files.upload';
    default:
      return 'chat.postMessage';
  }
}

export class Outbox {
  private readonly client: webApi.WebClient;
  private readonly pacer: ChannelPacer;
  /** Channels with a write on its way: each sends one at a time. */
  private readonly inFlight = new Set<string>();
  /** When each running job's card was last rewritten, to space its progress updates. */
  private readonly lastProgressUpdate = new Map<string, number>();
  private readonly permalinks = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = true;
  private wake: (() => void) | undefined;
  /** Set by kick(): a delivery finished or a row was queued while the loop was busy, so look again at once. */
  private kicked = false;
  /** A database failure in a delivery's bookkeeping, reported by the next tick. */
  private deliveryFailure: unknown;
  /** Rows left 'sending' (by a crash, or by bookkeeping that failed) have been queued again. */
  private requeued = false;
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
    this.pacer =
      opts.pacer ??
      new LocalChannelPacer({
        channelIntervalMs: opts.channelIntervalMs,
        perMinute: {
          ...DEFAULT_METHOD_BUDGETS,
          ...(opts.updatesPerMinute !== undefined ? { 'chat.update': opts.updatesPerMinute } : {}),
          ...(opts.permalinksPerMinute !== undefined ? { 'chat.getPermalink': opts.permalinksPerMinute } : {}),
        },
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
    while (this.running || this.inFlight.size > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** Wakes the loop, so delivery does not wait for the idle poll. */
  kick(): void {
    this.kicked = true;
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
      while (!this.stopped) {
        // Each look at the queue waits for a lull in Slack requests (src/quiet-gate.ts): a burst of commands is
        // acknowledged before the cards it caused are rendered and sent.
        if (this.opts.quiet) await this.opts.quiet.turn();
        this.kicked = false;
        const waitMs = await this.safeTick(() => this.tick());
        if (this.stopped) break;
        if (this.kicked) continue;
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
      // A row may be stuck 'sending' (its bookkeeping failed): it goes again once nothing is in flight.
      this.requeued = false;
      const reason = `outbox cannot use the database: ${errorMessage(err)}`;
      this.opts.health.set('outbox', reason, true);
      this.opts.log.error('outbox loop failed; backing off', { error: errorMessage(err), failures: this.loopFailures });
      return Math.min(30_000, 250 * 2 ** Math.min(this.loopFailures, 7));
    }
  }

  /** Starts the next write of every free channel that has one due; returns how long to wait before the next look. */
  private async tick(): Promise<number> {
    if (this.deliveryFailure !== undefined) {
      const failure = this.deliveryFailure;
      this.deliveryFailure = undefined;
      throw failure;
    }
    if (!this.requeued) {
      // Rows caught mid-send go out again (Slack may show one twice, never none); but never one still
      // on its way from this process: wait until the last delivery has finished (it kicks the loop).
      if (this.inFlight.size > 0) return this.opts.idleMs;
      await this.store.requeueInterruptedOutbox();
      this.requeued = true;
    }
    const now = this.opts.now();
    let wait = this.opts.idleMs;
    const byChannel = new Map<string, OutboxRow[]>();
    // While chat.update's budget is spent, the waiting card rewrites are not even read.
    const updatesOpenAt = await this.pacer.methodOpenAt('chat.update', now);
    if (updatesOpenAt > now) wait = Math.min(wait, updatesOpenAt - now);
    for (const row of await this.store.outboxHeads({ rewrites: updatesOpenAt <= now })) {
      if (this.inFlight.has(row.channel)) continue;
      const list = byChannel.get(row.channel) ?? [];
      list.push(row);
      byChannel.set(row.channel, list);
    }
    for (const [channel, heads] of byChannel) {
      heads.sort((a, b) => laneRank(a.message.kind) - laneRank(b.message.kind) || a.id - b.id);
      for (const row of heads) {
        // A lane whose head is not due (held results, a spent chat.update budget) lets the next lane go.
        if (row.notBefore > now) {
          wait = Math.min(wait, row.notBefore - now);
          continue;
        }
        const spacedUntil = await this.progressSpacing(row, now);
        if (spacedUntil > now) {
          wait = Math.min(wait, spacedUntil - now);
          continue;
        }
        const slot = await this.pacer.tryStart(methodOf(row), channel, now);
        if (slot.granted) {
          this.launch(row);
          break;
        }
        wait = Math.min(wait, slot.retryAt - now);
      }
    }
    return wait;
  }

  /**
   * When a card update may start: a running job's progress is shown at most every progressUpdateIntervalMs, so a
   * few long jobs cannot spend the workspace's chat.update budget (Tier 3, about 50 a minute:
   * https://api.slack.com/methods/chat.update) that other jobs' decisions and final cards need. Any other card
   * (pending, approved, denied, expired, completed) goes at once; a waiting update keeps coalescing meanwhile.
   */
  private async progressSpacing(row: OutboxRow, now: number): Promise<number> {
    const interval = this.opts.progressUpdateIntervalMs ?? 0;
    if (row.message.kind !== 'update_card' || row.jobId === null || interval <= 0) return now;
    const last = this.lastProgressUpdate.get(row.jobId);
    if (last === undefined || last + interval <= now) return now;
    const job = await this.store.getJob(row.jobId);
    if (job?.state !== 'running') {
      this.lastProgressUpdate.delete(row.jobId);
      return now;
    }
    return last + interval;
  }

  /**
   * Sends in the background (the pacer has granted the slot); the channel is busy until Slack has answered and the row
   * is settled. Each delivery is a step of its own (src/quiet-gate.ts): a look that finds fifty channels due would
   * otherwise render and send fifty messages in one turn of the event loop, while a burst of commands waits.
   */
  private launch(row: OutboxRow): void {
    this.inFlight.add(row.channel);
    const step = this.opts.quiet?.turn() ?? Promise.resolve();
    const delivery = step.then(() => (row.message.kind === 'incident' ? this.deliverIncidents(row) : this.deliver(row)));
    void delivery
      .catch((err: unknown) => {
        this.deliveryFailure ??= err;
      })
      .finally(() => {
        this.inFlight.delete(row.channel);
        this.kick();
      });
  }

  private async deliver(head: OutboxRow): Promise<void> {
    // The row as it stands once claimed (results may have been merged into it since the queue was read), with the
    // attempts made before this one, as the queue showed them.
    const claimed = await this.store.claimOutboxRow(head.id);
    if (!claimed) {
      await this.pacer.released(head.channel);
      return;
    }
    const row: OutboxRow = { ...claimed, attempts: claimed.attempts - 1 };
    const method = methodOf(row);
    try {
      await this.send(row);
    } catch (err) {
      await this.pacer.answered(row.channel, this.opts.now());
      await this.handleFailure([row], method, err);
      return;
    }
    await this.pacer.answered(row.channel, this.opts.now());
    await this.store.finishOutbox(row.id, 'done');
    if (row.message.kind === 'update_card' && row.jobId !== null) this.noteCardUpdate(row.jobId);
    this.delivered([row]);
  }

  private noteCardUpdate(jobId: string): void {
    // Bounded: entries of jobs no longer running are dropped when next looked at, and the oldest beyond 10,000.
    if (this.lastProgressUpdate.size >= 10_000) this.lastProgressUpdate.delete(this.lastProgressUpdate.keys().next().value as string);
    this.lastProgressUpdate.set(jobId, this.opts.now());
  }

  /**
   * Every incident notice of the channel that is due leaves in one message (src/slack/incident-digest.ts),
   * as many as fit; the rows are claimed, finished or retried together, so each is shown exactly once.
   */
  private async deliverIncidents(head: OutboxRow): Promise<void> {
    const due = await this.store.outboxDueOf(head.channel, 'incident', this.opts.now(), DIGEST_MAX_BLOCKS);
    const rows: OutboxRow[] = [];
    const notices: SlackMessage[] = [];
    for (const row of due) {
      const notice = await this.incidentNotice(row);
      if (notice) {
        rows.push(row);
        notices.push(notice);
        continue;
      }
      // A notice of a job the store does not know can never be written: it fails alone.
      if (await this.store.claimOutbox(row.id)) await this.handleFailure([row], 'chat.postMessage', new UndeliverableError(`outbox row ${row.id} names no known job`));
    }
    const fit = digestFit(notices);
    const noticeOf = new Map(rows.slice(0, fit).map((r, i) => [r.id, notices[i]]));
    const claimed = new Set(await this.store.claimOutboxRows(rows.slice(0, fit).map((r) => r.id)));
    const claimedRows = rows.slice(0, fit).filter((r) => claimed.has(r.id));
    if (claimedRows.length === 0) {
      await this.pacer.released(head.channel);
      return;
    }
    let sending = claimedRows;
    try {
      // Notices of an earlier try that Slack already shows (the process stopped between its answer and the
      // bookkeeping) are done; only the others are posted. A look-up that fails is retried like the post.
      sending = await this.notShownYet(head.channel, claimedRows);
      if (sending.length === 0) {
        await this.pacer.released(head.channel);
        return;
      }
      const digest = incidentDigest(sending.flatMap((r) => noticeOf.get(r.id) ?? []));
      await this.post(head.channel, digest, undefined, false, rowsMetadata(sending));
    } catch (err) {
      await this.pacer.answered(head.channel, this.opts.now());
      await this.handleFailure(sending, 'chat.postMessage', err);
      return;
    }
    await this.pacer.answered(head.channel, this.opts.now());
    await this.store.finishOutboxRows(sending.map((r) => r.id), 'done');
    this.delivered(sending);
  }

  /** One incident notice as it reads alone; undefined when its job is unknown. */
  private async incidentNotice(row: OutboxRow): Promise<SlackMessage | undefined> {
    if (row.message.kind !== 'incident' || !row.jobId) return undefined;
    const job = await this.store.getJob(row.jobId);
    if (!job) return undefined;
    const permalink = job.cardTs ? await this.permalink(job.channel, job.cardTs) : null;
    return incidentMessage(job, row.message.event, permalink, await this.store.tally(job.id), this.opts.catalog);
  }

  private delivered(rows: readonly OutboxRow[]): void {
    for (const row of rows) {
      this.opts.health.clear(`slack:${row.channel}`);
      this.opts.health.clear('slack:auth');
      this.opts.onDelivered?.(row);
    }
  }

  /** Rows that left as one message failed together: they are retried, or dropped, together. */
  private async handleFailure(rows: readonly OutboxRow[], method: SlackMethod, err: unknown): Promise<void> {
    const [row] = rows;
    if (!row) return;
    const ids = rows.map((r) => r.id);
    const attempts = Math.max(...rows.map((r) => r.attempts));
    const now = this.opts.now();
    const code = (err as { code?: unknown }).code;
    // A write the bot refuses to send (UndeliverableError) never reached Slack.
    if (!(err instanceof UndeliverableError)) this.opts.metrics?.slackError(method, slackErrorLabel(err));
    if (code === webApi.ErrorCode.RateLimitedError) {
      const retryAfterMs = retryAfterMsOf(err);
      await this.pacer.rateLimited(method, row.channel, retryAfterMs, now);
      await this.store.retryOutboxRows(ids, now + retryAfterMs, 'ratelimited');
      this.opts.log.warn('slack rate limited; pausing', { method, channel: row.channel, retryAfterMs });
      return;
    }
    const slackError = code === webApi.ErrorCode.PlatformError ? String((err as { data?: { error?: unknown } }).data?.error) : undefined;
    const reason = slackError ?? errorMessage(err);
    // HTTP errors (5xx), network errors and an unreadable answer are transient; so are the platform
    // errors Slack documents as such. Any other platform error will not change by trying again.
    const permanent = err instanceof UndeliverableError || (slackError !== undefined && !TRANSIENT.has(slackError));
    if (permanent) {
      await this.store.finishOutboxRows(ids, 'failed', reason);
      this.opts.log.error('slack write failed permanently', { kind: row.message.kind, channel: row.channel, jobId: row.jobId, rows: ids.length, error: reason });
      if (slackError !== undefined && BOT_WIDE_SLACK_ERRORS.has(slackError)) {
        this.opts.health.set('slack:auth', `Slack refuses the bot token: ${slackError}`, true);
      } else {
        this.opts.health.set(`slack:${row.channel}`, `last write to ${row.channel} refused for good: ${reason} (${row.message.kind})`, false);
      }
      for (const failed of rows) {
        try {
          await this.opts.onPermanentFailure?.(failed, reason);
        } catch (err) {
          this.opts.log.error('handling an undeliverable Slack write failed', { jobId: failed.jobId, error: errorMessage(err) });
        }
      }
      return;
    }
    const backoff = Math.min(this.opts.maxBackoffMs, 1000 * 2 ** Math.min(attempts, 20));
    await this.store.retryOutboxRows(ids, now + backoff, reason);
    if (attempts + 1 >= STALL_ATTEMPTS) {
      this.opts.health.set(`slack:${row.channel}`, `writes to ${row.channel} failing since ${attempts + 1} attempts: ${reason}; still retrying`, false);
    }
    this.opts.log.warn('slack write failed; will retry', { kind: row.message.kind, channel: row.channel, error: reason, attempt: attempts + 1, backoffMs: backoff });
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
      // A job's thread rows and rewrites wait while its card is queued (SqliteStore.outboxHeads): without
      // its ts now, it failed for good, and waiting would only hold up the rest of the thread.
      if (!job.cardTs) throw new UndeliverableError('the request card was never posted');
      return job.cardTs;
    };
    const message = row.message;
    switch (message.kind) {
      case 'post_card': {
        if (job.cardTs) return;
        // An earlier try may have reached Slack without the bot learning the card's ts: the process stopped between
        // Slack's answer and storing it (a crash, a replica killed), or the answer was unreadable. That card is
        // adopted instead of a second one being posted, which would stay on the channel with live buttons.
        const earlier = row.attempts > 0 ? await this.postedCard(job) : undefined;
        if (earlier !== undefined) {
          await store.setCardTs(job.id, earlier);
          this.opts.log.info('adopted a card posted by an earlier try instead of posting it again', { jobId: job.id, channel: job.channel });
          return;
        }
        const res = PostResult.parse(
          await this.client.chat.postMessage({ channel: job.channel, ...(await card()), metadata: cardMetadata(job), unfurl_links: false, unfurl_media: false }),
        );
        await store.setCardTs(job.id, res.ts);
        return;
      }
      case 'update_card':
        await this.client.chat.update({ channel: job.channel, ts: threadTs(), ...(await card()) });
        return;
      case 'thread_lines':
        await this.postInThread(row, job, resultLinesMessage(message.lines), threadTs());
        return;
      case 'thread_results':
        await this.postInThread(row, job, resultsMessage(message.layout, message.entries), threadTs());
        return;
      case 'results_file':
        await this.uploadFile(
          job,
          {
            csv: resultsCsv(job, await store.outcomes(job.id), await store.preflight(job.id)),
            filename: `reboot-${job.id}.csv`,
            title: `Results of ${job.id} (${job.ids.length} instances)`,
            comment: `Every instance of \`${job.id}\` with its result, as CSV.`,
            what: 'The full table of results',
          },
          threadTs(),
        );
        return;
      case 'audit_file':
        // Built at delivery, so the file holds the trail up to the moment it is sent (its own request included).
        await this.uploadFile(
          job,
          {
            csv: auditCsv(job, await store.auditTrail(job.id), await store.outcomes(job.id), await store.preflight(job.id)),
            filename: `audit-${job.id}.csv`,
            title: `Audit trail of ${job.id}`,
            comment: `The audit trail of \`${job.id}\` and every instance's result, as CSV, asked for by <@${message.requestedBy}>.`,
            what: 'The audit trail',
          },
          threadTs(),
        );
        return;
      case 'thread_note':
        await this.postInThread(row, job, noteMessage(message.text), threadTs());
        return;
      case 'summary':
        await this.postInThread(row, job, summaryMessage(job, await tally(), this.opts.catalog), threadTs(), true);
        return;
      case 'supersede_card': {
        const live = job.cardTs ? await this.permalink(job.channel, job.cardTs) : null;
        await this.client.chat.update({ channel: job.channel, ts: message.ts, ...supersededCard(job, live) });
        return;
      }
      case 'requester_notice':
        // A direct message: its conversation's history would need im:history, so a retry may show it twice.
        await this.post(row.channel, noteMessage(message.text));
        return;
      case 'incident': {
        // launch() sends incident notices through deliverIncidents, several to a message; this is one alone.
        const notice = await this.incidentNotice(row);
        if (!notice) throw new UndeliverableError(`outbox row ${row.id} names no known job`);
        await this.post(row.channel, notice);
        return;
      }
    }
  }

  /**
   * The ts of this request's card if Slack already shows it in its channel (posted since the job was stored).
   */
  private async postedCard(job: Job): Promise<string | undefined> {
    return this.lookUp(
      job,
      'conversations.history',
      (cursor) =>
        this.client.conversations.history({
          channel: job.channel,
          // The card was queued with its job: nothing older can be it (a second of margin for clocks).
          oldest: String(Math.floor(job.createdAt / 1000) - 1),
          limit: 200,
          include_all_metadata: true,
          ...(cursor ? { cursor } : {}),
        }),
      (m) => m.metadata?.event_type === CARD_EVENT && m.metadata.event_payload?.request_id === job.id,
    );
  }

  /**
   * Of `rows`, those Slack does not show yet in `channel`'s history. Only rows tried before are looked for (a first try
   * cannot have been shown); the rows found are marked done here. A look-up Slack refuses for good finds nothing.
   */
  private async notShownYet(channel: string, rows: readonly OutboxRow[]): Promise<OutboxRow[]> {
    if (!rows.some((r) => r.attempts > 0)) return [...rows];
    const wanted = new Set(rows.map((r) => String(r.id)));
    const shown = new Set<string>();
    await this.lookUp(
      { channel },
      'conversations.history',
      (cursor) =>
        this.client.conversations.history({
          channel,
          oldest: String(Math.floor(Math.min(...rows.map((r) => r.createdAt)) / 1000) - 1),
          limit: 200,
          include_all_metadata: true,
          ...(cursor ? { cursor } : {}),
        }),
      (m) => {
        const ids = m.metadata?.event_type === ROWS_EVENT ? m.metadata.event_payload?.outbox_rows : undefined;
        if (typeof ids === 'string') for (const id of ids.split(',')) if (wanted.has(id)) shown.add(id);
        return shown.size === wanted.size;
      },
    );
    if (shown.size === 0) return [...rows];
    const done = rows.filter((r) => shown.has(String(r.id)));
    await this.store.finishOutboxRows(done.map((r) => r.id), 'done');
    this.opts.log.info('Slack writes shown on an earlier try are not posted again', { channel, rows: done.length });
    this.delivered(done);
    return rows.filter((r) => !shown.has(String(r.id)));
  }

  /**
   * The ts of the first message of a paged history call that `matches`, looking through HISTORY_PAGES pages at most.
   * A look-up Slack refuses for good (no history scope on an older install, a channel the bot is not in) finds
   * nothing, so the caller posts, which may show a message twice, as before; a transient failure throws, and the
   * row is retried like a failed post.
   */
  private async lookUp(
    where: { channel: string; id?: string },
    method: string,
    page: (cursor: string | undefined) => Promise<unknown>,
    matches: (m: z.infer<typeof HistoryPage>['messages'][number]) => boolean,
  ): Promise<string | undefined> {
    try {
      let cursor: string | undefined;
      for (let n = 0; n < HISTORY_PAGES; n++) {
        const res = HistoryPage.parse(await page(cursor));
        const found = res.messages.find(matches);
        if (found) return found.ts;
        cursor = res.response_metadata?.next_cursor;
        if (!res.has_more || !cursor) return undefined;
      }
      return undefined;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const slackError = code === webApi.ErrorCode.PlatformError ? String((err as { data?: { error?: unknown } }).data?.error) : undefined;
      if (slackError === undefined || TRANSIENT.has(slackError)) throw err;
      this.opts.metrics?.slackError(method, slackErrorLabel(err));
      this.opts.log.warn('cannot look for what an earlier try posted; posting it, so it may show twice', { jobId: where.id ?? null, channel: where.channel, method, error: slackError });
      return undefined;
    }
  }

  private async post(channel: string, msg: SlackMessage, threadTs?: string, broadcast = false, metadata?: SlackMetadata): Promise<void> {
    const base = { channel, text: msg.text, blocks: msg.blocks, unfurl_links: false, unfurl_media: false, ...(metadata ? { metadata } : {}) };
    if (threadTs) await this.client.chat.postMessage({ ...base, thread_ts: threadTs, reply_broadcast: broadcast });
    else await this.client.chat.postMessage(base);
  }

  /**
   * One row's message in its job's thread. A row tried before (a crash between Slack's answer and its bookkeeping, an
   * unreadable answer) is first looked for among the thread's replies by its row id, and not posted again when Slack
   * shows it: its content was fixed at its first try (the store merges nothing more into it).
   */
  private async postInThread(row: OutboxRow, job: Job, msg: SlackMessage, threadTs: string, broadcast = false): Promise<void> {
    if (row.attempts > 0 && (await this.inThread(job, row, threadTs))) {
      this.opts.log.info('a thread message Slack got on an earlier try is not posted again', { jobId: job.id, row: row.id });
      return;
    }
    await this.post(job.channel, msg, threadTs, broadcast, threadMetadata(row));
  }

  /** Whether the thread already holds the message of `row`; false when Slack refuses the look-up for good. */
  private async inThread(job: Job, row: OutboxRow, threadTs: string): Promise<boolean> {
    const id = String(row.id);
    return this.lookUp(job, 'conversations.replies', (cursor) =>
      this.client.conversations.replies({ channel: job.channel, ts: threadTs, limit: 200, include_all_metadata: true, ...(cursor ? { cursor } : {}) }),
      (m) => m.metadata?.event_type === THREAD_EVENT && m.metadata.event_payload?.outbox_row === id,
    ).then((ts) => ts !== undefined);
  }

  /**
   * A CSV file in the thread (the results table, an audit export), through files.getUploadURLExternal, the
   * upload itself and files.completeUploadExternal (https://api.slack.com/methods/files.getUploadURLExternal ,
   * https://api.slack.com/methods/files.completeUploadExternal). Without the files:write scope (an install
   * from an older manifest) the thread says so instead.
   */
  private async uploadFile(job: Job, file: { csv: string; filename: string; title: string; comment: string; what: string }, threadTs: string): Promise<void> {
    try {
      await this.client.filesUploadV2({
        channel_id: job.channel,
        thread_ts: threadTs,
        file: Buffer.from(file.csv, 'utf8'),
        filename: file.filename,
        title: file.title,
        initial_comment: file.comment,
      });
    } catch (err) {
      if ((err as { data?: { error?: unknown } }).data?.error !== 'missing_scope') throw err;
      this.opts.metrics?.slackError('files.upload', 'missing_scope');
      this.opts.log.warn('cannot upload a file: the app lacks the files:write scope', { jobId: job.id, file: file.filename });
      await this.post(job.channel, noteMessage(`${file.what} could not be attached: the app lacks the \`files:write\` scope (reinstall it from manifest.yml).`), threadTs);
    }
  }

  /**
   * A card's permalink, asked once per card (it never changes) and within chat.getPermalink's tier
   * (https://api.slack.com/methods/chat.getPermalink); with the budget spent the notice goes without it.
   */
  private async permalink(channel: string, ts: string): Promise<string | null> {
    const key = `${channel} ${ts}`;
    const known = this.permalinks.get(key);
    if (known !== undefined) return known;
    const now = this.opts.now();
    if (!(await this.pacer.tryStart('chat.getPermalink', undefined, now)).granted) {
      this.opts.log.warn('chat.getPermalink budget spent; notice goes without the link', { channel });
      return null;
    }
    try {
      const link = PermalinkResult.parse(await this.client.chat.getPermalink({ channel, message_ts: ts })).permalink;
      this.permalinks.set(key, link);
      if (this.permalinks.size > PERMALINK_CACHE_SIZE) this.permalinks.delete(this.permalinks.keys().next().value ?? key);
      return link;
    } catch (err) {
      this.opts.metrics?.slackError('chat.getPermalink', slackErrorLabel(err));
      if ((err as { code?: unknown }).code === webApi.ErrorCode.RateLimitedError) {
        await this.pacer.rateLimited('chat.getPermalink', undefined, retryAfterMsOf(err), this.opts.now());
      }
      // A missing link must not hold back the incident notice itself.
      this.opts.log.warn('chat.getPermalink failed', { error: errorMessage(err) });
      return null;
    }
  }
}

/** A rolling job's progress for its card (domain/job.ts waveProgress), as CardView takes it. */
function waveOf(job: Job, batches: readonly Batch[]): { wave?: { current: number; total: number } } {
  const wave = waveProgress(job, batches);
  return wave === undefined ? {} : { wave };
}
