/**
 * The client a job runs with: its provider's default client, or the one of the named account it asked for
 * (src/policy/accounts.ts). Undefined when that provider or account is not configured (any more): the runner
 * closes such a job as not configured.
 */
import { DEFAULT_ACCOUNT, type Job } from '../domain/job.js';
import type { Provider, ProviderName } from '../providers/provider.js';

export interface JobProviders {
  providers: Partial<Record<ProviderName, Provider>>;
  /** The client of a named account, as the policy in force declares it; absent: only default accounts exist. */
  accountProvider?: (provider: ProviderName, account: string) => Provider | undefined;
}

export function providerOf(deps: JobProviders, job: Pick<Job, 'provider' | 'account'>): Provider | undefined {
  if (job.account === DEFAULT_ACCOUNT) return deps.providers[job.provider];
  return deps.accountProvider?.(job.provider, job.account);
}
