/** The instances local mode starts with: enough to try success, refusal and not-found paths. */
import type { ProviderName } from '../providers/provider.js';
import type { ProviderSimulator } from '../providers/simulator-kit.js';

export interface SeedInstance {
  region: string;
  id: string;
  state: 'running' | 'stopped';
}

export const LOCAL_FLEET: Record<ProviderName, SeedInstance[]> = {
  alibaba: [
    { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a001', state: 'running' },
    { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a002', state: 'running' },
    { region: 'cn-hangzhou', id: 'i-bp1g6zv0ce8oghu7a003', state: 'stopped' },
    { region: 'cn-shanghai', id: 'i-uf6f5trc95ug8t33a004', state: 'running' },
  ],
  volcengine: [
    { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq001', state: 'running' },
    { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq002', state: 'running' },
    { region: 'cn-beijing', id: 'i-ycc01lmwecgh9z3sq003', state: 'stopped' },
  ],
  baidu: [
    { region: 'bj', id: 'i-YufwpQAe', state: 'running' },
    { region: 'bj', id: 'i-Zx81kLm2', state: 'running' },
    { region: 'bj', id: 'i-Stop0001', state: 'stopped' },
  ],
  huawei: [
    { region: 'cn-north-4', id: '616fb98f-46ca-475e-917e-2563e5a8cd19', state: 'running' },
    { region: 'cn-north-4', id: '726fb98f-46ca-475e-917e-2563e5a8cd20', state: 'running' },
    { region: 'cn-north-4', id: '836fb98f-46ca-475e-917e-2563e5a8cd21', state: 'stopped' },
  ],
};

export function seedFleet(name: ProviderName, sim: ProviderSimulator): void {
  for (const i of LOCAL_FLEET[name]) sim.fleet.add(i.region, i.id, i.state);
}
