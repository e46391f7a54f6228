/**
 * Executes approved jobs: plans waves and batches, sends each through the provider's limiter, watches
 * the instances come back, persists every step before and after its side effect, and reports through
 * the outbox in the same transaction. Recovery after a restart goes through the same code: a batch
 * caught mid-send is resent only when the provider's idempotency token makes that safe; otherwise its
 * instances are unknown, with what one read can add. A dry run only reads.
 */
import { batchSizeFor, idempotencyKey, planWaves, type Batch, type Job } from '../domain/job.js';
import { stopsRollout, type JobOutcome } from '../domain/outcome.js';
import type { OutboxWrite } from '../domain/outbox-message.js';
import { dryRunOutcome } from '../domain/preflight.js';
import { reconcile } from '../domain/verification.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { InstanceMetrics } from '../observability/metrics.js';
import type { BatchResult, InstanceOutcome, InstanceReading, Provider } from '../providers/provider.js';
import type { BatchAfter, ReplicaRegistry, Store } from '../store/contract.js';
import type { QuietGate } from '../quiet-gate.js';
import { JobTasks } from './background.js';
import type { JobEvents } from './events.js';
import { providerOf, type JobProviders } from './job-provider.js';
import type { LimiterPool } from './limiters.js';
import { readErrorText, readStates } from './reads.js';
import { Verification, type VerifyTuning } from './verifier.js';

export interface RunnerDeps extends JobProviders {
  store: Store;
  limiters: LimiterPool;
  events: JobEvents;
  now: () => number;
  log: Logger;
  /** Interactive requests first: background work starts once they pause (src/quiet-gate.ts). */
  quiet?: QuietGate;
  /** An approval older than this when its run would start has lapsed and must be given again. */
  approvalTtlMs: number;
  verify: VerifyTuning;
  /** Counts each instance's outcome once it is recorded (GET /metrics). */
  metrics?: InstanceMetrics;
  /** Active-active replicas (src/replicas/coordinator.ts): a job is run only by the replica that owns its run. */
  ownership?: Pick<ReplicaRegistry, 'claimRun' | 'releaseRun'>;
  /** With ownership: how long a run that threw stays with this replica before any may resume it (RETRY_FAILED_RUN_MS). */
  failedRunRetryMs?: number;
}

/** What one batch's run hands on: the instances to watch, with the cloud's time of acceptance. */
interface Accepted {
  ids: string[];
  acceptedAt: number;
  jobProved: boolean;
}

/** Batches of a job waiting in the limiter beyond its concurrency: enough that a free slot always finds one ready. */
const QUEUED_AHEAD = 8;

/** Among replicas, how long a run that failed stays with its replica before any replica may resume it. */
const RETRY_FAILED_RUN_MS = 30_000;

/** How often a shutdown that is waiting says what for. */
const SHUTDOWN_LOG_EVERY_MS = 3000;

export class Runner {
  private readonly tasks: JobTasks;
  /** Set by shutdown(): no batch, wave or verification round starts any more; what is stored resumes at the next start. */
  private stopping = false;
  /** Batches between their claim (markBatchSending) and their stored answer, by job: what a shutdown waits for. */
  private readonly sending = new Map<string, Set<number>>();
  private readonly verifications = new Map<string, Verification>();

  constructor(private readonly deps: RunnerDeps) {
    this.tasks = new JobTasks(deps.log, 'job run failed', deps.quiet);
  }

  /** Starts (or resumes) a job in the background; a second call for the same job is a no-op. */
  start(jobId: string): void {
    this.tasks.start(jobId, () => this.runOwned(jobId));
  }

