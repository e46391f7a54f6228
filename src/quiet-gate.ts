/**
 * Interactive requests first. Slack wants every slash command and click acknowledged within 3 s
 * (https://api.slack.com/interactivity/handling#acknowledgment_response), and a burst of them should not queue behind
 * the background work the first ones caused (their cards, pre-flight reads, runs).
 *
 * Background work goes in steps, one step per turn of the event loop, each once no request has arrived for
 * `quietMs` (or once it has waited `maxWaitMs`, so it is delayed a moment, never starved). One step per turn
 * matters as much as the lull: fifty cards rendered and sent in one turn hold the event loop for tens of
 * milliseconds, and a burst arriving then waits for all of them; taken one per turn, requests that arrive are read
 * between two steps and wait for one step at most.
 */
export interface QuietGateOptions {
  /** A lull this long lets background work go on. */
  quietMs: number;
  /** The longest a step waits for a lull, however busy the bot is. */
  maxWaitMs: number;
  now?: () => number;
}

export class QuietGate {
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;
  /** The last step granted or waiting: steps go in the order they asked, one per turn. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: QuietGateOptions) {
    this.now = options.now ?? Date.now;
  }

  /** A request arrived. */
  touch(): void {
    this.lastRequestAt = this.now();
  }

  /**
   * Resolves when the caller may take its step: on a later turn of the event loop than the step before it (so
   * requests that arrived meanwhile are read first), once requests have paused or it has waited `maxWaitMs`.
   */
  turn(): Promise<void> {
    const deadline = this.now() + this.options.maxWaitMs;
    const step = this.queue.then(() => this.lullOr(deadline));
    this.queue = step;
    return step;
  }

  private lullOr(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        const now = this.now();
        const quietAt = this.lastRequestAt + this.options.quietMs;
        if (now >= quietAt || now >= deadline) resolve();
        else setTimeout(check, Math.max(1, Math.min(quietAt, deadline) - now));
      };
      // An immediate queued from inside an immediate's callback (where the step before this one was granted) runs on
      // the next turn, after the poll phase has read the sockets (https://nodejs.org/api/timers.html#setimmediatecallback-args).
      setImmediate(check);
    });
  }
}

/** No gate: each step goes on a later turn of the event loop than the one before. */
export const NO_GATE = new QuietGate({ quietMs: 0, maxWaitMs: 0 });
