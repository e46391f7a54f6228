import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBaiduProvider, type BaiduCredentials } from '../../../src/providers/baidu/client.js';
import { listBody, listRequest } from '../../../src/providers/baidu/describe.js';
import { createBaiduSigner } from '../../../src/providers/baidu/signer.js';
import { BaiduSimulator, type BaiduSimulatorOptions } from '../../../src/providers/baidu/simulator.js';
import type { ClientOptions, DescribeResult, InstanceReading, RebootCall } from '../../../src/providers/provider.js';
import { sendHttp } from '../../../src/providers/http.js';
import type { RetryPolicy } from '../../../src/providers/retry.js';
import { FaultQueue, serveSimulator, type RecordedRequest, type SimulatorResponse } from '../../../src/providers/simulator-kit.js';

const AK = 'AKbaidu00000000000000000000000001';
const SK = 'SKbaidu-secret-0123456789abcdefgh';
const POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };
const REBOOT_MS = 300;
const RUNNING = 'i-Running01';
const RUNNING2 = 'i-Running02';
const STOPPED = 'i-Stopped01';
const NEVER = 'i-NvrBack01';
const MISSING = 'i-Missing01';
const LIST = '/v2/instance/listByInstanceId';

let sim: BaiduSimulator;
let url: string;

async function startSim(over: Partial<BaiduSimulatorOptions> = {}): Promise<void> {
  sim = new BaiduSimulator({ credentials: { [AK]: SK }, rebootMs: REBOOT_MS, ...over });
  url = await sim.start();
  sim.fleet.add('bj', RUNNING, 'running', { name: 'web-bj-01' });
  sim.fleet.add('bj', RUNNING2, 'running', { name: 'api-bj-02' });
  sim.fleet.add('bj', STOPPED, 'stopped', { name: 'batch-stopped' });
  sim.fleet.add('bj', NEVER, 'running', { name: 'db-never-back', neverComesBack: true });
}

beforeEach(async () => {
  await startSim();
});

afterEach(async () => {
  await sim.stop();
});

function provider(over: Partial<ClientOptions<BaiduCredentials>> = {}) {
  return createBaiduProvider({ credentials: { accessKeyId: AK, secretAccessKey: SK }, endpoint: url, retry: POLICY, timeoutMs: 2000, ...over });
}

function rebootCall(id: string): RebootCall {
  return { region: 'bj', ids: [id], force: false, idempotencyKey: 'job1-b1' };
}

async function read(ids: string[], over: Partial<ClientOptions<BaiduCredentials>> = {}): Promise<InstanceReading[]> {
  const result = await provider(over).describe({ region: 'bj', ids });
  if (result.kind !== 'read') throw new Error(`read failed: ${result.code} ${result.message}`);
  return result.readings;
}

function byId(readings: InstanceReading[]): Record<string, InstanceReading> {
  return Object.fromEntries(readings.map((r) => [r.id, r]));
}

function running(id: string, name: string): InstanceReading {
  return { id, found: true, name, phase: 'running', rawStatus: 'Running', rebooting: false };
}

/** A loopback server with a fixed answer, for response shapes the BCC simulator never produces. */
async function stubServer(answer: (req: RecordedRequest) => SimulatorResponse) {
  const requests: RecordedRequest[] = [];
  const server = await serveSimulator((req) => answer({ ...req, status: 0 }), new FaultQueue(), requests);
  return { url: server.url, requests, close: () => server.close() };
}

async function withStub(answer: (req: RecordedRequest) => SimulatorResponse, test: (stub: Awaited<ReturnType<typeof stubServer>>) => Promise<void>): Promise<void> {
  const stub = await stubServer(answer);
  try {
    await test(stub);
  } finally {
    await stub.close();
  }
}

const errorBody = (code: string, message = 'm') => ({ requestId: 'r-1', code, message });

