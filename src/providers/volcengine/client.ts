/**
 * Volcengine ECS `RebootInstances` (2020-04-01) over undici. Every call carries a ClientToken derived
 * from the batch's idempotency key, which is what makes resending after a lost answer safe here
 * (volcengineInfo.resendSafe, weighed by the guard's resend rule in guard.ts). The read call,
 * `DescribeInstances`, is in describe.ts; both go through the guard from here.
 */
import { z } from 'zod';
import { reportToWatch } from '../call-watch.js';
import { perRequestSigner, sourceOf, withToken, type CredentialSource, type KeysOrSource } from '../credentials.js';
import { guardProvider, mayResend, resendVerdict, type CallScope, type GuardedCalls, type ResendAnswer, type ResendEvidence } from '../guard.js';
import { retryAfterMs, serverTimeOf, TransportError, type HttpResponse } from '../http.js';
import { failedOutcome, parseJsonOrUndefined, unknownOutcome } from '../outcomes.js';
import type { BatchResult, ClientOptions, InstanceOutcome, Provider, RebootCall } from '../provider.js';
import { realSleep, withRetries, type AttemptResult } from '../retry.js';
import { sha256Hex, type RequestSigner } from '../signing.js';
import { isSuccessStatus, isThrottleCode, metadataSchema, SERVICE, sendSigned, VERSION, volcengineEndpoint } from './wire.js';
import { createDescribe } from './describe.js';
import { volcengineInfo } from './info.js';
import { createVolcengineSigner, type QueryPair } from './signer.js';
import { plural } from '../../plural.js';

/** Volcengine's answer to an expired session token (UNCONFIRMED: see simulator.ts TOKEN_ERRORS). */
export function isVolcengineTokenExpired(code: string): boolean {
  return code === 'SessionTokenExpired';
}

export type VolcengineCredentials = KeysOrSource<VolcengineKeys>;

export interface VolcengineKeys {
  accessKeyId: string;
  secretAccessKey: string;
  /** VOLCENGINE_SESSION_TOKEN: the token of an STS key. */
  securityToken?: string;
}

const ACTION = 'RebootInstances';
const MAX_CLIENT_TOKEN = 64;

/** ClientToken allows at most 64 ASCII characters; longer or non-ASCII keys are hashed so the token stays stable. */
export function clientTokenFor(idempotencyKey: string): string {
  return isValidToken(idempotencyKey) ? idempotencyKey : sha256Hex(idempotencyKey);
}

function isValidToken(token: string): boolean {
  return token.length > 0 && token.length <= MAX_CLIENT_TOKEN && /^[\x21-\x7e]+$/.test(token);
}

/**
 * Round 0 uses the batch token. A follow-up round for instances the cloud flow-limited has other
 * parameters, so reusing the token would be answered IdempotentParameterMismatch; it gets its own
 * token, derived so that a restarted job resends exactly the same rounds.
 */
export function roundToken(baseToken: string, round: number): string {
  if (round === 0) return baseToken;
  const suffix = `-r${round}`;
  const stem = baseToken.length + suffix.length <= MAX_CLIENT_TOKEN ? baseToken : sha256Hex(baseToken).slice(0, MAX_CLIENT_TOKEN - suffix.length);
  return stem + suffix;
}

/**
 * The query of one call: exactly the parameters the RebootInstances reference documents, InstanceIds.N, ForceStop and
 * ClientToken (https://www.volcengine.com/docs/6396/101069; volcengine-go-sdk service/ecs/api_reboot_instances.go).
 * Never DryRun: the reference documents none, and a gateway that ignores an unknown parameter would really reboot
 * what was meant as a dry run. Dry runs only read (DescribeInstances, describe.ts).
 */
export function rebootQuery(ids: readonly string[], force: boolean, clientToken: string): QueryPair[] {
  return [
    ['Action', ACTION],
    ['Version', VERSION],
    ...ids.map((id, i): QueryPair => [`InstanceIds.${i + 1}`, id]),
    ['ForceStop', String(force)],
    ['ClientToken', clientToken],
  ];
}

const envelopeSchema = z.object({
  ResponseMetadata: metadataSchema,
  Result: z
    .object({
      OperationDetails: z
        .array(
          z.object({
            InstanceId: z.string(),
            Error: z.object({ Code: z.string(), Message: z.string().optional() }).nullish(),
          }),
        )
        .nullish(),
    })
    .nullish(),
});

