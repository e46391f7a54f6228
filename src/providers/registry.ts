/** Builds the runtime clients of the configured providers, each by its own descriptor. */
import { defaultCatalog, type Catalog } from './catalog.js';
import type { ProviderTuning } from './descriptor.js';
import type { Provider, ProviderName } from './provider.js';
import { DEFAULT_RETRY_POLICY } from './retry.js';

/** Each configured cloud's credentials, as its descriptor's environment schema read them. */
export type ProviderCredentials = Readonly<Partial<Record<ProviderName, object>>>;

export type { ProviderTuning } from './descriptor.js';

export const DEFAULT_PROVIDER_TUNING: ProviderTuning = {
  retry: DEFAULT_RETRY_POLICY,
  timeoutMs: 30_000,
  poll: { initialDelayMs: 5_000, maxDelayMs: 10_000, timeoutMs: 10 * 60_000 },
};

/** `credentials` must come from loadConfig with the same catalog: each descriptor reads back its own. */
export function buildProviders(
  credentials: ProviderCredentials,
  tuning: ProviderTuning = DEFAULT_PROVIDER_TUNING,
  catalog: Catalog = defaultCatalog,
): Partial<Record<ProviderName, Provider>> {
  const providers: Partial<Record<ProviderName, Provider>> = {};
  for (const descriptor of catalog.descriptors) {
    const own = credentials[descriptor.info.name];
    if (own) providers[descriptor.info.name] = descriptor.create(own, tuning);
  }
  return providers;
}
