/**
 * What every Volcengine ECS call of this client shares: the API version, the host for a region, the
 * ResponseMetadata error envelope and the throttle codes. RebootInstances (client.ts) and DescribeInstances
 * (describe.ts) are both signed GETs to `/` with every parameter in the query and an empty body.
 */
import { z } from 'zod';
import { sendHttp, type HttpResponse } from '../http.js';
import type { RequestSigner } from '../signing.js';
import type { QueryPair } from './signer.js';

export const SERVICE = 'ecs';
export const VERSION = '2020-04-01';
const DEFAULT_HOST = 'https://open.volcengineapi.com';
/**
 * Regions the official SDK sends to `ecs.<region>.volcengineapi.com` instead of the global host
 * (bootstrapRegion in volcengine/volcengine-nodejs-sdk packages/sdk-core/src/utils/endpoint.ts).
 */
const BOOTSTRAP_REGIONS = new Set([
  'cn-beijing-autodriving',
  'ap-southeast-2',
  'ap-southeast-3',
  'cn-shanghai-autodriving',
  'cn-beijing-selfdrive',
]);

/** Base URL (scheme, host, port) for a region; the override replaces it for every region. */
export function volcengineEndpoint(region: string, override?: string): string {
  if (override !== undefined && override !== '') {
    const url = new URL(override);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`VOLCENGINE_ENDPOINT must be http(s): ${url.protocol}`);
    return url.origin;
  }
  return BOOTSTRAP_REGIONS.has(region) ? `https://${SERVICE}.${region}.volcengineapi.com` : DEFAULT_HOST;
}

/** Sends one signed GET: the URL carries the canonical query string that was signed. */
export async function sendSigned(signer: RequestSigner, origin: string, query: readonly QueryPair[], timeoutMs: number): Promise<HttpResponse> {
  const signed = signer.sign({ method: 'GET', origin, path: '/', query, headers: {} });
  return sendHttp({ ...signed, timeoutMs });
}

/** `ResponseMetadata.Error` (volcengine/volcengine-nodejs-sdk packages/sdk-core/test/error-parsing.test.ts reads it whatever the HTTP status). */
export const errorSchema = z.object({
  Code: z.string(),
  CodeN: z.number().optional(),
  Message: z.string().optional(),
});

export const metadataSchema = z.object({
  RequestId: z.string().optional(),
  Error: errorSchema.nullish(),
});

/**
 * Throttling: HTTP 429 and AccountFlowLimitExceeded at the gateway (UNCONFIRMED: known from third-party code only),
 * and FlowLimitExceeded, "You've reach the limit on request rate of resources" (RebootInstances reference,
 * https://www.volcengine.com/docs/6396/101069).
 */
export function isThrottleCode(code: string): boolean {
  return /Throttl|FlowLimit/i.test(code);
}

export function isSuccessStatus(status: number): boolean {
  return status >= 200 && status < 300;
}

