import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAlibabaProvider, type AlibabaCredentials } from '../../../src/providers/alibaba/client.js';
import { createAlibabaSigner } from '../../../src/providers/alibaba/signer.js';
import { AlibabaSimulator } from '../../../src/providers/alibaba/simulator.js';
import type { ClientOptions, PermissionCheck, Provider } from '../../../src/providers/provider.js';
import type { RetryPolicy } from '../../../src/providers/retry.js';
import { decodeRawQuery, type QueryPair } from '../../../src/providers/signing.js';

const AK = 'LTAI5tTestAccessKey';
const SECRET = 'TestSecretValue-0123456789abcdef';
const REGION = 'cn-hangzhou';
const RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 };
const A = 'i-aaaaaaaaaaaaaaaaaaaa';
const B = 'i-bbbbbbbbbbbbbbbbbbbb';
const MISSING = 'i-missing0000000000001';

let sim: AlibabaSimulator;
let url: string;

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

async function check(ids: string[], overrides: Partial<ClientOptions<AlibabaCredentials>> = {}, force = false): Promise<PermissionCheck> {
  const p = provider(overrides);
  if (!p.checkPermission) throw new Error('the Alibaba provider must offer checkPermission');
  return p.checkPermission({ region: REGION, ids, force });
}

function params(query: string | undefined): Record<string, string> {
  return Object.fromEntries(decodeRawQuery(query ?? '') ?? []);
}

describe('checkPermission against the simulator', () => {
  it('sends RebootInstances with DryRun=true, no BatchOptimization, and reboots nothing', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B);
    const result = await check([A, B], {}, true);
    expect(result).toEqual({ kind: 'allowed', detail: expect.stringContaining('DRYRUN.SUCCESS') });
    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0]?.headers['x-acs-action']).toBe('RebootInstances');
    expect(sim.requests[0]?.query).toBe(`DryRun=true&ForceReboot=true&InstanceId.1=${A}&InstanceId.2=${B}&RegionId=${REGION}`);
    expect(params(sim.requests[0]?.query)['BatchOptimization']).toBeUndefined();
    expect(sim.fleet.totalReboots()).toBe(0);
    expect(sim.fleet.get(REGION, A)?.state).toBe('running');
  });

  it.each([
    ['a stopped instance', 'IncorrectInstanceStatus'],
    ['a financially locked instance', 'InstanceExpiredOrInArrears'],
    ['an unknown id', 'InvalidInstanceId.NotFound'],
  ] as const)('is allowed, with the refusal named, for %s (RAM passed, ECS would refuse)', async (what, code) => {
    sim.fleet.add(REGION, A);
    if (what === 'a stopped instance') sim.fleet.add(REGION, B, 'stopped');
    if (what === 'a financially locked instance') sim.fleet.add(REGION, B, 'running', { lockReason: 'financial' });
    const result = await check([A, what === 'an unknown id' ? MISSING : B]);
    expect(result).toEqual({ kind: 'allowed', detail: expect.stringMatching(new RegExp(`^RAM permission passed but ECS would refuse: ${code.replace('.', '\\.')} \\(.+, RequestId [0-9A-F-]{36}\\)$`)) });
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('is denied with Forbidden.RAM when RAM does not allow RebootInstances', async () => {
    sim.access.reboot = 'forbidden';
    sim.fleet.add(REGION, A);
    const result = await check([A]);
    expect(result).toMatchObject({ kind: 'denied', code: 'Forbidden.RAM', message: expect.stringContaining('User not authorized') });
    expect(sim.requests).toHaveLength(1);
  });

  it('is denied for a wrong secret and for an unknown AccessKeyId, without leaking either', async () => {
    sim.fleet.add(REGION, A);
    const wrong = 'WrongSecret-ffffffffffffffff';
    const bad = await check([A], { credentials: { accessKeyId: AK, accessKeySecret: wrong } });
    expect(bad).toMatchObject({ kind: 'denied', code: 'SignatureDoesNotMatch' });
    expect(JSON.stringify(bad)).not.toContain(wrong);
    expect(await check([A], { credentials: { accessKeyId: 'LTAI-unknown', accessKeySecret: SECRET } })).toMatchObject({ kind: 'denied', code: 'InvalidAccessKeyId.NotFound' });
  });

  it('retries throttling; when it persists, the check is unclear', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'throttle', count: 1 });
    expect(await check([A])).toMatchObject({ kind: 'allowed' });
    expect(sim.requests.map((r) => r.status)).toEqual([400, 400]);
    sim.requests.length = 0;
    sim.faults.inject({ kind: 'throttle', count: 10 });
    expect(await check([A])).toMatchObject({ kind: 'unclear', reason: expect.stringContaining('Throttling.User') });
    expect(sim.requests).toHaveLength(RETRY.maxAttempts);
  });

  it('retries a 5xx and a dropped answer (a dry run reboots nothing); a persistent 5xx is unclear', async () => {
    sim.fleet.add(REGION, A);
    sim.faults.inject({ kind: 'server-error', count: 1 });
    sim.faults.inject({ kind: 'drop-response', count: 1 });
    expect(await check([A])).toMatchObject({ kind: 'allowed' });
    sim.faults.clear();
    sim.faults.inject({ kind: 'server-error', count: 10 });
    expect(await check([A])).toMatchObject({ kind: 'unclear', reason: expect.stringContaining('InternalError') });
    expect(sim.fleet.totalReboots()).toBe(0);
  });

  it('is unclear, sending nothing, for no ids or a bad region', async () => {
    expect(await check([])).toMatchObject({ kind: 'unclear' });
    const p = provider();
    expect(await p.checkPermission?.({ region: 'CN HANGZHOU', ids: [A], force: false })).toMatchObject({ kind: 'unclear' });
    expect(sim.requests).toHaveLength(0);
  });
});

