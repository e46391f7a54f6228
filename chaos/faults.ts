/**
 * Fault cases run without a kill: each entry arms one fault around an otherwise ordinary job, and the
 * trial is measured like a kill trial (every message must still arrive, nothing rebooted twice).
 * A new case is one entry in FAULT_CASES. Cloud faults (a simulator that acts and then answers 5xx,
 * a malformed 2xx) are armed 'before-command' through the simulator's fault queue.
 */
import type { FakeFault, FakeSlack } from '../src/local/fake-slack.js';
import type { ProviderName } from '../src/providers/provider.js';
import type { SimulatorServer } from '../src/providers/simulator-kit.js';

export interface FaultContext {
  slack: FakeSlack;
  sim: SimulatorServer;
  provider: ProviderName;
  region: string;
  ids: readonly string[];
}

/** Undoes a fault; called when its window ends and again, harmlessly, when the trial ends. */
export type Disarm = () => void;

export interface FaultCase {
  name: string;
  description: string;
  /** Providers the case applies to (default: any). */
  providers?: readonly ProviderName[];
  /** When to arm: before the /reboot command, or right after the approval click. */
  when: 'before-command' | 'after-approval';
  arm(ctx: FaultContext): Disarm;
}

/**
 * Slack answers every `method` call with `fault` for `ms` milliseconds, then recovers. The fake's
 * fault list is a queue consumed one call at a time, so the window is filled generously and
 * emptied when it closes.
 */
function slackOutage(slack: FakeSlack, method: string, fault: FakeFault, ms: number): Disarm {
  for (let i = 0; i < 10_000; i++) slack.injectFault(method, fault);
  const end = (): void => {
    slack.faults.delete(method);
  };
  const timer = setTimeout(end, ms);
  return () => {
    clearTimeout(timer);
    end();
  };
}

/** Every mutating call the cloud carries out is answered badly afterwards, until disarmed. */
function cloudActsThen(sim: SimulatorServer, fault: { kind: 'actThenFail'; status: 500 | 502 | 503 | 504 } | { kind: 'actThenMalformed' }): Disarm {
  sim.faults.inject({ ...fault, count: 10_000 });
  return () => sim.faults.clear();
}

export const FAULT_CASES: readonly FaultCase[] = [
  {
    name: 'cloud-502-after-acting',
    description: 'the cloud reboots, then its gateway answers 502: unknown, never resent (Volcengine: same ClientToken)',
    when: 'before-command',
    arm: ({ sim }) => cloudActsThen(sim, { kind: 'actThenFail', status: 502 }),
  },
  {
    name: 'cloud-malformed-2xx',
    description: 'the cloud reboots, then answers a 2xx that cannot be read: unknown, never "failed"',
    when: 'before-command',
    arm: ({ sim }) => cloudActsThen(sim, { kind: 'actThenMalformed' }),
  },
  {
    name: 'alibaba-internal-error',
    description: 'ECS reboots, then answers 500 InternalError: unknown, never resent',
    providers: ['alibaba'],
    when: 'before-command',
    arm: ({ sim }) => cloudActsThen(sim, { kind: 'actThenFail', status: 500 }),
  },
  {
    name: 'huawei-503-after-acting',
    description: 'ECS reboots the batch, then the gateway answers 503: unknown, never resent',
    providers: ['huawei'],
    when: 'before-command',
    arm: ({ sim }) => cloudActsThen(sim, { kind: 'actThenFail', status: 503 }),
  },
  {
    name: 'slack-500',
    description: 'chat.postMessage answers HTTP 500 for 3 s from the approval on',
    when: 'after-approval',
    arm: ({ slack }) => slackOutage(slack, 'chat.postMessage', { status: 500 }, 3000),
  },
  {
    name: 'slack-internal_error',
    description: 'chat.postMessage answers ok:false internal_error for 3 s from the approval on',
    when: 'after-approval',
    arm: ({ slack }) => slackOutage(slack, 'chat.postMessage', { error: 'internal_error' }, 3000),
  },
  {
    name: 'slack-429',
    description: 'chat.postMessage and chat.update answer 429 (Retry-After 1) for 2.5 s from the approval on',
    when: 'after-approval',
    arm: ({ slack }) => {
      const a = slackOutage(slack, 'chat.postMessage', { status: 429, retryAfter: 1 }, 2500);
      const b = slackOutage(slack, 'chat.update', { status: 429, retryAfter: 1 }, 2500);
      return () => {
        a();
        b();
      };
    },
  },
];
