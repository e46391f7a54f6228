/**
 * Starts the provider simulators on loopback and returns the environment that points the real
 * provider clients at them: local mode and the end-to-end tests use the same wiring as production.
 */
import { randomBytes } from 'node:crypto';
import { defaultCatalog, type Catalog } from '../providers/catalog.js';
import type { ProviderName } from '../providers/provider.js';
import type { ProviderSimulator } from '../providers/simulator-kit.js';

export interface SimulatorSet {
  sims: Partial<Record<ProviderName, ProviderSimulator>>;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface SimulatorSetOptions {
  providers: readonly ProviderName[];
  rebootMs?: number;
  /** Makes each simulated account a temporary key with this security token. */
  securityToken?: string;
  catalog?: Catalog;
}

export async function startSimulators(opts: SimulatorSetOptions): Promise<SimulatorSet> {
  const catalog = opts.catalog ?? defaultCatalog;
  const sims: Partial<Record<ProviderName, ProviderSimulator>> = {};
  const env: Record<string, string> = {};
  const stop = async (): Promise<void> => {
    await Promise.all(Object.values(sims).map((s) => s?.stop()));
  };
  try {
    for (const name of opts.providers) {
      const descriptor = catalog.get(name);
      if (!descriptor) throw new Error(`no provider "${name}" in the catalog`);
      const { local } = descriptor;
      const account = {
        keyId: local.keyId,
        secret: randomBytes(18).toString('base64url'),
        ...(opts.securityToken === undefined ? {} : { token: opts.securityToken }),
      };
      const sim = local.simulator(account, opts.rebootMs === undefined ? {} : { rebootMs: opts.rebootMs });
      sims[name] = sim;
      Object.assign(env, local.env(account, await sim.start()));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { sims, env, stop };
}
