/**
 * What the SQLite and PostgreSQL stores share: the schemas that check what they read back, and the outbox's
 * row and merge rules (src/store/sqlite-store.ts describes them), which must not differ between the two.
 */
import { z } from 'zod';
import { DEFAULT_ACCOUNT, type Job, type JobState } from '../domain/job.js';
import { OUTCOME_STATUSES, type JobOutcome, type OutcomeStatus } from '../domain/outcome.js';
import { OutboxMessageSchema, type OutboxMessage, type OutboxRow, type OutboxWrite, type ResultEntry } from '../domain/outbox-message.js';
import type { ReadError } from '../domain/preflight.js';
import { PROVIDER_NAME, type InstanceReading } from '../providers/provider.js';
import type { NewJob } from './contract.js';

export const OutcomeSchema: z.ZodType<JobOutcome> = z.union([
  z.object({ id: z.string(), status: z.literal('succeeded'), detail: z.string().optional() }),
  z.object({ id: z.string(), status: z.literal('checked'), detail: z.string().optional() }),
  z.object({
    id: z.string(),
    status: z.literal('failed'),
    code: z.string(),
    message: z.string(),
    requestId: z.string().optional(),
  }),
  z.object({ id: z.string(), status: z.literal('unknown'), reason: z.string() }),
  z.object({ id: z.string(), status: z.enum(['verified', 'unconfirmed', 'not_back']), detail: z.string() }),
  z.object({ id: z.string(), status: z.literal('not_started'), reason: z.string() }),
  z.object({ id: z.string(), status: z.literal('cancelled'), reason: z.string() }),
]);

export const ClockSchema = z.object({ field: z.string(), raw: z.string(), at: z.number(), precisionMs: z.number(), provesReboot: z.boolean() });
export const ReadingSchema: z.ZodType<InstanceReading> = z.union([
  z.object({ id: z.string(), found: z.literal(false), rawStatus: z.string().optional() }),
  z.object({
    id: z.string(),
    found: z.literal(true),
    name: z.string().nullable(),
    phase: z.enum(['running', 'stopped', 'transitioning', 'locked', 'other']),
    rawStatus: z.string(),
    rebooting: z.boolean(),
    lockReason: z.string().optional(),
    clock: ClockSchema.optional(),
  }),
]);
export const ReadErrorsSchema: z.ZodType<ReadError[]> = z.array(z.object({ code: z.string(), message: z.string(), ids: z.number() }));

export const StatusSchema: z.ZodType<OutcomeStatus> = z.enum(OUTCOME_STATUSES as [OutcomeStatus, ...OutcomeStatus[]]);
export const JobStateSchema: z.ZodType<JobState> = z.enum(['pending', 'approved', 'running', 'completed', 'denied', 'expired', 'cancelled']);
// Only the shape: whether a name is in the catalog was checked when the request came in, and a job of a
// provider since dropped from the catalog must still load, so the runner can close it as not configured.
export const ProviderSchema = z.string().regex(PROVIDER_NAME);

/** A job's approvers (jobs.approvers, JSON): written by createJob from a validated policy rule, read back through zod all the same. */
export const StoredApprovers = z.object({ users: z.array(z.string()), groups: z.array(z.string()) });

/** The jobs.approvers value of a new job: null when REBOOT_APPROVERS decides. */
export function approversColumn(job: NewJob): string | null {
  return job.approvers ? JSON.stringify({ users: job.approvers.users, groups: job.approvers.groups }) : null;
}

/**
 * A new job as createJob stores it: pending, or approved at once when it needs no approval (a dry run only reads).
 * Both stores insert these values and answer with this job, instead of reading back the row they just wrote.
 */
export function storedJob(job: NewJob): Job {
  const approvedNow = job.approvalsNeeded === 0;
  return {
    id: job.id,
    state: approvedNow ? 'approved' : 'pending',
    provider: job.provider,
    account: job.account ?? DEFAULT_ACCOUNT,
    region: job.region,
    ids: [...job.ids],
    force: job.force,
    dryRun: job.dryRun,
    verify: job.verify,
    rolling: job.rolling,
    reason: job.reason,
    requester: job.requester,
    channel: job.channel,
    approvalsNeeded: job.approvalsNeeded,
    approvers: job.approvers ? { users: [...job.approvers.users], groups: [...job.approvers.groups] } : null,
    createdAt: job.createdAt,
    expiresAt: job.expiresAt,
    decidedAt: approvedNow ? job.createdAt : null,
    decidedBy: approvedNow ? 'dry run' : null,
    completedAt: null,
    cardTs: null,
    reapprovalReason: null,
    cancelledAt: null,
    cancelledBy: null,
  };
}

