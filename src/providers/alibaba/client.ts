/**
 * Alibaba Cloud ECS `RebootInstances` (2014-05-26) over undici, signed with ACS3-HMAC-SHA256.
 * BatchOptimization=SuccessFirst makes ECS answer per instance instead of failing the whole batch
 * for one bad id. The API has no idempotency token, so under the guard's resend rule (guard.ts) an answer
 * lost in transit, or one that does not say whether ECS acted, is never resent.
 * The read call (DescribeInstances) lives in describe.ts, the dry-run permission check in permission.ts.
 */
import { z } from 'zod';
import { perRequestSigner, sourceOf, withToken, type CredentialSource, type KeysOrSource } from '../credentials.js';
import { guardProvider, resendVerdict, type CallScope, type GuardedCalls, type ResendAnswer, type ResendEvidence } from '../guard.js';
import { retryAfterMs, serverTimeOf, TransportError, type HttpResponse } from '../http.js';
import { failAll, failedOutcome, parseJsonOrUndefined, unknownAll, unknownOutcome } from '../outcomes.js';
import type { BatchResult, ClientOptions, InstanceOutcome, Provider, RebootCall } from '../provider.js';
import { withRetries, type AttemptResult } from '../retry.js';
import type { RequestSigner } from '../signing.js';
import { createDescribe } from './describe.js';
import { alibabaInfo } from './info.js';
import { createCheckPermission } from './permission.js';
import { createAlibabaSigner, type QueryPair } from './signer.js';
import { alibabaEndpoint, ErrorSchema, evidence as wireEvidence, isRegionId, isServerFaultCode, isThrottlingCode, requestRef, sendEcs, type ApiError, type EcsCallContext } from './wire.js';

export { alibabaEndpoint, ECS_VERSION, isServerFaultCode, isThrottlingCode } from './wire.js';

export interface AlibabaKeys {
  accessKeyId: string;
  accessKeySecret: string;
  /** ALIBABA_CLOUD_SECURITY_TOKEN: the token of an STS key. */
  securityToken?: string;
}

export type AlibabaCredentials = KeysOrSource<AlibabaKeys>;

function alibabaSource(credentials: AlibabaCredentials): CredentialSource {
  return sourceOf(credentials, (k) => withToken(k.accessKeyId, k.accessKeySecret, k.securityToken));
}

/**
 * Alibaba's answers to an expired STS token: InvalidSecurityToken.Expired ("Specified SecurityToken is expired.",
 * HTTP 400), in the POP gateway's common error codes (https://api.aliyun.com/document/Ecs/2014-05-26/errorCode,
 * the "InvalidSecurityToken.*" family; UNCONFIRMED that ECS pages list it, the code is the gateway's).
 */
export function isAlibabaTokenExpired(code: string): boolean {
  return code === 'InvalidSecurityToken.Expired';
}

export const ECS_ACTION = 'RebootInstances';

/**
 * The RPC parameters of one reboot call, unsorted; the signer orders them. No DryRun: the RebootInstances reference
 * documents `false` as its default (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances,
 * DryRun), so leaving it out is the real call, and the request is exactly the shape of the derived RebootInstances
 * vector that darabonba-openapi-util's own getAuthorization reproduces (test/providers/alibaba/signer.test.ts).
 */
