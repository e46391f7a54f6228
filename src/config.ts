/**
 * Configuration: the environment variables of the design's contract, validated with zod, plus an
 * optional JSON file (REBOOT_CONFIG) for what does not fit in a variable (Huawei project ids per
 * region, extra regions, rate limits).
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ProviderName, RateLimits } from './providers/provider.js';

export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(n * factor);
}

const Duration = z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `not a duration: "${s}" (use e.g. 15m, 900s, 1h)` });
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
  REBOOT_FORCE_APPROVALS: PositiveInt.max(10).default(2),
  REBOOT_APPROVAL_TTL: Duration.default(15 * 60_000),
  REBOOT_MAX_INSTANCES: PositiveInt.max(5000).default(500),
  REBOOT_CONFIG: z.string().optional(),
  VOLCENGINE_ACCESS_KEY: Optional,
  VOLCENGINE_SECRET_KEY: Optional,
  VOLCENGINE_ENDPOINT: z.url().optional(),
  ALIBABA_CLOUD_ACCESS_KEY_ID: Optional,
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: Optional,
  ALIBABA_CLOUD_ECS_ENDPOINT: z.url().optional(),
  BCE_ACCESS_KEY_ID: Optional,
  BCE_SECRET_ACCESS_KEY: Optional,
  BCE_BCC_ENDPOINT: z.url().optional(),
  HUAWEICLOUD_SDK_AK: Optional,
  HUAWEICLOUD_SDK_SK: Optional,
  HUAWEICLOUD_SDK_PROJECT_ID: Optional,
  HUAWEICLOUD_ECS_ENDPOINT: z.url().optional(),
});

const LimitsSchema = z.object({
  maxConcurrent: z.number().int().positive().optional(),
  minTimeMs: z.number().int().min(0).optional(),
  instancesPerMinute: z.number().int().positive().optional(),
});

const FileSchema = z
  .object({
    regions: z.partialRecord(z.enum(['alibaba', 'volcengine', 'baidu', 'huawei']), z.array(z.string().regex(/^[a-z0-9-]+$/))).optional(),
    limits: z.partialRecord(z.enum(['alibaba', 'volcengine', 'baidu', 'huawei']), LimitsSchema).optional(),
    huawei: z.object({ projectIds: z.record(z.string(), z.string().regex(/^[0-9a-f]{32}$/)).optional() }).optional(),
  })
  .strict();

export interface ProviderCredentials {
  alibaba?: { accessKeyId: string; accessKeySecret: string; endpoint?: string };
  volcengine?: { accessKeyId: string; secretAccessKey: string; endpoint?: string };
  baidu?: { accessKeyId: string; secretAccessKey: string; endpoint?: string };
  huawei?: {
    accessKeyId: string;
    secretAccessKey: string;
    projectId?: string;
    projectIds?: Record<string, string>;
    endpoint?: string;
  };
}

export interface Config {
  slack: { botToken?: string; appToken?: string; signingSecret?: string; apiUrl?: string };
  port: number;
  approvers: { users: string[]; groups: string[] };
  incidentChannel?: string;
  dbPath: string;
  forceApprovals: number;
  approvalTtlMs: number;
  maxInstances: number;
  providers: ProviderCredentials;
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

function pair<T>(a: string | undefined, b: string | undefined, names: string, build: (a: string, b: string) => T): T | undefined {
  if (a && b) return build(a, b);
  if (a || b) throw new ConfigError(`${names}: set both or neither`);
  return undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${detail}`);
  }
  const e = parsed.data;
  const file = readConfigFile(e.REBOOT_CONFIG);
  const providers: ProviderCredentials = {};
  const ali = pair(e.ALIBABA_CLOUD_ACCESS_KEY_ID, e.ALIBABA_CLOUD_ACCESS_KEY_SECRET, 'ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET', (id, secret) => ({
    accessKeyId: id,
    accessKeySecret: secret,
    ...(e.ALIBABA_CLOUD_ECS_ENDPOINT ? { endpoint: e.ALIBABA_CLOUD_ECS_ENDPOINT } : {}),
  }));
  if (ali) providers.alibaba = ali;
  const volc = pair(e.VOLCENGINE_ACCESS_KEY, e.VOLCENGINE_SECRET_KEY, 'VOLCENGINE_ACCESS_KEY/SECRET_KEY', (id, secret) => ({
    accessKeyId: id,
    secretAccessKey: secret,
    ...(e.VOLCENGINE_ENDPOINT ? { endpoint: e.VOLCENGINE_ENDPOINT } : {}),
  }));
  if (volc) providers.volcengine = volc;
  const bce = pair(e.BCE_ACCESS_KEY_ID, e.BCE_SECRET_ACCESS_KEY, 'BCE_ACCESS_KEY_ID/BCE_SECRET_ACCESS_KEY', (id, secret) => ({
    accessKeyId: id,
    secretAccessKey: secret,
    ...(e.BCE_BCC_ENDPOINT ? { endpoint: e.BCE_BCC_ENDPOINT } : {}),
  }));
  if (bce) providers.baidu = bce;
  const hw = pair(e.HUAWEICLOUD_SDK_AK, e.HUAWEICLOUD_SDK_SK, 'HUAWEICLOUD_SDK_AK/SK', (id, secret) => ({
    accessKeyId: id,
    secretAccessKey: secret,
    ...(e.HUAWEICLOUD_SDK_PROJECT_ID ? { projectId: e.HUAWEICLOUD_SDK_PROJECT_ID } : {}),
    ...(file.huawei?.projectIds ? { projectIds: file.huawei.projectIds } : {}),
    ...(e.HUAWEICLOUD_ECS_ENDPOINT ? { endpoint: e.HUAWEICLOUD_ECS_ENDPOINT } : {}),
  }));
  if (hw) providers.huawei = hw;

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
    forceApprovals: e.REBOOT_FORCE_APPROVALS,
    approvalTtlMs: e.REBOOT_APPROVAL_TTL,
    maxInstances: e.REBOOT_MAX_INSTANCES,
    providers,
    extraRegions: file.regions ?? {},
    limits: file.limits ?? {},
  };
}

function readConfigFile(path: string | undefined): z.infer<typeof FileSchema> {
  const target = path ?? './reboot-bot.config.json';
  if (!existsSync(target)) {
    if (path) throw new ConfigError(`REBOOT_CONFIG: file not found: ${path}`);
    return {};
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(target, 'utf8'));
  } catch {
    throw new ConfigError(`${target}: not valid JSON`);
  }
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(`${target}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Values that must never be logged or posted. */
export function secretsOf(config: Config): string[] {
  const p = config.providers;
  return [
    config.slack.botToken,
    config.slack.appToken,
    config.slack.signingSecret,
    p.alibaba?.accessKeySecret,
    p.volcengine?.secretAccessKey,
    p.baidu?.secretAccessKey,
    p.huawei?.secretAccessKey,
  ].filter((s): s is string => typeof s === 'string');
}
