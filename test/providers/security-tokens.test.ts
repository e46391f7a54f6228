/**
 * Temporary keys on every cloud, through each descriptor's real client against its simulator: the token is sent and
 * checked, a wrong or missing one is refused, an expired one fails once and is not retried, an unsigned token header
 * is refused where the cloud's SDK signs it, and a credentials file is followed as it is rotated.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, redact } from '../../src/log.js';
import { createAlibabaSigner } from '../../src/providers/alibaba/signer.js';
import { createBaiduSigner } from '../../src/providers/baidu/signer.js';
import { defaultCatalog } from '../../src/providers/catalog.js';
import type { ProviderDescriptor, ProviderTuning, SimulatedAccount } from '../../src/providers/descriptor.js';
import { sendHttp } from '../../src/providers/http.js';
import { createHuaweiSigner } from '../../src/providers/huawei/signer.js';
import type { BatchResult, InstanceOutcome, Provider, ProviderName } from '../../src/providers/provider.js';
import type { RequestSigner, UnsignedRequest } from '../../src/providers/signing.js';
import { SimulatorServer, type ProviderSimulator } from '../../src/providers/simulator-kit.js';
import { createVolcengineSigner } from '../../src/providers/volcengine/signer.js';
import { rebootCalls } from '../helpers/cloud-requests.js';

const TUNING: ProviderTuning = {
  retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 },
  timeoutMs: 2000,
  poll: { initialDelayMs: 10, maxDelayMs: 40, timeoutMs: 5000 },
};

/** What a test needs to reach each cloud by hand: its token header, a signer for a key, and one read request. */
interface WireProfile {
  tokenHeader: string;
  /** Whether the cloud's SDK signs the token header, so the simulator refuses it unsigned. */
  signsToken: boolean;
  signer(keyId: string, secret: string): RequestSigner;
  read(origin: string, id: string): UnsignedRequest;
}

const PROJECT = '0123456789abcdef0123456789abcdef';

const WIRE: Record<string, WireProfile> = {
  alibaba: {
    tokenHeader: 'x-acs-security-token',
    signsToken: true,
    signer: (accessKeyId, accessKeySecret) => createAlibabaSigner({ credentials: { accessKeyId, accessKeySecret } }),
    read: (origin, id) => ({
      method: 'POST',
      origin,
      path: '/',
      query: [
        ['RegionId', 'cn-hangzhou'],
        ['InstanceIds', JSON.stringify([id])],
      ],
      headers: { 'x-acs-action': 'DescribeInstances', 'x-acs-version': '2014-05-26' },
      body: '',
    }),
  },
  volcengine: {
    tokenHeader: 'x-security-token',
    signsToken: true,
    signer: (accessKeyId, secretAccessKey) => createVolcengineSigner({ credentials: { accessKeyId, secretAccessKey }, region: 'cn-beijing', service: 'ecs' }),
    read: (origin, id) => ({
      method: 'GET',
      origin,
      path: '/',
      query: [
        ['Action', 'DescribeInstances'],
        ['Version', '2020-04-01'],
        ['InstanceIds.1', id],
      ],
      headers: {},
    }),
  },
  baidu: {
    tokenHeader: 'x-bce-security-token',
    signsToken: true,
    signer: (accessKeyId, secretAccessKey) => createBaiduSigner({ credentials: { accessKeyId, secretAccessKey } }),
    read: (origin, id) => ({ method: 'GET', origin, path: `/v2/instance/${id}`, query: [], headers: {} }),
  },
  huawei: {
    tokenHeader: 'x-security-token',
    signsToken: true,
    signer: (accessKeyId, secretAccessKey) => createHuaweiSigner({ credentials: { accessKeyId, secretAccessKey } }),
    read: (origin, id) => ({
      method: 'GET',
      origin,
      path: `/v1/${PROJECT}/cloudservers/detail`,
      query: [
        ['server_id', id],
        ['limit', '100'],
      ],
      headers: {},
    }),
  },
};

interface Cloud {
  d: ProviderDescriptor;
  sim: ProviderSimulator;
  account: Required<SimulatedAccount>;
  url: string;
  region: string;
  ids: string[];
}

