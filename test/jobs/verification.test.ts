/**
 * The Runner's reads: verified reboots, not-back instances, rolling waves that stop, dry runs, the
 * reconciling read after an ambiguous answer, and verification resumed after a restart. A real store,
 * reporter and limiter; the provider is a small cloud written here whose instances go through a reboot
 * on the real clock, so every verdict comes from the same polling a deployment runs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LimiterPool } from '../../src/jobs/limiters.js';
import { Runner } from '../../src/jobs/runner.js';
import type { VerifyTuning } from '../../src/jobs/verifier.js';
import type { Logger } from '../../src/log.js';
import type { BatchResult, DescribeCall, InstanceOutcome, InstanceReading, PermissionCheck, Provider, RebootCall } from '../../src/providers/provider.js';
import { outcomeLine } from '../../src/slack/messages.js';
import { SlackReporter } from '../../src/slack/reporter.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { INCIDENTS, instanceIds, newJob, outboxRows, providerInfo } from '../helpers/fixtures.js';

const J = 'r-verify00001';
const TUNING: VerifyTuning = { firstReadMs: 0, intervalMs: 10, maxIntervalMs: 30, timeoutMs: 400, settleReadings: 3 };
const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };

type Behaviour = 'normal' | 'never-back' | 'stopped' | 'missing';

/**
 * A cloud of running instances: a reboot shows Starting for `rebootMs` and until a read has seen it, then Running. The
 * "until seen" keeps verdicts independent of the machine's load: a read delayed past the window by a busy CI machine
 * would otherwise find no trace of the reboot and report it unconfirmed. `rebootMs` 0 is a reboot never seen at all.
 */
class SmallCloud {
  readonly reboots: RebootCall[] = [];
  readonly reads: DescribeCall[] = [];
  readonly rebootedAt = new Map<string, number>();
  readonly behaviour = new Map<string, Behaviour>();
  private readonly seenRebooting = new Set<string>();
  answer: (call: RebootCall) => BatchResult = (call) => ({ outcomes: call.ids.map((id): InstanceOutcome => ({ id, status: 'succeeded' })) });
  permission: PermissionCheck | undefined;

  constructor(private readonly rebootMs = 40) {}

  reading(id: string): InstanceReading | undefined {
    const behaviour = this.behaviour.get(id) ?? 'normal';
    if (behaviour === 'missing') return { id, found: false };
    if (behaviour === 'stopped') return { id, found: true, name: `vm-${id.slice(-2)}`, phase: 'stopped', rawStatus: 'Stopped', rebooting: false };
    const at = this.rebootedAt.get(id);
    const busy = at !== undefined && this.rebootMs > 0 && (behaviour === 'never-back' || !this.seenRebooting.has(id) || Date.now() - at < this.rebootMs);
    if (busy) this.seenRebooting.add(id);
    return busy
      ? { id, found: true, name: `vm-${id.slice(-2)}`, phase: 'transitioning', rawStatus: 'Starting', rebooting: true }
      : { id, found: true, name: `vm-${id.slice(-2)}`, phase: 'running', rawStatus: 'Running', rebooting: false };
  }

  provider(): Provider {
    const provider: Provider = {
      info: providerInfo({ maxBatch: 2, maxDescribe: 3 }),
      reboot: (call) => {
        this.reboots.push(call);
        const result = this.answer(call);
        for (const id of call.ids) {
          this.rebootedAt.set(id, Date.now());
          this.seenRebooting.delete(id);
        }
        return Promise.resolve(result);
      },
      describe: (call) => {
        this.reads.push(call);
        return Promise.resolve({ kind: 'read', readings: call.ids.flatMap((id) => this.reading(id) ?? []) });
      },
    };
    const permission = this.permission;
    if (permission) provider.checkPermission = () => Promise.resolve(permission);
    return provider;
  }
}

let store: SqliteStore;
let limiters: LimiterPool;
let cloud: SmallCloud;

