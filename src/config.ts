/**
 * Configuration: the environment variables of the design's contract, validated with zod, plus an
 * optional JSON file (REBOOT_CONFIG) for what does not fit in a variable (extra regions, rate limits,
 * a provider's own settings). Each provider's variables and file section are its descriptor's: the
 * catalog in use decides which are read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { LogLevelSchema, type Level } from './log.js';
import type { ProviderCredentials } from './providers/registry.js';
import { defaultCatalog, type Catalog } from './providers/catalog.js';
import type { ProviderName, RateLimits } from './providers/provider.js';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Math.round(n * UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS]);
}

const Duration = z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `not a duration: "${s}" (use e.g. 15m, 900s, 1h, 90d)` });
    return z.NEVER;
  }
  return ms;
});

const PositiveInt = z.coerce.number().int().positive();
const Optional = z.string().trim().min(1).optional().catch(undefined);

const EnvSchema = z.object({
  SLACK_BOT_TOKEN: Optional,
  SLACK_APP_TOKEN: Optional,
  SLACK_SIGNING_SECRET: Optional,
  SLACK_API_URL: z.url().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  REBOOT_APPROVERS: z.string().default(''),
  REBOOT_INCIDENT_CHANNEL: z
    .string()
    .regex(/^[CG][A-Z0-9]{2,}$/, 'must be a channel id such as C0123ABCD')
    .optional(),
  REBOOT_DB: z.string().min(1).default('./data/reboot-bot.db'),
  /**
   * PostgreSQL instead of the SQLite file (src/store/pg-store.ts): the store replicas share. A secret, as it may
   * hold a password. https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS
   */
  REBOOT_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }).optional(),
  REBOOT_FORCE_APPROVALS: PositiveInt.max(10).default(2),
  REBOOT_APPROVAL_TTL: Duration.default(15 * 60_000),
  /** How long a rebooted instance may take to be seen running again before it is reported not back. */
  REBOOT_VERIFY_TIMEOUT: Duration.default(10 * 60_000),
  REBOOT_SHUTDOWN_GRACE: Duration.default(20_000),
  REBOOT_MAX_INSTANCES: PositiveInt.max(5000).default(500),
  /** How long ended jobs (with their audit trail) and delivered Slack writes are kept (src/store/retention.ts). */
  REBOOT_RETENTION: Duration.default(90 * 86_400_000),
  REBOOT_CONFIG: z.string().optional(),
  /** The policy file: named accounts and per-channel rules (src/policy/load.ts); absent, REBOOT_APPROVERS rules. */
  REBOOT_POLICY: z.string().trim().min(1).optional(),
  /** The least level logged (src/log.ts). */
  LOG_LEVEL: LogLevelSchema.default('info'),
  /** /readyz fails once an outbox row due for delivery has waited this long (src/observability/readiness.ts). */
  REBOOT_READY_OUTBOX_STUCK: Duration.default(5 * 60_000),
  /**
   * Redis holding the rate limits every replica shares (src/jobs/limiters.ts, src/slack/redis-channel-pacer.ts);
   * without it each process keeps its own in memory.
   */
  REBOOT_REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .optional(),
  /** The start of every shared limit's Redis key: replicas of one bot must agree on it, two bots on one Redis must not. */
  REBOOT_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits and _ . : - only (at most 64)')
    .default('reboot'),
  /**
   * With both REBOOT_DATABASE_URL and REBOOT_REDIS_URL (active-active replicas, src/replicas/coordinator.ts): how long a
   * replica that stopped renewing its heartbeat still counts as alive, i.e. how soon another takes over its jobs.
   */
  REBOOT_REPLICA_TIMEOUT: Duration.refine((ms) => ms >= 600, 'must be at least 600ms').default(30_000),
});

/** The variables read here; the providers' own are their descriptors' (`env.variables`). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape);

const LimitsSchema = z.object({
  maxConcurrent: z.number().int().positive().optional(),
  minTimeMs: z.number().int().min(0).optional(),
  instancesPerMinute: z.number().int().positive().optional(),
});

const RegionList = z.array(z.string().regex(/^[a-z0-9-]+$/));

/**
 * The file's shape for one catalog: regions and limits keyed by provider name, plus each provider's own
 * section under its name (unchecked here: its descriptor validates it).
 */
