/**
 * A cloud the bot has never heard of, defined here and nowhere else: its info, environment, file section,
 * client and loopback simulator make one descriptor, and a catalog with it drives the real bot end to end.
 * If adding a cloud needed an edit outside its own module, this file could not exist on its own.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createCatalog, defaultCatalog } from '../../src/providers/catalog.js';
import type { ProviderDescriptor, ProviderTuning } from '../../src/providers/descriptor.js';
import type { BatchResult, DescribeResult, InstanceOutcome, InstanceReading, Provider, ProviderInfo, RebootCall } from '../../src/providers/provider.js';
import { parseJsonOrUndefined } from '../../src/providers/outcomes.js';
import { SimulatorServer, type SimulatorRequest, type SimulatorResponse } from '../../src/providers/simulator-kit.js';
import { APPROVER_1, APPROVER_2, CHANNEL, Harness, INCIDENT, REQUESTER, hasButtons, textOf } from '../helpers/harness.js';

// ---- the cloud ------------------------------------------------------------------------------------

const info: ProviderInfo = {
  name: 'nimbus',
  displayName: 'Nimbus Compute',
  aliases: ['nb'],
  regions: ['nb-east-1', 'nb-west-1'],
  isInstanceId: (id) => /^vm-[0-9a-f]{8}$/.test(id),
  idFormat: 'vm- followed by 8 lowercase hex digits',
  exampleId: 'vm-0000abcd',
  maxBatch: 2,
  maxDescribe: 10,
  limits: { maxConcurrent: 1, minTimeMs: 0 },
  resendSafe: false,
};

interface NimbusCredentials {
  keyId: string;
  secret: string;
  endpoint: string;
  /** From the REBOOT_CONFIG file's `nimbus` section. */
  tenant?: string;
}

/** HMAC-SHA256 over method, path and body: the whole of Nimbus's signature scheme. */
function signature(secret: string, method: string, path: string, body: string): string {
  return createHmac('sha256', secret).update(`${method}\n${path}\n${body}`).digest('hex');
}

const RebootAnswer = z.object({
  results: z.array(z.object({ id: z.string(), ok: z.boolean(), code: z.string().optional(), message: z.string().optional() })),
});

const DescribeAnswer = z.object({ instances: z.array(z.object({ id: z.string(), name: z.string(), state: z.enum(['running', 'stopping', 'starting', 'stopped']) })) });

