/**
 * Which of a simulator's recorded requests could reboot something, per cloud: the tests that say "nothing was
 * sent" or "sent once" count these, while reads (pre-flight, dry run, verification) come and go freely.
 */
import type { ProviderName } from '../../src/providers/provider.js';
import type { RecordedRequest } from '../../src/providers/simulator-kit.js';

function param(req: RecordedRequest, name: string): string | null {
  return new URLSearchParams(req.query).get(name);
}

/** The cloud's reboot call, whatever it answered. Alibaba's own dry run (DryRun=true) reboots nothing and is left out. */
export function isRebootCall(provider: ProviderName, req: RecordedRequest): boolean {
  switch (provider) {
    case 'alibaba':
      return req.headers['x-acs-action'] === 'RebootInstances' && param(req, 'DryRun') !== 'true';
    case 'volcengine':
      return param(req, 'Action') === 'RebootInstances' || param(req, 'Action') === 'RebootInstance';
    case 'baidu':
      return req.method === 'PUT' && /(^|&)reboot(=|&|$)/.test(req.query);
    case 'huawei':
      return req.method === 'POST' && /\/cloudservers\/action$/.test(req.path);
    default:
      // A cloud this file does not know: every request counts, the safe side for "nothing was sent".
      return true;
  }
}

export function rebootCalls(provider: ProviderName, requests: readonly RecordedRequest[]): RecordedRequest[] {
  return requests.filter((r) => isRebootCall(provider, r));
}
