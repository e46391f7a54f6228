/**
 * Where a cloud client's key comes from, asked afresh for every request: a fixed key pair (with an optional
 * security token) read from the environment, or a JSON credentials file that an external agent rotates. A job in
 * progress therefore signs each call with the newest credentials, and an expired temporary key fails a call at
 * once, before anything is sent. Provider-independent: each cloud maps `Credentials` onto its own signer.
 */
import { readFileSync, statSync, type FSWatcher } from 'node:fs';
import { z } from 'zod';
import { watchFile } from '../files/watch-file.js';
import { registerSecrets, silentLogger, type Logger } from '../log.js';
import type { RequestSigner } from './signing.js';

export interface Credentials {
  keyId: string;
  secret: string;
  /** The security (session) token of a temporary key (STS); sent in the cloud's token header and signed where it signs it. */
  token?: string;
  /** When a temporary key stops working; a call after it fails at once. */
  expiration?: Date;
}

export interface CredentialSource {
  /** The credentials to sign the next request with; cheap, and safe to call for every request. */
  current(): Credentials;
  /** Every secret value this source has handed out (secret keys and tokens), for redaction. */
  secrets(): readonly string[];
  /** Where the credentials come from, for messages: variable names or the file path, never a value. */
  readonly origin: string;
  /** Stops watching a file; a no-op for other sources. */
  close(): void;
}

/** A code for the outcome of a call refused before sending because the credentials' expiration has passed. */
export const CREDENTIALS_EXPIRED = 'CredentialsExpired';

/** The one wording of an expired token, whoever noticed it: the cloud (its code) or the bot (CREDENTIALS_EXPIRED). */
export function tokenExpiredMessage(code: string, detail?: string): string {
  return `security token expired (${code})${detail === undefined || detail === '' ? '' : `: ${detail}`}`;
}

export function isExpired(credentials: Credentials, now: Date): boolean {
  return credentials.expiration !== undefined && credentials.expiration.getTime() <= now.getTime();
}

export function staticCredentials(credentials: Credentials, origin = 'static credentials'): CredentialSource {
  const values = [credentials.secret, ...(credentials.token === undefined ? [] : [credentials.token])];
  return { current: () => credentials, secrets: () => values, origin, close: () => {} };
}

export interface CredentialVariables {
  keyId: string;
  secret: string;
  token: string;
}

/**
 * The key pair and token from the environment, named by the caller (the accounts of the policy file will name
 * theirs). Undefined when neither half of the pair is set; a half-set pair throws.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv, names: CredentialVariables): CredentialSource | undefined {
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const keyId = read(names.keyId);
  const secret = read(names.secret);
  const token = read(names.token);
  if (keyId === undefined && secret === undefined) {
    if (token !== undefined) throw new Error(`${names.token} is set without ${names.keyId}/${names.secret}`);
    return undefined;
  }
  if (keyId === undefined || secret === undefined) throw new Error(`${names.keyId}/${names.secret}: set both or neither`);
  return staticCredentials({ keyId, secret, ...(token === undefined ? {} : { token }) }, `${names.keyId}/${names.secret}`);
}

/**
 * The credentials file: the key pair, and for a temporary key its token and expiration (ISO 8601), the fields an
 * STS answer carries (e.g. Alibaba AssumeRole's Credentials: AccessKeyId, AccessKeySecret, SecurityToken,
 * Expiration, https://www.alibabacloud.com/help/en/ram/developer-reference/api-sts-2015-04-01-assumerole).
 */