function runner(): Runner {
  return new Runner({ store, providers: { alibaba: cloud.provider() }, limiters, events: new SlackReporter(INCIDENTS), now: Date.now, log: silent, approvalTtlMs: 60_000, verify: TUNING });
}

function approved(ids: string[], over: Parameters<typeof newJob>[0] = {}): void {
  store.createJob(newJob({ id: J, ids, createdAt: Date.now(), expiresAt: Date.now() + 60_000, verify: true, ...over }), 'test');
  if (store.getJob(J)?.state === 'pending') expect(store.approve(J, 'U0APPROVER', Date.now()).kind).toBe('approved');
}

async function run(): Promise<void> {
  const r = runner();
  r.start(J);
  await r.idle();
}

const byStatus = (): Record<string, string[]> => {
  const out: Record<string, string[]> = {};
  for (const o of store.outcomes(J)) (out[o.status] ??= []).push(o.id);
  // Verdicts arrive as readings come in, not in id order.
  for (const list of Object.values(out)) list.sort();
  return out;
};

const threadText = (): string =>
  outboxRows(store)
    .flatMap((r) => (r.message.kind === 'thread_results' ? r.message.entries.map((e) => outcomeLine(e.outcome)) : r.message.kind === 'thread_note' ? [r.message.text] : []))
    .join('\n');

beforeEach(() => {
  store = new SqliteStore(':memory:');
  limiters = new LimiterPool({}, 100);
  cloud = new SmallCloud();
});
afterEach(async () => {
  await limiters.stop();
  store.close();
});

