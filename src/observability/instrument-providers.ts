/**
 * Wraps each provider so every call the bot makes to it runs inside a call watch (src/providers/call-watch.ts):
 * each HTTP exchange it causes is timed into the provider-call histogram, labelled with the provider and the
 * kind of call, and each throttling answer is counted against the call's region.
 */
import { watchCalls, type CallWatch } from '../providers/call-watch.js';
import type { Provider, ProviderName } from '../providers/provider.js';
import { httpStatusLabel, type BotMetrics, type ProviderCallKind } from './metrics.js';

type ProviderMetrics = Pick<BotMetrics, 'providerHttp' | 'throttled'>;

function watchFor(metrics: ProviderMetrics, provider: ProviderName, call: ProviderCallKind, region: string): CallWatch {
  return {
    http: (exchange) => metrics.providerHttp(provider, call, 'status' in exchange ? httpStatusLabel(exchange.status) : exchange.failure, exchange.ms / 1000),
    throttled: () => metrics.throttled(provider, region),
  };
}

export function instrumentProvider(provider: Provider, metrics: ProviderMetrics): Provider {
  const name = provider.info.name;
  const watched: Provider = {
    info: provider.info,
    reboot: (call) => watchCalls(watchFor(metrics, name, 'reboot', call.region), () => provider.reboot(call)),
    describe: (call) => watchCalls(watchFor(metrics, name, 'describe', call.region), () => provider.describe(call)),
  };
  const { poll, checkPermission } = provider;
  if (poll) watched.poll = (call) => watchCalls(watchFor(metrics, name, 'poll', call.region), () => poll.call(provider, call));
  if (checkPermission) watched.checkPermission = (call) => watchCalls(watchFor(metrics, name, 'permission', call.region), () => checkPermission.call(provider, call));
  return watched;
}

export function instrumentProviders(providers: Partial<Record<ProviderName, Provider>>, metrics: ProviderMetrics): Partial<Record<ProviderName, Provider>> {
  const out: Partial<Record<ProviderName, Provider>> = {};
  for (const [name, provider] of Object.entries(providers)) if (provider) out[name] = instrumentProvider(provider, metrics);
  return out;
}
