/**
 * Who may approve: the users and members of the user groups a job's policy rule named (src/policy/rules.ts), or
 * REBOOT_APPROVERS for jobs stored before rules existed; group lookups are cached. The same lookups tell whether a
 * requester is in a rule's requester groups.
 */

export type GroupLookup = (groupId: string) => Promise<string[]>;

/** `unverified`: a group could not be read and its last answer is too old to trust. */
export type Membership = 'approver' | 'not-approver' | 'unverified';

/**
 * How long a group's last known members may stand in while Slack cannot be asked: long enough to
 * ride out a short Slack incident, short enough that someone removed from on-call cannot approve
 * for long on a stale answer.
 */
export const MAX_STALE_MEMBERSHIP_MS = 10 * 60_000;

export interface ApproverPolicy {
  users: readonly string[];
  groups: readonly string[];
}

export class ApproverDirectory {
  private readonly cache = new Map<string, { members: Set<string>; fetchedAt: number }>();
  /**
   * One lookup per group at a time: a burst of clicks on a cold cache asks Slack once, not once per click.
   * usergroups.users.list is Tier 2, about 20 calls a minute (https://api.slack.com/methods/usergroups.users.list).
   */
  private readonly inflight = new Map<string, Promise<Set<string> | undefined>>();

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

  /** Membership of REBOOT_APPROVERS. */
  async membership(userId: string): Promise<Membership> {
    return this.membershipIn(userId, this.policy);
  }

  /** Membership of `list`: one of its users, or in one of its groups. */
  async membershipIn(userId: string, list: ApproverPolicy): Promise<Membership> {
    if (list.users.includes(userId)) return 'approver';
    let unverified = false;
    for (const group of list.groups) {
      const members = await this.members(group);
      if (members === undefined) unverified = true;
      else if (members.has(userId)) return 'approver';
    }
    return unverified ? 'unverified' : 'not-approver';
  }

  /** Whether `userId` is in `groupId`; undefined when Slack cannot say and no recent enough answer is cached. */
  async isMember(userId: string, groupId: string): Promise<boolean | undefined> {
    return (await this.members(groupId))?.has(userId);
  }

  /** Members of a group; undefined when Slack cannot say and no recent enough answer is cached. */
  private async members(groupId: string): Promise<Set<string> | undefined> {
    const cached = this.cache.get(groupId);
    if (cached && this.now() - cached.fetchedAt < this.ttlMs) return cached.members;
    let lookup = this.inflight.get(groupId);
    if (!lookup) {
      lookup = this.refresh(groupId).finally(() => this.inflight.delete(groupId));
      this.inflight.set(groupId, lookup);
    }
    return lookup;
  }

  private async refresh(groupId: string): Promise<Set<string> | undefined> {
    const cached = this.cache.get(groupId);
    try {
      const members = new Set(await this.lookup(groupId));
      this.cache.set(groupId, { members, fetchedAt: this.now() });
      return members;
    } catch (err) {
      this.onLookupError(groupId, err);
      // A recent answer beats locking every approver out during a short Slack incident; an older
      // one could let someone removed from the group approve, so then nobody from it is let through.
      return cached && this.now() - cached.fetchedAt < MAX_STALE_MEMBERSHIP_MS ? cached.members : undefined;
    }
  }
}

/** The requester never counts, whatever groups they are in. */
export function mayApprove(requester: string, userId: string, membership: Membership): 'ok' | 'self' | 'not-approver' | 'unverified' {
  if (userId === requester) return 'self';
  return membership === 'approver' ? 'ok' : membership;
}

export function approvalsNeeded(force: boolean, forceApprovals: number): number {
  return force ? forceApprovals : 1;
}