describe('the simulated RebootInstances dry run', () => {
  async function sendSigned(query: QueryPair[]): Promise<{ status: number; body: Record<string, unknown> }> {
    const signer = createAlibabaSigner({ credentials: { accessKeyId: AK, accessKeySecret: SECRET } });
    const signed = signer.sign({ method: 'POST', origin: url, path: '/', query, headers: { 'x-acs-action': 'RebootInstances', 'x-acs-version': '2014-05-26' }, body: '' });
    const res = await request(signed.url, { method: 'POST', headers: signed.headers, body: '' });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }

  it('in SuccessFirst answers DRYRUN.SUCCESS for every instance whatever the check finds, which is why the client never uses it', async () => {
    sim.fleet.add(REGION, A, 'stopped');
    const res = await sendSigned([['RegionId', REGION], ['InstanceId.1', A], ['InstanceId.2', MISSING], ['DryRun', 'true'], ['BatchOptimization', 'SuccessFirst']]);
    expect(res.status).toBe(200);
    expect(res.body['InstanceResponses']).toMatchObject({ InstanceResponse: [{ InstanceId: A, Code: 'DRYRUN.SUCCESS' }, { InstanceId: MISSING, Code: 'DRYRUN.SUCCESS' }] });
  });

  it('in AllTogether answers the first failing instance for the whole call, and never reboots', async () => {
    sim.fleet.add(REGION, A);
    sim.fleet.add(REGION, B, 'running', { lockReason: 'security' });
    const res = await sendSigned([['RegionId', REGION], ['InstanceId.1', A], ['InstanceId.2', B], ['InstanceId.3', MISSING], ['DryRun', 'true']]);
    expect(res).toMatchObject({ status: 403, body: { Code: 'InstanceLockedForSecurity' } });
    expect(sim.fleet.totalReboots()).toBe(0);
  });
});

describe('answers the simulator never gives', () => {
  let server: Server;
  let answer: { status: number; body: string };
  let hits: number;

  beforeEach(async () => {
    hits = 0;
    server = createServer((req, res) => {
      hits += 1;
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const custom = (): Promise<PermissionCheck> => check([A], { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const ecsError = (status: number, Code: string): { status: number; body: string } => ({ status, body: JSON.stringify({ RequestId: 'R-1', Code, Message: `${Code} message` }) });

  it('takes DryRunOperation as a pass too', async () => {
    answer = ecsError(400, 'DryRunOperation');
    expect(await custom()).toMatchObject({ kind: 'allowed', detail: expect.stringContaining('DryRunOperation') });
  });

  it.each(['Forbidden', 'Forbidden.NoPermission', 'NoPermission', 'InvalidAccessKeyId.Inactive', 'InvalidSecurityToken.Expired', 'InvalidTimeStamp.Expired', 'IncompleteSignature'])(
    'reads %s as denied',
    async (code) => {
      answer = ecsError(403, code);
      expect(await custom()).toEqual({ kind: 'denied', code, message: `${code} message, RequestId R-1` });
      expect(hits).toBe(1);
    },
  );

  it.each(['InstanceLockedForSecurity', 'InsufficientBalance', 'InstanceNotReady', 'InvalidInstanceIds.NotFound'])('reads %s as allowed with a refusal', async (code) => {
    answer = ecsError(403, code);
    expect(await custom()).toMatchObject({ kind: 'allowed', detail: `RAM permission passed but ECS would refuse: ${code} (${code} message, RequestId R-1)` });
  });

  it('is unclear for a 2xx (what a real call gets), not resent', async () => {
    answer = { status: 200, body: JSON.stringify({ RequestId: 'R-2' }) };
    expect(await custom()).toMatchObject({ kind: 'unclear', reason: expect.stringContaining('as it answers a real call') });
    expect(hits).toBe(1);
  });

  it('is unclear for an undocumented code or an unreadable body', async () => {
    answer = ecsError(400, 'InvalidParameter');
    expect(await custom()).toMatchObject({ kind: 'unclear', reason: expect.stringContaining('neither yes nor no') });
    answer = { status: 400, body: '<html>bad request</html>' };
    expect(await custom()).toMatchObject({ kind: 'unclear' });
    answer = { status: 502, body: '<html>bad gateway</html>' };
    expect(await custom()).toMatchObject({ kind: 'unclear' });
    expect(hits).toBe(2 + RETRY.maxAttempts);
  });
});
