/**
 * Small builders shared by the unit suites: a job as the store takes it, a provider's static facts,
 * and the outbox as it stands in a real SqliteStore (read straight from its table).
 */
import type { OutboxRow } from '../../src/domain/outbox-message.js';
import type { ProviderInfo, ProviderName, RateLimits } from '../../src/providers/provider.js';
import type { Job } from '../../src/domain/job.js';
import type { NewJob } from '../../src/store/contract.js';
import type { SqliteStore } from '../../src/store/sqlite-store.js';
import { outboxRowFrom, type OutboxDbRow } from '../../src/store/rows.js';

export const OPS = 'C0OPS';
export const INCIDENTS = 'C0INCIDENT';
export const REQUESTER = 'U0REQUESTER';

/** Instance ids that look like Alibaba's: `i-` and 17+ characters. */
export const instanceIds = (n: number, prefix = 'i-bp1'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(17, '0')}`);

export function newJob(over: Partial<NewJob> = {}): NewJob {
  return {
    id: 'r-unit000001',
    provider: 'alibaba',
    region: 'cn-hangzhou',
    ids: instanceIds(2),
    force: false,
    dryRun: false,
    // Most suites are about sending; verification and waves have suites of their own.
    verify: false,
    rolling: null,
    reason: 'unit test',
    requester: REQUESTER,
    channel: OPS,
    approvalsNeeded: 1,
    createdAt: 1_000,
    expiresAt: 1_000 + 3_600_000,
    ...over,
  };
}

/** A job as the store returns it, for suites that render or reason about one without a store: pending, one instance. */
export function storedJob(over: Partial<Job> = {}): Job {
  return {
    id: 'r-aaaaaaaaaa',
    state: 'pending',
    provider: 'alibaba',
    region: 'cn-hangzhou',
    ids: ['i-bp1aaaaaaaaaaaaaaaaa'],
    force: false,
    dryRun: false,
    verify: true,
    rolling: null,
    reason: null,
    requester: 'U0REQ',
    channel: OPS,
    approvalsNeeded: 1,
    createdAt: 0,
    expiresAt: 900_000,
    decidedAt: null,
    decidedBy: null,
    completedAt: null,
    cardTs: null,
    reapprovalReason: null,
    account: 'default',
    approvers: null,
    cancelledAt: null,
    cancelledBy: null,
    ...over,
  };
}

/** A provider's static facts, written here rather than taken from a real cloud's module. */
export function providerInfo(over: { name?: ProviderName; maxBatch?: number; maxDescribe?: number; limits?: Partial<RateLimits>; resendSafe?: boolean } = {}): ProviderInfo {
  const name = over.name ?? 'alibaba';
  return {
    name,
    displayName: `Fake ${name}`,
    aliases: [],
    regions: ['cn-hangzhou', 'cn-north-4'],
    isInstanceId: () => true,
    idFormat: 'anything',
    exampleId: 'i-example',
    maxBatch: over.maxBatch ?? 100,
    maxDescribe: over.maxDescribe ?? 100,
    limits: { maxConcurrent: 10, minTimeMs: 0, ...over.limits },
    resendSafe: over.resendSafe ?? false,
  };
}

/** An outbox row as the store reads it (src/store/rows.ts), with its state and last error. */
export type StoredOutboxRow = OutboxRow & { state: string; lastError: string | null };

/** Every outbox row of a SqliteStore, oldest first, whatever its state. */
export function outboxRows(store: SqliteStore): StoredOutboxRow[] {
  const rows = store.db.prepare('SELECT * FROM outbox ORDER BY id').all() as Array<OutboxDbRow & { state: string; last_error: string | null }>;
  return rows.map((r) => ({ ...outboxRowFrom(r), state: r.state, lastError: r.last_error }));
}

/** Polls until `probe` gives something (not undefined or false). */
export async function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until an asynchronous `probe` holds (a store read, a process's state), polling every 25 ms. */
export async function eventually(probe: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
