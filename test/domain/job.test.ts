/** The job model's pure helpers: batch planning within the API and budget limits, tallies, idempotency keys. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchSizeFor, idempotencyKey, planBatches, planWaves, tallyOf, wavePlanText } from '../../src/domain/job.js';
import { OutboxMessageSchema } from '../../src/domain/outbox-message.js';
import type { InstanceOutcome } from '../../src/providers/provider.js';

describe('batchSizeFor', () => {
  it('is the API maximum when no instance budget is set', () => {
    expect(batchSizeFor(100, {})).toBe(100);
  });

  it('never exceeds the per-minute instance budget', () => {
    expect(batchSizeFor(1000, { instancesPerMinute: 3 })).toBe(3);
    expect(batchSizeFor(5, { instancesPerMinute: 50 })).toBe(5);
    expect(batchSizeFor(5, { instancesPerMinute: 5 })).toBe(5);
  });

  it('is at least one, whatever the numbers', () => {
    expect(batchSizeFor(0, {})).toBe(1);
    expect(batchSizeFor(10, { instancesPerMinute: 0 })).toBe(1);
  });

  it('property: 1 ≤ size ≤ both limits whenever both are positive', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }), (max, budget) => {
        const size = batchSizeFor(max, budget === undefined ? {} : { instancesPerMinute: budget });
        expect(size).toBeGreaterThanOrEqual(1);
        expect(size).toBeLessThanOrEqual(max);
        if (budget !== undefined) expect(size).toBeLessThanOrEqual(budget);
        expect(size).toBe(Math.min(max, budget ?? max));
      }),
    );
  });
});

describe('planBatches', () => {
  it('slices in order, the last batch holding the rest', () => {
    expect(planBatches(['a', 'b', 'c', 'd', 'e', 'f', 'g'], 3)).toEqual([['a', 'b', 'c'], ['d', 'e', 'f'], ['g']]);
    expect(planBatches(['a', 'b'], 2)).toEqual([['a', 'b']]);
    expect(planBatches([], 3)).toEqual([]);
  });

  it('property: every id once, in order, no batch above the maximum, only the last one short', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 60 }), fc.integer({ min: 1, max: 20 }), (ids, max) => {
        const batches = planBatches(ids, max);
        expect(batches.flat()).toEqual(ids);
        expect(batches.length).toBe(Math.ceil(ids.length / max));
        batches.forEach((b, i) => {
          expect(b.length).toBeGreaterThan(0);
          expect(b.length).toBeLessThanOrEqual(max);
          if (i < batches.length - 1) expect(b.length).toBe(max);
        });
      }),
    );
  });
});

describe('tallyOf', () => {
  it('counts each status and the instances still waiting', () => {
    const outcomes: InstanceOutcome[] = [
      { id: 'a', status: 'succeeded' },
      { id: 'b', status: 'failed', code: 'X', message: 'no' },
      { id: 'c', status: 'unknown', reason: 'lost' },
      { id: 'd', status: 'checked' },
      { id: 'e', status: 'succeeded', detail: 'ok' },
    ];
    expect(tallyOf({ ids: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] }, outcomes)).toEqual({
      total: 7,
      succeeded: 2,
      checked: 1,
      failed: 1,
      unknown: 1,
      verified: 0,
      unconfirmed: 0,
      not_back: 0,
      not_started: 0,
      cancelled: 0,
      waiting: 2,
    });
    expect(tallyOf({ ids: ['a'] }, [])).toEqual({ total: 1, succeeded: 0, checked: 0, failed: 0, unknown: 0, verified: 0, unconfirmed: 0, not_back: 0, not_started: 0, cancelled: 0, waiting: 1 });
  });
});

describe('idempotencyKey', () => {
  it('is stable per job and batch, and distinct across batches and jobs', () => {
    expect(idempotencyKey('r-abc', 0)).toBe('r-abc-b0');
    expect(idempotencyKey('r-abc', 0)).toBe(idempotencyKey('r-abc', 0));
    expect(idempotencyKey('r-abc', 1)).not.toBe(idempotencyKey('r-abc', 0));
    expect(idempotencyKey('r-abd', 0)).not.toBe(idempotencyKey('r-abc', 0));
  });
});

describe('OutboxMessageSchema', () => {
  it('accepts every kind with its fields and rejects unknown kinds or missing fields', () => {
    expect(OutboxMessageSchema.parse({ kind: 'thread_lines', lines: ['x'] })).toEqual({ kind: 'thread_lines', lines: ['x'] });
    expect(OutboxMessageSchema.parse({ kind: 'incident', event: 'completed' })).toEqual({ kind: 'incident', event: 'completed' });
    expect(OutboxMessageSchema.safeParse({ kind: 'incident', event: 'denied' }).success).toBe(false);
    expect(OutboxMessageSchema.safeParse({ kind: 'thread_lines' }).success).toBe(false);
    expect(OutboxMessageSchema.safeParse({ kind: 'supersede_card' }).success).toBe(false);
    expect(OutboxMessageSchema.safeParse({ kind: 'dm_everyone' }).success).toBe(false);
  });
});

describe('planWaves', () => {
  it('cuts waves of `rolling` and batches within each wave, never sharing a call across waves', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    expect(planWaves(ids, 2, 3)).toEqual([
      { wave: 0, ids: ['a', 'b'] },
      { wave: 0, ids: ['c'] },
      { wave: 1, ids: ['d', 'e'] },
    ]);
  });

  it('without rolling, one wave of API-sized batches', () => {
    expect(planWaves(['a', 'b', 'c'], 2, null)).toEqual([
      { wave: 0, ids: ['a', 'b'] },
      { wave: 0, ids: ['c'] },
    ]);
  });

  it('describes the plan for the card', () => {
    expect(wavePlanText(100, 25)).toBe('4 waves of 25');
    expect(wavePlanText(100, 40)).toBe('3 waves of 40 (the last 20)');
    expect(wavePlanText(3, 10)).toBe('1 wave of 3');
  });
});
