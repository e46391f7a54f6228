/**
 * What the harness knows about each simulated cloud from the outside: valid regions and id formats
 * (see src/providers/<name>/ids.ts), and how to tell a mutating reboot request or an async-job poll
 * apart from other traffic on the wire.
 */
import type { ProviderName } from '../src/providers/provider.js';
import type { SimulatorRequest } from '../src/providers/simulator-kit.js';
import type { Rng } from './rng.js';

export interface CloudProfile {
  regions: readonly string[];
  newId(rng: Rng): string;
  /** A request that can reboot something (never a dry run or a read). */
  isMutating(req: SimulatorRequest): boolean;
  /** A poll of an asynchronous job (Huawei only). */
  isJobPoll(req: SimulatorRequest): boolean;
}

const LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789';
const MIXED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';

const hasQueryPair = (req: SimulatorRequest, pair: string): boolean => req.query.split('&').includes(pair);
const never = (): boolean => false;

export const CLOUDS: Readonly<Record<string, CloudProfile>> = {
  alibaba: {
    regions: ['cn-hangzhou', 'cn-shanghai'],
    newId: (rng) => `i-${rng.chars(LOWER, 20)}`,
    // ACS3 names the action in a header; the RPC parameters travel in the query.
    isMutating: (req) =>
      req.method === 'POST' && req.headers['x-acs-action'] === 'RebootInstances' && !hasQueryPair(req, 'DryRun=true'),
    isJobPoll: never,
  },
  volcengine: {
    regions: ['cn-beijing', 'cn-shanghai'],
    newId: (rng) => `i-${rng.chars(LOWER, 20)}`,
    // Any RebootInstances: it documents no DryRun, and a cloud that ignores one reboots (the client never sends it).
    isMutating: (req) => hasQueryPair(req, 'Action=RebootInstances'),
    isJobPoll: never,
  },
  baidu: {
    regions: ['bj', 'gz'],
    newId: (rng) => `i-${rng.chars(MIXED, 10)}`,
    isMutating: (req) => req.method === 'PUT' && req.path.startsWith('/v2/instance/'),
    isJobPoll: never,
  },
  huawei: {
    regions: ['cn-north-4', 'cn-east-3'],
    newId: (rng) =>
      `${rng.chars(HEX, 8)}-${rng.chars(HEX, 4)}-${rng.chars(HEX, 4)}-${rng.chars(HEX, 4)}-${rng.chars(HEX, 12)}`,
    isMutating: (req) => req.method === 'POST' && req.path.endsWith('/cloudservers/action'),
    isJobPoll: (req) => req.method === 'GET' && /\/jobs\/[^/]+$/.test(req.path),
  },
};

/** The chaos profile of one provider; the plan only names providers that have one. */
export function cloudOf(provider: ProviderName): CloudProfile {
  const cloud = CLOUDS[provider];
  if (!cloud) throw new Error(`chaos has no profile for provider ${provider}`);
  return cloud;
}
