/**
 * The policy file (REBOOT_POLICY, YAML or JSON): read, validated with zod and against the catalog and the
 * environment, with every problem reported at its line and column; and the holder that keeps the policy in
 * force, reloading it on SIGHUP (src/main.ts) and when the file changes. A new file that does not validate is
 * rejected with its errors logged, and the previous policy stays in force. Without a file, the policy is the one
 * rule of REBOOT_APPROVERS and the default accounts, as before policies existed.
 */
import { createHash } from 'node:crypto';
import { readFileSync, type FSWatcher } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import type { Config } from '../config.js';
import { DEFAULT_ACCOUNT, type ApproverList } from '../domain/job.js';
import { errorMessage } from '../errors.js';
import { watchFile } from '../files/watch-file.js';
import type { Logger } from '../log.js';
import type { Catalog } from '../providers/catalog.js';
import type { ProviderTuning } from '../providers/descriptor.js';
import type { Provider, ProviderName } from '../providers/provider.js';
import { readAccount } from './accounts.js';
import { approverShortfall, type Policy, type Rule } from './rules.js';

export class PolicyError extends Error {}

/** What a policy is checked against, besides its own text. */
export interface PolicyContext {
  catalog: Catalog;
  /** The variables named accounts point at. */
  env: NodeJS.ProcessEnv;
  /** Providers whose own variables are set: their `default` account exists. */
  configured: readonly ProviderName[];
  /** REBOOT_CONFIG's extra regions. */
  extraRegions: Partial<Record<ProviderName, readonly string[]>>;
  /** REBOOT_APPROVERS and REBOOT_FORCE_APPROVALS: the rules' defaults. */
  approvers: ApproverList;
  forceApprovals: number;
  providerTuning: ProviderTuning;
  /** Each provider's section of REBOOT_CONFIG (e.g. Huawei's project ids), shared by its accounts. */
  fileSections?: Partial<Record<ProviderName, object>>;
}

export interface LoadedPolicy {
  policy: Policy;
  /** The clients of the named accounts (never `default`: that is the bot's own client of the provider). */
  accountProvider(provider: ProviderName, account: string): Provider | undefined;
  /** The named accounts' secret values, for redaction. */
  secrets: readonly string[];
}

// ---- the file's shape ------------------------------------------------------------------------------------

const ACCOUNT_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const AccountName = z.string().regex(ACCOUNT_NAME, 'an account name is lower-case letters, digits, - and _ (at most 32)');
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the name of an environment variable');
const Principal = z.string().regex(/^[UWS][A-Z0-9]{2,}$/, 'must be a user id (U…) or a user-group id (S…)');
const Channel = z.string().regex(/^([CG][A-Z0-9]{2,}|\*)$/, 'must be a channel id such as C0123ABCD, or "*"');
const Count = z.number().int().min(1).max(10);

const AccountSchema = z
  .strictObject({
    accessKeyIdEnv: EnvName.optional(),
    accessKeySecretEnv: EnvName.optional(),
    securityTokenEnv: EnvName.optional(),
    credentialsFile: z.string().min(1).optional(),
  })
  .superRefine((a, ctx) => {
    const pair = a.accessKeyIdEnv !== undefined || a.accessKeySecretEnv !== undefined;
    if (pair && (a.accessKeyIdEnv === undefined || a.accessKeySecretEnv === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'accessKeyIdEnv and accessKeySecretEnv go together' });
    }
    if (!pair && a.credentialsFile === undefined) ctx.addIssue({ code: 'custom', message: 'name accessKeyIdEnv and accessKeySecretEnv, or credentialsFile' });
    if (a.securityTokenEnv !== undefined && !pair) ctx.addIssue({ code: 'custom', path: ['securityTokenEnv'], message: 'a security token goes with accessKeyIdEnv and accessKeySecretEnv' });
  });

const RuleSchema = z.strictObject({
  name: z.string().trim().min(1).max(60).optional(),
  channels: z.array(Channel).min(1).optional(),
  providers: z.array(z.string().min(1)).min(1).optional(),
  accounts: z.array(AccountName).min(1).optional(),
  regions: z.array(z.string().min(1)).min(1).optional(),
  requesters: z.array(Principal).min(1).optional(),
  approvers: z.array(Principal).min(1).optional(),
  approvals: Count.default(1),
  forceApprovals: Count.optional(),
  maxInstances: z.number().int().min(1).max(5000).optional(),
});

