import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/log.js';
import { parsePolicy, PolicyError, PolicyHolder, type PolicyContext } from '../../src/policy/load.js';
import { defaultCatalog } from '../../src/providers/catalog.js';
import { DEFAULT_PROVIDER_TUNING } from '../../src/providers/registry.js';

const ctx: PolicyContext = {
  catalog: defaultCatalog,
  env: { ALI_PROD_AK: 'LTAIprodkey', ALI_PROD_SK: 'prod-secret-value' },
  configured: ['alibaba'],
  extraRegions: {},
  approvers: { users: ['U0A1', 'U0A2'], groups: [] },
  forceApprovals: 2,
  providerTuning: DEFAULT_PROVIDER_TUNING,
};

const GOOD = `accounts:
  alibaba:
    prod: { accessKeyIdEnv: ALI_PROD_AK, accessKeySecretEnv: ALI_PROD_SK }
rules:
  - channels: [C0PRODOPS]
    providers: [alibaba]
    accounts: [prod]
    regions: [cn-hangzhou, cn-shanghai]
    requesters: [S0SRE]
    approvers: [S0ONCALL]
    approvals: 2
    forceApprovals: 3
    maxInstances: 200
  - channels: ["*"]
    accounts: [default]
    approvers: [S0SRE]
`;

function errorOf(text: string, context: PolicyContext = ctx): string {
  try {
    parsePolicy(text, 'policy.yaml', context);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return (err as Error).message;
  }
  throw new Error('the policy loaded');
}

describe('parsePolicy', () => {
  it('reads the example: rules with their defaults, the accounts with their clients', () => {
    const loaded = parsePolicy(GOOD, 'policy.yaml', ctx);
    expect(loaded.policy.accounts.alibaba).toEqual(['default', 'prod']);
    expect(loaded.policy.accounts.huawei).toEqual([]);
    expect(loaded.policy.rules[0]).toMatchObject({ label: 'rule 1', approvals: 2, forceApprovals: 3, maxInstances: 200, requesters: { users: [], groups: ['S0SRE'] } });
    expect(loaded.policy.rules[1]).toMatchObject({ label: 'rule 2', approvals: 1, forceApprovals: 2, approvers: { users: [], groups: ['S0SRE'] } });
    expect(loaded.accountProvider('alibaba', 'prod')?.info.name).toBe('alibaba');
    expect(loaded.accountProvider('alibaba', 'staging')).toBeUndefined();
    expect(loaded.secrets).toEqual(['prod-secret-value']);
  });

  it('JSON is read too', () => {
    const loaded = parsePolicy(JSON.stringify({ rules: [{ channels: ['C0X'], approvers: ['U0A1', 'U0A2'] }] }), 'policy.json', ctx);
    expect(loaded.policy.rules[0]?.channels).toEqual(['C0X']);
  });

  it('a shape error names its line and column', () => {
    const text = GOOD.replace('    maxInstances: 200\n', '    maxInstances: 200\n    colour: red\n').replace('approvals: 2', 'approvals: two');
    const message = errorOf(text);
    expect(message).toContain('policy.yaml:11:16: rules[0].approvals:');
    expect(message).toContain('policy.yaml:14:5: rules[0].colour:');
  });

  it('a YAML syntax error names its line', () => {
    expect(errorOf('rules:\n  - channels: [C0X\n  - approvers: [U0A1]\n')).toMatch(/^policy\.yaml:\d+:\d+: /);
  });

  it('unknown providers, regions and accounts are errors at their lines', () => {
    const text = GOOD.replace('providers: [alibaba]', 'providers: [alibaba, gcp]').replace('cn-shanghai', 'mars-1').replace('accounts: [default]', 'accounts: [staging]');
    const message = errorOf(text);
    expect(message).toContain('policy.yaml:6:26: rules[0].providers[1]: unknown provider "gcp"');
    expect(message).toContain('policy.yaml:8:28: rules[0].regions[1]: unknown region "mars-1"');
    expect(message).toContain('policy.yaml:15:16: rules[1].accounts[0]: no account "staging"');
  });

  it('an account whose variable is not set, or that a provider cannot read, is an error at the account', () => {
    expect(errorOf(GOOD, { ...ctx, env: { ALI_PROD_AK: 'x' } })).toContain('policy.yaml:3:11: accounts.alibaba.prod: accessKeySecretEnv: the variable ALI_PROD_SK is not set');
    expect(errorOf(GOOD.replace('prod: { accessKeyIdEnv: ALI_PROD_AK, accessKeySecretEnv: ALI_PROD_SK }', 'prod: { accessKeyIdEnv: ALI_PROD_AK }'))).toContain(
      'accessKeyIdEnv and accessKeySecretEnv go together',
    );
  });

  it('rules that could never be satisfied are refused', () => {
    const one = errorOf('rules:\n  - approvers: [U0A1]\n    approvals: 2\n');
    expect(one).toContain('policy.yaml:3:16: rules[0].approvals: approvals: 2, but only 1 approver is listed and no group');
    const selves = errorOf('rules:\n  - requesters: [U0A1, U0A2]\n    approvers: [U0A1, U0A2]\n    approvals: 2\n    forceApprovals: 2\n');
    expect(selves).toContain('every requester is one of the approvers');
    // The default force count (REBOOT_FORCE_APPROVALS 2) cannot be reached by one approver either.
    expect(errorOf('rules:\n  - approvers: [U0A1]\n')).toContain('rules[0].approvers: a --force request needs 2 approvals');
    // A group may hold any number: not provably short.
    expect(() => parsePolicy('rules:\n  - approvers: [S0GROUP]\n    approvals: 5\n', 'p', ctx)).not.toThrow();
  });
});

