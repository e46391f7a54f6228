import { describe, expect, it } from 'vitest';
import {
  guardProvider,
  mayResend,
  resendVerdict,
  type CallScope,
  type GuardedCalls,
  type GuardOptions,
  type ProviderCallEvent,
  type ResendAnswer,
} from '../../src/providers/guard.js';
import type { BatchResult, InstanceOutcome, InstanceReading, PollCall, ProviderInfo, RebootCall } from '../../src/providers/provider.js';
import type { RequestSigner } from '../../src/providers/signing.js';

const SECRET = 'fake-secret-key-0123456789';
const SIGNATURE = 'f00dfeedcafebabe0123456789abcdef';

const info: ProviderInfo = {
  name: 'alibaba',
  displayName: 'Fake Cloud',
  aliases: [],
  regions: ['r1'],
  isInstanceId: () => true,
  idFormat: 'anything',
  exampleId: 'i-1',
  maxBatch: 3,
  maxDescribe: 3,
  limits: { maxConcurrent: 1, minTimeMs: 0 },
  resendSafe: false,
};

/** Signs nothing real: it only hands out a known signature, as a cloud signer would. */
const fakeSigner: RequestSigner = {
  sign: (request) => ({ ...request, url: new URL(request.origin + request.path), headers: { ...request.headers, authorization: `FAKE ${SIGNATURE}` }, signature: SIGNATURE }),
};

function call(ids: string[]): RebootCall {
  return { region: 'r1', ids, force: true, idempotencyKey: 'job-1-b1' };
}

function pollCall(ids: string[]): PollCall {
  return { region: 'r1', handle: { jobId: 'job-9', ids } };
}

/** A fake client that answers every id it is given as succeeded, and remembers what it was asked. */
function succeeding(): { calls: RebootCall[]; inner: RebootSide } {
  const calls: RebootCall[] = [];
  return {
    calls,
    inner: {
      reboot: async (c) => {
        calls.push(c);
        return { outcomes: c.ids.map((id): InstanceOutcome => ({ id, status: 'succeeded' })) };
      },
    },
  };
}

/** The reboot-side fakes read nothing; the read suites below give `describe` a body of their own. */
type RebootSide = Omit<GuardedCalls, 'describe'> & Partial<Pick<GuardedCalls, 'describe'>>;

function guarded(inner: RebootSide, options: Partial<GuardOptions> = {}) {
  const reads: GuardedCalls = { describe: () => Promise.resolve({ kind: 'read', readings: [] }), ...inner };
  return guardProvider(info, reads, { secrets: [SECRET], ...options });
}

describe('ids: each once, within the batch size', () => {
  it('hands the client each id once, in first-seen order, and answers each once; the rest of the call is untouched', async () => {
    const { calls, inner } = succeeding();
    const result = await guarded(inner).reboot(call(['a', 'b', 'a', 'c', 'b']));
    expect(calls).toEqual([{ ...call(['a', 'b', 'c']) }]);
    expect(result.outcomes.map((o) => o.id)).toEqual(['a', 'b', 'c']);
  });

  it('counts ids after dropping repeats: maxBatch distinct ids with repeats still go out', async () => {
    const { calls, inner } = succeeding();
    await guarded(inner).reboot(call(['a', 'b', 'c', 'a', 'c']));
    expect(calls.map((c) => c.ids)).toEqual([['a', 'b', 'c']]);
  });

  it('refuses a batch over info.maxBatch: every id failed BatchTooLarge, the client never called', async () => {
    const { calls, inner } = succeeding();
    const result = await guarded(inner).reboot(call(['a', 'b', 'c', 'd', 'a']));
    expect(calls).toHaveLength(0);
    expect(result.outcomes).toEqual(
      ['a', 'b', 'c', 'd'].map((id) => ({
        id,
        status: 'failed',
        code: 'BatchTooLarge',
        message: 'Fake Cloud takes at most 3 instance ids per call and this batch has 4; reboot-bot sent nothing',
      })),
    );
  });

  it('answers an empty call without calling the client', async () => {
    const { calls, inner } = succeeding();
    expect(await guarded(inner).reboot(call([]))).toEqual({ outcomes: [] });
    expect(calls).toHaveLength(0);
  });

  it('an id the client left unanswered is unknown, an id handed to an async job is not, a stranger is dropped', async () => {
    const inner: RebootSide = {
      reboot: async () => ({
        outcomes: [
          { id: 'a', status: 'failed', code: 'X', message: 'refused' },
          { id: 'stranger', status: 'succeeded' },
        ],
        pending: { jobId: 'job-7', ids: ['c'] },
      }),
    };
    const result = await guarded(inner).reboot(call(['a', 'b', 'c']));
    expect(result).toEqual({
      outcomes: [
        { id: 'a', status: 'failed', code: 'X', message: 'refused' },
        { id: 'b', status: 'unknown', reason: expect.stringContaining('gave no outcome for this instance') },
      ],
      pending: { jobId: 'job-7', ids: ['c'] },
    });
  });
});

