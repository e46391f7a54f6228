/**
 * The logger. Every line passes through `redact`, which masks registered secret values and anything
 * shaped like a Slack token or a cloud Authorization value, so a secret cannot leave through a log.
 */

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
];

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('[redacted]');
  for (const p of PATTERNS) out = out.replace(p, (_m, prefix: unknown) => `${typeof prefix === 'string' ? prefix : ''}[redacted]`);
  return out;
}

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** JSON lines on stderr; `sink` lets local mode route logs away from the interactive screen. */
export function createLogger(minLevel: Level = 'info', sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const emit = (level: Level, msg: string, data?: Record<string, unknown>): void => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const line = JSON.stringify({ t: new Date().toISOString(), level, msg, ...data }, (_k, v: unknown) =>
      v instanceof Error ? { name: v.name, message: v.message } : v,
    );
    sink(redact(line));
  };
  return {
    debug: (m, d) => emit('debug', m, d),
    info: (m, d) => emit('info', m, d),
    warn: (m, d) => emit('warn', m, d),
    error: (m, d) => emit('error', m, d),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
