/** Builds the runtime provider clients for the clouds whose credentials are configured. */
import type { ProviderCredentials } from '../config.js';
import { createAlibabaProvider } from './alibaba/client.js';
import type { Provider, ProviderName } from './provider.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';

/** Providers with a client in this build; the others answer "not available yet". */
export const IMPLEMENTED_PROVIDERS: readonly ProviderName[] = ['alibaba'];

export interface ProviderTuning {
  retry: RetryPolicy;
  timeoutMs: number;
}

export const DEFAULT_PROVIDER_TUNING: ProviderTuning = { retry: DEFAULT_RETRY_POLICY, timeoutMs: 30_000 };

export function buildProviders(
  credentials: ProviderCredentials,
  tuning: ProviderTuning = DEFAULT_PROVIDER_TUNING,
): Partial<Record<ProviderName, Provider>> {
  const providers: Partial<Record<ProviderName, Provider>> = {};
  const common = { retry: tuning.retry, timeoutMs: tuning.timeoutMs };
  const ali = credentials.alibaba;
  if (ali) {
    providers.alibaba = createAlibabaProvider({
      ...common,
      credentials: { accessKeyId: ali.accessKeyId, accessKeySecret: ali.accessKeySecret },
      ...(ali.endpoint ? { endpoint: ali.endpoint } : {}),
    });
  }
  return providers;
}
