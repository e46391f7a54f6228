/**
 * Executes approved jobs: plans batches, sends each through the provider's limiter, persists every
 * step before and after its side effect, and reports through the outbox. Recovery after a restart
 * goes through the same code: a batch caught mid-send is resent only when the provider's
 * idempotency token makes that safe; otherwise its instances are reported as unknown.
 */
import type { Logger } from '../log.js';
import type { BatchResult, InstanceOutcome, Provider, ProviderName } from '../providers/provider.js';
import type { Reporter } from '../slack/reporter.js';
import type { Store } from '../store/store.js';
import { batchSizeFor, idempotencyKey, planBatches, tallyOf, type Batch, type Job } from './job.js';
import type { LimiterPool } from './limiters.js';

export interface RunnerDeps {
  store: Store;
  providers: Partial<Record<ProviderName, Provider>>;
  limiters: LimiterPool;
  reporter: Reporter;
  now: () => number;
  log: Logger;
  /** Called after each write to the outbox so delivery starts at once. */
  kick: () => void;
  /** An approval older than this when its run would start has lapsed and must be given again. */
  approvalTtlMs: number;
}

export class Runner {
  private readonly active = new Map<string, Promise<void>>();

  constructor(private readonly deps: RunnerDeps) {}

  /** Starts (or resumes) a job in the background; a second call for the same job is a no-op. */
  start(jobId: string): void {
    if (this.active.has(jobId)) return;
    const run = this.run(jobId)
      .catch((err: unknown) => this.deps.log.error('job run failed', { jobId, error: err instanceof Error ? err.message : String(err) }))
      .finally(() => this.active.delete(jobId));
    this.active.set(jobId, run);
  }

  /** Resolves when every job started so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.all([...this.active.values()]);
  }

  /** On start-up: approved jobs start, running jobs resume. */
  recover(): void {
    const { store, now } = this.deps;
    for (const job of store.jobsInState('running')) {
      store.noteResumed(job.id, now(), { batches: store.batches(job.id).filter((b) => b.state !== 'done').length });
      this.start(job.id);
    }
    for (const job of store.jobsInState('approved')) this.start(job.id);
  }

  private async run(jobId: string): Promise<void> {
    const { store, reporter, now } = this.deps;
    let job = store.requireJob(jobId);
    const provider = this.deps.providers[job.provider];
    if (job.state === 'approved') {
      if (job.decidedAt !== null && now() - job.decidedAt > this.deps.approvalTtlMs) return this.lapse(job);
      const size = provider ? batchSizeFor(provider.info.maxBatch, this.deps.limiters.limitsFor(provider.info)) : job.ids.length;
      const started = store.atomically(() => {
        if (!store.startRun(job.id, planBatches(job.ids, size), now())) return false;
        reporter.updateCard(job);
        return true;
      });
      if (!started) return;
      this.deps.kick();
      job = store.requireJob(jobId);
    }
    if (job.state !== 'running') return;
    if (!provider) return this.abandonUnconfigured(job);
    await Promise.all(store.batches(job.id).filter((b) => b.state !== 'done').map((b) => this.runBatch(job, provider, b)));
    this.complete(job);
  }

  /**
   * The approval was given, but the run did not start within the approval's lifetime (the bot was
   * down): nobody re-confirmed that the reboot is still wanted now, so it goes back for approval.
   */
  private lapse(job: Job): void {
    const { store, reporter, now, log } = this.deps;
    const at = now();
    const minutes = Math.round((at - (job.decidedAt ?? at)) / 60_000);
    const reason = `approved ${minutes} min ago but not started within the approval's lifetime (the bot was not running); approve again if it is still needed`;
    const lapsed = store.atomically(() => {
      if (!store.lapseApproval(job.id, at, at + this.deps.approvalTtlMs, reason)) return false;
      reporter.updateCard(job);
      reporter.threadNote(job, `:hourglass: Approval lapsed: ${reason}. Nothing was rebooted.`);
      return true;
    });
    if (!lapsed) return;
    this.deps.kick();
    log.warn('approval lapsed; waiting for approval again', { jobId: job.id, approvedMinutesAgo: minutes });
  }

  /**
   * The provider's credentials are gone (removed from the configuration across a restart). Nothing
   * more can be sent or followed, so every instance without an outcome is reported and the job ends,
   * rather than leaving the card "waiting" for ever. A batch that may have left already is unknown.
   */
  private abandonUnconfigured(job: Job): void {
    const { store, log } = this.deps;
    const message = `${job.provider} has no credentials on this bot (they were removed after approval); nothing was sent`;
    for (const batch of store.batches(job.id).filter((b) => b.state !== 'done')) {
      const outcomes: InstanceOutcome[] =
        batch.state === 'planned'
          ? batch.ids.map((id) => ({ id, status: 'failed', code: 'ProviderNotConfigured', message }))
          : batch.ids.map((id) => ({
              id,
              status: 'unknown',
              reason: `${job.provider} has no credentials on this bot any more, so this batch (sent before the restart) cannot be followed up; check the instance`,
            }));
      this.record(job, batch, outcomes, true);
    }
    log.error('provider not configured for a running job; reported its instances and completed it', { jobId: job.id, provider: job.provider });
    this.complete(job);
  }

