import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAlibabaProvider, type AlibabaCredentials } from '../../../src/providers/alibaba/client.js';
import { verify } from '../../../src/providers/alibaba/signer.js';
import { AlibabaSimulator, minuteTime, type AlibabaSimulatorOptions } from '../../../src/providers/alibaba/simulator.js';
import type { ClientOptions, DescribeResult, InstanceReading, Provider } from '../../../src/providers/provider.js';
import type { RetryPolicy } from '../../../src/providers/retry.js';
import { decodeRawQuery } from '../../../src/providers/signing.js';
import type { RecordedRequest } from '../../../src/providers/simulator-kit.js';

const AK = 'LTAI5tTestAccessKey';
const SECRET = 'TestSecretValue-0123456789abcdef';
const REGION = 'cn-hangzhou';
const RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };
const A = 'i-aaaaaaaaaaaaaaaaaaaa';
const B = 'i-bbbbbbbbbbbbbbbbbbbb';
const C = 'i-cccccccccccccccccccc';
const MISSING = 'i-missing0000000000001';
const DAY_MS = 24 * 3_600_000;

let sim: AlibabaSimulator;
let url: string;

async function startSim(options: Partial<AlibabaSimulatorOptions> = {}): Promise<void> {
  await sim.stop();
  sim = new AlibabaSimulator({ credentials: { [AK]: SECRET }, rebootMs: 150, ...options });
  url = await sim.start();
}

beforeEach(async () => {
  sim = new AlibabaSimulator({ credentials: { [AK]: SECRET }, rebootMs: 150 });
  url = await sim.start();
});

afterEach(async () => {
  await sim.stop();
});

function provider(overrides: Partial<ClientOptions<AlibabaCredentials>> = {}): Provider {
  return createAlibabaProvider({ credentials: { accessKeyId: AK, accessKeySecret: SECRET }, endpoint: url, retry: RETRY, timeoutMs: 2_000, ...overrides });
}

function readings(result: DescribeResult): Record<string, InstanceReading> {
  if (result.kind !== 'read') throw new Error(`expected a read, got ${JSON.stringify(result)}`);
  return Object.fromEntries(result.readings.map((r) => [r.id, r]));
}