const PolicyFileSchema = z.strictObject({
  accounts: z.record(z.string(), z.record(AccountName, AccountSchema)).optional(),
  rules: z.array(RuleSchema).min(1, 'at least one rule is needed'),
});

type PolicyFile = z.infer<typeof PolicyFileSchema>;
type Path = ReadonlyArray<string | number>;

interface Problem {
  path: Path;
  message: string;
  /** Point at the last key of the path rather than its value (an unknown key). */
  atKey?: boolean;
}

// ---- locating a path in the text ---------------------------------------------------------------------------

/** The offset of the node at `path`, or of the deepest part of it the document has. */
function offsetOf(doc: Document, path: Path, atKey = false): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const [i, segment] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
      if (pair === undefined) break;
      const last = i === path.length - 1;
      // A key with no value (`prod:`) is found at its key.
      offset = (last && atKey ? rangeStart(pair.key) : undefined) ?? rangeStart(pair.value) ?? rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      node = node.items[segment];
      offset = rangeStart(node) ?? offset;
    } else break;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined;
  const range = (node as { range?: readonly number[] | null }).range;
  return range?.[0];
}

function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function located(source: string, doc: Document, counter: LineCounter, problems: readonly Problem[]): string {
  return problems
    .map(({ path, message, atKey }) => {
      const { line, col } = counter.linePos(offsetOf(doc, path, atKey));
      return `${source}:${line}:${col}: ${path.length > 0 ? `${pathText(path)}: ` : ''}${message}`;
    })
    .join('\n');
}

// ---- parsing ------------------------------------------------------------------------------------------------

/** The policy in `text` (YAML, of which JSON is a subset); throws a PolicyError naming each problem's line. */
export function parsePolicy(text: string, source: string, ctx: PolicyContext): LoadedPolicy {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      doc.errors
        .map((e) => {
          const pos = e.linePos?.[0] ?? counter.linePos(e.pos[0]);
          return `${source}:${pos.line}:${pos.col}: ${e.message.split('\n')[0] ?? e.message}`;
        })
        .join('\n'),
    );
  }
  const parsed = PolicyFileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const keys = 'keys' in i && Array.isArray(i.keys) ? (i.keys as unknown[]).map(String) : [];
      // An unknown key is reported where it is written, not where its object starts.
      const key = keys[0];
      return key === undefined ? { path: i.path.map(pathSegment), message: i.message } : { path: [...i.path.map(pathSegment), key], message: i.message, atKey: true };
    });
    throw new PolicyError(located(source, doc, counter, problems));
  }
  const problems: Problem[] = [];
  const loaded = build(parsed.data, source, ctx, problems);
  if (problems.length > 0) throw new PolicyError(located(source, doc, counter, problems));
  return loaded;
}

function pathSegment(p: PropertyKey): string | number {
  return typeof p === 'number' ? p : String(p);
}

function splitPrincipals(list: readonly string[]): ApproverList {
  return { users: list.filter((p) => !p.startsWith('S')), groups: list.filter((p) => p.startsWith('S')) };
}

/** Everything zod cannot know: names against the catalog and environment, rules that can never be satisfied. */
function build(file: PolicyFile, source: string, ctx: PolicyContext, problems: Problem[]): LoadedPolicy {
  const accounts: Partial<Record<ProviderName, string[]>> = {};
  for (const name of ctx.catalog.names) accounts[name] = ctx.configured.includes(name) ? [DEFAULT_ACCOUNT] : [];
  const clients = new Map<string, Provider>();
  const secrets: string[] = [];

  for (const [providerName, declared] of Object.entries(file.accounts ?? {})) {
    const descriptor = ctx.catalog.get(providerName);
    if (descriptor === undefined) {
      problems.push({ path: ['accounts', providerName], message: `unknown provider "${providerName}"; known: ${ctx.catalog.names.join(', ')}` });
      continue;
    }
    for (const [accountName, account] of Object.entries(declared)) {
      const path = ['accounts', providerName, accountName];
      if (accountName === DEFAULT_ACCOUNT) {
        problems.push({ path, message: `"${DEFAULT_ACCOUNT}" is the account of the provider's own variables; give this one another name` });
        continue;
      }
      const read = readAccount(descriptor, account, ctx.env, ctx.fileSections?.[descriptor.info.name]);
      if ('problem' in read) {
        problems.push({ path, message: read.problem });
        continue;
      }
      try {
        // A credentials file that cannot be read throws here (src/providers/credentials.ts): a load error like any other.
        clients.set(`${descriptor.info.name}/${accountName}`, descriptor.create(read.credentials, ctx.providerTuning));
      } catch (err) {
        problems.push({ path, message: errorMessage(err) });
        continue;
      }
      secrets.push(...read.secrets);
      accounts[descriptor.info.name]?.push(accountName);
    }
  }

  const rules = file.rules.map((raw, i) => buildRule(raw, i, ctx, accounts, problems));
  return {
    policy: { source, rules, accounts },
    accountProvider: (provider, account) => clients.get(`${provider}/${account}`),
    secrets,
  };
}

