import { createHash, createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alibabaCalls, alibabaEndpoint, createAlibabaProvider, type AlibabaCredentials } from '../../../src/providers/alibaba/client.js';
import type { CallScope } from '../../../src/providers/guard.js';
import { sign } from '../../../src/providers/alibaba/signer.js';
import { AlibabaSimulator } from '../../../src/providers/alibaba/simulator.js';
import type { ClientOptions, InstanceOutcome, Provider, RebootCall } from '../../../src/providers/provider.js';
import type { RetryPolicy } from '../../../src/providers/retry.js';
import type { RecordedRequest } from '../../../src/providers/simulator-kit.js';

const AK = 'LTAI5tTestAccessKey';
const SECRET = 'TestSecretValue-0123456789abcdef';
const REGION = 'cn-hangzhou';
const RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const A = 'i-aaaaaaaaaaaaaaaaaaaa';
const B = 'i-bbbbbbbbbbbbbbbbbbbb';
const C = 'i-cccccccccccccccccccc';
const UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

let sim: AlibabaSimulator;
let url: string;

/** The scope the guard would hand a call, minus the redaction bookkeeping. */
const PASS_THROUGH: CallScope = { track: (signer) => signer };

beforeEach(async () => {
  sim = new AlibabaSimulator({ credentials: { [AK]: SECRET }, rebootMs: 150 });
  url = await sim.start();
});

afterEach(async () => {
  await sim.stop();
});

function provider(overrides: Partial<ClientOptions<AlibabaCredentials>> = {}): Provider {
  return createAlibabaProvider({
    credentials: { accessKeyId: AK, accessKeySecret: SECRET },
    endpoint: url,
    retry: RETRY,
    timeoutMs: 2_000,
    ...overrides,
  });
}

function call(ids: string[], extra: Partial<RebootCall> = {}): RebootCall {
  return { region: REGION, ids, force: false, idempotencyKey: 'job1-b1', ...extra };
}

function byId(outcomes: InstanceOutcome[]): Record<string, InstanceOutcome> {
  return Object.fromEntries(outcomes.map((o) => [o.id, o]));
}

/**
 * Recomputes the Authorization of a recorded request from the wire alone, with node:crypto and none
 * of our signing code: this is how a reviewer outside the process checks a signature.
 */
function independentAuthorization(rec: RecordedRequest, accessKeyId: string, secret: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const pairs = rec.query
    .split('&')
    .map((p) => p.split('=') as [string, string])
    .map(([k, v]) => [enc(decodeURIComponent(k)), enc(decodeURIComponent(v))] as const)
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const names = ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-version'];
  const canonical = [
    rec.method,
    rec.path,
    pairs.map(([k, v]) => `${k}=${v}`).join('&'),
    names.map((n) => `${n}:${(rec.headers[n] ?? '').trim()}\n`).join(''),
    names.join(';'),
    createHash('sha256').update(rec.body).digest('hex'),
  ].join('\n');
  const toSign = `ACS3-HMAC-SHA256\n${createHash('sha256').update(canonical).digest('hex')}`;
  const signature = createHmac('sha256', secret).update(toSign).digest('hex');
  return `ACS3-HMAC-SHA256 Credential=${accessKeyId},SignedHeaders=${names.join(';')},Signature=${signature}`;
}

function signatureOf(rec: RecordedRequest | undefined): string {
  return /Signature=([0-9a-f]{64})$/.exec(rec?.headers['authorization'] ?? '')?.[1] ?? 'no-signature';
}

function recordingSleep(): { sleeps: number[]; sleep: (ms: number) => Promise<void> } {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms) => void sleeps.push(ms) };
}

