/**
 * The one wrapper around every provider call. Whatever the cloud, the runner gets the same promises:
 * each id once and within the batch size, every id answered, nothing secret in an answer, a throw that
 * never passes for a refusal, and one rule for what may be sent twice. Each client keeps the reading of
 * its own cloud's answers; this file keeps the rules that must not differ between clouds.
 */
import { reportToWatch } from './call-watch.js';
import { CREDENTIALS_EXPIRED, isExpired, tokenExpiredMessage, type CredentialSource } from './credentials.js';
import { failAll, redactOutcome, redactSecrets, unknownAll, unknownOutcome } from './outcomes.js';
import type {
  AsyncJobHandle,
  BatchResult,
  DescribeCall,
  DescribeResult,
  InstanceOutcome,
  InstanceReading,
  PermissionCall,
  PermissionCheck,
  PollCall,
  Provider,
  ProviderInfo,
  ProviderName,
  RebootCall,
} from './provider.js';
import type { AttemptResult } from './retry.js';
import type { RequestSigner, SignedRequest } from './signing.js';
import { plural } from '../plural.js';

// ---- the resend rule --------------------------------------------------------------------------------

/**
 * What an answer that settled nothing shows about the cloud's side:
 * - `throttled`: HTTP 429 or the cloud's documented throttle code; it turned the request away for rate before acting;
 * - `not-sent`: the connection failed before the request was written (TransportError phase 'not-sent');
 * - `unauthenticated`: the cloud refused the request's signature or timestamp, which it checks before the API runs;
 * - `ambiguous`: anything else (a lost answer, a 5xx, an unreadable 2xx, a "system error" code): it may have acted.
 */
export type ResendAnswer = 'throttled' | 'not-sent' | 'unauthenticated' | 'ambiguous';

export interface ResendEvidence {
  answer: ResendAnswer;
  /** The request cannot change anything however often it is sent: a read, or a dry run. */
  changesNothing: boolean;
  /**
   * The resend is the same request with the same idempotency token, on a provider whose token makes the cloud
   * answer a repeat with the first outcome instead of acting again (ProviderInfo.resendSafe, Volcengine's
   * ClientToken). A resend under a new token is not covered.
   */
  resendSafe: boolean;
}

/**
 * The one rule for what may be sent again. Only an answer that proves nothing was done may be resent;
 * anything else may hide a reboot that happened, and a resend would reboot twice, unless repeating the
 * request cannot act twice (a read or dry run, or a resend the idempotency token makes harmless).
 */
export function mayResend(evidence: ResendEvidence): boolean {
  switch (evidence.answer) {
    case 'throttled':
    case 'not-sent':
    case 'unauthenticated':
      return true;
    case 'ambiguous':
      return evidence.changesNothing || evidence.resendSafe;
  }
}

/**
 * One attempt's verdict under the rule: sent again (after the server's delay, if it gave one) when mayResend
 * allows, otherwise final. `outcome` is what stands if this is the last word, so for an ambiguous answer to a
 * reboot it must be 'unknown', never 'failed'.
 */
export function resendVerdict<T>(evidence: ResendEvidence, outcome: T, afterMs?: number): AttemptResult<T> {
  // Every client's throttling answer passes here: counted for /metrics (src/providers/call-watch.ts).
  if (evidence.answer === 'throttled') reportToWatch((w) => w.throttled());
  if (!mayResend(evidence)) return { final: outcome };
  return afterMs === undefined ? { retry: outcome } : { retry: outcome, afterMs };
}

// ---- the wrapper ------------------------------------------------------------------------------------

/** One finished provider call, for metrics; the outcomes are the redacted ones the runner gets. */
export interface ProviderCallEvent {
  provider: ProviderName;
  call: 'reboot' | 'poll' | 'describe' | 'permission';
  /** Wall time of the whole call, retries and waits included (also for a batch refused before sending). */
  ms: number;
  outcomes: readonly InstanceOutcome[];
  pending?: AsyncJobHandle;
  /** describe: the error code when the read failed as a whole ('Throttling', 'Forbidden', …). */
  error?: string;
}

export type CallObserver = (event: ProviderCallEvent) => void;

export interface GuardOptions {
  /** Credentials that must never reach an outcome: the client's secret key. */
  secrets: readonly string[];
  /**
   * Where the client's key comes from: its secrets and tokens are redacted like `secrets`, and a call made after its
   * expiration fails at once (CREDENTIALS_EXPIRED) without sending anything.
   */
  credentials?: CredentialSource;
  /**
   * Whether a refusal is the cloud saying the security token expired: such an outcome reads "security token expired
   * (code)", so whoever sees it knows to rotate the key, not to retry.
   */
  isTokenExpired?: (code: string, message: string) => boolean;
  /** Wall clock for the expiration check. */
  now?: () => Date;
  onCall?: CallObserver;
  /** Milliseconds from any fixed origin, for timing; performance.now by default. */
  clock?: () => number;
}