function buildRule(raw: PolicyFile['rules'][number], i: number, ctx: PolicyContext, accounts: Partial<Record<ProviderName, string[]>>, problems: Problem[]): Rule {
  const at = (...path: Array<string | number>): Path => ['rules', i, ...path];
  const providers: ProviderName[] = [];
  raw.providers?.forEach((word, j) => {
    const descriptor = ctx.catalog.find(word);
    if (descriptor === undefined) problems.push({ path: at('providers', j), message: `unknown provider "${word}"; known: ${ctx.catalog.names.join(', ')}` });
    else providers.push(descriptor.info.name);
  });
  const scope = raw.providers === undefined ? [...ctx.catalog.names] : providers;

  const regions = raw.regions?.map((r) => r.toLowerCase());
  regions?.forEach((region, j) => {
    if (region === '*') return;
    const known = scope.some((p) => {
      const info = ctx.catalog.get(p)?.info;
      return info !== undefined && [...info.regions, ...(ctx.extraRegions[p] ?? [])].some((r) => r.toLowerCase() === region);
    });
    if (!known) problems.push({ path: at('regions', j), message: `unknown region "${region}" for ${scope.join(', ') || 'these providers'}` });
  });

  raw.accounts?.forEach((account, j) => {
    if (!scope.some((p) => accounts[p]?.includes(account))) {
      const what = account === DEFAULT_ACCOUNT ? 'the default account exists only for providers whose own variables are set' : 'declare it under `accounts:`';
      problems.push({ path: at('accounts', j), message: `no account "${account}" for ${scope.join(', ') || 'these providers'}; ${what}` });
    }
  });

  const approvers = raw.approvers ? splitPrincipals(raw.approvers) : ctx.approvers;
  if (approvers.users.length + approvers.groups.length === 0) {
    problems.push({ path: at(), message: 'no approvers, and REBOOT_APPROVERS is empty: nobody could approve' });
  }
  const forceApprovals = raw.forceApprovals ?? Math.max(raw.approvals, ctx.forceApprovals);
  if (forceApprovals < raw.approvals) problems.push({ path: at('forceApprovals'), message: `must be at least approvals (${raw.approvals})` });
  const requesters = raw.requesters ? splitPrincipals(raw.requesters) : undefined;
  const label = raw.name === undefined ? `rule ${i + 1}` : `rule ${i + 1} (${raw.name})`;
  unsatisfiable(approvers, requesters, raw.approvals, 'approvals', raw.approvals, at, problems);
  if (forceApprovals !== raw.approvals || raw.forceApprovals !== undefined) {
    unsatisfiable(approvers, requesters, forceApprovals, raw.forceApprovals === undefined ? 'approvers' : 'forceApprovals', raw.forceApprovals ?? null, at, problems);
  }

  return {
    label,
    ...(raw.channels ? { channels: raw.channels } : {}),
    ...(raw.providers ? { providers } : {}),
    ...(raw.accounts ? { accounts: raw.accounts } : {}),
    ...(regions ? { regions } : {}),
    ...(requesters ? { requesters } : {}),
    approvers,
    approvals: raw.approvals,
    forceApprovals,
    ...(raw.maxInstances !== undefined ? { maxInstances: raw.maxInstances } : {}),
  };
}

/**
 * A rule no request could ever get through: fewer individual approvers than approvals, or approvers who, the
 * requester excluded (nobody approves their own request), are too few for every requester the rule names. Only
 * lists of individual users can be counted: a user group may hold any number.
 */