describe('describe: one listByInstanceId call', () => {
  it('sends the documented POST, signed, and maps Running and Stopped with names', async () => {
    const readings = await read([RUNNING, STOPPED]);
    expect(readings).toEqual([
      running(RUNNING, 'web-bj-01'),
      { id: STOPPED, found: true, name: 'batch-stopped', phase: 'stopped', rawStatus: 'Stopped', rebooting: false },
    ]);
    expect(sim.requests).toHaveLength(1);
    const req = sim.requests[0]!;
    expect(req).toMatchObject({ method: 'POST', path: LIST, query: 'maxKeys=1000', body: `{"instanceIds":["${RUNNING}","${STOPPED}"]}`, status: 200 });
    expect(req.headers['content-type']).toBe('application/json;charset=utf-8');
    expect(req.headers['content-length']).toBe(String(req.body.length));
    expect(req.headers.authorization).toMatch(/^bce-auth-v1\/[^/]+\/[^/]+\/1800\/content-length;content-type;host;x-bce-date\/[0-9a-f]{64}$/);
  });

  it('an id the answer leaves out is not found (UNCONFIRMED: the simulator omits unknown ids by default)', async () => {
    const readings = await read([MISSING, RUNNING]);
    expect(readings).toEqual([{ id: MISSING, found: false }, running(RUNNING, 'web-bj-01')]);
    expect(sim.requests.map((r) => r.method)).toEqual(['POST']);
  });

  it.each([
    ['Deleted', { found: false, rawStatus: 'Deleted' }],
    ['Recycled', { found: false, rawStatus: 'Recycled' }],
    ['Expired', { found: false, rawStatus: 'Expired' }],
    ['Starting', { found: true, phase: 'transitioning', rebooting: true }],
    ['Stopping', { found: true, phase: 'transitioning', rebooting: true }],
    ['Scaling', { found: true, phase: 'transitioning', rebooting: false }],
    ['SnapshotProcessing', { found: true, phase: 'transitioning', rebooting: false }],
    ['ImageProcessing', { found: true, phase: 'transitioning', rebooting: false }],
    ['ChangeVpc', { found: true, phase: 'transitioning', rebooting: false }],
    ['Error', { found: true, phase: 'other', rebooting: false }],
    ['SomethingNew', { found: true, phase: 'other', rebooting: false }],
  ] as const)('BCC status %s', async (status, expected) => {
    sim.setStatus(RUNNING, status);
    const [reading] = await read([RUNNING]);
    if (expected.found) {
      expect(reading).toEqual({ id: RUNNING, name: 'web-bj-01', rawStatus: status, ...expected });
    } else {
      expect(reading).toEqual({ id: RUNNING, ...expected });
    }
  });

  it('a released instance cannot be rebooted either (409 from the simulator)', async () => {
    sim.setStatus(RUNNING, 'Recycled');
    const { outcomes } = await provider().reboot(rebootCall(RUNNING));
    expect(outcomes).toMatchObject([{ status: 'failed', code: 'Instance.RebootInstanceOperationForbidden' }]);
  });

  it('an empty name is null', async () => {
    const body = { isTruncated: false, instances: [{ id: RUNNING, name: '', status: 'Running' }] };
    await withStub(() => ({ status: 200, body }), async (stub) => {
      const [reading] = await read([RUNNING], { endpoint: stub.url });
      expect(reading).toMatchObject({ found: true, name: null });
    });
  });

  it('sets serverTime from the Date header of the answer', async () => {
    const body = { isTruncated: false, instances: [{ id: RUNNING, name: 'x', status: 'Running' }] };
    await withStub(() => ({ status: 200, headers: { date: 'Wed, 02 Jan 2030 03:04:05 GMT' }, body }), async (stub) => {
      const result = await provider({ endpoint: stub.url }).describe({ region: 'bj', ids: [RUNNING] });
      expect(result).toMatchObject({ kind: 'read', serverTime: Date.UTC(2030, 0, 2, 3, 4, 5) });
    });
    const before = Math.floor(Date.now() / 1000) * 1000;
    const result = await provider().describe({ region: 'bj', ids: [RUNNING] });
    expect(result.kind === 'read' && result.serverTime).toBeGreaterThanOrEqual(before);
    expect(result.kind === 'read' && result.serverTime).toBeLessThanOrEqual(Date.now());
  });

  it('ignores instances the answer adds that were not asked for', async () => {
    const body = { isTruncated: false, instances: [{ id: 'i-Stranger1', name: 'x', status: 'Running' }, { id: RUNNING, name: 'y', status: 'Stopped' }] };
    await withStub(() => ({ status: 200, body }), async (stub) => {
      expect(await read([RUNNING], { endpoint: stub.url })).toEqual([{ id: RUNNING, found: true, name: 'y', phase: 'stopped', rawStatus: 'Stopped', rebooting: false }]);
    });
  });

  it('a bad region is an error, and nothing is sent', async () => {
    const result = await provider({ endpoint: undefined }).describe({ region: 'a.b/c', ids: [RUNNING] });
    expect(result).toEqual({ kind: 'error', code: 'InvalidEndpoint', message: 'invalid Baidu region "a.b/c"', throttled: false });
    expect(sim.requests).toHaveLength(0);
  });
});