describe('redaction of the secret and of the call’s signatures', () => {
  it('scrubs the secret from codes, messages, request ids, reasons and details', async () => {
    const inner: RebootSide = {
      reboot: async () => ({
        outcomes: [
          { id: 'a', status: 'failed', code: `Bad${SECRET}`, message: `key ${SECRET} refused`, requestId: `req-${SECRET}` },
          { id: 'b', status: 'unknown', reason: `lost, key ${SECRET}` },
          { id: 'c', status: 'succeeded', detail: `ok for ${SECRET}` },
        ],
      }),
    };
    const result = await guarded(inner).reboot(call(['a', 'b', 'c']));
    expect(result.outcomes).toEqual([
      { id: 'a', status: 'failed', code: 'Bad[redacted]', message: 'key [redacted] refused', requestId: 'req-[redacted]' },
      { id: 'b', status: 'unknown', reason: 'lost, key [redacted]' },
      { id: 'c', status: 'succeeded', detail: 'ok for [redacted]' },
    ]);
  });

  it('scrubs a signature the client made through its tracked signer and the cloud echoed in a message', async () => {
    const inner: RebootSide = {
      reboot: async (c, scope: CallScope) => {
        const signed = scope.track(fakeSigner).sign({ method: 'POST', origin: 'https://cloud.example', path: '/', query: [], headers: {} });
        return { outcomes: c.ids.map((id) => ({ id, status: 'failed', code: 'SignatureDoesNotMatch', message: `expected another signature than ${signed.signature}` })) };
      },
    };
    const result = await guarded(inner).reboot(call(['a']));
    expect(result.outcomes).toEqual([{ id: 'a', status: 'failed', code: 'SignatureDoesNotMatch', message: 'expected another signature than [redacted]' }]);
  });

  it('scrubs what a poll reports too', async () => {
    const inner: RebootSide = {
      reboot: async () => ({ outcomes: [] }),
      poll: async (c, scope) => {
        scope.track(fakeSigner).sign({ method: 'GET', origin: 'https://cloud.example', path: '/jobs/job-9', query: [], headers: {} });
        return c.handle.ids.map((id) => ({ id, status: 'succeeded', detail: `job says ${SECRET} and ${SIGNATURE}` }));
      },
    };
    expect(await guarded(inner).poll!(pollCall(['a']))).toEqual([{ id: 'a', status: 'succeeded', detail: 'job says [redacted] and [redacted]' }]);
  });
});

