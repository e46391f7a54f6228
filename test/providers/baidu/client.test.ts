import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { baiduCalls, baiduEndpoint, createBaiduProvider, type BaiduCredentials } from '../../../src/providers/baidu/client.js';
import type { CallScope } from '../../../src/providers/guard.js';
import { signBceRequest } from '../../../src/providers/baidu/signer.js';
import { BaiduSimulator } from '../../../src/providers/baidu/simulator.js';
import { sendHttp, type HttpResponse } from '../../../src/providers/http.js';
import type { ClientOptions, RebootCall } from '../../../src/providers/provider.js';
import type { RetryPolicy } from '../../../src/providers/retry.js';
import { isoSeconds } from '../../../src/providers/signing.js';
import { FaultQueue, serveSimulator, type RecordedRequest, type SimulatorResponse } from '../../../src/providers/simulator-kit.js';

const AK = 'AKbaidu00000000000000000000000001';
const SK = 'SKbaidu-secret-0123456789abcdefgh';
const DENIED_AK = 'AKbaidu-no-bcc-permission-000001';
const DENIED_SK = 'SKbaidu-denied-0123456789abcdefgh';
const POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };
const FORBIDDEN = 'Instance.RebootInstanceOperationForbidden';
const RUNNING = 'i-Running01';
const RUNNING2 = 'i-Running02';
const RUNNING3 = 'i-Running03';
const STOPPED = 'i-Stopped01';
const MISSING = 'i-Missing01';

let sim: BaiduSimulator;
let url: string;

beforeEach(async () => {
  sim = new BaiduSimulator({ credentials: { [AK]: SK, [DENIED_AK]: DENIED_SK }, rebootMs: 100, deniedAccessKeys: [DENIED_AK] });
  url = await sim.start();
  sim.fleet.add('bj', RUNNING);
  sim.fleet.add('bj', RUNNING2);
  sim.fleet.add('gz', RUNNING3);
  sim.fleet.add('bj', STOPPED, 'stopped');
});

afterEach(async () => {
  await sim.stop();
});

function options(over: Partial<ClientOptions<BaiduCredentials>> = {}): ClientOptions<BaiduCredentials> {
  return { credentials: { accessKeyId: AK, secretAccessKey: SK }, endpoint: url, retry: POLICY, timeoutMs: 2000, ...over };
}

function provider(over: Partial<ClientOptions<BaiduCredentials>> = {}) {
  return createBaiduProvider(options(over));
}

/** The scope the guard would hand over, without its redaction bookkeeping. */
const PASS_THROUGH: CallScope = { track: (signer) => signer };

function call(ids: string[], extra: Partial<RebootCall> = {}): RebootCall {
  return { region: 'bj', ids, force: false, idempotencyKey: 'job1-b1', ...extra };
}

async function rebootOne(id: string, extra: Partial<RebootCall> = {}, over: Partial<ClientOptions<BaiduCredentials>> = {}) {
  const { outcomes, pending } = await provider(over).reboot(call([id], extra));
  expect(pending).toBeUndefined();
  expect(outcomes).toHaveLength(1);
  return outcomes[0]!;
}

function statuses(): number[] {
  return sim.requests.map((r) => r.status);
}

function instance(id: string) {
  const found = sim.fleet.findById(id);
  if (!found) throw new Error(`no ${id}`);
  return found;
}

describe('baiduEndpoint', () => {
  it('builds the regional https host, or takes the override origin', () => {
    expect(baiduEndpoint('bj')).toBe('https://bcc.bj.baidubce.com');
    expect(baiduEndpoint('fwh')).toBe('https://bcc.fwh.baidubce.com');
    expect(baiduEndpoint('bj', 'http://127.0.0.1:4567/')).toBe('http://127.0.0.1:4567');
    expect(() => baiduEndpoint('evil.example/')).toThrow(/invalid Baidu region/);
  });

  it('reports a bad region per instance without sending anything', async () => {
    const { outcomes } = await provider({ endpoint: undefined }).reboot(call([RUNNING], { region: 'a.b/c' }));
    expect(outcomes).toEqual([
      { id: RUNNING, status: 'failed', code: 'InvalidEndpoint', message: 'invalid Baidu region "a.b/c"' },
    ]);
    expect(sim.requests).toHaveLength(0);
  });
});

