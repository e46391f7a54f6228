/**
 * Reading BCC instance state (pre-flight, dry run, verification). One batch read,
 * `POST /v2/instance/listByInstanceId?maxKeys=1000` with `{"instanceIds":[…]}` ("查询多个实例详情",
 * https://cloud.baidu.com/doc/BCC/s/Kksyfijrw; bce-sdk-go services/bcc/api/instance.go ListInstanceByInstanceIds,
 * model.go ListInstanceByInstanceIdArgs / ListInstancesResult), paged with `marker`/`nextMarker`. Where BCC
 * refuses the batch, each id is read on its own with `GET /v2/instance/{id}` ("查询指定实例详情",
 * https://cloud.baidu.com/doc/BCC/s/sjwvyoeqr; bce-sdk-go services/bcc/api/instance.go GetInstanceDetail).
 * Both are signed bce-auth-v1 by the same signer as the reboot call, over exactly what is sent.
 *
 * A read changes nothing, so under the guard's resend rule an ambiguous answer (lost, 5xx, unreadable 2xx) is
 * asked again within the retry policy; when the policy runs out the read is an error, never "not found".
 */
import { z } from 'zod';
import { resendVerdict, type ResendAnswer, type ResendEvidence } from '../guard.js';
import { retryAfterMs, sendHttp, serverTimeOf, TransportError, type HttpResponse } from '../http.js';
import { parseJsonOrUndefined } from '../outcomes.js';
import type { DescribeResult, InstancePhase, InstanceReading } from '../provider.js';
import { withRetries, type AttemptResult, type RetryPolicy } from '../retry.js';
import { rfc3986, type QueryPair, type RequestSigner, type UnsignedRequest } from '../signing.js';
import { CONTENT_TYPE, ErrorBody, requestIdOf, truncate } from './wire.js';

export interface DescribeDeps {
  signer: RequestSigner;
  origin: string;
  retry: RetryPolicy;
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
}

const LIST_PATH = '/v2/instance/listByInstanceId';
/** The doc's default and "usually not above" value; bce-sdk-go sends it when the caller sets none. */
const MAX_KEYS = 1000;
/**
 * Per-id reads in flight at once when falling back. BCC publishes no read rate limit (UNCONFIRMED); the vendor
 * Terraform doc (terraform-provider-baiducloud website/docs/r/instance.html.markdown) warns of "too many
 * connections" above 18 parallel operations, so a small number stays well below it.
 */
const FALLBACK_CONCURRENCY = 4;

/**
 * The fields of InstanceModel (bce-sdk-go services/bcc/api/model.go) the bot reads; the rest are ignored.
 * BCC has no last-start or update time (only createTime), so readings carry no `clock`: a reboot is proven only
 * by seeing Starting/Stopping after the call.
 */
const InstanceModel = z.object({
  id: z.string().min(1),
  name: z.string().nullish(),
  status: z.string(),
});
type InstanceModel = z.infer<typeof InstanceModel>;

/** ListInstancesResult (bce-sdk-go services/bcc/api/model.go): nextMarker is absent when isTruncated is false. */
const ListInstancesResult = z.object({
  marker: z.string().nullish(),
  isTruncated: z.boolean().optional(),
  nextMarker: z.string().nullish(),
  maxKeys: z.number().optional(),
  instances: z.array(InstanceModel),
});

/** GetInstanceDetailResult (bce-sdk-go services/bcc/api/model.go): `{"instance": InstanceModel}`. */
const InstanceDetail = z.object({ instance: InstanceModel });

/**
 * Codes that mean "no such instance": terraform-provider-baiducloud baiducloud/error.go (NotFoundErrorList:
 * ResourceNotFoundException, ResourceNotfound, ResourceNotFound, InstanceNotFound, NoSuchObject, InstanceNotExist;
 * BccNotFound: InvalidInstanceId.NotFound, Forbidden.InstanceNotFound). Which one BCC's detail read answers is
 * UNCONFIRMED (most likely NoSuchObject, HTTP 404, "The specified object is not found or resource do not exist.",
 * the missing-resource code of the BCC API pages); plain NotFound is added defensively.
 */
const NOT_FOUND_CODES: ReadonlySet<string> = new Set([
  'NotFound',
  'ResourceNotFoundException',
  'ResourceNotfound',
  'ResourceNotFound',
  'InstanceNotFound',
  'NoSuchObject',
  'InstanceNotExist',
  'InvalidInstanceId.NotFound',
  'Forbidden.InstanceNotFound',
]);

