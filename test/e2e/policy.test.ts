/**
 * Named accounts and the policy file, over signed HTTP: each rule dimension, refusals that store and post
 * nothing, approvers and approval counts taken from the matching rule, reloads, `--account` runs under the
 * account's own key, and `/reboot policy`.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlibabaSimulator } from '../../src/providers/alibaba/simulator.js';
import { rebootCalls } from '../helpers/cloud-requests.js';
import { APPROVER_1, APPROVER_2, CHANNEL, GROUP_MEMBER, Harness, REQUESTER, STRANGER, textOf, waitFor } from '../helpers/harness.js';

const STAGING_CHANNEL = 'C0STAGING';
const RANDOM_CHANNEL = 'C0RANDOM';
const SRE_GROUP = 'S0SRE';
const REGION = 'cn-hangzhou';
const A = 'i-bp1aaaaaaaaaaaaaaaaa';
const B = 'i-bp1bbbbbbbbbbbbbbbbb';
const C = 'i-bp1ccccccccccccccccc';
const VOLC = 'i-ycc01lmwecgh9z3sq001';

const DEFAULT_KEY = { id: 'LTAI5tDefaultAccount', secret: randomBytes(18).toString('base64url') };
const PROD_KEY = { id: 'LTAI5tProdAccount000', secret: randomBytes(18).toString('base64url') };
// The simulated ECS knows the default and prod keys only: staging's requests are refused as an unknown key.
const STAGING_KEY = { id: 'LTAI5tStagingAccount', secret: randomBytes(18).toString('base64url') };

const POLICY = `accounts:
  alibaba:
    prod: { accessKeyIdEnv: ALI_PROD_AK, accessKeySecretEnv: ALI_PROD_SK }
    staging: { accessKeyIdEnv: ALI_STAGING_AK, accessKeySecretEnv: ALI_STAGING_SK }
rules:
  - name: prod-ops
    channels: [${CHANNEL}]
    providers: [alibaba]
    accounts: [prod]
    regions: [cn-hangzhou]
    requesters: [${SRE_GROUP}]
    approvers: [${APPROVER_1}, ${APPROVER_2}]
    approvals: 2
    maxInstances: 2
  - name: staging
    channels: [${STAGING_CHANNEL}]
    providers: [alibaba]
    accounts: [staging, default]
    approvers: [S0ONCALL]
  - name: volc
    channels: [${CHANNEL}]
    providers: [volcengine]
    approvers: [${APPROVER_1}, ${APPROVER_2}]
    forceApprovals: 2
`;

interface Reply {
  response_type: string;
  text: string;
}

describe('policy file and named accounts', () => {
  let h: Harness;
  let ecs: AlibabaSimulator;

  beforeAll(async () => {
    ecs = new AlibabaSimulator({ credentials: { [DEFAULT_KEY.id]: DEFAULT_KEY.secret, [PROD_KEY.id]: PROD_KEY.secret }, rebootMs: 100 });
    const url = await ecs.start();
    for (const id of [A, B, C]) ecs.fleet.add(REGION, id);
    h = await Harness.start({
      providers: ['volcengine'],
      policy: POLICY,
      env: {
        ALIBABA_CLOUD_ACCESS_KEY_ID: DEFAULT_KEY.id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: DEFAULT_KEY.secret,
        ALIBABA_CLOUD_ECS_ENDPOINT: url,
        ALI_PROD_AK: PROD_KEY.id,
        ALI_PROD_SK: PROD_KEY.secret,
        ALI_STAGING_AK: STAGING_KEY.id,
        ALI_STAGING_SK: STAGING_KEY.secret,
      },
    });
    h.sims.sims.volcengine!.fleet.add('cn-beijing', VOLC);
    h.slack.userGroups.set(SRE_GROUP, [REQUESTER]);
  });
  afterAll(async () => {
    await h.stop();
    await ecs.stop();
  });

  /** Sends the command and expects an ephemeral refusal that stored, posted and sent nothing. */
  async function refused(user: string, channel: string, text: string): Promise<string> {
    const writes = (): number => h.slack.calls.filter((c) => c.method.startsWith('chat.')).length;
    const before = { writes: writes(), jobs: h.sqlite.recentJobs({ requester: user }, 100).length, cloud: ecs.requests.length + h.sims.sims.volcengine!.requests.length };
    const res = await h.driver.command(user, channel, text);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as Reply;
    expect(body.response_type).toBe('ephemeral');
    await h.settle();
    expect(h.sqlite.recentJobs({ requester: user }, 100)).toHaveLength(before.jobs);
    expect(writes()).toBe(before.writes);
    expect(ecs.requests.length + h.sims.sims.volcengine!.requests.length).toBe(before.cloud);
    expect(body.text).toContain(':no_entry: Not requested');
    return body.text;
  }

  it('requester: a group membership Slack cannot confirm refuses, rather than falling through to a looser rule', async () => {
    // The first lookup of the group fails: nothing cached to fall back on.
    h.slack.injectFault('usergroups.users.list', { error: 'internal_error' });
    const text = await refused(REQUESTER, CHANNEL, `alibaba ${REGION} ${A} --account prod`);
    expect(text).toContain('rule 1 (prod-ops) would allow this if you are in <!subteam^S0SRE>');
    expect(text).toContain('cannot be confirmed');
  });

  it('--account prod: the rule of the channel decides the approvers and the count; the reboot is signed with the prod key', async () => {
    const { reply, card } = await h.request(`alibaba ${REGION} ${A} -a prod --reason "kernel patch"`);
    expect(reply).toContain('(2 needed) on account `prod`');
    expect(textOf(card)).toContain('*Account*\n`prod`');
    const job = h.sqlite.recentJobs({ requester: REQUESTER }, 1)[0]!;
    expect(h.sqlite.getJob(job.id)).toMatchObject({ account: 'prod', approvalsNeeded: 2, approvers: { users: [APPROVER_1, APPROVER_2], groups: [] } });

    // Approvers: REBOOT_APPROVERS' group member is not one of this rule's approvers.
    expect(await h.replyTo(await h.driver.clickButton(GROUP_MEMBER, card, 'reboot_approve'))).toContain('not allowed to approve');
    // Approvals: the first of two is recorded, the second approves.
    expect(await h.replyTo(await h.driver.clickButton(APPROVER_1, card, 'reboot_approve'))).toContain('(1 of 2)');
    await h.driver.clickButton(APPROVER_2, card, 'reboot_approve');
    await h.settle();
    await waitFor(() => h.sqlite.getJob(job.id)?.state === 'completed', 'the prod job to complete');

    expect(ecs.fleet.get(REGION, A)?.rebootCount).toBe(1);
    const reboots = rebootCalls('alibaba', ecs.requests);
    expect(reboots).toHaveLength(1);
    expect(reboots[0]!.headers.authorization).toContain(`Credential=${PROD_KEY.id}`);
    const summary = h.slack.thread(card.ts).filter((m) => m.replyBroadcast).map(textOf).join('\n');
    expect(summary).toContain('account `prod`');
    const status = JSON.parse((await h.driver.command(REQUESTER, CHANNEL, `status ${job.id}`)).body) as Reply;
    expect(status.text).toContain('account `prod`');
    expect(h.sqlite.auditTrail(job.id)[0]?.data).toMatchObject({ account: 'prod', approvers: { users: [APPROVER_1, APPROVER_2], groups: [] } });
  });

  it('--account staging: signed with the staging key, which this ECS does not know; the default account with the default key', async () => {
    const staging = await h.driver.command(REQUESTER, STAGING_CHANNEL, `alibaba ${REGION} ${B} --account staging`);
    expect((JSON.parse(staging.body) as Reply).text).toContain('on account `staging`');
    const card = await waitFor(() => h.slack.topLevel(STAGING_CHANNEL).at(-1), 'staging card');
    await h.settle();
    const job = h.sqlite.recentJobs({ channel: STAGING_CHANNEL }, 1)[0]!;
    expect(h.sqlite.getJob(job.id)).toMatchObject({ account: 'staging', approvers: { users: [], groups: ['S0ONCALL'] } });
    // This rule's approvers are S0ONCALL: APPROVER_1 (of the prod rule) may not approve here.
    expect(await h.replyTo(await h.driver.clickButton(APPROVER_1, card, 'reboot_approve'))).toContain('not allowed to approve');
    await h.driver.clickButton(GROUP_MEMBER, card, 'reboot_approve');
    await h.settle();
    await waitFor(() => h.sqlite.getJob(job.id)?.state === 'completed', 'the staging job to end');
    const stagingCalls = ecs.requests.filter((r) => r.headers.authorization?.includes(`Credential=${STAGING_KEY.id}`));
    // Pre-flight's read and the reboot were made with the staging key and refused as an unknown key.
    expect(rebootCalls('alibaba', stagingCalls)).toHaveLength(1);
    expect(stagingCalls.length).toBeGreaterThan(0);
    expect(stagingCalls.every((r) => r.status >= 400)).toBe(true);
    expect(ecs.fleet.get(REGION, B)?.rebootCount).toBe(0);

    const plain = await h.driver.command(REQUESTER, STAGING_CHANNEL, `alibaba ${REGION} ${C}`);
    expect((JSON.parse(plain.body) as Reply).text).toContain('on account `default`');
    await h.settle();
    expect(ecs.requests.at(-1)?.headers.authorization).toContain(`Credential=${DEFAULT_KEY.id}`);
  });

  it('channel: another channel may not use the prod account, and is told where to ask', async () => {
    const text = await refused(REQUESTER, RANDOM_CHANNEL, `alibaba ${REGION} ${A} --account prod`);
    expect(text).toContain(`channel <#${RANDOM_CHANNEL}> may not use account \`prod\``);
    expect(text).toContain(`ask in <#${CHANNEL}>`);
    expect(text).toContain('rule 1 (prod-ops)');
  });

  it('provider: the closest rule names the providers it allows', async () => {
    const text = await refused(REQUESTER, STAGING_CHANNEL, `volcengine cn-beijing ${VOLC}`);
    expect(text).toContain('rule 2 (staging)');
    expect(text).toContain('provider `volcengine` is not one of `alibaba`');
  });

  it('account: an account the rule does not list, and one the provider does not have', async () => {
    const text = await refused(REQUESTER, STAGING_CHANNEL, `alibaba cn-shanghai ${A} --account prod`);
    expect(text).toContain('rule 2 (staging)');
    expect(text).toContain('account `prod` is not one of `staging`, `default`');
    expect(await refused(REQUESTER, CHANNEL, `alibaba ${REGION} ${A} --account qa`)).toContain('`alibaba` has no account `qa`; its accounts: `default`, `prod`, `staging`');
  });

  it('region: only the regions the rule lists', async () => {
    const text = await refused(REQUESTER, CHANNEL, `alibaba cn-shanghai ${A} --account prod`);
    expect(text).toContain('rule 1 (prod-ops)');
    expect(text).toContain('region `cn-shanghai` is not one of `cn-hangzhou`');
  });

  it('requester: someone outside the requester group', async () => {
    expect(await refused(STRANGER, CHANNEL, `alibaba ${REGION} ${A} --account prod`)).toContain('you are not one of its requesters (<!subteam^S0SRE>)');
  });

  it('maxInstances: more instances than the rule allows', async () => {
    expect(await refused(REQUESTER, CHANNEL, `alibaba ${REGION} ${A} ${B} ${C} --account prod`)).toContain('3 instances is more than its maximum of 2');
  });

  it('a --force request whose requester is one of only two approvers is refused with the reason', async () => {
    const text = await refused(APPROVER_1, CHANNEL, `volcengine cn-beijing ${VOLC} --force`);
    expect(text).toContain('a `--force` reboot needs 2 approvals and only 1 of its approvers (<@U0APPROVER2>) could give one');
    expect(text).toContain('you cannot approve your own request');
  });

  it('/reboot policy shows the caller what they may do in this channel', async () => {
    const res = await h.driver.command(REQUESTER, CHANNEL, 'policy');
    const body = JSON.parse(res.body) as Reply;
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toContain(`*What you may reboot in <#${CHANNEL}>*`);
    expect(body.text).toContain('*rule 1 (prod-ops)*: accounts `alibaba` `prod`; regions `cn-hangzhou`; approvers <@U0APPROVER1>, <@U0APPROVER2>; approvals 2 (2 with `--force`); at most 2 instances');
    expect(body.text).toContain('*rule 3 (volc)*: accounts `volcengine` `default`; regions any');
    expect(body.text).not.toContain('rule 2');
    // Someone outside the requester group sees only what they may do.
    const stranger = JSON.parse((await h.driver.command(STRANGER, CHANNEL, 'policy')).body) as Reply;
    expect(stranger.text).not.toContain('prod-ops');
    expect(stranger.text).toContain('rule 3 (volc)');
  });

  it('reload(): a new file decides new requests, a pending request keeps its approvers; an invalid file keeps the old policy', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${B} --account prod`);
    const pending = h.sqlite.recentJobs({ requester: REQUESTER }, 1)[0]!;
    h.writePolicy(POLICY.replace(`approvers: [${APPROVER_1}, ${APPROVER_2}]\n    approvals: 2`, `approvers: [S0ONCALL]\n    approvals: 1`));
    expect(h.policy.reload()).toBe('reloaded');
    // The pending request was made under the old rule: GROUP_MEMBER is still not its approver.
    expect(await h.replyTo(await h.driver.clickButton(GROUP_MEMBER, card, 'reboot_approve'))).toContain('not allowed to approve');
    expect(h.sqlite.getJob(pending.id)).toMatchObject({ approvalsNeeded: 2, approvers: { users: [APPROVER_1, APPROVER_2], groups: [] } });
    // Nor may they cancel it: cancelling is for the requester and the job's own approvers.
    const cancel = JSON.parse((await h.driver.command(GROUP_MEMBER, CHANNEL, `cancel ${pending.id}`)).body) as Reply;
    expect(cancel.text).toContain('Only the requester (<@U0REQUESTER>) or an approver may cancel');
    expect(h.sqlite.getJob(pending.id)?.state).toBe('pending');
    const fresh = await h.request(`alibaba ${REGION} ${C} --account prod`);
    expect(fresh.reply).toContain('(1 needed)');

    h.writePolicy('rules:\n  - channels: [not-a-channel]\n');
    expect(h.policy.reload()).toBe('rejected');
    const policy = JSON.parse((await h.driver.command(REQUESTER, CHANNEL, 'policy')).body) as Reply;
    expect(policy.text).toContain('approvers <!subteam^S0ONCALL>; approvals 1');
  });

  it('the file watch: a change on disk is put in force without a signal', async () => {
    h.policy.watch();
    h.writePolicy(POLICY.replace('maxInstances: 2', 'maxInstances: 1'));
    await expect
      .poll(async () => (JSON.parse((await h.driver.command(REQUESTER, CHANNEL, 'policy')).body) as Reply).text, { timeout: 5000, interval: 50 })
      .toContain('at most 1 instances');
  });
});

describe('without a policy file', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start({ providers: ['alibaba'], env: { REBOOT_APPROVERS: `${APPROVER_1},${APPROVER_2}`, REBOOT_FORCE_APPROVALS: '2' } });
    h.sims.sims.alibaba!.fleet.add(REGION, A);
  });
  afterAll(async () => {
    await h.stop();
  });

  it('REBOOT_APPROVERS decides; a --force request by one of only two approvers is refused at request time', async () => {
    const res = await h.driver.command(APPROVER_1, CHANNEL, `alibaba ${REGION} ${A} --force`);
    const body = JSON.parse(res.body) as Reply;
    expect(body.text).toContain('REBOOT_APPROVERS allows this, but a `--force` reboot needs 2 approvals and only 1 of its approvers (<@U0APPROVER2>) could give one');
    await h.settle();
    expect(h.sqlite.jobsInState('pending')).toHaveLength(0);
    const { reply } = await h.request(`alibaba ${REGION} ${A} --force`);
    expect(reply).toContain('(2 needed) on account `default`');
  });

  it('/reboot policy says REBOOT_APPROVERS rules', async () => {
    const body = JSON.parse((await h.driver.command(REQUESTER, CHANNEL, 'policy')).body) as Reply;
    expect(body.text).toContain('from REBOOT_APPROVERS (no policy file)');
    expect(body.text).toContain('accounts `alibaba` `default`');
  });
});
