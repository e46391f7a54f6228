/**
 * Starts the provider simulators on loopback and returns the environment that points the real
 * provider clients at them: local mode and the end-to-end tests use the same wiring as production.
 */
import { randomBytes } from 'node:crypto';
import { AlibabaSimulator } from '../providers/alibaba/simulator.js';
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
}

export async function startSimulators(opts: SimulatorSetOptions): Promise<SimulatorSet> {
  const sims: Partial<Record<ProviderName, ProviderSimulator>> = {};
  const env: Record<string, string> = {};
  const secret = (): string => randomBytes(18).toString('base64url');
  for (const name of opts.providers) {
    switch (name) {
      case 'alibaba': {
        const ak = 'LTAI5tLocalSimulator';
        const sk = secret();
        const sim = new AlibabaSimulator({ credentials: { [ak]: sk }, ...(opts.rebootMs !== undefined ? { rebootMs: opts.rebootMs } : {}) });
        env.ALIBABA_CLOUD_ACCESS_KEY_ID = ak;
        env.ALIBABA_CLOUD_ACCESS_KEY_SECRET = sk;
        env.ALIBABA_CLOUD_ECS_ENDPOINT = await sim.start();
        sims.alibaba = sim;
        break;
      }
      default:
        throw new Error(`no simulator for ${name} yet`);
    }
  }
  return {
    sims,
    env,
    async stop() {
      await Promise.all(Object.values(sims).map((s) => s.stop()));
    },
  };
}