/** What the guard hands each call of a client. */
export interface CallScope {
  /** The same signer, with every signature it makes registered for redaction from what this call reports. */
  track(signer: RequestSigner): RequestSigner;
}

/** The client's own calls, each given ids already deduplicated and within info.maxBatch. */
export interface GuardedCalls {
  reboot(call: RebootCall, scope: CallScope): Promise<BatchResult>;
  poll?(call: PollCall, scope: CallScope): Promise<InstanceOutcome[]>;
  /** Given ids deduplicated and within info.maxDescribe. */
  describe(call: DescribeCall, scope: CallScope): Promise<DescribeResult>;
  checkPermission?(call: PermissionCall, scope: CallScope): Promise<PermissionCheck>;
}

export const BATCH_TOO_LARGE = 'BatchTooLarge';

export function guardProvider(info: ProviderInfo, calls: GuardedCalls, options: GuardOptions): Provider {
  const clock = options.clock ?? ((): number => performance.now());

  const now = options.now ?? ((): Date => new Date());

  /** Why nothing may be sent: the credentials' own expiration has passed (a temporary key not yet rotated). */
  function expiredCredentials(): string | undefined {
    const source = options.credentials;
    if (!source) return undefined;
    const credentials = source.current();
    if (!isExpired(credentials, now())) return undefined;
    return tokenExpiredMessage(CREDENTIALS_EXPIRED, `the key from ${source.origin} expired at ${credentials.expiration?.toISOString() ?? '?'}; reboot-bot sent nothing`);
  }

  function explainExpiry(outcome: InstanceOutcome): InstanceOutcome {
    if (outcome.status !== 'failed' || !options.isTokenExpired?.(outcome.code, outcome.message)) return outcome;
    return { ...outcome, message: tokenExpiredMessage(outcome.code, outcome.message) };
  }

  function openScope(): { scope: CallScope; hidden: string[] } {
    const hidden = [...options.secrets, ...(options.credentials?.secrets() ?? [])];
    const track = (signer: RequestSigner): RequestSigner => ({
      sign(request, signOptions): SignedRequest {
        const signed = signer.sign(request, signOptions);
        hidden.push(signed.signature);
        return signed;
      },
    });
    return { scope: { track }, hidden };
  }

  function observe(call: ProviderCallEvent['call'], started: number, outcomes: readonly InstanceOutcome[], pending?: AsyncJobHandle, error?: string): void {
    if (!options.onCall) return;
    const event: ProviderCallEvent = {
      provider: info.name,
      call,
      ms: clock() - started,
      outcomes,
      ...(pending ? { pending } : {}),
      ...(error === undefined ? {} : { error }),
    };
    try {
      options.onCall(event);
    } catch {
      // Metrics must never change what happened to a reboot, nor keep its outcome from being recorded.
    }
  }

  async function reboot(call: RebootCall): Promise<BatchResult> {
    const started = clock();
    const ids = [...new Set(call.ids)];
    const { scope, hidden } = openScope();
    let result: BatchResult;
    const expired = ids.length === 0 ? undefined : expiredCredentials();
    if (ids.length === 0) {
      result = { outcomes: [] };
    } else if (expired !== undefined) {
      result = { outcomes: failAll(ids, CREDENTIALS_EXPIRED, expired) };
    } else if (ids.length > info.maxBatch) {
      result = {
        outcomes: failAll(
          ids,
          BATCH_TOO_LARGE,
          `${info.displayName} takes at most ${plural(info.maxBatch, 'instance id')} per call and this batch has ${ids.length}; reboot-bot sent nothing`,
        ),
      };
    } else {
      try {
        result = answerEvery(ids, await calls.reboot({ ...call, ids }, scope), 'the reboot call');
      } catch {
        // A throw may come after the request left, so the instances may be rebooting: never 'failed'. The error's
        // own text stays out, as it can carry request details.
        result = { outcomes: unknownAll(ids, `${info.displayName} client failed while sending this reboot (an internal error, not a cloud answer); the instance may or may not be rebooting — check it in the console`) };
      }
    }
    const outcomes = result.outcomes.map((o) => redactOutcome(explainExpiry(o), hidden));
    observe('reboot', started, outcomes, result.pending);
    return { outcomes, ...(result.pending ? { pending: result.pending } : {}), ...(result.serverTime === undefined ? {} : { serverTime: result.serverTime }) };
  }

  async function poll(inner: NonNullable<GuardedCalls['poll']>, call: PollCall): Promise<InstanceOutcome[]> {
    const started = clock();
    const { ids } = call.handle;
    const { scope, hidden } = openScope();
    let outcomes: InstanceOutcome[];
    try {
      outcomes = answerEvery(ids, { outcomes: await inner(call, scope) }, `following ${info.displayName} job ${call.handle.jobId}`).outcomes;
    } catch {
      outcomes = unknownAll(ids, `${info.displayName} client failed while following job ${call.handle.jobId} (an internal error, not a cloud answer); the reboot was accepted — check the job in the console`);
    }
    const redacted = outcomes.map((o) => redactOutcome(explainExpiry(o), hidden));
    observe('poll', started, redacted);
    return redacted;
  }

  async function describe(call: DescribeCall): Promise<DescribeResult> {
    const started = clock();
    const ids = [...new Set(call.ids)];
    const { scope, hidden } = openScope();
    let result: DescribeResult;
    const expired = ids.length === 0 ? undefined : expiredCredentials();
    if (ids.length === 0) {
      result = { kind: 'read', readings: [] };
    } else if (expired !== undefined) {
      result = { kind: 'error', code: CREDENTIALS_EXPIRED, message: expired, throttled: false };
    } else if (ids.length > info.maxDescribe) {
      result = { kind: 'error', code: BATCH_TOO_LARGE, message: `${info.displayName} reads at most ${plural(info.maxDescribe, 'instance id')} per call and this read has ${ids.length}; reboot-bot sent nothing`, throttled: false };
    } else {
      try {
        result = onlyAsked(ids, await calls.describe({ ...call, ids }, scope));
      } catch {
        result = { kind: 'error', code: 'ClientError', message: `${info.displayName} client failed while reading instance state (an internal error, not a cloud answer)`, throttled: false };
      }
    }
    const clean = (text: string): string => redactSecrets(text, hidden);
    const explained = (code: string, message: string): string => (options.isTokenExpired?.(code, message) ? tokenExpiredMessage(code, message) : message);
    const redacted: DescribeResult =
      result.kind === 'error' ? { ...result, code: clean(result.code), message: clean(explained(result.code, result.message)) } : { ...result, readings: result.readings.map((r) => redactReading(r, clean)) };
    observe('describe', started, [], undefined, redacted.kind === 'error' ? redacted.code : undefined);
    return redacted;
  }

  async function checkPermission(inner: NonNullable<GuardedCalls['checkPermission']>, call: PermissionCall): Promise<PermissionCheck> {
    const started = clock();
    const { scope, hidden } = openScope();
    let check: PermissionCheck;
    const expired = expiredCredentials();
    if (expired !== undefined) check = { kind: 'denied', code: CREDENTIALS_EXPIRED, message: expired };
    else {
      try {
        check = await inner({ ...call, ids: [...new Set(call.ids)].slice(0, info.maxBatch) }, scope);
      } catch {
        check = { kind: 'unclear', reason: `${info.displayName} client failed while checking permission (an internal error, not a cloud answer)` };
      }
    }
    const clean = (text: string): string => redactSecrets(text, hidden);
    const redacted: PermissionCheck =
      check.kind === 'allowed'
        ? { kind: 'allowed', detail: clean(check.detail) }
        : check.kind === 'denied'
          ? { kind: 'denied', code: clean(check.code), message: clean(check.message) }
          : { kind: 'unclear', reason: clean(check.reason) };
    observe('permission', started, [], undefined, redacted.kind === 'allowed' ? undefined : redacted.kind);
    return redacted;
  }

  const provider: Provider = { info, reboot, describe };
  const innerPoll = calls.poll;
  if (innerPoll) provider.poll = (call) => poll(innerPoll, call);
  const innerCheck = calls.checkPermission;
  if (innerCheck) provider.checkPermission = (call) => checkPermission(innerCheck, call);
  return provider;
}