/**
 * Refusals of the request itself, not of the instance or the API (https://cloud.baidu.com/doc/BCC/s/Ojwvyo6nc):
 * the per-id reads would be refused the same way, so none of these sends the read down the fallback, and a 404
 * carrying InvalidVersion or InvalidURI says nothing about an instance.
 */
const REQUEST_CODES: ReadonlySet<string> = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidHTTPAuthHeader',
  'RequestExpired',
  // The session token's refusals (UNCONFIRMED codes, simulator.ts TOKEN_ERRORS): a per-id read carries the same token.
  'InvalidSessionToken',
  'SessionTokenExpired',
  'InvalidVersion',
  'InvalidURI',
]);

/**
 * BCC statuses (bce-sdk-go services/bcc/api/model.go InstanceStatus) normalised. BCC has no Rebooting: "After the
 * API is called successfully, the instance is in the Starting status" (https://intl.cloud.baidu.com/doc/BCC/s/vjwvyoa62-en),
 * and the vendor Terraform waits out Starting after start/reboot (terraform-provider-baiducloud
 * baiducloud/resource_baiducloud_instance.go). Whether Stopping shows during a reboot is UNCONFIRMED; seen after
 * an accepted reboot it can only be that reboot, so it counts as one.
 */
const PHASES: Readonly<Record<string, { phase: InstancePhase; rebooting: boolean }>> = {
  Running: { phase: 'running', rebooting: false },
  Stopped: { phase: 'stopped', rebooting: false },
  Starting: { phase: 'transitioning', rebooting: true },
  Stopping: { phase: 'transitioning', rebooting: true },
  // Busy with something else: a resize, a snapshot or image being made, a VPC change. A reboot would be refused
  // (the reboot call needs Running, 409 Instance.RebootInstanceOperationForbidden), but it is passing.
  Scaling: { phase: 'transitioning', rebooting: false },
  SnapshotProcessing: { phase: 'transitioning', rebooting: false },
  ImageProcessing: { phase: 'transitioning', rebooting: false },
  ChangeVpc: { phase: 'transitioning', rebooting: false },
};

/**
 * Released instances BCC may still list for a while (recycle bin): the vendor Terraform waits for Deleted,
 * Expired or Recycled after a delete (terraform-provider-baiducloud baiducloud/resource_baiducloud_instance.go),
 * so none of them is an instance that can be rebooted.
 */
const GONE: ReadonlySet<string> = new Set(['Deleted', 'Recycled', 'Expired']);

export function listBody(ids: readonly string[]): string {
  return JSON.stringify({ instanceIds: ids });
}

/** One page of listByInstanceId, as sent (and signed): the query names marker and maxKeys, the body the ids. */
export function listRequest(origin: string, body: string, marker?: string): UnsignedRequest {
  const query: QueryPair[] = marker === undefined ? [['maxKeys', String(MAX_KEYS)]] : [['marker', marker], ['maxKeys', String(MAX_KEYS)]];
  return { method: 'POST', origin, path: LIST_PATH, query, headers: { 'content-type': CONTENT_TYPE }, body };
}

/** The detail read of one instance, bodiless: the signer signs host and x-bce-date only. */
export function detailRequest(origin: string, id: string): UnsignedRequest {
  return { method: 'GET', origin, path: `/v2/instance/${rfc3986(id)}`, query: [], headers: {} };
}

export function readingOf(model: InstanceModel): InstanceReading {
  if (GONE.has(model.status)) return { id: model.id, found: false, rawStatus: model.status };
  // Error, and any status this table does not know, is 'other': a reboot would most likely be refused.
  const { phase, rebooting } = PHASES[model.status] ?? { phase: 'other', rebooting: false };
  // No clock: InstanceModel has createTime only, which a reboot does not move.
  return { id: model.id, found: true, name: model.name ? model.name : null, phase, rawStatus: model.status, rebooting };
}

type ReadFailure = Extract<DescribeResult, { kind: 'error' }>;
/** BCC answered the request with an error of its own (4xx other than 429), after any RequestExpired retry. */
interface Refusal {
  kind: 'refused';
  status: number;
  body: ErrorBody | undefined;
  requestId: string | undefined;
}
type Read<T> = { kind: 'ok'; data: T; serverTime: number | undefined } | Refusal | ReadFailure;