export function rebootQueryPairs(call: Pick<RebootCall, 'region' | 'force'>, ids: readonly string[]): QueryPair[] {
  return [
    ['RegionId', call.region],
    ...ids.map((id, i): QueryPair => [`InstanceId.${i + 1}`, id]),
    ['ForceReboot', String(call.force)],
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

type InstanceResponse = z.infer<typeof InstanceResponseSchema>;

/** The real reboot can act, so an ambiguous answer to it is never resent. */
function evidence(answer: ResendAnswer): ResendEvidence {
  return wireEvidence(answer, false);
}

/**
 * A dry-run answer (DRYRUN.SUCCESS in RebootInstances' error table, DryRunOperation in DescribeInstances') to a
 * call sent without DryRun contradicts the request: it is not a reboot, yet nothing says ECS did nothing.
 */
function isDryRunCode(code: string): boolean {
  return code === 'DRYRUN.SUCCESS' || code === 'DryRunOperation';
}

export function createAlibabaProvider(options: ClientOptions<AlibabaCredentials>): Provider {
  const source = alibabaSource(options.credentials);
  return guardProvider(alibabaInfo, alibabaCalls({ ...options, credentials: { source } }), {
    secrets: [],
    credentials: source,
    isTokenExpired: isAlibabaTokenExpired,
    ...(options.onCall ? { onCall: options.onCall } : {}),
  });
}

/** The client's own calls, before the guard wraps them (exported so tests can see exactly what the client returns). */
export function alibabaCalls(options: ClientOptions<AlibabaCredentials>): GuardedCalls {
  const source = alibabaSource(options.credentials);
  // Credentials are asked for at every request, so a rotated key or token is used from the next request on.
  const newSigner = (scope: CallScope): RequestSigner =>
    scope.track(
      perRequestSigner(source, ({ keyId, secret, token }) =>
        createAlibabaSigner({
          credentials: { accessKeyId: keyId, accessKeySecret: secret, ...(token === undefined ? {} : { securityToken: token }) },
          ...(options.now ? { now: options.now } : {}),
        }),
      ),
    );

  async function reboot(call: RebootCall, scope: CallScope): Promise<BatchResult> {
    const { ids } = call;
    if (!isRegionId(call.region)) {
      return { outcomes: failAll(ids, 'InvalidRegion', `"${call.region}" is not a region id; nothing was sent`) };
    }
    const signer = newSigner(scope);
    const origin = alibabaEndpoint(call.region, options.endpoint);
    const query = rebootQueryPairs(call, ids);
    let serverTime: number | undefined;
    const outcomes = await withRetries(
      async (_n): Promise<AttemptResult<InstanceOutcome[]>> => {
        let res: HttpResponse;
        try {
          res = await sendEcs(signer, origin, ECS_ACTION, query, options.timeoutMs);
        } catch (err) {
          return transportVerdict(err, ids);
        }
        // The cloud's clock when it accepted the call: only a 2xx accepts it (an error's Date would date a refusal).
        if (res.status >= 200 && res.status < 300) serverTime = serverTimeOf(res.headers);
        return interpret(res, ids);
      },
      options.retry,
      options.sleep,
    );
    return serverTime === undefined ? { outcomes } : { outcomes, serverTime };
  }

  const shared: EcsCallContext = {
    newSigner,
    retry: options.retry,
    timeoutMs: options.timeoutMs,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  };
  return { reboot, describe: createDescribe(shared), checkPermission: createCheckPermission(shared) };
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
  if (isDryRunCode(err.Code)) return { final: unknownAll(ids, dryRunAnswerReason(err.Code, err.RequestId)) };
  if (res.status === 429 || isThrottlingCode(err.Code)) {
    return resendVerdict(evidence('throttled'), failAll(ids, err.Code, message, err.RequestId), retryAfterMs(res.headers));
  }
  // Any 5xx with an ECS body is read like InternalError: no Alibaba page says ECS did nothing before answering it.
  if (res.status >= 500 || isServerFaultCode(err.Code)) {
    const ref = requestRef(err.RequestId);
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
  if (isDryRunCode(answer.Code)) return unknownOutcome(id, dryRunAnswerReason(answer.Code, requestId));
  return failedOutcome(id, answer.Code, answer.Message ?? '', requestId);
}

/**
 * The real call sends no DryRun, so ECS must either restart the instance (Code "200") or refuse it. A dry-run code
 * is neither: it is not a reboot, and whether ECS acted all the same cannot be told, so the safe side, unknown
 * (never a refusal, which could be retried into a second reboot).
 */
function dryRunAnswerReason(code: string, requestId: string | undefined): string {
  return `ECS answered ${code}${requestId === undefined ? '' : ` (RequestId ${requestId})`}, a dry-run answer, to a reboot sent without DryRun; that is not a reboot, and whether ECS acted cannot be told — check the instance in the console`;
}

function transition(answer: InstanceResponse): string {
  const before = answer.PreviousStatus ?? '';
  const after = answer.CurrentStatus ?? '';
  return before !== '' && after !== '' ? `${before} → ${after}` : 'reboot accepted';
}