function params(rec: RecordedRequest | undefined): Record<string, string> {
  return Object.fromEntries(decodeRawQuery(rec?.query ?? '') ?? []);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('describe against the simulator', () => {
  it('sends one signed DescribeInstances with InstanceIds as JSON and maps running, stopped, locked and unknown ids', async () => {
    sim.fleet.add(REGION, A, 'running', { name: 'web-1' });
    sim.fleet.add(REGION, B, 'stopped', { name: 'batch-1' });
    sim.fleet.add(REGION, C, 'running', { name: 'billing', lockReason: 'financial' });
    const before = Date.now();
    const result = await provider().describe({ region: REGION, ids: [A, B, C, MISSING] });

    expect(result.kind).toBe('read');
    const byId = readings(result);
    const startedAt = sim.fleet.get(REGION, A)?.startedAt ?? NaN;
    const raw = minuteTime(startedAt);
    expect(raw).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$/);
    expect(byId[A]).toEqual({
      id: A,
      found: true,
      name: 'web-1',
      phase: 'running',
      rawStatus: 'Running',
      rebooting: false,
      clock: { field: 'StartTime', raw, at: Math.floor(startedAt / 60_000) * 60_000, precisionMs: 60_000, provesReboot: true },
    });
    expect(byId[B]).toMatchObject({ found: true, name: 'batch-1', phase: 'stopped', rawStatus: 'Stopped', rebooting: false });
    expect(byId[C]).toMatchObject({ found: true, name: 'billing', phase: 'locked', rawStatus: 'Running', lockReason: 'financial', rebooting: false });
    expect(byId[MISSING]).toEqual({ id: MISSING, found: false });
    expect(result.kind === 'read' && result.readings.map((r) => r.id)).toEqual([A, B, C, MISSING]);

    // Found some ids, so no permission probe: one request.
    expect(sim.requests).toHaveLength(1);
    const rec = sim.requests[0] as RecordedRequest;
    expect(rec).toMatchObject({ method: 'POST', path: '/', body: '', status: 200 });
    expect(rec.headers).toMatchObject({ 'x-acs-action': 'DescribeInstances', 'x-acs-version': '2014-05-26' });
    expect(rec.query).toBe(`InstanceIds=%5B%22${A}%22%2C%22${B}%22%2C%22${C}%22%2C%22${MISSING}%22%5D&MaxResults=100&RegionId=${REGION}`);
    expect(params(rec)['InstanceIds']).toBe(JSON.stringify([A, B, C, MISSING]));
    expect(verify({ ...rec, query: decodeRawQuery(rec.query) ?? [] }, (ak) => (ak === AK ? SECRET : undefined))).toEqual({ ok: true, accessKeyId: AK });

    // serverTime: the simulator's HTTP Date header, whole seconds.
    expect(result.kind === 'read' && result.serverTime).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(result.kind === 'read' && (result.serverTime ?? 1) % 1000).toBe(0);
  });

  it('treats an instance of another region as unknown (the region is part of the filter)', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add('cn-beijing', B);
    const byId = readings(await provider().describe({ region: REGION, ids: [A, B] }));
    expect(byId[A]).toMatchObject({ found: true });
    expect(byId[B]).toEqual({ id: B, found: false });
  });

  it('shows Stopping, then Starting, with rebooting set, and a moved StartTime once running again after the client reboots it', async () => {
    await startSim({ rebootMs: 600 });
    sim.fleet.add(REGION, A, 'running', { name: 'web-1' });
    const p = provider();
    const first = readings(await p.describe({ region: REGION, ids: [A] }))[A];
    expect(first).toMatchObject({ phase: 'running', rebooting: false });
    const beforeAt = first?.found ? first.clock?.at : undefined;
    expect(beforeAt).toBeLessThan(Date.now() - DAY_MS / 2);

    const rebootedAt = Date.now();
    expect((await p.reboot({ region: REGION, ids: [A], force: false, idempotencyKey: 'j-b1' })).outcomes[0]?.status).toBe('succeeded');
    expect(readings(await p.describe({ region: REGION, ids: [A] }))[A]).toMatchObject({ phase: 'transitioning', rawStatus: 'Stopping', rebooting: true, name: 'web-1' });
    await sleep(400);
    expect(readings(await p.describe({ region: REGION, ids: [A] }))[A]).toMatchObject({ phase: 'transitioning', rawStatus: 'Starting', rebooting: true });
    await sleep(400);
    const after = readings(await p.describe({ region: REGION, ids: [A] }))[A];
    expect(after).toMatchObject({ phase: 'running', rawStatus: 'Running', rebooting: false });
    const afterAt = after?.found ? after.clock?.at : undefined;
    // The recipe's proof: StartTime past the earlier reading, and not before the reboot's minute.
    expect(afterAt).toBeGreaterThan(beforeAt ?? Infinity);
    expect(afterAt).toBeGreaterThanOrEqual(Math.floor(rebootedAt / 60_000) * 60_000);
  });

  it('keeps the machine that never comes back in Starting', async () => {
    sim.fleet.add(REGION, A, 'running', { name: 'db-never-back', neverComesBack: true });
    const p = provider();
    await p.reboot({ region: REGION, ids: [A], force: false, idempotencyKey: 'j-b1' });
    await sleep(400);
    expect(readings(await p.describe({ region: REGION, ids: [A] }))[A]).toMatchObject({ phase: 'transitioning', rawStatus: 'Starting', rebooting: true });
  });

  it('follows NextToken when ECS pages the answer', async () => {
    await startSim({ describePageSize: 10 });
    const ids = Array.from({ length: 25 }, (_, i) => `i-${String(i).padStart(20, '0')}`);
    for (const id of ids) sim.fleet.add(REGION, id);
    const result = await provider().describe({ region: REGION, ids: [...ids, MISSING] });
    const byId = readings(result);
    expect(ids.every((id) => byId[id]?.found === true)).toBe(true);
    expect(byId[MISSING]).toEqual({ id: MISSING, found: false });
    expect(sim.requests.map((r) => params(r)['NextToken'])).toEqual([undefined, 'sim-10', 'sim-20']);
    // Every page carries the same InstanceIds text.
    expect(new Set(sim.requests.map((r) => params(r)['InstanceIds'])).size).toBe(1);
  });

  it('proves all-missing ids unknown with a DryRun that answers DryRunOperation', async () => {
    sim.fleet.add(REGION, A);
    const result = await provider().describe({ region: REGION, ids: [MISSING, B] });
    expect(result).toMatchObject({ kind: 'read', readings: [{ id: MISSING, found: false }, { id: B, found: false }] });
    expect(sim.requests.map((r) => [params(r)['DryRun'], r.status])).toEqual([
      [undefined, 200],
      ['true', 400],
    ]);
  });

  it('reports a key without read permission (empty list, then Forbidden.RAM to the DryRun) as an error, never as unknown ids', async () => {
    await startSim({ access: { read: 'empty-list' } });
    sim.fleet.add(REGION, A);
    const result = await provider().describe({ region: REGION, ids: [A] });
    expect(result).toMatchObject({ kind: 'error', code: 'Forbidden.RAM', throttled: false });
    expect(result.kind === 'error' && result.message).toMatch(/not authorized.*may not read them \(RAM permission\), not because they do not exist/);
    expect(sim.requests.map((r) => [params(r)['DryRun'], r.status])).toEqual([
      [undefined, 200],
      ['true', 403],
    ]);
  });

  it('reports the 403 Forbidden.RAM that ECS answers since 2025-12-20 as an error of the read', async () => {
    sim.access.read = 'forbidden';
    sim.fleet.add(REGION, A);
    const result = await provider().describe({ region: REGION, ids: [A] });
    expect(result).toMatchObject({ kind: 'error', code: 'Forbidden.RAM', throttled: false });
    expect(sim.requests.map((r) => r.status)).toEqual([403]);
  });

  it('retries throttling and reads', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'throttle', count: 2 });
    const result = await provider().describe({ region: REGION, ids: [A] });
    expect(readings(result)[A]).toMatchObject({ found: true, phase: 'running' });
    expect(sim.requests.map((r) => r.status)).toEqual([400, 400, 200]);
  });

  it('honours Retry-After on a throttled read', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'throttle', count: 1, retryAfterSeconds: 3 });
    const sleeps: number[] = [];
    const result = await provider({ sleep: async (ms) => void sleeps.push(ms), retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 10_000 } }).describe({ region: REGION, ids: [A] });
    expect(result.kind).toBe('read');
    expect(sleeps).toEqual([3_000]);
  });

  it('gives up on persistent throttling with a throttled error', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'throttle', count: 10 });
    const result = await provider().describe({ region: REGION, ids: [A] });
    expect(result).toMatchObject({ kind: 'error', code: 'Throttling.User', throttled: true });
    expect(sim.requests).toHaveLength(RETRY.maxAttempts);
  });

  it('retries a 5xx (a read changes nothing), then reads', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'server-error', count: 2 });
    expect(readings(await provider().describe({ region: REGION, ids: [A] }))[A]).toMatchObject({ found: true });
    expect(sim.requests.map((r) => r.status)).toEqual([500, 500, 200]);
  });

  it('returns an error, not "not found", when 5xx persists', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'server-error', count: 10, status: 503 });
    const result = await provider().describe({ region: REGION, ids: [A] });
    expect(result).toMatchObject({ kind: 'error', code: 'ServiceUnavailable', throttled: false });
    expect(sim.requests).toHaveLength(RETRY.maxAttempts);
  });

  it('sends a read again after a dropped answer', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    expect(readings(await provider().describe({ region: REGION, ids: [A] }))[A]).toMatchObject({ found: true });
    expect(sim.requests).toHaveLength(2);
  });

  it('reports a bad signature as an error after one request, without leaking the secret', async () => {
    sim.fleet.add(REGION, A);
    const wrong = 'WrongSecret-ffffffffffffffff';
    const result = await provider({ credentials: { accessKeyId: AK, accessKeySecret: wrong } }).describe({ region: REGION, ids: [A] });
    expect(result).toMatchObject({ kind: 'error', code: 'SignatureDoesNotMatch', throttled: false });
    expect(sim.requests).toHaveLength(1);
    expect(JSON.stringify(result)).not.toContain(wrong);
  });

  it('refuses a bad region and more than 100 ids without sending anything', async () => {
    expect(await provider().describe({ region: 'cn hangzhou', ids: [A] })).toMatchObject({ kind: 'error', code: 'InvalidRegion' });
    const ids = Array.from({ length: 101 }, (_, i) => `i-${String(i).padStart(20, '0')}`);
    expect(await provider().describe({ region: REGION, ids })).toMatchObject({ kind: 'error', code: 'BatchTooLarge' });
    expect(sim.requests).toHaveLength(0);
  });

  it('answers InstanceIds=[] with an empty list, as ECS documents (which is why the client never sends it)', async () => {
    sim.fleet.add(REGION, A);
    const res = await provider().describe({ region: REGION, ids: [] });
    expect(res).toEqual({ kind: 'read', readings: [] });
    expect(sim.requests).toHaveLength(0);
  });
});

