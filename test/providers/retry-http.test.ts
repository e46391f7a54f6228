import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TransportError, retryAfterMs, sendHttp } from '../../src/providers/http.js';
import { backoffDelayMs, withRetries } from '../../src/providers/retry.js';

describe('retry policy', () => {
  it('backs off exponentially within [base/2, min(max, base·2^n)]', () => {
    const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelayMs(1, policy, () => 0)).toBe(50);
    expect(backoffDelayMs(1, policy, () => 1)).toBe(100);
    expect(backoffDelayMs(3, policy, () => 1)).toBe(400);
    expect(backoffDelayMs(10, policy, () => 1)).toBe(1000);
  });

  it('stops at maxAttempts and returns the last answer; honours a longer Retry-After', async () => {
    const sleeps: number[] = [];
    let calls = 0;
    const result = await withRetries(
      async () => {
        calls += 1;
        return { retry: `answer ${calls}`, afterMs: 5000 };
      },
      { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
      async (ms) => void sleeps.push(ms),
    );
    expect(result).toBe('answer 3');
    expect(sleeps).toEqual([5000, 5000]);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs({ 'retry-after': '3' })).toBe(3000);
    expect(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 4000)).toBe(6000);
    expect(retryAfterMs({ 'retry-after': 'soon' })).toBeUndefined();
    expect(retryAfterMs({})).toBeUndefined();
  });
});

describe('transport classification', () => {
  it('connection refused is not-sent (safe to retry)', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((r) => server.close(() => r()));
    const err = await sendHttp({ method: 'GET', url: new URL(`http://127.0.0.1:${port}/`), headers: {}, timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).phase).toBe('not-sent');
  });

  it('a timeout after the request was written is ambiguous, and fires on time', async () => {
    const server = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const started = Date.now();
    const err = await sendHttp({ method: 'POST', url: new URL(`http://127.0.0.1:${port}/`), headers: {}, body: 'x', timeoutMs: 150 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(900);
    expect((err as TransportError).phase).toBe('ambiguous');
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
