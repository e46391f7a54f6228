import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClientOptions, InstanceOutcome, Provider } from '../../../src/providers/provider.js';
import type { RecordedRequest } from '../../../src/providers/simulator-kit.js';
import { decodeRawQuery } from '../../../src/providers/signing.js';
import { volcengineEndpoint } from '../../../src/providers/volcengine/wire.js';
import {
  clientTokenFor,
  createVolcengineProvider,
  interpretResponse,
  roundToken,
  volcengineCalls,
  type VolcengineCredentials,
} from '../../../src/providers/volcengine/client.js';
import { EMPTY_BODY_SHA256, type QueryPair } from '../../../src/providers/volcengine/signer.js';
import {
  INSTANCE_ERRORS,
  REQUEST_ERRORS,
  VolcengineSimulator,
  type InstanceErrorCode,
  type RequestErrorCode,
} from '../../../src/providers/volcengine/simulator.js';
import { AK, rawCall as sendRaw, REGION, SK, type RawAnswer } from './raw-call.js';

const POLICY = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

const id = (n: number): string => `i-test${String(n).padStart(16, '0')}`;
const A = id(1);
const B = id(2);
const C = id(3);

let sim: VolcengineSimulator;
let url: string;

beforeEach(async () => {
  sim = new VolcengineSimulator({ credentials: { [AK]: SK }, rebootMs: 60 });
  url = await sim.start();
  for (const i of [A, B, C]) sim.fleet.add(REGION, i);
});

afterEach(async () => {
  await sim.stop();
  // Issue 8: RebootInstances documents no DryRun, and a cloud that ignores it reboots for real. Whatever a test did,
  // no RebootInstances request the client sent may carry it.
  const rebootsWithDryRun = sim.requests.filter((r) => params(r)['Action'] === 'RebootInstances' && 'DryRun' in params(r));
  expect(rebootsWithDryRun).toEqual([]);
});

function provider(overrides: Partial<ClientOptions<VolcengineCredentials>> = {}): Provider {
  return createVolcengineProvider({
    credentials: { accessKeyId: AK, secretAccessKey: SK },
    endpoint: url,
    retry: POLICY,
    timeoutMs: 2_000,
    ...overrides,
  });
}

function reboot(p: Provider, ids: string[], extra: { force?: boolean; key?: string } = {}): Promise<InstanceOutcome[]> {
  return p.reboot({ region: REGION, ids, force: extra.force ?? false, idempotencyKey: extra.key ?? 'job-1-b1' }).then((r) => r.outcomes);
}

function params(rec: RecordedRequest | undefined): Record<string, string> {
  if (!rec) throw new Error('no such request');
  return Object.fromEntries(decodeRawQuery(rec.query) ?? []);
}

function rebootCount(instanceId: string): number {
  return sim.fleet.get(REGION, instanceId)?.rebootCount ?? -1;
}

const REQUEST_ID = /^\d{14}[0-9a-f]{4}[0-9A-F]{12}$/;