describe('verified reboots', () => {
  it('the early look comes only on a cloud without a proving clock; a clocked cloud is first read after intervalMs', async () => {
    const firstReadDelay = async (clockProvesReboot: boolean): Promise<number> => {
      const small = new SmallCloud(0);
      const provider = small.provider();
      provider.info = { ...provider.info, clockProvesReboot };
      const tuning: VerifyTuning = { firstReadMs: 0, intervalMs: 300, maxIntervalMs: 300, timeoutMs: 5_000, settleReadings: 1 };
      const r = new Runner({ store, providers: { alibaba: provider }, limiters, events: new SlackReporter(INCIDENTS), now: Date.now, log: silent, approvalTtlMs: 60_000, verify: tuning });
      const rebootAt: number[] = [];
      const readAt: number[] = [];
      const { reboot, describe: read } = provider;
      provider.reboot = (call) => (rebootAt.push(Date.now()), reboot(call));
      provider.describe = (call) => (readAt.push(Date.now()), read(call));
      r.start(J);
      await r.idle();
      return (readAt[0] ?? Infinity) - (rebootAt[0] ?? 0);
    };
    approved(instanceIds(2));
    expect(await firstReadDelay(false)).toBeLessThan(250);
    store.close();
    store = new SqliteStore(':memory:');
    approved(instanceIds(2));
    expect(await firstReadDelay(true)).toBeGreaterThanOrEqual(300);
  });

  it('one-instance batches accepted close together share read calls: a round that cannot fill one waits firstReadMs after the last', async () => {
    const small = new SmallCloud(0);
    const provider = small.provider();
    provider.info = { ...provider.info, maxBatch: 1, maxDescribe: 100, limits: { maxConcurrent: 1, minTimeMs: 20 } };
    const tuning: VerifyTuning = { firstReadMs: 150, intervalMs: 150, maxIntervalMs: 150, timeoutMs: 5_000, settleReadings: 1 };
    const r = new Runner({ store, providers: { alibaba: provider }, limiters, events: new SlackReporter(INCIDENTS), now: Date.now, log: silent, approvalTtlMs: 60_000, verify: tuning });
    const ids = instanceIds(20);
    approved(ids);
    r.start(J);
    await r.idle();
    // 20 reboots 20 ms apart (400 ms) with rounds at least 150 ms apart: a few reads, not one per instance.
    expect(small.reboots).toHaveLength(20);
    expect(small.reads.length).toBeLessThanOrEqual(6);
    expect(Object.values(byStatus()).flat().sort()).toEqual([...ids].sort());
  });

  it('each instance is read until seen back, and reported "back up, running (after N s)"', async () => {
    const ids = instanceIds(5);
    approved(ids);
    await run();
    expect(byStatus()).toEqual({ verified: ids });
    expect(threadText()).toMatch(/:white_check_mark: `i-bp100000000000000000` back up, running \(after \d+ s\) \(vm-00\); restart seen/);
    expect(store.batches(J).every((b) => b.state === 'done')).toBe(true);
    // Reads of instances due together share calls of at most maxDescribe ids.
    expect(cloud.reads.every((r) => r.ids.length <= 3)).toBe(true);
    expect(store.auditTrail(J).filter((e) => e.event === 'verifying')).toHaveLength(3);
  });

  it('an instance that never comes back is "not running after …: state Starting" and counts as failed in the summary', async () => {
    const ids = instanceIds(3);
    cloud.behaviour.set(ids[1]!, 'never-back');
    approved(ids);
    await run();
    expect(byStatus()).toEqual({ verified: [ids[0], ids[2]], not_back: [ids[1]] });
    expect(store.outcomes(J).find((o) => o.id === ids[1])).toEqual({ id: ids[1], status: 'not_back', detail: 'not running after 0s: state Starting' });
    const summary = outboxRows(store).find((r) => r.message.kind === 'summary');
    expect(summary).toBeDefined();
    expect(store.auditTrail(J).find((e) => e.event === 'completed')?.data).toMatchObject({ verified: 2, not_back: 1 });
  });

  it('running throughout, with no sign of a restart: "running; reboot not confirmed", not a success', async () => {
    const ids = instanceIds(1);
    cloud = new SmallCloud(0);
    approved(ids);
    await run();
    expect(byStatus()).toEqual({ unconfirmed: ids });
  });

  it('--no-verify reads nothing after the call and reports "reboot accepted"', async () => {
    const ids = instanceIds(2);
    approved(ids, { verify: false });
    await run();
    expect(byStatus()).toEqual({ succeeded: ids });
    expect(cloud.reads).toEqual([]);
    expect(outcomeLine(store.outcomes(J)[0]!)).toContain('reboot accepted');
  });

  it('an ambiguous answer is reconciled by one read: a reboot seen under way makes it verified, anything else stays unknown with what the read saw', async () => {
    const [a, b] = instanceIds(2) as [string, string];
    cloud.answer = (call) => ({ outcomes: call.ids.map((id): InstanceOutcome => ({ id, status: 'unknown', reason: 'HTTP 502 after sending' })) });
    cloud.behaviour.set(b, 'stopped');
    approved([a, b]);
    await run();
    expect(byStatus()).toEqual({ verified: [a], unknown: [b] });
    expect(store.outcomes(J).find((o) => o.id === b)).toEqual({ id: b, status: 'unknown', reason: 'HTTP 502 after sending; a follow-up read shows it now Stopped' });
    expect(cloud.reboots).toHaveLength(1);
  });

  it('on a cloud that takes one call at a time, the follow-up read never waits for the slot its own call holds', async () => {
    limiters = new LimiterPool({ alibaba: { maxConcurrent: 1 } }, 100);
    const ids = instanceIds(3);
    cloud.answer = (call) => ({ outcomes: call.ids.map((id): InstanceOutcome => ({ id, status: 'unknown', reason: 'HTTP 502 after sending' })) });
    approved(ids);
    await run();
    expect(byStatus()).toEqual({ verified: ids });
  });

  it('a batch the previous process left verifying is watched again after a restart, and nothing is resent', async () => {
    const ids = instanceIds(2);
    approved(ids);
    expect(store.startRun(J, [{ wave: 0, ids }], Date.now())).toBe(true);
    expect(store.markBatchSending(J, 0, Date.now())).toBe(true);
    cloud.rebootedAt.set(ids[0]!, Date.now());
    cloud.rebootedAt.set(ids[1]!, Date.now());
    store.recordOutcomes(J, 0, [], { state: 'verifying', acceptedAt: Date.now() }, Date.now());
    await run();
    expect(cloud.reboots).toEqual([]);
    expect(byStatus()).toEqual({ verified: ids });
    expect(store.getJob(J)?.state).toBe('completed');
  });
});

