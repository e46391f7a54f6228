import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { seedFleet } from '../../../src/local/fleet-seed.js';
import type { ClientOptions, DescribeResult, InstanceReading, Provider } from '../../../src/providers/provider.js';
import type { RecordedRequest } from '../../../src/providers/simulator-kit.js';
import { decodeRawQuery } from '../../../src/providers/signing.js';
import { createVolcengineProvider, volcengineCalls, type VolcengineCredentials } from '../../../src/providers/volcengine/client.js';
import { clockOf, normaliseStatus } from '../../../src/providers/volcengine/describe.js';
import { volcengine } from '../../../src/providers/volcengine/index.js';
import { EMPTY_BODY_SHA256 } from '../../../src/providers/volcengine/signer.js';
import { VolcengineSimulator } from '../../../src/providers/volcengine/simulator.js';
import { AK, rawCall, REGION, SK } from './raw-call.js';

const POLICY = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

const id = (n: number): string => `i-read${String(n).padStart(16, '0')}`;
const RUN = id(1);
const STOP = id(2);
const OTHER = id(3);
const UNKNOWN = id(99);

let sim: VolcengineSimulator;
let url: string;

beforeEach(async () => {
  sim = new VolcengineSimulator({ credentials: { [AK]: SK }, rebootMs: 60 });
  url = await sim.start();
  sim.fleet.add(REGION, RUN, 'running', { name: 'web-01' });
  sim.fleet.add(REGION, STOP, 'stopped', { name: 'batch-02' });
  sim.fleet.add(REGION, OTHER, 'running', { name: 'web-03' });
});

afterEach(async () => {
  await sim.stop();
});

function options(overrides: Partial<ClientOptions<VolcengineCredentials>> = {}): ClientOptions<VolcengineCredentials> {
  return { credentials: { accessKeyId: AK, secretAccessKey: SK }, endpoint: url, retry: POLICY, timeoutMs: 2_000, ...overrides };
}

function provider(overrides: Partial<ClientOptions<VolcengineCredentials>> = {}): Provider {
  return createVolcengineProvider(options(overrides));
}

function params(rec: RecordedRequest | undefined): Record<string, string> {
  if (!rec) throw new Error('no such request');
  return Object.fromEntries(decodeRawQuery(rec.query) ?? []);
}

async function read(p: Provider, ids: string[]): Promise<InstanceReading[]> {
  const result = await p.describe({ region: REGION, ids });
  if (result.kind !== 'read') throw new Error(`read failed: ${result.code} ${result.message}`);
  return result.readings;
}

async function readOne(p: Provider, instanceId: string): Promise<Extract<InstanceReading, { found: true }>> {
  const [reading] = await read(p, [instanceId]);
  if (!reading?.found) throw new Error(`${instanceId} not found`);
  return reading;
}