/** What one answer means for the ids it was about. */
export type Verdict =
  /** Turned away for rate, so nothing happened: send it again as it is (same token). */
  | { kind: 'retry-request'; code: string; message: string; requestId?: string; afterMs?: number }
  /**
   * An answer that does not say what happened: the cloud may have acted. Sent again with the same ClientToken,
   * which the cloud answers with the first outcome instead of acting twice; unknown if it never says.
   */
  | { kind: 'ambiguous'; what: string; requestId?: string; afterMs?: number }
  /** The whole request failed for good: every id fails with this. */
  | { kind: 'fail-request'; code: string; message: string; requestId?: string }
  /** Per-instance answers; `retryIds` were flow-limited and nothing happened to them. */
  | { kind: 'instances'; outcomes: Map<string, InstanceOutcome>; retryIds: string[] };

/**
 * Turns one HTTP answer into a verdict; pure, so every branch is testable without a network. The ClientToken
 * exists "to avoid duplicated operations when the client retries after an API timeout or an internal server error"
 * (https://www.volcengine.com/docs/6396/101069), so every answer that may hide an action is sent again with it.
 */
export function interpretResponse(
  status: number,
  headers: Record<string, string>,
  text: string,
  ids: readonly string[],
): Verdict {
  const afterMs = retryAfterMs(headers);
  const envelope = envelopeSchema.safeParse(parseJsonOrUndefined(text));
  const parsed = envelope.success ? envelope.data : undefined;
  if (!parsed) {
    const message = `HTTP ${status} answer that is not a Volcengine response`;
    if (status === 429) return { kind: 'retry-request', code: 'UnexpectedResponse', message, afterMs };
    // A 2xx that cannot be read, or a 5xx from a gateway, may follow a cloud that acted.
    if (status >= 500 || isSuccessStatus(status)) return { kind: 'ambiguous', what: message, afterMs };
    return { kind: 'fail-request', code: 'UnexpectedResponse', message };
  }
  const requestId = parsed.ResponseMetadata.RequestId;
  const error = parsed.ResponseMetadata.Error;
  // The gateway can put an error in a 200 answer: the body decides, not the status.
  if (error) {
    const message = error.Message ?? error.Code;
    // A gateway throttle (AccountFlowLimitExceeded is UNCONFIRMED, wire.ts) is harmless to resend: the same ClientToken goes again.
    if (status === 429 || isThrottleCode(error.Code)) return { kind: 'retry-request', code: error.Code, message, requestId, afterMs };
    // 412 IdempotentProcessing: "a previous request with the same client token is still in process" (same page),
    // i.e. an earlier send of this batch is being carried out right now.
    // 500 InternalError (same page) and any other 5xx do not say the cloud did nothing.
    if (status === 412 || error.Code === 'IdempotentProcessing' || status >= 500 || error.Code === 'InternalError') {
      return { kind: 'ambiguous', what: `HTTP ${status} ${error.Code}: ${message}`, requestId, afterMs };
    }
    return { kind: 'fail-request', code: error.Code, message, requestId };
  }
  const details = parsed.Result?.OperationDetails;
  if (!isSuccessStatus(status) || !details) {
    const message = `HTTP ${status} answer without an error or OperationDetails`;
    if (status === 429) return { kind: 'retry-request', code: 'UnexpectedResponse', message, requestId, afterMs };
    if (status >= 500 || isSuccessStatus(status)) return { kind: 'ambiguous', what: message, requestId, afterMs };
    return { kind: 'fail-request', code: 'UnexpectedResponse', message, requestId };
  }
  return instanceVerdict(details, ids, requestId);
}

type OperationDetail = { InstanceId: string; Error?: { Code: string; Message?: string } | null };

/**
 * A per-instance error that settles nothing: FlowLimitExceeded turned that instance away for rate, so it was not
 * touched; InternalError ("internal error, please retry", https://www.volcengine.com/docs/6396/101069) does not say
 * the instance was left alone. Any other code is the cloud's refusal of that instance.
 */
function instanceAnswer(code: string): ResendAnswer | undefined {
  if (isThrottleCode(code)) return 'throttled';
  return code === 'InternalError' ? 'ambiguous' : undefined;
}