describe('describe: a reboot seen through the read (the reboot sent by the client itself)', () => {
  it('Starting (rebooting) in both halves of the reboot, then Running; BCC has no clock field', async () => {
    const p = provider();
    const { outcomes } = await p.reboot(rebootCall(RUNNING));
    expect(outcomes).toMatchObject([{ status: 'succeeded' }]);
    expect(sim.fleet.findById(RUNNING)?.state).toBe('stopping');
    const early = (await read([RUNNING]))[0];
    expect(early).toEqual({ id: RUNNING, found: true, name: 'web-bj-01', phase: 'transitioning', rawStatus: 'Starting', rebooting: true });
    await vi.waitFor(() => expect(sim.fleet.findById(RUNNING)?.state).toBe('starting'), { timeout: REBOOT_MS, interval: 5 });
    expect((await read([RUNNING]))[0]).toEqual(early);
    await vi.waitFor(() => expect(sim.fleet.findById(RUNNING)?.state).toBe('running'), { timeout: REBOOT_MS * 2, interval: 5 });
    const after = (await read([RUNNING]))[0];
    expect(after).toEqual(running(RUNNING, 'web-bj-01'));
    expect(after).not.toHaveProperty('clock');
  });

  it('the instance that never comes back stays Starting', async () => {
    await provider().reboot(rebootCall(NEVER));
    await new Promise((r) => setTimeout(r, REBOOT_MS * 1.5));
    expect(await read([NEVER, RUNNING2])).toEqual([
      { id: NEVER, found: true, name: 'db-never-back', phase: 'transitioning', rawStatus: 'Starting', rebooting: true },
      running(RUNNING2, 'api-bj-02'),
    ]);
  });
});

describe('describe: paging with marker/nextMarker', () => {
  it('follows nextMarker until isTruncated is false', async () => {
    await sim.stop();
    await startSim({ pageSize: 2 });
    const ids = [STOPPED, RUNNING, MISSING, NEVER, RUNNING2];
    const readings = await read(ids);
    expect(readings.map((r) => [r.id, r.found])).toEqual([
      [STOPPED, true],
      [RUNNING, true],
      [MISSING, false],
      [NEVER, true],
      [RUNNING2, true],
    ]);
    // Pages of the known ids in the order asked: [STOPPED, RUNNING], [NEVER, RUNNING2].
    expect(sim.requests.map((r) => r.query)).toEqual(['maxKeys=1000', `marker=${NEVER}&maxKeys=1000`]);
    expect(sim.requests.every((r) => r.method === 'POST' && r.path === LIST && r.status === 200)).toBe(true);
  });

  it('a later page that fails makes the read an error, not a partial "not found"', async () => {
    await sim.stop();
    await startSim({ pageSize: 1 });
    let posts = 0;
    sim.onRequest(() => (++posts >= 2 ? 'drop' : undefined));
    const result = await provider().describe({ region: 'bj', ids: [RUNNING, MISSING, STOPPED] });
    expect(result.kind).toBe('error');
  });

  it.each([
    ['no nextMarker', { isTruncated: true, instances: [{ id: RUNNING, status: 'Running' }] }],
    ['the same marker again', { isTruncated: true, nextMarker: RUNNING, instances: [{ id: RUNNING, status: 'Running' }] }],
  ])('truncated with %s: an error, not an endless loop', async (_what, body) => {
    await withStub(() => ({ status: 200, body }), async (stub) => {
      const result = await provider({ endpoint: stub.url }).describe({ region: 'bj', ids: [RUNNING, STOPPED] });
      expect(result).toMatchObject({ kind: 'error', code: 'UnexpectedResponse', throttled: false });
      expect(stub.requests.length).toBeLessThanOrEqual(3);
    });
  });
});

