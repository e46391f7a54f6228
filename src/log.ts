/**
 * The logger: pino JSON lines (https://getpino.io/#/docs/api). A secret cannot leave through a log in two
 * ways: fields that hold secrets by name are censored by pino's `redact` paths, and the finished line passes
 * through `redact` (pino's `hooks.streamWrite`, https://getpino.io/#/docs/api?id=streamwrite), which masks
 * registered secret values and anything shaped like a Slack token or a cloud Authorization signature wherever
 * it sits: nested objects, error messages, the message itself.
 */
import { pino, type DestinationStream } from 'pino';
import { z } from 'zod';

const secrets = new Set<string>();

/** Registers values (keys, tokens, signing secrets) that must never appear in output. */
export function registerSecrets(values: ReadonlyArray<string | undefined>): void {
  for (const v of values) if (v && v.length >= 4) secrets.add(v);
}

const PATTERNS: RegExp[] = [
  /xox[abposr]-[A-Za-z0-9-]+/g,
  /xapp-[A-Za-z0-9-]+/g,
  /(Signature=)[0-9a-f]{16,}/gi,
  // <scheme>-auth-v<n>/<key>/<time>/<expiry>/<headers>/<signature> (Baidu's bce-auth-v1): the signature ends it.
  /(-auth-v\d+\/[^/\s]+\/[^/\s]+\/\d+\/[^/\s]*\/)[0-9a-f]{64}/gi,
  /(v0=)[0-9a-f]{64}/g,
  // The password of a connection URL (REBOOT_DATABASE_URL), registered or not: postgres://user:<password>@host.
  /(postgres(?:ql)?:\/\/[^:/\s@]*:)[^@\s]+(?=@)/gi,
];

const MASK = '[redacted]';

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) {
    out = out.split(s).join(MASK);
    // In a JSON line a secret with a quote or a backslash in it appears escaped.
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s) out = out.split(escaped).join(MASK);
  }
  for (const p of PATTERNS) out = out.replace(p, (_m, prefix: unknown) => `${typeof prefix === 'string' ? prefix : ''}${MASK}`);
  return out;
}

/**
 * Fields that hold a secret by their name, at the top of a line's data or one level down, and request headers
 * that carry a signature (pino's redact paths, https://getpino.io/#/docs/redaction). Values are masked by `redact` as well; this catches a secret
 * that was never registered.
 */
const SECRET_FIELDS = ['token', 'botToken', 'appToken', 'signingSecret', 'secret', 'secretKey', 'secretAccessKey', 'accessKeySecret', 'password', 'authorization', 'Authorization'];
const HEADER_FIELDS = ['headers.authorization', 'headers.Authorization', 'headers["x-slack-signature"]'];
const REDACT_PATHS = [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), ...HEADER_FIELDS, ...HEADER_FIELDS.map((h) => `*.${h}`)];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const LogLevelSchema = z.enum(LOG_LEVELS);
export type Level = z.infer<typeof LogLevelSchema>;

export interface Logger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
  /** A logger whose every line carries `bindings` (e.g. a job's jobId, provider and region). */
  child(bindings: Record<string, unknown>): Logger;
}

/** An Error anywhere a line names one (`err`, `error`): its name and message only, as a stack can carry request details. */
function errorFields(value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message } : value;
}

function wrap(p: pino.Logger): Logger {
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (msg: string, data?: Record<string, unknown>): void => {
      if (data) p[level](data, msg);
      else p[level](msg);
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (bindings) => wrap(p.child(bindings)),
  };
}

/** JSON lines on stderr; `sink` gets each line (without its newline) instead, as local mode routes logs away from the screen. */
export function createLogger(minLevel: Level = 'info', sink?: (line: string) => void): Logger {
  const destination: DestinationStream = sink ? { write: (line: string) => sink(line.endsWith('\n') ? line.slice(0, -1) : line) } : pino.destination({ fd: 2, sync: true });
  return wrap(
    pino(
      {
        level: minLevel,
        base: undefined,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        serializers: { err: errorFields, error: errorFields },
        redact: { paths: REDACT_PATHS, censor: MASK },
        hooks: { streamWrite: redact },
      },
      destination,
    ),
  );
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger };
