import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { APPROVER_1, CHANNEL, Harness, REQUESTER, waitFor } from '../helpers/harness.js';

const REGION = 'cn-hangzhou';
const A = 'i-bp1aaaaaaaaaaaaaaaaa';
const B = 'i-bp1bbbbbbbbbbbbbbbbb';

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await request(url);
  return { status: res.statusCode, type: String(res.headers['content-type']), body: await res.body.text() };
}

async function readyz(h: Harness): Promise<{ status: number; body: { ok: boolean; reason?: string; problems?: Array<{ check: string; reason: string }> } }> {
  const res = await get(`${h.bot.url}/readyz`);
  return { status: res.status, body: JSON.parse(res.body) as { ok: boolean; reason?: string; problems?: Array<{ check: string; reason: string }> } };
}

/** The value of one series in the exposition text, e.g. series(text, 'reboot_requests_total{outcome="approved"}'). */
function series(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function metricsOf(h: Harness): Promise<string> {
  const res = await get(`${h.bot.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.type).toContain('text/plain');
  return res.body;
}

async function approvedJob(h: Harness): Promise<void> {
  const { card } = await h.request(`alibaba ${REGION} ${A},${B} --reason "kernel patch"`);
  // The reboot call is turned away for rate once, then resent.
  h.sims.sims.alibaba!.faults.inject({ kind: 'throttle', count: 1 });
  const click = await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
  expect(click.status).toBe(200);
  await waitFor(() => h.sqlite.jobsInState('completed').length === 1, 'job completed', 10_000);
  await h.settle();
}

describe('GET /metrics', () => {
  const harnesses: Harness[] = [];
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((h) => h.stop()));
  });

  async function start(): Promise<Harness> {
    const h = await Harness.start({ providers: ['alibaba'] });
    harnesses.push(h);
    for (const id of [A, B]) h.sims.sims.alibaba!.fleet.add(REGION, id);
    return h;
  }

  it('after an approved job: requests, instances, provider call latency, throttles, and process metrics, per bot', async () => {
    const h = await start();
    await approvedJob(h);
    const text = await metricsOf(h);

    expect(series(text, 'reboot_requests_total{outcome="approved"}')).toBe(1);
    for (const outcome of ['denied', 'expired', 'cancelled']) expect(series(text, `reboot_requests_total{outcome="${outcome}"}`)).toBe(0);
    expect(series(text, 'reboot_instances_total{provider="alibaba",outcome="verified"}')).toBe(2);
    expect(series(text, 'reboot_instances_total{provider="alibaba",outcome="failed"}')).toBe(0);
    // One reboot call for both instances, answered after one throttled try (HTTP 400 Throttling.User).
    expect(series(text, 'reboot_provider_call_duration_seconds_count{provider="alibaba",call="reboot",status="ok"}')).toBe(1);
    expect(series(text, 'reboot_provider_call_duration_seconds_count{provider="alibaba",call="reboot",status="4xx"}')).toBe(1);
    expect(series(text, 'reboot_provider_call_duration_seconds_bucket{le="+Inf",provider="alibaba",call="reboot",status="ok"}')).toBe(1);
    expect(series(text, 'reboot_provider_call_duration_seconds_sum{provider="alibaba",call="reboot",status="ok"}')).toBeGreaterThan(0);
    // Pre-flight and verification read the instances.
    expect(series(text, 'reboot_provider_call_duration_seconds_count{provider="alibaba",call="describe",status="ok"}')).toBeGreaterThanOrEqual(2);
    expect(series(text, `reboot_provider_throttles_total{provider="alibaba",region="${REGION}"}`)).toBe(1);
    expect(series(text, 'reboot_jobs_running')).toBe(0);
    expect(text).toContain('# TYPE reboot_outbox_depth gauge');
    expect(text).toContain('# TYPE reboot_slack_api_errors_total counter');
    expect(series(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_heap_size_total_bytes');

    // A second bot in the same process counts on its own registry.
    const other = await start();
    const fresh = await metricsOf(other);
    expect(series(fresh, 'reboot_requests_total{outcome="approved"}')).toBe(0);
    expect(series(fresh, `reboot_provider_throttles_total{provider="alibaba",region="${REGION}"}`)).toBeUndefined();
    expect(series(await metricsOf(h), 'reboot_requests_total{outcome="approved"}')).toBe(1);
  });

  it('counts denials and withdrawals by outcome', async () => {
    const h = await start();
    const first = await h.request(`alibaba ${REGION} ${A}`);
    expect((await h.driver.clickButton(APPROVER_1, first.card, 'reboot_deny')).status).toBe(200);
    const second = await h.request(`alibaba ${REGION} ${B}`);
    expect((await h.driver.clickButton(REQUESTER, second.card, 'reboot_deny')).status).toBe(200);
    await h.settle();
    const text = await metricsOf(h);
    expect(series(text, 'reboot_requests_total{outcome="denied"}')).toBe(1);
    expect(series(text, 'reboot_requests_total{outcome="withdrawn"}')).toBe(1);
    expect(series(text, 'reboot_requests_total{outcome="approved"}')).toBe(0);
  });
});

describe('GET /readyz', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('is ready when the database, Slack and the outbox are; not ready while auth.test fails; /healthz stays live', async () => {
    h = await Harness.start({ providers: ['alibaba'], tuning: { readinessAuthCacheMs: 0 } });
    expect(await readyz(h)).toEqual({ status: 200, body: { ok: true } });

    h.slack.injectFault('auth.test', { error: 'invalid_auth' });
    const refused = await readyz(h);
    expect(refused.status).toBe(503);
    expect(refused.body.ok).toBe(false);
    expect(refused.body.problems).toEqual([{ check: 'slack', reason: 'Slack auth.test failed: invalid_auth' }]);
    expect(refused.body.reason).toContain('invalid_auth');
    expect((await get(`${h.bot.url}/healthz`)).status).toBe(200);
    expect(series(await metricsOf(h), 'reboot_slack_api_errors_total{method="auth.test",error="invalid_auth"}')).toBe(1);

    // The fault was one answer: the next probe asks again and is ready.
    expect((await readyz(h)).status).toBe(200);
  });

  it('keeps auth.test\'s answer for a while, so probes do not hammer Slack', async () => {
    h = await Harness.start({ providers: ['alibaba'], tuning: { readinessAuthCacheMs: 60_000 } });
    // Bolt's own auth.test, made on the first request it authorizes, out of the way.
    await h.driver.command(REQUESTER, CHANNEL, 'help');
    expect((await readyz(h)).status).toBe(200);
    const asked = h.slack.callsTo('auth.test').length;
    h.slack.injectFault('auth.test', { error: 'invalid_auth' });
    expect((await readyz(h)).status).toBe(200);
    expect((await readyz(h)).status).toBe(200);
    expect(h.slack.callsTo('auth.test')).toHaveLength(asked);
    expect(h.slack.faults.get('auth.test')).toHaveLength(1);
  });

  it('is not ready while the database cannot be written', async () => {
    h = await Harness.start({ providers: ['alibaba'], tuning: { readinessAuthCacheMs: 0 } });
    // A read-only connection: every write fails with SQLITE_READONLY (https://www.sqlite.org/pragma.html#pragma_query_only).
    h.sqlite.db.pragma('query_only = ON');
    const down = await readyz(h);
    expect(down.status).toBe(503);
    expect(down.body.problems?.map((p) => p.check)).toEqual(['database']);
    expect(down.body.reason).toMatch(/database cannot be written: attempt to write a readonly database/);
    h.sqlite.db.pragma('query_only = OFF');
    expect((await readyz(h)).status).toBe(200);
    // The probe's write was rolled back: nothing of it is left.
    expect(h.sqlite.db.prepare(`SELECT COUNT(*) AS n FROM lease WHERE name = 'readiness-probe'`).get()).toEqual({ n: 0 });
  });

  it('is not ready once a due Slack write has waited past REBOOT_READY_OUTBOX_STUCK during a Slack outage, and ready again after', async () => {
    h = await Harness.start({ providers: ['alibaba'], env: { REBOOT_READY_OUTBOX_STUCK: '1s' }, tuning: { readinessAuthCacheMs: 0 } });
    h.sims.sims.alibaba!.fleet.add(REGION, A);
    // Bolt authorizes its first request with auth.test: that one happens before the outage.
    await h.driver.command(REQUESTER, CHANNEL, 'help');
    h.slack.outage = true;
    const res = await h.driver.command(REQUESTER, CHANNEL, `alibaba ${REGION} ${A}`);
    expect(res.status).toBe(200);
    await waitFor(() => h!.slack.callsTo('chat.postMessage').some((c) => c.error === 'http_503'), 'a card post refused by the outage');

    // Queued just now: late, but not yet stuck.
    const early = await readyz(h);
    expect(early.body.problems?.map((p) => p.check)).not.toContain('outbox');

    await new Promise((r) => setTimeout(r, 1200));
    const stuck = await readyz(h);
    expect(stuck.status).toBe(503);
    const outbox = stuck.body.problems?.find((p) => p.check === 'outbox');
    expect(outbox?.reason).toMatch(new RegExp(`Slack write to ${CHANNEL} has waited \\d+ s \\(limit 1 s\\)`));
    const text = await metricsOf(h);
    expect(series(text, `reboot_outbox_depth{channel="${CHANNEL}"}`)).toBeGreaterThanOrEqual(1);
    expect(series(text, `reboot_outbox_oldest_age_seconds{channel="${CHANNEL}"}`)).toBeGreaterThan(1);
    expect(series(text, 'reboot_slack_api_errors_total{method="chat.postMessage",error="http_503"}')).toBeGreaterThanOrEqual(1);

    h.slack.outage = false;
    await waitFor(() => h!.cards().length === 1, 'the card, once Slack is back', 10_000);
    await h.settle();
    expect(await readyz(h)).toEqual({ status: 200, body: { ok: true } });
    expect(series(await metricsOf(h), `reboot_outbox_depth{channel="${CHANNEL}"}`)).toBeUndefined();
  });
});

describe('job logs', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('every line about a job carries its jobId, provider and region; no secret appears in any line', async () => {
    const lines: string[] = [];
    h = await Harness.start({ providers: ['alibaba'], log: createLogger('debug', (line) => lines.push(line)) });
    for (const id of [A, B]) h.sims.sims.alibaba!.fleet.add(REGION, id);
    await approvedJob(h);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const jobId = h.sqlite.jobsInState('completed')[0]?.id;
    expect(jobId).toBeDefined();
    const completed = parsed.find((l) => l.msg === 'job completed');
    expect(completed).toMatchObject({ level: 'info', jobId, provider: 'alibaba', region: REGION });
    expect(parsed.find((l) => l.msg === 'verification round')).toMatchObject({ level: 'debug', jobId, provider: 'alibaba', region: REGION });
    expect(parsed.find((l) => l.msg === 'pre-flight read every instance')).toMatchObject({ jobId, provider: 'alibaba', region: REGION });
    const fromJobs = parsed.filter((l) => l.jobId === jobId && ['job completed', 'verification round', 'pre-flight read every instance'].includes(String(l.msg)));
    for (const line of fromJobs) expect(line).toMatchObject({ provider: 'alibaba', region: REGION });

    const all = lines.join('\n');
    expect(all).not.toContain(h.slack.botToken);
    for (const secret of h.config.providerSecrets) expect(all).not.toContain(secret);
    expect(all).not.toContain(h.config.slack.signingSecret);
  });
});
