import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, secretsOf } from '../../src/config.js';
import { createLogger, redact, registerSecrets } from '../../src/log.js';
import { credentialsFromEnv, credentialsFromFile, CredentialsFileError, type CredentialSource } from '../../src/providers/credentials.js';

const dirs: string[] = [];
const sources: CredentialSource[] = [];
afterEach(() => {
  for (const source of sources.splice(0)) source.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(body: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'reboot-bot-creds-'));
  dirs.push(dir);
  const path = join(dir, 'credentials.json');
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
  return path;
}

function replace(path: string, body: unknown): void {
  writeFileSync(`${path}.tmp`, typeof body === 'string' ? body : JSON.stringify(body));
  renameSync(`${path}.tmp`, path);
}

const NO_CONFIG_FILE = { REBOOT_CONFIG: undefined };

describe('security tokens in the configuration', () => {
  it('reads each cloud token beside its key pair, and counts it among the secrets', () => {
    const token = 'CAIStokenValue-0123456789';
    const config = loadConfig({ ...NO_CONFIG_FILE, ALIBABA_CLOUD_ACCESS_KEY_ID: 'STS.ak', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'sk-0123456789', ALIBABA_CLOUD_SECURITY_TOKEN: token });
    expect(config.providers.alibaba).toEqual({ access: { kind: 'static', credentials: { keyId: 'STS.ak', secret: 'sk-0123456789', token }, origin: 'ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET' } });
    expect(secretsOf(config)).toContain(token);
    registerSecrets(secretsOf(config));
    expect(redact(`signing with ${token}`)).toBe('signing with [redacted]');
  });

  it('refuses a token without a key pair, and a file beside a key pair, naming the variables and no value', () => {
    const lone = (): unknown => loadConfig({ ...NO_CONFIG_FILE, BCE_SESSION_TOKEN: 'lonely-token-value' });
    expect(lone).toThrow(ConfigError);
    expect(lone).toThrow(/BCE_SESSION_TOKEN is set without BCE_ACCESS_KEY_ID\/BCE_SECRET_ACCESS_KEY/);
    expect(lone).not.toThrow(/lonely-token-value/);
    expect(() =>
      loadConfig({ ...NO_CONFIG_FILE, HUAWEICLOUD_SDK_AK: 'ak', HUAWEICLOUD_SDK_SK: 'sk', REBOOT_HUAWEI_CREDENTIALS_FILE: '/etc/creds.json' }),
    ).toThrow(/REBOOT_HUAWEI_CREDENTIALS_FILE: set either the file or HUAWEICLOUD_SDK_AK\/HUAWEICLOUD_SDK_SK\/HUAWEICLOUD_SDK_SECURITY_TOKEN, not both/);
    expect(loadConfig({ ...NO_CONFIG_FILE, REBOOT_VOLCENGINE_CREDENTIALS_FILE: '/etc/volc.json' }).providers.volcengine).toEqual({ access: { kind: 'file', path: '/etc/volc.json' } });
  });
});

describe('credentialsFromEnv (named variables, as the policy file will name them)', () => {
  it('reads the pair and the token, treats a blank as unset, and refuses half a pair', () => {
    const names = { keyId: 'K', secret: 'S', token: 'T' };
    expect(credentialsFromEnv({ K: 'ak', S: 'sk', T: 'tok' }, names)?.current()).toEqual({ keyId: 'ak', secret: 'sk', token: 'tok' });
    expect(credentialsFromEnv({ K: 'ak', S: 'sk', T: ' ' }, names)?.current()).toEqual({ keyId: 'ak', secret: 'sk' });
    expect(credentialsFromEnv({}, names)).toBeUndefined();
    expect(() => credentialsFromEnv({ K: 'ak' }, names)).toThrow('K/S: set both or neither');
    expect(credentialsFromEnv({ K: 'ak', S: 'sk', T: 'tok' }, names)?.secrets()).toEqual(['sk', 'tok']);
  });
});

describe('credentialsFromFile', () => {
  it('refuses to start on a missing or invalid file, quoting no value', () => {
    expect(() => credentialsFromFile('/nonexistent/creds.json')).toThrow(CredentialsFileError);
    expect(() => credentialsFromFile('/nonexistent/creds.json')).toThrow('/nonexistent/creds.json: cannot read the file (ENOENT)');
    const path = tempFile({ accessKeyId: 'ak', accessKeySecret: 'super-secret-value', expiration: 'tomorrow' });
    expect(() => credentialsFromFile(path)).toThrow(/expiration: /);
    expect(() => credentialsFromFile(path)).not.toThrow(/super-secret-value/);
    expect(() => credentialsFromFile(tempFile({ accessKeyId: 'ak', accessKeySecret: 'sk', extra: 1 }))).toThrow(/Unrecognized key/);
  });

  it('follows a rename-replace through fs.watch alone, before anyone asks, and reads the expiration', async () => {
    const path = tempFile({ accessKeyId: 'ak1', accessKeySecret: 'sk-one-0123', securityToken: 'tok-one-0123' });
    const lines: string[] = [];
    const source = credentialsFromFile(path, { logger: createLogger('info', (l) => lines.push(l)) });
    sources.push(source);
    expect(source.current()).toEqual({ keyId: 'ak1', secret: 'sk-one-0123', token: 'tok-one-0123' });
    replace(path, { accessKeyId: 'ak2', accessKeySecret: 'sk-two-0123', securityToken: 'tok-two-0123', expiration: '2030-01-01T00:00:00+08:00' });
    const deadline = Date.now() + 2000;
    while (!lines.some((l) => l.includes('credentials file reloaded')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(lines.join('\n')).toContain('"keyId":"ak2"');
    expect(lines.join('\n')).not.toContain('sk-two-0123');
    expect(source.current()).toEqual({ keyId: 'ak2', secret: 'sk-two-0123', token: 'tok-two-0123', expiration: new Date('2029-12-31T16:00:00Z') });
    expect(source.secrets()).toEqual(['sk-one-0123', 'tok-one-0123', 'sk-two-0123', 'tok-two-0123']);
    expect(redact('tok-two-0123')).toBe('[redacted]');
  });

  it('keeps the last good credentials through a broken version, logs it once, and takes the next good one', () => {
    const path = tempFile({ accessKeyId: 'ak1', accessKeySecret: 'sk-one-0123' });
    const lines: string[] = [];
    const source = credentialsFromFile(path, { logger: createLogger('info', (l) => lines.push(l)) });
    sources.push(source);
    replace(path, '{"accessKeyId": "ak2", "accessKeySecret": "sk-tw');
    for (let i = 0; i < 5; i++) expect(source.current().keyId).toBe('ak1');
    const errors = lines.filter((l) => l.includes('credentials file unusable'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('not valid JSON');
    expect(errors[0]).not.toContain('sk-tw');
    replace(path, { accessKeyId: 'ak3', accessKeySecret: 'sk-three-0123' });
    expect(source.current().keyId).toBe('ak3');
  });
});
