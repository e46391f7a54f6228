/**
 * What test/unit/approver-directory.test.ts leaves out of policy.ts: approvals needed, every
 * mayApprove verdict, `configured`, the group cache's lifetime, and several groups at once.
 */
import { describe, expect, it } from 'vitest';
import { ApproverDirectory, approvalsNeeded, mayApprove, type ApproverPolicy } from '../../src/jobs/policy.js';

describe('approvalsNeeded', () => {
  it('is one for a plain reboot and the configured number for --force', () => {
    expect(approvalsNeeded(false, 2)).toBe(1);
    expect(approvalsNeeded(false, 5)).toBe(1);
    expect(approvalsNeeded(true, 2)).toBe(2);
    expect(approvalsNeeded(true, 3)).toBe(3);
  });
});

describe('mayApprove', () => {
  it('maps every membership for someone other than the requester', () => {
    expect(mayApprove('U0REQ', 'U0APP', 'approver')).toBe('ok');
    expect(mayApprove('U0REQ', 'U0APP', 'not-approver')).toBe('not-approver');
    expect(mayApprove('U0REQ', 'U0APP', 'unverified')).toBe('unverified');
  });

  it('the requester is "self" whatever their membership', () => {
    for (const m of ['approver', 'not-approver', 'unverified'] as const) expect(mayApprove('U0REQ', 'U0REQ', m)).toBe('self');
  });
});

describe('ApproverDirectory', () => {
  function directory(policy: ApproverPolicy, groups: Record<string, string[] | 'down'>, ttlMs = 1000) {
    const clock = { now: 0 };
    const lookups: string[] = [];
    const failures: string[] = [];
    const dir = new ApproverDirectory(
      policy,
      async (group) => {
        lookups.push(group);
        const members = groups[group];
        if (members === undefined || members === 'down') throw new Error(`cannot read ${group}`);
        return members;
      },
      ttlMs,
      () => clock.now,
      (group) => failures.push(group),
    );
    return { dir, clock, lookups, failures, groups };
  }

  it('is configured when it names any user or group, and not when it names none', () => {
    expect(directory({ users: [], groups: [] }, {}).dir.configured).toBe(false);
    expect(directory({ users: ['U1'], groups: [] }, {}).dir.configured).toBe(true);
    expect(directory({ users: [], groups: ['S1'] }, {}).dir.configured).toBe(true);
  });

  it('configured users need no lookup; nobody else is an approver without a group', async () => {
    const { dir, lookups } = directory({ users: ['U1'], groups: [] }, {});
    expect(await dir.membership('U1')).toBe('approver');
    expect(await dir.membership('U2')).toBe('not-approver');
    expect(lookups).toEqual([]);
  });

  it('a group answer is reused for ttlMs, then asked again', async () => {
    const { dir, clock, lookups } = directory({ users: [], groups: ['S1'] }, { S1: ['U1'] }, 1000);
    expect(await dir.membership('U1')).toBe('approver');
    clock.now = 999;
    expect(await dir.membership('U2')).toBe('not-approver');
    expect(lookups).toEqual(['S1']);
    clock.now = 1000;
    expect(await dir.membership('U1')).toBe('approver');
    expect(lookups).toEqual(['S1', 'S1']);
  });

  it('with several groups, membership of any one is enough, even while another cannot be read', async () => {
    const { dir, failures } = directory({ users: [], groups: ['S-DOWN', 'S2'] }, { 'S-DOWN': 'down', S2: ['U2'] });
    expect(await dir.membership('U2')).toBe('approver');
    expect(failures).toEqual(['S-DOWN']);
  });

  it('someone in no readable group is unverified while any group cannot be read, not "not an approver"', async () => {
    const { dir } = directory({ users: [], groups: ['S1', 'S-DOWN'] }, { S1: ['U1'], 'S-DOWN': 'down' });
    expect(await dir.membership('U9')).toBe('unverified');
  });

  it('a failed lookup is not cached as an answer: the next click asks again and may succeed', async () => {
    const { dir, lookups, groups } = directory({ users: [], groups: ['S1'] }, { S1: 'down' });
    expect(await dir.membership('U1')).toBe('unverified');
    groups.S1 = ['U1'];
    expect(await dir.membership('U1')).toBe('approver');
    expect(lookups).toEqual(['S1', 'S1']);
  });

  it('a burst of clicks on a cold cache asks Slack once per group, and all of them get its answer', async () => {
    const { dir, lookups } = directory({ users: [], groups: ['S1', 'S2'] }, { S1: ['U1'], S2: ['U2'] });
    const verdicts = await Promise.all(Array.from({ length: 100 }, (_, i) => dir.membership(i % 2 === 0 ? 'U2' : 'U9')));
    expect(verdicts.filter((v) => v === 'approver')).toHaveLength(50);
    expect(verdicts.filter((v) => v === 'not-approver')).toHaveLength(50);
    expect(lookups).toEqual(['S1', 'S2']);
  });
});
