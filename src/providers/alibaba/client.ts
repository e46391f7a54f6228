/**
 * Alibaba Cloud ECS `RebootInstances` (2014-05-26) over undici, signed with ACS3-HMAC-SHA256.
 * BatchOptimization=SuccessFirst makes ECS answer per instance instead of failing the whole batch
 * for one bad id. The API has no idempotency token, so under the guard's resend rule (guard.ts) an answer
 * lost in transit, or one that does not say whether ECS acted, is never resent.
 */
import { z } from 'zod';
import { guardProvider, resendVerdict, type CallScope, type ResendAnswer, type ResendEvidence } from '../guard.js';
import { retryAfterMs, sendHttp, TransportError, type HttpResponse } from '../http.js';
import { failAll, failedOutcome, parseJsonOrUndefined, unknownAll, unknownOutcome } from '../outcomes.js';
import type { BatchResult, ClientOptions, InstanceOutcome, Provider, RebootCall } from '../provider.js';
import { withRetries, type AttemptResult } from '../retry.js';
import type { RequestSigner } from '../signing.js';
import { alibabaInfo } from './info.js';
import { createAlibabaSigner, type QueryPair } from './signer.js';

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

/**
 * An unsettled answer to RebootInstances as evidence for the guard's resend rule. There is no idempotency token
 * (RebootInstancesRequest.ts above). A dry run is not counted as harmless: with SuccessFirst it answers
 * DRYRUN.SUCCESS whatever the check finds, so resending one would learn nothing, and the real call's caution costs nothing.
 */
function evidence(answer: ResendAnswer): ResendEvidence {
  return { answer, changesNothing: false, resendSafe: alibabaInfo.resendSafe };
}

export function createAlibabaProvider(options: ClientOptions<AlibabaCredentials>): Provider {
  const { accessKeyId, accessKeySecret } = options.credentials;

  async function reboot(call: RebootCall, scope: CallScope): Promise<BatchResult> {
    const { ids } = call;
    if (!REGION.test(call.region)) {
      return { outcomes: failAll(ids, 'InvalidRegion', `"${call.region}" is not a region id; nothing was sent`) };
    }
    const signer = scope.track(createAlibabaSigner({ credentials: { accessKeyId, accessKeySecret }, ...(options.now ? { now: options.now } : {}) }));
    const origin = alibabaEndpoint(call.region, options.endpoint);
    const query = rebootQueryPairs(call, ids);
    const outcomes = await withRetries((_n) => attempt(signer, origin, query, ids), options.retry, options.sleep);
    return { outcomes };
  }

  async function attempt(signer: RequestSigner, origin: string, query: readonly QueryPair[], ids: readonly string[]): Promise<AttemptResult<InstanceOutcome[]>> {
    // Signed afresh for each attempt: a new date and nonce, or ECS would refuse the resend as a replay.
    const signed = signer.sign({ method: 'POST', origin, path: '/', query, headers: { 'x-acs-action': ECS_ACTION, 'x-acs-version': ECS_VERSION }, body: '' });
    let res: HttpResponse;
    try {
      res = await sendHttp({ ...signed, timeoutMs: options.timeoutMs });
    } catch (err) {
      return transportVerdict(err, ids);
    }
    return interpret(res, ids);
  }

  return guardProvider(alibabaInfo, { reboot }, { secrets: [accessKeySecret], ...(options.onCall ? { onCall: options.onCall } : {}) });
}

function transportVerdict(err: unknown, ids: readonly string[]): AttemptResult<InstanceOutcome[]> {
  if (!(err instanceof TransportError)) throw err;
  if (err.phase === 'not-sent') return resendVerdict(evidence('not-sent'), failAll(ids, err.code, err.message));
  return resendVerdict(
    evidence('ambiguous'),
    unknownAll(ids, `request sent but no answer (network error ${err.code}); the instance may or may not be rebooting — check it in the console`),
  );
}

