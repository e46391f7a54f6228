/**
 * Work per job that runs in the background, at most once at a time per job: the runner's runs and pre-flight's
 * reads. A failure is logged, never thrown into the caller that only started it.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

export class JobTasks {
  private readonly active = new Map<string, Promise<void>>();

  constructor(
    private readonly log: Logger,
    /** The log message of a task that failed. */
    private readonly failure: string,
  ) {}

  /**
   * Starts `task` for the job unless one is still running for it. The task begins on the next turn of the
   * event loop, never inside the caller: a slash command or a click is acknowledged to Slack before its
   * background work takes the event loop (Slack's 3 s deadline, https://api.slack.com/interactivity/handling#acknowledgment_response).
   */
  start(jobId: string, task: () => Promise<void>): void {
    if (this.active.has(jobId)) return;
    const run = new Promise<void>((resolve) => setImmediate(resolve))
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
