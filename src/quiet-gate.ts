/**
 * Interactive requests first. Slack wants every slash command and click acknowledged within 3 s
 * (https://api.slack.com/interactivity/handling#acknowledgment_response), and a burst of them should not queue behind
 * the background work the first ones caused (their cards, pre-flight reads, runs). Background work waits for a lull:
 * until no request has arrived for `quietMs`, or `maxWaitMs` at the latest, so it is delayed a moment, never starved.
 */
export interface QuietGateOptions {
  /** A lull this long lets background work start. */
  quietMs: number;
  /** The longest background work waits, however busy the bot is. */
  maxWaitMs: number;
  now?: () => number;
}

export class QuietGate {
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly options: QuietGateOptions) {
    this.now = options.now ?? Date.now;
  }

  /** A request arrived. */
  touch(): void {
    this.lastRequestAt = this.now();
  }

  /** Resolves on a later turn of the event loop, once requests have paused (or the longest wait is over). */
  whenQuiet(): Promise<void> {
    const deadline = this.now() + this.options.maxWaitMs;
    return new Promise((resolve) => {
      const check = (): void => {
        const now = this.now();
        const quietAt = this.lastRequestAt + this.options.quietMs;
        if (now >= quietAt || now >= deadline) resolve();
        else setTimeout(check, Math.max(1, Math.min(quietAt, deadline) - now));
      };
      setImmediate(check);
    });
  }
}

/** No gate: background work starts on the next turn of the event loop. */
export const NO_GATE = new QuietGate({ quietMs: 0, maxWaitMs: 0 });
