/**
 * Alibaba Cloud ECS `RebootInstances` (2014-05-26) over undici, signed with ACS3-HMAC-SHA256.
 * BatchOptimization=SuccessFirst makes ECS answer per instance instead of failing the whole batch
 * for one bad id. The API has no idempotency token, so an answer lost in transit is never resent.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { retryAfterMs, sendHttp, TransportError, type HttpResponse } from '../http.js';
import { failAll, failedOutcome, parseJsonOrUndefined, redactSecrets, unknownAll, unknownOutcome } from '../outcomes.js';
import type { BatchResult, ClientOptions, InstanceOutcome, Provider, RebootCall } from '../provider.js';
import { retryVerdict, withRetries, type AttemptResult } from '../retry.js';
import { hostHeader, isoSeconds, sha256Hex } from '../signing.js';
import { alibabaInfo } from './info.js';
import { canonicalQueryString, sign, type QueryPair } from './signer.js';

export interface AlibabaCredentials {
  accessKeyId: string;
  accessKeySecret: string;
}

export const ECS_ACTION = 'RebootInstances';
export const ECS_VERSION = '2014-05-26';

const REGION = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * Base URL (no trailing slash) for a region. An override replaces scheme, host and port for every
 * region; its path, if any, is ignored because RPC-style ECS calls always go to `/`.
 */
export function alibabaEndpoint(region: string, override?: string): string {
  if (override !== undefined && override !== '') return new URL(override).origin;
  return `https://ecs.${region}.aliyuncs.com`;
}

/** The RPC parameters of one reboot call, unsorted; the signer orders them. */
export function rebootQueryPairs(call: Pick<RebootCall, 'region' | 'force' | 'dryRun'>, ids: readonly string[]): QueryPair[] {
  return [
    ['RegionId', call.region],
    ...ids.map((id, i): QueryPair => [`InstanceId.${i + 1}`, id]),
    ['ForceReboot', String(call.force)],
    ['DryRun', String(call.dryRun)],
    ['BatchOptimization', 'SuccessFirst'],
  ];
}

const InstanceResponseSchema = z.object({
  InstanceId: z.string(),
  Code: z.string(),
  Message: z.string().optional(),
  PreviousStatus: z.string().optional(),
  CurrentStatus: z.string().optional(),
});

const SuccessSchema = z.object({
  RequestId: z.string().optional(),
  InstanceResponses: z.object({ InstanceResponse: z.array(InstanceResponseSchema) }),
});

const ErrorSchema = z.object({
  Code: z.string().min(1),
  Message: z.string().optional(),
  RequestId: z.string().optional(),
  HostId: z.string().optional(),
  Recommend: z.string().optional(),
});

type ApiError = z.infer<typeof ErrorSchema>;
type InstanceResponse = z.infer<typeof InstanceResponseSchema>;

/**
 * Throttling, Throttling.User, Throttling.Api: ECS turned the call away for rate, before touching any instance,
 * and takes it again in the next minute (https://www.alibabacloud.com/help/doc-detail/437902.htm). They come with
 * HTTP 400 as well as 429 (https://developer.aliyun.com/ask/128391), hence the match by code.
 */
export function isThrottlingCode(code: string): boolean {
  return code.startsWith('Throttling');
}

/**
 * InternalError (500, "failed due to some unknown error", RebootInstances reference:
 * https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances) and
 * ServiceUnavailable (503) do not say ECS did nothing: Alibaba's idempotence guide has clients resend after exactly
 * these two with a ClientToken so that the resend cannot act twice (https://www.alibabacloud.com/help/doc-detail/25693.htm),
 * and RebootInstances takes no ClientToken (alibabacloud-typescript-sdk ecs-20140526/src/models/RebootInstancesRequest.ts).
 */
export function isServerFaultCode(code: string): boolean {
  return code === 'InternalError' || code === 'ServiceUnavailable';
}

