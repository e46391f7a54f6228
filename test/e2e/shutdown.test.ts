/**
 * Bounded shutdown (REBOOT_SHUTDOWN_GRACE): stop() stops sending at once, waits for in-flight provider calls at most
 * the grace, and leaves the rest stored; the next bot on the same database finishes the job. Baidu reboots one
 * instance per call; under one call at a time, 500 ms apart, a job of 8 is 8 batches over 4 s.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { rebootCalls } from '../helpers/cloud-requests.js';
import { APPROVER_1, CHANNEL, Harness, textOf, waitFor } from '../helpers/harness.js';

const REGION = 'bj';
const N = 8;

interface LogLine {
  msg: string;
  data: Record<string, unknown> | undefined;
}

function recordingLogger(lines: LogLine[]): Logger {
  const push = (msg: string, data?: Record<string, unknown>): void => {
    lines.push({ msg, data });
  };
  const logger: Logger = { debug: push, info: push, warn: push, error: push, child: () => logger };
  return logger;
}

describe('bounded shutdown', () => {
  let h: Harness;
  let dir: string;
  afterEach(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(grace: string, log: Logger): Promise<{ ids: string[] }> {
    dir = mkdtempSync(join(tmpdir(), 'reboot-shutdown-'));
    const config = join(dir, 'limits.json');
    writeFileSync(config, JSON.stringify({ limits: { baidu: { maxConcurrent: 1, minTimeMs: 500 } } }));
    h = await Harness.start({ providers: ['baidu'], env: { REBOOT_CONFIG: config, REBOOT_SHUTDOWN_GRACE: grace }, rebootMs: 100, log });
    const ids = Array.from({ length: N }, (_, i) => `i-shut${String(i).padStart(4, '0')}`);
    for (const id of ids) h.sims.sims.baidu!.fleet.add(REGION, id);
    return { ids };
  }

  const reboots = (): number => rebootCalls('baidu', h.sims.sims.baidu!.requests).length;

  it('stop() returns within the grace while a call hangs; unsent batches stay planned; the next bot finishes with no instance rebooted twice', async () => {
    const lines: LogLine[] = [];
    const { ids } = await start('1s', recordingLogger(lines));
    // Without verification, the reboot calls are the only requests after pre-flight: the first one hangs longer than
    // the grace (still inside the client's 2 s timeout).
    const { card } = await h.request(`baidu ${REGION} ${ids.join(' ')} --no-verify`);
    const jobId = h.sqlite.jobsInState('pending')[0]!.id;
    h.sims.sims.baidu!.faults.inject({ kind: 'latency', count: 1, ms: 1800 });
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await waitFor(() => h.sqlite.batches(jobId).some((b) => b.state === 'sending'), 'first batch claimed', 10_000);

    const started = Date.now();
    let stoppedAfter = 0;
    let states: string[] = [];
    await h.restart((dbPath) => {
      stoppedAfter = Date.now() - started;
      const store = new SqliteStore(dbPath);
      try {
        states = store.batches(jobId).map((b) => b.state);
      } finally {
        store.close();
      }
    });
    expect(stoppedAfter).toBeLessThan(1000 + 800);
    expect(stoppedAfter).toBeGreaterThanOrEqual(900);
    // The hanging batch was left as claimed (it may or may not have been received); nothing after it was sent.
    expect(states).toEqual(['sending', ...Array<string>(N - 1).fill('planned')]);
    expect(lines.some((l) => l.msg === 'shutdown: waiting for in-flight provider calls' && JSON.stringify(l.data?.jobs) === JSON.stringify([{ jobId, batches: 1, verifying: false }]))).toBe(true);
    expect(lines.some((l) => l.msg === 'shutdown grace over; in-flight batches are left stored for the next start')).toBe(true);

    await h.settle();
    await waitFor(() => h.sqlite.getJob(jobId)?.state === 'completed', 'job completed by the new bot', 15_000);
    await h.settle();
    // Counted at the cloud: every instance rebooted exactly once, across both processes.
    for (const id of ids) expect(h.sims.sims.baidu!.fleet.get(REGION, id)!.rebootCount).toBe(1);
    expect(reboots()).toBe(N);
    // The batch caught in flight is reported as the honest "unknown" or, when a read proves the reboot, verified.
    expect(h.sqlite.outcomes(jobId)).toHaveLength(N);
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('Finished');
  });

  it('stop() waits for a call in flight within the grace, stores its answer, and leaves the unsent batches planned', async () => {
    const lines: LogLine[] = [];
    const { ids } = await start('10s', recordingLogger(lines));
    const { card } = await h.request(`baidu ${REGION} ${ids.join(' ')} --no-verify`);
    const jobId = h.sqlite.jobsInState('pending')[0]!.id;
    h.sims.sims.baidu!.faults.inject({ kind: 'latency', count: 1, ms: 700 });
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await waitFor(() => h.sqlite.batches(jobId).some((b) => b.state === 'sending'), 'first batch claimed', 10_000);

    const started = Date.now();
    let stoppedAfter = 0;
    let states: string[] = [];
    await h.restart((dbPath) => {
      stoppedAfter = Date.now() - started;
      const store = new SqliteStore(dbPath);
      try {
        states = store.batches(jobId).map((b) => b.state);
      } finally {
        store.close();
      }
    });
    // Inside the grace (queued Slack writes get what is left of it, at most 5 s); it waited for the one call, whose
    // answer is stored, not for the job: the 7 other batches are still planned.
    expect(stoppedAfter).toBeLessThan(10_000);
    expect(states).toEqual(['done', ...Array<string>(N - 1).fill('planned')]);
    expect(lines.some((l) => l.msg === 'shutdown grace over; in-flight batches are left stored for the next start')).toBe(false);
    expect(reboots()).toBe(1);

    await h.settle();
    await waitFor(() => h.sqlite.getJob(jobId)?.state === 'completed', 'job completed by the new bot', 15_000);
    for (const id of ids) expect(h.sims.sims.baidu!.fleet.get(REGION, id)!.rebootCount).toBe(1);
    expect(reboots()).toBe(N);
  });
});
