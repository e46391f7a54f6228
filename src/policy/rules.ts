/**
 * The policy's rules, evaluated: which rule lets a request through (the first that matches decides), and
 * when none does, which came closest and what it lacks. Pure: group memberships arrive already looked up
 * (src/policy/requesters.ts), the policy itself from src/policy/load.ts.
 */
import type { ApproverList } from '../domain/job.js';
import type { ProviderName } from '../providers/provider.js';

export interface Rule {
  /** "rule 2" or, when the file names it, "rule 2 (prod-ops)"; what refusals and `/reboot policy` call it. */
  label: string;
  /** Absent: every channel (as `["*"]`). */
  channels?: readonly string[];
  providers?: readonly ProviderName[];
  accounts?: readonly string[];
  /** Lower-case region ids. */
  regions?: readonly string[];
  /** Absent: anyone in the channel. */
  requesters?: ApproverList;
  approvers: ApproverList;
  approvals: number;
  forceApprovals: number;
  maxInstances?: number;
}

export interface Policy {
  /** The file it was read from; null for the one made of REBOOT_APPROVERS when there is no file. */
  source: string | null;
  rules: readonly Rule[];
  /** Every provider's account names, `default` included where the provider's own variables are set. */
  accounts: Readonly<Partial<Record<ProviderName, readonly string[]>>>;
}

export interface RequestFacts {
  channel: string;
  requester: string;
  provider: ProviderName;
  account: string;
  region: string;
  instances: number;
  force: boolean;
  dryRun: boolean;
}

/** Whether the requester is in a user group: undefined when Slack could not say. */
export type GroupMembership = (group: string) => boolean | undefined;

export type Dimension = 'channel' | 'provider' | 'account' | 'region' | 'requester' | 'maxInstances';

export type Decision =
  | { kind: 'allowed'; rule: Rule; approvers: ApproverList; approvalsNeeded: number }
  | { kind: 'refused'; message: string };

const ANY = '*';

function listAllows(list: readonly string[] | undefined, value: string): boolean {
  return list === undefined || list.includes(ANY) || list.includes(value);
}

type Match = 'yes' | 'no' | 'unknown';

function requesterMatch(rule: Rule, requester: string, member: GroupMembership): Match {
  const list = rule.requesters;
  if (list === undefined || list.users.includes(requester)) return 'yes';
  let unknown = false;
  for (const group of list.groups) {
    const answer = member(group);
    if (answer === true) return 'yes';
    if (answer === undefined) unknown = true;
  }
  return unknown ? 'unknown' : 'no';
}

/** Each dimension of `rule` against the request, in the order refusals name them. */
function check(rule: Rule, facts: RequestFacts, member: GroupMembership): Record<Dimension, Match> {
  const yes = (ok: boolean): Match => (ok ? 'yes' : 'no');
  return {
    channel: yes(listAllows(rule.channels, facts.channel)),
    provider: yes(listAllows(rule.providers, facts.provider)),
    account: yes(listAllows(rule.accounts, facts.account)),
    region: yes(listAllows(rule.regions, facts.region)),
    requester: requesterMatch(rule, facts.requester, member),
    maxInstances: yes(rule.maxInstances === undefined || facts.instances <= rule.maxInstances),
  };
}

/** The groups whose membership could decide: those of rules that match the request on every other dimension. */
export function requesterGroupsToCheck(policy: Policy, facts: RequestFacts): string[] {
  const groups = new Set<string>();
  for (const rule of policy.rules) {
    const { requester: _requester, ...others } = check(rule, facts, () => false);
    if (Object.values(others).every((m) => m === 'yes')) for (const g of rule.requesters?.groups ?? []) groups.add(g);
  }
  return [...groups];
}

/** The approvals a request needs under `rule`: none for a dry run, which only reads. */
export function approvalsFor(rule: Rule, facts: Pick<RequestFacts, 'force' | 'dryRun'>): number {
  if (facts.dryRun) return 0;
  return facts.force ? rule.forceApprovals : rule.approvals;
}

/**
 * The first rule that matches decides. A rule that matches but for a group membership Slack cannot confirm
 * refuses: a later rule might be looser, and the requester may well be in the group.
 */
export function evaluate(policy: Policy, facts: RequestFacts, member: GroupMembership): Decision {
  const known = policy.accounts[facts.provider] ?? [];
  if (!known.includes(facts.account)) {
    const list = known.length > 0 ? `its accounts: ${known.map(code).join(', ')}` : 'it has no account configured';
    return { kind: 'refused', message: `\`${facts.provider}\` has no account ${code(facts.account)}; ${list}` };
  }
  let closest: { rule: Rule; failing: Dimension[]; score: number } | undefined;
  for (const rule of policy.rules) {
    const result = check(rule, facts, member);
    // A membership not known (not looked up: the rule failed elsewhere; or Slack could not say) is not held against a
    // rule when ranking how close it came.
    const failing = (Object.keys(result) as Dimension[]).filter((d) => result[d] === 'no');
    if (failing.length === 0) return result.requester === 'unknown' ? { kind: 'refused', message: cannotConfirm(rule) } : allowed(rule, facts);
    const score = 6 - failing.length;
    if (closest === undefined || score > closest.score) closest = { rule, failing, score };
  }
  if (closest === undefined) return { kind: 'refused', message: 'the policy has no rules' };
  return { kind: 'refused', message: refusalText(closest.rule, closest.failing, facts) };
}