function unsatisfiable(
  approvers: ApproverList,
  requesters: ApproverList | undefined,
  needed: number,
  field: 'approvals' | 'forceApprovals' | 'approvers',
  given: number | null,
  at: (...path: Array<string | number>) => Path,
  problems: Problem[],
): void {
  if (approvers.groups.length > 0) return;
  const what = field === 'approvers' ? `a --force request needs ${needed} approvals (REBOOT_FORCE_APPROVALS; set forceApprovals to change it)` : `${field}: ${given ?? needed}`;
  const count = new Set(approvers.users).size;
  if (count < needed) {
    problems.push({ path: at(field), message: `${what}, but only ${count} approver${count === 1 ? ' is' : 's are'} listed and no group: it could never be approved` });
    return;
  }
  if (requesters === undefined || requesters.groups.length > 0 || requesters.users.length === 0) return;
  if (requesters.users.every((r) => approverShortfall(approvers, r, needed) !== undefined)) {
    problems.push({ path: at(field), message: `${what}, but every requester is one of the approvers and cannot approve their own request: it could never be approved` });
  }
}

/** The context of the bot's own configuration: its providers' defaults, approvers and extra regions. */
export function policyContext(config: Config, env: NodeJS.ProcessEnv, catalog: Catalog, providerTuning: ProviderTuning): PolicyContext {
  return {
    catalog,
    env,
    configured: Object.keys(config.providers),
    extraRegions: config.extraRegions,
    approvers: config.approvers,
    forceApprovals: config.forceApprovals,
    providerTuning,
    fileSections: config.providerSections,
  };
}

// ---- without a file --------------------------------------------------------------------------------------------

/** Today's behaviour: REBOOT_APPROVERS for every channel, the default accounts only. */
export function environmentPolicy(ctx: Pick<PolicyContext, 'catalog' | 'configured' | 'approvers' | 'forceApprovals'>): LoadedPolicy {
  const accounts: Partial<Record<ProviderName, string[]>> = {};
  for (const name of ctx.catalog.names) accounts[name] = ctx.configured.includes(name) ? [DEFAULT_ACCOUNT] : [];
  const rule: Rule = { label: 'REBOOT_APPROVERS', approvers: ctx.approvers, approvals: 1, forceApprovals: ctx.forceApprovals };
  return { policy: { source: null, rules: [rule], accounts }, accountProvider: () => undefined, secrets: [] };
}

// ---- the holder --------------------------------------------------------------------------------------------

export interface PolicyHolderOptions {
  /** REBOOT_POLICY; undefined: the environment's policy, which never changes. */
  path?: string;
  context: PolicyContext;
  log: Logger;
  /** Called with each policy put in force, the first included (main.ts registers its secrets). */
  onLoaded?: (loaded: LoadedPolicy) => void;
  /** How long the file must be quiet after a change before it is read: editors write in several steps. */
  debounceMs?: number;
}

export type ReloadResult = 'reloaded' | 'unchanged' | 'rejected' | 'no-file';

/** The policy in force; requests read it through `current` each time. */
export class PolicyHolder {
  private loaded: LoadedPolicy;
  private digest: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Throws a PolicyError when the file cannot be read or does not validate: the bot must not start on it. */
  constructor(private readonly opts: PolicyHolderOptions) {
    if (opts.path === undefined) {
      this.loaded = environmentPolicy(opts.context);
    } else {
      const text = readPolicyText(opts.path);
      this.loaded = parsePolicy(text, opts.path, opts.context);
      this.digest = digestOf(text);
    }
    opts.onLoaded?.(this.loaded);
  }

  get current(): LoadedPolicy {
    return this.loaded;
  }

  /** Reads the file again (SIGHUP, a change on disk); a file that does not validate leaves the policy as it was. */
  reload(): ReloadResult {
    const { path, log } = this.opts;
    if (path === undefined) return 'no-file';
    try {
      const text = readPolicyText(path);
      const digest = digestOf(text);
      if (digest === this.digest) return 'unchanged';
      const loaded = parsePolicy(text, path, this.opts.context);
      this.opts.onLoaded?.(loaded);
      this.loaded = loaded;
      this.digest = digest;
      log.info('policy reloaded', { path, rules: loaded.policy.rules.length });
      return 'reloaded';
    } catch (err) {
      log.error('policy reload rejected; the previous policy stays in force', { path, error: errorMessage(err) });
      return 'rejected';
    }
  }

  /** Reloads when the file changes (src/files/watch-file.ts); unchanged content is not reloaded again (see `reload`). */
  watch(): void {
    const { path } = this.opts;
    if (path === undefined || this.watcher !== undefined) return;
    this.watcher = watchFile(
      path,
      () => {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.reload(), this.opts.debounceMs ?? 200);
        this.timer.unref();
      },
      (err) => this.opts.log.warn('policy file watch failed; SIGHUP still reloads it', { path, error: errorMessage(err) }),
    );
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}

function readPolicyText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyError(`${path}: cannot read the policy file: ${errorMessage(err)}`);
  }
}

function digestOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
