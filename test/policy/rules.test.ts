import { describe, expect, it } from 'vitest';
import { approverShortfall, evaluate, requesterGroupsToCheck, type Policy, type RequestFacts, type Rule } from '../../src/policy/rules.js';

const rule = (over: Partial<Rule>): Rule => ({ label: 'rule', approvers: { users: ['U1', 'U2', 'U3'], groups: [] }, approvals: 1, forceApprovals: 2, ...over });

const policy: Policy = {
  source: 'policy.yaml',
  accounts: { alibaba: ['default', 'prod'], volcengine: ['default'] },
  rules: [
    rule({ label: 'rule 1', channels: ['C0PROD'], providers: ['alibaba'], accounts: ['prod'], regions: ['cn-hangzhou'], requesters: { users: ['U9'], groups: ['S0SRE'] }, approvals: 2, forceApprovals: 3, maxInstances: 2 }),
    rule({ label: 'rule 2', channels: ['*'], accounts: ['default'] }),
  ],
};

const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  channel: 'C0PROD',
  requester: 'U9',
  provider: 'alibaba',
  account: 'prod',
  region: 'cn-hangzhou',
  instances: 1,
  force: false,
  dryRun: false,
  ...over,
});

const nobody = (): boolean => false;

describe('evaluate', () => {
  it('the first matching rule decides: its approvers and its counts', () => {
    expect(evaluate(policy, facts(), nobody)).toMatchObject({ kind: 'allowed', approvalsNeeded: 2, rule: { label: 'rule 1' } });
    expect(evaluate(policy, facts({ force: true }), nobody)).toMatchObject({ kind: 'allowed', approvalsNeeded: 3 });
    expect(evaluate(policy, facts({ dryRun: true }), nobody)).toMatchObject({ kind: 'allowed', approvalsNeeded: 0 });
    expect(evaluate(policy, facts({ account: 'default', channel: 'C0ELSE' }), nobody)).toMatchObject({ kind: 'allowed', rule: { label: 'rule 2' } });
  });

  it('a requester group member matches; a failed lookup on an otherwise matching rule refuses', () => {
    expect(evaluate(policy, facts({ requester: 'U7' }), (g) => g === 'S0SRE')).toMatchObject({ kind: 'allowed' });
    const unknown = evaluate(policy, facts({ requester: 'U7' }), () => undefined);
    expect(unknown).toMatchObject({ kind: 'refused' });
    if (unknown.kind === 'refused') expect(unknown.message).toContain('cannot be confirmed');
  });

  it('the closest rule is the one matching most dimensions, ties to the earlier; the message names what fails', () => {
    // rule 1 fails channel only; rule 2 fails account only: a tie, so rule 1.
    const tie = evaluate(policy, facts({ channel: 'C0RANDOM' }), nobody);
    expect(tie).toEqual({ kind: 'refused', message: 'no policy rule allows this. The closest, rule 1, does not match: channel <#C0RANDOM> may not use account `prod`; ask in <#C0PROD>' });
    // rule 1 fails channel and region; rule 2 fails account only: rule 2.
    const two = evaluate(policy, facts({ channel: 'C0RANDOM', region: 'cn-beijing' }), nobody);
    expect(two).toMatchObject({ kind: 'refused', message: expect.stringContaining('The closest, rule 2, does not match: account `prod` is not one of `default`') as unknown });
    const many = evaluate({ ...policy, rules: policy.rules.slice(0, 1) }, facts({ instances: 3, region: 'cn-beijing' }), nobody);
    expect(many).toMatchObject({ kind: 'refused', message: expect.stringContaining('region `cn-beijing` is not one of `cn-hangzhou`; 3 instances is more than its maximum of 2') as unknown });
  });

  it('an account the provider does not have is refused before any rule', () => {
    expect(evaluate(policy, facts({ provider: 'volcengine' }), nobody)).toEqual({ kind: 'refused', message: '`volcengine` has no account `prod`; its accounts: `default`' });
  });

  it('only the groups of rules matching on every other dimension are looked up', () => {
    expect(requesterGroupsToCheck(policy, facts())).toEqual(['S0SRE']);
    expect(requesterGroupsToCheck(policy, facts({ channel: 'C0RANDOM' }))).toEqual([]);
  });
});

describe('approverShortfall', () => {
  it('counts individual approvers other than the requester; a group may hold anyone', () => {
    expect(approverShortfall({ users: ['U1', 'U2'], groups: [] }, 'U1', 2)).toEqual(['U2']);
    expect(approverShortfall({ users: ['U1', 'U2'], groups: [] }, 'U3', 2)).toBeUndefined();
    expect(approverShortfall({ users: ['U1'], groups: ['S0'] }, 'U1', 5)).toBeUndefined();
    expect(approverShortfall({ users: ['U1'], groups: [] }, 'U1', 0)).toBeUndefined();
  });
});