const started: ProviderSimulator[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function secret(): string {
  return randomBytes(18).toString('base64url');
}

async function cloud(d: ProviderDescriptor): Promise<Cloud> {
  const account = { keyId: d.local.keyId, secret: secret(), token: `tok-${secret()}` };
  const sim = d.local.simulator(account, { rebootMs: 20 });
  started.push(sim);
  const url = await sim.start();
  const seed = d.local.fleet.find((s) => s.state === 'running' && !s.neverComesBack)!;
  // Two more valid ids of the same shape (hex digits suit Huawei's UUIDs too).
  const ids = [seed.id, ...['7', '8'].map((n) => seed.id.slice(0, -1) + n)];
  for (const id of ids) sim.fleet.add(seed.region, id);
  return { d, sim, account, url, region: seed.region, ids };
}

/** The client exactly as the bot builds it: the descriptor reads the variables, then creates the client. */
function providerFrom(d: ProviderDescriptor, env: Record<string, string>, tuning: ProviderTuning = TUNING): Provider {
  const credentials = d.env.schema.parse(env);
  if (credentials === undefined) throw new Error('not configured');
  return d.create(credentials, tuning);
}

function reboot(provider: Provider, c: Cloud, id: string): Promise<BatchResult> {
  return provider.reboot({ region: c.region, ids: [id], force: false, idempotencyKey: `job-${secret()}` });
}

/** Accepted: Huawei hands the id to its async job, the others answer it succeeded. */
function accepted(result: BatchResult, id: string): boolean {
  return result.pending?.ids.includes(id) === true || result.outcomes.some((o) => o.id === id && o.status === 'succeeded');
}

function failed(result: BatchResult): Extract<InstanceOutcome, { status: 'failed' }> {
  const outcome = result.outcomes[0];
  if (outcome?.status !== 'failed') throw new Error(`expected failed, got ${JSON.stringify(result)}`);
  return outcome;
}

/** The names of the variables a descriptor reads for its key pair, its token and its file. */
function names(d: ProviderDescriptor): { keyId: string; secret: string; token: string; file: string } {
  const [keyId, secretName, token, file] = d.env.variables;
  return { keyId: keyId!, secret: secretName!, token: token!, file: file! };
}

function writeAtomically(path: string, body: unknown): void {
  const tmp = `${path}.tmp-${secret()}`;
  writeFileSync(tmp, typeof body === 'string' ? body : JSON.stringify(body));
  renameSync(tmp, path);
}

describe.each(defaultCatalog.descriptors.map((d) => [d.info.name as ProviderName, d] as const))('%s: security token', (name, d) => {
  const wire = WIRE[name]!;

  it('sends the token in its header and the reboot and the read are accepted', async () => {
    const c = await cloud(d);
    const provider = providerFrom(d, d.local.env(c.account, c.url));
    expect(accepted(await reboot(provider, c, c.ids[0]!), c.ids[0]!)).toBe(true);
    const read = await provider.describe({ region: c.region, ids: [c.ids[1]!] });
    expect(read.kind).toBe('read');
    expect(c.sim.requests.every((r) => r.headers[wire.tokenHeader] === c.account.token)).toBe(true);
  });

  it('a wrong or missing token is refused once: failed, not unknown, not retried, and the token is nowhere in the outcome', async () => {
    const c = await cloud(d);
    const env = d.local.env(c.account, c.url);
    const wrongToken = `wrong-${secret()}`;
    const wrong = failed(await reboot(providerFrom(d, { ...env, [names(d).token]: wrongToken }), c, c.ids[0]!));
    expect(rebootCalls(name, c.sim.requests)).toHaveLength(1);
    expect(JSON.stringify(wrong)).not.toContain(wrongToken);
    expect(JSON.stringify(wrong)).not.toContain(c.account.token);
    const { [names(d).token]: _dropped, ...withoutToken } = env;
    failed(await reboot(providerFrom(d, withoutToken), c, c.ids[1]!));
    expect(rebootCalls(name, c.sim.requests)).toHaveLength(2);
    expect(c.sim.fleet.totalReboots()).toBe(0);
  });

  it('an expired token: the cloud answers its expired-token error, the instance is failed with a clear message and the call is not retried', async () => {
    const c = await cloud(d);
    const provider = providerFrom(d, d.local.env(c.account, c.url));
    c.sim.accounts!.expireToken(c.account.keyId);
    const outcome = failed(await reboot(provider, c, c.ids[0]!));
    expect(outcome.message).toMatch(new RegExp(`^security token expired \\(${outcome.code.replace('.', '\\.')}\\)`));
    expect(rebootCalls(name, c.sim.requests)).toHaveLength(1);
    const read = await provider.describe({ region: c.region, ids: [c.ids[1]!] });
    expect(read).toMatchObject({ kind: 'error', throttled: false });
    expect(read.kind === 'error' ? read.message : '').toMatch(/^security token expired \(/);
    expect(c.sim.fleet.totalReboots()).toBe(0);
  });

  it(wire.signsToken ? 'refuses a token header that is not among the signed headers' : 'accepts the token header unsigned, as the JS SDK sends it', async () => {
    const c = await cloud(d);
    const signed = wire.signer(c.account.keyId, c.account.secret).sign(wire.read(c.url, c.ids[0]!));
    const res = await sendHttp({ ...signed, headers: { ...signed.headers, [wire.tokenHeader]: c.account.token }, timeoutMs: 2000 });
    if (wire.signsToken) expect(res.status).toBeGreaterThanOrEqual(400);
    else expect(res.status).toBe(200);
    // And without the token at all, the temporary key is refused whatever the signature.
    const bare = await sendHttp({ ...signed, timeoutMs: 2000 });
    expect(bare.status).toBeGreaterThanOrEqual(400);
  });

  it('a credentials file: rotated by rename between two calls, the next call signs with the new key; an invalid file keeps the last good one', async () => {
    const c = await cloud(d);
    const dir = mkdtempSync(join(tmpdir(), 'reboot-bot-creds-'));
    dirs.push(dir);
    const path = join(dir, 'credentials.json');
    writeAtomically(path, { accessKeyId: c.account.keyId, accessKeySecret: c.account.secret, securityToken: c.account.token });
    const lines: string[] = [];
    const env = { ...d.local.env(c.account, c.url), [names(d).keyId]: '', [names(d).secret]: '', [names(d).token]: '', [names(d).file]: path };
    const provider = providerFrom(d, env, { ...TUNING, logger: createLogger('info', (l) => lines.push(l)) });
    expect(accepted(await reboot(provider, c, c.ids[0]!), c.ids[0]!)).toBe(true);

    // The agent rotates: the cloud now knows only the new key.
    const next = { keyId: `${c.account.keyId}NEW`, secret: secret(), token: `tok-${secret()}` };
    c.sim.accounts!.add(next.keyId, next.secret, next.token);
    c.sim.accounts!.remove(c.account.keyId);
    writeAtomically(path, { accessKeyId: next.keyId, accessKeySecret: next.secret, securityToken: next.token, expiration: new Date(Date.now() + 3600_000).toISOString() });
    expect(accepted(await reboot(provider, c, c.ids[1]!), c.ids[1]!)).toBe(true);
    expect(c.sim.requests.at(-1)?.headers[wire.tokenHeader]).toBe(next.token);

    // A broken write: the last good credentials stay, and the log says so without a secret.
    writeAtomically(path, { accessKeyId: 'half-written', accessKeySecret: 42 });
    expect(accepted(await reboot(provider, c, c.ids[2]!), c.ids[2]!)).toBe(true);
    expect(c.sim.requests.at(-1)?.headers[wire.tokenHeader]).toBe(next.token);
    const log = lines.join('\n');
    expect(log).toContain('credentials file unusable; keeping the last good credentials');
    expect(log).toContain('accessKeySecret');
    for (const value of [next.secret, next.token, c.account.secret, c.account.token]) {
      expect(log).not.toContain(value);
      expect(redact(`x ${value} y`)).toBe('x [redacted] y');
    }
  });

  it('credentials are resolved per request: a retry inside one call (after a throttle) signs with the key rotated meanwhile', async () => {
    const c = await cloud(d);
    const sim = c.sim;
    if (!(sim instanceof SimulatorServer)) throw new Error('a SimulatorServer');
    const dir = mkdtempSync(join(tmpdir(), 'reboot-bot-creds-'));
    dirs.push(dir);
    const path = join(dir, 'credentials.json');
    writeAtomically(path, { accessKeyId: c.account.keyId, accessKeySecret: c.account.secret, securityToken: c.account.token });
    const env = { ...d.local.env(c.account, c.url), [names(d).keyId]: '', [names(d).secret]: '', [names(d).token]: '', [names(d).file]: path };
    const provider = providerFrom(d, env);
    const next = { keyId: `${c.account.keyId}NEW`, secret: secret(), token: `tok-${secret()}` };
    sim.faults.inject({ kind: 'throttle', count: 1 });
    // The throttled answer is out: the agent rotates before the client's retry.
    const stop = sim.onResponded(() => {
      if (sim.requests.length !== 1) return;
      c.sim.accounts!.add(next.keyId, next.secret, next.token);
      c.sim.accounts!.remove(c.account.keyId);
      writeAtomically(path, { accessKeyId: next.keyId, accessKeySecret: next.secret, securityToken: next.token });
    });
    expect(accepted(await reboot(provider, c, c.ids[0]!), c.ids[0]!)).toBe(true);
    stop();
    expect(rebootCalls(name, sim.requests).map((r) => r.headers[wire.tokenHeader])).toEqual([c.account.token, next.token]);
  });

  it('a credentials file whose expiration has passed fails the call at once, sending nothing', async () => {
    const c = await cloud(d);
    const dir = mkdtempSync(join(tmpdir(), 'reboot-bot-creds-'));
    dirs.push(dir);
    const path = join(dir, 'credentials.json');
    writeAtomically(path, { accessKeyId: c.account.keyId, accessKeySecret: c.account.secret, securityToken: c.account.token, expiration: '2020-01-01T00:00:00Z' });
    const env = { ...d.local.env(c.account, c.url), [names(d).keyId]: '', [names(d).secret]: '', [names(d).token]: '', [names(d).file]: path };
    const provider = providerFrom(d, env);
    const outcome = failed(await reboot(provider, c, c.ids[0]!));
    expect(outcome.code).toBe('CredentialsExpired');
    expect(outcome.message).toMatch(/^security token expired \(CredentialsExpired\): the key from credentials file .* expired at 2020-01-01T00:00:00\.000Z; reboot-bot sent nothing$/);
    expect(await provider.describe({ region: c.region, ids: [c.ids[0]!] })).toMatchObject({ kind: 'error', code: 'CredentialsExpired' });
    expect(c.sim.requests).toHaveLength(0);
  });
});
