import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sendHttp, type HttpResponse } from '../../../src/providers/http.js';
import type { DescribeResult, InstanceReading, RebootCall } from '../../../src/providers/provider.js';
import type { RetryPolicy } from '../../../src/providers/retry.js';
import { compactIso, type QueryPair } from '../../../src/providers/signing.js';
import type { RecordedRequest } from '../../../src/providers/simulator-kit.js';
import { createHuaweiProvider, huaweiCalls, type HuaweiClientOptions } from '../../../src/providers/huawei/client.js';
import { readingOf, ServerDetailSchema } from '../../../src/providers/huawei/describe.js';
import { canonicalQueryString, signRequest } from '../../../src/providers/huawei/signer.js';
import { HuaweiSimulator } from '../../../src/providers/huawei/simulator.js';

const AK = 'HWTESTAK0123456789AB';
const SK = 'hw-test-secret-do-not-leak-0123456789';
const PROJECT = '0123456789abcdef0123456789abcdef';
const OTHER_PROJECT = 'fedcba9876543210fedcba9876543210';
const REGION = 'cn-north-4';
const TINY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };
const REBOOT_MS = 400;

function serverId(n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `${hex.slice(4)}-0000-4000-8000-${hex}`;
}

let sim: HuaweiSimulator;
let url: string;

async function startSim(extra: { stuckSubJobMs?: number } = {}): Promise<void> {
  sim = new HuaweiSimulator({ credentials: { [AK]: SK }, rebootMs: REBOOT_MS, subJobSpreadMs: 0, ...extra });
  url = await sim.start();
}

beforeEach(async () => {
  await startSim();
});

afterEach(async () => {
  await sim.stop();
});

function options(overrides: Partial<HuaweiClientOptions> = {}): HuaweiClientOptions {
  return {
    credentials: { accessKeyId: AK, secretAccessKey: SK, projectId: PROJECT },
    endpoint: url,
    retry: TINY,
    timeoutMs: 2_000,
    pollInitialDelayMs: 5,
    pollMaxDelayMs: 20,
    pollTimeoutMs: 5_000,
    ...overrides,
  };
}

const provider = (overrides: Partial<HuaweiClientOptions> = {}) => createHuaweiProvider(options(overrides));

function rebootCall(ids: string[], force = false): RebootCall {
  return { region: REGION, ids, force, idempotencyKey: 'job1-b1' };
}

const reads = (): RecordedRequest[] => sim.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/cloudservers/detail'));

function readings(result: DescribeResult): InstanceReading[] {
  if (result.kind !== 'read') throw new Error(`expected a read, got ${JSON.stringify(result)}`);
  return result.readings;
}

