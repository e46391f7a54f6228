/**
 * Baidu AI Cloud BCC reboot client: one documented call per instance, `PUT /v2/instance/{id}?reboot`
 * (https://intl.cloud.baidu.com/doc/BCC/s/vjwvyoa62-en); the batch endpoint known only from bce-sdk-go
 * (services/bcc/api/instance.go, BatchRebootInstance) is deliberately not used. BCC has no idempotency token, so
 * under the guard's resend rule (guard.ts) a reboot whose answer was lost, failed with a 5xx or cannot be read is
 * reported as 'unknown', never resent.
 * Dry run has no native form: it reads the instance (`GET /v2/instance/{id}`) and predicts the answer.
 */
import { errorMessage } from '../../errors.js';
import { z } from 'zod';
import { guardProvider, resendVerdict, type CallScope, type ResendAnswer, type ResendEvidence } from '../guard.js';
import { retryAfterMs, sendHttp, TransportError, type HttpResponse } from '../http.js';
import { failAll, failedOutcome, parseJsonOrUndefined, unknownOutcome } from '../outcomes.js';
import type { BatchResult, ClientOptions, InstanceOutcome, Provider, RebootCall } from '../provider.js';
import { realSleep, withRetries, type AttemptResult } from '../retry.js';
import { rfc3986, type RequestSigner } from '../signing.js';
import { baiduInfo } from './info.js';
import { createBaiduSigner } from './signer.js';

export interface BaiduCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

// Region codes are short (bj, gz, fwh…); anything else could smuggle a different host into the URL.
const REGION = /^[a-z][a-z0-9-]{0,31}$/;

/** Base URL for a region: https://bcc.<region>.baidubce.com, or the override's scheme, host and port. */
export function baiduEndpoint(region: string, override?: string): string {
  if (override !== undefined && override !== '') return new URL(override).origin;
  if (!REGION.test(region)) throw new Error(`invalid Baidu region "${region}"`);
  return `https://bcc.${region}.baidubce.com`;
}

const CONTENT_TYPE = 'application/json;charset=utf-8';
const FORBIDDEN = 'Instance.RebootInstanceOperationForbidden';
const MAX_MESSAGE = 500;

const ErrorBody = z.object({
  requestId: z.string().optional(),
  code: z.string().min(1),
  message: z.string().optional(),
});
type ErrorBody = z.infer<typeof ErrorBody>;

// The reboot page promises an empty body; bce-sdk-go (services/bcc/api/model.go) parses this optional shape, so accept it too.
const RebootAccepted = z.object({
  requestId: z.string().optional(),
  failedInstanceIdList: z.array(z.string()).optional(),
});

const InstanceDetail = z.object({
  instance: z.object({ id: z.string(), status: z.string().min(1), name: z.string().optional() }),
});

type Verdict = AttemptResult<InstanceOutcome>;
type Method = 'GET' | 'PUT';

/** An unsettled answer as evidence for the guard's resend rule: the status read changes nothing, the PUT has no token. */
function evidence(answer: ResendAnswer, method: Method): ResendEvidence {
  return { answer, changesNothing: method === 'GET', resendSafe: baiduInfo.resendSafe };
}

export function createBaiduProvider(options: ClientOptions<BaiduCredentials>): Provider {
  const sleep = options.sleep ?? realSleep;

  async function reboot(call: RebootCall, scope: CallScope): Promise<BatchResult> {
    let origin: string;
    try {
      origin = baiduEndpoint(call.region, options.endpoint);
    } catch (err) {
      const message = errorMessage(err);
      return { outcomes: failAll(call.ids, 'InvalidEndpoint', message) };
    }
    const signer = scope.track(createBaiduSigner({ credentials: options.credentials, ...(options.now ? { now: options.now } : {}) }));
    // The guard hands over at most baiduInfo.maxBatch (1) ids: one PUT or GET each.
    const outcomes = await Promise.all(
      call.ids.map((id) => (call.dryRun ? checkOne(signer, origin, id) : rebootOne(signer, origin, id, call.force))),
    );
    return { outcomes };
  }

  function rebootOne(signer: RequestSigner, origin: string, id: string, force: boolean): Promise<InstanceOutcome> {
    const body = JSON.stringify({ forceStop: force });
    return runAttempts(signer, id, 'PUT', origin, body, (res) => rebootVerdict(id, res));
  }

  function checkOne(signer: RequestSigner, origin: string, id: string): Promise<InstanceOutcome> {
    return runAttempts(signer, id, 'GET', origin, undefined, (res) => checkVerdict(id, res));
  }

  /** Signs every attempt afresh: a new timestamp, so a RequestExpired retry can succeed. */
  async function runAttempts(
    signer: RequestSigner,
    id: string,
    method: Method,
    origin: string,
    body: string | undefined,
    judge: (res: HttpResponse) => Verdict,
  ): Promise<InstanceOutcome> {
    let expiredRetried = false;
    return withRetries<InstanceOutcome>(
      async () => {
        const signed = signer.sign({
          method,
          origin,
          path: `/v2/instance/${rfc3986(id)}`,
          query: method === 'PUT' ? [['reboot', '']] : [],
          headers: body === undefined ? {} : { 'content-type': CONTENT_TYPE },
          ...(body === undefined ? {} : { body }),
        });
        let res: HttpResponse;
        try {
          res = await sendHttp({ ...signed, timeoutMs: options.timeoutMs });
        } catch (err) {
          return transportVerdict(id, method, err);
        }
        const verdict = judge(res);
        // RequestExpired gets one retry (bce-sdk-go bce/retry.go retries it too): a fresh timestamp cures a slow
        // queue, while a wrong clock fails again at once instead of burning the whole policy.
        if ('final' in verdict && isCode(verdict.final, 'RequestExpired') && !expiredRetried) {
          expiredRetried = true;
          return resendVerdict(evidence('unauthenticated', method), verdict.final);
        }
        return verdict;
      },
      options.retry,
      sleep,
    );
  }

  return guardProvider(baiduInfo, { reboot }, { secrets: [options.credentials.secretAccessKey], ...(options.onCall ? { onCall: options.onCall } : {}) });
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
        evidence('ambiguous', 'PUT'),
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
  return errorVerdict(id, res, 'PUT');
}