function expectError(result: DescribeResult): Extract<DescribeResult, { kind: 'error' }> {
  if (result.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result;
}

describe('request', () => {
  it('is one signed GET / with InstanceIds.N, MaxResults=100 and no body; serverTime is the answer Date', async () => {
    const before = Date.now();
    const result = await provider().describe({ region: REGION, ids: [RUN, STOP] });
    const after = Date.now();
    expect(result.kind).toBe('read');
    expect(sim.requests).toHaveLength(1);
    const rec = sim.requests[0]!;
    expect(rec.method).toBe('GET');
    expect(rec.path).toBe('/');
    expect(rec.body).toBe('');
    expect(rec.status).toBe(200);
    expect(rec.query).toBe(`Action=DescribeInstances&InstanceIds.1=${RUN}&InstanceIds.2=${STOP}&MaxResults=100&Version=2020-04-01`);
    expect(rec.headers['x-content-sha256']).toBe(EMPTY_BODY_SHA256);
    expect(rec.headers['authorization']).toMatch(
      new RegExp(`^HMAC-SHA256 Credential=${AK}/\\d{8}/cn-beijing/ecs/request, SignedHeaders=host;x-content-sha256;x-date, Signature=[0-9a-f]{64}$`),
    );
    if (result.kind !== 'read') return;
    const serverTime = result.serverTime ?? Number.NaN;
    expect(serverTime % 1_000).toBe(0);
    expect(serverTime).toBeGreaterThan(before - 1_000);
    expect(serverTime).toBeLessThanOrEqual(after);
  });
});

describe('readings', () => {
  it('running and stopped instances, with names, raw status and UpdatedAt as the clock', async () => {
    const readings = await read(provider(), [RUN, STOP]);
    const updated = sim.fleet.get(REGION, RUN)!.updatedAt;
    expect(readings).toEqual([
      {
        id: RUN,
        found: true,
        name: 'web-01',
        phase: 'running',
        rawStatus: 'RUNNING',
        rebooting: false,
        clock: { field: 'UpdatedAt', raw: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/), at: updated - (updated % 1_000), precisionMs: 1_000, provesReboot: true },
      },
      { id: STOP, found: true, name: 'batch-02', phase: 'stopped', rawStatus: 'STOPPED', rebooting: false, clock: expect.objectContaining({ field: 'UpdatedAt' }) },
    ]);
  });

  it('reads the +08:00 offset as an instant, not as text', async () => {
    sim.fleet.get(REGION, RUN)!.updatedAt = Date.UTC(2024, 2, 11, 6, 1, 5, 700);
    const reading = await readOne(provider(), RUN);
    expect(reading.clock).toEqual({ field: 'UpdatedAt', raw: '2024-03-11T14:01:05+08:00', at: Date.UTC(2024, 2, 11, 6, 1, 5), precisionMs: 1_000, provesReboot: true });
  });

  it('unknown ids (left out by the cloud) are found:false, in the order asked; another region does not see them', async () => {
    sim.fleet.add('cn-shanghai', id(7), 'running');
    const readings = await read(provider(), [UNKNOWN, RUN, id(7)]);
    expect(readings.map((r) => [r.id, r.found])).toEqual([
      [UNKNOWN, false],
      [RUN, true],
      [id(7), false],
    ]);
    expect(readings[0]).toEqual({ id: UNKNOWN, found: false });
    expect(sim.requests).toHaveLength(1);
  });

  it('every id unknown is still a read (found:false each), not an error', async () => {
    const result = await provider().describe({ region: REGION, ids: [id(97), id(98)] });
    expect(result).toMatchObject({ kind: 'read', readings: [{ id: id(97), found: false }, { id: id(98), found: false }] });
  });
});

describe('a reboot seen through the read', () => {
  const scope = { track: <T,>(signer: T): T => signer };

  it('REBOOTING with rebooting=true while under way; RUNNING again with UpdatedAt past the reboot call serverTime', async () => {
    // Long enough that the final UpdatedAt lands whole seconds after the accepting answer's Date.
    sim.fleet.rebootMs = 2_200;
    const p = provider();
    const before = await readOne(p, RUN);
    expect(before).toMatchObject({ phase: 'running', rebooting: false });

    const accepted = await volcengineCalls(options()).reboot({ region: REGION, ids: [RUN], force: false, idempotencyKey: 'job-r-b1' }, scope);
    expect(accepted.outcomes).toEqual([{ id: RUN, status: 'succeeded' }]);
    const serverTime = accepted.serverTime ?? Number.NaN;

    const during = await readOne(p, RUN);
    expect(during).toMatchObject({ phase: 'transitioning', rawStatus: 'REBOOTING', rebooting: true });

    await vi.waitFor(async () => expect((await readOne(p, RUN)).phase).toBe('running'), { timeout: 5_000, interval: 100 });
    const after = await readOne(p, RUN);
    expect(after).toMatchObject({ phase: 'running', rebooting: false, name: 'web-01' });
    expect(after.clock!.at).toBeGreaterThan(before.clock!.at);
    expect(after.clock!.at).toBeGreaterThan(serverTime);
  });

  it('the second half of a reboot (starting) still reads REBOOTING', async () => {
    sim.fleet.rebootMs = 400;
    await provider().reboot({ region: REGION, ids: [RUN], force: true, idempotencyKey: 'job-s-b1' });
    await vi.waitFor(() => expect(sim.fleet.get(REGION, RUN)?.state).toBe('starting'), { timeout: 1_000, interval: 5 });
    expect(await readOne(provider(), RUN)).toMatchObject({ phase: 'transitioning', rawStatus: 'REBOOTING', rebooting: true });
  });

  it('a machine that never comes back stays REBOOTING after the reboot time', async () => {
    sim.fleet.add(REGION, id(5), 'running', { name: 'db-never-back', neverComesBack: true });
    await provider().reboot({ region: REGION, ids: [id(5)], force: false, idempotencyKey: 'job-n-b1' });
    await new Promise((r) => setTimeout(r, 150));
    expect(await readOne(provider(), id(5))).toMatchObject({ name: 'db-never-back', phase: 'transitioning', rawStatus: 'REBOOTING', rebooting: true });
  });
});