function reading(result: DescribeResult, id: string): InstanceReading {
  const found = readings(result).find((r) => r.id === id);
  if (!found) throw new Error(`no reading for ${id}`);
  return found;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A correctly signed GET sent by hand, with a query, to see what the simulator answers on the wire. */
async function rawList(query: QueryPair[]): Promise<HttpResponse> {
  const target = new URL(`${url}/v1/${PROJECT}/cloudservers/detail`);
  const headers: Record<string, string> = { host: target.host, 'x-project-id': PROJECT, 'x-sdk-date': compactIso(new Date()) };
  const { authorization } = signRequest({
    method: 'GET',
    path: target.pathname,
    query,
    headers,
    body: '',
    sdkDate: headers['x-sdk-date'] ?? '',
    accessKeyId: AK,
    secretAccessKey: SK,
  });
  return sendHttp({ method: 'GET', url: new URL(`${target.href}?${canonicalQueryString(query)}`), headers: { ...headers, authorization }, timeoutMs: 2_000 });
}

describe('describe: the request', () => {
  it('sends one signed GET with limit=100 and server_id as %2C-joined ids, sorted, body empty', async () => {
    const [a, b] = [serverId(1), serverId(2)];
    sim.fleet.add(REGION, a!, 'running');
    sim.fleet.add(REGION, b!, 'running');
    const result = await provider().describe({ region: REGION, ids: [a!, b!] });
    expect(readings(result)).toHaveLength(2);
    expect(reads()).toHaveLength(1);
    const req = reads()[0]!;
    expect(req.path).toBe(`/v1/${PROJECT}/cloudservers/detail`);
    expect(req.query).toBe(`limit=100&server_id=${a}%2C${b}`);
    expect(req.body).toBe('');
    expect(req.status).toBe(200);
    expect(req.headers['x-project-id']).toBe(PROJECT);
    expect(req.headers['content-type']).toBeUndefined();
    expect(req.headers['authorization']).toMatch(new RegExp(`^SDK-HMAC-SHA256 Access=${AK}, SignedHeaders=host;x-project-id;x-sdk-date, Signature=[0-9a-f]{64}$`));
  });

  it('uses the per-region project id, like the reboot call', async () => {
    const id = serverId(1);
    sim.fleet.add(REGION, id, 'running');
    const p = provider({ credentials: { accessKeyId: AK, secretAccessKey: SK, projectId: PROJECT, projectIds: { [REGION]: OTHER_PROJECT } } });
    await p.describe({ region: REGION, ids: [id] });
    await p.describe({ region: 'cn-east-3', ids: [id] });
    expect(reads().map((r) => [r.path, r.headers['x-project-id']])).toEqual([
      [`/v1/${OTHER_PROJECT}/cloudservers/detail`, OTHER_PROJECT],
      [`/v1/${PROJECT}/cloudservers/detail`, PROJECT],
    ]);
  });

  it('sets serverTime from the answer’s Date header', async () => {
    const id = serverId(1);
    sim.fleet.add(REGION, id, 'running');
    const before = Date.now();
    const result = await provider().describe({ region: REGION, ids: [id] });
    expect(result.kind).toBe('read');
    const serverTime = result.kind === 'read' ? result.serverTime : undefined;
    // The Date header has whole seconds.
    expect(serverTime).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(serverTime).toBeLessThanOrEqual(Date.now());
  });
});

describe('describe: normalisation against the simulator', () => {
  it('maps running, stopped, locked, frozen and unknown servers, with names and the updated clock', async () => {
    const [running, stopped, locked, frozen, missing] = [1, 2, 3, 4, 5].map(serverId) as [string, string, string, string, string];
    const up = sim.fleet.add(REGION, running, 'running', { name: 'web-01' });
    sim.fleet.add(REGION, stopped, 'stopped', { name: 'batch-01' });
    sim.fleet.add(REGION, locked, 'running', { name: 'pay-01', lockReason: 'locked' });
    sim.fleet.add(REGION, frozen, 'running', { name: 'arrears-01', lockReason: 'freeze' });
    const result = await provider().describe({ region: REGION, ids: [running, stopped, locked, frozen, missing] });
    const clock = { field: 'updated', raw: new Date(up.updatedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'), at: Math.floor(up.updatedAt / 1000) * 1000, precisionMs: 1000, provesReboot: false };
    expect(readings(result)).toEqual([
      { id: running, found: true, name: 'web-01', phase: 'running', rawStatus: 'ACTIVE', rebooting: false, clock },
      { id: stopped, found: true, name: 'batch-01', phase: 'stopped', rawStatus: 'SHUTOFF', rebooting: false, clock: expect.objectContaining({ field: 'updated' }) },
      { id: locked, found: true, name: 'pay-01', phase: 'locked', lockReason: 'locked', rawStatus: 'ACTIVE / locked', rebooting: false, clock: expect.objectContaining({ field: 'updated' }) },
      { id: frozen, found: true, name: 'arrears-01', phase: 'locked', lockReason: 'freeze', rawStatus: 'ACTIVE / EcmResStatus freeze', rebooting: false, clock: expect.objectContaining({ field: 'updated' }) },
      { id: missing, found: false },
    ]);
  });

  it('answers in the order asked, once per id, whatever order and repeats the cloud sends', async () => {
    const [a, b] = [serverId(1), serverId(2)];
    sim.injectResponse({
      on: 'list',
      status: 200,
      body: { count: 3, servers: [{ id: b, name: 'b', status: 'SHUTOFF' }, { id: a, name: 'a', status: 'ACTIVE' }, { id: b, name: 'b2', status: 'ACTIVE' }] },
    });
    const result = await provider().describe({ region: REGION, ids: [a!, b!] });
    expect(readings(result).map((r) => [r.id, r.found && r.name])).toEqual([[a, 'a'], [b, 'b']]);
  });

  it('reads DELETED and SOFT_DELETED as gone (found:false with the status), and every other documented status', async () => {
    const statuses: Array<[status: string, task: string | null, phase: string | null, rebooting: boolean]> = [
      ['DELETED', null, null, false],
      ['SOFT_DELETED', null, null, false],
      ['ACTIVE', 'reboot_pending', 'transitioning', true],
      ['ACTIVE', 'image_snapshot', 'transitioning', false],
      ['REBOOT', 'rebooting', 'transitioning', true],
      ['HARD_REBOOT', 'reboot_started_hard', 'transitioning', true],
      ['BUILD', 'spawning', 'transitioning', false],
      ['MIGRATING', 'migrating', 'transitioning', false],
      ['RESIZE', 'resize_prep', 'transitioning', false],
      ['REBUILD', 'rebuilding', 'transitioning', false],
      ['VERIFY_RESIZE', null, 'transitioning', false],
      ['REVERT_RESIZE', 'resize_reverting', 'transitioning', false],
      ['ERROR', null, 'other', false],
      ['PAUSED', null, 'other', false],
      ['SUSPENDED', null, 'other', false],
      ['SHELVED', null, 'other', false],
      ['SHELVED_OFFLOADED', null, 'other', false],
      ['UNKNOWN', null, 'other', false],
    ];
    const ids = statuses.map((_, i) => serverId(100 + i));
    sim.injectResponse({
      on: 'list',
      status: 200,
      body: {
        count: ids.length,
        servers: statuses.map(([status, task], i) => ({ id: ids[i], name: `s${i}`, status, 'OS-EXT-STS:task_state': task, updated: '2019-05-22T03:30:52Z', locked: false, metadata: {} })),
      },
    });
    const result = await provider().describe({ region: REGION, ids });
    expect(readings(result)).toEqual(
      statuses.map(([status, task, phase, rebooting], i) =>
        phase === null
          ? { id: ids[i], found: false, rawStatus: status }
          : {
              id: ids[i],
              found: true,
              name: `s${i}`,
              phase,
              rawStatus: task ? `${status} / task ${task}` : status,
              rebooting,
              clock: { field: 'updated', raw: '2019-05-22T03:30:52Z', at: Date.UTC(2019, 4, 22, 3, 30, 52), precisionMs: 1000, provesReboot: false },
            },
      ),
    );
  });

  it('shows the reboot the client started: REBOOT while it runs, ACTIVE after, with updated moved past the reboot', async () => {
    const id = serverId(1);
    const instance = sim.fleet.add(REGION, id, 'running', { name: 'web-01' });
    const p = provider();
    const before = reading(await p.describe({ region: REGION, ids: [id] }), id);
    expect(before).toMatchObject({ found: true, phase: 'running', rebooting: false });

    const accepted = await huaweiCalls(options()).reboot(rebootCall([id]), { track: (s) => s });
    expect(accepted.pending?.ids).toEqual([id]);
    const rebootAt = accepted.serverTime!;
    expect(rebootAt).toBeGreaterThan(0);

    const going = reading(await p.describe({ region: REGION, ids: [id] }), id);
    expect(going).toMatchObject({ found: true, phase: 'transitioning', rebooting: true, rawStatus: 'REBOOT / task rebooting' });
    await until('the instance to start again', () => instance.state === 'starting');
    const coming = reading(await p.describe({ region: REGION, ids: [id] }), id);
    expect(coming).toMatchObject({ found: true, phase: 'transitioning', rebooting: true, rawStatus: 'REBOOT / task reboot_started' });

    await until('the instance to run again', () => instance.state === 'running');
    const after = reading(await p.describe({ region: REGION, ids: [id] }), id);
    expect(after).toMatchObject({ found: true, phase: 'running', rebooting: false, rawStatus: 'ACTIVE' });
    if (!after.found || !before.found) throw new Error('not found');
    expect(after.clock!.at).toBeGreaterThan(before.clock!.at);
    // Whole seconds on both sides: `updated` is never earlier than the second the cloud took the reboot.
    expect(after.clock!.at).toBeGreaterThanOrEqual(Math.floor(rebootAt / 1000) * 1000);
    expect(after.clock!.provesReboot).toBe(false);
  });

  it('a forced reboot reads HARD_REBOOT with the _hard task states', async () => {
    const id = serverId(1);
    const instance = sim.fleet.add(REGION, id, 'running');
    await provider().reboot(rebootCall([id], true));
    expect(reading(await provider().describe({ region: REGION, ids: [id] }), id)).toMatchObject({ rebooting: true, rawStatus: 'HARD_REBOOT / task rebooting_hard' });
    await until('the instance to start again', () => instance.state === 'starting');
    expect(reading(await provider().describe({ region: REGION, ids: [id] }), id)).toMatchObject({ rebooting: true, rawStatus: 'HARD_REBOOT / task reboot_started_hard' });
  });

  it('a server that never comes back: its sub-job ends FAIL after a while, and the read still shows it rebooting', async () => {
    await sim.stop();
    await startSim({ stuckSubJobMs: 700 });
    const [ok, stuck] = [serverId(1), serverId(2)];
    sim.fleet.add(REGION, ok, 'running');
    const never = sim.fleet.add(REGION, stuck, 'running', { name: 'db-never-back', neverComesBack: true });
    const { pending } = await provider().reboot(rebootCall([ok, stuck]));
    const started = Date.now();
    const outcomes = await provider().poll!({ region: REGION, handle: pending! });
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
    expect(outcomes).toEqual([
      expect.objectContaining({ id: ok, status: 'succeeded' }),
      { id: stuck, status: 'failed', code: 'Ecs.0000', message: expect.stringContaining('did not become ACTIVE') },
    ]);
    expect(never.state).toBe('starting');
    expect(reading(await provider().describe({ region: REGION, ids: [stuck] }), stuck)).toMatchObject({
      found: true,
      name: 'db-never-back',
      phase: 'transitioning',
      rebooting: true,
      rawStatus: 'REBOOT / task reboot_started',
    });
  });

  it('a locked server’s reboot sub-job fails and the server is not rebooted', async () => {
    const id = serverId(1);
    sim.fleet.add(REGION, id, 'running', { lockReason: 'freeze' });
    const { pending } = await provider().reboot(rebootCall([id]));
    const outcomes = await provider().poll!({ region: REGION, handle: pending! });
    expect(outcomes).toEqual([{ id, status: 'failed', code: 'Ecs.0100', message: expect.stringContaining('frozen') }]);
    expect(sim.fleet.totalReboots()).toBe(0);
  });
});

describe('describe: paging', () => {
  it('follows marker while a page comes back full', async () => {
    const ids = [1, 2, 3, 4, 5].map(serverId);
    for (const id of ids.slice(0, 4)) sim.fleet.add(REGION, id, 'running');
    const result = await provider({ describePageSize: 2 }).describe({ region: REGION, ids });
    expect(readings(result).map((r) => [r.id, r.found])).toEqual(ids.map((id, i) => [id, i < 4]));
    const joined = ids.join('%2C');
    expect(reads().map((r) => r.query)).toEqual([
      `limit=2&server_id=${joined}`,
      `limit=2&marker=${ids[1]}&server_id=${joined}`,
      `limit=2&marker=${ids[3]}&server_id=${joined}`,
    ]);
  });

  it('stops asking when every id is answered, even on a full page', async () => {
    const ids = [1, 2].map(serverId);
    for (const id of ids) sim.fleet.add(REGION, id, 'running');
    const result = await provider({ describePageSize: 2 }).describe({ region: REGION, ids });
    expect(readings(result)).toHaveLength(2);
    expect(reads()).toHaveLength(1);
  });

  it('stops when the cloud ignores the marker, leaving the ids it never answered out (unread, not "not found")', async () => {
    const ids = [1, 2, 3].map(serverId);
    const page = { count: 3, servers: ids.slice(0, 2).map((id) => ({ id, name: 'x', status: 'ACTIVE' })) };
    sim.injectResponse({ on: 'list', status: 200, body: page, count: 10 });
    const result = await provider({ describePageSize: 2 }).describe({ region: REGION, ids });
    expect(readings(result).map((r) => r.id)).toEqual(ids.slice(0, 2));
    expect(reads()).toHaveLength(2);
  });
});

describe('describe: failures are errors, never "not found"', () => {
  it('retries throttling and reads', async () => {
    const id = serverId(1);
    sim.fleet.add(REGION, id, 'running');
    sim.faults.inject({ kind: 'throttle', count: 2 });
    const result = await provider().describe({ region: REGION, ids: [id] });
    expect(reading(result, id)).toMatchObject({ found: true, phase: 'running' });
    expect(reads().map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('reports throttled:true when throttling outlasts the retries', async () => {
    sim.faults.inject({ kind: 'throttle', count: 10 });
    const result = await provider().describe({ region: REGION, ids: [serverId(1)] });
    expect(result).toEqual({ kind: 'error', code: 'APIGW.0308', message: expect.stringContaining('throttling'), throttled: true });
    expect(reads()).toHaveLength(TINY.maxAttempts);
  });

  it('retries a 5xx and a lost answer, then gives the error once retries run out', async () => {
    const id = serverId(1);
    sim.fleet.add(REGION, id, 'running');
    sim.faults.inject({ kind: 'server-error', count: 1, status: 503 });
    // The answer to the second read is lost: the fault goes in between attempts.
    const sleepHook = async (): Promise<void> => void (reads().length === 1 && sim.faults.inject({ kind: 'drop-response', count: 1 }));
    const recovered = await provider({ sleep: sleepHook }).describe({ region: REGION, ids: [id] });
    expect(reading(recovered, id)).toMatchObject({ found: true });
    expect(reads().map((r) => r.status)).toEqual([503, 200, 200]); // the second answer was dropped on the wire

    sim.requests.length = 0;
    sim.faults.inject({ kind: 'server-error', count: 10 });
    const failed = await provider().describe({ region: REGION, ids: [id] });
    expect(failed).toEqual({ kind: 'error', code: 'Ecs.0002', message: expect.stringMatching(/system exception.*request [0-9a-f]{32}/), throttled: false });
    expect(reads()).toHaveLength(TINY.maxAttempts);
  });

  it('an unreadable 200 is asked again, and stays an error if it persists', async () => {
    const id = serverId(1);
    sim.fleet.add(REGION, id, 'running');
    sim.injectResponse({ on: 'list', status: 200, body: '{"count":1,"servers":[{"id"' });
    expect(reading(await provider().describe({ region: REGION, ids: [id] }), id)).toMatchObject({ found: true });

    sim.injectResponse({ on: 'list', status: 200, body: { count: 0, server: [] }, count: 10 });
    const result = await provider().describe({ region: REGION, ids: [id] });
    expect(result).toEqual({ kind: 'error', code: 'UnexpectedResponse', message: expect.stringContaining('ListServersDetails answered HTTP 200'), throttled: false });
  });

  it('a rejected signature is an error, without the secret', async () => {
    const wrong = 'wrong-secret-value-xyz';
    const result = await provider({ credentials: { accessKeyId: AK, secretAccessKey: wrong, projectId: PROJECT } }).describe({ region: REGION, ids: [serverId(1)] });
    expect(result).toEqual({ kind: 'error', code: 'APIGW.0301', message: expect.stringContaining('verify aksk signature fail'), throttled: false });
    expect(JSON.stringify(result)).not.toContain(wrong);
    expect(reads()).toHaveLength(1);
  });

  it('a connection refused is an error with the network code', async () => {
    const closed = new HuaweiSimulator({ credentials: { [AK]: SK } });
    const deadUrl = await closed.start();
    await closed.stop();
    const result = await provider({ endpoint: deadUrl }).describe({ region: REGION, ids: [serverId(1)] });
    expect(result).toEqual({ kind: 'error', code: 'ECONNREFUSED', message: expect.stringContaining('request not sent'), throttled: false });
  });
});

describe('reboot: server time', () => {
  it('the client takes the cloud clock from the Date header of the POST answer that gave the job id', async () => {
    const id = serverId(1);
    sim.fleet.add(REGION, id, 'running');
    const before = Date.now();
    const result = await huaweiCalls(options()).reboot(rebootCall([id]), { track: (s) => s });
    expect(result.pending?.jobId).toBe(sim.jobIds()[0]);
    expect(result.serverTime).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(result.serverTime).toBeLessThanOrEqual(Date.now());
  });

  it('has a server time only when the POST was accepted', async () => {
    const result = await huaweiCalls(options()).reboot(rebootCall([serverId(1)]), { track: (s) => s });
    expect(result.serverTime).toBeDefined(); // accepted: unknown ids fail in their sub-job, not at the POST
    sim.injectResponse({ on: 'action', status: 400, body: { error: { code: 'Ecs.0005', message: 'bad' } } });
    const refused = await huaweiCalls(options()).reboot(rebootCall([serverId(1)]), { track: (s) => s });
    expect(refused.serverTime).toBeUndefined();
  });
});

describe('simulator: ListServersDetails on the wire', () => {
  it('answers an unknown id with every field null but id and fault, and formats the time fields as ECS does', async () => {
    const known = serverId(1);
    const missing = serverId(2);
    sim.fleet.add(REGION, known, 'running', { name: 'web-01' });
    const res = await rawList([['server_id', `${known},${missing}`], ['limit', '100']]);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text) as { count: number; servers: Array<Record<string, unknown>> };
    expect(body.count).toBe(2);
    const [entry, ghost] = body.servers;
    expect(entry).toMatchObject({ id: known, name: 'web-01', status: 'ACTIVE', 'OS-EXT-STS:task_state': null, locked: false, metadata: { EcmResStatus: 'normal' }, fault: null });
    expect(entry!['updated']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(entry!['OS-SRV-USG:launched_at']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/);
    expect(ghost!['id']).toBe(missing);
    expect(ghost!['fault']).toMatchObject({ code: 404, message: `Instance[${missing}] could not be found.` });
    const others = Object.entries(ghost!).filter(([key]) => key !== 'id' && key !== 'fault');
    expect(others.length).toBeGreaterThan(5);
    expect(others.every(([, value]) => value === null)).toBe(true);
    // What the client makes of it.
    expect(ServerDetailSchema.array().parse(body.servers).map(readingOf)[1]).toEqual({ id: missing, found: false });
  });

  it('refuses a limit outside 1..1000 and an unknown marker with Ecs.0005', async () => {
    for (const query of [[['limit', '0']], [['limit', '1001']], [['limit', '5'], ['marker', serverId(9)]]] as QueryPair[][]) {
      const res = await rawList(query);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'Ecs.0005' } });
    }
  });

  it('checks the signature over the query: a changed server_id is refused', async () => {
    const target = new URL(`${url}/v1/${PROJECT}/cloudservers/detail`);
    const headers: Record<string, string> = { host: target.host, 'x-project-id': PROJECT, 'x-sdk-date': compactIso(new Date()) };
    const query: QueryPair[] = [['limit', '100'], ['server_id', serverId(1)]];
    const { authorization } = signRequest({ method: 'GET', path: target.pathname, query, headers, body: '', sdkDate: headers['x-sdk-date'] ?? '', accessKeyId: AK, secretAccessKey: SK });
    const tampered = new URL(`${target.href}?limit=100&server_id=${serverId(2)}`);
    const res = await sendHttp({ method: 'GET', url: tampered, headers: { ...headers, authorization }, timeoutMs: 2_000 });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toMatchObject({ error_code: 'APIGW.0301' });
  });
});

describe('readingOf', () => {
  it('parses an `updated` without a zone as UTC and drops an unreadable one', () => {
    const base = { id: serverId(1), name: 'x', status: 'ACTIVE' };
    expect(readingOf({ ...base, updated: '2019-05-22T03:30:52' })).toMatchObject({ clock: { at: Date.UTC(2019, 4, 22, 3, 30, 52) } });
    expect(readingOf({ ...base, updated: 'yesterday' })).not.toHaveProperty('clock');
    expect(readingOf({ ...base, name: null })).toMatchObject({ found: true, name: null, phase: 'running' });
  });

  it('a locked server that is also rebooting is locked, and still says it is rebooting', () => {
    expect(readingOf({ id: serverId(1), status: 'REBOOT', 'OS-EXT-STS:task_state': 'rebooting', locked: true, metadata: { EcmResStatus: 'freeze' } })).toMatchObject({
      phase: 'locked',
      lockReason: 'locked, freeze',
      rebooting: true,
      rawStatus: 'REBOOT / task rebooting / locked / EcmResStatus freeze',
    });
  });
});
