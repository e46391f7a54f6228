/**
 * Reading instance state for a job: ids cut into the provider's read batches, each call under the
 * provider, account and region call limiter, the answers merged. A failed call leaves its ids unread, with why.
 */
import type { ReadError } from '../domain/preflight.js';
import { DEFAULT_ACCOUNT, planBatches } from '../domain/job.js';
import type { InstanceReading, Provider } from '../providers/provider.js';
import type { LimiterPool } from './limiters.js';

export interface StateRead {
  readings: Map<string, InstanceReading>;
  errors: ReadError[];
  /** The latest cloud clock any answer carried. */
  serverTime?: number;
}

export async function readStates(limiters: LimiterPool, provider: Provider, region: string, ids: readonly string[], account = DEFAULT_ACCOUNT): Promise<StateRead> {
  const chunks = planBatches([...new Set(ids)], provider.info.maxDescribe);
  const results = await Promise.all(chunks.map((chunk) => limiters.scheduleRead(provider.info, { account, region }, () => provider.describe({ region, ids: chunk }))));
  const read: StateRead = { readings: new Map(), errors: [] };
  results.forEach((result, i) => {
    const chunk = chunks[i] ?? [];
    if (result.kind === 'error') {
      read.errors.push({ code: result.code, message: result.message, ids: chunk.length });
      return;
    }
    for (const reading of result.readings) read.readings.set(reading.id, reading);
    if (result.serverTime !== undefined) read.serverTime = Math.max(read.serverTime ?? 0, result.serverTime);
  });
  return read;
}

/** "Throttling: Request was denied due to request throttling" for a thread line or the card. */
export function readErrorText(errors: readonly ReadError[]): string | undefined {
  const first = errors[0];
  return first === undefined ? undefined : `${first.code}: ${first.message}`;
}