export async function describeInstances(ids: readonly string[], deps: DescribeDeps): Promise<DescribeResult> {
  const batch = await readBatch(ids, deps);
  return batch === 'fallback' ? readEach(ids, deps) : batch;
}

/** All pages of listByInstanceId, or 'fallback' when BCC refuses the batch read as such. */
async function readBatch(ids: readonly string[], deps: DescribeDeps): Promise<DescribeResult | 'fallback'> {
  const body = listBody(ids);
  const models = new Map<string, InstanceModel>();
  let serverTime: number | undefined;
  let marker: string | undefined;
  // Each truncated page holds at least one of the ids, so more pages than ids means BCC's paging is broken.
  for (let page = 1; ; page++) {
    const read = await readOnce(deps, listRequest(deps.origin, body, marker), ListInstancesResult);
    if (read.kind === 'error') return read;
    if (read.kind === 'refused') return page === 1 && batchUnavailable(read) ? 'fallback' : refusalError(read);
    serverTime ??= read.serverTime;
    for (const model of read.data.instances) if (!models.has(model.id)) models.set(model.id, model);
    if (!read.data.isTruncated) break;
    const next = read.data.nextMarker;
    if (!next || next === marker || page > ids.length) {
      return { kind: 'error', code: 'UnexpectedResponse', message: 'BCC said the instance list goes on but gave no usable nextMarker', throttled: false };
    }
    marker = next;
  }
  // UNCONFIRMED whether listByInstanceId leaves unknown ids out or refuses them (400 NoSuchObject, handled by the
  // fallback): an id left out of a whole answer is one BCC does not know.
  const readings = ids.map((id): InstanceReading => {
    const model = models.get(id);
    return model ? readingOf(model) : { id, found: false };
  });
  return serverTime === undefined ? { kind: 'read', readings } : { kind: 'read', readings, serverTime };
}

/**
 * The batch read is refused as such, not the request: 400 NoSuchObject (a BCC page lists
 * "instanceId i-aaaa,i-bbbb does not exist." for an instance-id-list API, https://cloud.baidu.com/theme/others/1857566-69;
 * which API is UNCONFIRMED), any other not-found code, or 403/404/405, the API not open to this key or region.
 * A refused signature or a stale timestamp would refuse the per-id reads too, so it stays an error.
 */
function batchUnavailable(refusal: Refusal): boolean {
  const code = refusal.body?.code;
  if (code !== undefined && REQUEST_CODES.has(code)) return false;
  if (refusal.status === 403 || refusal.status === 404 || refusal.status === 405) return true;
  return code !== undefined && NOT_FOUND_CODES.has(code);
}

/**
 * GET /v2/instance/{id} for every id, a few at a time. An unknown id is a not-found answer; an id whose read
 * failed otherwise is left out (the contract's "could not be read"), unless every id failed: then the read failed.
 */
async function readEach(ids: readonly string[], deps: DescribeDeps): Promise<DescribeResult> {
  const results = await mapLimit(ids, FALLBACK_CONCURRENCY, (id) => readOne(id, deps));
  const readings: InstanceReading[] = [];
  const failures: ReadFailure[] = [];
  let serverTime: number | undefined;
  for (const result of results) {
    if ('kind' in result) {
      failures.push(result);
      continue;
    }
    readings.push(result.reading);
    // The earliest answer: every reading shows the instance at or after this server time.
    if (result.serverTime !== undefined) serverTime = Math.min(serverTime ?? result.serverTime, result.serverTime);
  }
  const first = failures[0];
  if (readings.length === 0 && first) return { ...first, throttled: failures.every((f) => f.throttled) };
  return serverTime === undefined ? { kind: 'read', readings } : { kind: 'read', readings, serverTime };
}

async function readOne(id: string, deps: DescribeDeps): Promise<{ reading: InstanceReading; serverTime: number | undefined } | ReadFailure> {
  const read = await readOnce(deps, detailRequest(deps.origin, id), InstanceDetail);
  if (read.kind === 'error') return read;
  if (read.kind === 'refused') return isNotFound(read) ? { reading: { id, found: false }, serverTime: undefined } : refusalError(read);
  if (read.data.instance.id !== id) {
    return { kind: 'error', code: 'UnexpectedResponse', message: `BCC answered the read of ${id} with instance ${read.data.instance.id}`, throttled: false };
  }
  return { reading: readingOf(read.data.instance), serverTime: read.serverTime };
}

