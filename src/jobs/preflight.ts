/**
 * Pre-flight: right after a request is stored (and its card queued), its instances are read and the card
 * updated with names and states, so approvers see unknown and stopped ids before they approve. It informs and
 * never blocks: a failed read is shown on the card, and approving works whatever pre-flight found.
 */
import type { Logger } from '../log.js';
import type { ReplicaRegistry, Store } from '../store/contract.js';
import type { QuietGate } from '../quiet-gate.js';
import { JobTasks } from './background.js';
import type { JobEvents } from './events.js';
import { providerOf, type JobProviders } from './job-provider.js';
import type { LimiterPool } from './limiters.js';
import { readStates } from './reads.js';

export interface InspectorDeps extends JobProviders {
  store: Store;
  limiters: LimiterPool;
  events: JobEvents;
  now: () => number;
  log: Logger;
  /** Interactive requests first: background work starts once they pause (src/quiet-gate.ts). */
  quiet?: QuietGate;
  /** Active-active replicas (src/replicas/coordinator.ts): a pre-flight is read only by the replica that owns it. */
  ownership?: Pick<ReplicaRegistry, 'claimPreflight'>;
}

export class Inspector {
  private readonly tasks: JobTasks;

  constructor(private readonly deps: InspectorDeps) {
    this.tasks = new JobTasks(deps.log, 'pre-flight failed', deps.quiet);
  }

  /** Reads a pending job's instances in the background; a second call for the same job is a no-op. */
  start(jobId: string): void {
    const owner = this.deps.ownership;
    this.tasks.start(jobId, async () => {
      if (!owner || (await owner.claimPreflight(jobId))) await this.inspect(jobId);
    });
  }

  idle(): Promise<void> {
    return this.tasks.idle();
  }

  /** On start-up: pending requests whose pre-flight did not finish before the restart are read again. */
  async recover(): Promise<void> {
    for (const job of await this.deps.store.jobsInState('pending')) {
      if ((await this.deps.store.preflight(job.id)).checkedAt === null) this.start(job.id);
    }
  }

  private async inspect(jobId: string): Promise<void> {
    const { store, events, now } = this.deps;
    const job = await store.getJob(jobId);
    const provider = job ? providerOf(this.deps, job) : undefined;
    if (!job || !provider) return;
    const log = this.deps.log.child({ jobId, provider: job.provider, account: job.account, region: job.region });
    const read = await readStates(this.deps.limiters, provider, job.region, job.ids, job.account);
    await store.recordPreflight(job.id, { readings: [...read.readings.values()], errors: read.errors, done: true }, now(), (j) => events.cardChanged(j));
    if (read.errors.length > 0) log.warn('pre-flight could not read every instance', { errors: read.errors.map((e) => e.code) });
    else log.debug('pre-flight read every instance', { instances: job.ids.length });
  }
}