function allowed(rule: Rule, facts: RequestFacts): Decision {
  const approvalsNeeded = approvalsFor(rule, facts);
  const shortfall = approverShortfall(rule.approvers, facts.requester, approvalsNeeded);
  if (shortfall !== undefined) {
    const what = facts.force ? `a \`--force\` reboot needs ${approvalsNeeded} approvals` : `a reboot needs ${approvalsNeeded} approvals`;
    return {
      kind: 'refused',
      message: `${rule.label} allows this, but ${what} and only ${shortfall.length} of its approvers (${shortfall.map(user).join(', ') || 'none'}) could give one: you cannot approve your own request. It could never be approved, so it was not posted`,
    };
  }
  return { kind: 'allowed', rule, approvers: rule.approvers, approvalsNeeded };
}

/**
 * The approvers other than the requester, when they are provably too few: only a list of individual users can
 * be counted (a user group may hold any number). Undefined when the approvals can be reached, or may be.
 */
export function approverShortfall(approvers: ApproverList, requester: string, needed: number): readonly string[] | undefined {
  if (needed === 0 || approvers.groups.length > 0) return undefined;
  const others = [...new Set(approvers.users)].filter((u) => u !== requester);
  return others.length < needed ? others : undefined;
}

function cannotConfirm(rule: Rule): string {
  const groups = (rule.requesters?.groups ?? []).map(group).join(', ');
  return `${rule.label} would allow this if you are in ${groups}, but that membership cannot be confirmed right now (Slack does not answer the user-group lookup). Nothing was requested; try again in a few minutes`;
}

function refusalText(rule: Rule, failing: readonly Dimension[], facts: RequestFacts): string {
  const parts = failing.map((d) => lack(rule, d, facts));
  const where = failing.includes('channel') && rule.channels && !rule.channels.includes(ANY) ? `; ask in ${rule.channels.map(channel).join(', ')}` : '';
  return `no policy rule allows this. The closest, ${rule.label}, does not match: ${parts.join('; ')}${where}`;
}

function lack(rule: Rule, dimension: Dimension, facts: RequestFacts): string {
  switch (dimension) {
    case 'channel':
      return `channel ${channel(facts.channel)} may not use ${rule.accounts ? `account ${code(facts.account)}` : `\`${facts.provider}\``}`;
    case 'provider':
      return `provider \`${facts.provider}\` is not one of ${(rule.providers ?? []).map(code).join(', ')}`;
    case 'account':
      return `account ${code(facts.account)} is not one of ${(rule.accounts ?? []).map(code).join(', ')}`;
    case 'region':
      return `region ${code(facts.region)} is not one of ${(rule.regions ?? []).map(code).join(', ')}`;
    case 'requester': {
      const list = rule.requesters ?? { users: [], groups: [] };
      return `you are not one of its requesters (${[...list.users.map(user), ...list.groups.map(group)].join(', ')})`;
    }
    case 'maxInstances':
      return `${facts.instances} instances is more than its maximum of ${rule.maxInstances ?? 0}`;
  }
}

/** The rules that let `requester` ask in `channel`, for `/reboot policy`; membership as in `evaluate`. */
export function rulesFor(policy: Policy, channelId: string, requester: string, member: GroupMembership): Array<{ rule: Rule; requester: Match }> {
  return policy.rules
    .filter((rule) => listAllows(rule.channels, channelId))
    .map((rule) => ({ rule, requester: requesterMatch(rule, requester, member) }))
    .filter((r) => r.requester !== 'no');
}

/** The reply to `/reboot policy`: what the caller may do in this channel. */
export function policyText(policy: Policy, channelId: string, requester: string, member: GroupMembership): string {
  const rules = rulesFor(policy, channelId, requester, member);
  const source = policy.source === null ? 'REBOOT_APPROVERS (no policy file)' : 'the policy file';
  if (rules.length === 0) return `*What you may reboot in ${channel(channelId)}*: nothing. No rule of ${source} lets you request reboots here.`;
  const lines = rules.map(({ rule, requester: match }) => {
    // Without a providers list: every provider that has an account at all.
    const providers = rule.providers ?? (Object.keys(policy.accounts) as ProviderName[]).filter((p) => (policy.accounts[p] ?? []).length > 0);
    const accounts = providers.map((p) => {
      const names = (policy.accounts[p] ?? []).filter((a) => listAllows(rule.accounts, a));
      return `\`${p}\` ${names.length > 0 ? names.map(code).join(', ') : '(no account)'}`;
    });
    const regions = rule.regions ? rule.regions.map(code).join(', ') : 'any';
    const approvers = [...rule.approvers.users.map(user), ...rule.approvers.groups.map(group)].join(', ');
    const note = match === 'unknown' ? ' _(if you are in its requester group: that cannot be confirmed right now)_' : '';
    const max = rule.maxInstances === undefined ? '' : `; at most ${rule.maxInstances} instances a request`;
    return (
      `• *${rule.label}*${note}: accounts ${accounts.join('; ')}; regions ${regions}; approvers ${approvers}; ` +
      `approvals ${rule.approvals} (${rule.forceApprovals} with \`--force\`)${max}`
    );
  });
  return [`*What you may reboot in ${channel(channelId)}* (from ${source}; the first rule that matches a request decides):`, ...lines].join('\n');
}

const code = (text: string): string => `\`${text}\``;
const channel = (id: string): string => `<#${id}>`;
const user = (id: string): string => `<@${id}>`;
const group = (id: string): string => `<!subteam^${id}>`;