function interpret(res: HttpResponse, ids: readonly string[]): AttemptResult<InstanceOutcome[]> {
  const json = parseJsonOrUndefined(res.text);
  if (res.status >= 200 && res.status < 300) {
    const ok = SuccessSchema.safeParse(json);
    if (ok.success) return { final: perInstance(ids, ok.data.InstanceResponses.InstanceResponse, ok.data.RequestId) };
    const err = ErrorSchema.safeParse(json);
    if (err.success) return apiErrorVerdict(err.data, res, ids);
    // ECS accepted the call, so the instances may be rebooting: never report that as a plain failure.
    return resendVerdict(
      evidence('ambiguous'),
      unknownAll(ids, `UnexpectedResponse: HTTP ${res.status} accepted with a body ECS does not document; the instance may or may not be rebooting — check it in the console`),
    );
  }
  const err = ErrorSchema.safeParse(json);
  if (err.success) return apiErrorVerdict(err.data, res, ids);
  return unparsableErrorVerdict(res, ids);
}

/**
 * ECS's own error body. Throttling proved nothing was done; a server fault does not say so, so the instances are
 * unknown; anything else (a 4xx such as IncorrectInstanceStatus, InvalidInstanceId.NotFound) is ECS refusing the call.
 */
function apiErrorVerdict(err: ApiError, res: HttpResponse, ids: readonly string[]): AttemptResult<InstanceOutcome[]> {
  const message = err.Message ?? `HTTP ${res.status}`;
  if (res.status === 429 || isThrottlingCode(err.Code)) {
    return resendVerdict(evidence('throttled'), failAll(ids, err.Code, message, err.RequestId), retryAfterMs(res.headers));
  }
  // Any 5xx with an ECS body is read like InternalError: no Alibaba page says ECS did nothing before answering it.
  if (res.status >= 500 || isServerFaultCode(err.Code)) {
    const ref = err.RequestId === undefined ? '' : `, RequestId ${err.RequestId}`;
    return resendVerdict(
      evidence('ambiguous'),
      unknownAll(ids, `ECS answered HTTP ${res.status} ${err.Code} (${message}${ref}), which does not say whether it acted; the instance may or may not be rebooting — check it in the console`),
    );
  }
  return { final: failAll(ids, err.Code, message, err.RequestId) };
}

/**
 * A non-2xx answer without ECS's error body comes from something in front of ECS. A 429 turned the call away
 * for rate (RFC 6585 §4; UNCONFIRMED for Alibaba's gateway, which documents throttling by code only). Any 5xx,
 * 503 included, may hide a request that ECS did receive: UNCONFIRMED either way, so the safe side, unknown.
 */
function unparsableErrorVerdict(res: HttpResponse, ids: readonly string[]): AttemptResult<InstanceOutcome[]> {
  if (res.status === 429) {
    return resendVerdict(evidence('throttled'), failAll(ids, 'HTTP429', 'HTTP 429 without an ECS error body'), retryAfterMs(res.headers));
  }
  if (res.status >= 500) {
    return resendVerdict(
      evidence('ambiguous'),
      unknownAll(ids, `HTTP ${res.status} from a gateway without an ECS answer; the instance may or may not be rebooting — check it in the console`),
    );
  }
  return { final: failAll(ids, 'UnexpectedResponse', `HTTP ${res.status} with a body ECS does not document`) };
}

function perInstance(ids: readonly string[], answers: InstanceResponse[], requestId: string | undefined): InstanceOutcome[] {
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
    return instanceOutcome(id, answer, requestId);
  });
}

function instanceOutcome(id: string, answer: InstanceResponse, requestId: string | undefined): InstanceOutcome {
  if (answer.Code === '200') return { id, status: 'succeeded', detail: transition(answer) };
  if (answer.Code === 'DRYRUN.SUCCESS') {
    // With SuccessFirst, ECS reports DRYRUN.SUCCESS whatever the check finds (DryRun and BatchOptimization in the
    // RebootInstances reference, https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances).
    return { id, status: 'checked', detail: 'DRYRUN.SUCCESS (Alibaba does not report per-instance check failures in a batch dry run)' };
  }
  return failedOutcome(id, answer.Code, answer.Message ?? '', requestId);
}

function transition(answer: InstanceResponse): string {
  const before = answer.PreviousStatus ?? '';
  const after = answer.CurrentStatus ?? '';
  return before !== '' && after !== '' ? `${before} → ${after}` : 'reboot accepted';
}