export function createAlibabaProvider(options: ClientOptions<AlibabaCredentials>): Provider {
  const now = options.now ?? (() => new Date());
  const { accessKeyId, accessKeySecret } = options.credentials;

  async function reboot(call: RebootCall): Promise<BatchResult> {
    const ids = [...new Set(call.ids)];
    if (ids.length === 0) return { outcomes: [] };
    if (ids.length > alibabaInfo.maxBatch) {
      return {
        outcomes: failAll(ids, 'TooManyInstances', `Alibaba ECS accepts at most ${alibabaInfo.maxBatch} instance ids per call, got ${ids.length}; nothing was sent`),
      };
    }
    if (!REGION.test(call.region)) {
      return { outcomes: failAll(ids, 'InvalidRegion', `"${call.region}" is not a region id; nothing was sent`) };
    }
    const url = new URL(alibabaEndpoint(call.region, options.endpoint));
    const query = rebootQueryPairs(call, ids);
    const outcomes = await withRetries((_n) => attempt(url, query, ids), options.retry, options.sleep);
    return { outcomes };
  }

  async function attempt(base: URL, query: readonly QueryPair[], ids: string[]): Promise<AttemptResult<InstanceOutcome[]>> {
    const body = '';
    const headers: Record<string, string> = {
      host: hostHeader(base),
      'x-acs-action': ECS_ACTION,
      'x-acs-version': ECS_VERSION,
      'x-acs-date': isoSeconds(now()),
      'x-acs-signature-nonce': randomBytes(16).toString('hex'),
      'x-acs-content-sha256': sha256Hex(body),
    };
    const signed = sign({ method: 'POST', path: '/', query, headers, hashedPayload: headers['x-acs-content-sha256'] ?? '', accessKeyId, accessKeySecret });
    headers['authorization'] = signed.authorization;
    const redact = (text: string): string => redactSecrets(text, [accessKeySecret, signed.signature]);
    let res: HttpResponse;
    try {
      res = await sendHttp({
        method: 'POST',
        // The query string is exactly the canonical one we signed; URL/URLSearchParams would re-encode it.
        url: new URL(`${base.origin}/?${canonicalQueryString(query)}`),
        headers,
        body,
        timeoutMs: options.timeoutMs,
      });
    } catch (err) {
      return transportVerdict(err, ids);
    }
    return interpret(res, ids, redact);
  }

  return { info: alibabaInfo, reboot };
}

function transportVerdict(err: unknown, ids: string[]): AttemptResult<InstanceOutcome[]> {
  const code = err instanceof TransportError ? err.code : 'UNKNOWN';
  if (err instanceof TransportError && err.phase === 'not-sent') {
    return { retry: failAll(ids, code, err.message) };
  }
  // RebootInstances has no idempotency token: resending could reboot twice.
  return { final: unknownAll(ids, `request sent but no answer (network error ${code}); the instance may or may not be rebooting — check it in the console`) };
}

function interpret(res: HttpResponse, ids: string[], redact: (s: string) => string): AttemptResult<InstanceOutcome[]> {
  const json = parseJsonOrUndefined(res.text);
  if (res.status >= 200 && res.status < 300) {
    const ok = SuccessSchema.safeParse(json);
    if (ok.success) return { final: perInstance(ids, ok.data.InstanceResponses.InstanceResponse, ok.data.RequestId, redact) };
    const err = ErrorSchema.safeParse(json);
    if (err.success) return apiErrorVerdict(err.data, res, ids, redact);
    // ECS accepted the call, so the instances may be rebooting: never report that as a plain failure.
    return {
      final: unknownAll(ids, `UnexpectedResponse: HTTP ${res.status} accepted with a body ECS does not document; the instance may or may not be rebooting — check it in the console`),
    };
  }
  const err = ErrorSchema.safeParse(json);
  if (err.success) return apiErrorVerdict(err.data, res, ids, redact);
  return unparsableErrorVerdict(res, ids);
}

