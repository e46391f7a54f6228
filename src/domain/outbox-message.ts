/**
 * What the Slack outbox carries: one tagged message per row, written by the job core's reporter in
 * the same transaction as the state change it reports, and rendered by the outbox at delivery time
 * (cards from the job's current state, so a coalesced update is never stale).
 */
import { z } from 'zod';

export const OutboxMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('post_card') }),
  z.object({ kind: z.literal('update_card') }),
  z.object({ kind: z.literal('thread_lines'), lines: z.array(z.string()) }),
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
   * thread_lines only: merged into the job's waiting thread-lines row while it holds fewer than this
   * many lines, so many outcomes leave as few Slack messages.
   */
  mergeUpTo?: number;
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
}
