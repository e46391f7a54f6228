/**
 * Which of a simulator's recorded requests could reboot something: the tests that say "nothing was sent" or
 * "sent once" count these, while reads (pre-flight, dry run, verification) come and go freely. The crash trials'
 * cloud profiles (chaos/clouds.ts) already tell them apart on the wire; the tests use the same rule.
 */
import { CLOUDS } from '../../chaos/clouds.js';
import type { ProviderName } from '../../src/providers/provider.js';
import type { RecordedRequest } from '../../src/providers/simulator-kit.js';

export function rebootCalls(provider: ProviderName, requests: readonly RecordedRequest[]): RecordedRequest[] {
  const cloud = CLOUDS[provider];
  // A cloud without a profile: every request counts, the safe side for "nothing was sent".
  return cloud ? requests.filter((r) => cloud.isMutating(r)) : [...requests];
}
