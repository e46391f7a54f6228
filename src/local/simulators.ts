/**
 * Starts the provider simulators on loopback and returns the environment that points the real
 * provider clients at them: local mode and the end-to-end tests use the same wiring as production.
 */
import { randomBytes } from 'node:crypto';
import { AlibabaSimulator } from '../providers/alibaba/simulator.js';
import { BaiduSimulator } from '../providers/baidu/simulator.js';
import { HuaweiSimulator } from '../providers/huawei/simulator.js';
import type { ProviderName } from '../providers/provider.js';
import type { ProviderSimulator } from '../providers/simulator-kit.js';
import { VolcengineSimulator } from '../providers/volcengine/simulator.js';

export interface SimulatorSet {
  sims: Partial<Record<ProviderName, ProviderSimulator>>;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface SimulatorSetOptions {
  providers: readonly ProviderName[];
  rebootMs?: number;
}

/** The project id the Huawei simulator's account uses in every region. */
export const SIMULATED_HUAWEI_PROJECT = '0123456789abcdef0123456789abcdef';

interface SimulatorRecipe {
  keyId: string;
  envNames: { keyId: string; secret: string; endpoint: string };
  create(credentials: Record<string, string>, rebootMs: number | undefined): ProviderSimulator;
  extraEnv?: Record<string, string>;
}

const withReboot = (rebootMs: number | undefined): { rebootMs?: number } => (rebootMs === undefined ? {} : { rebootMs });

const RECIPES: Record<ProviderName, SimulatorRecipe> = {
  alibaba: {
    keyId: 'LTAI5tLocalSimulator',
    envNames: { keyId: 'ALIBABA_CLOUD_ACCESS_KEY_ID', secret: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', endpoint: 'ALIBABA_CLOUD_ECS_ENDPOINT' },
    create: (credentials, rebootMs) => new AlibabaSimulator({ credentials, ...withReboot(rebootMs) }),
  },
  volcengine: {
    keyId: 'AKLTLocalSimulator',
    envNames: { keyId: 'VOLCENGINE_ACCESS_KEY', secret: 'VOLCENGINE_SECRET_KEY', endpoint: 'VOLCENGINE_ENDPOINT' },
    create: (credentials, rebootMs) => new VolcengineSimulator({ credentials, ...withReboot(rebootMs) }),
  },
  baidu: {
    keyId: 'bceLocalSimulator',
    envNames: { keyId: 'BCE_ACCESS_KEY_ID', secret: 'BCE_SECRET_ACCESS_KEY', endpoint: 'BCE_BCC_ENDPOINT' },
    create: (credentials, rebootMs) => new BaiduSimulator({ credentials, ...withReboot(rebootMs) }),
  },
  huawei: {
    keyId: 'HWLOCALSIMULATOR',
    envNames: { keyId: 'HUAWEICLOUD_SDK_AK', secret: 'HUAWEICLOUD_SDK_SK', endpoint: 'HUAWEICLOUD_ECS_ENDPOINT' },
    create: (credentials, rebootMs) => new HuaweiSimulator({ credentials, ...withReboot(rebootMs) }),
    extraEnv: { HUAWEICLOUD_SDK_PROJECT_ID: SIMULATED_HUAWEI_PROJECT },
  },
};

export async function startSimulators(opts: SimulatorSetOptions): Promise<SimulatorSet> {
  const sims: Partial<Record<ProviderName, ProviderSimulator>> = {};
  const env: Record<string, string> = {};
  for (const name of opts.providers) {
    const recipe = RECIPES[name];
    const secret = randomBytes(18).toString('base64url');
    const sim = recipe.create({ [recipe.keyId]: secret }, opts.rebootMs);
    env[recipe.envNames.keyId] = recipe.keyId;
    env[recipe.envNames.secret] = secret;
    env[recipe.envNames.endpoint] = await sim.start();
    Object.assign(env, recipe.extraEnv);
    sims[name] = sim;
  }
  return {
    sims,
    env,
    async stop() {
      await Promise.all(Object.values(sims).map((s) => s.stop()));
    },
  };
}
