/**
 * Watches a job's rebooted instances until each is seen back (or the timeout passes). Each instance is
 * read first soon after its reboot was accepted (`firstReadMs`) — the best chance to see a short reboot's
 * transition on a cloud without a time field (Baidu) — then every `intervalMs`, backing off by half each
 * time up to `maxIntervalMs`. On a cloud whose reads carry a time that proves the reboot (ProviderInfo
 * clockProvesReboot), that early look proves nothing a later one would not, and would only take a call from the
 * limiter the remaining reboots wait for: the first read comes after `intervalMs` there. Instances due together share read calls (up to the provider's read batch), so
 * a 1,000-instance job polls with ten calls per round, not a thousand; the short wait before the first read
 * lets the batches accepted meanwhile share it too.
 */
import type { JobOutcome } from '../domain/outcome.js';
import { newWatch, observe, type VerifyRules, type Watch } from '../domain/verification.js';
import type { InstanceReading, Provider } from '../providers/provider.js';
import type { Logger } from '../log.js';
import type { LimiterPool } from './limiters.js';
import { readStates } from './reads.js';

export interface VerifyTuning extends VerifyRules {
  /** The first read comes this long after the cloud accepted the reboot. */
  firstReadMs: number;
  /** The second read comes this long after the first; the wait grows by half each round. */
  intervalMs: number;
  maxIntervalMs: number;
}

/**
 * First read within a second (the read API's advice for clouds without a time field is to look right after the call),
 * then poll at 3 s, backing off to at most 15 s; give up after 10 minutes (REBOOT_VERIFY_TIMEOUT).
 */
export const DEFAULT_VERIFY: VerifyTuning = { firstReadMs: 1_000, intervalMs: 3_000, maxIntervalMs: 15_000, timeoutMs: 10 * 60_000, settleReadings: 3 };

interface Entry {
  watch: Watch;
  seq: number;
  nextAt: number;
  intervalMs: number;
}

export interface VerificationDeps {
  provider: Provider;
  region: string;
  /** The job's account: its calls count against that account's limits (src/jobs/limiters.ts). */
  account?: string;
  limiters: LimiterPool;
  now: () => number;
  tuning: VerifyTuning;
  /** The job's logger (its lines carry jobId, provider and region); silent when absent. */
  log?: Logger;
  /** Pre-flight's readings: the "before" a moved time field is compared with. */
  before: ReadonlyMap<string, InstanceReading>;
  /** Stores outcomes as they settle, per batch. */
  settle(seq: number, outcomes: JobOutcome[]): Promise<void>;
}

export class Verification {
  private readonly entries = new Map<string, Entry>();
  /** When the last round of reads started: rounds that cannot fill a read call are spaced `firstReadMs` apart. */
  private lastRoundAt = Number.NEGATIVE_INFINITY;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  /** A round's read call is under way (a shutdown waits for it). */
  reading = false;

  constructor(private readonly deps: VerificationDeps) {}

  /** Starts watching instances whose reboot the cloud accepted at `acceptedAt` (its clock). */
  add(seq: number, ids: readonly string[], acceptedAt: number, jobProved: boolean, sawReboot = false): void {
    const now = this.deps.now();
    const { tuning } = this.deps;
    const early = this.deps.provider.info.clockProvesReboot !== true;
    const firstMs = early ? tuning.firstReadMs : tuning.intervalMs;
    const thenMs = early ? tuning.intervalMs : Math.min(Math.round(tuning.intervalMs * 1.5), tuning.maxIntervalMs);
    for (const id of ids) {
      if (this.entries.has(id)) continue;
      const entry = { watch: newWatch(id, acceptedAt, now, this.deps.before.get(id), jobProved, sawReboot), seq, nextAt: now + firstMs, intervalMs: thenMs };
      this.entries.set(id, entry);
    }
    if (ids.length === 0 || this.stopped) return;
    this.wake?.();
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
    });
  }

  /**
   * Shutdown: no new round starts; a round under way finishes and stores what it saw. The instances still watched keep
   * their batch `verifying` in the store, and the next start watches them again.
   */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** Resolves once every instance added so far has an outcome, or once stopped. */
  async settled(): Promise<void> {
    while (this.loop) await this.loop;
  }

  private async run(): Promise<void> {
    while (this.entries.size > 0 && !this.stopped) {
      const now = this.deps.now();
      const due = [...this.entries.values()].filter((e) => e.nextAt <= now);
      if (due.length === 0) {
        await this.sleepUntil(Math.min(...[...this.entries.values()].map((e) => e.nextAt)));
        continue;
      }
      // Where every batch is small (Baidu reboots one instance per call, 100 ms apart), each instance would come due
      // alone and cost a read call of its own, each taking a limiter slot from the reboots. A round that cannot fill a
      // read call waits until `firstReadMs` after the last one, so the instances accepted meanwhile share it: an
      // instance's first read still comes within twice `firstReadMs` of its reboot.
      const gatherUntil = this.lastRoundAt + this.deps.tuning.firstReadMs;
      if (due.length < this.deps.provider.info.maxDescribe && now < gatherUntil) {
        await this.sleepUntil(gatherUntil);
        continue;
      }
      this.lastRoundAt = now;
      this.reading = true;
      try {
        await this.round(due);
      } finally {
        this.reading = false;
      }
    }
  }

  private async round(due: Entry[]): Promise<void> {
    const { provider, region, account, limiters, tuning } = this.deps;
    const read = await readStates(limiters, provider, region, due.map((e) => e.watch.id), account);
    const at = this.deps.now();
    const settled = new Map<number, JobOutcome[]>();
    for (const entry of due) {
      const outcome = observe(entry.watch, read.readings.get(entry.watch.id), at, tuning);
      if (outcome === undefined) {
        entry.nextAt = at + entry.intervalMs;
        entry.intervalMs = Math.min(Math.round(entry.intervalMs * 1.5), tuning.maxIntervalMs);
        continue;
      }
      this.entries.delete(entry.watch.id);
      settled.set(entry.seq, [...(settled.get(entry.seq) ?? []), outcome]);
    }
    if (read.errors.length > 0) this.deps.log?.warn('verification read failed for some instances', { errors: read.errors.map((e) => e.code) });
    const settledCount = [...settled.values()].reduce((n, o) => n + o.length, 0);
    this.deps.log?.debug('verification round', { read: due.length, settled: settledCount, watching: this.entries.size });
    for (const [seq, outcomes] of settled) await this.deps.settle(seq, outcomes);
  }

  private sleepUntil(at: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, at - this.deps.now()));
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