describe('success', () => {
  it('reboots every instance once, with a signed GET carrying exactly the documented parameters', async () => {
    const outcomes = await reboot(provider(), [A, B]);
    expect(outcomes).toEqual([
      { id: A, status: 'succeeded' },
      { id: B, status: 'succeeded' },
    ]);
    expect(sim.requests).toHaveLength(1);
    const rec = sim.requests[0]!;
    expect(rec.method).toBe('GET');
    expect(rec.path).toBe('/');
    expect(rec.status).toBe(200);
    // The wire query is the sorted canonical string that was signed.
    expect(rec.query).toBe(`Action=RebootInstances&ClientToken=job-1-b1&ForceStop=false&InstanceIds.1=${A}&InstanceIds.2=${B}&Version=2020-04-01`);
    expect(params(rec)).not.toHaveProperty('DryRun');
    expect(rec.headers['host']).toBe(new URL(url).host);
    expect(rec.headers['x-content-sha256']).toBe(EMPTY_BODY_SHA256);
    expect(rec.headers['x-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(rec.headers['authorization']).toMatch(
      new RegExp(`^HMAC-SHA256 Credential=${AK}/\\d{8}/cn-beijing/ecs/request, SignedHeaders=host;x-content-sha256;x-date, Signature=[0-9a-f]{64}$`),
    );
    expect(rebootCount(A)).toBe(1);
    expect(rebootCount(B)).toBe(1);
    expect(rebootCount(C)).toBe(0);
  });

  it('moves instances RUNNING → REBOOTING → RUNNING, and passes ForceStop=true', async () => {
    await reboot(provider(), [A], { force: true });
    expect(params(sim.requests[0])['ForceStop']).toBe('true');
    expect(sim.fleet.get(REGION, A)).toMatchObject({ state: 'stopping', lastForce: true });
    await vi.waitFor(() => expect(sim.fleet.get(REGION, A)?.state).toBe('running'), { timeout: 1_000, interval: 10 });
  });

  it('a restarted job resending the same batch gets the first answer and reboots nothing again', async () => {
    await reboot(provider(), [A, B]);
    const again = await reboot(provider(), [A, B]);
    expect(again.map((o) => o.status)).toEqual(['succeeded', 'succeeded']);
    expect(sim.requests).toHaveLength(2);
    expect(sim.fleet.totalReboots()).toBe(2);
  });

  it('sends the batch to the regional host for the SDK bootstrap regions only', () => {
    expect(volcengineEndpoint('cn-beijing')).toBe('https://open.volcengineapi.com');
    expect(volcengineEndpoint('ap-southeast-1')).toBe('https://open.volcengineapi.com');
    expect(volcengineEndpoint('ap-southeast-3')).toBe('https://ecs.ap-southeast-3.volcengineapi.com');
    expect(volcengineEndpoint('cn-beijing', 'http://127.0.0.1:4000/')).toBe('http://127.0.0.1:4000');
    expect(() => volcengineEndpoint('cn-beijing', 'ftp://x')).toThrow();
  });
});

describe('per-instance errors', () => {
  it('unknown id → InvalidInstance.NotFound; not running → InvalidInstanceStatus; the rest succeed', async () => {
    sim.fleet.add(REGION, id(9), 'stopped');
    const outcomes = await reboot(provider(), [A, id(8), id(9)]);
    expect(outcomes[0]).toEqual({ id: A, status: 'succeeded' });
    expect(outcomes[1]).toMatchObject({ id: id(8), status: 'failed', code: 'InvalidInstance.NotFound', message: 'The specified instance does not exist.' });
    expect(outcomes[2]).toMatchObject({
      id: id(9),
      status: 'failed',
      code: 'InvalidInstanceStatus',
      message: 'The status of the specified instance does not support this request.',
    });
    expect((outcomes[1] as { requestId?: string }).requestId).toMatch(REQUEST_ID);
    expect(sim.requests).toHaveLength(1);
    expect(rebootCount(id(9))).toBe(0);
  });

  it('an instance already rebooting (another job) → InvalidInstanceStatus', async () => {
    // Long enough that the second job surely meets the first reboot under way.
    sim.fleet.rebootMs = 5_000;
    await reboot(provider(), [A], { key: 'job-0-b1' });
    const outcomes = await reboot(provider(), [A], { key: 'job-1-b1' });
    expect(outcomes[0]).toMatchObject({ status: 'failed', code: 'InvalidInstanceStatus' });
    expect(rebootCount(A)).toBe(1);
  });

  const finalInstanceCodes = (Object.keys(INSTANCE_ERRORS) as InstanceErrorCode[]).filter((c) => c !== 'FlowLimitExceeded' && c !== 'InternalError');
  it.each(finalInstanceCodes)('%s is reported for that instance only, with the seed message, and not retried', async (code) => {
    sim.failNextInstancesWith(code, 1);
    const outcomes = await reboot(provider(), [A, B]);
    expect(outcomes[0]).toEqual({ id: A, status: 'failed', code, message: INSTANCE_ERRORS[code], requestId: expect.stringMatching(REQUEST_ID) });
    expect(outcomes[1]).toEqual({ id: B, status: 'succeeded' });
    expect(sim.requests).toHaveLength(1);
    expect(rebootCount(A)).toBe(0);
    expect(rebootCount(B)).toBe(1);
  });

  it('per-instance FlowLimitExceeded: only that instance is resent, in a follow-up call with its own derived ClientToken', async () => {
    sim.failNextInstancesWith('FlowLimitExceeded', 1);
    const outcomes = await reboot(provider(), [A, B, C]);
    expect(outcomes.map((o) => o.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(sim.requests).toHaveLength(2);
    const first = params(sim.requests[0]);
    const second = params(sim.requests[1]);
    expect(first['ClientToken']).toBe('job-1-b1');
    expect(second).toEqual({ Action: 'RebootInstances', Version: '2020-04-01', 'InstanceIds.1': A, ForceStop: 'false', ClientToken: 'job-1-b1-r1' });
    expect([A, B, C].map(rebootCount)).toEqual([1, 1, 1]);
  });

  it('per-instance InternalError is unknown and not resent: a follow-up round would need a new token', async () => {
    sim.failNextInstancesWith('InternalError', 1);
    const outcomes = await reboot(provider(), [A, B, C]);
    expect(outcomes[0]).toEqual({
      id: A,
      status: 'unknown',
      reason: expect.stringMatching(/^InternalError for this instance \(An internal error has occurred\., RequestId \d{14}.*check it in the console$/),
    });
    expect(outcomes.slice(1)).toEqual([
      { id: B, status: 'succeeded' },
      { id: C, status: 'succeeded' },
    ]);
    expect(sim.requests).toHaveLength(1);
    expect([B, C].map(rebootCount)).toEqual([1, 1]);
  });

  it('a restart replays the same rounds with the same tokens: first answers come back, nothing reboots twice', async () => {
    sim.failNextInstancesWith('FlowLimitExceeded', 1);
    await reboot(provider(), [A, B, C]);
    const again = await reboot(provider(), [A, B, C]);
    expect(again.map((o) => o.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(sim.requests.map((r) => params(r)['ClientToken'])).toEqual(['job-1-b1', 'job-1-b1-r1', 'job-1-b1', 'job-1-b1-r1']);
    expect(sim.requests.every((r) => r.status === 200)).toBe(true);
    expect(sim.fleet.totalReboots()).toBe(3);
  });

  it('per-instance FlowLimitExceeded that never clears is reported after the retry budget', async () => {
    sim.failNextInstancesWith('FlowLimitExceeded', 100);
    const outcomes = await reboot(provider(), [A, B]);
    expect(outcomes.every((o) => o.status === 'failed' && o.code === 'FlowLimitExceeded')).toBe(true);
    expect(sim.requests.map((r) => params(r)['ClientToken'])).toEqual(['job-1-b1', 'job-1-b1-r1', 'job-1-b1-r2', 'job-1-b1-r3']);
    expect(sim.fleet.totalReboots()).toBe(0);
  });
});

describe('request-level errors', () => {
  const finalRequestCodes: RequestErrorCode[] = ['InvalidArgument', 'InvalidCount.Malformed', 'IdempotentParameterMismatch', 'InvalidClientToken.Malformed'];
  it.each(finalRequestCodes)('%s fails every id with the cloud code and message, without a retry', async (code) => {
    sim.failNextRequestsWith(code, 1);
    const outcomes = await reboot(provider(), [A, B]);
    for (const o of outcomes) {
      expect(o).toEqual({ id: o.id, status: 'failed', code, message: REQUEST_ERRORS[code].message, requestId: expect.stringMatching(REQUEST_ID) });
    }
    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0]?.status).toBe(REQUEST_ERRORS[code].status);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it.each([
    ['IdempotentProcessing', 412],
    ['InternalError', 500],
  ] as const)('%s (HTTP %i) is retried with the same ClientToken and the instances reboot once', async (code, status) => {
    sim.failNextRequestsWith(code, 2);
    const outcomes = await reboot(provider(), [A, B]);
    expect(outcomes.map((o) => o.status)).toEqual(['succeeded', 'succeeded']);
    expect(sim.requests.map((r) => r.status)).toEqual([status, status, 200]);
    expect(new Set(sim.requests.map((r) => params(r)['ClientToken']))).toEqual(new Set(['job-1-b1']));
    expect([A, B].map(rebootCount)).toEqual([1, 1]);
  });

  it('throttling (429 AccountFlowLimitExceeded) is retried, honouring Retry-After', async () => {
    sim.faults.inject({ kind: 'throttle', count: 2, retryAfterSeconds: 1 });
    const delays: number[] = [];
    const p = provider({ retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 5_000 }, sleep: async (ms) => void delays.push(ms) });
    const outcomes = await reboot(p, [A]);
    expect(outcomes).toEqual([{ id: A, status: 'succeeded' }]);
    expect(sim.requests.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(delays).toEqual([1_000, 1_000]);
    expect(rebootCount(A)).toBe(1);
  });

  it('throttling that never clears → failed AccountFlowLimitExceeded after maxAttempts, nothing rebooted', async () => {
    sim.faults.inject({ kind: 'throttle', count: 10 });
    const outcomes = await reboot(provider(), [A]);
    expect(outcomes[0]).toMatchObject({ status: 'failed', code: 'AccountFlowLimitExceeded' });
    expect(sim.requests).toHaveLength(4);
    expect(rebootCount(A)).toBe(0);
  });

  it('server errors that never clear → unknown after maxAttempts, every attempt with the same ClientToken', async () => {
    sim.faults.inject({ kind: 'server-error', count: 10 });
    const outcomes = await reboot(provider(), [A]);
    expect(outcomes[0]).toEqual({
      id: A,
      status: 'unknown',
      reason: expect.stringMatching(
        /^request sent but an answer that does not say what happened \(HTTP 500 InternalError: An internal error has occurred\., RequestId \d{14}.*\) after 4 attempts with the same ClientToken; the instance may or may not be rebooting — check it in the console$/,
      ),
    });
    expect(sim.requests.map((r) => r.status)).toEqual([500, 500, 500, 500]);
    expect(new Set(sim.requests.map((r) => params(r)['ClientToken']))).toEqual(new Set(['job-1-b1']));
  });

  it('IdempotentProcessing that never clears → unknown: an earlier send with this token is being carried out', async () => {
    sim.idempotentProcessingNext(10);
    const outcomes = await reboot(provider(), [A, B]);
    expect(outcomes.map((o) => o.status)).toEqual(['unknown', 'unknown']);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringContaining('HTTP 412 IdempotentProcessing') });
    expect(sim.requests.map((r) => r.status)).toEqual([412, 412, 412, 412]);
  });

  it('the same key with other ids → IdempotentParameterMismatch from the cloud, nothing rebooted', async () => {
    await reboot(provider(), [A]);
    const outcomes = await reboot(provider(), [B]);
    expect(outcomes[0]).toMatchObject({ id: B, status: 'failed', code: 'IdempotentParameterMismatch', message: REQUEST_ERRORS.IdempotentParameterMismatch.message });
    expect(sim.requests[1]?.status).toBe(400);
    expect(rebootCount(B)).toBe(0);
  });
});

describe('credentials and clock', () => {
  it('a wrong secret → SignatureDoesNotMatch (401) for every id, not retried, nothing secret in the outcome', async () => {
    const wrongSecret = 'd3Jvbmctc2VjcmV0LWtleS12b2xjZW5naW5l';
    const outcomes = await reboot(provider({ credentials: { accessKeyId: AK, secretAccessKey: wrongSecret } }), [A, B]);
    expect(outcomes.map((o) => (o.status === 'failed' ? o.code : o.status))).toEqual(['SignatureDoesNotMatch', 'SignatureDoesNotMatch']);
    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0]?.status).toBe(401);
    const signature = /Signature=([0-9a-f]{64})/.exec(sim.requests[0]?.headers['authorization'] ?? '')?.[1];
    expect(signature).toBeDefined();
    const text = JSON.stringify(outcomes);
    for (const secret of [wrongSecret, SK, signature ?? '', 'HMAC-SHA256 Credential']) expect(text).not.toContain(secret);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('an unknown access key → InvalidAccessKey (401)', async () => {
    const outcomes = await reboot(provider({ credentials: { accessKeyId: 'AKLTnobody', secretAccessKey: SK } }), [A]);
    expect(outcomes[0]).toMatchObject({ status: 'failed', code: 'InvalidAccessKey' });
    expect(sim.requests[0]?.status).toBe(401);
  });

  it('a clock 16 minutes off → InvalidTimestamp (400); 14 minutes off is still accepted', async () => {
    const skewed = (minutes: number) => () => new Date(Date.now() - minutes * 60_000);
    const late = await reboot(provider({ now: skewed(16) }), [A], { key: 'k1' });
    expect(late[0]).toMatchObject({ status: 'failed', code: 'InvalidTimestamp' });
    expect(sim.requests[0]?.status).toBe(400);
    const ok = await reboot(provider({ now: skewed(14) }), [A], { key: 'k2' });
    expect(ok[0]).toEqual({ id: A, status: 'succeeded' });
  });
});

describe('batch limit', () => {
  it('100 ids go in one call and all reboot; 101 ids are refused by the guard (BatchTooLarge) and nothing is sent', async () => {
    const hundred = Array.from({ length: 100 }, (_, i) => id(100 + i));
    for (const i of [...hundred, id(300)]) sim.fleet.add(REGION, i);
    const ok = await reboot(provider(), hundred, { key: 'k-100' });
    expect(ok.every((o) => o.status === 'succeeded')).toBe(true);
    expect(params(sim.requests[0])['InstanceIds.100']).toBe(id(199));
    expect(sim.fleet.totalReboots()).toBe(100);

    const tooMany = await reboot(provider(), [...hundred.map((x) => x), id(300)], { key: 'k-101' });
    expect(tooMany).toHaveLength(101);
    expect(tooMany.every((o) => o.status === 'failed' && o.code === 'BatchTooLarge')).toBe(true);
    expect(sim.requests).toHaveLength(1);
    expect(sim.fleet.totalReboots()).toBe(100);
  });

  it('simulator: 101 InstanceIds.N in one request → 400 InvalidCount.Malformed, nothing rebooted', async () => {
    const query: QueryPair[] = [['Action', 'RebootInstances'], ['Version', '2020-04-01']];
    for (let i = 1; i <= 101; i++) {
      sim.fleet.add(REGION, id(400 + i));
      query.push([`InstanceIds.${i}`, id(400 + i)]);
    }
    const res = await rawCall(query);
    expect(res.status).toBe(400);
    expect(res.body.ResponseMetadata['Error']).toMatchObject({ Code: 'InvalidCount.Malformed' });
    expect(sim.fleet.totalReboots()).toBe(0);
  });
});

describe('no DryRun on the mutating call (issue 8)', () => {
  it('the simulator ignores an undocumented DryRun on RebootInstances and really reboots: the danger the client must avoid', async () => {
    // Its own simulator: this raw request does carry DryRun, which the request-log check after each test forbids.
    const other = new VolcengineSimulator({ credentials: { [AK]: SK }, rebootMs: 60 });
    try {
      const otherUrl = await other.start();
      other.fleet.add(REGION, A);
      const res = await sendRaw(otherUrl, [['Action', 'RebootInstances'], ['Version', '2020-04-01'], ['InstanceIds.1', A], ['DryRun', 'true']]);
      expect(res.status).toBe(200);
      expect(res.body.Result).toEqual({ OperationDetails: [{ InstanceId: A }] });
      expect(other.fleet.get(REGION, A)).toMatchObject({ rebootCount: 1, state: 'stopping' });
    } finally {
      await other.stop();
    }
  });

  it('every RebootInstances request the client sends, on every path, carries exactly the documented parameters', async () => {
    sim.failNextInstancesWith('FlowLimitExceeded', 1);
    await reboot(provider(), [A, B], { key: 'k-rounds' });
    await vi.waitFor(() => expect(sim.fleet.get(REGION, A)?.state).toBe('running'), { timeout: 1_000, interval: 10 });
    sim.faults.inject({ kind: 'throttle', count: 1 });
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    await reboot(provider(), [A], { key: 'k-faults', force: true });
    await reboot(provider(), [id(8)], { key: 'k-unknown' });
    const reboots = sim.requests.filter((r) => params(r)['Action'] === 'RebootInstances');
    expect(reboots.length).toBeGreaterThanOrEqual(5);
    for (const r of reboots) {
      const names = Object.keys(params(r)).map((n) => n.replace(/^InstanceIds\.\d+$/, 'InstanceIds.N'));
      expect(new Set(names)).toEqual(new Set(['Action', 'Version', 'InstanceIds.N', 'ForceStop', 'ClientToken']));
      expect(r.query).not.toMatch(/DryRun/i);
    }
  });
});

describe('serverTime of the reboot (the HTTP Date of the accepting answer)', () => {
  const scope = { track: <T,>(signer: T): T => signer };
  const options = (): ClientOptions<VolcengineCredentials> => ({ credentials: { accessKeyId: AK, secretAccessKey: SK }, endpoint: url, retry: POLICY, timeoutMs: 2_000 });

  it('is the Date header of the answer that accepted the reboot, in whole seconds', async () => {
    const before = Date.now();
    const result = await volcengineCalls(options()).reboot({ region: REGION, ids: [A], force: false, idempotencyKey: 'k-time' }, scope);
    const after = Date.now();
    expect(result.outcomes).toEqual([{ id: A, status: 'succeeded' }]);
    expect(result.serverTime).toBeDefined();
    const serverTime = result.serverTime ?? 0;
    expect(serverTime % 1_000).toBe(0);
    expect(serverTime).toBeGreaterThan(before - 1_000);
    expect(serverTime).toBeLessThanOrEqual(after);
  });

  it('is left out when nothing was accepted', async () => {
    sim.fleet.add(REGION, id(9), 'stopped');
    const result = await volcengineCalls(options()).reboot({ region: REGION, ids: [id(9)], force: false, idempotencyKey: 'k-refused' }, scope);
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'InvalidInstanceStatus' });
    expect(result).not.toHaveProperty('serverTime');
  });
});

describe('ambiguous failures (resent with the same ClientToken)', () => {
  it('drop-response: the resend returns the first answer; the instance rebooted exactly once', async () => {
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    const outcomes = await reboot(provider(), [A, B]);
    expect(outcomes.map((o) => o.status)).toEqual(['succeeded', 'succeeded']);
    expect(sim.requests).toHaveLength(2);
    expect(sim.requests.map((r) => r.status)).toEqual([200, 200]);
    expect(params(sim.requests[1])['ClientToken']).toBe(params(sim.requests[0])['ClientToken']);
    expect(sim.requests[1]?.query).toBe(sim.requests[0]?.query);
    expect([A, B].map(rebootCount)).toEqual([1, 1]);
  });

  it('still no answer after every attempt → unknown with a reason to check the console; rebooted once', async () => {
    sim.faults.inject({ kind: 'drop-response', count: 10 });
    const outcomes = await reboot(provider(), [A]);
    expect(outcomes[0]?.status).toBe('unknown');
    expect(outcomes[0]).toMatchObject({ reason: expect.stringMatching(/^request sent but no answer \(network error [A-Z_]+\).*check it in the console$/) });
    expect(sim.requests).toHaveLength(4);
    expect(rebootCount(A)).toBe(1);
  });

  it('a dropped answer followed by throttling to the end stays unknown, not failed', async () => {
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    // Throttle only the resends: the fault goes in between attempts.
    const sleep = async (): Promise<void> => void (sim.requests.length === 1 && sim.faults.inject({ kind: 'throttle', count: 10 }));
    const outcomes = await reboot(provider({ sleep }), [A]);
    expect(sim.requests.map((r) => r.status)).toEqual([200, 429, 429, 429]);
    expect(outcomes[0]).toMatchObject({ status: 'unknown', reason: expect.stringContaining('the last attempt was answered AccountFlowLimitExceeded') });
    expect(rebootCount(A)).toBe(1);
  });

  it('timeout: the late first request and the resend collapse to one reboot', async () => {
    // undici runs headersTimeout on its coarse timers (about 0.5-1 s), hence a latency well above that.
    sim.faults.inject({ kind: 'latency', count: 1, ms: 1_500 });
    const outcomes = await reboot(provider({ timeoutMs: 100 }), [A]);
    expect(outcomes).toEqual([{ id: A, status: 'succeeded' }]);
    // The resend answered first; the late original is handled afterwards and meets the remembered token.
    expect(sim.requests).toHaveLength(1);
    await vi.waitFor(() => expect(sim.requests).toHaveLength(2), { timeout: 3_000, interval: 20 });
    expect(sim.requests.map((r) => r.status)).toEqual([200, 200]);
    expect(rebootCount(A)).toBe(1);
  });

  it.each([500, 502, 503, 504] as const)(
    'the cloud reboots, then answers %i: resent with the same ClientToken, the first answer comes back, rebooted once',
    async (status) => {
      sim.faults.inject({ kind: 'actThenFail', count: 1, status });
      const outcomes = await reboot(provider(), [A, B]);
      expect(outcomes).toEqual([
        { id: A, status: 'succeeded' },
        { id: B, status: 'succeeded' },
      ]);
      expect(sim.requests.map((r) => r.status)).toEqual([status, 200]);
      expect(sim.requests[1]?.query).toBe(sim.requests[0]?.query);
      expect(params(sim.requests[1])['ClientToken']).toBe('job-1-b1');
      expect([A, B].map(rebootCount)).toEqual([1, 1]);
    },
  );

  it('the cloud reboots, then every answer is a 502 page: unknown after maxAttempts, rebooted once', async () => {
    sim.faults.inject({ kind: 'actThenFail', count: 10, status: 502, body: '<html>502 Bad Gateway</html>' });
    const outcomes = await reboot(provider(), [A, B]);
    for (const o of outcomes) {
      expect(o).toMatchObject({
        status: 'unknown',
        reason: expect.stringMatching(/^request sent but an answer that does not say what happened \(HTTP 502 answer that is not a Volcengine response\) after 4 attempts/),
      });
    }
    expect(sim.requests.map((r) => r.status)).toEqual([502, 502, 502, 502]);
    expect(new Set(sim.requests.map((r) => r.query)).size).toBe(1);
    expect([A, B].map(rebootCount)).toEqual([1, 1]);
  });

  it('the cloud reboots, then answers 200 with a body cut short: resent with the same ClientToken, rebooted once', async () => {
    sim.faults.inject({ kind: 'actThenMalformed', count: 1 });
    const outcomes = await reboot(provider(), [A, B]);
    expect(outcomes).toEqual([
      { id: A, status: 'succeeded' },
      { id: B, status: 'succeeded' },
    ]);
    expect(sim.requests.map((r) => r.status)).toEqual([200, 200]);
    expect(sim.requests.map((r) => params(r)['ClientToken'])).toEqual(['job-1-b1', 'job-1-b1']);
    expect([A, B].map(rebootCount)).toEqual([1, 1]);
  });

  it('the cloud reboots, then every answer is cut short: unknown after maxAttempts, never failed, rebooted once', async () => {
    sim.faults.inject({ kind: 'actThenMalformed', count: 10 });
    const outcomes = await reboot(provider(), [A]);
    expect(outcomes).toEqual([
      {
        id: A,
        status: 'unknown',
        reason: expect.stringMatching(/^request sent but an answer that does not say what happened \(HTTP 200 answer that is not a Volcengine response\) after 4 attempts with the same ClientToken/),
      },
    ]);
    expect(sim.requests).toHaveLength(4);
    expect(new Set(sim.requests.map((r) => params(r)['ClientToken']))).toEqual(new Set(['job-1-b1']));
    expect(rebootCount(A)).toBe(1);
  });

  it('connection refused (not sent) is retried, then reported failed with the network code', async () => {
    const deadUrl = url;
    await sim.stop();
    const sleeps: number[] = [];
    const outcomes = await reboot(provider({ endpoint: deadUrl, sleep: async (ms) => void sleeps.push(ms) }), [A]);
    expect(outcomes[0]).toMatchObject({ status: 'failed', code: 'ECONNREFUSED' });
    expect(sleeps).toHaveLength(3);
    sim = new VolcengineSimulator({ credentials: {} });
  });
});

describe('ClientToken derivation', () => {
  it('keeps short ASCII keys and hashes long or non-ASCII ones deterministically to ≤64 chars', () => {
    expect(clientTokenFor('job-1-b1')).toBe('job-1-b1');
    const long = 'x'.repeat(65);
    expect(clientTokenFor(long)).toMatch(/^[0-9a-f]{64}$/);
    expect(clientTokenFor(long)).toBe(clientTokenFor(long));
    expect(clientTokenFor('job-é')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('round tokens are distinct, deterministic and ≤64 chars', () => {
    expect(roundToken('job-1-b1', 0)).toBe('job-1-b1');
    expect(roundToken('job-1-b1', 2)).toBe('job-1-b1-r2');
    const base = clientTokenFor('y'.repeat(100));
    const r1 = roundToken(base, 1);
    expect(r1).toHaveLength(64);
    expect(r1.endsWith('-r1')).toBe(true);
    expect(roundToken(base, 12)).toHaveLength(64);
    expect(new Set([base, r1, roundToken(base, 2)]).size).toBe(3);
  });

  it('a long idempotency key goes on the wire hashed and is accepted', async () => {
    const outcomes = await reboot(provider(), [A], { key: 'k'.repeat(200) });
    expect(outcomes[0]?.status).toBe('succeeded');
    expect(params(sim.requests[0])['ClientToken']).toBe(clientTokenFor('k'.repeat(200)));
  });
});

function rawCall(query: QueryPair[], opts: { service?: string; authorization?: string | null } = {}): Promise<RawAnswer> {
  return sendRaw(url, query, opts);
}

const BASE_QUERY: QueryPair[] = [
  ['Action', 'RebootInstances'],
  ['Version', '2020-04-01'],
  ['InstanceIds.1', A],
];

describe('simulator gateway behaviour (raw requests)', () => {
  it('a ClientToken over 64 characters → 400 InvalidClientToken.Malformed', async () => {
    const res = await rawCall([...BASE_QUERY, ['ClientToken', 't'.repeat(65)]]);
    expect(res.status).toBe(400);
    expect(res.body.ResponseMetadata['Error']).toEqual({ Code: 'InvalidClientToken.Malformed', Message: 'The specified ClientToken is malformed.' });
    expect(rebootCount(A)).toBe(0);
  });

  it('no Authorization → 401 MissingAuthenticationToken with the gateway envelope', async () => {
    const res = await rawCall(BASE_QUERY, { authorization: null });
    expect(res.status).toBe(401);
    expect(res.body.ResponseMetadata).toMatchObject({
      Action: 'RebootInstances',
      Version: '2020-04-01',
      Service: 'ecs',
      Error: { Code: 'MissingAuthenticationToken', CodeN: 100003 },
    });
  });

  it('SignatureDoesNotMatch carries CodeN 100010 and the region of the credential scope', async () => {
    const res = await rawCall(BASE_QUERY, { authorization: `HMAC-SHA256 Credential=${AK}/20240101/cn-shanghai/ecs/request, SignedHeaders=host;x-date, Signature=${'0'.repeat(64)}` });
    expect(res.status).toBe(401);
    expect(res.body.ResponseMetadata).toMatchObject({ Region: 'cn-shanghai', Error: { Code: 'SignatureDoesNotMatch', CodeN: 100010 } });
  });

  it('a credential scope for another service is refused', async () => {
    const res = await rawCall(BASE_QUERY, { service: 'iam' });
    expect(res.status).toBe(404);
    expect(res.body.ResponseMetadata['Error']).toMatchObject({ Code: 'ServiceNotFound' });
  });

  it('throttle answers 429 AccountFlowLimitExceeded with Retry-After', async () => {
    sim.faults.inject({ kind: 'throttle', count: 1, retryAfterSeconds: 3 });
    const res = await rawCall(BASE_QUERY);
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('3');
    expect(res.body.ResponseMetadata['Error']).toMatchObject({ Code: 'AccountFlowLimitExceeded' });
  });

  it('the same token and parameters return the first answer byte for byte', async () => {
    const q: QueryPair[] = [...BASE_QUERY, ['ClientToken', 'raw-1']];
    const first = await rawCall(q);
    const second = await rawCall(q);
    expect(second.body).toEqual(first.body);
    expect(rebootCount(A)).toBe(1);
  });
});

describe('response interpretation (answers the simulator does not give)', () => {
  let server: Server;
  let answers: Array<{ status: number; body: string; headers?: Record<string, string> }>;
  let served: number;
  let fakeUrl: string;

  beforeEach(async () => {
    answers = [];
    served = 0;
    server = createServer((_req, res) => {
      const a = answers[Math.min(served, answers.length - 1)] ?? { status: 500, body: '' };
      served += 1;
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    fakeUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const ok = JSON.stringify({ ResponseMetadata: { RequestId: 'r2' }, Result: { OperationDetails: [{ InstanceId: A }] } });

  it('reads ResponseMetadata.Error even with HTTP 200: a throttle there is retried', async () => {
    answers = [{ status: 200, body: JSON.stringify({ ResponseMetadata: { RequestId: 'r1', Error: { Code: 'AccountFlowLimitExceeded', CodeN: 100027, Message: 'slow down' } } }) }, { status: 200, body: ok }];
    const outcomes = await reboot(provider({ endpoint: fakeUrl }), [A]);
    expect(outcomes).toEqual([{ id: A, status: 'succeeded' }]);
    expect(served).toBe(2);
  });

  it('a final error inside an HTTP 200 fails every id with its code', async () => {
    answers = [{ status: 200, body: JSON.stringify({ ResponseMetadata: { RequestId: 'r1', Error: { Code: 'InvalidArgument', Message: 'bad' } } }) }];
    const outcomes = await reboot(provider({ endpoint: fakeUrl }), [A]);
    expect(outcomes).toEqual([{ id: A, status: 'failed', code: 'InvalidArgument', message: 'bad', requestId: 'r1' }]);
    expect(served).toBe(1);
  });

  it.each([
    ['HTML', '<html>oops</html>'],
    ['a JSON shape of another API', JSON.stringify({ requestId: 'x', code: 'Foo' })],
    ['200 without OperationDetails', JSON.stringify({ ResponseMetadata: { RequestId: 'r' }, Result: {} })],
  ])('200 with %s → resent with the same token, then unknown (the cloud may have acted), never failed', async (_label, body) => {
    answers = [{ status: 200, body }];
    const outcomes = await reboot(provider({ endpoint: fakeUrl }), [A, B]);
    expect(outcomes.map((o) => o.status)).toEqual(['unknown', 'unknown']);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringContaining('HTTP 200 answer') });
    expect(served).toBe(4);
  });

  it('200 with an unreadable body, then a readable one → the readable answer stands', async () => {
    answers = [{ status: 200, body: '<html>oops</html>' }, { status: 200, body: ok }];
    const outcomes = await reboot(provider({ endpoint: fakeUrl }), [A]);
    expect(outcomes).toEqual([{ id: A, status: 'succeeded' }]);
    expect(served).toBe(2);
  });

  it('a 404 page from a proxy is a refusal: failed UnexpectedResponse, not resent', async () => {
    answers = [{ status: 404, body: '<html>Not Found</html>' }];
    const outcomes = await reboot(provider({ endpoint: fakeUrl }), [A]);
    expect(outcomes[0]).toMatchObject({ status: 'failed', code: 'UnexpectedResponse', message: 'HTTP 404 answer that is not a Volcengine response' });
    expect(served).toBe(1);
  });

  it('a 502 page from a proxy is retried (the token makes it safe), then reported unknown', async () => {
    answers = [{ status: 502, body: '<html>Bad Gateway</html>' }];
    const outcomes = await reboot(provider({ endpoint: fakeUrl }), [A]);
    expect(outcomes[0]).toMatchObject({ status: 'unknown', reason: expect.stringContaining('HTTP 502 answer that is not a Volcengine response') });
    expect(served).toBe(4);
  });

  it('an id missing from OperationDetails counts as accepted, with a note', () => {
    const v = interpretResponse(200, {}, ok, [A, B]);
    expect(v).toMatchObject({ kind: 'instances', retryIds: [] });
    if (v.kind !== 'instances') throw new Error('unexpected verdict');
    expect(v.outcomes.get(B)).toEqual({ id: B, status: 'succeeded', detail: 'not listed in OperationDetails; accepted with the request' });
  });

  it('a secret echoed by the cloud is redacted from the outcome', async () => {
    answers = [{ status: 400, body: JSON.stringify({ ResponseMetadata: { RequestId: 'r', Error: { Code: 'InvalidArgument', Message: `bad key ${SK}` } } }) }];
    const outcomes = await reboot(provider({ endpoint: fakeUrl }), [A]);
    expect(outcomes[0]).toMatchObject({ status: 'failed', message: 'bad key [redacted]' });
  });
});