describe('retries and failures', () => {
  it('throttling (429 AccountFlowLimitExceeded) is retried, honouring Retry-After', async () => {
    sim.faults.inject({ kind: 'throttle', count: 2, retryAfterSeconds: 1 });
    const delays: number[] = [];
    const p = provider({ retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 5_000 }, sleep: async (ms) => void delays.push(ms) });
    expect((await read(p, [RUN]))[0]).toMatchObject({ found: true, phase: 'running' });
    expect(sim.requests.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(delays).toEqual([1_000, 1_000]);
  });

  it('throttling that never clears → an error marked throttled, never "not found"', async () => {
    sim.faults.inject({ kind: 'throttle', count: 10 });
    const error = expectError(await provider().describe({ region: REGION, ids: [RUN] }));
    expect(error).toMatchObject({ code: 'AccountFlowLimitExceeded', throttled: true });
    expect(error.message).toMatch(/RequestId \d{14}/);
    expect(sim.requests).toHaveLength(4);
  });

  it('a 5xx is asked again (a read cannot act twice) and the next answer stands', async () => {
    sim.faults.inject({ kind: 'server-error', count: 2, status: 503 });
    expect((await read(provider(), [RUN]))[0]).toMatchObject({ found: true });
    expect(sim.requests.map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('5xx to the end → an error, not throttled', async () => {
    sim.faults.inject({ kind: 'server-error', count: 10 });
    const error = expectError(await provider().describe({ region: REGION, ids: [RUN] }));
    expect(error).toMatchObject({ code: 'InternalError', throttled: false });
    expect(sim.requests.map((r) => r.status)).toEqual([500, 500, 500, 500]);
  });

  it('a 200 with a body cut short is asked again; the readable answer stands', async () => {
    sim.garbleNextReads(1);
    expect((await read(provider(), [RUN]))[0]).toMatchObject({ found: true, name: 'web-01' });
    expect(sim.requests).toHaveLength(2);
  });

  it('a 200 cut short to the end → an error (UnexpectedResponse), never "not found"', async () => {
    sim.garbleNextReads(10);
    const error = expectError(await provider().describe({ region: REGION, ids: [RUN, UNKNOWN] }));
    expect(error).toMatchObject({ code: 'UnexpectedResponse', message: 'HTTP 200 answer that is not a DescribeInstances response', throttled: false });
    expect(sim.requests).toHaveLength(4);
  });

  it('a lost answer is asked again', async () => {
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    expect((await read(provider(), [RUN]))[0]).toMatchObject({ found: true });
    expect(sim.requests).toHaveLength(2);
  });

  it('a wrong secret → SignatureDoesNotMatch, not retried, nothing secret in the error', async () => {
    const wrong = 'd3Jvbmctc2VjcmV0LWtleS12b2xjZW5naW5l';
    const error = expectError(await provider({ credentials: { accessKeyId: AK, secretAccessKey: wrong } }).describe({ region: REGION, ids: [RUN] }));
    expect(error).toMatchObject({ code: 'SignatureDoesNotMatch', throttled: false });
    expect(sim.requests.map((r) => r.status)).toEqual([401]);
    const signature = /Signature=([0-9a-f]{64})/.exec(sim.requests[0]?.headers['authorization'] ?? '')?.[1] ?? 'none';
    for (const secret of [wrong, SK, signature]) expect(JSON.stringify(error)).not.toContain(secret);
  });

  it('connection refused → retried, then an error with the network code', async () => {
    const dead = url;
    await sim.stop();
    const sleeps: number[] = [];
    const error = expectError(await provider({ endpoint: dead, sleep: async (ms) => void sleeps.push(ms) }).describe({ region: REGION, ids: [RUN] }));
    expect(error).toMatchObject({ code: 'ECONNREFUSED', throttled: false });
    expect(sleeps).toHaveLength(3);
  });
});

describe('paging', () => {
  it('follows NextToken until it is empty, each page signed, and reads every instance', async () => {
    const ids = [id(10), id(11), id(12), id(13), id(14)];
    for (const i of ids) sim.fleet.add(REGION, i, 'running');
    sim.maxResultsCap = 2;
    const readings = await read(provider(), [...ids, UNKNOWN]);
    expect(readings.map((r) => r.found)).toEqual([true, true, true, true, true, false]);
    expect(sim.requests.map((r) => r.status)).toEqual([200, 200, 200]);
    const tokens = sim.requests.map((r) => params(r)['NextToken']);
    expect(tokens[0]).toBeUndefined();
    expect(tokens[1]).toMatch(/\S/);
    expect(tokens[2]).toMatch(/\S/);
    expect(tokens[2]).not.toBe(tokens[1]);
    for (const r of sim.requests) expect(params(r)['InstanceIds.6']).toBe(UNKNOWN);
  });

  it('a throttled second page is retried, and the read goes on', async () => {
    for (const i of [id(10), id(11), id(12)]) sim.fleet.add(REGION, i, 'running');
    sim.maxResultsCap = 2;
    const sleep = async (): Promise<void> => undefined;
    const seen: string[] = [];
    sim.onRequest((req) => {
      seen.push(req.query);
      if (seen.length === 2) sim.faults.inject({ kind: 'throttle', count: 1 });
    });
    const readings = await read(provider({ sleep }), [id(10), id(11), id(12)]);
    expect(readings.every((r) => r.found)).toBe(true);
    expect(sim.requests.map((r) => r.status)).toEqual([200, 429, 200]);
  });
});

describe('answers the simulator does not give', () => {
  let server: Server;
  let answers: Array<{ status: number; body: string }>;
  let served: number;
  let fakeUrl: string;

  beforeEach(async () => {
    answers = [];
    served = 0;
    server = createServer((_req, res) => {
      const a = answers[Math.min(served, answers.length - 1)] ?? { status: 500, body: '' };
      served += 1;
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(a.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    fakeUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const instance = (instanceId: string, status: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    InstanceId: instanceId,
    InstanceName: `n-${status.toLowerCase()}`,
    Hostname: `iv-${instanceId.slice(2)}`,
    Status: status,
    CreatedAt: '2024-03-11T14:01:05+08:00',
    UpdatedAt: '2024-03-11T14:02:31+08:00',
    ZoneId: 'cn-beijing-b',
    ...extra,
  });
  const page = (instances: unknown[], nextToken = ''): string =>
    JSON.stringify({ ResponseMetadata: { RequestId: 'r1', Action: 'DescribeInstances', Version: '2020-04-01', Service: 'ecs', Region: REGION }, Result: { Instances: instances, NextToken: nextToken, TotalCount: instances.length } });

  it('maps every documented status', async () => {
    const statuses = ['CREATING', 'RUNNING', 'STOPPING', 'STOPPED', 'REBOOTING', 'STARTING', 'REBUILDING', 'RESIZING', 'ERROR', 'DELETING', 'HIBERNATED'];
    const ids = statuses.map((_, i) => id(30 + i));
    answers = [{ status: 200, body: page(statuses.map((s, i) => instance(ids[i]!, s))) }];
    const readings = await read(provider({ endpoint: fakeUrl }), ids);
    const table = readings.map((r) => (r.found ? [r.rawStatus, r.phase, r.rebooting] : ['?']));
    expect(table).toEqual([
      ['CREATING', 'transitioning', false],
      ['RUNNING', 'running', false],
      ['STOPPING', 'transitioning', true],
      ['STOPPED', 'stopped', false],
      ['REBOOTING', 'transitioning', true],
      ['STARTING', 'transitioning', true],
      ['REBUILDING', 'other', false],
      ['RESIZING', 'other', false],
      ['ERROR', 'other', false],
      ['DELETING', 'transitioning', false],
      ['HIBERNATED', 'other', false],
    ]);
  });

  it('an instance without a name or a readable UpdatedAt is still read: name null, no clock', async () => {
    answers = [{ status: 200, body: page([instance(RUN, 'RUNNING', { InstanceName: '', UpdatedAt: '2024-03-11 14:02:31' })]) }];
    const reading = await readOne(provider({ endpoint: fakeUrl }), RUN);
    expect(reading).toEqual({ id: RUN, found: true, name: null, phase: 'running', rawStatus: 'RUNNING', rebooting: false });
  });

  it('a throttle inside an HTTP 200 is retried', async () => {
    answers = [
      { status: 200, body: JSON.stringify({ ResponseMetadata: { RequestId: 'r0', Error: { Code: 'AccountFlowLimitExceeded', CodeN: 100027, Message: 'slow down' } } }) },
      { status: 200, body: page([instance(RUN, 'RUNNING')]) },
    ];
    expect((await read(provider({ endpoint: fakeUrl }), [RUN]))[0]).toMatchObject({ found: true });
    expect(served).toBe(2);
  });

  it('a refusal inside an HTTP 200 is an error, not an empty read, and is not retried', async () => {
    answers = [{ status: 200, body: JSON.stringify({ ResponseMetadata: { RequestId: 'r0', Error: { Code: 'AccessDenied', CodeN: 100013, Message: 'no ecs:DescribeInstances' } } }) }];
    const error = expectError(await provider({ endpoint: fakeUrl }).describe({ region: REGION, ids: [RUN] }));
    expect(error).toEqual({ kind: 'error', code: 'AccessDenied', message: 'no ecs:DescribeInstances (RequestId r0)', throttled: false });
    expect(served).toBe(1);
  });

  it.each([
    ['no Result', JSON.stringify({ ResponseMetadata: { RequestId: 'r0' } })],
    ['an instance without Status', page([{ InstanceId: RUN, InstanceName: 'x' }])],
    ['HTML', '<html>ok</html>'],
  ])('a 200 with %s → asked again, then an error, never found:false', async (_label, body) => {
    answers = [{ status: 200, body }];
    const error = expectError(await provider({ endpoint: fakeUrl }).describe({ region: REGION, ids: [RUN] }));
    expect(error).toMatchObject({ code: 'UnexpectedResponse', throttled: false });
    expect(served).toBe(4);
  });

  it('an absent Instances list in a Result is no instances (as the vendor Terraform reads it)', async () => {
    answers = [{ status: 200, body: JSON.stringify({ ResponseMetadata: { RequestId: 'r0' }, Result: { NextToken: '' } }) }];
    expect(await read(provider({ endpoint: fakeUrl }), [RUN])).toEqual([{ id: RUN, found: false }]);
  });

  it('a 404 page is final: an error at once', async () => {
    answers = [{ status: 404, body: '<html>Not Found</html>' }];
    const error = expectError(await provider({ endpoint: fakeUrl }).describe({ region: REGION, ids: [RUN] }));
    expect(error).toMatchObject({ code: 'UnexpectedResponse', message: 'HTTP 404 answer that is not a DescribeInstances response' });
    expect(served).toBe(1);
  });

  it('a NextToken that comes back again is an error, not an endless read', async () => {
    answers = [{ status: 200, body: page([instance(RUN, 'RUNNING')], 'same') }];
    const error = expectError(await provider({ endpoint: fakeUrl }).describe({ region: REGION, ids: [RUN] }));
    expect(error).toMatchObject({ code: 'UnexpectedResponse', message: expect.stringContaining('paging did not end') });
    expect(served).toBe(2);
  });

  it('the first entry per id counts; ids not asked for are dropped', async () => {
    answers = [{ status: 200, body: page([instance(RUN, 'STOPPED'), instance(RUN, 'RUNNING'), instance(id(50), 'RUNNING')]) }];
    expect(await read(provider({ endpoint: fakeUrl }), [RUN])).toEqual([expect.objectContaining({ id: RUN, rawStatus: 'STOPPED' })]);
  });
});

describe('normalisation helpers', () => {
  it('status lookup ignores case and keeps unknown values as other', () => {
    expect(normaliseStatus('running')).toEqual({ phase: 'running', rebooting: false });
    expect(normaliseStatus('Rebooting')).toEqual({ phase: 'transitioning', rebooting: true });
    expect(normaliseStatus('')).toEqual({ phase: 'other', rebooting: false });
  });

  it('clockOf takes RFC 3339 with an offset or Z only', () => {
    expect(clockOf('2024-03-11T14:02:31+08:00')?.at).toBe(Date.UTC(2024, 2, 11, 6, 2, 31));
    expect(clockOf('2024-03-11T06:02:31Z')?.at).toBe(Date.UTC(2024, 2, 11, 6, 2, 31));
    expect(clockOf('2024-03-11T14:02:31.250-01:30')?.at).toBe(Date.UTC(2024, 2, 11, 15, 32, 31, 250));
    for (const bad of ['2024-03-11 14:02:31', '2024-03-11T14:02:31', '2024-03-11', '', 'yesterday', '2024-13-45T99:99:99+08:00', null, undefined]) {
      expect(clockOf(bad)).toBeUndefined();
    }
  });
});

describe('simulator DescribeInstances (raw requests)', () => {
  const q = (...pairs: Array<[string, string]>): Array<[string, string]> => [['Action', 'DescribeInstances'], ['Version', '2020-04-01'], ...pairs];

  it('answers Result.Instances with the documented fields, +08:00 times, unknown ids left out', async () => {
    const res = await rawCall(url, q(['InstanceIds.1', RUN], ['InstanceIds.2', UNKNOWN]));
    expect(res.status).toBe(200);
    expect(res.body.ResponseMetadata).toMatchObject({ Action: 'DescribeInstances', Version: '2020-04-01', Service: 'ecs', Region: REGION });
    expect(res.body.Result).toEqual({
      Instances: [
        {
          InstanceId: RUN,
          InstanceName: 'web-01',
          Hostname: `iv-${RUN.slice(2)}`,
          Status: 'RUNNING',
          CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/),
          UpdatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/),
          ZoneId: 'cn-beijing-a',
          ProjectName: 'default',
        },
      ],
      NextToken: '',
      TotalCount: 1,
    });
  });

  it('without InstanceIds it lists the whole region; MaxResults pages it with NextToken', async () => {
    const first = await rawCall(url, q(['MaxResults', '2']));
    const ids = (r: typeof first): unknown[] => (r.body.Result?.['Instances'] as Array<{ InstanceId: string }>).map((i) => i.InstanceId);
    expect(ids(first)).toEqual([RUN, STOP]);
    expect(first.body.Result?.['TotalCount']).toBe(3);
    const token = first.body.Result?.['NextToken'];
    expect(typeof token === 'string' && token.length > 0).toBe(true);
    const second = await rawCall(url, q(['MaxResults', '2'], ['NextToken', String(token)]));
    expect(ids(second)).toEqual([OTHER]);
    expect(second.body.Result?.['NextToken']).toBe('');
  });

  it.each([
    ['a NextToken it never gave', q(['NextToken', 'bm9wZQ'])],
    ['MaxResults 0', q(['MaxResults', '0'])],
    ['MaxResults 101', q(['MaxResults', '101'])],
    ['101 ids', q(...Array.from({ length: 101 }, (_, i): [string, string] => [`InstanceIds.${i + 1}`, id(200 + i)]))],
  ])('%s → 400 InvalidParameter', async (_label, query) => {
    const res = await rawCall(url, query);
    expect(res.status).toBe(400);
    expect(res.body.ResponseMetadata['Error']).toMatchObject({ Code: 'InvalidParameter' });
  });

  it('checks the signature as for the reboot call', async () => {
    const res = await rawCall(url, q(['InstanceIds.1', RUN]), { authorization: `HMAC-SHA256 Credential=${AK}/20240101/cn-beijing/ecs/request, SignedHeaders=host;x-date, Signature=${'0'.repeat(64)}` });
    expect(res.status).toBe(401);
    expect(res.body.ResponseMetadata['Error']).toMatchObject({ Code: 'SignatureDoesNotMatch', CodeN: 100010 });
    expect(res.body).not.toHaveProperty('Result');
  });

  it('act-then-fail faults are left for the reboot call', async () => {
    sim.faults.inject({ kind: 'actThenFail', count: 1, status: 502 });
    expect((await rawCall(url, q(['InstanceIds.1', RUN]))).status).toBe(200);
    const reboot = await rawCall(url, [['Action', 'RebootInstances'], ['Version', '2020-04-01'], ['InstanceIds.1', RUN], ['ClientToken', 't-1']]);
    expect(reboot.status).toBe(502);
  });
});

describe('local fleet', () => {
  it('keeps the known ids, names every instance and has one that never comes back from a reboot', async () => {
    const fleet = volcengine.local.fleet;
    expect(fleet.map((i) => i.id).slice(0, 3)).toEqual(['i-ycc01lmwecgh9z3sq001', 'i-ycc01lmwecgh9z3sq002', 'i-ycc01lmwecgh9z3sq003']);
    expect(fleet.every((i) => typeof i.name === 'string' && i.name.length > 0)).toBe(true);
    const never = fleet.filter((i) => i.neverComesBack);
    expect(never).toEqual([expect.objectContaining({ name: 'db-never-back', state: 'running' })]);
    expect(fleet.every((i) => volcengine.info.isInstanceId(i.id))).toBe(true);

    const local = new VolcengineSimulator({ credentials: { [AK]: SK }, rebootMs: 40 });
    try {
      const localUrl = await local.start();
      seedFleet(volcengine.local, local);
      const p = provider({ endpoint: localUrl });
      const neverId = never[0]!.id;
      expect((await p.reboot({ region: REGION, ids: [neverId], force: false, idempotencyKey: 'local-1' })).outcomes).toEqual([{ id: neverId, status: 'succeeded' }]);
      await new Promise((r) => setTimeout(r, 120));
      const readings = await read(p, fleet.map((i) => i.id));
      expect(readings.map((r) => (r.found ? [r.name, r.rawStatus] : null))).toEqual([
        ['web-bj-01', 'RUNNING'],
        ['web-bj-02', 'RUNNING'],
        ['batch-bj-stopped', 'STOPPED'],
        ['db-never-back', 'REBOOTING'],
      ]);
    } finally {
      await local.stop();
    }
  });
});