describe('a throw is unknown for every id, never failed', () => {
  it('reboot: the client throws after signing (the request may have left): every id unknown, the error text left out', async () => {
    const inner: RebootSide = {
      reboot: async (_c, scope) => {
        scope.track(fakeSigner).sign({ method: 'POST', origin: 'https://cloud.example', path: '/', query: [], headers: {} });
        throw new Error(`socket exploded while sending with ${SECRET}`);
      },
    };
    const result = await guarded(inner).reboot(call(['a', 'b', 'a']));
    expect(result.outcomes).toEqual(
      ['a', 'b'].map((id) => ({ id, status: 'unknown', reason: expect.stringMatching(/^Fake Cloud client failed while sending this reboot .*may or may not be rebooting/) })),
    );
    expect(JSON.stringify(result)).not.toContain('exploded');
  });

  it('poll: a throw while following the job leaves every id of the job unknown', async () => {
    const inner: RebootSide = {
      reboot: async () => ({ outcomes: [] }),
      poll: async () => {
        throw new TypeError('cannot read properties of undefined');
      },
    };
    const outcomes = await guarded(inner).poll!(pollCall(['a', 'b']));
    expect(outcomes).toEqual(['a', 'b'].map((id) => ({ id, status: 'unknown', reason: expect.stringContaining('following job job-9') })));
  });

  it('a client without poll gives a provider without poll', () => {
    expect(guarded(succeeding().inner).poll).toBeUndefined();
  });
});

describe('mayResend: the one rule for what may be sent again', () => {
  // answer, changesNothing (a read or dry run), resendSafe (same idempotency token), may resend?
  const table: Array<[ResendAnswer, boolean, boolean, boolean]> = [
    ['throttled', false, false, true],
    ['throttled', false, true, true],
    ['throttled', true, false, true],
    ['throttled', true, true, true],
    ['not-sent', false, false, true],
    ['not-sent', false, true, true],
    ['not-sent', true, false, true],
    ['not-sent', true, true, true],
    ['unauthenticated', false, false, true],
    ['unauthenticated', false, true, true],
    ['unauthenticated', true, false, true],
    ['unauthenticated', true, true, true],
    // The only row that keeps a reboot from going twice.
    ['ambiguous', false, false, false],
    ['ambiguous', false, true, true],
    ['ambiguous', true, false, true],
    ['ambiguous', true, true, true],
  ];

  it.each(table)('%s, changesNothing=%s, resendSafe=%s → %s', (answer, changesNothing, resendSafe, expected) => {
    expect(mayResend({ answer, changesNothing, resendSafe })).toBe(expected);
  });

  it('resendVerdict resends only what the rule allows, keeping the server delay', () => {
    const unknown = { id: 'a', status: 'unknown', reason: 'lost' } as const;
    expect(resendVerdict({ answer: 'ambiguous', changesNothing: false, resendSafe: false }, unknown, 3_000)).toEqual({ final: unknown });
    expect(resendVerdict({ answer: 'ambiguous', changesNothing: false, resendSafe: true }, unknown, 3_000)).toEqual({ retry: unknown, afterMs: 3_000 });
    const throttled = resendVerdict({ answer: 'throttled', changesNothing: false, resendSafe: false }, 'x');
    expect(throttled).toEqual({ retry: 'x' });
    expect(throttled).not.toHaveProperty('afterMs');
  });
});

describe('timing and the onCall hook', () => {
  function clockOf(...readings: number[]): () => number {
    return () => {
      const next = readings.shift();
      if (next === undefined) throw new Error('clock read more often than expected');
      return next;
    };
  }

  it('reports each reboot with its provider, duration and the redacted outcomes the runner gets', async () => {
    const events: ProviderCallEvent[] = [];
    const inner: RebootSide = { reboot: async (c) => ({ outcomes: c.ids.map((id) => ({ id, status: 'unknown', reason: `lost ${SECRET}` })) }) };
    const result = await guarded(inner, { onCall: (e) => events.push(e), clock: clockOf(1_000, 1_250) }).reboot(call(['a']));
    expect(events).toEqual([{ provider: 'alibaba', call: 'reboot', ms: 250, outcomes: [{ id: 'a', status: 'unknown', reason: 'lost [redacted]' }] }]);
    expect(events[0]?.outcomes).toEqual(result.outcomes);
  });

  it('reports a refused batch, an async hand-over with its job, and a poll', async () => {
    const events: ProviderCallEvent[] = [];
    const inner: RebootSide = {
      reboot: async (c) => ({ outcomes: [], pending: { jobId: 'job-9', ids: [...c.ids] } }),
      poll: async (c) => c.handle.ids.map((id) => ({ id, status: 'succeeded' })),
    };
    const p = guarded(inner, { onCall: (e) => events.push(e), clock: clockOf(0, 1, 10, 15, 20, 40) });
    await p.reboot(call(['a', 'b', 'c', 'd']));
    await p.reboot(call(['a']));
    await p.poll!(pollCall(['a']));
    expect(events).toEqual([
      { provider: 'alibaba', call: 'reboot', ms: 1, outcomes: expect.arrayContaining([expect.objectContaining({ code: 'BatchTooLarge' })]) },
      { provider: 'alibaba', call: 'reboot', ms: 5, outcomes: [], pending: { jobId: 'job-9', ids: ['a'] } },
      { provider: 'alibaba', call: 'poll', ms: 20, outcomes: [{ id: 'a', status: 'succeeded' }] },
    ]);
  });

  it('an observer that throws changes nothing about the call', async () => {
    const { inner } = succeeding();
    const result: BatchResult = await guarded(inner, {
      onCall: () => {
        throw new Error('metrics backend down');
      },
    }).reboot(call(['a']));
    expect(result).toEqual({ outcomes: [{ id: 'a', status: 'succeeded' }] });
  });
});

