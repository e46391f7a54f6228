/**
 * A cloud described by one value, so the rest of the bot can list, configure, build and simulate it
 * without knowing which clouds exist: adding a cloud is adding its folder and one catalog entry.
 */
import type { z } from 'zod';
import type { Logger } from '../log.js';
import type { Provider, ProviderInfo } from './provider.js';
import type { RetryPolicy } from './retry.js';
import type { ProviderSimulator } from './simulator-kit.js';

/** Knobs the bot sets on every client, whatever its cloud; tests and local mode shorten them. */
export interface ProviderTuning {
  retry: RetryPolicy;
  timeoutMs: number;
  /** Clouds with asynchronous jobs: first wait, longest wait, and when to give up following one. */
  poll: { initialDelayMs: number; maxDelayMs: number; timeoutMs: number };
  /** Where a credentials file reports that a changed version cannot be used (credentials.ts). */
  logger?: Logger;
}

export interface ProviderEnvironment<Credentials> {
  /** Every variable the cloud reads; the README's Configuration section documents them. */
  variables: readonly string[];
  /** The variables whose values must never be logged or posted. */
  secrets: readonly string[];
  /**
   * Reads the cloud's variables out of the whole environment: undefined when its key is not set at all,
   * so a bot without these credentials simply does not offer the cloud.
   */
  schema: z.ZodType<Credentials | undefined>;
  /**
   * Which of `variables` carry credentials, by role: a named account of the policy file (src/policy/accounts.ts)
   * is read through `schema` with these variables set to the values of the ones the account names. A cloud
   * without them has only its default account.
   */
  credentialVariables?: CredentialVariables;
}

/** The provider's own variable for each credential role; a role the provider does not read is absent. */
export interface CredentialVariables {
  keyId: string;
  secret: string;
  securityToken?: string;
  credentialsFile?: string;
}

export interface SeedInstance {
  region: string;
  id: string;
  state: 'running' | 'stopped';
  name?: string;
  /** Alibaba: an OperationLocks reason such as "financial", so local mode shows a locked instance. */
  lockReason?: string;
  /** Local mode's machine that never comes back from a reboot. */
  neverComesBack?: boolean;
}

/** The one account a simulator knows; the secret is drawn anew at every start. */
export interface SimulatedAccount {
  keyId: string;
  secret: string;
  /** A temporary key's security token: the simulator then refuses the key without it. */
  token?: string;
}

/** The simulator option that registers the account's token, when it has one. */
export function tokensOf(account: SimulatedAccount): { securityTokens?: Record<string, string> } {
  return account.token === undefined ? {} : { securityTokens: { [account.keyId]: account.token } };
}

/** The key pair (and token) variables that point a client at the simulated account. */
export function accountEnv(names: { keyId: string; secret: string; token: string }, account: SimulatedAccount): Record<string, string> {
  return {
    [names.keyId]: account.keyId,
    [names.secret]: account.secret,
    ...(account.token === undefined ? {} : { [names.token]: account.token }),
  };
}

/** What local mode and the end-to-end tests need to stand the cloud up on loopback. */
export interface LocalSimulation {
  keyId: string;
  simulator(account: SimulatedAccount, options: { rebootMs?: number }): ProviderSimulator;
  /** The variables that point the real client at the simulator listening on `url`. */
  env(account: SimulatedAccount, url: string): Record<string, string>;
  /** Instances local mode starts with: enough to try success, refusal and not-found paths. */
  fleet: readonly SeedInstance[];
}

export interface ProviderDescriptor<Credentials extends object = object> {
  info: ProviderInfo;
  env: ProviderEnvironment<Credentials>;
  /**
   * Its section of the REBOOT_CONFIG file, under its name, for settings that do not fit in a variable;
   * what the section holds joins the credentials of a configured cloud.
   */
  file?: z.ZodType<Partial<Credentials>>;
  /**
   * The runtime client, from the credentials this descriptor's own `env` and `file` produced. A method, so
   * one catalog can hold descriptors of different credential types; configuration and registry only ever
   * hand a descriptor back what it read itself.
   */
  create(credentials: Credentials, tuning: ProviderTuning): Provider;
  local: LocalSimulation;
}
