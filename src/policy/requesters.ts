/**
 * The I/O edge of rule evaluation: looks up the requester's membership of the user groups that could decide
 * (usergroups.users.list through the ApproverDirectory's cache, https://api.slack.com/methods/usergroups.users.list),
 * then hands the pure rules (src/policy/rules.ts) a plain answer per group.
 */
import type { ApproverDirectory } from '../jobs/policy.js';
import { evaluate, policyText, requesterGroupsToCheck, type Decision, type GroupMembership, type Policy, type RequestFacts } from './rules.js';

type GroupDirectory = Pick<ApproverDirectory, 'isMember'>;

async function memberships(directory: GroupDirectory, user: string, groups: readonly string[]): Promise<GroupMembership> {
  const answers = new Map<string, boolean | undefined>();
  for (const group of groups) answers.set(group, await directory.isMember(user, group));
  return (group) => answers.get(group);
}

/** The policy's decision on a request, with the requester's groups looked up. */
export async function decide(policy: Policy, facts: RequestFacts, directory: GroupDirectory): Promise<Decision> {
  return evaluate(policy, facts, await memberships(directory, facts.requester, requesterGroupsToCheck(policy, facts)));
}

/** The reply to `/reboot policy`, with the requester groups of this channel's rules looked up. */
export async function describePolicy(policy: Policy, channel: string, user: string, directory: GroupDirectory): Promise<string> {
  const groups = new Set(policy.rules.flatMap((r) => r.requesters?.groups ?? []));
  return policyText(policy, channel, user, await memberships(directory, user, [...groups]));
}
