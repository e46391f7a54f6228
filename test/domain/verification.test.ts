import { describe, expect, it } from 'vitest';
import { clockProves, durationText, newWatch, observe, reconcile, timedOut } from '../../src/domain/verification.js';
import type { InstanceClock, InstanceReading } from '../../src/providers/provider.js';

const T0 = Date.parse('2026-12-04T10:15:30Z');
const RULES = { timeoutMs: 600_000, settleReadings: 3 };

const minuteClock = (iso: string): InstanceClock => ({ field: 'StartTime', raw: iso, at: Date.parse(iso), precisionMs: 60_000, provesReboot: true });
const running = (over: Partial<Extract<InstanceReading, { found: true }>> = {}): InstanceReading => ({
  id: 'i-1',
  found: true,
  name: 'web-1',
  phase: 'running',
  rawStatus: 'Running',
  rebooting: false,
  ...over,
});
const starting: InstanceReading = { id: 'i-1', found: true, name: 'web-1', phase: 'transitioning', rawStatus: 'Starting', rebooting: true };

describe('clockProves', () => {
  it('a minute-precision start time in the minute of the call proves it (the field cannot say seconds)', () => {
    expect(clockProves(minuteClock('2026-12-04T10:15:00Z'), undefined, T0)).toBe(true);
  });

  it('a start time before the call’s minute does not', () => {
    expect(clockProves(minuteClock('2026-12-04T10:14:00Z'), undefined, T0)).toBe(false);
  });

  it('a time equal to what pre-flight saw did not move, even inside the call’s minute', () => {
    const before = running({ clock: minuteClock('2026-12-04T10:15:00Z') });
    expect(clockProves(minuteClock('2026-12-04T10:15:00Z'), before, T0)).toBe(false);
    expect(clockProves(minuteClock('2026-12-04T10:16:00Z'), before, T0)).toBe(true);
  });

  it('a field the cloud also moves for other reasons is never proof (Huawei updated)', () => {
    expect(clockProves({ ...minuteClock('2026-12-04T10:20:00Z'), provesReboot: false }, undefined, T0)).toBe(false);
  });
});

describe('observe', () => {
  it('a reboot state seen after the call, then running: verified, with the time since watching began', () => {
    const watch = newWatch('i-1', T0, 1_000, undefined, false);
    expect(observe(watch, starting, 4_000, RULES)).toBeUndefined();
    expect(observe(watch, running(), 48_000, RULES)).toEqual({ id: 'i-1', status: 'verified', detail: 'back up, running (after 47 s) (web-1); restart seen' });
  });

  it('running with a moved start time: verified without seeing the transition', () => {
    const watch = newWatch('i-1', T0, 0, running({ clock: minuteClock('2026-11-01T00:00:00Z') }), false);
    expect(observe(watch, running({ clock: minuteClock('2026-12-04T10:16:00Z') }), 5_000, RULES)).toMatchObject({ status: 'verified' });
  });

  it('a finished cloud job plus running is proof (Huawei)', () => {
    const watch = newWatch('i-1', T0, 0, undefined, true);
    expect(observe(watch, running(), 3_000, RULES)).toMatchObject({ status: 'verified', detail: expect.stringContaining('cloud job done') });
  });

  it('running without proof settles as "not confirmed" only after several readings, never as a success', () => {
    const watch = newWatch('i-1', T0, 0, undefined, false);
    expect(observe(watch, running(), 1_000, RULES)).toBeUndefined();
    expect(observe(watch, running(), 4_000, RULES)).toBeUndefined();
    expect(observe(watch, running(), 9_000, RULES)).toEqual({ id: 'i-1', status: 'unconfirmed', detail: 'running; reboot not confirmed (no restart was visible to the read API)' });
  });

  it('a transition between unproven readings still proves it', () => {
    const watch = newWatch('i-1', T0, 0, undefined, false);
    observe(watch, running(), 1_000, RULES);
    observe(watch, running(), 2_000, RULES);
    expect(observe(watch, starting, 3_000, RULES)).toBeUndefined();
    expect(observe(watch, running(), 4_000, RULES)).toMatchObject({ status: 'verified' });
  });

  it('still starting at the timeout: not back, with the state it was last seen in', () => {
    const watch = newWatch('i-1', T0, 0, undefined, false);
    expect(observe(watch, starting, 599_999, RULES)).toBeUndefined();
    expect(observe(watch, starting, 600_000, RULES)).toEqual({ id: 'i-1', status: 'not_back', detail: 'not running after 10m: state Starting' });
  });

  it('never read until the timeout: unknown, never "not back"', () => {
    const watch = newWatch('i-1', T0, 0, undefined, false);
    expect(observe(watch, undefined, 600_000, RULES)).toMatchObject({ status: 'unknown' });
  });

  it('at the timeout a running instance without proof is unconfirmed', () => {
    const watch = newWatch('i-1', T0, 0, undefined, false);
    observe(watch, running(), 1_000, RULES);
    expect(timedOut(watch, RULES)).toMatchObject({ status: 'unconfirmed' });
  });
});

describe('reconcile', () => {
  it('a reboot state proves the lost call acted', () => {
    expect(reconcile(starting, undefined, T0)).toEqual({ proven: true, now: 'a follow-up read shows it now Starting' });
  });

  it('running without proof says so and proves nothing', () => {
    expect(reconcile(running(), undefined, T0)).toEqual({ proven: false, now: 'a follow-up read shows it now running' });
  });

  it('an unread or unknown instance proves nothing', () => {
    expect(reconcile(undefined, undefined, T0).proven).toBe(false);
    expect(reconcile({ id: 'i-1', found: false }, undefined, T0)).toEqual({ proven: false, now: 'a follow-up read shows it now not found' });
  });
});

describe('durationText', () => {
  it('says durations the way REBOOT_VERIFY_TIMEOUT is written', () => {
    expect(durationText(600_000)).toBe('10m');
    expect(durationText(3_600_000)).toBe('1h');
    expect(durationText(90_000)).toBe('90s');
  });
});