  /**
   * Among replicas, the run's owner alone runs it: a click at another replica, or a sweep that finds the job, is a
   * no-op while the owner lives. The owner is set where the run begins, in the same transaction: the approval
   * (PgStore.approveLocked) or a takeover (ReplicaRegistry.claimOrphans), so the claim here confirms it even when the
   * task waited for its turn (src/quiet-gate.ts) while other replicas swept. A run that ended gives its ownership
   * back (a lapsed approval may be approved again at any replica). One that threw (the database went away mid-run)
   * gives it back after RETRY_FAILED_RUN_MS, so that a replica's sweep resumes it from the store once the fault has
   * passed, without every replica retrying a job that keeps failing in a tight loop.
   */
  private async runOwned(jobId: string): Promise<void> {
    const owner = this.deps.ownership;
    if (owner && !(await owner.claimRun(jobId))) return;
    try {
      await this.run(jobId);
    } catch (err) {
      if (owner) {
        // Given back once the database takes the release; tried again while it does not.
        const giveBack = (): void => {
          setTimeout(() => {
            if (!this.stopping) owner.releaseRun(jobId).catch(giveBack);
          }, this.deps.failedRunRetryMs ?? RETRY_FAILED_RUN_MS).unref();
        };
        giveBack();
      }
      throw err;
    }
    if (owner && !this.stopping) await owner.releaseRun(jobId);
  }

  /** Resolves when every job started so far has finished (tests, shutdown). */
  idle(): Promise<void> {
    return this.tasks.idle();
  }

  /** Every line about a job carries its id, provider and region. */
  private logOf(job: Job): Logger {
    return this.deps.log.child({ jobId: job.id, provider: job.provider, region: job.region });
  }

