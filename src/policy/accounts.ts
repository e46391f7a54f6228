/**
 * Named accounts: the policy file names the variables (or the file) that hold an account's credentials, never
 * the secrets. An account is read by its provider's own descriptor, through the same zod environment schema as
 * the default account (src/providers/descriptor.ts), from a virtual environment: the provider's standard
 * variable names set to the values of the variables the account names.
 */
import type { CredentialVariables, ProviderDescriptor } from '../providers/descriptor.js';

/** An account as the policy file declares it (src/policy/load.ts validates the shape). */
export interface AccountSource {
  accessKeyIdEnv?: string;
  accessKeySecretEnv?: string;
  securityTokenEnv?: string;
  credentialsFile?: string;
}

type Role = keyof CredentialVariables;

/**
 * Each field of an account, the credential role it fills and how its value is found: the variables are read
 * from the environment, the credentials file is handed over as its path. Adding a role is one line here.
 */
const ROLES: ReadonlyArray<{ field: keyof AccountSource; role: Role; fromEnv: boolean }> = [
  { field: 'accessKeyIdEnv', role: 'keyId', fromEnv: true },
  { field: 'accessKeySecretEnv', role: 'secret', fromEnv: true },
  { field: 'securityTokenEnv', role: 'securityToken', fromEnv: true },
  { field: 'credentialsFile', role: 'credentialsFile', fromEnv: false },
];

export type VirtualEnvironment = { env: Record<string, string | undefined> } | { problem: string };

/**
 * The environment the provider's schema reads for `account`: everything else (endpoints, project ids) as the
 * real environment has it, every credential variable of the provider replaced by the account's own or removed,
 * so none of the default account's credentials leak into a named one.
 */
export function accountEnvironment(roles: CredentialVariables, account: AccountSource, env: NodeJS.ProcessEnv): VirtualEnvironment {
  const virtual: Record<string, string | undefined> = { ...env };
  for (const variable of Object.values(roles)) delete virtual[variable];
  for (const { field, role, fromEnv } of ROLES) {
    const named = account[field];
    if (named === undefined) continue;
    const variable = roles[role];
    if (variable === undefined) return { problem: `${field}: this provider does not read ${roleName(role)}` };
    const value = fromEnv ? env[named] : named;
    if (value === undefined || value.trim() === '') return { problem: `${field}: the variable ${named} is not set` };
    virtual[variable] = value;
  }
  return { env: virtual };
}

function roleName(role: Role): string {
  switch (role) {
    case 'keyId':
      return 'an access key id';
    case 'secret':
      return 'an access key secret';
    case 'securityToken':
      return 'a security token';
    case 'credentialsFile':
      return 'a credentials file';
  }
}

export type AccountCredentials = { credentials: object; secrets: string[] } | { problem: string };

/** The account's credentials as its provider's descriptor reads them, and the secret values to redact. */
export function readAccount(descriptor: ProviderDescriptor, account: AccountSource, env: NodeJS.ProcessEnv, fileSection: object = {}): AccountCredentials {
  const roles = descriptor.env.credentialVariables;
  if (roles === undefined) return { problem: `\`${descriptor.info.name}\` has only its default account` };
  const virtual = accountEnvironment(roles, account, env);
  if ('problem' in virtual) return virtual;
  const parsed = descriptor.env.schema.safeParse(virtual.env);
  if (!parsed.success) return { problem: parsed.error.issues.map((i) => i.message).join('; ') };
  if (parsed.data === undefined) return { problem: 'no credentials: name its access key variables or its credentials file' };
  const secrets = descriptor.env.secrets.map((name) => virtual.env[name]?.trim() ?? '').filter((v) => v !== '');
  return { credentials: { ...parsed.data, ...fileSection }, secrets };
}