/** Readings only for ids of the call, the first per id: a client's stray entry must not describe another job's instance. */
function onlyAsked(ids: readonly string[], result: DescribeResult): DescribeResult {
  if (result.kind === 'error') return result;
  const asked = new Set(ids);
  const seen = new Set<string>();
  const readings = result.readings.filter((r) => asked.has(r.id) && !seen.has(r.id) && seen.add(r.id));
  return { ...result, readings };
}

function redactReading(reading: InstanceReading, clean: (text: string) => string): InstanceReading {
  if (!reading.found) return reading;
  return { ...reading, name: reading.name === null ? null : clean(reading.name), rawStatus: clean(reading.rawStatus) };
}

/**
 * One outcome per id of the call, in call order: an id the client left out (and did not hand to an async job)
 * is unknown, since the client cannot vouch that nothing happened to it; outcomes for ids not in the call are dropped.
 */
function answerEvery(ids: readonly string[], result: BatchResult, what: string): BatchResult {
  const pending = new Set(result.pending?.ids ?? []);
  const byId = new Map<string, InstanceOutcome>();
  for (const outcome of result.outcomes) if (!byId.has(outcome.id)) byId.set(outcome.id, outcome);
  const outcomes = ids
    .filter((id) => !pending.has(id) || byId.has(id))
    .map((id) => byId.get(id) ?? unknownOutcome(id, `${what} gave no outcome for this instance; it may or may not be rebooting — check it in the console`));
  return { outcomes, ...(result.pending ? { pending: result.pending } : {}), ...(result.serverTime === undefined ? {} : { serverTime: result.serverTime }) };
}