function fileSchema(catalog: Catalog) {
  const names = z.enum(catalog.names);
  const sections = Object.fromEntries(catalog.descriptors.filter((d) => d.file).map((d) => [d.info.name, z.unknown().optional()]));
  return z
    .object({
      regions: z.partialRecord(names, RegionList).optional(),
      limits: z.partialRecord(names, LimitsSchema).optional(),
      ...sections,
    })
    .strict();
}

/**
 * Credentials of each configured provider, by name, as its descriptor read them. Their type is the
 * descriptor's business; the registry hands them back to the same descriptor's `create`.
 */

export interface Config {
  slack: { botToken?: string; appToken?: string; signingSecret?: string; apiUrl?: string };
  port: number;
  approvers: { users: string[]; groups: string[] };
  incidentChannel?: string;
  dbPath: string;
  /** REBOOT_DATABASE_URL: when set, the store is PostgreSQL and `dbPath` is unused. */
  databaseUrl?: string;
  forceApprovals: number;
  approvalTtlMs: number;
  /** REBOOT_VERIFY_TIMEOUT. */
  verifyTimeoutMs: number;
  /** REBOOT_SHUTDOWN_GRACE: how long a stop waits for provider calls in flight before leaving them to the next start. */
  shutdownGraceMs: number;
  maxInstances: number;
  /** REBOOT_RETENTION. */
  retentionMs: number;
  /** LOG_LEVEL. */
  logLevel: Level;
  /** REBOOT_READY_OUTBOX_STUCK. */
  readyOutboxStuckMs: number;
  /** REBOOT_REDIS_URL: the shared limits' Redis; absent, limits are kept per process. */
  redisUrl?: string;
  /** REBOOT_REDIS_PREFIX. */
  redisPrefix: string;
  /** REBOOT_REPLICA_TIMEOUT. */
  replicaTimeoutMs: number;
  providers: ProviderCredentials;
  /** Each provider's section of REBOOT_CONFIG, which its named accounts share (src/policy/load.ts). */
  providerSections: Partial<Record<ProviderName, object>>;
  /** REBOOT_POLICY. */
  policyPath?: string;
  /** Values of the providers' secret variables. */
  providerSecrets: readonly string[];
  extraRegions: Partial<Record<ProviderName, string[]>>;
  limits: Partial<Record<ProviderName, Partial<RateLimits>>>;
}

export class ConfigError extends Error {}

