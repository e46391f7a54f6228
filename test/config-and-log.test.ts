import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration, secretsOf } from '../src/config.js';
import { createLogger, redact, registerSecrets } from '../src/log.js';

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({ REBOOT_CONFIG: undefined });
    expect(c).toMatchObject({ port: 3000, dbPath: './data/reboot-bot.db', forceApprovals: 2, approvalTtlMs: 900_000, verifyTimeoutMs: 600_000, maxInstances: 500 });
    expect(c.slack.botToken).toBeUndefined();
  });

  it('REBOOT_SHUTDOWN_GRACE: 20 s by default; 20s, 1m and 1500ms forms; nonsense refused naming it', () => {
    expect(loadConfig({ REBOOT_CONFIG: undefined }).shutdownGraceMs).toBe(20_000);
    expect(loadConfig({ REBOOT_SHUTDOWN_GRACE: '20s' }).shutdownGraceMs).toBe(20_000);
    expect(loadConfig({ REBOOT_SHUTDOWN_GRACE: '1m' }).shutdownGraceMs).toBe(60_000);
    expect(loadConfig({ REBOOT_SHUTDOWN_GRACE: '1500ms' }).shutdownGraceMs).toBe(1500);
    expect(() => loadConfig({ REBOOT_SHUTDOWN_GRACE: 'a bit' })).toThrow(/REBOOT_SHUTDOWN_GRACE/);
  });

  it('reads approvers, TTLs and provider credentials', () => {
    const c = loadConfig({
      REBOOT_APPROVERS: 'U012AB, S0ONCALL,W0ENT',
      REBOOT_APPROVAL_TTL: '90s',
      REBOOT_VERIFY_TIMEOUT: '4m',
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'ak',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'sk',
      ALIBABA_CLOUD_ECS_ENDPOINT: 'http://127.0.0.1:9999',
    });
    expect(c.approvers).toEqual({ users: ['U012AB', 'W0ENT'], groups: ['S0ONCALL'] });
    expect(c.approvalTtlMs).toBe(90_000);
    expect(c.verifyTimeoutMs).toBe(240_000);
    expect(c.providers.alibaba).toEqual({
      access: { kind: 'static', credentials: { keyId: 'ak', secret: 'sk' }, origin: 'ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET' },
      endpoint: 'http://127.0.0.1:9999',
    });
  });

  it('rejects bad values with a message naming the variable', () => {
    expect(() => loadConfig({ REBOOT_APPROVERS: 'bob' })).toThrow(/REBOOT_APPROVERS/);
    expect(() => loadConfig({ REBOOT_APPROVAL_TTL: 'soon' })).toThrow(ConfigError);
    expect(() => loadConfig({ REBOOT_VERIFY_TIMEOUT: 'a while' })).toThrow(/REBOOT_VERIFY_TIMEOUT/);
    expect(() => loadConfig({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'only-half' })).toThrow(/set both/);
    expect(() => loadConfig({ REBOOT_MAX_INSTANCES: '-1' })).toThrow(/REBOOT_MAX_INSTANCES/);
    // One request may name up to 5,000 instances (issue 9); the bench runs one that large.
    expect(loadConfig({ REBOOT_MAX_INSTANCES: '5000' }).maxInstances).toBe(5000);
    expect(() => loadConfig({ REBOOT_MAX_INSTANCES: '5001' })).toThrow(/REBOOT_MAX_INSTANCES/);
    expect(() => loadConfig({ REBOOT_CONFIG: '/nonexistent/reboot.json' })).toThrow(/not found/);
  });

  it('refuses to fall back to local mode without SLACK_BOT_TOKEN when NODE_ENV is production (the Docker image)', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', SLACK_BOT_TOKEN: ' ' })).toThrow(/SLACK_BOT_TOKEN is not set, and NODE_ENV is production/);
    expect(loadConfig({ NODE_ENV: 'production', SLACK_BOT_TOKEN: 'xoxb-1' }).slack.botToken).toBe('xoxb-1');
    expect(loadConfig({ NODE_ENV: 'development' }).slack.botToken).toBeUndefined();
  });

  it('reads Huawei project ids, extra regions and limits from the JSON file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'reboot-config-')), 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        huawei: { projectIds: { 'cn-north-4': '0123456789abcdef0123456789abcdef' } },
        regions: { volcengine: ['cn-wulanchabu'] },
        limits: { alibaba: { maxConcurrent: 1 } },
      }),
    );
    const c = loadConfig({ REBOOT_CONFIG: file, HUAWEICLOUD_SDK_AK: 'ak', HUAWEICLOUD_SDK_SK: 'sk' });
    expect(c.providers.huawei).toMatchObject({ projectIds: { 'cn-north-4': '0123456789abcdef0123456789abcdef' } });
    expect(c.extraRegions).toEqual({ volcengine: ['cn-wulanchabu'] });
    expect(c.limits).toEqual({ alibaba: { maxConcurrent: 1 } });
    writeFileSync(file, JSON.stringify({ huawei: { projectIds: { 'cn-north-4': 'not-a-project' } } }));
    expect(() => loadConfig({ REBOOT_CONFIG: file })).toThrow(/projectIds/);
  });

  it('REBOOT_DATABASE_URL: unset keeps SQLite; a postgres:// URL is taken, its password a secret; anything else is refused', () => {
    expect(loadConfig({}).databaseUrl).toBeUndefined();
    const url = 'postgres://reboot:s3cr%40t-pw@db.internal:5432/reboot';
    const config = loadConfig({ REBOOT_DATABASE_URL: url });
    expect(config.databaseUrl).toBe(url);
    expect(secretsOf(config)).toEqual(expect.arrayContaining([url, 's3cr%40t-pw', 's3cr@t-pw']));
    expect(loadConfig({ REBOOT_DATABASE_URL: 'postgresql://db.internal/reboot' }).databaseUrl).toBe('postgresql://db.internal/reboot');
    expect(() => loadConfig({ REBOOT_DATABASE_URL: 'mysql://db.internal/reboot' })).toThrow(/REBOOT_DATABASE_URL: must be a postgres:\/\/ URL/);
    expect(() => loadConfig({ REBOOT_DATABASE_URL: 'db.internal:5432' })).toThrow(/REBOOT_DATABASE_URL/);
  });

  it('parses durations', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('60')).toBe(60_000);
    expect(parseDuration('later')).toBeUndefined();
    expect(parseDuration('90d')).toBe(90 * 86_400_000);
    expect(parseDuration('1.5d')).toBe(36 * 3_600_000);
    expect(parseDuration('3w')).toBeUndefined();
  });

  it('REBOOT_REDIS_URL: absent by default; redis:// and rediss:// taken; any other scheme refused naming it; its password is a secret', () => {
    expect(loadConfig({ REBOOT_CONFIG: undefined }).redisUrl).toBeUndefined();
    expect(loadConfig({ REBOOT_REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl).toBe('redis://127.0.0.1:6379');
    expect(secretsOf(loadConfig({ REBOOT_REDIS_URL: 'redis://127.0.0.1:6379' }))).toEqual([]);
    const tls = loadConfig({ REBOOT_REDIS_URL: 'rediss://bot:p%40ss-word@redis.internal:6380/2' });
    expect(tls.redisUrl).toBe('rediss://bot:p%40ss-word@redis.internal:6380/2');
    expect(secretsOf(tls)).toEqual(expect.arrayContaining(['p%40ss-word', 'p@ss-word']));
    expect(() => loadConfig({ REBOOT_REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/REBOOT_REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => loadConfig({ REBOOT_REDIS_URL: 'localhost:6379' })).toThrow(/REBOOT_REDIS_URL/);
  });

  it('REBOOT_RETENTION defaults to 90 days, takes days or hours, and rejects garbage', () => {
    expect(loadConfig({ REBOOT_CONFIG: undefined }).retentionMs).toBe(90 * 86_400_000);
    expect(loadConfig({ REBOOT_RETENTION: '12h' }).retentionMs).toBe(12 * 3_600_000);
    expect(loadConfig({ REBOOT_RETENTION: '30d' }).retentionMs).toBe(30 * 86_400_000);
    expect(() => loadConfig({ REBOOT_RETENTION: 'forever' })).toThrow(/REBOOT_RETENTION: not a duration/);
    expect(() => loadConfig({ REBOOT_RETENTION: '0d' })).toThrow(/REBOOT_RETENTION/);
  });
});

describe('log redaction', () => {
  it('masks the password of a database URL even when it was never registered', () => {
    expect(redact('connect postgres://reboot:hunter2-xyz@db.internal:5432/reboot failed')).toBe('connect postgres://reboot:[redacted]@db.internal:5432/reboot failed');
    expect(redact('postgres://db.internal/reboot')).toBe('postgres://db.internal/reboot');
  });

  it('masks registered secrets, Slack tokens and signatures', () => {
    registerSecrets(['super-secret-value-123']);
    const lines: string[] = [];
    const log = createLogger('debug', (l) => lines.push(l));
    log.error('failed', {
      detail: 'key super-secret-value-123 token xoxb-123-456-abc',
      auth: 'ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0',
    });
    const out = lines.join('\n');
    expect(out).not.toContain('super-secret-value-123');
    expect(out).not.toContain('xoxb-123');
    expect(out).not.toContain('06563a9e1b43');
    expect(redact('bce-auth-v1/AK/2024-01-01T00:00:00Z/1800/host/' + 'a'.repeat(64))).not.toContain('a'.repeat(64));
  });
});
