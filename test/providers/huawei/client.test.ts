import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sendHttp, type HttpResponse } from '../../../src/providers/http.js';
import type { InstanceOutcome, RebootCall } from '../../../src/providers/provider.js';
import type { RetryPolicy } from '../../../src/providers/retry.js';
import { compactIso } from '../../../src/providers/signing.js';
import type { RecordedRequest } from '../../../src/providers/simulator-kit.js';
import {
  classifyError,
  createHuaweiProvider,
  huaweiEndpoint,
  type HuaweiClientOptions,
} from '../../../src/providers/huawei/client.js';
import { signRequest } from '../../../src/providers/huawei/signer.js';
import { HuaweiSimulator } from '../../../src/providers/huawei/simulator.js';

const AK = 'HWTESTAK0123456789AB';
const SK = 'hw-test-secret-do-not-leak-0123456789';
const PROJECT = '0123456789abcdef0123456789abcdef';
const OTHER_PROJECT = 'fedcba9876543210fedcba9876543210';
const REGION = 'cn-north-4';
const TINY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };

function serverId(n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `${hex.slice(4)}-0000-4000-8000-${hex}`;
}

function ids(count: number, from = 1): string[] {
  return Array.from({ length: count }, (_, i) => serverId(from + i));
}

let sim: HuaweiSimulator;
let url: string;

beforeEach(async () => {
  sim = new HuaweiSimulator({ credentials: { [AK]: SK }, rebootMs: 60 });
  url = await sim.start();
});

afterEach(async () => {
  await sim.stop();
});

function provider(overrides: Partial<HuaweiClientOptions> = {}) {
  return createHuaweiProvider({
    credentials: { accessKeyId: AK, secretAccessKey: SK, projectId: PROJECT },
    endpoint: url,
    retry: TINY,
    timeoutMs: 2_000,
    pollInitialDelayMs: 5,
    pollMaxDelayMs: 20,
    pollTimeoutMs: 5_000,
    ...overrides,
  });
}

function call(list: string[], extra: Partial<RebootCall> = {}): RebootCall {
  return { region: REGION, ids: list, force: false, idempotencyKey: 'job1-b1', ...extra };
}

function seed(list: string[], state: 'running' | 'stopped' = 'running'): void {
  for (const id of list) sim.fleet.add(REGION, id, state);
}

const posts = (): RecordedRequest[] => sim.requests.filter((r) => r.method === 'POST');
const gets = (): RecordedRequest[] => sim.requests.filter((r) => r.method === 'GET');

function recordingSleep(): { sleeps: number[]; sleep: (ms: number) => Promise<void> } {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms) => void sleeps.push(ms) };
}

/** A correctly signed request sent by hand, for what the client never sends. */
async function rawSend(
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: string; sentBody?: string; headers?: Record<string, string> } = {},
): Promise<HttpResponse> {
  const target = new URL(url + path);
  const body = opts.body ?? '';
  const headers: Record<string, string> = {
    host: target.host,
    'x-project-id': PROJECT,
    'x-sdk-date': compactIso(new Date()),
    ...(body ? { 'content-type': 'application/json;charset=UTF-8' } : {}),
    ...opts.headers,
  };
  const { authorization } = signRequest({
    method,
    path: target.pathname,
    query: [],
    headers,
    body,
    sdkDate: headers['x-sdk-date'] ?? '',
    accessKeyId: AK,
    secretAccessKey: SK,
  });
  const sent = opts.sentBody ?? body;
  return sendHttp({ method, url: target, headers: { ...headers, authorization }, ...(sent ? { body: sent } : {}), timeoutMs: 2_000 });
}

