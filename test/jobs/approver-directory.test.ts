import { describe, expect, it } from 'vitest';
import { ApproverDirectory, MAX_STALE_MEMBERSHIP_MS, mayApprove } from '../../src/jobs/policy.js';

describe('approver directory', () => {
  const TTL = 120_000;

  function directory(): { dir: ApproverDirectory; clock: { now: number }; slack: { up: boolean; members: string[] }; failures: string[] } {
    const clock = { now: 0 };
    const slack = { up: true, members: ['U0MEMBER'] };
    const failures: string[] = [];
    const dir = new ApproverDirectory(
      { users: ['U0DIRECT'], groups: ['S0ONCALL'] },
      async () => {
        if (!slack.up) throw new Error('slack unavailable');
        return slack.members;
      },
      TTL,
      () => clock.now,
      (group) => failures.push(group),
    );
    return { dir, clock, slack, failures };
  }

  it('a stale membership stands in for at most 10 minutes while lookups fail; then the click is refused as unverified', async () => {
    const { dir, clock, slack, failures } = directory();
    expect(await dir.membership('U0MEMBER')).toBe('approver');
    slack.up = false;
    clock.now = TTL + 1;
    expect(await dir.membership('U0MEMBER')).toBe('approver');
    clock.now = MAX_STALE_MEMBERSHIP_MS - 1;
    expect(await dir.membership('U0MEMBER')).toBe('approver');
    clock.now = MAX_STALE_MEMBERSHIP_MS;
    expect(await dir.membership('U0MEMBER')).toBe('unverified');
    expect(await dir.membership('U0NOBODY')).toBe('unverified');
    // Configured users need no lookup.
    expect(await dir.membership('U0DIRECT')).toBe('approver');
    // Every failed lookup is reported, not only the first.
    expect(failures.length).toBe(4);
  });

  it('a member removed from the group is refused once the cache is refreshed', async () => {
    const { dir, clock, slack } = directory();
    expect(await dir.membership('U0MEMBER')).toBe('approver');
    slack.members = [];
    clock.now = TTL;
    expect(await dir.membership('U0MEMBER')).toBe('not-approver');
  });

  it('the requester never approves their own request, whatever their membership', () => {
    expect(mayApprove('U0REQ', 'U0REQ', 'approver')).toBe('self');
    expect(mayApprove('U0REQ', 'U0APP', 'approver')).toBe('ok');
    expect(mayApprove('U0REQ', 'U0APP', 'unverified')).toBe('unverified');
  });
});