/** A pending job as its approving click leaves it: only the state and the decision change (the approvals have a table of their own). */
export function approvedJob(job: Job, at: number, approvers: readonly string[]): Job {
  return { ...job, state: 'approved', decidedAt: at, decidedBy: approvers.join(',') };
}

/** The "requested" audit row's data: the command, and the account and approvers the policy gave it, which the text alone would not say. */
export function requestedAuditData(job: NewJob, commandText: string): Record<string, unknown> {
  return {
    command: commandText,
    account: job.account ?? DEFAULT_ACCOUNT,
    ...(job.approvers ? { approvers: { users: job.approvers.users, groups: job.approvers.groups } } : {}),
  };
}

export interface OutboxDbRow {
  id: number;
  channel: string;
  kind: string;
  job_id: string | null;
  coalesce_key: string | null;
  payload: string;
  attempts: number;
  not_before: number;
  created_at: number;
}

/**
 * Ids the store wrote itself (JSON.stringify of a string array): checked for shape, without zod, which
 * costs a hundred times more per element (https://zod.dev , measured in this issue: 400 µs for 5,000 ids).
 */
export function parseIds(text: string): string[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) throw new Error('stored ids are not a list of strings');
  return value;
}

export function outboxRowFrom(row: OutboxDbRow): OutboxRow {
  return {
    id: row.id,
    channel: row.channel,
    jobId: row.job_id,
    coalesceKey: row.coalesce_key,
    message: OutboxMessageSchema.parse({ ...(JSON.parse(row.payload) as object), kind: row.kind }),
    attempts: row.attempts,
    notBefore: row.not_before,
    createdAt: row.created_at,
  };
}

/** The row's payload: the message without its kind, which has a column of its own. */
export function payloadOf(write: OutboxWrite): string {
  const { kind: _kind, ...rest } = write.message;
  return JSON.stringify(rest);
}

export const none = (): OutboxWrite[] => [];

/** A list of kinds as SQL string literals (constants of this codebase, never user input). */
export function sqlList(kinds: readonly string[]): string {
  return kinds.map((k) => `'${k}'`).join(', ');
}

/** Thread rows that end a job's waiting results: nothing may merge into results queued before them. */
export const THREAD_CLOSERS: ReadonlySet<OutboxMessage['kind']> = new Set(['thread_note', 'summary', 'results_file', 'audit_file']);

export type ThreadItemsMessage = Extract<OutboxMessage, { kind: 'thread_lines' | 'thread_results' }>;
export type ThreadItems = { layout: string; items: ReadonlyArray<string | ResultEntry> };

/** A mergeable row's items, and the layout only rows alike may merge under (old line rows have one). */
export function itemsOf(message: OutboxMessage): ThreadItems {
  if (message.kind === 'thread_lines') return { layout: 'lines', items: message.lines };
  if (message.kind === 'thread_results') return { layout: message.layout, items: message.entries };
  throw new Error(`outbox rows of kind ${message.kind} do not merge`);
}

export const costOf = (items: ReadonlyArray<string | ResultEntry>): number => items.reduce((sum, item) => sum + itemCost(item), 0);
export const itemCost = (item: string | ResultEntry): number => (typeof item === 'string' ? 1 : item.cost);

/** How many of `items`, from the first, fit in `room`. */
export function fitting(items: ReadonlyArray<string | ResultEntry>, room: number): number {
  let used = 0;
  let n = 0;
  for (const item of items) {
    used += itemCost(item);
    if (used > room) break;
    n += 1;
  }
  return n;
}

/** The same kind of message holding `items` instead. */
export function withItems(message: ThreadItemsMessage, items: ReadonlyArray<string | ResultEntry>): ThreadItemsMessage {
  return message.kind === 'thread_lines'
    ? { kind: 'thread_lines', lines: items.filter((i): i is string => typeof i === 'string') }
    : { kind: 'thread_results', layout: message.layout, entries: items.filter((i): i is ResultEntry => typeof i !== 'string') };
}