describe('accounts from a credentials file or with a security token', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("the README's example loads, its staging account read from a credentials file", () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const file = join(dir, 'ali-staging.json');
    writeFileSync(file, JSON.stringify({ accessKeyId: 'LTAIstaging', accessKeySecret: 'staging-secret' }));
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = /## Policy and accounts[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toContain('credentialsFile: /run/secrets/ali-staging.json');
    const loaded = parsePolicy(example!.replace('/run/secrets/ali-staging.json', file), 'README.md', ctx);
    expect(loaded.policy.accounts.alibaba).toEqual(['default', 'prod', 'staging']);
    expect(loaded.accountProvider('alibaba', 'staging')).toBeDefined();
  });

  it('a security token variable joins the pair; a credentials file that cannot be read is a load error at its account', () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const withToken = 'accounts:\n  alibaba:\n    sts: { accessKeyIdEnv: ALI_PROD_AK, accessKeySecretEnv: ALI_PROD_SK, securityTokenEnv: ALI_TOKEN }\nrules:\n  - approvers: [S0G]\n';
    const loaded = parsePolicy(withToken, 'p.yaml', { ...ctx, env: { ...ctx.env, ALI_TOKEN: 'sts-token-value' } });
    expect(loaded.secrets).toContain('sts-token-value');
    expect(errorOf(withToken)).toContain('p.yaml:3:10: accounts.alibaba.sts: securityTokenEnv: the variable ALI_TOKEN is not set'.replace('p.yaml', 'policy.yaml'));
    const missing = 'accounts:\n  alibaba:\n    staging: { credentialsFile: ' + join(dir, 'nope.json') + ' }\nrules:\n  - approvers: [S0G]\n';
    expect(errorOf(missing)).toMatch(/^policy\.yaml:3:14: accounts\.alibaba\.staging: /);
  });
});

describe('PolicyHolder', () => {
  let dir: string;
  let holder: PolicyHolder | undefined;
  afterEach(() => {
    holder?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function capture(): { log: Logger; lines: string[] } {
    const lines: string[] = [];
    return { log: createLogger('debug', (line) => void lines.push(line)), lines };
  }

  it('reload() puts a valid new file in force and keeps the old policy when the new one is invalid', () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, 'rules:\n  - channels: [C0ONE]\n    approvers: [S0G]\n');
    const { log, lines } = capture();
    holder = new PolicyHolder({ path, context: ctx, log });
    expect(holder.current.policy.rules[0]?.channels).toEqual(['C0ONE']);
    expect(holder.reload()).toBe('unchanged');
    writeFileSync(path, 'rules:\n  - channels: [C0TWO]\n    approvers: [S0G]\n');
    expect(holder.reload()).toBe('reloaded');
    expect(holder.current.policy.rules[0]?.channels).toEqual(['C0TWO']);
    writeFileSync(path, 'rules:\n  - channels: [nope]\n');
    expect(holder.reload()).toBe('rejected');
    expect(holder.current.policy.rules[0]?.channels).toEqual(['C0TWO']);
    expect(lines.join('\n')).toContain('policy reload rejected');
    expect(lines.join('\n')).toContain('rules[0].channels[0]');
  });

  it('watches the file, including a new file renamed over it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, 'rules:\n  - channels: [C0ONE]\n    approvers: [S0G]\n');
    holder = new PolicyHolder({ path, context: ctx, log: capture().log, debounceMs: 20 });
    holder.watch();
    const channels = (): readonly string[] | undefined => holder?.current.policy.rules[0]?.channels;
    writeFileSync(path, 'rules:\n  - channels: [C0TWO]\n    approvers: [S0G]\n');
    await expect.poll(channels, { timeout: 3000 }).toEqual(['C0TWO']);
    writeFileSync(join(dir, 'next.yaml'), 'rules:\n  - channels: [C0THREE]\n    approvers: [S0G]\n');
    renameSync(join(dir, 'next.yaml'), path);
    await expect.poll(channels, { timeout: 3000 }).toEqual(['C0THREE']);
    // And it still sees the file after the rename.
    writeFileSync(path, 'rules:\n  - channels: [C0FOUR]\n    approvers: [S0G]\n');
    await expect.poll(channels, { timeout: 3000 }).toEqual(['C0FOUR']);
  });

  it('a policy file that does not validate stops the start', () => {
    dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, 'rules: []\n');
    expect(() => new PolicyHolder({ path, context: ctx, log: capture().log })).toThrow(/policy\.yaml:1:8: rules: at least one rule/);
  });
});
