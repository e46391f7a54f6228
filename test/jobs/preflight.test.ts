/**
 * Pre-flight on its own: a real store, reporter and limiter; a provider whose reads are scripted here.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LimiterPool } from '../../src/jobs/limiters.js';
import { Inspector } from '../../src/jobs/preflight.js';
import type { Logger } from '../../src/log.js';
import type { DescribeCall, DescribeResult, Provider } from '../../src/providers/provider.js';
import { SlackReporter } from '../../src/slack/reporter.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { INCIDENTS, instanceIds, newJob, outboxRows, providerInfo } from '../helpers/fixtures.js';

const J = 'r-preflight01';
const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };

let store: SqliteStore;
let limiters: LimiterPool;
let reads: DescribeCall[];
let answer: (call: DescribeCall) => DescribeResult;

const provider = (): Provider => ({
  info: providerInfo({ maxDescribe: 2 }),
  reboot: () => Promise.reject(new Error('pre-flight must never reboot')),
  describe: (call) => {
    reads.push(call);
    return Promise.resolve(answer(call));
  },
});

function inspector(): Inspector {
  return new Inspector({ store, providers: { alibaba: provider() }, limiters, events: new SlackReporter(INCIDENTS), now: () => 5_000, log: silent });
}

beforeEach(() => {
  store = new SqliteStore(':memory:');
  limiters = new LimiterPool({}, 100);
  reads = [];
  answer = (call) => ({ kind: 'read', readings: call.ids.map((id) => ({ id, found: true, name: `vm-${id.slice(-1)}`, phase: 'running', rawStatus: 'Running', rebooting: false })) });
});
afterEach(async () => {
  await limiters.stop();
  store.close();
});

describe('Inspector', () => {
  it('reads the ids in read-sized batches, stores every reading and queues one card update', async () => {
    const ids = instanceIds(5);
    store.createJob(newJob({ id: J, ids }), 'test');
    const i = inspector();
    i.start(J);
    await i.idle();
    expect(reads.map((r) => r.ids.length)).toEqual([2, 2, 1]);
    const preflight = store.preflight(J);
    expect(preflight.checkedAt).toBe(5_000);
    expect([...preflight.readings.keys()].sort()).toEqual(ids);
    expect(outboxRows(store).filter((r) => r.message.kind === 'update_card')).toHaveLength(1);
  });

  it('a failed read is kept as an error for the card, never as "not found"', async () => {
    const ids = instanceIds(3);
    answer = (call) => (call.ids.length === 2 ? { kind: 'error', code: 'Throttling', message: 'slow down', throttled: true } : answer0(call));
    const answer0 = (call: DescribeCall): DescribeResult => ({ kind: 'read', readings: call.ids.map((id) => ({ id, found: false })) });
    store.createJob(newJob({ id: J, ids }), 'test');
    const i = inspector();
    i.start(J);
    await i.idle();
    const preflight = store.preflight(J);
    expect(preflight.errors).toEqual([{ code: 'Throttling', message: 'slow down', ids: 2 }]);
    expect([...preflight.readings.keys()]).toEqual([ids[2]]);
  });

  it('after a restart, pending requests whose pre-flight never finished are read again; finished ones are not', async () => {
    store.createJob(newJob({ id: J, ids: instanceIds(1) }), 'test');
    store.createJob(newJob({ id: 'r-preflight02', ids: instanceIds(1) }), 'test');
    store.recordPreflight('r-preflight02', { readings: [], errors: [], done: true }, 1_000);
    const i = inspector();
    await i.recover();
    await i.idle();
    expect(reads).toHaveLength(1);
    expect(store.preflight(J).checkedAt).toBe(5_000);
  });
});