/** Dry run: a real reboot needs Running, anything else would get the 409 below. */
function checkVerdict(id: string, res: HttpResponse): Verdict {
  if (res.status === 200) {
    const parsed = InstanceDetail.safeParse(parseJsonOrUndefined(res.text));
    if (!parsed.success || parsed.data.instance.id !== id) return { final: unexpected(id, res) };
    const status = parsed.data.instance.status;
    if (status === 'Running') return { final: { id, status: 'checked', detail: 'would reboot (Running)' } };
    return { final: failedOutcome(id, FORBIDDEN, `instance is ${status}; a real run would be refused`, requestIdOf(res)) };
  }
  return errorVerdict(id, res, 'GET');
}

/**
 * BCC documents no throttling code (common errors, https://cloud.baidu.com/doc/BCC/s/Ojwvyo6nc), so HTTP 429 is
 * the throttle signal (RFC 6585 §4; UNCONFIRMED for BCC). A 5xx does not prove BCC did nothing, even with a BCC
 * body: InternalError is "an internal error, please try again" (same page), which says nothing of the reboot, and
 * the PUT carries no token that would make a resend harmless (https://intl.cloud.baidu.com/doc/BCC/s/vjwvyoa62-en).
 * bce-sdk-go bce/retry.go resends 500/502/503 all the same; the resend rule does not, so for the PUT a 5xx is
 * 'unknown', while a status read changes nothing and is asked again.
 */
function errorVerdict(id: string, res: HttpResponse, method: Method): Verdict {
  const parsed = ErrorBody.safeParse(parseJsonOrUndefined(res.text));
  const body = parsed.success ? parsed.data : undefined;
  if (res.status === 429) return resendVerdict(evidence('throttled', method), failed(id, res, body, 'TooManyRequests'), retryAfterMs(res.headers));
  if (res.status >= 500) {
    if (method === 'GET') return resendVerdict(evidence('ambiguous', method), failed(id, res, body, `HTTP${res.status}`), retryAfterMs(res.headers));
    const ref = requestIdOf(res, body?.requestId);
    const said = body
      ? `BCC answered HTTP ${res.status} ${body.code} (${truncate(body.message || 'no message')}${ref ? `, request ${ref}` : ''})`
      : `HTTP ${res.status} without a BCC error body`;
    return resendVerdict(evidence('ambiguous', method), unknownOutcome(id, `${said}; the instance may or may not be rebooting — check it in the console`));
  }
  if (res.status >= 400 && body) return { final: failed(id, res, body, body.code) };
  return { final: unexpected(id, res) };
}

function transportVerdict(id: string, method: Method, err: unknown): Verdict {
  // Not a network failure but a bug: the guard reports it unknown, as it may come after the request left.
  if (!(err instanceof TransportError)) throw err;
  if (err.phase === 'not-sent') return resendVerdict(evidence('not-sent', method), failedOutcome(id, err.code, err.message));
  const lost =
    method === 'GET'
      ? failedOutcome(id, err.code, `no answer to the status check (${err.message})`)
      : unknownOutcome(id, `request sent but no answer (network error ${err.code}); the instance may or may not be rebooting — check it in the console`);
  return resendVerdict(evidence('ambiguous', method), lost);
}

/** A BCC error body as an outcome; without a body, `fallbackCode` and the HTTP status stand in. */
function failed(id: string, res: HttpResponse, body: ErrorBody | undefined, fallbackCode: string): InstanceOutcome {
  return failedOutcome(id, body?.code ?? fallbackCode, truncate(body?.message || `HTTP ${res.status} from BCC`), requestIdOf(res, body?.requestId));
}

function unexpected(id: string, res: HttpResponse): InstanceOutcome {
  return failedOutcome(id, 'UnexpectedResponse', `HTTP ${res.status} with a response body BCC does not document`, requestIdOf(res));
}

/** The body's request id, else the x-bce-request-id header; an empty one counts as none. */
function requestIdOf(res: HttpResponse, fromBody?: string): string | undefined {
  return (fromBody ?? res.headers['x-bce-request-id']) || undefined;
}

function isCode(outcome: InstanceOutcome, code: string): boolean {
  return outcome.status === 'failed' && outcome.code === code;
}

function truncate(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}