describe('describe: the batch refused, per-id GET /v2/instance/{id} instead', () => {
  it('400 NoSuchObject for an unknown id: each id read on its own, unknown → not found (404 NoSuchObject)', async () => {
    await sim.stop();
    await startSim({ batchRead: 'refuse' });
    const readings = await read([RUNNING, MISSING, STOPPED]);
    expect(byId(readings)).toEqual({
      [RUNNING]: running(RUNNING, 'web-bj-01'),
      [MISSING]: { id: MISSING, found: false },
      [STOPPED]: { id: STOPPED, found: true, name: 'batch-stopped', phase: 'stopped', rawStatus: 'Stopped', rebooting: false },
    });
    expect(sim.requests[0]).toMatchObject({ method: 'POST', status: 400 });
    const gets = sim.requests.slice(1);
    expect(gets.map((r) => [r.method, r.path, r.query, r.body, r.status]).sort()).toEqual(
      [
        ['GET', `/v2/instance/${MISSING}`, '', '', 404],
        ['GET', `/v2/instance/${RUNNING}`, '', '', 200],
        ['GET', `/v2/instance/${STOPPED}`, '', '', 200],
      ].sort(),
    );
    expect(gets.every((r) => /\/1800\/host;x-bce-date\/[0-9a-f]{64}$/.test(r.headers.authorization ?? ''))).toBe(true);
  });

  it('the refusing simulator still answers the batch when every id is known', async () => {
    await sim.stop();
    await startSim({ batchRead: 'refuse' });
    await read([RUNNING, STOPPED]);
    expect(sim.requests.map((r) => [r.method, r.status])).toEqual([['POST', 200]]);
  });

  it('403 AccessDenied on the batch (a key allowed only the detail read): falls back', async () => {
    await sim.stop();
    await startSim({ batchRead: 'denied' });
    expect(byId(await read([RUNNING, MISSING]))).toEqual({ [RUNNING]: running(RUNNING, 'web-bj-01'), [MISSING]: { id: MISSING, found: false } });
    expect(sim.requests[0]).toMatchObject({ method: 'POST', status: 403 });
    expect(sim.requests.slice(1).map((r) => `${r.method} ${r.status}`).sort()).toEqual(['GET 200', 'GET 404']);
  });

  it.each([404, 405])('a bare %i on the batch (the API not there): falls back', async (status) => {
    await withStub(
      (req) =>
        req.method === 'POST'
          ? { status, body: '<html>no</html>' }
          : { status: 200, body: { instance: { id: req.path.split('/').pop(), name: 'n', status: 'Stopping' } } },
      async (stub) => {
        expect(await read([RUNNING], { endpoint: stub.url })).toEqual([{ id: RUNNING, found: true, name: 'n', phase: 'transitioning', rawStatus: 'Stopping', rebooting: true }]);
        expect(stub.requests.map((r) => r.method)).toEqual(['POST', 'GET']);
      },
    );
  });

  it('a refused signature is an error at once: no fallback that would be refused 100 times', async () => {
    const result = await provider({ credentials: { accessKeyId: AK, secretAccessKey: 'SKbaidu-WRONG-secret-987654321zyx' } }).describe({ region: 'bj', ids: [RUNNING, STOPPED] });
    expect(result).toMatchObject({ kind: 'error', code: 'SignatureDoesNotMatch', throttled: false });
    expect(sim.requests.map((r) => r.status)).toEqual([403]);
    expect(JSON.stringify(result)).not.toContain('SKbaidu-WRONG');
  });

  it('a batch refusal of another kind (400 MalformedJSON) is an error, not a fallback', async () => {
    await withStub(() => ({ status: 400, body: errorBody('MalformedJSON', 'The JSON you provided was not well-formed.') }), async (stub) => {
      const result = await provider({ endpoint: stub.url }).describe({ region: 'bj', ids: [RUNNING] });
      expect(result).toEqual({ kind: 'error', code: 'MalformedJSON', message: 'The JSON you provided was not well-formed. (request r-1)', throttled: false });
      expect(stub.requests).toHaveLength(1);
    });
  });

  it.each(['InvalidInstanceId.NotFound', 'Forbidden.InstanceNotFound', 'InstanceNotExist', 'ResourceNotFound', 'InstanceNotFound'])(
    'the detail read answering %s (terraform-provider-baiducloud error.go) is not found',
    async (code) => {
      await withStub((req) => ({ status: req.method === 'POST' ? 405 : 400, body: errorBody(code) }), async (stub) => {
        expect(await read([MISSING], { endpoint: stub.url })).toEqual([{ id: MISSING, found: false }]);
      });
    },
  );

  it.each([
    ['a bare 404 page', { status: 404, body: '<html>404</html>' }, 'UnexpectedResponse'],
    ['404 InvalidVersion', { status: 404, body: errorBody('InvalidVersion') }, 'InvalidVersion'],
    ['403 AccessDenied', { status: 403, body: errorBody('AccessDenied') }, 'AccessDenied'],
  ] as const)('the detail read answering %s is an error, never "not found"', async (_what, answer, code) => {
    await withStub((req) => (req.method === 'POST' ? { status: 405, body: '' } : answer), async (stub) => {
      const result = await provider({ endpoint: stub.url }).describe({ region: 'bj', ids: [RUNNING, STOPPED] });
      expect(result).toMatchObject({ kind: 'error', code, throttled: false });
    });
  });

  it('an id whose read keeps failing is left out; the others are read', async () => {
    await sim.stop();
    await startSim({ batchRead: 'refuse' });
    let dropped = 0;
    sim.onRequest((req) => (req.method === 'GET' && req.path.endsWith(STOPPED) && ++dropped ? 'drop' : undefined));
    const readings = await read([RUNNING, STOPPED, MISSING]);
    expect(byId(readings)).toEqual({ [RUNNING]: running(RUNNING, 'web-bj-01'), [MISSING]: { id: MISSING, found: false } });
    // The lost answers to the read of STOPPED were asked again up to the policy (a read changes nothing).
    expect(dropped).toBe(POLICY.maxAttempts);
  });

  it('every id failing makes the read an error', async () => {
    await sim.stop();
    await startSim({ batchRead: 'refuse' });
    sim.onRequest((req) => (req.method === 'GET' ? 'drop' : undefined));
    const result = await provider().describe({ region: 'bj', ids: [RUNNING, MISSING] });
    expect(result).toMatchObject({ kind: 'error', throttled: false });
  });

  it('every id throttled to the end: an error marked throttled', async () => {
    await withStub(
      (req) => (req.method === 'POST' ? { status: 400, body: errorBody('NoSuchObject') } : { status: 429, body: errorBody('RequestLimitExceeded') }),
      async (stub) => {
        const result = await provider({ endpoint: stub.url }).describe({ region: 'bj', ids: [RUNNING, STOPPED] });
        expect(result).toMatchObject({ kind: 'error', code: 'RequestLimitExceeded', throttled: true });
        expect(stub.requests.filter((r) => r.method === 'GET')).toHaveLength(2 * POLICY.maxAttempts);
      },
    );
  });

  it('a detail answer for another instance leaves the id unread', async () => {
    await withStub(
      (req) =>
        req.method === 'POST'
          ? { status: 405, body: '' }
          : { status: 200, body: { instance: { id: req.path.endsWith(RUNNING) ? 'i-Other0001' : STOPPED, name: 's', status: 'Stopped' } } },
      async (stub) => {
        const readings = await read([RUNNING, STOPPED], { endpoint: stub.url });
        expect(readings.map((r) => r.id)).toEqual([STOPPED]);
      },
    );
  });

  it('at most 4 detail reads in flight', async () => {
    await sim.stop();
    await startSim({ batchRead: 'denied' });
    const ids = Array.from({ length: 10 }, (_, i) => `i-Many${String(i).padStart(4, '0')}`);
    for (const id of ids) sim.fleet.add('bj', id);
    let inFlight = 0;
    let most = 0;
    sim.onRequest(async (req) => {
      if (req.method !== 'GET') return;
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight -= 1;
    });
    const readings = await read(ids);
    expect(readings.map((r) => r.id)).toEqual(ids);
    expect(readings.every((r) => r.found)).toBe(true);
    expect(most).toBe(4);
  });
});

