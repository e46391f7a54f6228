/**
 * Who is told about each HTTP exchange with a cloud and each throttling answer. The bot opens a watch around
 * every provider call it makes (src/observability/instrument-providers.ts); sendHttp (src/providers/http.ts),
 * through which every client talks to its cloud, and the resend rule (src/providers/guard.ts: resendVerdict),
 * which every client's throttling answer passes through, report into whichever watch is open. AsyncLocalStorage
 * (https://nodejs.org/api/async_context.html#class-asynclocalstorage) carries it across the client's awaits and
 * retries, so the clients themselves know nothing of metrics.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type HttpExchange = { status: number; ms: number } | { failure: 'timeout' | 'error'; ms: number };

export interface CallWatch {
  http(exchange: HttpExchange): void;
  throttled(): void;
}

const watches = new AsyncLocalStorage<CallWatch>();

export function watchCalls<T>(watch: CallWatch, call: () => Promise<T>): Promise<T> {
  return watches.run(watch, call);
}

/** Tells the open watch, if any; a watch that throws must never change what happened to a call. */
export function reportToWatch(report: (watch: CallWatch) => void): void {
  const watch = watches.getStore();
  if (!watch) return;
  try {
    report(watch);
  } catch {
    // Metrics only.
  }
}