/** Sends a hand-built, correctly signed request to the simulator (for what our client never sends). */
async function sendSigned(query: Array<[string, string]>, opts: { nonce?: string; body?: string; date?: string } = {}) {
  const target = new URL(url);
  const body = opts.body ?? '';
  const headers: Record<string, string> = {
    host: target.host,
    'x-acs-action': 'RebootInstances',
    'x-acs-version': '2014-05-26',
    'x-acs-date': opts.date ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'x-acs-signature-nonce': opts.nonce ?? Math.random().toString(16).slice(2),
    'x-acs-content-sha256': createHash('sha256').update(body).digest('hex'),
  };
  const signed = sign({ method: 'POST', path: '/', query, headers, hashedPayload: headers['x-acs-content-sha256'] ?? '', accessKeyId: AK, accessKeySecret: SECRET });
  const qs = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return send(`/?${qs}`, { ...headers, authorization: signed.authorization }, body);
}

async function send(pathAndQuery: string, headers: Record<string, string>, body = '') {
  const res = await request(new URL(pathAndQuery, url), { method: 'POST', headers, body });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

/** Replays a recorded request byte for byte (headers the client set, same raw query). */
async function replay(rec: RecordedRequest) {
  const headers = Object.fromEntries(Object.entries(rec.headers).filter(([n]) => n === 'host' || n === 'authorization' || n.startsWith('x-acs-')));
  return send(`${rec.path}?${rec.query}`, headers, rec.body);
}

describe('alibabaEndpoint', () => {
  it('uses the regional ECS host, or the override origin', () => {
    expect(alibabaEndpoint('cn-shanghai')).toBe('https://ecs.cn-shanghai.aliyuncs.com');
    expect(alibabaEndpoint('ap-southeast-1', 'http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(alibabaEndpoint('ap-southeast-1', '')).toBe('https://ecs.ap-southeast-1.aliyuncs.com');
  });
});

describe('reboot against the simulator', () => {
  it('reboots every running instance once and sends exactly the signed request', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B);
    const result = await provider().reboot(call([A, B]));

    expect(result.outcomes).toEqual([
      { id: A, status: 'succeeded', detail: 'Running → Stopping' },
      { id: B, status: 'succeeded', detail: 'Running → Stopping' },
    ]);
    expect(sim.fleet.get(REGION, A)).toMatchObject({ state: 'stopping', rebootCount: 1, lastForce: false });
    expect(sim.fleet.get(REGION, B)).toMatchObject({ state: 'stopping', rebootCount: 1 });

    expect(sim.requests).toHaveLength(1);
    const rec = sim.requests[0] as RecordedRequest;
    expect(rec).toMatchObject({ method: 'POST', path: '/', body: '', status: 200 });
    // No DryRun at all: its documented default is false (RebootInstances reference).
    expect(rec.query).toBe(`BatchOptimization=SuccessFirst&ForceReboot=false&InstanceId.1=${A}&InstanceId.2=${B}&RegionId=${REGION}`);
    expect(rec.headers).toMatchObject({
      host: new URL(url).host,
      'x-acs-action': 'RebootInstances',
      'x-acs-version': '2014-05-26',
      'x-acs-content-sha256': EMPTY_SHA256,
    });
    expect(rec.headers['host']).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(rec.headers['x-acs-date']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(rec.headers['x-acs-signature-nonce']).toMatch(/^[0-9a-f]{32}$/);
    expect(rec.headers['authorization']).toBe(independentAuthorization(rec, AK, SECRET));

    await new Promise((r) => setTimeout(r, 250));
    expect(sim.fleet.get(REGION, A)?.state).toBe('running');
  });

  it('sends ForceReboot=true for a forced reboot', async () => {
    sim.fleet.add(REGION, A);
    const result = await provider().reboot(call([A], { force: true }));
    expect(result.outcomes).toEqual([{ id: A, status: 'succeeded', detail: 'Running → Stopping' }]);
    expect(sim.requests[0]?.query).toContain('ForceReboot=true');
    expect(sim.fleet.get(REGION, A)?.lastForce).toBe(true);
  });

  it('reports each documented per-instance refusal with the cloud code, message and RequestId', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B, 'stopped');
    sim.fleet.add(REGION, C, 'stopping');
    sim.fleet.add(REGION, 'i-broke0000000000000001');
    sim.fleet.add(REGION, 'i-notready000000000001');
    sim.block('i-broke0000000000000001', 'InsufficientBalance');
    sim.block('i-notready000000000001', 'InstanceNotReady');
    sim.fleet.add('cn-beijing', 'i-otherregion000000001');
    const ids = [A, B, C, 'i-missing0000000000001', 'i-broke0000000000000001', 'i-notready000000000001', 'i-otherregion000000001'];
    const outcomes = byId((await provider().reboot(call(ids))).outcomes);

    expect(outcomes[A]).toEqual({ id: A, status: 'succeeded', detail: 'Running → Stopping' });
    const requestId = (outcomes[B] as { requestId?: string }).requestId;
    expect(requestId).toMatch(UUID);
    expect(outcomes[B]).toEqual({ id: B, status: 'failed', code: 'IncorrectInstanceStatus', message: 'The current status of the resource does not support this operation.', requestId });
    expect(outcomes[C]).toMatchObject({ status: 'failed', code: 'IncorrectInstanceStatus', requestId });
    expect(outcomes['i-missing0000000000001']).toEqual({
      id: 'i-missing0000000000001',
      status: 'failed',
      code: 'InvalidInstanceId.NotFound',
      message: 'The specified InstanceId does not exist.',
      requestId,
    });
    expect(outcomes['i-broke0000000000000001']).toMatchObject({ status: 'failed', code: 'InsufficientBalance', message: 'Your account does not have enough balance.' });
    expect(outcomes['i-notready000000000001']).toMatchObject({ status: 'failed', code: 'InstanceNotReady', message: 'The specified instance is not ready for use.' });
    expect(outcomes['i-otherregion000000001']).toMatchObject({ status: 'failed', code: 'InvalidInstanceId.NotFound' });
    expect(sim.fleet.totalReboots()).toBe(1);
    expect(sim.requests).toHaveLength(1);
  });

  it('retries Throttling.User and reboots each instance exactly once', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B);
    sim.faults.inject({ kind: 'throttle', count: 2 });
    const result = await provider().reboot(call([A, B]));

    expect(result.outcomes.map((o) => o.status)).toEqual(['succeeded', 'succeeded']);
    expect(sim.requests.map((r) => r.status)).toEqual([400, 400, 200]);
    expect(new Set(sim.requests.map((r) => r.headers['x-acs-signature-nonce'])).size).toBe(3);
    expect(sim.requests.every((r) => r.query === sim.requests[0]?.query)).toBe(true);
    expect(sim.fleet.get(REGION, A)?.rebootCount).toBe(1);
    expect(sim.fleet.get(REGION, B)?.rebootCount).toBe(1);
  });

  it.each([
    ['InternalError', 500, undefined],
    ['ServiceUnavailable', 503, 503],
  ] as const)('%s (HTTP %i) is not resent: every instance is unknown, naming the code and RequestId', async (code, status, faultStatus) => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B);
    sim.faults.inject({ kind: 'server-error', count: 5, ...(faultStatus ? { status: faultStatus } : {}) });
    const result = await provider().reboot(call([A, B]));

    expect(sim.requests.map((r) => r.status)).toEqual([status]);
    for (const outcome of result.outcomes) {
      expect(outcome).toMatchObject({
        status: 'unknown',
        reason: expect.stringMatching(new RegExp(`^ECS answered HTTP ${status} ${code} \\(.*, RequestId [0-9A-F-]{36}\\).*may or may not be rebooting — check it in the console$`)),
      });
    }
    // The simulator failed before acting here, but the client cannot know that: it must not claim a refusal.
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it.each([500, 502, 503, 504] as const)('ECS reboots, then answers %i with its error body: one request, unknown, rebooted once', async (status) => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B);
    sim.faults.inject({ kind: 'actThenFail', count: 5, status });
    const result = await provider().reboot(call([A, B]));

    expect(sim.requests.map((r) => r.status)).toEqual([status]);
    expect(result.outcomes.map((o) => [o.id, o.status])).toEqual([[A, 'unknown'], [B, 'unknown']]);
    expect(result.outcomes[0]).toMatchObject({ reason: expect.stringContaining(`HTTP ${status} ${status === 503 ? 'ServiceUnavailable' : 'InternalError'}`) });
    expect(sim.fleet.get(REGION, A)?.rebootCount).toBe(1);
    expect(sim.fleet.get(REGION, B)?.rebootCount).toBe(1);
  });

  it('ECS reboots, then a proxy answers a bare 503 page: unknown, not resent', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'actThenFail', count: 5, status: 503, body: '<html>503 Service Temporarily Unavailable</html>' });
    const result = await provider().reboot(call([A]));
    expect(sim.requests).toHaveLength(1);
    expect(result.outcomes[0]).toMatchObject({ status: 'unknown', reason: expect.stringContaining('HTTP 503 from a gateway') });
    expect(sim.fleet.get(REGION, A)?.rebootCount).toBe(1);
  });

  it('ECS reboots, then answers 200 with a body cut short: unknown, not resent', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B);
    sim.faults.inject({ kind: 'actThenMalformed', count: 5 });
    const result = await provider().reboot(call([A, B]));
    expect(sim.requests.map((r) => r.status)).toEqual([200]);
    expect(result.outcomes.map((o) => o.status)).toEqual(['unknown', 'unknown']);
    expect(result.outcomes[0]).toMatchObject({ reason: expect.stringMatching(/^UnexpectedResponse: HTTP 200 accepted/) });
    expect(sim.fleet.totalReboots()).toBe(2);
  });

  it('gives up after maxAttempts and reports the throttling error itself', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'throttle', count: 10 });
    const [outcome] = (await provider().reboot(call([A]))).outcomes;

    expect(sim.requests).toHaveLength(RETRY.maxAttempts);
    expect(outcome).toMatchObject({ id: A, status: 'failed', code: 'Throttling.User', message: 'Request was denied due to user flow control.' });
    expect((outcome as { requestId?: string }).requestId).toMatch(UUID);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('honours Retry-After on throttling', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'throttle', count: 1, retryAfterSeconds: 2 });
    const { sleeps, sleep } = recordingSleep();
    const result = await provider({ sleep, retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 10_000 } }).reboot(call([A]));

    expect(result.outcomes[0]?.status).toBe('succeeded');
    expect(sleeps).toEqual([2_000]);
  });

  it('rejects a wrong secret without retrying and without leaking the secret or signature', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B);
    const wrongSecret = 'WrongSecret-ffffffffffffffff';
    const result = await provider({ credentials: { accessKeyId: AK, accessKeySecret: wrongSecret } }).reboot(call([A, B]));

    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0]?.status).toBe(400);
    for (const outcome of result.outcomes) {
      expect(outcome).toMatchObject({ status: 'failed', code: 'SignatureDoesNotMatch', message: 'The request signature does not conform to Aliyun standards.' });
    }
    const text = JSON.stringify(result);
    expect(text).not.toContain(wrongSecret);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(signatureOf(sim.requests[0]));
    expect(text).not.toContain('ACS3-HMAC-SHA256');
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('reports an unknown AccessKeyId with 404 InvalidAccessKeyId.NotFound', async () => {
    sim.fleet.add(REGION, A);
    const result = await provider({ credentials: { accessKeyId: 'LTAI-unknown', accessKeySecret: SECRET } }).reboot(call([A]));
    expect(sim.requests.map((r) => r.status)).toEqual([404]);
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'InvalidAccessKeyId.NotFound', message: 'Specified access key is not found.' });
  });

  it('reports a clock more than 15 minutes off as InvalidTimeStamp.Expired', async () => {
    sim.fleet.add(REGION, A);
    const skewed = (): Date => new Date(Date.now() - 16 * 60 * 1000);
    const result = await provider({ now: skewed }).reboot(call([A]));
    expect(sim.requests.map((r) => r.status)).toEqual([400]);
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'InvalidTimeStamp.Expired' });

    const nearly = (): Date => new Date(Date.now() - 14 * 60 * 1000);
    expect((await provider({ now: nearly }).reboot(call([A]))).outcomes[0]?.status).toBe('succeeded');
  });

  it('refuses more than 100 ids without calling the cloud (BatchTooLarge from the guard, the same for every cloud)', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => `i-${String(i).padStart(20, '0')}`);
    const result = await provider().reboot(call(ids));
    expect(result.outcomes).toHaveLength(101);
    expect(result.outcomes.every((o) => o.status === 'failed' && o.code === 'BatchTooLarge' && o.message.includes('sent nothing'))).toBe(true);
    expect(sim.requests).toHaveLength(0);
  });

  it('accepts exactly 100 ids in one call', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `i-${String(i).padStart(20, '0')}`);
    for (const id of ids) sim.fleet.add(REGION, id);
    const result = await provider().reboot(call(ids));
    expect(result.outcomes.filter((o) => o.status === 'succeeded')).toHaveLength(100);
    expect(sim.requests).toHaveLength(1);
    expect(sim.fleet.totalReboots()).toBe(100);
  });

  it('refuses a locked instance with the documented lock code and reboots the rest', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B, 'running', { lockReason: 'financial' });
    sim.fleet.add(REGION, C, 'running', { lockReason: 'security' });
    const outcomes = byId((await provider().reboot(call([A, B, C]))).outcomes);
    expect(outcomes[A]).toMatchObject({ status: 'succeeded' });
    expect(outcomes[B]).toMatchObject({
      status: 'failed',
      code: 'InstanceExpiredOrInArrears',
      message: 'The specified operation is denied as your prepay instance is expired (prepay mode) or in arrears (afterpay mode).',
    });
    expect(outcomes[C]).toMatchObject({ status: 'failed', code: 'InstanceLockedForSecurity' });
    expect(sim.fleet.get(REGION, B)?.rebootCount).toBe(0);
    expect(sim.fleet.get(REGION, C)?.rebootCount).toBe(0);
  });

  it('sets serverTime from the Date header of the answer that accepted the reboot', async () => {
    sim.fleet.add(REGION, A);
    const before = Date.now();
    const options = { credentials: { accessKeyId: AK, accessKeySecret: SECRET }, endpoint: url, retry: RETRY, timeoutMs: 2_000 };
    const result = await alibabaCalls(options).reboot(call([A]), PASS_THROUGH);
    expect(result.outcomes[0]?.status).toBe('succeeded');
    // The HTTP Date header has whole seconds.
    expect(result.serverTime).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(result.serverTime).toBeLessThanOrEqual(Date.now());
    expect((result.serverTime ?? 1) % 1000).toBe(0);
  });

  // Tripwire: guard.ts (shared, not ours) rebuilds the BatchResult as {outcomes, pending} and drops serverTime.
  // When the guard keeps it, this starts passing: drop `.fails`.
  it('serverTime survives the guard', async () => {
    sim.fleet.add(REGION, A);
    const result = await provider().reboot(call([A]));
    expect(result.serverTime).toBeTypeOf('number');
  });

  it('gives no serverTime when the call was refused outright', async () => {
    const options = { credentials: { accessKeyId: AK, accessKeySecret: 'WrongSecret-ffffffffffffffff' }, endpoint: url, retry: RETRY, timeoutMs: 2_000 };
    const result = await alibabaCalls(options).reboot(call([A]), PASS_THROUGH);
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'SignatureDoesNotMatch' });
    expect(result.serverTime).toBeUndefined();
  });

  it('returns unknown after a dropped response and does not resend', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B);
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    const result = await provider().reboot(call([A, B]));

    expect(sim.requests).toHaveLength(1);
    expect(result.outcomes).toHaveLength(2);
    for (const outcome of result.outcomes) {
      expect(outcome.status).toBe('unknown');
      expect(outcome).toMatchObject({ reason: expect.stringMatching(/^request sent but no answer \(network error [A-Z_]+\); the instance may or may not be rebooting/) });
    }
    // The cloud did act: exactly the situation a blind resend would turn into a double reboot.
    expect(sim.fleet.get(REGION, A)?.rebootCount).toBe(1);
  });

  it('returns unknown after a timeout and does not resend', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'latency', count: 1, ms: 400 });
    const result = await provider({ timeoutMs: 100 }).reboot(call([A]));
    expect(result.outcomes[0]).toMatchObject({ id: A, status: 'unknown' });
    await new Promise((r) => setTimeout(r, 400));
    expect(sim.requests).toHaveLength(1);
  });

  it('retries a refused connection (nothing sent) and then reports it as failed', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const { sleeps, sleep } = recordingSleep();
    const result = await provider({ endpoint: `http://127.0.0.1:${port}`, sleep }).reboot(call([A]));
    expect(result.outcomes[0]).toMatchObject({ id: A, status: 'failed', code: 'ECONNREFUSED' });
    expect(sleeps).toHaveLength(RETRY.maxAttempts - 1);
  });

  it('sends each id once when the call repeats an id', async () => {
    sim.fleet.add(REGION, A);
    const result = await provider().reboot(call([A, A]));
    expect(result.outcomes).toEqual([{ id: A, status: 'succeeded', detail: 'Running → Stopping' }]);
    expect(sim.requests[0]?.query).not.toContain('InstanceId.2');
  });
});

