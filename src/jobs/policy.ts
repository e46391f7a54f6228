/** Who may approve: configured users, plus members of configured user groups (cached lookups). */

export type GroupLookup = (groupId: string) => Promise<string[]>;

export interface ApproverPolicy {
  users: readonly string[];
  groups: readonly string[];
}

export class ApproverDirectory {
  private readonly cache = new Map<string, { members: Set<string>; fetchedAt: number }>();

  constructor(
    private readonly policy: ApproverPolicy,
    private readonly lookup: GroupLookup,
    private readonly ttlMs: number,
    private readonly now: () => number,
    private readonly onLookupError: (groupId: string, err: unknown) => void = () => {},
  ) {}

  get configured(): boolean {
    return this.policy.users.length + this.policy.groups.length > 0;
  }

  async isApprover(userId: string): Promise<boolean> {
    if (this.policy.users.includes(userId)) return true;
    for (const group of this.policy.groups) {
      if ((await this.members(group)).has(userId)) return true;
    }
    return false;
  }

  private async members(groupId: string): Promise<Set<string>> {
    const cached = this.cache.get(groupId);
    if (cached && this.now() - cached.fetchedAt < this.ttlMs) return cached.members;
    try {
      const members = new Set(await this.lookup(groupId));
      this.cache.set(groupId, { members, fetchedAt: this.now() });
      return members;
    } catch (err) {
      this.onLookupError(groupId, err);
      // A stale answer beats locking every approver out while Slack is briefly unavailable;
      // with no answer at all, nobody from this group is let through.
      return cached?.members ?? new Set();
    }
  }
}

/** The requester never counts, whatever groups they are in. */
export function mayApprove(requester: string, userId: string, isApprover: boolean): 'ok' | 'self' | 'not-approver' {
  if (userId === requester) return 'self';
  return isApprover ? 'ok' : 'not-approver';
}

export function approvalsNeeded(force: boolean, forceApprovals: number): number {
  return force ? forceApprovals : 1;
}
