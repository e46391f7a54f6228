/**
 * Did the machine come back? The pure half of verification: one instance's watch, updated with each reading.
 * Proof of a reboot, per the clouds' own signals (each client documents where its values come from):
 * - a reboot state (Stopping/Starting, REBOOTING, REBOOT…) seen after the call was accepted;
 * - a time field the cloud moves on reboot (Alibaba StartTime, Volcengine UpdatedAt) that moved past the call;
 * - an asynchronous cloud job that reported the server's reboot done (Huawei), with the server then ACTIVE and idle.
 * Running without any of these is "running; reboot not confirmed", never a success.
 */
import type { InstanceClock, InstanceReading } from '../providers/provider.js';
import type { JobOutcome } from './outcome.js';
import { stateText } from './preflight.js';

export interface Watch {
  id: string;
  /** The cloud's clock when it accepted the reboot (epoch ms): proof is measured against it. */
  acceptedAt: number;
  /** The bot's clock when watching began: the timeout and "after N s" count from it, free of clock skew. */
  watchedSince: number;
  /** What pre-flight read before the call, if anything. */
  before: InstanceReading | undefined;
  /** An async cloud job reported this server's reboot finished. */
  jobProved: boolean;
  sawReboot: boolean;
  /** Consecutive readings running without proof. */
  runningUnproven: number;
  last: InstanceReading | undefined;
}

export interface VerifyRules {
  /** Give up after this long from acceptance: not back. */
  timeoutMs: number;
  /** Readings in a row that show it running with no proof before concluding "not confirmed". */
  settleReadings: number;
}

/** `sawReboot`: a read after the call (the follow-up read of an ambiguous answer) already saw the reboot under way. */
export function newWatch(id: string, acceptedAt: number, watchedSince: number, before: InstanceReading | undefined, jobProved: boolean, sawReboot = false): Watch {
  return { id, acceptedAt, watchedSince, before, jobProved, sawReboot, runningUnproven: 0, last: undefined };
}

/** The acceptance time at the field's precision: a minute-precision StartTime written in the same minute counts. */
function floorTo(ms: number, precisionMs: number): number {
  return precisionMs > 1 ? Math.floor(ms / precisionMs) * precisionMs : ms;
}

export function clockProves(clock: InstanceClock | undefined, before: InstanceReading | undefined, acceptedAt: number): boolean {
  if (clock === undefined || !clock.provesReboot) return false;
  if (clock.at < floorTo(acceptedAt, clock.precisionMs)) return false;
  const earlier = before?.found ? before.clock : undefined;
  // Equal to what pre-flight saw means it did not move (Alibaba: started earlier within the same minute).
  return earlier === undefined || clock.at > earlier.at;
}

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A duration as the thread says it: 10m, 90s, 1h30m. */
export function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s % 3600 === 0 && s >= 3600) return `${s / 3600}h`;
  if (s % 60 === 0 && s >= 60) return `${s / 60}m`;
  return `${s}s`;
}

/** Folds one reading into the watch; returns the outcome when this reading settles it. */
export function observe(watch: Watch, reading: InstanceReading | undefined, now: number, rules: VerifyRules): JobOutcome | undefined {
  if (reading !== undefined) {
    watch.last = reading;
    if (reading.found && reading.rebooting) watch.sawReboot = true;
    if (reading.found && reading.phase === 'running') {
      const proof = watch.sawReboot ? 'restart seen' : watch.jobProved ? 'cloud job done' : clockProves(reading.clock, watch.before, watch.acceptedAt) ? `${reading.clock?.field ?? 'start time'} moved` : undefined;
      if (proof !== undefined) {
        const name = reading.name === null ? '' : ` (${reading.name})`;
        return { id: watch.id, status: 'verified', detail: `back up, running (after ${seconds(now - watch.watchedSince)})${name}; ${proof}` };
      }
      watch.runningUnproven += 1;
      if (watch.runningUnproven >= rules.settleReadings) return unconfirmed(watch);
    } else {
      watch.runningUnproven = 0;
    }
  }
  if (now - watch.watchedSince >= rules.timeoutMs) return timedOut(watch, rules);
  return undefined;
}

function unconfirmed(watch: Watch): JobOutcome {
  return { id: watch.id, status: 'unconfirmed', detail: 'running; reboot not confirmed (no restart was visible to the read API)' };
}

/** The verification deadline passed: running without proof is unconfirmed, not running is not back, never read is unknown. */
export function timedOut(watch: Watch, rules: Pick<VerifyRules, 'timeoutMs'>): JobOutcome {
  const last = watch.last;
  if (last === undefined) {
    // Not one read answered: nothing says it is down, so "not back" would be a guess.
    return { id: watch.id, status: 'unknown', reason: `reboot accepted, but its state could not be read for ${durationText(rules.timeoutMs)} to see it come back — check the instance` };
  }
  if (last.found && last.phase === 'running') return unconfirmed(watch);
  return { id: watch.id, status: 'not_back', detail: `not running after ${durationText(rules.timeoutMs)}: state ${stateText(last)}` };
}

/**
 * What one read after an ambiguous answer can say. The outcome stays unknown unless the reading proves the
 * reboot happened, in which case verification takes it over.
 */
export function reconcile(reading: InstanceReading | undefined, before: InstanceReading | undefined, acceptedAt: number): { proven: boolean; now: string } {
  if (reading === undefined) return { proven: false, now: 'a follow-up read could not see its state' };
  const proven = reading.found && (reading.rebooting || clockProves(reading.clock, before, acceptedAt));
  return { proven, now: `a follow-up read shows it now ${reading.found && reading.phase === 'running' ? 'running' : stateText(reading)}` };
}
