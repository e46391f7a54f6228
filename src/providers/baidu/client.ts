/**
 * Baidu AI Cloud BCC client. Reboot: one documented call per instance, `PUT /v2/instance/{id}?reboot`
 * (https://intl.cloud.baidu.com/doc/BCC/s/vjwvyoa62-en); the batch endpoint known only from bce-sdk-go
 * (services/bcc/api/instance.go, BatchRebootInstance) is deliberately not used. BCC has no idempotency token, so
 * under the guard's resend rule (guard.ts) a reboot whose answer was lost, failed with a 5xx or cannot be read is
 * reported as 'unknown', never resent. BCC has no server-side dry run: the runner reads state with `describe`
 * (describe.ts) instead.
 */
import { errorMessage } from '../../errors.js';
import { z } from 'zod';
import { perRequestSigner, sourceOf, withToken, type CredentialSource, type KeysOrSource } from '../credentials.js';
import { guardProvider, resendVerdict, type CallScope, type GuardedCalls, type ResendAnswer, type ResendEvidence } from '../guard.js';
import { retryAfterMs, sendHttp, serverTimeOf, TransportError, type HttpResponse } from '../http.js';
import { failAll, failedOutcome, parseJsonOrUndefined, unknownOutcome } from '../outcomes.js';
import type { BatchResult, ClientOptions, DescribeCall, DescribeResult, InstanceOutcome, Provider, RebootCall } from '../provider.js';
import { realSleep, withRetries, type AttemptResult } from '../retry.js';
import { rfc3986, type RequestSigner } from '../signing.js';
import { describeInstances } from './describe.js';
import { baiduInfo } from './info.js';
import { createBaiduSigner } from './signer.js';
import { baiduEndpoint, CONTENT_TYPE, ErrorBody, requestIdOf, truncate } from './wire.js';

export { baiduEndpoint } from './wire.js';

export interface BaiduKeys {
  accessKeyId: string;
  secretAccessKey: string;
  /** BCE_SESSION_TOKEN: the token of an STS key. */
  securityToken?: string;
}

export type BaiduCredentials = KeysOrSource<BaiduKeys>;

/** BCE's answer to an expired session token (UNCONFIRMED: see simulator.ts TOKEN_ERRORS). */
export function isBaiduTokenExpired(code: string): boolean {
  return code === 'SessionTokenExpired';
}

function baiduSource(credentials: BaiduCredentials): CredentialSource {
  return sourceOf(credentials, (k) => withToken(k.accessKeyId, k.secretAccessKey, k.securityToken));
}

// The reboot page promises an empty body; bce-sdk-go (services/bcc/api/model.go) parses this optional shape, so accept it too.
const RebootAccepted = z.object({
  requestId: z.string().optional(),
  failedInstanceIdList: z.array(z.string()).optional(),
});

type Verdict = AttemptResult<InstanceOutcome>;

/** An unsettled answer to the reboot PUT as evidence for the guard's resend rule: it changes state and has no token. */
function evidence(answer: ResendAnswer): ResendEvidence {
  return { answer, changesNothing: false, resendSafe: baiduInfo.resendSafe };
}

export function createBaiduProvider(options: ClientOptions<BaiduCredentials>): Provider {
  const source = baiduSource(options.credentials);
  return guardProvider(baiduInfo, baiduCalls({ ...options, credentials: { source } }), {
    secrets: [],
    credentials: source,
    isTokenExpired: isBaiduTokenExpired,
    ...(options.onCall ? { onCall: options.onCall } : {}),
  });
}

/** The client's own calls, before the guard wraps them (exported so tests can see what the client itself returns). */
export function baiduCalls(options: ClientOptions<BaiduCredentials>): GuardedCalls {
  const sleep = options.sleep ?? realSleep;
  const source = baiduSource(options.credentials);
  // Credentials are asked for at every request, so a rotated key or token is used from the next request on.
  const signerFor = (scope: CallScope): RequestSigner =>
    scope.track(
      perRequestSigner(source, ({ keyId, secret, token }) =>
        createBaiduSigner({
          credentials: { accessKeyId: keyId, secretAccessKey: secret, ...(token === undefined ? {} : { securityToken: token }) },
          ...(options.now ? { now: options.now } : {}),
        }),
      ),
    );

  async function reboot(call: RebootCall, scope: CallScope): Promise<BatchResult> {
    let origin: string;
    try {
      origin = baiduEndpoint(call.region, options.endpoint);
    } catch (err) {
      const message = errorMessage(err);
      return { outcomes: failAll(call.ids, 'InvalidEndpoint', message) };
    }
    const signer = signerFor(scope);
    // The guard hands over at most baiduInfo.maxBatch (1) ids: one PUT each.
    const results = await Promise.all(call.ids.map((id) => rebootOne(signer, origin, id, call.force)));
    const outcomes = results.map((r) => r.outcome);
    // The cloud's clock when it accepted: with one id per call there is at most one accepting answer.
    const serverTime = results.find((r) => r.acceptedAt !== undefined)?.acceptedAt;
    return serverTime === undefined ? { outcomes } : { outcomes, serverTime };
  }

  async function describe(call: DescribeCall, scope: CallScope): Promise<DescribeResult> {
    let origin: string;
    try {
      origin = baiduEndpoint(call.region, options.endpoint);
    } catch (err) {
      return { kind: 'error', code: 'InvalidEndpoint', message: errorMessage(err), throttled: false };
    }
    return describeInstances(call.ids, { signer: signerFor(scope), origin, retry: options.retry, timeoutMs: options.timeoutMs, sleep });
  }

  /** Signs every attempt afresh: a new timestamp, so a RequestExpired retry can succeed. */
  async function rebootOne(signer: RequestSigner, origin: string, id: string, force: boolean): Promise<{ outcome: InstanceOutcome; acceptedAt?: number }> {
    const body = JSON.stringify({ forceStop: force });
    let expiredRetried = false;
    let acceptedAt: number | undefined;
    const outcome = await withRetries<InstanceOutcome>(
      async () => {
        const signed = signer.sign({
          method: 'PUT',
          origin,
          path: `/v2/instance/${rfc3986(id)}`,
          query: [['reboot', '']],
          headers: { 'content-type': CONTENT_TYPE },
          body,
        });
        let res: HttpResponse;
        try {
          res = await sendHttp({ ...signed, timeoutMs: options.timeoutMs });
        } catch (err) {
          return transportVerdict(id, err);
        }
        const verdict = rebootVerdict(id, res);
        if ('final' in verdict && verdict.final.status === 'succeeded') acceptedAt = serverTimeOf(res.headers);
        // RequestExpired gets one retry (bce-sdk-go bce/retry.go retries it too): a fresh timestamp cures a slow
        // queue, while a wrong clock fails again at once instead of burning the whole policy.
        if ('final' in verdict && isCode(verdict.final, 'RequestExpired') && !expiredRetried) {
          expiredRetried = true;
          return resendVerdict(evidence('unauthenticated'), verdict.final);
        }
        return verdict;
      },
      options.retry,
      sleep,
    );
    return acceptedAt === undefined ? { outcome } : { outcome, acceptedAt };
  }

  return { reboot, describe };
}