describe('answers the simulator never gives', () => {
  let server: Server;
  let answers: Array<{ status: number; body: string }>;
  let queries: string[];

  beforeEach(async () => {
    queries = [];
    answers = [];
    server = createServer((req, res) => {
      queries.push(req.url ?? '');
      req.resume();
      req.on('end', () => {
        const next = answers.length > 1 ? answers.shift() : answers[0];
        res.writeHead(next?.status ?? 500, { 'content-type': 'application/json' });
        res.end(next?.body ?? '');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const custom = (): Provider => provider({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const page = (instances: unknown[], nextToken = ''): { status: number; body: string } => ({
    status: 200,
    body: JSON.stringify({ RequestId: 'R-1', NextToken: nextToken, Instances: { Instance: instances } }),
  });

  it('maps Pending, an undocumented status, a security lock on a stopped instance, a missing name and a StartTime with seconds', async () => {
    answers = [
      page([
        { InstanceId: A, Status: 'Pending', InstanceName: '', StartTime: '2024-04-14T22:32Z' },
        { InstanceId: B, Status: 'Migrating', InstanceName: 'odd', StartTime: 'soon' },
        { InstanceId: C, Status: 'Stopped', InstanceName: 'sec', OperationLocks: { LockReason: [{ LockReason: 'security', LockMsg: 'x' }, { LockReason: 'financial' }] } },
        { InstanceId: MISSING, Status: 'Starting', StartTime: '2024-04-14T22:32:05Z', OperationLocks: { LockReason: [{}] } },
      ]),
    ];
    const byId = readings(await custom().describe({ region: REGION, ids: [A, B, C, MISSING] }));
    expect(byId[A]).toMatchObject({ phase: 'transitioning', rebooting: false, name: null, clock: { at: Date.UTC(2024, 3, 14, 22, 32), precisionMs: 60_000 } });
    expect(byId[B]).toEqual({ id: B, found: true, name: 'odd', phase: 'other', rawStatus: 'Migrating', rebooting: false });
    expect(byId[C]).toMatchObject({ phase: 'locked', rawStatus: 'Stopped', lockReason: 'security, financial' });
    expect(byId[MISSING]).toMatchObject({ phase: 'locked', rebooting: true, lockReason: 'unspecified', clock: { at: Date.UTC(2024, 3, 14, 22, 32, 5), precisionMs: 1_000 } });
  });

  it('treats an unreadable 2xx as an error after retries, never as "not found"', async () => {
    answers = [{ status: 200, body: '{"RequestId":"R-2","Instances":' }];
    expect(await custom().describe({ region: REGION, ids: [A] })).toMatchObject({ kind: 'error', code: 'UnexpectedResponse', throttled: false });
    expect(queries).toHaveLength(RETRY.maxAttempts);
    queries = [];
    answers = [{ status: 200, body: JSON.stringify({ RequestId: 'R-3', TotalCount: 0 }) }];
    expect(await custom().describe({ region: REGION, ids: [A] })).toMatchObject({ kind: 'error', code: 'UnexpectedResponse' });
    expect(queries).toHaveLength(RETRY.maxAttempts);
  });

  it('does not claim "not found" when the DryRun probe is throttled out, or answers with data', async () => {
    answers = [page([]), { status: 400, body: JSON.stringify({ Code: 'Throttling', Message: 'Request was denied due to request throttling.' }) }];
    const throttled = await custom().describe({ region: REGION, ids: [A] });
    expect(throttled).toMatchObject({ kind: 'error', code: 'Throttling', throttled: true });
    expect(throttled.kind === 'error' && throttled.message).toContain('failed');
    expect(queries).toHaveLength(1 + RETRY.maxAttempts);

    answers = [page([])];
    expect(await custom().describe({ region: REGION, ids: [A] })).toMatchObject({ kind: 'error', code: 'UnexpectedResponse' });
  });

  it('stops a paging that repeats its NextToken', async () => {
    answers = [page([{ InstanceId: A, Status: 'Running' }], 'again')];
    expect(await custom().describe({ region: REGION, ids: [A, B] })).toMatchObject({ kind: 'error', code: 'UnexpectedResponse' });
    expect(queries).toHaveLength(2);
  });

  it('ignores an instance it did not ask for', async () => {
    answers = [page([{ InstanceId: A, Status: 'Running' }, { InstanceId: 'i-stray000000000000001', Status: 'Running' }])];
    const result = await custom().describe({ region: REGION, ids: [A] });
    expect(result.kind === 'read' && result.readings.map((r) => r.id)).toEqual([A]);
  });
});
