/**
 * Temporary credentials through the whole bot: a job in progress follows a credentials file rotated under it, and an
 * expired token ends as a clear per-instance failure, sent once, with no token anywhere in Slack.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlibabaSimulator } from '../../src/providers/alibaba/simulator.js';
import { APPROVER_1, CHANNEL, Harness, textOf } from '../helpers/harness.js';
import { rebootCalls } from '../helpers/cloud-requests.js';

const A = 'i-bp1g6zv0ce8oghu7a001';
const B = 'i-bp1g6zv0ce8oghu7a002';

function random(): string {
  return randomBytes(18).toString('base64url');
}

/** Writes a new version beside the file and renames it over the old one, as credential agents do. */
function writeAtomically(path: string, body: unknown): void {
  const tmp = `${path}.${random()}.tmp`;
  writeFileSync(tmp, JSON.stringify(body));
  renameSync(tmp, path);
}

function keyIdOf(authorization: string | undefined): string | undefined {
  return /Credential=([^,]+),/.exec(authorization ?? '')?.[1];
}

/** Everything the bot wrote to Slack, as text. */
function slackText(h: Harness): string {
  return JSON.stringify([h.slack.messages, h.slack.responses]);
}

describe('temporary credentials end to end (alibaba)', () => {
  let h: Harness | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await h?.stop();
    h = undefined;
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('a rolling job in progress uses the new key after the credentials file is rotated under it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reboot-bot-creds-'));
    dirs.push(dir);
    const path = join(dir, 'alibaba.json');
    const first = { accessKeyId: 'STS.First', accessKeySecret: random(), securityToken: `tok-${random()}` };
    writeAtomically(path, first);
    h = await Harness.start({
      providers: ['alibaba'],
      rebootMs: 200,
      // Blank counts as unset: the key variables the simulators set give way to the file.
      env: { ALIBABA_CLOUD_ACCESS_KEY_ID: '', ALIBABA_CLOUD_ACCESS_KEY_SECRET: '', REBOOT_ALIBABA_CREDENTIALS_FILE: path },
    });
    const sim = h.sims.sims.alibaba;
    if (!(sim instanceof AlibabaSimulator)) throw new Error('the alibaba simulator');
    sim.accounts.add(first.accessKeyId, first.accessKeySecret, first.securityToken);
    sim.fleet.add('cn-hangzhou', A);
    sim.fleet.add('cn-hangzhou', B);

    // Once the cloud has answered wave 1's reboot, the agent rotates: the cloud knows only the new key from then on.
    const next = { accessKeyId: 'STS.Second', accessKeySecret: random(), securityToken: `tok-${random()}` };
    let rotatedAfter = -1;
    const stop = sim.onResponded(() => {
      if (rotatedAfter !== -1 || rebootCalls('alibaba', sim.requests).length === 0) return;
      rotatedAfter = sim.requests.length;
      sim.accounts.add(next.accessKeyId, next.accessKeySecret, next.securityToken);
      sim.accounts.remove(first.accessKeyId);
      writeAtomically(path, next);
    });

    const { card } = await h.request(`alibaba cn-hangzhou ${A} ${B} --rolling 1`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    stop();

    expect(rotatedAfter).toBeGreaterThan(0);
    const after = sim.requests.slice(rotatedAfter);
    // Wave 1's verification reads and wave 2's reboot, all with the new key and its token, none refused.
    expect(rebootCalls('alibaba', after)).toHaveLength(1);
    expect(after.map((r) => keyIdOf(r.headers['authorization']))).toEqual(after.map(() => next.accessKeyId));
    expect(after.every((r) => r.headers['x-acs-security-token'] === next.securityToken && r.status === 200)).toBe(true);
    expect(sim.fleet.get('cn-hangzhou', A)?.rebootCount).toBe(1);
    expect(sim.fleet.get('cn-hangzhou', B)?.rebootCount).toBe(1);
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('2 verified');
    for (const value of [first.accessKeySecret, first.securityToken, next.accessKeySecret, next.securityToken]) expect(slackText(h)).not.toContain(value);
  });

  it('an expired security token: each instance failed with "security token expired", one reboot call, no token in Slack', async () => {
    const token = `tok-${random()}`;
    h = await Harness.start({ providers: ['alibaba'], securityToken: token });
    const sim = h.sims.sims.alibaba!;
    sim.fleet.add('cn-hangzhou', A);
    sim.fleet.add('cn-hangzhou', B);
    const { card } = await h.request(`alibaba cn-hangzhou ${A} ${B}`);
    expect(sim.requests.every((r) => r.headers['x-acs-security-token'] === token)).toBe(true);
    sim.accounts!.expireToken('LTAI5tLocalSimulator');
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();

    expect(rebootCalls('alibaba', sim.requests)).toHaveLength(1);
    expect(sim.fleet.totalReboots()).toBe(0);
    const thread = h.slack.thread(card.ts).map(textOf).join('\n');
    for (const id of [A, B]) expect(thread).toMatch(new RegExp(`\`${id}\`.*security token expired \\(InvalidSecurityToken\\.Expired\\)`));
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('2 failed');
    // Failed, not unknown: nothing suggests the instances may be rebooting.
    expect(thread).not.toContain('may or may not be rebooting');
    expect(slackText(h)).not.toContain(token);
  });
});