  /**
   * Bounded shutdown: at once, no further batch, wave or verification round starts; provider calls already in flight
   * are waited for up to `graceMs` (saying every few seconds which jobs and how many batches), so their answers are
   * stored. Everything else stays as stored (planned batches planned, watched ones verifying) and recover() resumes it
   * at the next start. Resolves true when nothing was left in flight.
   */
  async shutdown(graceMs: number): Promise<boolean> {
    const { log } = this.deps;
    this.stopping = true;
    for (const verification of this.verifications.values()) verification.stop();
    const deadline = Date.now() + graceMs;
    let nextLog = 0;
    for (;;) {
      const waiting = this.inFlight();
      if (waiting.length === 0) return true;
      if (Date.now() >= deadline) {
        log.warn('shutdown grace over; in-flight batches are left stored for the next start', { graceMs, jobs: waiting });
        return false;
      }
      if (Date.now() >= nextLog) {
        log.info('shutdown: waiting for in-flight provider calls', { jobs: waiting, msLeft: deadline - Date.now() });
        nextLog = Date.now() + SHUTDOWN_LOG_EVERY_MS;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Jobs with provider calls in flight: batches sent and not yet answered, verification reads under way. */
  private inFlight(): Array<{ jobId: string; batches: number; verifying: boolean }> {
    const jobs = new Set([...this.sending.keys(), ...this.verifications.keys()]);
    return [...jobs]
      .map((jobId) => ({ jobId, batches: this.sending.get(jobId)?.size ?? 0, verifying: this.verifications.get(jobId)?.reading === true }))
      .filter((j) => j.batches > 0 || j.verifying);
  }

  /** On start-up: approved jobs start, running jobs resume. */
  async recover(): Promise<void> {
    for (const job of await this.deps.store.jobsInState('running')) await this.resume(job.id, 'running');
    for (const job of await this.deps.store.jobsInState('approved')) await this.resume(job.id, 'approved');
  }

  /** A job left by a restart, or by a replica that died: a running one resumes from its stored batches, noted in the audit trail. */
  async resume(jobId: string, state: 'approved' | 'running'): Promise<void> {
    const { store, now } = this.deps;
    if (state === 'running') {
      const open = (await store.batches(jobId)).filter((b) => b.state !== 'done').length;
      await store.noteResumed(jobId, now(), { batches: open });
    }
    this.start(jobId);
  }

  private async run(jobId: string): Promise<void> {
    const { store, events, now } = this.deps;
    let job = await store.getJob(jobId);
    if (!job) return;
    const provider = providerOf(this.deps, job);
    if (job.state === 'approved') {
      if (!job.dryRun && job.decidedAt !== null && now() - job.decidedAt > this.deps.approvalTtlMs) return this.lapse(job);
      const plan = job.dryRun
        ? planWaves(job.ids, provider?.info.maxDescribe ?? job.ids.length, null)
        : planWaves(job.ids, provider ? batchSizeFor(provider.info.maxBatch, this.deps.limiters.limitsFor(provider.info)) : job.ids.length, job.rolling);
      if (!(await store.startRun(job.id, plan, now(), (started) => events.cardChanged(started)))) return;
      job = await store.getJob(jobId);
      if (!job) return;
    }
    if (job.state !== 'running') return;
    if (!provider) return this.abandonUnconfigured(job);
    if (job.dryRun) await this.dryRun(job, provider);
    else await this.reboot(job, provider);
    // Shutting down: the job is not finished, only left; recover() picks it up where the store says it is.
    if (this.stopping) {
      this.deps.log.info('job left for the next start', { jobId });
      return;
    }
    await this.complete(job);
  }

  /**
   * Wave by wave; with `--rolling`, a wave that did not all come back stops the job before the next is sent. The
   * batches are read again before every wave: a cancel (Store.cancel) closes the planned ones, and a shutdown stops here.
   */
  private async reboot(job: Job, provider: Provider): Promise<void> {
    const { store } = this.deps;
    const before = job.verify ? (await store.preflight(job.id)).readings : new Map<string, InstanceReading>();
    const initial = await store.batches(job.id);
    const verification = job.verify ? this.verification(job, provider, before, initial) : undefined;
    if (verification) this.verifications.set(job.id, verification);
    try {
      const waves = [...new Set(initial.map((b) => b.wave))].sort((a, b) => a - b);
      for (const wave of waves) {
        if (this.stopping) return;
        const batches = await store.batches(job.id);
        const inWave = batches.filter((b) => b.wave === wave);
        await this.runWave(job, provider, inWave.filter((b) => b.state !== 'done'), before, verification);
        await verification?.settled();
        if (this.stopping) return;
        const later = (await store.batches(job.id)).filter((b) => b.wave > wave);
        if (job.rolling === null || later.length === 0) continue;
        const waveIds = new Set(inWave.flatMap((b) => b.ids));
        const stopper = (await store.outcomes(job.id)).find((o) => waveIds.has(o.id) && stopsRollout(o));
        if (stopper) return await this.stopRollout(job, wave, stopper, later);
      }
    } finally {
      this.verifications.delete(job.id);
    }
  }

  /**
   * A wave's batches, each handed to the limiter only a few ahead of its free slots: bottleneck cannot take back a job
   * it has queued (https://github.com/SGrondin/bottleneck#stop drops all or nothing), so batches queued all at once
   * would, after a cancel or during a shutdown, still pass one by one through the rate limit as no-ops, holding up the
   * job's end and every other job of that region. A batch not yet handed over is skipped once the job is cancelled.
   */
  private async runWave(job: Job, provider: Provider, open: readonly Batch[], before: ReadonlyMap<string, InstanceReading>, verification: Verification | undefined): Promise<void> {
    const width = this.deps.limiters.limitsFor(provider.info).maxConcurrent + QUEUED_AHEAD;
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let batch = open[next++]; batch !== undefined && !this.stopping; batch = open[next++]) {
        if (batch.state === 'planned' && (await this.deps.store.getJob(job.id))?.cancelledAt != null) continue;
        await this.runBatch(job, provider, batch, before, verification);
      }
    };
    await Promise.all(Array.from({ length: Math.min(width, open.length) }, worker));
  }

  private verification(job: Job, provider: Provider, before: ReadonlyMap<string, InstanceReading>, batches: readonly Batch[]): Verification {
    const bySeq = new Map(batches.map((b) => [b.seq, b]));
    return new Verification({
      provider,
      region: job.region,
      account: job.account,
      limiters: this.deps.limiters,
      now: this.deps.now,
      tuning: this.deps.verify,
      log: this.logOf(job),
      before,
      settle: async (seq, outcomes) => {
        const batch = bySeq.get(seq);
        if (!batch) return;
        const known = new Set(await this.deps.store.outcomeIds(job.id));
        for (const o of outcomes) known.add(o.id);
        await this.record(job, batch, outcomes, batch.ids.every((id) => known.has(id)) ? { state: 'done' } : { state: 'open' });
      },
    });
  }

  /**
   * Every instance after the failed wave is reported not started; nothing more is sent for this request. The note
   * commits with the first batch's lines, so a restart part-way through does not post it again.
   */
  private async stopRollout(job: Job, wave: number, stopper: JobOutcome, later: readonly Batch[]): Promise<void> {
    const { store, events, now } = this.deps;
    const planned = later.filter((b) => b.state === 'planned');
    const first = planned[0];
    if (!first) return;
    const reason = `not started: stopped after a failure in wave ${wave + 1}`;
    const notStarted = planned.flatMap((b) => b.ids).length;
    const what = stopper.status === 'not_back' ? 'did not come back' : stopper.status === 'unknown' ? 'is in an unknown state' : 'failed';
    const text = `:octagonal_sign: Rolling reboot stopped after wave ${wave + 1}: \`${stopper.id}\` ${what}. ${notStarted} instance${notStarted === 1 ? '' : 's'} not started; a new request is needed to go on.`;
    await store.recordEvent(job.id, 'rollout stopped', now(), { wave: wave + 1, instance: stopper.id, status: stopper.status, notStarted });
    for (const batch of planned) {
      const outcomes = batch.ids.map((id): JobOutcome => ({ id, status: 'not_started', reason }));
      // Once any later batch is done, the note went out with it before a restart.
      const announce = batch === first && later.every((b) => b.state === 'planned');
      await this.record(job, batch, outcomes, { state: 'done' }, announce ? events.note(job, text) : []);
    }
    this.logOf(job).warn('rolling reboot stopped', { wave: wave + 1, instance: stopper.id, notStarted });
  }

  /**
   * Only read calls: every instance's state becomes a "would reboot" or "would fail", and where the cloud has a
   * documented dry-run flag on the reboot call (Alibaba), its permission answer is added as a line of its own.
   * It never overrides what the read found. A batch caught mid-read by a restart is simply read again.
   */
  private async dryRun(job: Job, provider: Provider): Promise<void> {
    const { store, events, now } = this.deps;
    const open = (await store.batches(job.id)).filter((b) => b.state !== 'done');
    await Promise.all(
      open.map(async (batch) => {
        if (this.stopping) return;
        if (batch.state === 'sending') await store.replanBatch(job.id, batch.seq);
        if (!(await store.markBatchSending(job.id, batch.seq, now()))) return;
        this.claimed(job, batch);
        try {
          const read = await readStates(this.deps.limiters, provider, job.region, batch.ids, job.account);
          await store.recordPreflight(job.id, { readings: [...read.readings.values()], errors: read.errors, done: false }, now());
          const why = readErrorText(read.errors);
          await this.record(job, batch, batch.ids.map((id) => dryRunOutcome(id, read.readings.get(id), why)), { state: 'done' });
        } finally {
          this.released(job, batch);
        }
      }),
    );
    if (this.stopping) return;
    if (open.length > 0) await this.checkPermission(job, provider);
    await store.recordPreflight(job.id, { readings: [], errors: [], done: true }, now(), (j) => events.cardChanged(j));
  }

  private async checkPermission(job: Job, provider: Provider): Promise<void> {
    const check = provider.checkPermission;
    if (!check) return;
    const { store, events, now } = this.deps;
    const readings = (await store.preflight(job.id)).readings;
    const running = job.ids.filter((id) => { const r = readings.get(id); return r?.found === true && r.phase === 'running'; });
    const ids = (running.length > 0 ? running : job.ids).slice(0, provider.info.maxBatch);
    const answer = await this.deps.limiters.scheduleRead(provider.info, { account: job.account, region: job.region }, () => check.call(provider, { region: job.region, ids, force: job.force }));
    const line =
      answer.kind === 'allowed'
        ? `:key: Permission check (the cloud's own dry run of the reboot call): allowed — ${answer.detail}`
        : answer.kind === 'denied'
          ? `:no_entry: Permission check (the cloud's own dry run of the reboot call): *denied*, ${answer.code}: ${answer.message}. A real run would fail for every instance.`
          : `:grey_question: Permission check (the cloud's own dry run of the reboot call) gave no clear answer: ${answer.reason}`;
    await store.recordEvent(job.id, 'permission check', now(), answer, (j) => events.note(j, line));
  }

  /**
   * The approval was given, but the run did not start within the approval's lifetime (the bot was
   * down): nobody re-confirmed that the reboot is still wanted now, so it goes back for approval.
   */
  private async lapse(job: Job): Promise<void> {
    const { store, events, now } = this.deps;
    const at = now();
    const minutes = Math.round((at - (job.decidedAt ?? at)) / 60_000);
    const reason = `approved ${minutes} min ago but not started within the approval's lifetime (the bot was not running); approve again if it is still needed`;
    const lapsed = await store.lapseApproval(job.id, at, at + this.deps.approvalTtlMs, reason, (pending) => [
      ...events.cardChanged(pending),
      ...events.note(pending, `:hourglass: Approval lapsed: ${reason}. Nothing was rebooted.`),
    ]);
    if (lapsed) this.logOf(job).warn('approval lapsed; waiting for approval again', { approvedMinutesAgo: minutes });
  }

  /**
   * The provider's credentials are gone (removed from the configuration across a restart). Nothing
   * more can be sent or followed, so every instance without an outcome is reported and the job ends,
   * rather than leaving the card "waiting" for ever. A batch that may have left already is unknown.
   */
  private async abandonUnconfigured(job: Job): Promise<void> {
    const message = `${job.provider} has no credentials on this bot (they were removed after approval); nothing was sent`;
    for (const batch of (await this.deps.store.batches(job.id)).filter((b) => b.state !== 'done')) {
      const outcomes: JobOutcome[] =
        batch.state === 'planned'
          ? batch.ids.map((id) => ({ id, status: 'failed', code: 'ProviderNotConfigured', message }))
          : batch.ids.map((id) => ({
              id,
              status: 'unknown',
              reason: `${job.provider} has no credentials on this bot any more, so this batch (sent before the restart) cannot be followed up; check the instance`,
            }));
      await this.record(job, batch, outcomes, { state: 'done' });
    }
    this.logOf(job).error('provider not configured for a running job; reported its instances and completed it');
    await this.complete(job);
  }

  private async runBatch(job: Job, provider: Provider, batch: Batch, before: ReadonlyMap<string, InstanceReading>, verification: Verification | undefined): Promise<void> {
    try {
      await this.runBatchTracked(job, provider, batch, before, verification);
    } finally {
      this.released(job, batch);
    }
  }

  private released(job: Job, batch: Batch): void {
    const sending = this.sending.get(job.id);
    sending?.delete(batch.seq);
    if (sending?.size === 0) this.sending.delete(job.id);
  }

  /** Marks the batch in flight for shutdown from its claim until its answer is stored. */
  private claimed(job: Job, batch: Batch): void {
    const sending = this.sending.get(job.id) ?? new Set<number>();
    sending.add(batch.seq);
    this.sending.set(job.id, sending);
  }

  private async runBatchTracked(job: Job, provider: Provider, batch: Batch, before: ReadonlyMap<string, InstanceReading>, verification: Verification | undefined): Promise<void> {
    const settle = (outcomes: readonly InstanceOutcome[], acceptedAt: number, jobProved: boolean): Promise<void> =>
      this.settleCall(job, provider, batch, outcomes, acceptedAt, jobProved, before, verification);
    if (batch.state === 'verifying') {
      // Resumed after a restart: watching starts again; a transition seen before the restart is not remembered.
      const at = batch.acceptedAt ?? batch.sentAt ?? this.deps.now();
      verification?.add(batch.seq, await this.unfinished(job, batch), at, batch.asyncJobId !== null);
      return;
    }
    if (batch.state === 'sending' || batch.state === 'polling') this.claimed(job, batch);
    if (batch.state === 'sending') {
      if (!provider.info.resendSafe) {
        const reason = 'the bot restarted while this reboot request was in flight; it may or may not have been received — check the instance';
        return settle(batch.ids.map((id) => ({ id, status: 'unknown', reason })), batch.sentAt ?? this.deps.now(), false);
      }
      await this.deps.store.replanBatch(job.id, batch.seq);
    }
    const sent = batch.state === 'polling' ? { asyncJobId: batch.asyncJobId, acceptedAt: batch.acceptedAt ?? batch.sentAt ?? this.deps.now() } : await this.send(job, provider, batch);
    if (!sent) return;
    // Settled outside the limiter: settling reads, and a read waits for the very slot the call would still hold.
    if ('outcomes' in sent) return settle(sent.outcomes, sent.acceptedAt, false);
    if (!sent.asyncJobId) return;
    const outcomes = await this.poll(job, provider, batch, { jobId: sent.asyncJobId, ids: await this.unfinished(job, batch) });
    await settle(outcomes, sent.acceptedAt, true);
  }

  /**
   * Sends one batch under the limiter: a synchronous answer comes back to be settled; for an async cloud job, its
   * id (stored with the outcomes that came with it) and the acceptance time, for polling. Null when another runner
   * had already claimed the batch.
   */
  private async send(
    job: Job,
    provider: Provider,
    batch: Batch,
  ): Promise<{ outcomes: InstanceOutcome[]; acceptedAt: number } | { asyncJobId: string; acceptedAt: number } | null> {
    const { store, events, now } = this.deps;
    return this.deps.limiters.schedule(provider.info, { account: job.account, region: job.region }, batch.ids.length, async () => {
      // Shutting down: a batch whose turn comes now stays planned for the next start.
      if (this.stopping) return null;
      const sentAt = now();
      // The compare-and-set against a cancel: Store.cancel closes planned batches in its transaction, so a batch it
      // closed cannot be claimed here, and one claimed here is sent and reported like any other.
      if (!(await store.markBatchSending(job.id, batch.seq, sentAt))) return null;
      this.claimed(job, batch);
      const call = { region: job.region, ids: batch.ids, force: job.force, idempotencyKey: idempotencyKey(job.id, batch.seq) };
      const result = await provider.reboot(call).catch((err: unknown): BatchResult => {
        // Providers report cloud and network failures as outcomes; a throw is our bug, after the
        // request may already have gone out, so the honest answer is "unknown".
        this.logOf(job).error('provider call threw', { seq: batch.seq, error: errorMessage(err) });
        return { outcomes: batch.ids.map((id): InstanceOutcome => ({ id, status: 'unknown', reason: 'internal error while sending this reboot; check the instance' })) };
      });
      // UNCONFIRMED skew: without the cloud's Date header, the bot's clock at sending stands in for the cloud's.
      const acceptedAt = result.serverTime ?? sentAt;
      const pending = result.pending;
      if (!pending) return { outcomes: result.outcomes, acceptedAt };
      // The async job id is stored with whatever outcomes came with it, or a restart could not follow it.
      const accepted = `${provider.info.displayName} accepted job \`${pending.jobId}\` for ${pending.ids.length} instances; waiting for it to finish.`;
      await this.record(job, batch, result.outcomes, { state: 'polling', asyncJobId: pending.jobId }, events.note(job, accepted));
      return { asyncJobId: pending.jobId, acceptedAt };
    });
  }

  /**
   * The provider's answer for a batch, settled: refusals are final; an answer that proves nothing is unknown, with
   * what one read of the instance can add (a reboot seen under way makes it accepted after all); accepted reboots
   * are final without verification, else watched until they are seen back.
   */
  private async settleCall(
    job: Job,
    provider: Provider,
    batch: Batch,
    outcomes: readonly InstanceOutcome[],
    acceptedAt: number,
    jobProved: boolean,
    before: ReadonlyMap<string, InstanceReading>,
    verification: Verification | undefined,
  ): Promise<void> {
    const final: JobOutcome[] = outcomes.filter((o) => o.status !== 'succeeded' && o.status !== 'unknown');
    const accepted: Accepted = { ids: outcomes.filter((o) => o.status === 'succeeded').map((o) => o.id), acceptedAt, jobProved };
    const unknown = outcomes.filter((o): o is Extract<InstanceOutcome, { status: 'unknown' }> => o.status === 'unknown');
    // Instances whose follow-up read saw the reboot itself: that reading is their proof, verification need only see them back.
    const seenRebooting: string[] = [];
    if (unknown.length > 0) {
      const read = await readStates(this.deps.limiters, provider, job.region, unknown.map((o) => o.id), job.account);
      for (const o of unknown) {
        const seen = reconcile(read.readings.get(o.id), before.get(o.id), acceptedAt);
        if (seen.proven) seenRebooting.push(o.id);
        else final.push({ ...o, reason: `${o.reason}; ${seen.now}` });
      }
    }
    accepted.ids.push(...seenRebooting);
    if (!verification) {
      const byId = new Map(outcomes.map((o) => [o.id, o]));
      for (const id of accepted.ids) {
        const o = byId.get(id);
        final.push(o?.status === 'succeeded' ? o : { id, status: 'succeeded', detail: 'reboot accepted (seen rebooting on a follow-up read)' });
      }
      await this.record(job, batch, inCallOrder(final, outcomes), { state: 'done' });
      return;
    }
    await this.record(job, batch, inCallOrder(final, outcomes), accepted.ids.length > 0 ? { state: 'verifying', acceptedAt } : { state: 'done' });
    const proved = new Set(seenRebooting);
    verification.add(batch.seq, accepted.ids.filter((id) => !proved.has(id)), acceptedAt, jobProved);
    verification.add(batch.seq, seenRebooting, acceptedAt, jobProved, true);
  }

  private async unfinished(job: Job, batch: Batch): Promise<string[]> {
    const done = new Set(await this.deps.store.outcomeIds(job.id));
    return batch.ids.filter((id) => !done.has(id));
  }

  /** Follows an async cloud job to its end; the outcomes it returns are settled by the caller. */
  private async poll(job: Job, provider: Provider, batch: Batch, handle: { jobId: string; ids: string[] }): Promise<InstanceOutcome[]> {
    const { store, events } = this.deps;
    if (!provider.poll) return handle.ids.map((id) => ({ id, status: 'unknown', reason: 'provider cannot report async job results' }));
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
        this.logOf(job).error('provider poll threw', { seq: batch.seq, error: errorMessage(err) });
        const reason = `the reboot was accepted (job ${handle.jobId}) but following it failed; check the instance`;
        return handle.ids.map((id) => ({ id, status: 'unknown', reason }));
      });
    await Promise.all(progress);
    return outcomes;
  }

  /** Outcomes and the thread lines that report them commit together: a crash keeps both or neither. */
  private async record(job: Job, batch: Batch, outcomes: readonly JobOutcome[], after: BatchAfter, extra: OutboxWrite[] = []): Promise<void> {
    const { store, events, now } = this.deps;
    let recorded: readonly JobOutcome[] = [];
    await store.recordOutcomes(job.id, batch.seq, outcomes, after, now(), (stored, names) => {
      recorded = stored;
      return [...events.outcomes(job, stored, names), ...extra];
    });
    // Counted after the commit, and only the outcomes the store took (a repeat after a restart is not new).
    this.deps.metrics?.instancesSettled(job.provider, recorded);
  }

  private async complete(job: Job): Promise<void> {
    const { store, events, now } = this.deps;
    const tally = await store.completeRun(job.id, now(), ({ job: done }) => events.completed(done));
    if (tally) this.logOf(job).info('job completed', { ...tally });
  }
}

/** The thread lists a batch's results in the order the cloud answered them, whatever was settled first. */
function inCallOrder(settled: readonly JobOutcome[], answered: readonly InstanceOutcome[]): JobOutcome[] {
  const position = new Map(answered.map((o, i) => [o.id, i]));
  return [...settled].sort((a, b) => (position.get(a.id) ?? 0) - (position.get(b.id) ?? 0));
}