function instanceVerdict(details: readonly OperationDetail[], ids: readonly string[], requestId: string | undefined): Verdict {
  const byId = new Map<string, OperationDetail>();
  for (const detail of details) if (!byId.has(detail.InstanceId)) byId.set(detail.InstanceId, detail);
  const outcomes = new Map<string, InstanceOutcome>();
  const retryIds: string[] = [];
  for (const id of ids) {
    const detail = byId.get(id);
    // An entry without Error is a success. A missing entry is read the same way (UNCONFIRMED): the reference's
    // example only shows failed entries, so a cloud that lists failures alone must not turn every success into a failure.
    if (!detail?.Error) {
      outcomes.set(id, detail ? { id, status: 'succeeded' } : { id, status: 'succeeded', detail: 'not listed in OperationDetails; accepted with the request' });
      continue;
    }
    const { Code: code, Message: message } = detail.Error;
    const answer = instanceAnswer(code);
    // A follow-up round carries a new ClientToken (roundToken), which would not stop a second reboot: resendSafe is false.
    const again = answer !== undefined && mayResend({ answer, changesNothing: false, resendSafe: false });
    if (answer === 'ambiguous' && !again) {
      const ref = requestId ? `, RequestId ${requestId}` : '';
      outcomes.set(id, unknownOutcome(id, `${code} for this instance (${message ?? code}${ref}); the instance may or may not be rebooting — check it in the console`));
      continue;
    }
    // An empty RequestId is left out of Volcengine outcomes, as no RequestId is.
    outcomes.set(id, failedOutcome(id, code, message ?? code, requestId || undefined));
    if (again) retryIds.push(id);
  }
  // Per-instance throttling does not pass through resendVerdict: one answer counts once (src/providers/call-watch.ts).
  if ([...byId.values()].some((d) => d.Error && isThrottleCode(d.Error.Code))) reportToWatch((w) => w.throttled());
  return { kind: 'instances', outcomes, retryIds };
}

/** `cause` completes "request sent but …", e.g. "no answer (network error ECONNRESET)". */
function unknownReason(cause: string, attempts: number): string {
  return `request sent but ${cause} after ${plural(attempts, 'attempt')} with the same ClientToken; the instance may or may not be rebooting — check it in the console`;
}

/**
 * The client's own calls, before the guard wraps them. Exported so tests can see what the guard is handed, e.g.
 * the reboot's serverTime.
 */