/**
 * 200 with no body means BCC accepted the reboot: the instance goes Running → Starting
 * (https://intl.cloud.baidu.com/doc/BCC/s/vjwvyoa62-en). Any other 2xx, or a 200 whose body cannot be read,
 * may come from a BCC that acted: UNCONFIRMED either way, so unknown, never failed.
 */
function rebootVerdict(id: string, res: HttpResponse): Verdict {
  if (res.status >= 200 && res.status < 300) {
    if (res.status === 200 && res.text.trim() === '') return { final: { id, status: 'succeeded', detail: 'Running → Starting' } };
    const parsed = RebootAccepted.safeParse(parseJsonOrUndefined(res.text));
    if (res.status !== 200 || !parsed.success) {
      const ref = requestIdOf(res);
      return resendVerdict(
        evidence('ambiguous'),
        unknownOutcome(
          id,
          `UnexpectedResponse: HTTP ${res.status} with a body BCC does not document${ref ? ` (request ${ref})` : ''}; the instance may or may not be rebooting — check it in the console`,
        ),
      );
    }
    if (parsed.data.failedInstanceIdList?.includes(id)) {
      return { final: failedOutcome(id, 'RebootFailed', 'BCC listed this instance in failedInstanceIdList', requestIdOf(res, parsed.data.requestId)) };
    }
    return { final: { id, status: 'succeeded', detail: 'Running → Starting' } };
  }
  return errorVerdict(id, res);
}

/**
 * BCC documents no throttling code (common errors, https://cloud.baidu.com/doc/BCC/s/Ojwvyo6nc), so HTTP 429 is
 * the throttle signal (RFC 6585 §4; UNCONFIRMED for BCC). A 5xx does not prove BCC did nothing, even with a BCC
 * body: InternalError is "an internal error, please try again" (same page), which says nothing of the reboot, and
 * the PUT carries no token that would make a resend harmless (https://intl.cloud.baidu.com/doc/BCC/s/vjwvyoa62-en).
 * bce-sdk-go bce/retry.go resends 500/502/503 all the same; the resend rule does not, so a 5xx is 'unknown'.
 */
function errorVerdict(id: string, res: HttpResponse): Verdict {
  const parsed = ErrorBody.safeParse(parseJsonOrUndefined(res.text));
  const body = parsed.success ? parsed.data : undefined;
  if (res.status === 429) return resendVerdict(evidence('throttled'), failed(id, res, body, 'TooManyRequests'), retryAfterMs(res.headers));
  if (res.status >= 500) {
    const ref = requestIdOf(res, body?.requestId);
    const said = body
      ? `BCC answered HTTP ${res.status} ${body.code} (${truncate(body.message || 'no message')}${ref ? `, request ${ref}` : ''})`
      : `HTTP ${res.status} without a BCC error body`;
    return resendVerdict(evidence('ambiguous'), unknownOutcome(id, `${said}; the instance may or may not be rebooting — check it in the console`));
  }
  if (res.status >= 400 && body) return { final: failed(id, res, body, body.code) };
  return { final: failedOutcome(id, 'UnexpectedResponse', `HTTP ${res.status} with a response body BCC does not document`, requestIdOf(res)) };
}

function transportVerdict(id: string, err: unknown): Verdict {
  // Not a network failure but a bug: the guard reports it unknown, as it may come after the request left.
  if (!(err instanceof TransportError)) throw err;
  if (err.phase === 'not-sent') return resendVerdict(evidence('not-sent'), failedOutcome(id, err.code, err.message));
  const lost = unknownOutcome(id, `request sent but no answer (network error ${err.code}); the instance may or may not be rebooting — check it in the console`);
  return resendVerdict(evidence('ambiguous'), lost);
}

/** A BCC error body as an outcome; without a body, `fallbackCode` and the HTTP status stand in. */
function failed(id: string, res: HttpResponse, body: ErrorBody | undefined, fallbackCode: string): InstanceOutcome {
  return failedOutcome(id, body?.code ?? fallbackCode, truncate(body?.message || `HTTP ${res.status} from BCC`), requestIdOf(res, body?.requestId));
}

function isCode(outcome: InstanceOutcome, code: string): boolean {
  return outcome.status === 'failed' && outcome.code === code;
}