function createNimbusProvider(credentials: NimbusCredentials, tuning: ProviderTuning): Provider {
  /** One signed POST; the answer's text, or why there is none. */
  async function send(path: string, body: string): Promise<{ text: string } | { error: string }> {
    try {
      const res = await fetch(`${credentials.endpoint}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-nimbus-key': credentials.keyId,
          'x-nimbus-signature': signature(credentials.secret, 'POST', path, body),
          ...(credentials.tenant ? { 'x-nimbus-tenant': credentials.tenant } : {}),
        },
        body,
        signal: AbortSignal.timeout(tuning.timeoutMs),
      });
      const text = await res.text();
      return res.ok ? { text } : { error: `HTTP ${res.status}: ${text}` };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }
  return {
    info,
    async reboot(call: RebootCall): Promise<BatchResult> {
      const unknown = (reason: string): BatchResult => ({ outcomes: call.ids.map((id) => ({ id, status: 'unknown', reason })) });
      const sent = await send('/reboot', JSON.stringify({ region: call.region, ids: call.ids, force: call.force }));
      if ('error' in sent) return unknown(sent.error);
      const answer = RebootAnswer.safeParse(parseJsonOrUndefined(sent.text));
      if (!answer.success) return unknown('unreadable answer');
      const outcomes = answer.data.results.map((r): InstanceOutcome => {
        if (!r.ok) return { id: r.id, status: 'failed', code: r.code ?? 'Failed', message: r.message ?? '' };
        return { id: r.id, status: 'succeeded' };
      });
      return { outcomes };
    },
    async describe(call): Promise<DescribeResult> {
      const sent = await send('/describe', JSON.stringify({ region: call.region, ids: call.ids }));
      if ('error' in sent) return { kind: 'error', code: 'ReadFailed', message: sent.error, throttled: false };
      const answer = DescribeAnswer.safeParse(parseJsonOrUndefined(sent.text));
      if (!answer.success) return { kind: 'error', code: 'Unreadable', message: 'unreadable answer', throttled: false };
      const known = new Map(answer.data.instances.map((i) => [i.id, i]));
      const readings = call.ids.map((id): InstanceReading => {
        const i = known.get(id);
        if (!i) return { id, found: false };
        const phase = i.state === 'running' ? 'running' : i.state === 'stopped' ? 'stopped' : 'transitioning';
        return { id, found: true, name: i.name, phase, rawStatus: i.state, rebooting: phase === 'transitioning' };
      });
      return { kind: 'read', readings };
    },
  };
}

const RebootBody = z.object({ region: z.string(), ids: z.array(z.string()), force: z.boolean() });
const DescribeBody = z.object({ region: z.string(), ids: z.array(z.string()) });

class NimbusSimulator extends SimulatorServer {
  constructor(
    private readonly keys: Readonly<Record<string, string>>,
    private readonly tenant: string | undefined,
    rebootMs?: number,
  ) {
    super(rebootMs);
  }

  protected handle(req: SimulatorRequest): SimulatorResponse {
    if (req.method !== 'POST' || (req.path !== '/reboot' && req.path !== '/describe')) return { status: 404, body: { error: 'NotFound' } };
    const secret = this.keys[req.headers['x-nimbus-key'] ?? ''];
    if (secret === undefined) return { status: 401, body: { error: 'UnknownKey' } };
    const expected = Buffer.from(signature(secret, req.method, req.path, req.body));
    const given = Buffer.from(req.headers['x-nimbus-signature'] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { status: 403, body: { error: 'BadSignature' } };
    if (this.tenant !== undefined && req.headers['x-nimbus-tenant'] !== this.tenant) return { status: 403, body: { error: 'WrongTenant' } };
    if (req.path === '/describe') {
      const read = DescribeBody.safeParse(JSON.parse(req.body));
      if (!read.success) return { status: 400, body: { error: 'BadRequest' } };
      const instances = read.data.ids.flatMap((id) => {
        const i = this.fleet.get(read.data.region, id);
        return i ? [{ id, name: i.name, state: i.state }] : [];
      });
      return { status: 200, body: { instances } };
    }
    const parsed = RebootBody.safeParse(JSON.parse(req.body));
    if (!parsed.success) return { status: 400, body: { error: 'BadRequest' } };
    const { region, ids, force } = parsed.data;
    const results = ids.map((id) => {
      const instance = this.fleet.get(region, id);
      if (!instance) return { id, ok: false, code: 'NotFound', message: `no ${id} in ${region}` };
      if (instance.state !== 'running') return { id, ok: false, code: 'NotRunning', message: `${id} is ${instance.state}` };
      this.fleet.reboot(instance, force);
      return { id, ok: true };
    });
    return { status: 200, body: { results } };
  }
}

const TENANT = 'tenant-42';
const VARIABLES = { keyId: 'NIMBUS_KEY_ID', secret: 'NIMBUS_SECRET', endpoint: 'NIMBUS_ENDPOINT' } as const;
const Text = z.string().trim().min(1).optional();

const nimbus: ProviderDescriptor<NimbusCredentials> = {
  info,
  env: {
    variables: Object.values(VARIABLES),
    secrets: [VARIABLES.secret],
    schema: z
      .object({ [VARIABLES.keyId]: Text, [VARIABLES.secret]: Text, [VARIABLES.endpoint]: z.url().optional() })
      .transform((vars, ctx): NimbusCredentials | undefined => {
        const keyId = vars[VARIABLES.keyId];
        const secret = vars[VARIABLES.secret];
        const endpoint = vars[VARIABLES.endpoint];
        if (!keyId && !secret) return undefined;
        if (!keyId || !secret || !endpoint) {
          ctx.addIssue({ code: 'custom', message: 'Nimbus needs NIMBUS_KEY_ID, NIMBUS_SECRET and NIMBUS_ENDPOINT' });
          return z.NEVER;
        }
        return { keyId, secret, endpoint };
      }),
  },
  file: z.object({ tenant: z.string().min(1).optional() }),
  create: createNimbusProvider,
  local: {
    keyId: 'NIMBUSLOCAL',
    // The simulated account expects the tenant the test's configuration file names.
    simulator: (account, options) => new NimbusSimulator({ [account.keyId]: account.secret }, TENANT, options.rebootMs),
    env: (account, url) => ({ [VARIABLES.keyId]: account.keyId, [VARIABLES.secret]: account.secret, [VARIABLES.endpoint]: url }),
    fleet: [{ region: 'nb-east-1', id: 'vm-0000abcd', state: 'running' }],
  },
};

// ---- the bot, with the cloud in its catalog -------------------------------------------------------

const catalog = createCatalog([...defaultCatalog.descriptors, nimbus]);
const A = 'vm-000000a1';
const B = 'vm-000000b2';
const C = 'vm-000000c3';
const STOPPED = 'vm-0000dead';

describe('a fifth provider, from its descriptor alone', () => {
  let h: Harness;
  let sim: NimbusSimulator;
  const dir = mkdtempSync(join(tmpdir(), 'reboot-bot-nimbus-'));

  beforeAll(async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ nimbus: { tenant: TENANT }, regions: { nimbus: ['nb-south-1'] } }));
    h = await Harness.start({ providers: ['nimbus'], catalog, env: { REBOOT_CONFIG: file } });
    sim = h.sims.sims.nimbus as NimbusSimulator;
    for (const id of [A, B, C]) sim.fleet.add('nb-east-1', id);
    sim.fleet.add('nb-east-1', STOPPED, 'stopped');
    sim.fleet.add('nb-south-1', A);
  });
  afterAll(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is requested, approved and run against its simulator, in batches of its size', async () => {
    const { reply, card } = await h.request(`nimbus nb-east-1 ${A} ${B} ${C} ${STOPPED} --reason "fifth cloud"`);
    expect(reply).toContain('posted for approval');
    expect(textOf(card)).toContain('Nimbus Compute');
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();

    for (const id of [A, B, C]) expect(sim.fleet.get('nb-east-1', id)?.rebootCount).toBe(1);
    expect(sim.fleet.get('nb-east-1', STOPPED)?.rebootCount).toBe(0);
    // Four ids at two per call; every call signed, and with the tenant from the file's `nimbus` section.
    expect(sim.requests.filter((r) => r.path === '/reboot').map((r) => r.status)).toEqual([200, 200]);
    expect(sim.requests.every((r) => r.headers['x-nimbus-tenant'] === TENANT)).toBe(true);

    const thread = h.slack.thread(card.ts).map(textOf).join('\n');
    for (const id of [A, B, C]) expect(thread).toContain(`\`${id}\` back up, running`);
    expect(thread).toContain(`\`${STOPPED}\` *NotRunning*`);
    const final = h.slack.message(CHANNEL, card.ts)!;
    expect(hasButtons(final)).toBe(false);
    expect(textOf(final)).toContain('3 verified · 0 running, unconfirmed · 0 not back · 1 failed');
    expect(h.slack.topLevel(INCIDENT).map(textOf).join('\n')).toContain('on Nimbus Compute nb-east-1 completed');
    expect(h.slack.violations).toEqual([]);
  });

  it('answers to its alias, takes --force and --dry-run, and a region from the configuration file', async () => {
    const before = sim.fleet.totalReboots();
    const dry = await h.request(`nb nb-east-1 ${A} --dry-run`);
    expect(hasButtons(dry.card)).toBe(false);
    await h.settle();
    expect(sim.fleet.totalReboots()).toBe(before);
    expect(h.slack.thread(dry.card.ts).map(textOf).join('\n')).toContain(`\`${A}\` would reboot`);

    const forced = await h.request(`NB nb-south-1 ${A} --force`);
    await h.driver.clickButton(APPROVER_1, forced.card, 'reboot_approve');
    await h.driver.clickButton(APPROVER_2, forced.card, 'reboot_approve');
    await h.settle();
    expect(sim.fleet.get('nb-south-1', A)).toMatchObject({ rebootCount: 1, lastForce: true });
  });

  it('is checked like any other: its id format, its regions, its place in the usage', async () => {
    const badId = await h.driver.command(REQUESTER, CHANNEL, `nimbus nb-east-1 i-bp1g6zv0ce8oghu7abcd`);
    expect(badId.body).toContain('not a valid Nimbus Compute instance id: expected vm- followed by 8 lowercase hex digits');
    const badRegion = await h.driver.command(REQUESTER, CHANNEL, `nimbus cn-hangzhou ${A}`);
    expect(badRegion.body).toContain('unknown region `cn-hangzhou` for `nimbus`');
    const help = await h.driver.command(REQUESTER, CHANNEL, 'help');
    expect(help.body).toContain('`nimbus` (alias `nb`): Nimbus Compute');
    // The built-in clouds are in this catalog too, but without credentials here.
    const other = await h.driver.command(REQUESTER, CHANNEL, `${defaultCatalog.names[0] ?? ''} x y`);
    expect(other.body).toContain('credentials are not configured on this bot');
  });

  it('keeps its secret out of Slack, and its simulator refuses a wrong signature', async () => {
    const everything = JSON.stringify([h.slack.calls, h.slack.responses]);
    expect(everything).not.toContain(h.sims.env.NIMBUS_SECRET);

    const body = JSON.stringify({ region: 'nb-east-1', ids: [A], force: false });
    const forged = await fetch(`${h.sims.env.NIMBUS_ENDPOINT}/reboot`, {
      method: 'POST',
      headers: { 'x-nimbus-key': 'NIMBUSLOCAL', 'x-nimbus-signature': signature('not-the-secret', 'POST', '/reboot', body), 'x-nimbus-tenant': TENANT },
      body,
    });
    expect(forged.status).toBe(403);
  });
});
