/**
 * What the three ECS calls of the client (RebootInstances, its dry run, DescribeInstances) share on the wire:
 * the endpoint, the RPC request signed with ACS3-HMAC-SHA256, ECS's error body and the codes that decide
 * whether an answer may be sent again.
 */
import { z } from 'zod';
import type { CallScope, ResendAnswer, ResendEvidence } from '../guard.js';
import { sendHttp, type HttpResponse } from '../http.js';
import type { RetryPolicy } from '../retry.js';
import type { RequestSigner } from '../signing.js';
import { alibabaInfo } from './info.js';
import type { QueryPair } from './signer.js';

export const ECS_VERSION = '2014-05-26';

const REGION = /^[a-z0-9]+(-[a-z0-9]+)*$/;

export function isRegionId(region: string): boolean {
  return REGION.test(region);
}

/**
 * Base URL (no trailing slash) for a region. An override replaces scheme, host and port for every
 * region; its path, if any, is ignored because RPC-style ECS calls always go to `/`.
 */
export function alibabaEndpoint(region: string, override?: string): string {
  if (override !== undefined && override !== '') return new URL(override).origin;
  return `https://ecs.${region}.aliyuncs.com`;
}

/**
 * One ECS RPC call as the official SDK sends it: POST to `/`, every parameter in the query string, empty body,
 * the action and version in signed x-acs-* headers (npm @alicloud/ecs20140526 src/client.ts, `style: RPC`,
 * `pathname: "/"`, `method: "POST"`). Signed afresh for each attempt: a new date and nonce, or ECS would refuse
 * the resend as a replay (SignatureNonceUsed). The signer writes the query onto the URL in exactly the form it
 * signed, so a JSON value such as InstanceIds is percent-encoded identically in both places.
 */
export function sendEcs(signer: RequestSigner, origin: string, action: string, query: readonly QueryPair[], timeoutMs: number): Promise<HttpResponse> {
  const signed = signer.sign({ method: 'POST', origin, path: '/', query, headers: { 'x-acs-action': action, 'x-acs-version': ECS_VERSION }, body: '' });
  return sendHttp({ ...signed, timeoutMs });
}

/** ECS's error body: `{"RequestId","HostId","Code","Message","Recommend"}`. */
export const ErrorSchema = z.object({
  Code: z.string().min(1),
  Message: z.string().optional(),
  RequestId: z.string().optional(),
  HostId: z.string().optional(),
  Recommend: z.string().optional(),
});

export type ApiError = z.infer<typeof ErrorSchema>;

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
 * Codes that refuse the caller, not the request's content: the gateway's signature, key, clock and replay checks,
 * and RAM's authorisation (`Forbidden.RAM`, "User not authorized to operate on the specified resource, or this API
 * doesn't support RAM": https://help.aliyun.com/document_detail/160271.html and the ECS announcement
 * https://www.alibabacloud.com/help/en/ecs/announcement-of-changes-to-the-authentication-mechanism-for-alibaba-cloud-ecs-query-type-apis;
 * `Forbidden.NoPermission` / `NoPermission`: the "Authentication is failed" family of Alibaba's error tables, e.g.
 * https://www.alibabacloud.com/help/en/vpc/developer-reference/api-vpcpeer-2022-01-01-errorcodes).
 */
export function isAuthCode(code: string): boolean {
  return (
    /^(Forbidden|NoPermission|InvalidAccessKeyId|InvalidSecurityToken|InvalidTimeStamp)/.test(code) ||
    code === 'SignatureDoesNotMatch' ||
    code === 'IncompleteSignature' ||
    code === 'SignatureNonceUsed' ||
    code === 'NotAuthorized'
  );
}

/** An unsettled ECS answer as evidence for the guard's resend rule; RebootInstances has no idempotency token. */
export function evidence(answer: ResendAnswer, changesNothing: boolean): ResendEvidence {
  return { answer, changesNothing, resendSafe: alibabaInfo.resendSafe };
}

/** ", RequestId X" for messages, or nothing. */
export function requestRef(requestId: string | undefined): string {
  return requestId === undefined ? '' : `, RequestId ${requestId}`;
}

/** What every call of one client shares: a signer per guarded call (so the guard redacts its signatures), and the tuning. */
export interface EcsCallContext {
  newSigner(scope: CallScope): RequestSigner;
  /** ALIBABA_CLOUD_ECS_ENDPOINT: replaces scheme, host and port for every region. */
  endpoint?: string;
  retry: RetryPolicy;
  timeoutMs: number;
  sleep?: (ms: number) => Promise<void>;
}