describe('rolling waves', () => {
  it('each wave is verified before the next is sent; a wave that does not come back stops the job', async () => {
    const ids = instanceIds(6);
    cloud.behaviour.set(ids[3]!, 'never-back');
    approved(ids, { rolling: 2 });
    await run();
    expect(store.batches(J).map((b) => b.wave)).toEqual([0, 1, 2]);
    expect(cloud.reboots.map((c) => c.ids)).toEqual([ids.slice(0, 2), ids.slice(2, 4)]);
    expect(byStatus()).toEqual({ verified: [ids[0], ids[1], ids[2]], not_back: [ids[3]], not_started: [ids[4], ids[5]] });
    expect(store.outcomes(J).find((o) => o.id === ids[4])).toEqual({ id: ids[4], status: 'not_started', reason: 'not started: stopped after a failure in wave 2' });
    expect(threadText()).toContain('Rolling reboot stopped after wave 2');
    expect(store.auditTrail(J).find((e) => e.event === 'rollout stopped')?.data).toEqual({ wave: 2, instance: ids[3], status: 'not_back', notStarted: 2 });
    expect(store.getJob(J)?.state).toBe('completed');
  });

  it('the second wave starts only after the first is back: no wave-2 reboot before every wave-1 verdict', async () => {
    const ids = instanceIds(4);
    approved(ids, { rolling: 2 });
    const firstWaveVerdictsAtSecondSend: number[] = [];
    const answer = cloud.answer;
    cloud.answer = (call) => {
      if (call.ids.includes(ids[2]!)) firstWaveVerdictsAtSecondSend.push(store.outcomes(J).length);
      return answer(call);
    };
    await run();
    expect(firstWaveVerdictsAtSecondSend).toEqual([2]);
    expect(byStatus()).toEqual({ verified: ids });
  });
});

describe('dry runs', () => {
  it('are stored approved, send no reboot, and say per instance what a real run would do', async () => {
    const [a, b, c] = instanceIds(3) as [string, string, string];
    cloud.behaviour.set(b, 'stopped');
    cloud.behaviour.set(c, 'missing');
    approved([a, b, c], { dryRun: true, approvalsNeeded: 0 });
    expect(store.approvals(J)).toEqual([]);
    await run();
    expect(cloud.reboots).toEqual([]);
    expect(store.outcomes(J)).toEqual([
      { id: a, status: 'checked', detail: 'vm-00, Running' },
      { id: b, status: 'failed', code: 'Stopped', message: 'would fail: stopped (Stopped) — vm-01' },
      { id: c, status: 'failed', code: 'NotFound', message: 'would fail: not found' },
    ]);
    expect(store.preflight(J).checkedAt).not.toBeNull();
    // Dry runs send nothing to the incident channel.
    expect(outboxRows(store).filter((r) => r.channel === INCIDENTS)).toEqual([]);
  });

  it('add the cloud’s permission answer as a line of its own, which never overrides what the read found', async () => {
    const [a, b] = instanceIds(2) as [string, string];
    cloud.behaviour.set(b, 'stopped');
    cloud.permission = { kind: 'denied', code: 'Forbidden.RAM', message: 'User not authorized to operate on the specified resource.' };
    approved([a, b], { dryRun: true, approvalsNeeded: 0 });
    await run();
    expect(byStatus()).toEqual({ checked: [a], failed: [b] });
    expect(threadText()).toContain('Permission check (the cloud\'s own dry run of the reboot call): *denied*, Forbidden.RAM');
    expect(store.auditTrail(J).find((e) => e.event === 'permission check')?.data).toMatchObject({ kind: 'denied' });
  });
});