describe('simulator gateway checks', () => {
  it('rejects a replayed nonce with SignatureNonceUsed', async () => {
    sim.fleet.add(REGION, A);
    await provider().reboot(call([A]));
    const res = await replay(sim.requests[0] as RecordedRequest);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ Code: 'SignatureNonceUsed', RequestId: expect.stringMatching(UUID), HostId: `ecs.${REGION}.aliyuncs.com` });
    expect(res.body['Recommend']).toContain('SignatureNonceUsed');
    expect(sim.fleet.get(REGION, A)?.rebootCount).toBe(1);
  });

  it('rejects a tampered query, a body not matching its hash and a missing signature', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B);
    await provider().checkPermission?.({ region: REGION, ids: [A], force: false });
    const rec = sim.requests[0] as RecordedRequest;
    expect(rec.query).toContain('DryRun=true');

    const tampered = await replay({ ...rec, query: rec.query.replace('DryRun=true', 'DryRun=false') });
    expect(tampered).toMatchObject({ status: 400, body: { Code: 'SignatureDoesNotMatch' } });
    const withBody = await replay({ ...rec, body: 'RegionId=cn-hangzhou' });
    expect(withBody).toMatchObject({ status: 400, body: { Code: 'SignatureDoesNotMatch' } });
    const { authorization: _auth, ...unsigned } = rec.headers;
    const missing = await send(`/?${rec.query}`, Object.fromEntries(Object.entries(unsigned).filter(([n]) => n === 'host' || n.startsWith('x-acs-'))));
    expect(missing).toMatchObject({ status: 400, body: { Code: 'IncompleteSignature' } });
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('refuses more than 100 InstanceId.N with 403 InvalidParameter.TooManyInstanceIds', async () => {
    const query: Array<[string, string]> = [['RegionId', REGION], ['BatchOptimization', 'SuccessFirst']];
    for (let i = 1; i <= 101; i++) query.push([`InstanceId.${i}`, `i-${String(i).padStart(20, '0')}`]);
    const res = await sendSigned(query);
    expect(res).toMatchObject({ status: 403, body: { Code: 'InvalidParameter.TooManyInstanceIds' } });
  });

  it('checks the date format and skew against its own clock', async () => {
    const res = await sendSigned([['RegionId', REGION], ['InstanceId.1', A]], { date: '2024-01-01 00:00:00' });
    expect(res).toMatchObject({ status: 400, body: { Code: 'InvalidTimeStamp.Format' } });
  });

  it('in AllTogether mode fails the whole call for one bad instance and reboots nothing', async () => {
    sim.fleet.add(REGION, A);
    const res = await sendSigned([['RegionId', REGION], ['InstanceId.1', A], ['InstanceId.2', 'i-missing0000000000001']]);
    expect(res).toMatchObject({ status: 404, body: { Code: 'InvalidInstanceId.NotFound' } });
    expect(sim.fleet.totalReboots()).toBe(0);

    const dry = await sendSigned([['RegionId', REGION], ['InstanceId.1', A], ['DryRun', 'true']]);
    expect(dry).toMatchObject({ status: 400, body: { Code: 'DRYRUN.SUCCESS' } });
    expect(sim.fleet.totalReboots()).toBe(0);
    const ok = await sendSigned([['RegionId', REGION], ['InstanceId.1', A]]);
    expect(ok.status).toBe(200);
    expect(sim.fleet.totalReboots()).toBe(1);
  });

  it('refuses another action', async () => {
    const target = new URL(url);
    const headers: Record<string, string> = {
      host: target.host,
      'x-acs-action': 'StopInstances',
      'x-acs-version': '2014-05-26',
      'x-acs-date': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'x-acs-signature-nonce': 'aa11',
      'x-acs-content-sha256': EMPTY_SHA256,
    };
    const query: Array<[string, string]> = [['RegionId', REGION], ['InstanceId.1', A]];
    const signed = sign({ method: 'POST', path: '/', query, headers, hashedPayload: EMPTY_SHA256, accessKeyId: AK, accessKeySecret: SECRET });
    const res = await send(`/?InstanceId.1=${A}&RegionId=${REGION}`, { ...headers, authorization: signed.authorization });
    expect(res).toMatchObject({ status: 404, body: { Code: 'InvalidAction.NotFound' } });
  });
});

