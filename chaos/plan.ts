/** The trial plan: everything random about a run comes from the seed, so a run can be repeated. */
import type { ProviderName } from '../src/providers/provider.js';
import { cloudOf } from './clouds.js';
import type { FaultCase } from './faults.js';
import type { Rng } from './rng.js';
import type { Phase, TrialPlan } from './trial.js';

/** Phases that only exist for one provider. */
const PHASE_PROVIDER: Partial<Record<Phase, ProviderName>> = { 'huawei-polling': 'huawei' };

export function applicablePhases(phases: readonly Phase[], providers: readonly ProviderName[]): Phase[] {
  return phases.filter((p) => {
    const only = PHASE_PROVIDER[p];
    return only === undefined || providers.includes(only);
  });
}

function fleet(rng: Rng, provider: ProviderName, used: Set<string>): { region: string; ids: string[]; stopped: string[] } {
  const cloud = cloudOf(provider);
  // Mostly a few instances, sometimes up to 30: enough for one or two thread messages.
  const count = rng.chance(0.6) ? rng.int(1, 5) : rng.int(6, 30);
  const ids: string[] = [];
  while (ids.length < count) {
    const id = cloud.newId(rng);
    if (used.has(id)) continue;
    used.add(id);
    ids.push(id);
  }
  const stopped = count >= 2 && rng.chance(0.3) ? [rng.pick(ids)] : [];
  return { region: rng.pick(cloud.regions), ids, stopped };
}

function killTiming(rng: Rng, phase: Phase): Pick<TrialPlan, 'killDelayMs' | 'killOnAck' | 'heldActs'> {
  const base = { killDelayMs: 0, killOnAck: false, heldActs: rng.chance(0.5) };
  switch (phase) {
    case 'card-posted':
      return { ...base, killDelayMs: rng.chance(0.5) ? 0 : rng.int(50, 400) };
    case 'mid-approval':
      return rng.chance(0.5) ? { ...base, killOnAck: true } : { ...base, killDelayMs: rng.int(1, 12) };
    case 'outbox-draining':
      return { ...base, killDelayMs: rng.chance(0.5) ? 0 : rng.int(100, 1500) };
    default:
      return base;
  }
}

/** `trials` kill trials cycling through the phases in a seeded order, each on a seeded provider. */
export function planKillTrials(rng: Rng, trials: number, phases: readonly Phase[], providers: readonly ProviderName[], used: Set<string>): TrialPlan[] {
  const usable = applicablePhases(phases, providers);
  if (trials > 0 && usable.length === 0) throw new Error('no phase applies to the chosen providers');
  const plans: TrialPlan[] = [];
  let deck: Phase[] = [];
  for (let i = 0; i < trials; i++) {
    if (deck.length === 0) deck = rng.shuffle(usable);
    const phase = deck.shift() as Phase;
    const provider = PHASE_PROVIDER[phase] ?? rng.pick(providers);
    plans.push({ index: i + 1, provider, phase, ...fleet(rng, provider, used), ...killTiming(rng, phase) });
  }
  return plans;
}

/** One trial per fault case, on a seeded provider the case applies to. */
export function planFaultTrials(rng: Rng, cases: readonly FaultCase[], providers: readonly ProviderName[], firstIndex: number, used: Set<string>): TrialPlan[] {
  const plans: TrialPlan[] = [];
  for (const fault of cases) {
    const fits = providers.filter((p) => !fault.providers || fault.providers.includes(p));
    if (fits.length === 0) continue;
    const provider = rng.pick(fits);
    plans.push({ index: firstIndex + plans.length, provider, fault, ...fleet(rng, provider, used), killDelayMs: 0, killOnAck: false, heldActs: false });
  }
  return plans;
}

/** Which of a trial's two replicas (0 = A, 1 = B) gets the slash command, the approval click, and SIGKILL. */
export interface ReplicaRoles {
  command: 0 | 1;
  click: 0 | 1;
  /** The replica doing the work at the trial's phase; undefined for a fault trial, which kills nobody. */
  victim?: 0 | 1;
}

/**
 * `--replicas 2`: the command goes to one replica and the click to the other, alternating by trial, so every
 * phase sees both the replica that posted the card and the one that did not die. The victim is the replica doing
 * the work at the phase: the one that took the command while the card is being posted ('card-posted'), the one that
 * took the click afterwards, since it claims the job's run (the run owner, see issue 12's core). Every phase makes
 * sense with replicas: each has a moment where the victim holds something the survivor must take over (an outbox
 * row in flight, an approval half-stored, a batch sent, a verification or a Huawei job poll under way).
 */
export function replicaRoles(index: number, phase: Phase | undefined): ReplicaRoles {
  const command: 0 | 1 = index % 2 === 0 ? 0 : 1;
  const click: 0 | 1 = command === 0 ? 1 : 0;
  if (phase === undefined) return { command, click };
  return { command, click, victim: phase === 'card-posted' ? command : click };
}

export const replicaName = (replica: 0 | 1): string => (replica === 0 ? 'A' : 'B');
