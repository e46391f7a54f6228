/**
 * Executes approved jobs: plans batches, sends each through the provider's limiter, persists every
 * step before and after its side effect, and reports through the outbox in the same transaction.
 * Recovery after a restart goes through the same code: a batch caught mid-send is resent only when
 * the provider's idempotency token makes that safe; otherwise its instances are reported unknown.
 */
import { batchSizeFor, idempotencyKey, planBatches, type Batch, type Job } from '../domain/job.js';
import type { OutboxWrite } from '../domain/outbox-message.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { BatchResult, InstanceOutcome, Provider, ProviderName } from '../providers/provider.js';
import type { BatchAfter, Store } from '../store/contract.js';
import type { JobEvents } from './events.js';
import type { LimiterPool } from './limiters.js';

export interface RunnerDeps {
  store: Store;
  providers: Partial<Record<ProviderName, Provider>>;
  limiters: LimiterPool;
  events: JobEvents;
  now: () => number;
  log: Logger;
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
      .catch((err: unknown) => this.deps.log.error('job run failed', { jobId, error: errorMessage(err) }))
      .finally(() => this.active.delete(jobId));
    this.active.set(jobId, run);
  }

  /** Resolves when every job started so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.all([...this.active.values()]);
  }

  /** On start-up: approved jobs start, running jobs resume. */
  async recover(): Promise<void> {
    const { store, now } = this.deps;
    for (const job of await store.jobsInState('running')) {
      const open = (await store.batches(job.id)).filter((b) => b.state !== 'done').length;
      await store.noteResumed(job.id, now(), { batches: open });
      this.start(job.id);
    }
    for (const job of await store.jobsInState('approved')) this.start(job.id);
  }

  private async run(jobId: string): Promise<void> {
    const { store, events, now } = this.deps;
    let job = await store.getJob(jobId);
    if (!job) return;
    const provider = this.deps.providers[job.provider];
    if (job.state === 'approved') {
      if (job.decidedAt !== null && now() - job.decidedAt > this.deps.approvalTtlMs) return this.lapse(job);
      const size = provider ? batchSizeFor(provider.info.maxBatch, this.deps.limiters.limitsFor(provider.info)) : job.ids.length;
      if (!(await store.startRun(job.id, planBatches(job.ids, size), now(), (started) => events.cardChanged(started)))) return;
      job = await store.getJob(jobId);
      if (!job) return;
    }
    if (job.state !== 'running') return;
    if (!provider) return this.abandonUnconfigured(job);
    const running = job;
    const open = (await store.batches(job.id)).filter((b) => b.state !== 'done');
    await Promise.all(open.map((b) => this.runBatch(running, provider, b)));
    await this.complete(job);
  }

  /**
   * The approval was given, but the run did not start within the approval's lifetime (the bot was
   * down): nobody re-confirmed that the reboot is still wanted now, so it goes back for approval.
   */
  private async lapse(job: Job): Promise<void> {
    const { store, events, now, log } = this.deps;
    const at = now();
    const minutes = Math.round((at - (job.decidedAt ?? at)) / 60_000);
    const reason = `approved ${minutes} min ago but not started within the approval's lifetime (the bot was not running); approve again if it is still needed`;
    const lapsed = await store.lapseApproval(job.id, at, at + this.deps.approvalTtlMs, reason, (pending) => [
      ...events.cardChanged(pending),
      ...events.note(pending, `:hourglass: Approval lapsed: ${reason}. Nothing was rebooted.`),
    ]);
    if (lapsed) log.warn('approval lapsed; waiting for approval again', { jobId: job.id, approvedMinutesAgo: minutes });
  }

  /**
   * The provider's credentials are gone (removed from the configuration across a restart). Nothing
   * more can be sent or followed, so every instance without an outcome is reported and the job ends,
   * rather than leaving the card "waiting" for ever. A batch that may have left already is unknown.
   */
  private async abandonUnconfigured(job: Job): Promise<void> {
    const message = `${job.provider} has no credentials on this bot (they were removed after approval); nothing was sent`;
    for (const batch of (await this.deps.store.batches(job.id)).filter((b) => b.state !== 'done')) {
      const outcomes: InstanceOutcome[] =
        batch.state === 'planned'
          ? batch.ids.map((id) => ({ id, status: 'failed', code: 'ProviderNotConfigured', message }))
          : batch.ids.map((id) => ({
              id,
              status: 'unknown',
              reason: `${job.provider} has no credentials on this bot any more, so this batch (sent before the restart) cannot be followed up; check the instance`,
            }));
      await this.record(job, batch, outcomes, { state: 'done' });
    }
    this.deps.log.error('provider not configured for a running job; reported its instances and completed it', { jobId: job.id, provider: job.provider });
    await this.complete(job);
  }

  private async runBatch(job: Job, provider: Provider, batch: Batch): Promise<void> {
    if (batch.state === 'sending' && !(await this.resumeInterrupted(job, provider, batch))) return;
    const asyncJobId = batch.state === 'polling' ? batch.asyncJobId : await this.send(job, provider, batch);
    if (asyncJobId) await this.poll(job, provider, batch, { jobId: asyncJobId, ids: await this.unfinished(job, batch) });
  }

  /**
   * A batch left "sending" by a stopped process: resent only where the provider's idempotency token
   * makes that safe (returns true), otherwise reported unknown (returns false).
   */
  private async resumeInterrupted(job: Job, provider: Provider, batch: Batch): Promise<boolean> {
    if (provider.info.resendSafe) {
      await this.deps.store.replanBatch(job.id, batch.seq);
      return true;
    }
    const reason = 'the bot restarted while this reboot request was in flight; it may or may not have been received — check the instance';
    await this.record(job, batch, batch.ids.map((id) => ({ id, status: 'unknown', reason })), { state: 'done' });
    return false;
  }

  /** Sends one batch under the limiter; returns the cloud's async job id when the API answers with one. */
  private async send(job: Job, provider: Provider, batch: Batch): Promise<string | null> {
    const { store, events, now } = this.deps;
    return this.deps.limiters.schedule(provider.info, job.region, batch.ids.length, async () => {
      if (!(await store.markBatchSending(job.id, batch.seq, now()))) return null;
      const call = { region: job.region, ids: batch.ids, force: job.force, dryRun: job.dryRun, idempotencyKey: idempotencyKey(job.id, batch.seq) };
      const result = await provider.reboot(call).catch((err: unknown): BatchResult => {
        // Providers report cloud and network failures as outcomes; a throw is our bug, after the
        // request may already have gone out, so the honest answer is "unknown".
        this.deps.log.error('provider call threw', { jobId: job.id, seq: batch.seq, error: errorMessage(err) });
        return { outcomes: batch.ids.map((id): InstanceOutcome => ({ id, status: 'unknown', reason: 'internal error while sending this reboot; check the instance' })) };
      });
      const pending = result.pending;
      if (!pending) {
        await this.record(job, batch, result.outcomes, { state: 'done' });
        return null;
      }
      // The async job id is stored with whatever outcomes came with it, or a restart could not follow it.
      const accepted = `${provider.info.displayName} accepted job \`${pending.jobId}\` for ${pending.ids.length} instances; waiting for it to finish.`;
      await this.record(job, batch, result.outcomes, { state: 'polling', asyncJobId: pending.jobId }, events.note(job, accepted));
      return pending.jobId;
    });
  }

  private async unfinished(job: Job, batch: Batch): Promise<string[]> {
    const done = new Set((await this.deps.store.outcomes(job.id)).map((o) => o.id));
    return batch.ids.filter((id) => !done.has(id));
  }

  private async poll(job: Job, provider: Provider, batch: Batch, handle: { jobId: string; ids: string[] }): Promise<void> {
    const { store, events } = this.deps;
    if (!provider.poll) {
      await this.record(job, batch, handle.ids.map((id) => ({ id, status: 'unknown', reason: 'provider cannot report async job results' })), { state: 'done' });
      return;
    }
    const progress: Array<Promise<void>> = [];
    const outcomes = await provider
      .poll({
      region: job.region,
      handle,
      onProgress: (done, total) => {
        const text = `${provider.info.displayName} job \`${handle.jobId}\`: ${done}/${total} servers done`;
        progress.push(Promise.resolve(store.enqueue(events.note(job, text, `progress:${job.id}:${handle.jobId}`))));
      },
    })
      .catch((err: unknown): InstanceOutcome[] => {
        // The cloud accepted the job; a bug while following it must not leave the job running for ever.
        this.deps.log.error('provider poll threw', { jobId: job.id, seq: batch.seq, error: errorMessage(err) });
        const reason = `the reboot was accepted (job ${handle.jobId}) but following it failed; check the instance`;
        return handle.ids.map((id) => ({ id, status: 'unknown', reason }));
      });
    await Promise.all(progress);
    await this.record(job, batch, outcomes, { state: 'done' });
  }

  /** Outcomes and the thread lines that report them commit together: a crash keeps both or neither. */
  private async record(job: Job, batch: Batch, outcomes: readonly InstanceOutcome[], after: BatchAfter, extra: OutboxWrite[] = []): Promise<void> {
    const { store, events, now } = this.deps;
    await store.recordOutcomes(job.id, batch.seq, outcomes, after, now(), (stored) => [...events.outcomes(job, stored), ...extra]);
  }

  private async complete(job: Job): Promise<void> {
    const { store, events, now, log } = this.deps;
    const tally = await store.completeRun(job.id, now(), ({ job: done }) => events.completed(done));
    if (tally) log.info('job completed', { jobId: job.id, ...tally });
  }
}