  private async runBatch(job: Job, provider: Provider, batch: Batch): Promise<void> {
    if (batch.state === 'sending' && !this.resumeInterrupted(job, provider, batch)) return;
    const asyncJobId = batch.state === 'polling' ? batch.asyncJobId : await this.send(job, provider, batch);
    if (asyncJobId) await this.poll(job, provider, batch, { jobId: asyncJobId, ids: this.unfinished(job, batch) });
  }

  /**
   * A batch left "sending" by a stopped process: resent only where the provider's idempotency token
   * makes that safe (returns true), otherwise reported unknown (returns false).
   */
  private resumeInterrupted(job: Job, provider: Provider, batch: Batch): boolean {
    if (provider.info.resendSafe) {
      this.deps.store.replanBatch(job.id, batch.seq);
      return true;
    }
    const reason = 'the bot restarted while this reboot request was in flight; it may or may not have been received — check the instance';
    this.record(job, batch, batch.ids.map((id) => ({ id, status: 'unknown', reason })), true);
    return false;
  }

  /** Sends one batch under the limiter; returns the cloud's async job id when the API answers with one. */
  private async send(job: Job, provider: Provider, batch: Batch): Promise<string | null> {
    const { store, now } = this.deps;
    return this.deps.limiters.schedule(provider.info, job.region, batch.ids.length, async () => {
      if (!store.markBatchSending(job.id, batch.seq, now())) return null;
      const call = { region: job.region, ids: batch.ids, force: job.force, dryRun: job.dryRun, idempotencyKey: idempotencyKey(job.id, batch.seq) };
      const result = await provider.reboot(call).catch((err: unknown): BatchResult => {
        // Providers report cloud and network failures as outcomes; a throw is our bug, after the
        // request may already have gone out, so the honest answer is "unknown".
        this.deps.log.error('provider call threw', { jobId: job.id, seq: batch.seq, error: err instanceof Error ? err.message : String(err) });
        return { outcomes: batch.ids.map((id): InstanceOutcome => ({ id, status: 'unknown', reason: 'internal error while sending this reboot; check the instance' })) };
      });
      const pending = result.pending;
      if (!pending) {
        this.record(job, batch, result.outcomes, true);
        return null;
      }
      // The async job id is stored with whatever outcomes came with it, or a restart could not follow it.
      store.atomically(() => {
        this.recordInTx(job, batch, result.outcomes, false);
        store.markBatchPolling(job.id, batch.seq, pending.jobId, now());
        this.deps.reporter.threadNote(job, `${provider.info.displayName} accepted job \`${pending.jobId}\` for ${pending.ids.length} instances; waiting for it to finish.`);
      });
      this.deps.kick();
      return pending.jobId;
    });
  }

  private unfinished(job: Job, batch: Batch): string[] {
    const done = new Set(this.deps.store.outcomes(job.id).map((o) => o.id));
    return batch.ids.filter((id) => !done.has(id));
  }

  private async poll(job: Job, provider: Provider, batch: Batch, handle: { jobId: string; ids: string[] }): Promise<void> {
    if (!provider.poll) {
      this.record(job, batch, handle.ids.map((id) => ({ id, status: 'unknown', reason: 'provider cannot report async job results' })), true);
      return;
    }
    const outcomes = await provider.poll({
      region: job.region,
      handle,
      onProgress: (done, total) => {
        this.deps.reporter.threadNote(job, `${provider.info.displayName} job \`${handle.jobId}\`: ${done}/${total} servers done`, `progress:${job.id}:${handle.jobId}`);
        this.deps.kick();
      },
    });
    this.record(job, batch, outcomes, true);
  }

  /** Outcomes and the thread lines that report them commit together: a crash keeps both or neither. */
  private record(job: Job, batch: Batch, outcomes: readonly InstanceOutcome[], done: boolean): void {
    this.deps.store.atomically(() => this.recordInTx(job, batch, outcomes, done));
    this.deps.kick();
  }

  private recordInTx(job: Job, batch: Batch, outcomes: readonly InstanceOutcome[], done: boolean): void {
    const { store, reporter, now } = this.deps;
    const stored = store.recordOutcomes(job.id, batch.seq, outcomes, done, now());
    reporter.outcomes(job, stored);
    if (stored.length > 0 || done) reporter.updateCard(job);
  }

  private complete(job: Job): void {
    const { store, reporter, now } = this.deps;
    const completed = store.atomically(() => {
      const tally = tallyOf(job, store.outcomes(job.id));
      if (!store.completeRun(job.id, now(), tally)) return undefined;
      const done = store.requireJob(job.id);
      reporter.updateCard(done);
      reporter.summary(done);
      reporter.incident(done, 'completed');
      return tally;
    });
    if (!completed) return;
    this.deps.kick();
    this.deps.log.info('job completed', { jobId: job.id, ...completed });
  }
}