describe('reboot: success', () => {
  it('sends the documented PUT, signed bce-auth-v1, and the instance goes Running → Starting → Running', async () => {
    const outcome = await rebootOne(RUNNING);
    expect(outcome).toEqual({ id: RUNNING, status: 'succeeded', detail: 'Running → Starting' });
    expect(sim.requests).toHaveLength(1);
    const req = sim.requests[0]!;
    expect(req).toMatchObject({ method: 'PUT', path: `/v2/instance/${RUNNING}`, query: 'reboot', body: '{"forceStop":false}', status: 200 });
    expect(req.headers['content-type']).toBe('application/json;charset=utf-8');
    expect(req.headers['content-length']).toBe('19');
    expect(req.headers.host).toBe(new URL(url).host);
    const date = req.headers['x-bce-date']!;
    expect(date).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(req.headers.authorization).toMatch(
      new RegExp(`^bce-auth-v1/${AK}/${date}/1800/content-length;content-type;host;x-bce-date/[0-9a-f]{64}$`),
    );
    expect(instance(RUNNING)).toMatchObject({ state: 'stopping', rebootCount: 1, lastForce: false });
    await new Promise((r) => setTimeout(r, 150));
    expect(instance(RUNNING).state).toBe('running');
  });

  it('reports the server clock of the accepting answer (its Date header) as serverTime', async () => {
    const stub = await stubServer(() => ({ status: 200, headers: { date: 'Wed, 02 Jan 2030 03:04:05 GMT' }, body: '' }));
    try {
      const result = await baiduCalls(options({ endpoint: stub.url })).reboot(call([RUNNING]), PASS_THROUGH);
      expect(result.outcomes).toMatchObject([{ status: 'succeeded' }]);
      expect(result.serverTime).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
    } finally {
      await stub.close();
    }
    // The simulator's own Date header (Node's http server sends it): whole seconds, now.
    const before = Math.floor(Date.now() / 1000) * 1000;
    const real = await baiduCalls(options()).reboot(call([RUNNING2]), PASS_THROUGH);
    expect(real.serverTime).toBeGreaterThanOrEqual(before);
    expect(real.serverTime).toBeLessThanOrEqual(Date.now());
  });

  // Tripwire: guard.ts on this branch (shared, not ours) rebuilds the BatchResult as {outcomes, pending} and drops
  // serverTime; issue8's guard passes it on (3cc8bd0). Once merged this passes: drop `.fails`.
  it('serverTime survives the guard', async () => {
    const result = await provider().reboot(call([RUNNING]));
    expect(result.serverTime).toBeTypeOf('number');
  });

  it('gives no serverTime when nothing was accepted', async () => {
    const result = await baiduCalls(options()).reboot(call([STOPPED]), PASS_THROUGH);
    expect(result.outcomes).toMatchObject([{ status: 'failed', code: FORBIDDEN }]);
    expect(result).not.toHaveProperty('serverTime');
  });

  it('signs exactly what an independent signer computes for the recorded request', async () => {
    const fixed = new Date('2030-01-02T03:04:05.678Z');
    // The simulator's clock must agree with the fixed client clock.
    await sim.stop();
    sim = new BaiduSimulator({ credentials: { [AK]: SK }, now: () => fixed });
    url = await sim.start();
    sim.fleet.add('bj', RUNNING);
    await rebootOne(RUNNING, { force: true }, { now: () => fixed });
    const req = sim.requests[0]!;
    expect(req.body).toBe('{"forceStop":true}');
    const expected = signBceRequest(
      {
        method: 'PUT',
        path: `/v2/instance/${RUNNING}`,
        query: [['reboot', '']],
        headers: {
          host: new URL(url).host,
          'content-type': 'application/json;charset=utf-8',
          'content-length': '18',
          'x-bce-date': '2030-01-02T03:04:05Z',
        },
      },
      {
        accessKeyId: AK,
        secretAccessKey: SK,
        timestamp: '2030-01-02T03:04:05Z',
        expirationSeconds: 1800,
        signedHeaders: ['content-length', 'content-type', 'host', 'x-bce-date'],
      },
    );
    expect(req.headers.authorization).toBe(expected.authorization);
    expect(instance(RUNNING).lastForce).toBe(true);
  });

  it('a 2xx other than the documented 200 is unknown: BCC may have acted', async () => {
    const stub = await stubServer(() => ({ status: 202, body: '' }));
    try {
      expect(await rebootOne(RUNNING, {}, { endpoint: stub.url })).toMatchObject({ status: 'unknown', reason: expect.stringContaining('HTTP 202') });
      expect(stub.requests).toHaveLength(1);
    } finally {
      await stub.close();
    }
  });

  it('tolerates an optional JSON body on 200', async () => {
    const stub = await stubServer(() => ({ status: 200, body: { requestId: 'r-1', failedInstanceIdList: [] } }));
    try {
      expect(await rebootOne(RUNNING, {}, { endpoint: stub.url })).toEqual({
        id: RUNNING,
        status: 'succeeded',
        detail: 'Running → Starting',
      });
    } finally {
      await stub.close();
    }
  });
});

