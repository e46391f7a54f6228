/**
 * The environment most clouds share: an access key pair, an endpoint override and perhaps a few more
 * optional values. A cloud names its variables and maps them onto its own credentials.
 */
import { z } from 'zod';
import type { ProviderEnvironment } from './descriptor.js';

export interface AccessKeyVariables {
  keyId: string;
  secret: string;
  /** Replaces scheme, host and port for every region; the signature covers the host actually used. */
  endpoint: string;
  /** Further optional values, passed on as set. */
  optional?: readonly string[];
}

export interface AccessKey {
  keyId: string;
  secret: string;
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
    [names.endpoint]: z.url().optional(),
    ...Object.fromEntries(optional.map((name) => [name, Text])),
  };
  const schema = z.object(shape).transform((vars, ctx): Credentials | undefined => {
    const keyId = vars[names.keyId];
    const secret = vars[names.secret];
    if (keyId === undefined && secret === undefined) return undefined;
    if (keyId === undefined || secret === undefined) {
      ctx.addIssue({ code: 'custom', message: `${names.keyId}/${names.secret}: set both or neither` });
      return z.NEVER;
    }
    const endpoint = vars[names.endpoint];
    const set: Record<string, string> = {};
    for (const name of optional) {
      const value = vars[name];
      if (value !== undefined) set[name] = value;
    }
    return credentials({ keyId, secret, ...(endpoint ? { endpoint } : {}), optional: set });
  });
  return {
    variables: [names.keyId, names.secret, names.endpoint, ...optional],
    secrets: [names.secret],
    schema,
    credentialVariables: { keyId: names.keyId, secret: names.secret },
  };
}