describe('answers the simulator never gives', () => {
  let server: Server;
  let answer: { status: number; body: string; headers?: Record<string, string> };
  let hits: number;

  beforeEach(async () => {
    hits = 0;
    server = createServer((req, res) => {
      hits += 1;
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const custom = (): Provider => provider({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });

  it('reports an id missing from a well-formed answer as unknown: SuccessFirst promises a result for each', async () => {
    answer = {
      status: 200,
      body: JSON.stringify({
        RequestId: 'R-1',
        InstanceResponses: { InstanceResponse: [{ InstanceId: A, Code: '200', Message: 'success', PreviousStatus: 'Running', CurrentStatus: 'Stopping' }] },
      }),
    };
    const result = await custom().reboot(call([A, B]));
    expect(result.outcomes).toEqual([
      { id: A, status: 'succeeded', detail: 'Running → Stopping' },
      { id: B, status: 'unknown', reason: expect.stringMatching(/^MissingFromResponse: ECS accepted the call \(RequestId R-1\).*check it in the console$/) },
    ]);
    expect(hits).toBe(1);
  });

  it('reads a dry-run answer to the real call as unknown, never as a refusal or a reboot, and does not resend', async () => {
    answer = {
      status: 200,
      body: JSON.stringify({
        RequestId: 'R-5',
        InstanceResponses: { InstanceResponse: [{ InstanceId: A, Code: 'DRYRUN.SUCCESS', Message: 'dry run', PreviousStatus: 'Running', CurrentStatus: 'Running' }] },
      }),
    };
    const [perInstance] = (await custom().reboot(call([A]))).outcomes;
    expect(perInstance).toMatchObject({ id: A, status: 'unknown', reason: expect.stringMatching(/^ECS answered DRYRUN\.SUCCESS \(RequestId R-5\), a dry-run answer/) });
    answer = { status: 400, body: JSON.stringify({ RequestId: 'R-6', Code: 'DRYRUN.SUCCESS', Message: 'This request is a dryrun request with successful result.' }) };
    const [whole] = (await custom().reboot(call([A]))).outcomes;
    expect(whole).toMatchObject({ id: A, status: 'unknown', reason: expect.stringContaining('not a reboot') });
    expect(hits).toBe(2);
  });

  it('turns an undocumented 200 body into unknown (ECS accepted the call), not resent', async () => {
    answer = { status: 200, body: '{"Result":"ok"}' };
    const result = await custom().reboot(call([A]));
    expect(result.outcomes[0]).toMatchObject({ status: 'unknown', reason: expect.stringMatching(/^UnexpectedResponse:/) as unknown });
    answer = { status: 200, body: '<html>not json</html>' };
    expect((await custom().reboot(call([A]))).outcomes[0]).toMatchObject({ status: 'unknown', reason: expect.stringMatching(/^UnexpectedResponse:/) as unknown });
    expect(hits).toBe(2);
  });

  it('treats Throttling with HTTP 429 as throttling (classified by code)', async () => {
    answer = { status: 429, body: JSON.stringify({ RequestId: 'R-2', HostId: 'ecs.aliyuncs.com', Code: 'Throttling', Message: 'Request was denied due to request throttling.' }) };
    const result = await custom().reboot(call([A]));
    expect(hits).toBe(RETRY.maxAttempts);
    expect(result.outcomes[0]).toEqual({ id: A, status: 'failed', code: 'Throttling', message: 'Request was denied due to request throttling.', requestId: 'R-2' });
  });

  it('retries a bare 429, but not a bare 503: a 5xx may hide a request ECS received', async () => {
    answer = { status: 429, body: 'Too Many Requests' };
    const throttled = await custom().reboot(call([A]));
    expect(hits).toBe(RETRY.maxAttempts);
    expect(throttled.outcomes[0]).toMatchObject({ status: 'failed', code: 'HTTP429' });
    hits = 0;
    answer = { status: 503, body: '<html>Service Unavailable</html>' };
    const unavailable = await custom().reboot(call([A]));
    expect(hits).toBe(1);
    expect(unavailable.outcomes[0]).toMatchObject({ status: 'unknown' });
  });

  it('keeps a 4xx ECS error as failed, with the cloud code and message', async () => {
    answer = { status: 403, body: JSON.stringify({ RequestId: 'R-4', Code: 'IncorrectInstanceStatus', Message: 'The current status of the resource does not support this operation.' }) };
    const result = await custom().reboot(call([A]));
    expect(hits).toBe(1);
    expect(result.outcomes[0]).toEqual({ id: A, status: 'failed', code: 'IncorrectInstanceStatus', message: 'The current status of the resource does not support this operation.', requestId: 'R-4' });
  });

  it('does not retry a gateway 502 without an ECS body: the request may have reached ECS', async () => {
    answer = { status: 502, body: '<html>Bad Gateway</html>' };
    const result = await custom().reboot(call([A]));
    expect(hits).toBe(1);
    expect(result.outcomes[0]).toMatchObject({ status: 'unknown' });
  });

  it('redacts the secret if a cloud message ever echoed it', async () => {
    answer = { status: 400, body: JSON.stringify({ RequestId: 'R-3', Code: 'InvalidParameter', Message: `bad key ${SECRET}` }) };
    const result = await custom().reboot(call([A]));
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'InvalidParameter', message: 'bad key [redacted]' });
  });
});
