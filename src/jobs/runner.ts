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
import { idempotencyKey, planBatches, tallyOf, type Batch, type Job } from './job.js';
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
      if (!provider) {
        // Credentials were removed between approval and run: fail every instance, visibly.
        store.startRun(job.id, [job.ids], now());
        const message = `${job.provider} has no credentials on this bot`;
        this.record(job, { jobId, seq: 0, ids: job.ids, state: 'sending', asyncJobId: null },
          job.ids.map((id) => ({ id, status: 'failed', code: 'ProviderNotConfigured', message })), true);
        return this.complete(job);
      }
      if (!store.startRun(job.id, planBatches(job.ids, provider.info.maxBatch), now())) return;
      job = store.requireJob(jobId);
      reporter.updateCard(job);
      this.deps.kick();
    }
    if (job.state !== 'running' || !provider) return;
    await Promise.all(store.batches(job.id).filter((b) => b.state !== 'done').map((b) => this.runBatch(job, provider, b)));
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
      this.record(job, batch, result.outcomes, !pending);
      if (!pending) return null;
      store.markBatchPolling(job.id, batch.seq, pending.jobId, now());
      this.deps.reporter.threadNote(job, `${provider.info.displayName} accepted job \`${pending.jobId}\` for ${pending.ids.length} instances; waiting for it to finish.`);
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

  private record(job: Job, batch: Batch, outcomes: readonly InstanceOutcome[], done: boolean): void {
    const { store, reporter, now } = this.deps;
    const stored = store.recordOutcomes(job.id, batch.seq, outcomes, done, now());
    reporter.outcomes(job, stored);
    reporter.updateCard(job);
    this.deps.kick();
  }

  private complete(job: Job): void {
    const { store, reporter, now } = this.deps;
    const tally = tallyOf(job, store.outcomes(job.id));
    if (!store.completeRun(job.id, now(), tally)) return;
    const done = store.requireJob(job.id);
    reporter.updateCard(done);
    reporter.summary(done);
    reporter.incident(done, 'completed');
    this.deps.kick();
    this.deps.log.info('job completed', { jobId: job.id, ...tally });
  }
}