/** A not-found code, or a 404 with a BCC error body that is not about the request itself; a bare 404 page is not BCC's word. */
function isNotFound(refusal: Refusal): boolean {
  const code = refusal.body?.code;
  if (code === undefined) return false;
  return NOT_FOUND_CODES.has(code) || (refusal.status === 404 && !REQUEST_CODES.has(code));
}

function evidence(answer: ResendAnswer): ResendEvidence {
  return { answer, changesNothing: true, resendSafe: false };
}

/** One read, signed afresh on every attempt (a new timestamp, so a RequestExpired retry can succeed). */
async function readOnce<T>(deps: DescribeDeps, request: UnsignedRequest, schema: z.ZodType<T>): Promise<Read<T>> {
  let expiredRetried = false;
  return withRetries<Read<T>>(
    async (): Promise<AttemptResult<Read<T>>> => {
      const signed = deps.signer.sign(request);
      let res: HttpResponse;
      try {
        res = await sendHttp({ ...signed, timeoutMs: deps.timeoutMs });
      } catch (err) {
        // Not a network failure but a bug: the guard turns the throw into a ClientError.
        if (!(err instanceof TransportError)) throw err;
        const failure: ReadFailure = { kind: 'error', code: err.code, message: `no answer to the instance read (${err.message})`, throttled: false };
        return resendVerdict(evidence(err.phase === 'not-sent' ? 'not-sent' : 'ambiguous'), failure);
      }
      const verdict = judge(res, schema);
      // RequestExpired gets one retry, as for the reboot (bce-sdk-go bce/retry.go retries it too).
      if ('final' in verdict && verdict.final.kind === 'refused' && verdict.final.body?.code === 'RequestExpired' && !expiredRetried) {
        expiredRetried = true;
        return resendVerdict(evidence('unauthenticated'), verdict.final);
      }
      return verdict;
    },
    deps.retry,
    deps.sleep,
  );
}

/**
 * BCC documents no throttling code (https://cloud.baidu.com/doc/BCC/s/Ojwvyo6nc), so HTTP 429 is the throttle
 * signal (UNCONFIRMED for BCC); a 5xx or an unreadable 2xx is ambiguous, which a read may simply ask again.
 */
function judge<T>(res: HttpResponse, schema: z.ZodType<T>): AttemptResult<Read<T>> {
  const json = parseJsonOrUndefined(res.text);
  if (res.status >= 200 && res.status < 300) {
    const parsed = schema.safeParse(json);
    if (parsed.success) return { final: { kind: 'ok', data: parsed.data, serverTime: serverTimeOf(res.headers) } };
    const ref = requestIdOf(res);
    const failure: ReadFailure = { kind: 'error', code: 'UnexpectedResponse', message: `HTTP ${res.status} with a body BCC does not document${ref ? ` (request ${ref})` : ''}`, throttled: false };
    return resendVerdict(evidence('ambiguous'), failure);
  }
  const parsedBody = ErrorBody.safeParse(json);
  const body = parsedBody.success ? parsedBody.data : undefined;
  const refusal: Refusal = { kind: 'refused', status: res.status, body, requestId: requestIdOf(res, body?.requestId) };
  if (res.status === 429) return resendVerdict(evidence('throttled'), { ...refusalError(refusal, 'TooManyRequests'), throttled: true }, retryAfterMs(res.headers));
  if (res.status >= 500) return resendVerdict(evidence('ambiguous'), refusalError(refusal, `HTTP${res.status}`), retryAfterMs(res.headers));
  return { final: refusal };
}

/** A refusal as the read's error: BCC's code and message, or the HTTP status when the body is not BCC's. */
function refusalError(refusal: Refusal, fallbackCode = 'UnexpectedResponse'): ReadFailure {
  const ref = refusal.requestId ? ` (request ${refusal.requestId})` : '';
  if (!refusal.body) {
    const what = fallbackCode === 'UnexpectedResponse' ? `HTTP ${refusal.status} with a response body BCC does not document` : `HTTP ${refusal.status} from BCC`;
    return { kind: 'error', code: fallbackCode, message: `${what}${ref}`, throttled: false };
  }
  return { kind: 'error', code: refusal.body.code, message: `${truncate(refusal.body.message || `HTTP ${refusal.status} from BCC`)}${ref}`, throttled: false };
}

/** `work` over `items` with at most `limit` in flight, results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T);
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
