/** Exponential backoff with full jitter, shared by every provider client. */

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 20_000 };

/** A server-given Retry-After is obeyed up to this; beyond it the answer stands as the outcome. */
export const MAX_SERVER_DELAY_MS = 120_000;

/** Delay before retry number `retry` (1 = first retry): uniform in [base/2, min(max, base*2^(retry-1))]. */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const floor = Math.min(ceiling, policy.baseDelayMs / 2);
  return Math.round(floor + random() * (ceiling - floor));
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One attempt's verdict: either final, or worth another try (optionally after a server-given delay). Whether a
 * request may go again at all is decided by guard.ts (mayResend, resendVerdict), not by each client.
 */
export type AttemptResult<T> = { final: T } | { retry: T; afterMs?: number };

/**
 * Runs `attempt` until it is final or the policy runs out; then the last retryable value is returned
 * as it is, so the caller reports the cloud's own error rather than a generic "gave up".
 */
export async function withRetries<T>(
  attempt: (attemptNumber: number) => Promise<AttemptResult<T>>,
  policy: RetryPolicy,
  sleep: (ms: number) => Promise<void> = realSleep,
): Promise<T> {
  for (let n = 1; ; n++) {
    const result = await attempt(n);
    if ('final' in result) return result.final;
    if (n >= policy.maxAttempts) return result.retry;
    // The backoff is capped by the policy; a server's own Retry-After may ask for longer.
    const delay = Math.max(Math.min(result.afterMs ?? 0, MAX_SERVER_DELAY_MS), backoffDelayMs(n, policy));
    await sleep(delay);
  }
}