export const CredentialsFileSchema = z
  .object({
    accessKeyId: z.string().trim().min(1),
    accessKeySecret: z.string().trim().min(1),
    securityToken: z.string().trim().min(1).optional(),
    expiration: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export class CredentialsFileError extends Error {}

export interface FileSourceOptions {
  /** Told when a changed file cannot be used (the last good credentials stay); never given a secret. */
  logger?: Logger;
}

interface FileStamp {
  mtimeMs: number;
  size: number;
  ino: number;
}

/**
 * A credentials file, read at once (an unusable file at start throws: the bot must not start on no key), then
 * re-read whenever it changes. Changes are seen two ways: fs.watch on the directory (a rename-replace, as agents
 * write atomically, replaces the inode a watch on the file itself would keep following) and, because watch events
 * can be missed or late (https://nodejs.org/api/fs.html#caveats), a stat of the file on every `current()`. A file
 * that becomes unreadable or invalid keeps the last good credentials and is logged once per change.
 */
export function credentialsFromFile(path: string, options: FileSourceOptions = {}): CredentialSource {
  const logger = options.logger ?? silentLogger;
  const seen = new Set<string>();
  const remember = (credentials: Credentials): void => {
    for (const value of [credentials.secret, credentials.token]) if (value !== undefined) seen.add(value);
    registerSecrets([credentials.secret, credentials.token]);
  };

  const first = readCredentialsFile(path);
  if ('error' in first) throw new CredentialsFileError(`${path}: ${first.error}`);
  let good = first.credentials;
  let stamp: FileStamp | undefined = first.stamp;
  remember(good);

  const refresh = (): void => {
    const now = stampOf(path);
    if (now !== undefined && stamp !== undefined && sameStamp(now, stamp)) return;
    const read = readCredentialsFile(path);
    // Whatever happened, this version of the file has been looked at: log it once, not on every request.
    stamp = now;
    if ('error' in read) {
      logger.error('credentials file unusable; keeping the last good credentials', { path, problem: read.error });
      return;
    }
    good = read.credentials;
    stamp = read.stamp;
    remember(good);
    logger.info('credentials file reloaded', { path, keyId: good.keyId, ...(good.expiration ? { expiration: good.expiration.toISOString() } : {}) });
  };

  let watcher: FSWatcher | undefined;
  try {
    // The stat on every use still sees changes the watch misses; a directory that vanished is the file being unreadable.
    watcher = watchFile(path, refresh, () => undefined);
  } catch {
    watcher = undefined;
  }

  return {
    current(): Credentials {
      refresh();
      return good;
    },
    secrets: () => [...seen],
    origin: `credentials file ${path}`,
    close: () => watcher?.close(),
  };
}

function stampOf(path: string): FileStamp | undefined {
  try {
    const st = statSync(path);
    return { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
  } catch {
    return undefined;
  }
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;
}

/** The file's credentials, or what is wrong with it in words that never quote a value. */
function readCredentialsFile(path: string): { credentials: Credentials; stamp: FileStamp | undefined } | { error: string } {
  const stamp = stampOf(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
    return { error: `cannot read the file (${code})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    return { error: 'not valid JSON' };
  }
  const parsed = CredentialsFileSchema.safeParse(json);
  if (!parsed.success) {
    // Paths and messages only: zod's messages name the expected type, never the received value.
    return { error: parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ') };
  }
  const { accessKeyId, accessKeySecret, securityToken, expiration } = parsed.data;
  return {
    credentials: {
      keyId: accessKeyId,
      secret: accessKeySecret,
      ...(securityToken === undefined ? {} : { token: securityToken }),
      ...(expiration === undefined ? {} : { expiration: new Date(expiration) }),
    },
    stamp,
  };
}

/** Where a provider's credentials come from, as configuration read it; opened into a source when its client is built. */
export type CredentialSpec = { kind: 'static'; credentials: Credentials; origin: string } | { kind: 'file'; path: string };

export function openCredentialSource(spec: CredentialSpec, options: FileSourceOptions = {}): CredentialSource {
  return spec.kind === 'file' ? credentialsFromFile(spec.path, options) : staticCredentials(spec.credentials, spec.origin);
}

export function isCredentialSource(value: object): value is CredentialSource {
  return 'current' in value && typeof value.current === 'function';
}

/**
 * A signer that asks the source for credentials on every request, so a rotation between two requests of one
 * call (a retry, the next page) is honoured; `build` makes the cloud's own signer from them.
 */
export function perRequestSigner(source: CredentialSource, build: (credentials: Credentials) => RequestSigner): RequestSigner {
  return { sign: (request, options) => build(source.current()).sign(request, options) };
}

/** What a client is given: a fixed key pair in its cloud's own field names (as tests and SDK users write it), or a source. */
export type KeysOrSource<Keys extends object> = Keys | { source: CredentialSource };

/** The client's source: the one it was given, or its fixed pair mapped by `fixed`. */
export function sourceOf<Keys extends object>(credentials: KeysOrSource<Keys>, fixed: (keys: Keys) => Credentials): CredentialSource {
  return hasSource(credentials) ? credentials.source : staticCredentials(fixed(credentials));
}

function hasSource<Keys extends object>(credentials: KeysOrSource<Keys>): credentials is { source: CredentialSource } {
  return 'source' in credentials && typeof credentials.source === 'object' && credentials.source !== null && isCredentialSource(credentials.source);
}

/** Leaves out an absent token, so `exactOptionalPropertyTypes` holds. */
export function withToken(keyId: string, secret: string, token: string | undefined): Credentials {
  return token === undefined ? { keyId, secret } : { keyId, secret, token };
}