describe('describe: retries (a read changes nothing)', () => {
  it('throttling is retried, with Retry-After', async () => {
    const delays: number[] = [];
    sim.faults.inject({ kind: 'throttle', count: 2, retryAfterSeconds: 1 });
    expect(await read([RUNNING], { sleep: async (ms) => void delays.push(ms) })).toEqual([running(RUNNING, 'web-bj-01')]);
    expect(sim.requests.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(delays).toEqual([1000, 1000]);
  });

  it('throttling to the end of the policy: an error marked throttled', async () => {
    sim.faults.inject({ kind: 'throttle', count: 10 });
    const result = await provider().describe({ region: 'bj', ids: [RUNNING] });
    expect(result).toMatchObject({ kind: 'error', code: 'RequestLimitExceeded', throttled: true });
    expect(sim.requests.map((r) => r.status)).toEqual([429, 429, 429, 429]);
  });

  it.each([500, 502, 503])('a %i is read again', async (status) => {
    sim.faults.inject({ kind: 'server-error', count: 2, status });
    expect(await read([STOPPED])).toMatchObject([{ id: STOPPED, phase: 'stopped' }]);
    expect(sim.requests.map((r) => r.status)).toEqual([status, status, 200]);
  });

  it('5xx to the end of the policy: an error, not "not found"', async () => {
    sim.faults.inject({ kind: 'server-error', count: 10 });
    const result: DescribeResult = await provider().describe({ region: 'bj', ids: [RUNNING, MISSING] });
    expect(result).toMatchObject({ kind: 'error', code: 'InternalError', throttled: false });
    expect(result.kind === 'error' && result.message).toMatch(/^We encountered an internal error\. Please try again\. \(request [0-9a-f-]{36}\)$/);
    expect(sim.requests).toHaveLength(POLICY.maxAttempts);
  });

  it('a bare 500 to the end: error HTTP500', async () => {
    await withStub(() => ({ status: 500, body: '' }), async (stub) => {
      const result = await provider({ endpoint: stub.url }).describe({ region: 'bj', ids: [RUNNING] });
      expect(result).toMatchObject({ kind: 'error', code: 'HTTP500', message: 'HTTP 500 from BCC' });
      expect(stub.requests).toHaveLength(POLICY.maxAttempts);
    });
  });

  it('a lost answer is simply asked again', async () => {
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    expect(await read([RUNNING])).toEqual([running(RUNNING, 'web-bj-01')]);
    expect(sim.requests.map((r) => r.method)).toEqual(['POST', 'POST']);
  });

  it('a slow answer past the timeout is asked again', async () => {
    sim.faults.inject({ kind: 'latency', count: 1, ms: 1500 });
    expect(await read([RUNNING], { timeoutMs: 300 })).toEqual([running(RUNNING, 'web-bj-01')]);
  });

  it.each([
    ['not JSON', 'not json'],
    ['JSON cut short', '{"instances":[{"id":"i-Running01"'],
    ['no instances array', { isTruncated: false }],
    ['an instance without a status', { instances: [{ id: 'i-Running01', name: 'x' }] }],
  ])('a 2xx body that cannot be read (%s): retried, then an error, never "not found"', async (_what, body) => {
    await withStub(() => ({ status: 200, body }), async (stub) => {
      const result = await provider({ endpoint: stub.url }).describe({ region: 'bj', ids: [RUNNING] });
      expect(result).toMatchObject({ kind: 'error', code: 'UnexpectedResponse', throttled: false });
      expect(stub.requests).toHaveLength(POLICY.maxAttempts);
    });
  });

  it('RequestExpired (a clock two hours slow): one retry with a fresh timestamp, then the error', async () => {
    const result = await provider({ now: () => new Date(Date.now() - 2 * 3600_000) }).describe({ region: 'bj', ids: [RUNNING] });
    expect(result).toMatchObject({ kind: 'error', code: 'RequestExpired', throttled: false });
    expect(sim.requests.map((r) => r.status)).toEqual([400, 400]);
  });
});

describe('simulator: listByInstanceId on the cloud side', () => {
  it('refuses a body that is not {"instanceIds":[…]}, a bad maxKeys or an unknown marker, and a GET of the list', async () => {
    const signer = createBaiduSigner({ credentials: { accessKeyId: AK, secretAccessKey: SK } });
    const send = async (method: 'GET' | 'POST', query: Array<[string, string]>, body?: string) => {
      const signed = signer.sign({ method, origin: url, path: LIST, query, headers: body === undefined ? {} : { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) });
      const res = await sendHttp({ ...signed, timeoutMs: 2000 });
      return [res.status, (JSON.parse(res.text) as { code?: string }).code];
    };
    expect(await send('POST', [['maxKeys', '1000']], '{"instanceIds":"i-Running01"}')).toEqual([400, 'MalformedJSON']);
    expect(await send('POST', [['maxKeys', '1001']], `{"instanceIds":["${RUNNING}"]}`)).toEqual([400, 'InvalidParameter']);
    expect(await send('POST', [['marker', 'i-Nowhere01'], ['maxKeys', '1000']], `{"instanceIds":["${RUNNING}"]}`)).toEqual([400, 'InvalidParameter']);
    expect(await send('GET', [])).toEqual([400, 'InvalidURI']);
    expect(await send('POST', [], `{"instanceIds":["${RUNNING}"]}`)).toEqual([200, undefined]);
  });

  it('answers the doc shape: createTime to the second, zoneName, no start time', async () => {
    const res = await fetchList([RUNNING]);
    expect(res).toMatchObject({ isTruncated: false, maxKeys: 1000, instances: [{ id: RUNNING, name: 'web-bj-01', status: 'Running', zoneName: 'cn-bj-a' }] });
    expect(res.instances[0]?.createTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(res).not.toHaveProperty('nextMarker');
  });
});

/** The simulator's raw listByInstanceId answer, through the client's own signer. */
async function fetchList(ids: string[]): Promise<{ isTruncated: boolean; maxKeys: number; instances: Array<Record<string, unknown>> }> {
  const signed = createBaiduSigner({ credentials: { accessKeyId: AK, secretAccessKey: SK } }).sign(listRequest(url, listBody(ids)));
  const res = await sendHttp({ ...signed, timeoutMs: 2000 });
  return JSON.parse(res.text) as { isTruncated: boolean; maxKeys: number; instances: Array<Record<string, unknown>> };
}
