/**
 * The environment most clouds share: an access key pair with an optional security token, or instead a
 * credentials file (src/providers/credentials.ts), an endpoint override and perhaps a few more optional values.
 * A cloud names its variables and maps them onto its own credentials.
 */
import { z } from 'zod';
import type { CredentialSpec } from './credentials.js';
import type { ProviderEnvironment } from './descriptor.js';

export interface AccessKeyVariables {
  keyId: string;
  secret: string;
  /** The security (session) token of a temporary key, sent beside the pair. */
  token: string;
  /** A JSON credentials file, re-read when it changes; instead of keyId/secret/token. */
  file: string;
  /** Replaces scheme, host and port for every region; the signature covers the host actually used. */
  endpoint: string;
  /** Further optional values, passed on as set. */
  optional?: readonly string[];
}

export interface AccessKey {
  /** The pair (and token) from the variables, or the file to read them from. */
  access: CredentialSpec;
  endpoint?: string;
  /** The optional variables that are set, by name. */
  optional: Readonly<Partial<Record<string, string>>>;
}

// Blank counts as unset, as it always has: `FOO= npm start` must not configure half a key.
const Text = z.string().trim().min(1).optional().catch(undefined);

export function accessKeyEnvironment<Credentials>(
  names: AccessKeyVariables,
  credentials: (key: AccessKey) => Credentials,
): ProviderEnvironment<Credentials> {
  const optional = names.optional ?? [];
  const shape: Record<string, z.ZodType<string | undefined>> = {
    [names.keyId]: Text,
    [names.secret]: Text,
    [names.token]: Text,
    [names.file]: Text,
    [names.endpoint]: z.url().optional(),
    ...Object.fromEntries(optional.map((name) => [name, Text])),
  };
  const schema = z.object(shape).transform((vars, ctx): Credentials | undefined => {
    const keyId = vars[names.keyId];
    const secret = vars[names.secret];
    const token = vars[names.token];
    const file = vars[names.file];
    const issue = (message: string): never => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    if (file !== undefined && (keyId !== undefined || secret !== undefined || token !== undefined)) {
      return issue(`${names.file}: set either the file or ${names.keyId}/${names.secret}/${names.token}, not both`);
    }
    if (file === undefined && keyId === undefined && secret === undefined) {
      return token === undefined ? undefined : issue(`${names.token} is set without ${names.keyId}/${names.secret}`);
    }
    let access: CredentialSpec;
    if (file !== undefined) access = { kind: 'file', path: file };
    else if (keyId === undefined || secret === undefined) return issue(`${names.keyId}/${names.secret}: set both or neither`);
    else access = { kind: 'static', credentials: { keyId, secret, ...(token === undefined ? {} : { token }) }, origin: `${names.keyId}/${names.secret}` };
    const endpoint = vars[names.endpoint];
    const set: Record<string, string> = {};
    for (const name of optional) {
      const value = vars[name];
      if (value !== undefined) set[name] = value;
    }
    return credentials({ access, ...(endpoint ? { endpoint } : {}), optional: set });
  });
  return {
    credentialVariables: { keyId: names.keyId, secret: names.secret, securityToken: names.token, credentialsFile: names.file },
    variables: [names.keyId, names.secret, names.token, names.file, names.endpoint, ...optional],
    // A file's values are registered by its source whenever it is (re)read (credentials.ts).
    secrets: [names.secret, names.token],
    schema,
  };
}