export function volcengineCalls(options: ClientOptions<VolcengineCredentials>): GuardedCalls {
  const sleep = options.sleep ?? realSleep;
  const source = volcengineSource(options.credentials);
  // Credentials are asked for at every request, so a rotated key or token is used from the next request on.
  const signerFor = (region: string): RequestSigner =>
    perRequestSigner(source, ({ keyId, secret, token }) =>
      createVolcengineSigner({
        credentials: { accessKeyId: keyId, secretAccessKey: secret, ...(token === undefined ? {} : { securityToken: token }) },
        region,
        service: SERVICE,
        ...(options.now ? { now: options.now } : {}),
      }),
    );
  const origin = (region: string): string => volcengineEndpoint(region, options.endpoint);

  async function reboot(call: RebootCall, scope: CallScope): Promise<BatchResult> {
    const { ids } = call;
    const signer = scope.track(signerFor(call.region));
    const baseToken = clientTokenFor(call.idempotencyKey);
    const settled = new Map<string, InstanceOutcome>();
    let pending: readonly string[] = ids;
    let round = 0;
    let ambiguousAttempts = 0;
    let ambiguousCause = '';
    let serverTime: number | undefined;

    const snapshot = (forPending: (id: string) => InstanceOutcome): InstanceOutcome[] =>
      ids.map((id) => (pending.includes(id) ? forPending(id) : (settled.get(id) ?? forPending(id))));

    // Once a send of this round may have reached the cloud, a later refusal of a resend does not prove
    // that nothing happened: only an answer about the instances (or the token's replay) settles them.
    const requestFailure = (id: string, code: string, message: string, requestId?: string): InstanceOutcome =>
      ambiguousAttempts > 0
        ? unknownOutcome(id, `${unknownReason(ambiguousCause, ambiguousAttempts)} (the last attempt was answered ${code}: ${message})`)
        : failedOutcome(id, code, message, requestId || undefined);

    // The same round resends the same query with the same ClientToken: that is what volcengineInfo.resendSafe vouches for.
    const evidence = (answer: ResendAnswer): ResendEvidence => ({ answer, changesNothing: false, resendSafe: volcengineInfo.resendSafe });

    const attempt = async (): Promise<AttemptResult<InstanceOutcome[]>> => {
      const token = roundToken(baseToken, round);
      let answer: HttpResponse;
      try {
        answer = await sendSigned(signer, origin(call.region), rebootQuery(pending, call.force, token), options.timeoutMs);
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        if (err.phase === 'not-sent') return resendVerdict(evidence('not-sent'), snapshot((id) => requestFailure(id, err.code, err.message)));
        // What is still unanswered when the attempts run out is unknown.
        ambiguousAttempts += 1;
        ambiguousCause = `no answer (network error ${err.code})`;
        return resendVerdict(evidence('ambiguous'), snapshot((id) => unknownOutcome(id, unknownReason(ambiguousCause, ambiguousAttempts))));
      }
      const verdict = interpretResponse(answer.status, answer.headers, answer.text, pending);
      switch (verdict.kind) {
        case 'retry-request':
          return resendVerdict(evidence('throttled'), snapshot((id) => requestFailure(id, verdict.code, verdict.message, verdict.requestId)), verdict.afterMs);
        case 'ambiguous': {
          ambiguousAttempts += 1;
          const ref = verdict.requestId ? `, RequestId ${verdict.requestId}` : '';
          ambiguousCause = `an answer that does not say what happened (${verdict.what}${ref})`;
          return resendVerdict(
            evidence('ambiguous'),
            snapshot((id) => unknownOutcome(id, unknownReason(ambiguousCause, ambiguousAttempts))),
            verdict.afterMs,
          );
        }
        case 'fail-request':
          return { final: snapshot((id) => requestFailure(id, verdict.code, verdict.message, verdict.requestId)) };
        case 'instances': {
          for (const [id, outcome] of verdict.outcomes) settled.set(id, outcome);
          // The cloud's clock when it accepted: the Date of the last answer that accepted an instance. A later round, or a
          // replay of the token's first answer, can only make it later than the real acceptance: a time field seen past it
          // moved after the reboot call for sure (never a false proof, at worst a reboot left unproven).
          if ([...verdict.outcomes.values()].some((o) => o.status === 'succeeded')) serverTime = serverTimeOf(answer.headers) ?? serverTime;
          // Only ids whose answer mayResend allowed to go again (instanceVerdict) make a follow-up round.
          pending = verdict.retryIds;
          const unsettled = (id: string): InstanceOutcome => unknownOutcome(id, 'no outcome recorded for this instance; check it in the console');
          if (pending.length === 0) return { final: snapshot(unsettled) };
          round += 1;
          ambiguousAttempts = 0;
          return { retry: snapshot((id) => settled.get(id) ?? unsettled(id)) };
        }
      }
    };

    // A throw here (a bug, not a cloud answer) is left to the guard, which reports every id unknown.
    const outcomes = await withRetries(attempt, options.retry, sleep);
    return serverTime === undefined ? { outcomes } : { outcomes, serverTime };
  }

  const describe = createDescribe({ signerFor, origin, timeoutMs: options.timeoutMs, retry: options.retry, sleep });
  return { reboot, describe };
}

export function createVolcengineProvider(options: ClientOptions<VolcengineCredentials>): Provider {
  // Fail at start-up, not at the first reboot, when the endpoint is unusable.
  if (options.endpoint) volcengineEndpoint('', options.endpoint);
  const source = volcengineSource(options.credentials);
  return guardProvider(volcengineInfo, volcengineCalls({ ...options, credentials: { source } }), {
    secrets: [],
    credentials: source,
    isTokenExpired: isVolcengineTokenExpired,
    ...(options.onCall ? { onCall: options.onCall } : {}),
  });
}

function volcengineSource(credentials: VolcengineCredentials): CredentialSource {
  return sourceOf(credentials, (k) => withToken(k.accessKeyId, k.secretAccessKey, k.securityToken));
}