describe('reboot: per-instance errors, not retried', () => {
  it('409 Instance.RebootInstanceOperationForbidden for a stopped instance', async () => {
    const outcome = await rebootOne(STOPPED);
    expect(outcome).toMatchObject({ id: STOPPED, status: 'failed', code: FORBIDDEN, message: 'Instance not running when rebooting.' });
    expect(outcome.status === 'failed' && outcome.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(statuses()).toEqual([409]);
    expect(instance(STOPPED)).toMatchObject({ state: 'stopped', rebootCount: 0 });
  });

  it('409 for an instance already rebooting (Starting)', async () => {
    await rebootOne(RUNNING);
    const second = await rebootOne(RUNNING);
    expect(second).toMatchObject({ status: 'failed', code: FORBIDDEN });
    expect(statuses()).toEqual([200, 409]);
    expect(instance(RUNNING).rebootCount).toBe(1);
  });

  it('404 NoSuchObject for an unknown instance', async () => {
    const outcome = await rebootOne(MISSING);
    expect(outcome).toMatchObject({
      id: MISSING,
      status: 'failed',
      code: 'NoSuchObject',
      message: 'The specified object is not found or resource do not exist.',
    });
    expect(statuses()).toEqual([404]);
  });

  it('403 AccessDenied for a key without BCC permission', async () => {
    const outcome = await rebootOne(RUNNING, {}, { credentials: { accessKeyId: DENIED_AK, secretAccessKey: DENIED_SK } });
    expect(outcome).toMatchObject({ status: 'failed', code: 'AccessDenied', message: 'Access denied.' });
    expect(statuses()).toEqual([403]);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('403 InvalidAccessKeyId for an unknown key', async () => {
    const outcome = await rebootOne(RUNNING, {}, { credentials: { accessKeyId: 'AKnobody', secretAccessKey: SK } });
    expect(outcome).toMatchObject({ status: 'failed', code: 'InvalidAccessKeyId' });
    expect(statuses()).toEqual([403]);
  });

  it('403 SignatureDoesNotMatch for a wrong secret, with no secret or signature in the outcome', async () => {
    const wrong = 'SKbaidu-WRONG-secret-987654321zyx';
    const outcome = await rebootOne(RUNNING, {}, { credentials: { accessKeyId: AK, secretAccessKey: wrong } });
    expect(outcome).toMatchObject({ status: 'failed', code: 'SignatureDoesNotMatch' });
    expect(statuses()).toEqual([403]);
    expect(sim.fleet.totalReboots()).toBe(0);
    const signature = sim.requests[0]!.headers.authorization!.split('/').pop()!;
    const text = JSON.stringify(outcome);
    for (const secret of [wrong, SK, signature, 'bce-auth-v1']) expect(text).not.toContain(secret);
  });
});

describe('reboot: RequestExpired (retried once with a fresh timestamp)', () => {
  it('a clock two hours slow: two attempts, then failed', async () => {
    const slow = () => new Date(Date.now() - 2 * 3600_000);
    const outcome = await rebootOne(RUNNING, {}, { now: slow });
    expect(outcome).toMatchObject({ status: 'failed', code: 'RequestExpired' });
    expect(statuses()).toEqual([400, 400]);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('a clock 20 minutes fast is refused too', async () => {
    const outcome = await rebootOne(RUNNING, {}, { now: () => new Date(Date.now() + 20 * 60_000) });
    expect(outcome).toMatchObject({ status: 'failed', code: 'RequestExpired' });
    expect(statuses()).toEqual([400, 400]);
  });

  it('a stale first attempt is cured by the fresh timestamp of the retry', async () => {
    let calls = 0;
    const now = () => new Date(calls++ === 0 ? Date.now() - 3 * 3600_000 : Date.now());
    expect(await rebootOne(RUNNING, {}, { now })).toMatchObject({ status: 'succeeded' });
    expect(statuses()).toEqual([400, 200]);
    expect(instance(RUNNING).rebootCount).toBe(1);
  });
});

describe('reboot: retryable answers', () => {
  it('429 throttling is retried, the instance rebooted once', async () => {
    sim.faults.inject({ kind: 'throttle', count: 2 });
    expect(await rebootOne(RUNNING)).toMatchObject({ status: 'succeeded' });
    expect(statuses()).toEqual([429, 429, 200]);
    expect(instance(RUNNING).rebootCount).toBe(1);
  });

  it('persistent throttling ends as failed with the cloud code after maxAttempts', async () => {
    sim.faults.inject({ kind: 'throttle', count: 10 });
    const outcome = await rebootOne(RUNNING);
    expect(outcome).toMatchObject({ status: 'failed', code: 'RequestLimitExceeded' });
    expect(statuses()).toEqual([429, 429, 429, 429]);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('honours Retry-After in full, beyond the backoff cap', async () => {
    const delays: number[] = [];
    sim.faults.inject({ kind: 'throttle', count: 1, retryAfterSeconds: 1 });
    const outcome = await rebootOne(RUNNING, {}, { sleep: async (ms) => void delays.push(ms) });
    expect(outcome).toMatchObject({ status: 'succeeded' });
    expect(delays).toEqual([1000]);
    sim.faults.inject({ kind: 'throttle', count: 1 });
    delays.length = 0;
    await rebootOne(RUNNING2, {}, { sleep: async (ms) => void delays.push(ms) });
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeLessThanOrEqual(5);
  });

  it('connection refused (nothing sent) is retried, then failed with the network code', async () => {
    const stub = await stubServer(() => ({ status: 200, body: '' }));
    const closedUrl = stub.url;
    await stub.close();
    const delays: number[] = [];
    const outcome = await rebootOne(RUNNING, {}, { endpoint: closedUrl, sleep: async (ms) => void delays.push(ms) });
    expect(outcome).toMatchObject({ status: 'failed', code: 'ECONNREFUSED' });
    expect(delays).toHaveLength(3);
  });
});

describe('reboot: ambiguous failures are unknown, never resent', () => {
  it('drop-response: the cloud rebooted, the answer was lost', async () => {
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    const outcome = await rebootOne(RUNNING);
    expect(outcome.status).toBe('unknown');
    expect(outcome.status === 'unknown' && outcome.reason).toMatch(
      /^request sent but no answer \(network error [A-Z_]+\); the instance may or may not be rebooting — check it in the console$/,
    );
    expect(sim.requests).toHaveLength(1);
    expect(instance(RUNNING).rebootCount).toBe(1);
  });

  it('a timeout after sending is unknown, and the late request still reboots once', async () => {
    // undici checks headersTimeout on ~1 s ticks, so the simulator must stall well past a second.
    sim.faults.inject({ kind: 'latency', count: 1, ms: 1500 });
    const outcome = await rebootOne(RUNNING, {}, { timeoutMs: 100 });
    expect(outcome).toMatchObject({ status: 'unknown' });
    expect(outcome.status === 'unknown' && outcome.reason).toContain('network error TIMEOUT');
    expect(sim.requests).toHaveLength(0);
    await vi.waitFor(() => expect(sim.requests).toHaveLength(1), { timeout: 2000 });
    expect(instance(RUNNING).rebootCount).toBe(1);
  });

  it.each([500, 502, 503])('a %i with a BCC error body on the reboot is unknown, not resent', async (status) => {
    sim.faults.inject({ kind: 'server-error', count: 5, status });
    const outcome = await rebootOne(RUNNING);
    const code = status === 503 ? 'ServiceUnavailable' : 'InternalError';
    expect(outcome).toEqual({
      id: RUNNING,
      status: 'unknown',
      reason: expect.stringMatching(new RegExp(`^BCC answered HTTP ${status} ${code} \\(.*, request [0-9a-f-]{36}\\); the instance may or may not be rebooting — check it in the console$`)),
    });
    expect(statuses()).toEqual([status]);
  });

  it.each([500, 502, 503, 504] as const)('BCC reboots, then answers %i: one PUT, unknown, rebooted once', async (status) => {
    sim.faults.inject({ kind: 'actThenFail', count: 5, status });
    const outcome = await rebootOne(RUNNING);
    expect(outcome).toMatchObject({ status: 'unknown', reason: expect.stringContaining(`BCC answered HTTP ${status}`) });
    expect(statuses()).toEqual([status]);
    expect(instance(RUNNING).rebootCount).toBe(1);
  });

  it('BCC reboots, then a proxy answers a bare 504 page: unknown, not resent', async () => {
    sim.faults.inject({ kind: 'actThenFail', count: 5, status: 504, body: '<html>504 Gateway Time-out</html>' });
    const outcome = await rebootOne(RUNNING);
    expect(outcome).toMatchObject({ status: 'unknown', reason: expect.stringContaining('HTTP 504 without a BCC error body') });
    expect(statuses()).toEqual([504]);
    expect(instance(RUNNING).rebootCount).toBe(1);
  });

  it('BCC reboots, then answers 200 with a body that cannot be read: unknown, not resent', async () => {
    sim.faults.inject({ kind: 'actThenMalformed', count: 5 });
    const outcome = await rebootOne(RUNNING);
    expect(outcome).toEqual({
      id: RUNNING,
      status: 'unknown',
      reason: expect.stringMatching(/^UnexpectedResponse: HTTP 200 with a body BCC does not document \(request [0-9a-f-]{36}\); the instance may or may not be rebooting/),
    });
    expect(statuses()).toEqual([200]);
    expect(instance(RUNNING).rebootCount).toBe(1);
  });

  it('a bare 502 (no BCC body) on the reboot is unknown, not retried', async () => {
    const stub = await stubServer(() => ({ status: 502, body: '<html>Bad Gateway</html>' }));
    try {
      const outcome = await rebootOne(RUNNING, {}, { endpoint: stub.url });
      expect(outcome).toMatchObject({ status: 'unknown' });
      expect(outcome.status === 'unknown' && outcome.reason).toContain('HTTP 502 without a BCC error body');
      expect(stub.requests).toHaveLength(1);
    } finally {
      await stub.close();
    }
  });
});

describe('reboot: batches', () => {
  it('maxBatch is 1: a call with several ids is refused whole by the guard (BatchTooLarge) and nothing is sent', async () => {
    expect(provider().info.maxBatch).toBe(1);
    const { outcomes } = await provider().reboot(call([RUNNING, STOPPED, RUNNING3, MISSING]));
    expect(outcomes.map((o) => [o.id, o.status, o.status === 'failed' ? o.code : ''])).toEqual(
      [RUNNING, STOPPED, RUNNING3, MISSING].map((id) => [id, 'failed', 'BatchTooLarge']),
    );
    expect(sim.requests).toHaveLength(0);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('one id per call, as the runner plans them: one PUT each, calls in parallel are not serialised by the client', async () => {
    sim.faults.inject({ kind: 'latency', count: 4, ms: 200 });
    const p = provider();
    const started = Date.now();
    const results = await Promise.all([RUNNING, STOPPED, RUNNING3, MISSING].map((id) => p.reboot(call([id]))));
    expect(Date.now() - started).toBeLessThan(700);
    expect(results.flatMap((r) => r.outcomes).map((o) => [o.id, o.status, o.status === 'failed' ? o.code : ''])).toEqual([
      [RUNNING, 'succeeded', ''],
      [STOPPED, 'failed', FORBIDDEN],
      [RUNNING3, 'succeeded', ''],
      [MISSING, 'failed', 'NoSuchObject'],
    ]);
    expect(sim.requests.map((r) => r.path).sort()).toEqual(
      [RUNNING, STOPPED, RUNNING3, MISSING].map((id) => `/v2/instance/${id}`).sort(),
    );
    expect(sim.requests.every((r) => r.method === 'PUT' && r.query === 'reboot')).toBe(true);
    expect(sim.fleet.totalReboots()).toBe(2);
  });
});

describe('reboot: answers BCC does not document', () => {
  it('an unreadable 200 body on the reboot is unknown, never failed', async () => {
    const stub = await stubServer(() => ({ status: 200, body: 'not json' }));
    try {
      // The reboot answered 2xx, so it may have been carried out: never 'failed'.
      expect(await rebootOne(RUNNING, {}, { endpoint: stub.url })).toMatchObject({
        status: 'unknown',
        reason: expect.stringContaining('UnexpectedResponse: HTTP 200'),
      });
      expect(stub.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
    } finally {
      await stub.close();
    }
  });

  it('a 4xx without a BCC body becomes UnexpectedResponse', async () => {
    const stub = await stubServer(() => ({ status: 404, body: '<html>no</html>' }));
    try {
      expect(await rebootOne(RUNNING, {}, { endpoint: stub.url })).toMatchObject({
        status: 'failed',
        code: 'UnexpectedResponse',
        message: 'HTTP 404 with a response body BCC does not document',
      });
      expect(stub.requests).toHaveLength(1);
    } finally {
      await stub.close();
    }
  });

  it('the reboot sends only the PUT: no read of the instance first', async () => {
    await rebootOne(RUNNING);
    await rebootOne(STOPPED);
    expect(sim.requests.map((r) => r.method)).toEqual(['PUT', 'PUT']);
  });
});

describe('simulator: the cloud side of bce-auth-v1 and the API', () => {
  async function send(opts: {
    method?: 'GET' | 'PUT';
    path?: string;
    query?: string;
    body?: string;
    signedHeaders?: string[] | 'default';
    authorization?: string;
    tamper?: Record<string, string>;
  }): Promise<HttpResponse & { json: { requestId?: string; code?: string; message?: string } }> {
    const method = opts.method ?? 'PUT';
    const path = opts.path ?? `/v2/instance/${RUNNING}`;
    const query = opts.query ?? (method === 'PUT' ? 'reboot' : '');
    const body = opts.body ?? (method === 'PUT' ? '{"forceStop":false}' : undefined);
    const target = new URL(path + (query ? `?${query}` : ''), url);
    const date = isoSeconds(new Date());
    const headers: Record<string, string> = { host: target.host, 'x-bce-date': date };
    if (body !== undefined) {
      headers['content-type'] = 'application/json;charset=utf-8';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const signed = signBceRequest(
      {
        method,
        path: decodeURIComponent(path),
        query: query ? query.split('&').map((p) => [p.split('=')[0]!, p.split('=')[1] ?? ''] as [string, string]) : [],
        headers,
      },
      {
        accessKeyId: AK,
        secretAccessKey: SK,
        timestamp: date,
        expirationSeconds: 1800,
        ...(opts.signedHeaders === 'default' ? {} : { signedHeaders: opts.signedHeaders ?? Object.keys(headers) }),
      },
    );
    const sent = { ...headers, ...opts.tamper };
    if (opts.authorization !== '') sent.authorization = opts.authorization ?? signed.authorization;
    const res = await sendHttp({ method, url: target, headers: sent, body, timeoutMs: 2000 });
    return { ...res, json: res.text ? (JSON.parse(res.text) as { code?: string }) : {} };
  }

  it('accepts the default header set (empty signed-headers part), as in the doc example', async () => {
    const res = await send({ signedHeaders: 'default' });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(res.headers['x-bce-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(sim.requests[0]!.headers.authorization).toMatch(/\/1800\/\/[0-9a-f]{64}$/);
    expect(instance(RUNNING).rebootCount).toBe(1);
  });

  it('rejects a signed header changed in transit (host with another port)', async () => {
    const res = await send({ tamper: { host: '127.0.0.1:1' } });
    expect(res.status).toBe(403);
    expect(res.json.code).toBe('SignatureDoesNotMatch');
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('ignores an unsigned header changed in transit', async () => {
    const res = await send({ signedHeaders: ['host', 'x-bce-date'], tamper: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
  });

  it('answers 400 InvalidHTTPAuthHeader for a missing or malformed Authorization', async () => {
    for (const authorization of ['', 'bce-auth-v1/only/three']) {
      const res = await send({ authorization });
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ code: 'InvalidHTTPAuthHeader' });
      expect(typeof res.json.requestId).toBe('string');
    }
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('answers 400 MalformedJSON unless the body is an object with a boolean forceStop', async () => {
    for (const body of ['forceStop=true', '{"forceStop":"true"}', '[]', '{}']) {
      const res = await send({ body });
      expect(res.status, body).toBe(400);
      expect(res.json.code, body).toBe('MalformedJSON');
    }
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('does not serve the undocumented batch endpoint, other versions or other actions', async () => {
    const batch = await send({ path: '/v2/instance/batchAction', body: `{"instanceIds":["${RUNNING}"],"forceStop":false}` });
    expect([batch.status, batch.json.code]).toEqual([400, 'InvalidURI']);
    const v1 = await send({ path: `/v1/instance/${RUNNING}` });
    expect([v1.status, v1.json.code]).toEqual([404, 'InvalidVersion']);
    const stop = await send({ query: 'stop' });
    expect([stop.status, stop.json.code]).toEqual([400, 'InvalidURI']);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('describes instances with BCC status names', async () => {
    const res = await send({ method: 'GET', path: `/v2/instance/${STOPPED}` });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ instance: { id: STOPPED, status: 'Stopped' } });
  });

  it('answers the throttle fault with 429 RequestLimitExceeded and Retry-After', async () => {
    sim.faults.inject({ kind: 'throttle', count: 1, retryAfterSeconds: 2 });
    const res = await send({});
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.json).toMatchObject({ code: 'RequestLimitExceeded' });
  });
});

/** A loopback server with a fixed answer, for response shapes the BCC simulator never produces. */
async function stubServer(answer: (req: RecordedRequest) => SimulatorResponse) {
  const requests: RecordedRequest[] = [];
  const server = await serveSimulator((req) => answer({ ...req, status: 0 }), new FaultQueue(), requests);
  return { url: server.url, requests, close: () => server.close() };
}
