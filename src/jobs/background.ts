/**
 * Work per job that runs in the background, at most once at a time per job: the runner's runs and pre-flight's
 * reads. A failure is logged, never thrown into the caller that only started it.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { NO_GATE, type QuietGate } from '../quiet-gate.js';

export class JobTasks {
  private readonly active = new Map<string, Promise<void>>();

  constructor(
    private readonly log: Logger,
    /** The log message of a task that failed. */
    private readonly failure: string,
    /** Interactive requests first: a task starts once they pause (src/quiet-gate.ts). */
    private readonly gate: QuietGate = NO_GATE,
  ) {}

  /**
   * Starts `task` for the job unless one is still running for it. The task begins on a later turn of the
   * event loop, once requests pause, never inside the caller, and tasks started together begin one per turn
   * (src/quiet-gate.ts): a slash command or a click is acknowledged to Slack before its background work takes the
   * event loop.
   */
  start(jobId: string, task: () => Promise<void>): void {
    if (this.active.has(jobId)) return;
    const run = this.gate
      .turn()
      .then(task)
      .catch((err: unknown) => this.log.error(this.failure, { jobId, error: errorMessage(err) }))
      .finally(() => this.active.delete(jobId));
    this.active.set(jobId, run);
  }

  /** Resolves when every task started so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.all([...this.active.values()]);
  }
}