/**
 * ECS's own error body. Only throttling is sent again; a server fault leaves the instances unknown; anything else
 * (a 4xx such as IncorrectInstanceStatus, InvalidInstanceId.NotFound) is ECS refusing the call, so it failed.
 */
function apiErrorVerdict(err: ApiError, res: HttpResponse, ids: string[], redact: (s: string) => string): AttemptResult<InstanceOutcome[]> {
  const message = redact(err.Message ?? `HTTP ${res.status}`);
  if (res.status === 429 || isThrottlingCode(err.Code)) return retryVerdict(failAll(ids, err.Code, message, err.RequestId), retryAfterMs(res.headers));
  // Any 5xx with an ECS body is read like InternalError: no Alibaba page says ECS did nothing before answering it.
  if (res.status >= 500 || isServerFaultCode(err.Code)) {
    const ref = err.RequestId === undefined ? '' : `, RequestId ${err.RequestId}`;
    return {
      final: unknownAll(ids, `ECS answered HTTP ${res.status} ${err.Code} (${message}${ref}), which does not say whether it acted; the instance may or may not be rebooting — check it in the console`),
    };
  }
  return { final: failAll(ids, err.Code, message, err.RequestId) };
}

/**
 * A non-2xx answer without ECS's error body comes from something in front of ECS. A 429 turned the call away
 * for rate (RFC 6585 §4; UNCONFIRMED for Alibaba's gateway, which documents throttling by code only). Any 5xx,
 * 503 included, may hide a request that ECS did receive: UNCONFIRMED either way, so the safe side, unknown.
 */
function unparsableErrorVerdict(res: HttpResponse, ids: string[]): AttemptResult<InstanceOutcome[]> {
  if (res.status === 429) {
    return retryVerdict(failAll(ids, 'HTTP429', 'HTTP 429 without an ECS error body'), retryAfterMs(res.headers));
  }
  if (res.status >= 500) {
    return { final: unknownAll(ids, `HTTP ${res.status} from a gateway without an ECS answer; the instance may or may not be rebooting — check it in the console`) };
  }
  return { final: failAll(ids, 'UnexpectedResponse', `HTTP ${res.status} with a body ECS does not document`) };
}

function perInstance(ids: string[], answers: InstanceResponse[], requestId: string | undefined, redact: (s: string) => string): InstanceOutcome[] {
  const byId = new Map<string, InstanceResponse>();
  for (const answer of answers) if (!byId.has(answer.InstanceId)) byId.set(answer.InstanceId, answer);
  return ids.map((id): InstanceOutcome => {
    const answer = byId.get(id);
    // SuccessFirst promises a result for each instance (RebootInstancesRequest.ts, BatchOptimization); an answer
    // without one does not say whether ECS restarted it, so it cannot be called a refusal.
    if (!answer) {
      const ref = requestId === undefined ? '' : ` (RequestId ${requestId})`;
      return unknownOutcome(id, `MissingFromResponse: ECS accepted the call${ref} but gave no result for this instance; it may or may not be rebooting — check it in the console`);
    }
    return instanceOutcome(id, answer, requestId, redact);
  });
}

function instanceOutcome(id: string, answer: InstanceResponse, requestId: string | undefined, redact: (s: string) => string): InstanceOutcome {
  if (answer.Code === '200') return { id, status: 'succeeded', detail: transition(answer) };
  if (answer.Code === 'DRYRUN.SUCCESS') {
    // With SuccessFirst, ECS reports DRYRUN.SUCCESS whatever the check finds (seed page, DryRun).
    return { id, status: 'checked', detail: 'DRYRUN.SUCCESS (Alibaba does not report per-instance check failures in a batch dry run)' };
  }
  return failedOutcome(id, answer.Code, redact(answer.Message ?? ''), requestId);
}

function transition(answer: InstanceResponse): string {
  const before = answer.PreviousStatus ?? '';
  const after = answer.CurrentStatus ?? '';
  return before !== '' && after !== '' ? `${before} → ${after}` : 'reboot accepted';
}