export function parseApprovers(text: string): { users: string[]; groups: string[] } {
  const users: string[] = [];
  const groups: string[] = [];
  for (const raw of text.split(/[\s,]+/).filter(Boolean)) {
    if (/^[UW][A-Z0-9]{2,}$/.test(raw)) users.push(raw);
    else if (/^S[A-Z0-9]{2,}$/.test(raw)) groups.push(raw);
    else throw new ConfigError(`REBOOT_APPROVERS: "${raw}" is neither a user id (U…) nor a user-group id (S…)`);
  }
  return { users, groups };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, catalog: Catalog = defaultCatalog): Config {
  const parsed = EnvSchema.safeParse(env);
  const fromEnv = catalog.descriptors.map((d) => ({ d, result: d.env.schema.safeParse(env) }));
  const problems = [parsed, ...fromEnv.map((p) => p.result)].flatMap((r) => (r.success ? [] : issuesOf(r.error)));
  if (!parsed.success || problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  const e = parsed.data;
  // The image sets NODE_ENV=production (Dockerfile): there, a missing token is a mistake, not a wish for
  // local mode, which would read a closed stdin, exit 0 and be restarted forever.
  if (!e.SLACK_BOT_TOKEN && env.NODE_ENV === 'production') {
    throw new ConfigError('SLACK_BOT_TOKEN is not set, and NODE_ENV is production: local mode (the fake workspace) is for trying the bot out only');
  }
  const { file, sections } = readConfigFile(e.REBOOT_CONFIG, catalog);
  const providers: Record<ProviderName, object> = {};
  for (const { d, result } of fromEnv) {
    if (result.data === undefined) continue;
    providers[d.info.name] = { ...result.data, ...sections.get(d.info.name) };
  }

  return {
    slack: {
      ...(e.SLACK_BOT_TOKEN ? { botToken: e.SLACK_BOT_TOKEN } : {}),
      ...(e.SLACK_APP_TOKEN ? { appToken: e.SLACK_APP_TOKEN } : {}),
      ...(e.SLACK_SIGNING_SECRET ? { signingSecret: e.SLACK_SIGNING_SECRET } : {}),
      ...(e.SLACK_API_URL ? { apiUrl: e.SLACK_API_URL } : {}),
    },
    port: e.PORT,
    approvers: parseApprovers(e.REBOOT_APPROVERS),
    ...(e.REBOOT_INCIDENT_CHANNEL ? { incidentChannel: e.REBOOT_INCIDENT_CHANNEL } : {}),
    dbPath: e.REBOOT_DB,
    ...(e.REBOOT_DATABASE_URL ? { databaseUrl: e.REBOOT_DATABASE_URL } : {}),
    forceApprovals: e.REBOOT_FORCE_APPROVALS,
    approvalTtlMs: e.REBOOT_APPROVAL_TTL,
    verifyTimeoutMs: e.REBOOT_VERIFY_TIMEOUT,
    shutdownGraceMs: e.REBOOT_SHUTDOWN_GRACE,
    maxInstances: e.REBOOT_MAX_INSTANCES,
    retentionMs: e.REBOOT_RETENTION,
    logLevel: e.LOG_LEVEL,
    readyOutboxStuckMs: e.REBOOT_READY_OUTBOX_STUCK,
    ...(e.REBOOT_REDIS_URL ? { redisUrl: e.REBOOT_REDIS_URL } : {}),
    redisPrefix: e.REBOOT_REDIS_PREFIX,
    replicaTimeoutMs: e.REBOOT_REPLICA_TIMEOUT,
    providers,
    providerSections: Object.fromEntries(sections),
    ...(e.REBOOT_POLICY ? { policyPath: e.REBOOT_POLICY } : {}),
    providerSecrets: catalog.descriptors.flatMap((d) => d.env.secrets.map((name) => env[name]?.trim() ?? '')).filter((v) => v !== ''),
    extraRegions: file.regions ?? {},
    limits: file.limits ?? {},
  };
}

function issuesOf(error: z.ZodError, prefix = ''): string[] {
  return error.issues.map((i) => {
    const path = [prefix, ...i.path.map(String)].filter(Boolean).join('.');
    return path === '' ? i.message : `${path}: ${i.message}`;
  });
}

interface ConfigFile {
  file: { regions?: Partial<Record<ProviderName, string[]>>; limits?: Partial<Record<ProviderName, Partial<RateLimits>>> };
  /** Each provider's own section, validated by its descriptor. */
  sections: Map<ProviderName, object>;
}

function readConfigFile(path: string | undefined, catalog: Catalog): ConfigFile {
  const target = path ?? './reboot-bot.config.json';
  if (!existsSync(target)) {
    if (path) throw new ConfigError(`REBOOT_CONFIG: file not found: ${path}`);
    return { file: {}, sections: new Map() };
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(target, 'utf8'));
  } catch {
    throw new ConfigError(`${target}: not valid JSON`);
  }
  const parsed = fileSchema(catalog).safeParse(json);
  if (!parsed.success) throw new ConfigError(`${target}: ${issuesOf(parsed.error).join('; ')}`);
  const raw: Record<string, unknown> = parsed.data;
  const sections = new Map<ProviderName, object>();
  const problems: string[] = [];
  for (const d of catalog.descriptors) {
    const section = raw[d.info.name];
    if (!d.file || section === undefined) continue;
    const result = d.file.safeParse(section);
    if (result.success) sections.set(d.info.name, result.data);
    else problems.push(...issuesOf(result.error, d.info.name));
  }
  if (problems.length > 0) throw new ConfigError(`${target}: ${problems.join('; ')}`);
  return { file: { regions: parsed.data.regions, limits: parsed.data.limits }, sections };
}

/** Values that must never be logged or posted. */
export function secretsOf(config: Config): string[] {
  return [
    config.slack.botToken,
    config.slack.appToken,
    config.slack.signingSecret,
    ...config.providerSecrets,
    ...(config.redisUrl ? urlPasswords(config.redisUrl) : []),
    // The whole database URL too: an error may quote it with its user and host.
    ...(config.databaseUrl ? [config.databaseUrl, ...urlPasswords(config.databaseUrl)] : []),
  ].filter((s): s is string => typeof s === 'string' && s !== '');
}

/** A URL as messages may show it: its password, if any, replaced by `***`. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/**
 * A URL's password (https://www.iana.org/assignments/uri-schemes/prov/redis, https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS),
 * as written and decoded: an error may quote it without the rest of the URL.
 */
function urlPasswords(url: string): string[] {
  const password = URL.canParse(url) ? new URL(url).password : '';
  if (password === '') return [];
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // Not percent-encoded validly: the raw form is the one to hide.
  }
  return [password, decoded];
}
