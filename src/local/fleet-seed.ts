/** Local mode's starting fleet: each simulator gets the instances its descriptor lists. */
import type { LocalSimulation } from '../providers/descriptor.js';
import type { ProviderSimulator } from '../providers/simulator-kit.js';

export function seedFleet(local: LocalSimulation, sim: ProviderSimulator): void {
  for (const i of local.fleet) {
    sim.fleet.add(i.region, i.id, i.state, {
      ...(i.name === undefined ? {} : { name: i.name }),
      ...(i.lockReason === undefined ? {} : { lockReason: i.lockReason }),
      ...(i.neverComesBack ? { neverComesBack: true } : {}),
    });
  }
}
