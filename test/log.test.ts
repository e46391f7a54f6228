import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger, registerSecrets, silentLogger, type Level } from '../src/log.js';

function capture(level: Level): { lines: string[]; parsed: () => Array<Record<string, unknown>>; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), log: createLogger(level, (l) => lines.push(l)) };
}

describe('pino logger', () => {
  it('writes one JSON object per line, with the level by name, an ISO time, the message and the data', () => {
    const { lines, parsed, log } = capture('info');
    log.info('reboot requested', { count: 2, nested: { a: [1, 2] } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    const [line] = parsed();
    expect(line).toMatchObject({ level: 'info', msg: 'reboot requested', count: 2, nested: { a: [1, 2] } });
    expect(new Date(String(line?.time)).toISOString()).toBe(line?.time);
    expect(line).not.toHaveProperty('hostname');
  });

  it('drops lines below the level; silent drops all; trace keeps debug', () => {
    const warn = capture('warn');
    warn.log.debug('d');
    warn.log.info('i');
    warn.log.warn('w');
    warn.log.error('e');
    expect(warn.parsed().map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
    const silent = capture('silent');
    silent.log.error('e');
    expect(silent.lines).toEqual([]);
    const trace = capture('trace');
    trace.log.debug('d');
    expect(trace.parsed()).toMatchObject([{ level: 'debug', msg: 'd' }]);
  });

  it('a child puts its bindings on every line, and a child of a child adds to them', () => {
    const { parsed, log } = capture('debug');
    const job = log.child({ jobId: 'r-abc', provider: 'alibaba', region: 'cn-hangzhou' });
    job.info('job completed', { succeeded: 2 });
    job.child({ seq: 3 }).warn('provider call threw');
    log.info('unrelated');
    expect(parsed()).toMatchObject([
      { msg: 'job completed', jobId: 'r-abc', provider: 'alibaba', region: 'cn-hangzhou', succeeded: 2 },
      { msg: 'provider call threw', jobId: 'r-abc', provider: 'alibaba', region: 'cn-hangzhou', seq: 3 },
      { msg: 'unrelated' },
    ]);
    expect(parsed()[2]).not.toHaveProperty('jobId');
  });

  it('an Error is logged as its name and message only', () => {
    const { parsed, log } = capture('info');
    log.error('failed', { error: new TypeError('bad input') });
    expect(parsed()[0]?.error).toEqual({ name: 'TypeError', message: 'bad input' });
  });

  it('silentLogger and its children write nothing and do not throw', () => {
    expect(() => silentLogger.child({ jobId: 'x' }).error('nothing')).not.toThrow();
  });
});

describe('log redaction', () => {
  const SECRET = 'registered-secret-9f8e7d';
  const QUOTED = 'pa"ss\\word-secret';
  const TOKEN = 'xoxb-1111-2222-abcdefABCDEF';
  const SIGNATURE = '06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0';
  const AUTHORIZATION = `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=${SIGNATURE}`;
  const BCE = `bce-auth-v1/AKID/2024-01-01T00:00:00Z/1800/host/${'b'.repeat(64)}`;

  it('never lets a registered secret, a Slack token or an Authorization signature through, wherever it sits', () => {
    registerSecrets([SECRET, QUOTED]);
    const { lines, parsed, log } = capture('debug');
    const job = log.child({ jobId: 'r-abc', note: `child binding with ${SECRET}` });
    job.error(`message with ${TOKEN} and ${SECRET}`, {
      detail: { deep: [{ text: `nested ${SECRET}` }, `array ${TOKEN}`] },
      request: { headers: { authorization: AUTHORIZATION, host: 'ecs.aliyuncs.com' } },
      baidu: { header: BCE },
      quoted: `value ${QUOTED}`,
      error: new Error(`cloud said: Authorization ${AUTHORIZATION} with key ${SECRET}`),
    });
    job.warn('fields named as secrets', { token: 'unregistered-token-value', slack: { signingSecret: 'unregistered-signing-value' } });
    const out = lines.join('\n');
    for (const leaked of [SECRET, TOKEN, SIGNATURE, 'b'.repeat(64), 'unregistered-token-value', 'unregistered-signing-value', 'pa\\"ss\\\\word-secret', QUOTED]) {
      expect(out).not.toContain(leaked);
    }
    const [first, second] = parsed();
    expect(first?.msg).toBe('message with [redacted] and [redacted]');
    expect(first?.detail).toEqual({ deep: [{ text: 'nested [redacted]' }, 'array [redacted]'] });
    expect((first?.request as { headers: Record<string, string> }).headers).toEqual({ authorization: '[redacted]', host: 'ecs.aliyuncs.com' });
    expect((first?.error as { message: string }).message).toBe('cloud said: Authorization ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=[redacted] with key [redacted]');
    expect(first?.note).toBe('child binding with [redacted]');
    expect(second).toMatchObject({ token: '[redacted]', slack: { signingSecret: '[redacted]' } });
  });
});

describe('LOG_LEVEL', () => {
  it('is info by default and takes any pino level', () => {
    expect(loadConfig({}).logLevel).toBe('info');
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const) expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it('refuses anything else at start-up, naming the variable', () => {
    expect(() => loadConfig({ LOG_LEVEL: 'verbose' })).toThrow(ConfigError);
    expect(() => loadConfig({ LOG_LEVEL: 'verbose' })).toThrow(/LOG_LEVEL/);
  });

  it('REBOOT_READY_OUTBOX_STUCK is 5 minutes by default and a duration', () => {
    expect(loadConfig({}).readyOutboxStuckMs).toBe(300_000);
    expect(loadConfig({ REBOOT_READY_OUTBOX_STUCK: '90s' }).readyOutboxStuckMs).toBe(90_000);
    expect(() => loadConfig({ REBOOT_READY_OUTBOX_STUCK: 'soon' })).toThrow(/REBOOT_READY_OUTBOX_STUCK/);
  });
});