describe('guardProvider: reads', () => {
  const reading = (id: string, name: string): InstanceReading => ({ id, found: true, name, phase: 'running', rawStatus: 'Running', rebooting: false });

  it('dedupes ids, drops readings for ids not asked, and redacts secrets a cloud echoes in a name', async () => {
    const asked: string[][] = [];
    const provider = guarded({
      ...succeeding().inner,
      describe: async (c) => {
        asked.push([...c.ids]);
        return { kind: 'read', readings: [reading('a', `web ${SECRET}`), reading('z', 'stranger'), reading('a', 'second copy')], serverTime: 42 };
      },
    });
    expect(await provider.describe({ region: 'r1', ids: ['a', 'b', 'a'] })).toEqual({ kind: 'read', readings: [reading('a', 'web [redacted]')], serverTime: 42 });
    expect(asked).toEqual([['a', 'b']]);
  });

  it('refuses more ids than the read call takes, without calling the cloud', async () => {
    let calls = 0;
    const provider = guarded({ ...succeeding().inner, describe: () => { calls += 1; return Promise.resolve({ kind: 'read', readings: [] }); } });
    expect(await provider.describe({ region: 'r1', ids: ['a', 'b', 'c', 'd'] })).toMatchObject({ kind: 'error', code: 'BatchTooLarge', throttled: false });
    expect(calls).toBe(0);
  });

  it('a client that throws gives a read error, never "not found"', async () => {
    const provider = guarded({ ...succeeding().inner, describe: () => Promise.reject(new Error(`boom ${SECRET}`)) });
    const result = await provider.describe({ region: 'r1', ids: ['a'] });
    expect(result).toMatchObject({ kind: 'error', code: 'ClientError' });
    expect(JSON.stringify(result)).not.toContain(SECRET);
  });

  it('the cloud’s acceptance time of a reboot reaches the runner', async () => {
    const provider = guarded({ reboot: (c) => Promise.resolve({ outcomes: c.ids.map((id): InstanceOutcome => ({ id, status: 'succeeded' })), serverTime: 1234 }) });
    expect(await provider.reboot(call(['a']))).toEqual({ outcomes: [{ id: 'a', status: 'succeeded' }], serverTime: 1234 });
  });

  it('a permission check that throws is unclear, and what it says is redacted', async () => {
    const provider = guarded({ ...succeeding().inner, checkPermission: () => Promise.resolve({ kind: 'denied', code: 'Forbidden', message: `key ${SECRET}` }) });
    expect(await provider.checkPermission!({ region: 'r1', ids: ['a'], force: false })).toEqual({ kind: 'denied', code: 'Forbidden', message: 'key [redacted]' });
    const throwing = guarded({ ...succeeding().inner, checkPermission: () => Promise.reject(new Error('x')) });
    expect(await throwing.checkPermission!({ region: 'r1', ids: ['a'], force: false })).toMatchObject({ kind: 'unclear' });
  });
});
