/**
 * What the Slack outbox carries: one tagged message per row, written by the job core's reporter in
 * the same transaction as the state change it reports, and rendered by the outbox at delivery time
 * (cards from the job's current state, so a coalesced update is never stale).
 */
import { z } from 'zod';
import type { JobOutcome } from './outcome.js';

/** Every verdict an outcome can carry, as stored in a results row (mirrors JobOutcome). */
export const JobOutcomeSchema: z.ZodType<JobOutcome> = z.union([
  z.object({ id: z.string(), status: z.literal('succeeded'), detail: z.string().optional() }),
  z.object({ id: z.string(), status: z.literal('checked'), detail: z.string().optional() }),
  z.object({ id: z.string(), status: z.literal('failed'), code: z.string(), message: z.string(), requestId: z.string().optional() }),
  z.object({ id: z.string(), status: z.literal('unknown'), reason: z.string() }),
  z.object({ id: z.string(), status: z.enum(['verified', 'unconfirmed', 'not_back']), detail: z.string() }),
  z.object({ id: z.string(), status: z.literal('not_started'), reason: z.string() }),
  z.object({ id: z.string(), status: z.literal('cancelled'), reason: z.string() }),
]);

/**
 * One instance's result as a thread message reports it: the outcome itself (rendered at delivery), the
 * name pre-flight read, and what it costs in characters of the rendered message, so the store can fill a
 * message up to Slack's size limits without knowing how it is rendered.
 */
export const ResultEntrySchema = z.object({ outcome: JobOutcomeSchema, name: z.string().optional(), cost: z.number().int().nonnegative() });
export type ResultEntry = z.infer<typeof ResultEntrySchema>;

/**
 * How a results message is laid out: `lines` is one line per instance (small jobs); `grouped` lists
 * failures one per line and successes compactly, ids in code blocks.
 */
export const ResultsLayoutSchema = z.enum(['lines', 'grouped']);
export type ResultsLayout = z.infer<typeof ResultsLayoutSchema>;

export const OutboxMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('post_card') }),
  z.object({ kind: z.literal('update_card') }),
  /** Pre-rendered result lines: written before results were structured; still delivered from an older database. */
  z.object({ kind: z.literal('thread_lines'), lines: z.array(z.string()) }),
  /** Structured results for the thread, merged by size and rendered grouped by outcome at delivery. */
  z.object({ kind: z.literal('thread_results'), layout: ResultsLayoutSchema, entries: z.array(ResultEntrySchema) }),
  /** The whole per-instance table of a large job as a CSV file in its thread, built from the stored outcomes. */
  z.object({ kind: z.literal('results_file') }),
  /** `/reboot audit`: the job's audit trail and per-instance outcomes as a CSV file in its thread, asked for by `requestedBy`. */
  z.object({ kind: z.literal('audit_file'), requestedBy: z.string() }),
  z.object({ kind: z.literal('thread_note'), text: z.string() }),
  z.object({ kind: z.literal('summary') }),
  z.object({ kind: z.literal('incident'), event: z.enum(['approved', 'completed']) }),
  /** A second copy of the card (posted twice across a crash), rewritten so its buttons stop looking live. */
  z.object({ kind: z.literal('supersede_card'), ts: z.string() }),
  /** A direct message to the requester, for news that cannot reach the request's channel. */
  z.object({ kind: z.literal('requester_notice'), text: z.string() }),
]);

export type OutboxMessage = z.infer<typeof OutboxMessageSchema>;

/** One row to queue. */
export interface OutboxWrite {
  channel: string;
  jobId: string | null;
  message: OutboxMessage;
  /** A newer write with the same key replaces one still waiting: Slack only needs the latest. */
  coalesceKey?: string;
  /**
   * thread_lines and thread_results only: merged into the job's waiting row of that kind while its
   * content costs less than this (a line each for thread_lines; each entry's `cost` in characters for
   * thread_results), so many outcomes leave as few Slack messages.
   */
  mergeUpTo?: number;
  /**
   * thread_results only: a row that is not yet full waits up to this long for more results to merge into
   * it. A full row, or one followed by another thread row of its job (a note, the summary), goes at once.
   */
  holdMs?: number;
}

/** A queued row as the outbox reads it. */
export interface OutboxRow {
  id: number;
  channel: string;
  jobId: string | null;
  coalesceKey: string | null;
  message: OutboxMessage;
  attempts: number;
  notBefore: number;
  /** When it was queued (epoch ms): nothing Slack shows from before then can be its message. */
  createdAt: number;
}