describe('batch reboot and job polling', () => {
  it('sends one signed POST, returns the job as pending, then polls it to per-server success', async () => {
    const list = ids(3);
    seed(list);
    const result = await provider().reboot(call(list));

    expect(result.outcomes).toEqual([]);
    expect(result.pending).toEqual({ jobId: sim.jobIds()[0], ids: list });
    expect(posts()).toHaveLength(1);
    const post = posts()[0]!;
    expect(post.path).toBe(`/v1/${PROJECT}/cloudservers/action`);
    expect(post.query).toBe('');
    expect(post.status).toBe(200);
    expect(post.body).toBe(JSON.stringify({ reboot: { type: 'SOFT', servers: list.map((id) => ({ id })) } }));
    expect(post.headers['content-type']).toBe('application/json;charset=UTF-8');
    expect(post.headers['x-project-id']).toBe(PROJECT);
    expect(post.headers['host']).toBe(new URL(url).host);
    expect(post.headers['x-sdk-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(post.headers['authorization']).toMatch(
      new RegExp(`^SDK-HMAC-SHA256 Access=${AK}, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=[0-9a-f]{64}$`),
    );
    for (const id of list) {
      const instance = sim.fleet.get(REGION, id)!;
      expect(instance.rebootCount).toBe(1);
      expect(instance.state).toBe('stopping');
      expect(instance.lastForce).toBe(false);
    }

    const progress: Array<[number, number]> = [];
    const outcomes = await provider().poll!({ region: REGION, handle: result.pending!, onProgress: (d, t) => progress.push([d, t]) });
    expect(outcomes.map((o) => [o.id, o.status])).toEqual(list.map((id) => [id, 'succeeded']));
    expect(progress.at(-1)).toEqual([3, 3]);
    expect(progress.every(([d], i) => i === 0 || d > progress[i - 1]![0])).toBe(true);
    const jobGets = gets();
    expect(jobGets.length).toBeGreaterThanOrEqual(1);
    for (const g of jobGets) {
      expect(g.path).toBe(`/v1/${PROJECT}/jobs/${result.pending!.jobId}`);
      expect(g.body).toBe('');
      expect(g.status).toBe(200);
      expect(g.headers['authorization']).toContain('SignedHeaders=host;x-project-id;x-sdk-date,');
    }
    expect(sim.fleet.totalReboots()).toBe(3);
  });

  it('reports progress while sub-jobs finish one by one', async () => {
    await sim.stop();
    sim = new HuaweiSimulator({ credentials: { [AK]: SK }, rebootMs: 80, subJobSpreadMs: 200 });
    url = await sim.start();
    const list = ids(10);
    seed(list);
    const { pending } = await provider().reboot(call(list));
    const progress: Array<[number, number]> = [];
    const outcomes = await provider().poll!({ region: REGION, handle: pending!, onProgress: (d, t) => progress.push([d, t]) });
    expect(outcomes.filter((o) => o.status === 'succeeded')).toHaveLength(10);
    expect(progress.some(([d]) => d > 0 && d < 10)).toBe(true);
    expect(progress.every(([, t]) => t === 10)).toBe(true);
    expect(progress.at(-1)).toEqual([10, 10]);
  });

  it('asks for a HARD reboot when forced, and the server then shows HARD_REBOOT', async () => {
    // Long enough a reboot that the read surely comes while it runs.
    await sim.stop();
    sim = new HuaweiSimulator({ credentials: { [AK]: SK }, rebootMs: 2_000 });
    url = await sim.start();
    const [id] = ids(1);
    seed([id!]);
    const result = await provider().reboot(call([id!], { force: true }));
    expect(result.pending?.ids).toEqual([id]);
    expect(JSON.parse(posts()[0]!.body)).toEqual({ reboot: { type: 'HARD', servers: [{ id }] } });
    expect(sim.fleet.get(REGION, id!)!.lastForce).toBe(true);
    const read = await provider().describe({ region: REGION, ids: [id!] });
    expect(read).toMatchObject({ kind: 'read', readings: [{ id, found: true, phase: 'transitioning', rebooting: true, rawStatus: 'HARD_REBOOT / task rebooting_hard' }] });
  });

  it('uses the per-region project id, falling back to the default one', async () => {
    const list = ids(2);
    seed(list);
    const p = provider({ credentials: { accessKeyId: AK, secretAccessKey: SK, projectId: PROJECT, projectIds: { [REGION]: OTHER_PROJECT } } });
    await p.reboot(call([list[0]!]));
    await p.reboot(call([list[1]!], { region: 'cn-east-3' }));
    expect(posts().map((r) => [r.path, r.headers['x-project-id']])).toEqual([
      [`/v1/${OTHER_PROJECT}/cloudservers/action`, OTHER_PROJECT],
      [`/v1/${PROJECT}/cloudservers/action`, PROJECT],
    ]);
  });

  it('fails every id with ProjectIdMissing and calls nothing when no project id is configured (reads too)', async () => {
    const list = ids(2);
    seed(list);
    const p = provider({ credentials: { accessKeyId: AK, secretAccessKey: SK } });
    const result = await p.reboot(call(list));
    expect(result.pending).toBeUndefined();
    expect(result.outcomes).toHaveLength(2);
    for (const o of result.outcomes) {
      expect(o).toMatchObject({ status: 'failed', code: 'ProjectIdMissing' });
      expect(o.status === 'failed' && o.message).toContain('HUAWEICLOUD_SDK_PROJECT_ID');
    }
    const read = await p.describe({ region: REGION, ids: list });
    expect(read).toEqual({ kind: 'error', code: 'ProjectIdMissing', message: expect.stringContaining('HUAWEICLOUD_SDK_PROJECT_ID'), throttled: false });
    expect(sim.requests).toHaveLength(0);
  });

  it('refuses more than 1000 servers without calling, and sends exactly 1000', async () => {
    const tooMany = ids(1001);
    const refused = await provider().reboot(call(tooMany));
    expect(refused.outcomes).toHaveLength(1001);
    expect(new Set(refused.outcomes.map((o) => o.status === 'failed' && o.code))).toEqual(new Set(['BatchTooLarge']));
    expect(sim.requests).toHaveLength(0);

    const thousand = ids(1000);
    seed(thousand);
    const accepted = await provider().reboot(call(thousand));
    expect(accepted.pending?.ids).toHaveLength(1000);
    expect(sim.fleet.totalReboots()).toBe(1000);
  });

  it('simulator: 1001 servers in one call is 400 Ecs.0005', async () => {
    const body = JSON.stringify({ reboot: { type: 'SOFT', servers: ids(1001).map((id) => ({ id })) } });
    const res = await rawSend('POST', `/v1/${PROJECT}/cloudservers/action`, { body });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({ error: { code: 'Ecs.0005', message: expect.stringContaining('1000') } });
    expect(sim.fleet.totalReboots()).toBe(0);
  });
});

describe('retries of the reboot call', () => {
  it('retries APIGW.0308 throttling and reboots each server once', async () => {
    const list = ids(2);
    seed(list);
    sim.faults.inject({ kind: 'throttle', count: 2 });
    const result = await provider().reboot(call(list));
    expect(result.pending?.ids).toEqual(list);
    expect(posts().map((r) => r.status)).toEqual([429, 429, 200]);
    expect(list.map((id) => sim.fleet.get(REGION, id)!.rebootCount)).toEqual([1, 1]);
  });

  it('honours Retry-After', async () => {
    const list = ids(1);
    seed(list);
    sim.faults.inject({ kind: 'throttle', count: 1, retryAfterSeconds: 2 });
    const { sleeps, sleep } = recordingSleep();
    const result = await provider({ sleep, retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 5_000 } }).reboot(call(list));
    expect(result.pending).toBeDefined();
    expect(sleeps).toEqual([2_000]);
  });

  it('treats the APIG.0308 spelling as throttling too', async () => {
    const list = ids(1);
    seed(list);
    sim.injectResponse({ on: 'action', status: 429, body: { error_code: 'APIG.0308', error_msg: 'The throttling threshold has been reached', request_id: 'r1' } });
    const result = await provider().reboot(call(list));
    expect(result.pending).toBeDefined();
    expect(posts().map((r) => r.status)).toEqual([429, 200]);
    expect(sim.fleet.totalReboots()).toBe(1);
  });

  it('does not resend after Ecs.0002, whether it comes with HTTP 500 or 400: the servers are unknown', async () => {
    const list = ids(2);
    seed(list);
    sim.faults.inject({ kind: 'server-error', count: 1 });
    const first = await provider().reboot(call(list));
    sim.injectResponse({ on: 'action', status: 400, body: { error: { code: 'Ecs.0002', message: 'A system exception occurred.' } } });
    const second = await provider().reboot(call(list));
    for (const [result, status] of [[first, 500], [second, 400]] as const) {
      expect(result.pending).toBeUndefined();
      expect(result.outcomes).toEqual(
        list.map((id) => ({ id, status: 'unknown', reason: expect.stringMatching(new RegExp(`^the reboot was answered HTTP ${status} Ecs\\.0002 .*may or may not be rebooting — check them in the console$`)) })),
      );
    }
    expect(posts().map((r) => r.status)).toEqual([500, 400]);
  });

  it.each([500, 502, 503, 504] as const)('ECS acts, then the POST is answered %i: one POST, every server unknown, each rebooted once', async (status) => {
    const list = ids(3);
    seed(list);
    sim.faults.inject({ kind: 'actThenFail', count: 5, status });
    const result = await provider().reboot(call(list));
    expect(result.pending).toBeUndefined();
    expect(result.outcomes).toEqual(
      list.map((id) => ({
        id,
        status: 'unknown',
        reason: expect.stringMatching(new RegExp(`^the reboot was answered HTTP ${status} Ecs\\.0002 \\(.*, request [0-9a-f]{32}\\).*the servers may or may not be rebooting — check them in the console$`)),
      })),
    );
    expect(posts().map((r) => r.status)).toEqual([status]);
    expect(list.map((id) => sim.fleet.get(REGION, id)!.rebootCount)).toEqual([1, 1, 1]);
    expect(sim.jobIds()).toHaveLength(1);
  });

  it('ECS acts, then a proxy answers a bare 502 page: unknown, not resent', async () => {
    const list = ids(2);
    seed(list);
    sim.faults.inject({ kind: 'actThenFail', count: 5, status: 502, body: '<html><h1>502 Bad Gateway</h1></html>' });
    const result = await provider().reboot(call(list));
    expect(result.outcomes.map((o) => o.status)).toEqual(['unknown', 'unknown']);
    expect(result.outcomes[0]).toMatchObject({ reason: expect.stringContaining('HTTP 502 UnexpectedResponse') });
    expect(posts()).toHaveLength(1);
    expect(sim.fleet.totalReboots()).toBe(2);
  });

  it('ECS acts, then answers 200 with a body cut short: unknown, not resent', async () => {
    const list = ids(2);
    seed(list);
    sim.faults.inject({ kind: 'actThenMalformed', count: 5 });
    const result = await provider().reboot(call(list));
    expect(result.pending).toBeUndefined();
    expect(result.outcomes).toEqual(
      list.map((id) => ({ id, status: 'unknown', reason: expect.stringMatching(/^UnexpectedResponse: HTTP 200 without a job_id \(\{"job_id":.*check them in the console$/) })),
    );
    expect(posts().map((r) => r.status)).toEqual([200]);
    expect(sim.fleet.totalReboots()).toBe(2);
  });

  it('throttling before an ambiguous answer: resent only while throttled, then unknown', async () => {
    const list = ids(1);
    seed(list);
    sim.faults.inject({ kind: 'throttle', count: 1 });
    sim.faults.inject({ kind: 'actThenFail', count: 5, status: 503 });
    const result = await provider().reboot(call(list));
    expect(posts().map((r) => r.status)).toEqual([429, 503]);
    expect(result.outcomes).toEqual([expect.objectContaining({ id: list[0], status: 'unknown' })]);
    expect(sim.fleet.totalReboots()).toBe(1);
  });

  const nonRetryable: Array<[string, number, 'gateway' | 'ecs', string]> = [
    ['APIGW.0301', 401, 'gateway', 'Incorrect IAM authentication information: verify aksk signature fail'],
    ['APIGW.0303', 401, 'gateway', 'Incorrect app authentication information'],
    ['APIGW.0101', 404, 'gateway', 'The API does not exist or has not been published in the environment'],
    ['APIGW.0201', 413, 'gateway', 'Request entity too large'],
    ['Ecs.0000', 400, 'ecs', 'Request error. Try again later or contact customer service.'],
    ['Ecs.0001', 400, 'ecs', 'Insufficient ECS quota. Contact customer service to increase quota.'],
    ['Ecs.0003', 403, 'ecs', 'You do not have permission to perform this operation.'],
    ['Ecs.0005', 400, 'ecs', 'Invalid parameter values. Contact customer service.'],
  ];

  it.each(nonRetryable)('reports %s (HTTP %i, %s shape) per server without retrying', async (code, status, shape, message) => {
    const list = ids(2);
    seed(list);
    const body = shape === 'gateway' ? { error_code: code, error_msg: message, request_id: 'req-' + code } : { error: { code, message } };
    sim.injectResponse({ on: 'action', status, body });
    const result = await provider().reboot(call(list));
    expect(result.pending).toBeUndefined();
    const requestId = shape === 'gateway' ? 'req-' + code : expect.stringMatching(/^[0-9a-f]{32}$/);
    expect(result.outcomes).toEqual(list.map((id) => ({ id, status: 'failed', code, message, requestId })));
    expect(posts()).toHaveLength(1);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('reports a rejected signature (wrong secret) without leaking the secret or the signature', async () => {
    const list = ids(2);
    seed(list);
    const wrongSecret = 'wrong-secret-value-xyz';
    const result = await provider({ credentials: { accessKeyId: AK, secretAccessKey: wrongSecret, projectId: PROJECT } }).reboot(call(list));
    expect(result.outcomes).toEqual(
      list.map((id) => ({
        id,
        status: 'failed',
        code: 'APIGW.0301',
        message: 'Incorrect IAM authentication information: verify aksk signature fail',
        requestId: expect.stringMatching(/^[0-9a-f]{32}$/),
      })),
    );
    expect(posts().map((r) => r.status)).toEqual([401]);
    const signature = /Signature=([0-9a-f]+)/.exec(posts()[0]!.headers['authorization'] ?? '')![1]!;
    const text = JSON.stringify(result);
    expect(text).not.toContain(wrongSecret);
    expect(text).not.toContain(SK);
    expect(text).not.toContain(signature);
    expect(text).not.toContain('SDK-HMAC-SHA256');
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('rejects an unknown access key with APIGW.0301', async () => {
    const list = ids(1);
    seed(list);
    const result = await provider({ credentials: { accessKeyId: 'UNKNOWNAK', secretAccessKey: SK, projectId: PROJECT } }).reboot(call(list));
    expect(result.outcomes).toEqual([expect.objectContaining({ status: 'failed', code: 'APIGW.0301' })]);
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('rejects an X-Sdk-Date more than 15 minutes off with APIGW.0303', async () => {
    const list = ids(1);
    seed(list);
    const skewed = () => new Date(Date.now() - 20 * 60_000);
    const result = await provider({ now: skewed }).reboot(call(list));
    expect(result.outcomes).toEqual([expect.objectContaining({ status: 'failed', code: 'APIGW.0303' })]);
    expect(posts().map((r) => r.status)).toEqual([401]);
  });

  it('returns unknown and does not resend when the answer to the POST is lost', async () => {
    const list = ids(3);
    seed(list);
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    const result = await provider().reboot(call(list));
    expect(result.pending).toBeUndefined();
    expect(result.outcomes.map((o) => o.status)).toEqual(['unknown', 'unknown', 'unknown']);
    for (const o of result.outcomes) {
      expect(o.status === 'unknown' && o.reason).toMatch(/^request sent but no answer \(network error [A-Z_]+\).*check them in the console$/);
    }
    expect(posts()).toHaveLength(1);
    // The cloud did act on it: sending again would have rebooted twice.
    expect(list.map((id) => sim.fleet.get(REGION, id)!.rebootCount)).toEqual([1, 1, 1]);
  });

  it('retries a connection refused before sending, then fails with the network code', async () => {
    const closed = new HuaweiSimulator({ credentials: { [AK]: SK } });
    const deadUrl = await closed.start();
    await closed.stop();
    const { sleeps, sleep } = recordingSleep();
    const result = await provider({ endpoint: deadUrl, sleep }).reboot(call(ids(2)));
    expect(result.outcomes).toEqual(
      ids(2).map((id) => ({ id, status: 'failed', code: 'ECONNREFUSED', message: expect.stringContaining('request not sent') })),
    );
    expect(sleeps).toHaveLength(3);
  });

  it('treats a 2xx without job_id as unknown (the cloud took it) and an unreadable error as UnexpectedResponse', async () => {
    const list = ids(1);
    seed(list);
    sim.injectResponse({ on: 'action', status: 200, body: { jobId: 'camelCase?' } });
    const taken = await provider().reboot(call(list));
    expect(taken.outcomes).toEqual([{ id: list[0], status: 'unknown', reason: expect.stringContaining('UnexpectedResponse') }]);

    sim.injectResponse({ on: 'action', status: 400, body: '<html>bad gateway config</html>' });
    const refused = await provider().reboot(call(list));
    expect(refused.outcomes).toEqual([
      expect.objectContaining({ status: 'failed', code: 'UnexpectedResponse', message: expect.stringContaining('HTTP 400') }),
    ]);
  });
});

describe('job outcomes', () => {
  it('maps each sub-job to its server: success, wrong state, injected failure, unknown server', async () => {
    const [ok, stopped, injected, missing] = ids(4);
    seed([ok!, injected!]);
    seed([stopped!], 'stopped');
    sim.failSubJob(injected!, 'Ecs.0000', 'Request error: host maintenance');
    const { pending } = await provider().reboot(call([ok!, stopped!, injected!, missing!]));
    expect(pending?.ids).toHaveLength(4);
    expect([ok, stopped, injected].map((id) => sim.fleet.findById(id!)!.rebootCount)).toEqual([1, 0, 0]);

    const outcomes = await provider().poll!({ region: REGION, handle: pending! });
    expect(outcomes).toEqual<InstanceOutcome[]>([
      { id: ok!, status: 'succeeded', detail: expect.stringContaining(pending!.jobId) },
      { id: stopped!, status: 'failed', code: 'Ecs.0100', message: expect.stringContaining('SHUTOFF') },
      { id: injected!, status: 'failed', code: 'Ecs.0000', message: 'Request error: host maintenance' },
      { id: missing!, status: 'failed', code: 'Ecs.0114', message: `Instance[${missing}] could not be found.` },
    ]);
    const last = await rawSend('GET', `/v1/${PROJECT}/jobs/${pending!.jobId}`);
    expect(JSON.parse(last.text)).toMatchObject({ status: 'FAIL', error_code: 'Ecs.0100', entities: { sub_jobs_total: 4 } });
  });

  it('keeps polling through throttling, 5xx and lost answers', async () => {
    const list = ids(2);
    seed(list);
    const { pending } = await provider().reboot(call(list));
    sim.faults.inject({ kind: 'throttle', count: 1 });
    sim.faults.inject({ kind: 'server-error', count: 1 });
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    const outcomes = await provider().poll!({ region: REGION, handle: pending! });
    expect(outcomes.map((o) => o.status)).toEqual(['succeeded', 'succeeded']);
    const statuses = gets().map((r) => r.status);
    expect(statuses.slice(0, 3)).toEqual([429, 500, 200]); // the third answer was dropped on the wire
    expect(statuses.length).toBeGreaterThanOrEqual(4);
    expect(posts()).toHaveLength(1);
    expect(sim.fleet.totalReboots()).toBe(2);
  });

  it('gives up after pollTimeoutMs: unfinished servers are unknown, naming the Huawei job', async () => {
    await sim.stop();
    sim = new HuaweiSimulator({ credentials: { [AK]: SK }, rebootMs: 3_000 });
    url = await sim.start();
    const list = ids(2);
    seed(list);
    const { pending } = await provider().reboot(call(list));
    const started = Date.now();
    const outcomes = await provider({ pollTimeoutMs: 80 }).poll!({ region: REGION, handle: pending! });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(outcomes).toEqual(list.map((id) => ({ id, status: 'unknown', reason: expect.stringContaining(`Huawei job ${pending!.jobId}`) })));
  });

  it('reports ids missing from the sub-jobs as unknown', async () => {
    const list = ids(1);
    seed(list);
    const { pending } = await provider().reboot(call(list));
    const stranger = serverId(999);
    const outcomes = await provider().poll!({ region: REGION, handle: { jobId: pending!.jobId, ids: [...list, stranger] } });
    expect(outcomes[0]).toMatchObject({ id: list[0], status: 'succeeded' });
    expect(outcomes[1]).toEqual({ id: stranger, status: 'unknown', reason: expect.stringContaining(pending!.jobId) });
  });

  it('stops on a job the cloud does not know, leaving the servers unknown with the job id and code', async () => {
    const list = ids(1);
    const outcomes = await provider().poll!({ region: REGION, handle: { jobId: 'ff80808288d41e1b018990260955686a', ids: list } });
    expect(outcomes).toEqual([
      { id: list[0], status: 'unknown', reason: expect.stringMatching(/ff80808288d41e1b018990260955686a.*Ecs\.0005/) },
    ]);
    expect(gets()).toHaveLength(1);
  });

  it('uses Ecs.SubJobFailed when a sub-job fails without a code, and reads single-server jobs', async () => {
    const [a, b] = ids(2);
    sim.injectResponse({
      on: 'job',
      status: 200,
      body: {
        status: 'FAIL',
        entities: { sub_jobs_total: 1, sub_jobs: [{ status: 'FAIL', entities: { server_id: a }, error_code: null, fail_reason: 'boom' }] },
      },
    });
    expect(await provider().poll!({ region: REGION, handle: { jobId: 'j1', ids: [a!] } })).toEqual([
      { id: a, status: 'failed', code: 'Ecs.SubJobFailed', message: 'boom' },
    ]);
    sim.injectResponse({ on: 'job', status: 200, body: { status: 'SUCCESS', entities: { server_id: b } } });
    expect(await provider().poll!({ region: REGION, handle: { jobId: 'j2', ids: [b!] } })).toEqual([
      expect.objectContaining({ id: b, status: 'succeeded' }),
    ]);
  });
});

describe('simulator gateway checks', () => {
  const action = `/v1/${PROJECT}/cloudservers/action`;
  const body = JSON.stringify({ reboot: { type: 'SOFT', servers: [{ id: serverId(1) }] } });

  it('rejects a body that differs from the signed one', async () => {
    seed([serverId(1)]);
    const res = await rawSend('POST', action, { body, sentBody: body.replace('SOFT', 'HARD') });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toMatchObject({ error_code: 'APIGW.0301', error_msg: 'Incorrect IAM authentication information: verify aksk signature fail' });
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('rejects a project id in the path that differs from X-Project-Id', async () => {
    const res = await rawSend('POST', action, { body, headers: { 'x-project-id': OTHER_PROJECT } });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'Ecs.0005' } });
  });

  it('answers an unknown API with APIGW.0101 and a missing signature with APIGW.0301', async () => {
    const unknown = await rawSend('GET', `/v2/${PROJECT}/nothing`);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toMatchObject({ error_code: 'APIGW.0101' });
    const unsigned = await sendHttp({ method: 'GET', url: new URL(`${url}/v1/${PROJECT}/jobs/x`), headers: {}, timeoutMs: 2_000 });
    expect(unsigned.status).toBe(401);
    expect(JSON.parse(unsigned.text)).toMatchObject({ error_code: 'APIGW.0301', request_id: unsigned.headers['x-request-id'] });
  });
});

describe('huaweiEndpoint', () => {
  it('builds the regional host, the .eu host for eu-west-101, and honours an override', () => {
    expect(huaweiEndpoint('cn-north-4')).toBe('https://ecs.cn-north-4.myhuaweicloud.com');
    expect(huaweiEndpoint('eu-west-101')).toBe('https://ecs.eu-west-101.myhuaweicloud.eu');
    expect(huaweiEndpoint('cn-north-4', 'http://127.0.0.1:4010/')).toBe('http://127.0.0.1:4010');
  });
});

describe('classifyError', () => {
  const res = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse => ({
    status,
    headers,
    text: typeof body === 'string' ? body : JSON.stringify(body),
  });

  it('tells throttling (safe to resend) from a server fault (safe only to read again), by code as well as by status', () => {
    const kind = (r: HttpResponse) => {
      const e = classifyError(r);
      return e.throttled ? 'throttled' : e.serverFault ? 'server-fault' : 'refused';
    };
    expect(kind(res(403, { error_code: 'APIG.0308', error_msg: 'limit' }))).toBe('throttled');
    expect(kind(res(400, { error_code: 'APIGW.0308', error_msg: 'limit' }))).toBe('throttled');
    expect(kind(res(429, 'Too Many Requests'))).toBe('throttled');
    expect(kind(res(400, { error: { code: 'Ecs.0002', message: 'x' } }))).toBe('server-fault');
    expect(kind(res(500, { error: { code: 'Ecs.0002', message: 'x' } }))).toBe('server-fault');
    expect(kind(res(502, 'Bad Gateway'))).toBe('server-fault');
    expect(kind(res(504, { error_code: 'APIG.0203', error_msg: 'Backend timeout' }))).toBe('server-fault');
    expect(kind(res(400, { error: { code: 'Ecs.0005', message: 'x' } }))).toBe('refused');
  });

  it('reads the gateway, ECS, flat and Nova shapes, with the request id from body or header', () => {
    expect(classifyError(res(401, { error_code: 'APIGW.0301', error_msg: 'm', request_id: 'b' }, { 'x-request-id': 'h' }))).toEqual({
      code: 'APIGW.0301', message: 'm', requestId: 'b', throttled: false, serverFault: false,
    });
    expect(classifyError(res(404, { error: { code: 'Ecs.0114', message: 'gone' } }, { 'x-request-id': 'h' }))).toEqual({
      code: 'Ecs.0114', message: 'gone', requestId: 'h', throttled: false, serverFault: false,
    });
    expect(classifyError(res(400, { code: 'Ecs.0000', message: 'query failed' }))).toMatchObject({ code: 'Ecs.0000', message: 'query failed' });
    expect(classifyError(res(404, { itemNotFound: { message: 'Instance could not be found', code: 404 } }))).toMatchObject({
      code: 'itemNotFound', message: 'Instance could not be found',
    });
    expect(classifyError(res(429, { error_code: 'APIGW.0308', error_msg: 'm' }, { 'retry-after': '3' })).afterMs).toBe(3_000);
  });
});

describe('secrets', () => {
  it('a cloud message that echoes the secret key reaches no outcome', async () => {
    seed(ids(1));
    sim.injectResponse({ on: 'action', status: 400, body: { error: { code: 'Ecs.0005', message: `bad request signed with ${SK}` } } });
    const result = await provider().reboot(call(ids(1)));
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'Ecs.0005' });
    expect(JSON.stringify(result)).not.toContain(SK);
    expect(JSON.stringify(result)).toContain('[redacted]');
  });
});
