/** Bounded waiting: every wait in the harness has a deadline. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value (not undefined/false) or `timeoutMs` passes; undefined on timeout. */
export async function poll<T>(probe: () => T | undefined | false, timeoutMs: number, everyMs = 20): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(everyMs);
  }
}

/** Like `poll`, but a timeout is an error naming what was awaited. */
export async function expectSoon<T>(probe: () => T | undefined | false, what: string, timeoutMs: number): Promise<T> {
  const value = await poll(probe, timeoutMs);
  if (value === undefined) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  return value;
}

/** Resolves with the promise's value, or undefined once `ms` passes (so give it a promise of a defined value). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
