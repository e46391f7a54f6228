/**
 * What the read calls said about a job's instances before anything was sent: shown on the card so approvers
 * do not approve blind, turned into a dry run's results, and kept as the "before" that verification compares
 * against. Pre-flight informs; it never blocks an approval.
 */
import type { InstanceReading } from '../providers/provider.js';
import type { JobOutcome } from './outcome.js';

export interface ReadError {
  code: string;
  message: string;
  /** How many of the job's ids this error left unread. */
  ids: number;
}

export interface Preflight {
  /** When the whole pre-flight finished; null while it is still reading. */
  checkedAt: number | null;
  readings: ReadonlyMap<string, InstanceReading>;
  errors: readonly ReadError[];
}

/** Where an instance stands for a reboot, as the card groups them. */
export type Standing = 'running' | 'not found' | 'stopped' | 'locked' | 'busy' | 'other' | 'unread';

export function standingOf(reading: InstanceReading | undefined): Standing {
  if (reading === undefined) return 'unread';
  if (!reading.found) return 'not found';
  switch (reading.phase) {
    case 'running':
      return 'running';
    case 'stopped':
      return 'stopped';
    case 'locked':
      return 'locked';
    case 'transitioning':
      return 'busy';
    case 'other':
      return 'other';
  }
}

/** Standings that mean a reboot sent now would be refused. */
export const WILL_FAIL: readonly Standing[] = ['not found', 'stopped', 'locked', 'busy', 'other'];

export function countStandings(ids: readonly string[], preflight: Preflight): Map<Standing, number> {
  const counts = new Map<Standing, number>();
  for (const id of ids) {
    const standing = standingOf(preflight.readings.get(id));
    counts.set(standing, (counts.get(standing) ?? 0) + 1);
  }
  return counts;
}

/** "Stopped", "locked (financial)", "not found", "Starting": what the cloud says, in a few words. */
export function stateText(reading: InstanceReading | undefined): string {
  if (reading === undefined) return 'not read';
  if (!reading.found) return reading.rawStatus === undefined ? 'not found' : `not found (${reading.rawStatus})`;
  if (reading.phase === 'locked') return `locked (${reading.lockReason ?? reading.rawStatus})`;
  return reading.rawStatus;
}

/** A dry run's verdict for one instance, from what the read found: nothing is sent. */
export function dryRunOutcome(id: string, reading: InstanceReading | undefined, readError: string | undefined): JobOutcome {
  if (reading === undefined) return { id, status: 'unknown', reason: `could not read its state${readError === undefined ? '' : `: ${readError}`}` };
  const name = reading.found && reading.name !== null ? reading.name : undefined;
  const fail = (code: string, why: string): JobOutcome => ({ id, status: 'failed', code, message: `would fail: ${why}${name === undefined ? '' : ` — ${name}`}` });
  switch (standingOf(reading)) {
    case 'running':
      return { id, status: 'checked', detail: `${name === undefined ? '' : `${name}, `}${stateText(reading)}` };
    case 'not found':
      return fail('NotFound', stateText(reading));
    case 'stopped':
      return fail('Stopped', `stopped (${stateText(reading)})`);
    case 'locked':
      return fail('Locked', stateText(reading));
    case 'busy':
      return fail('Busy', `${stateText(reading)}, an operation is in progress`);
    default:
      return fail('NotRunning', `state ${stateText(reading)}`);
  }
}
