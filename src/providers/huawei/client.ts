/**
 * Huawei Cloud ECS batch reboot, the transport half: signing, sending and reading the cloud's answers.
 * POST /v1/{project_id}/cloudservers/action (BatchRebootServers, https://support.huaweicloud.com/api-ecs/ecs_02_0302.html)
 * answers with a job id; job-follower.ts follows the job, asking this file for each job query. Reads go through
 * ListServersDetails filtered by id (GET /v1/{project_id}/cloudservers/detail?server_id=…); describe.ts knows its shapes.
 */
import { z } from 'zod';
import { guardProvider, mayResend, resendVerdict, type CallScope, type GuardedCalls, type ResendAnswer, type ResendEvidence } from '../guard.js';
import { TransportError, retryAfterMs, sendHttp, serverTimeOf, type HttpResponse } from '../http.js';
import { failAll, parseJsonOrUndefined, unknownAll } from '../outcomes.js';
import type {
  BatchResult,
  ClientOptions,
  DescribeCall,
  DescribeResult,
  InstanceOutcome,
  InstanceReading,
  PollCall,
  Provider,
  RebootCall,
} from '../provider.js';
import { realSleep, withRetries, type AttemptResult, type RetryPolicy } from '../retry.js';
import { rfc3986, type QueryPair, type RequestSigner } from '../signing.js';
import { DESCRIBE_PAGE_SIZE, readingOf, ServerListSchema, type ServerList } from './describe.js';
import { huaweiInfo } from './info.js';
import { followJob, JobSchema, type FollowOptions, type JobQuery } from './job-follower.js';
import { createHuaweiSigner } from './signer.js';
import { perRequestSigner, sourceOf, withToken, type CredentialSource, type KeysOrSource } from '../credentials.js';

export interface HuaweiKeys {
  accessKeyId: string;
  secretAccessKey: string;
  /** HUAWEICLOUD_SDK_SECURITY_TOKEN: a temporary AK/SK's token. */
  securityToken?: string;
}

export type HuaweiCredentials = KeysOrSource<HuaweiKeys> & HuaweiProjects;

export interface HuaweiProjects {
  /** Used for every region that has no entry in `projectIds` (HUAWEICLOUD_SDK_PROJECT_ID). */
  projectId?: string;
  /** A project id is per account and region. */
  projectIds?: Record<string, string>;
}

export interface HuaweiClientOptions extends ClientOptions<HuaweiCredentials> {
  /** Wait before the first job query (default 5 s): a reboot job is never done sooner. */
  pollInitialDelayMs?: number;
  /** Ceiling of the growing wait between job queries (default 10 s). */
  pollMaxDelayMs?: number;
  /** Give up following a job after this long (default 10 min); unfinished servers become 'unknown'. */
  pollTimeoutMs?: number;
  /** `limit` of each ListServersDetails page (default 100, the most ids one read names); tests shrink it to page. */
  describePageSize?: number;
}

// The value every official SDK sends for this API.
const JSON_CONTENT_TYPE = 'application/json;charset=UTF-8';

export function huaweiEndpoint(region: string, override?: string): string {
  if (override) return override.replace(/\/+$/, '');
  // The European sovereign region lives under its own top-level domain
  // (EU_WEST_101 in huaweicloud/huaweicloud-sdk-nodejs-v3 services/ecs/v2/EcsRegion.ts).
  const domain = region === 'eu-west-101' ? 'myhuaweicloud.eu' : 'myhuaweicloud.com';
  return `https://ecs.${region}.${domain}`;
}

/**
 * An expired temporary AK/SK: API Gateway answers APIGW.0301, its IAM authentication failure, for this as for a wrong
 * signature ("An expired token is used", https://support.huaweicloud.com/intl/en-us/apig-faq/apig-faq-0003.html);
 * only the message tells them apart. UNCONFIRMED wording: a message naming the token and its expiry is read as one.
 */
export function isHuaweiTokenExpired(code: string, message: string): boolean {
  return (code === 'APIGW.0301' || code === 'APIG.0301') && /token/i.test(message) && /expire/i.test(message);
}

function huaweiSource(credentials: HuaweiCredentials): CredentialSource {
  return sourceOf<HuaweiKeys>(credentials, (k) => withToken(k.accessKeyId, k.secretAccessKey, k.securityToken));
}

export function projectIdFor(credentials: HuaweiProjects, region: string): string | undefined {
  return credentials.projectIds?.[region] || credentials.projectId || undefined;
}

// ---- response shapes ------------------------------------------------------------------------------

const JobCreatedSchema = z.object({ job_id: z.string().min(1) });

/**
 * ECS service errors: {"error":{"code","message"}} (https://support.huaweicloud.com/api-ecs/ecs_07_0005.html; read by
 * huaweicloud-sdk-nodejs-v3 core/exception/ExceptionUtil.ts).
 */
const EcsErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
/** API gateway errors: {"error_code","error_msg","request_id"} (https://support.huaweicloud.com/en-us/devg-apisign/api-sign-errorcode.html). */
const GatewayErrorSchema = z.object({ error_code: z.string(), error_msg: z.string(), request_id: z.string().optional() });
/** The job API's own failure fields: {"code","message"} at the top level. */
const FlatErrorSchema = z.object({ code: z.string(), message: z.string() });
/** OpenStack Nova-style bodies such as {"itemNotFound":{"message","code":404}}, from the compatible APIs. */
const NovaErrorSchema = z.record(z.string(), z.object({ message: z.string(), code: z.number() }));

// ---- error classification -------------------------------------------------------------------------

export interface CloudError {
  code: string;
  message: string;
  requestId?: string;
  /** The gateway turned the request away for rate: nothing was done ('throttled' evidence for the resend rule). */
  throttled: boolean;
  /** The cloud failed somewhere, perhaps after acting ('ambiguous' evidence: only a read may be sent again). */
  serverFault: boolean;
  afterMs?: number;
}

// APIGW.0308 is documented with HTTP 429, "The throttling threshold has been reached"
// (https://support.huaweicloud.com/en-us/devg-apisign/api-sign-errorcode.html); Huawei's FAQ spells it APIG.0308
// (https://support.huaweicloud.com/intl/en-us/oce_faq/en-us_topic_0000001887959462.html).
const THROTTLE_CODES = new Set(['APIGW.0308', 'APIG.0308']);
// Ecs.0002 is "system exception, try again later or contact customer service"
// (https://support.huaweicloud.com/intl/en-us/api-ecs/ecs_07_0002.html). Nothing there says the request was not
// carried out, so it counts as a server fault (repeat a read, never the reboot POST), whatever its HTTP status.
const SERVER_FAULT_CODES = new Set(['Ecs.0002']);

function errorFields(body: unknown): { code: string; message: string; requestId?: string } | undefined {
  const ecs = EcsErrorSchema.safeParse(body);
  if (ecs.success) return { code: ecs.data.error.code, message: ecs.data.error.message };
  const gateway = GatewayErrorSchema.safeParse(body);
  if (gateway.success) {
    const { error_code: code, error_msg: message, request_id: requestId } = gateway.data;
    return requestId === undefined ? { code, message } : { code, message, requestId };
  }
  const flat = FlatErrorSchema.safeParse(body);
  if (flat.success) return flat.data;
  const nova = NovaErrorSchema.safeParse(body);
  if (nova.success) {
    const [name, detail] = Object.entries(nova.data)[0] ?? [];
    if (name !== undefined && detail !== undefined) return { code: name, message: detail.message };
  }
  return undefined;
}

function snippet(raw: string): string {
  const flat = raw.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? flat.slice(0, 200) + '…' : flat;
}

export function classifyError(res: HttpResponse): CloudError {
  const fields = errorFields(parseJsonOrUndefined(res.text)) ?? {
    code: 'UnexpectedResponse',
    message: `HTTP ${res.status} with an unrecognised body: ${snippet(res.text) || '(empty)'}`,
  };
  const requestId = fields.requestId ?? res.headers['x-request-id'];
  const throttled = res.status === 429 || THROTTLE_CODES.has(fields.code);
  // The SDK maps every 5xx to ServerResponseException (huaweicloud-sdk-nodejs-v3 core/exception/ExceptionUtil.ts)
  // and says nothing of whether the cloud acted; a 502/503/504 from the gateway may follow an ECS that did.
  const serverFault = !throttled && (res.status >= 500 || SERVER_FAULT_CODES.has(fields.code));
  const afterMs = retryAfterMs(res.headers);
  return {
    code: fields.code,
    message: fields.message,
    ...(requestId === undefined ? {} : { requestId }),
    throttled,
    serverFault,
    ...(afterMs === undefined ? {} : { afterMs }),
  };
}

/** An unsettled answer as evidence for the guard's resend rule; the batch reboot has no idempotency token. */
function evidence(answer: ResendAnswer, changesNothing: boolean): ResendEvidence {
  return { answer, changesNothing, resendSafe: huaweiInfo.resendSafe };
}

function errorEvidence(error: CloudError, changesNothing: boolean): ResendEvidence | undefined {
  if (error.throttled) return evidence('throttled', changesNothing);
  return error.serverFault ? evidence('ambiguous', changesNothing) : undefined;
}

function transportEvidence(error: TransportError, changesNothing: boolean): ResendEvidence {
  return evidence(error.phase === 'not-sent' ? 'not-sent' : 'ambiguous', changesNothing);
}

/** An error answer to a read (ListServersDetails): a read changes nothing, so the rule lets a server fault be asked again. */
function readErrorVerdict(res: HttpResponse): AttemptResult<{ kind: 'error'; error: CloudError }> {
  const error = classifyError(res);
  const verdict = { kind: 'error' as const, error };
  const seen = errorEvidence(error, true);
  return seen ? resendVerdict(seen, verdict, error.afterMs) : { final: verdict };
}

// ---- sending --------------------------------------------------------------------------------------

type Sent = { kind: 'http'; res: HttpResponse } | { kind: 'transport'; error: TransportError };
interface Message {
  method: 'GET' | 'POST';
  region: string;
  projectId: string;
  path: string;
  /** Decoded; the signer writes them sorted and RFC 3986-encoded, in the very form it signed. */
  query?: readonly QueryPair[];
  body?: string;
}
type Send = (message: Message) => Promise<Sent>;

/** Signs each request afresh (a new X-Sdk-Date) with every header it sends, X-Project-Id included as the Node SDK does. */
function sender(signer: RequestSigner, endpoint: string | undefined, timeoutMs: number): Send {
  return async ({ method, region, projectId, path, query = [], body }) => {
    const url = new URL(huaweiEndpoint(region, endpoint) + path);
    const headers: Record<string, string> = { 'x-project-id': projectId };
    if (method === 'POST') headers['content-type'] = JSON_CONTENT_TYPE;
    const signed = signer.sign({ method, origin: url.origin, path: url.pathname, query, headers, ...(body === undefined ? {} : { body }) });
    try {
      return { kind: 'http', res: await sendHttp({ ...signed, timeoutMs }) };
    } catch (err) {
      if (err instanceof TransportError) return { kind: 'transport', error: err };
      throw err;
    }
  };
}

// ---- the batch reboot POST ------------------------------------------------------------------------

type PostVerdict =
  | { kind: 'accepted'; jobId: string; serverTime?: number }
  | { kind: 'error'; error: CloudError }
  | { kind: 'server-fault'; status: number; error: CloudError }
  | { kind: 'transport'; error: TransportError }
  | { kind: 'no-job-id'; res: HttpResponse };

/**
 * The POST has no idempotency token (huaweicloud-sdk-nodejs-v3 services/ecs/v2/model/BatchRebootSeversOption.ts carries
 * only servers and type), so under the resend rule it goes again only after throttling or a connection that never sent it.
 */
async function postVerdict(send: Send, region: string, projectId: string, path: string, body: string): Promise<AttemptResult<PostVerdict>> {
  const sent = await send({ method: 'POST', region, projectId, path, body });
  if (sent.kind === 'transport') return resendVerdict(transportEvidence(sent.error, false), { kind: 'transport', error: sent.error });
  if (sent.res.status >= 200 && sent.res.status < 300) {
    const parsed = JobCreatedSchema.safeParse(parseJsonOrUndefined(sent.res.text));
    if (parsed.success) {
      // The cloud's clock when it took the reboot: the runner compares the servers' own time fields against it.
      const serverTime = serverTimeOf(sent.res.headers);
      return { final: { kind: 'accepted', jobId: parsed.data.job_id, ...(serverTime === undefined ? {} : { serverTime }) } };
    }
    return resendVerdict(evidence('ambiguous', false), { kind: 'no-job-id', res: sent.res });
  }
  const error = classifyError(sent.res);
  const seen = errorEvidence(error, false);
  if (!seen) return { final: { kind: 'error', error } };
  return resendVerdict(seen, error.throttled ? { kind: 'error', error } : { kind: 'server-fault', status: sent.res.status, error }, error.afterMs);
}

async function batchReboot(send: Send, call: RebootCall, projectId: string, retry: RetryPolicy, sleep: (ms: number) => Promise<void>): Promise<BatchResult> {
  // Built once and sent as is: the signature covers these exact bytes.
  const body = JSON.stringify({ reboot: { type: call.force ? 'HARD' : 'SOFT', servers: call.ids.map((id) => ({ id })) } });
  const path = `/v1/${rfc3986(projectId)}/cloudservers/action`;
  const verdict = await withRetries(() => postVerdict(send, call.region, projectId, path, body), retry, sleep);
  switch (verdict.kind) {
    case 'accepted':
      return {
        outcomes: [],
        pending: { jobId: verdict.jobId, ids: [...call.ids] },
        ...(verdict.serverTime === undefined ? {} : { serverTime: verdict.serverTime }),
      };
    case 'error':
      return { outcomes: failAll(call.ids, verdict.error.code, verdict.error.message, verdict.error.requestId) };
    case 'server-fault': {
      const { code, message, requestId } = verdict.error;
      const ref = requestId === undefined ? '' : `, request ${requestId}`;
      return {
        outcomes: unknownAll(
          call.ids,
          `the reboot was answered HTTP ${verdict.status} ${code} (${message}${ref}), which does not say whether ECS acted; the servers may or may not be rebooting — check them in the console`,
        ),
      };
    }
    case 'transport':
      if (verdict.error.phase === 'not-sent') {
        return { outcomes: failAll(call.ids, verdict.error.code, verdict.error.message) };
      }
      return {
        outcomes: unknownAll(
          call.ids,
          `request sent but no answer (network error ${verdict.error.code}); the servers may or may not be rebooting — check them in the console`,
        ),
      };
    case 'no-job-id':
      // A 2xx means the cloud took the request, so the servers may be rebooting: 'failed' would invite a
      // second reboot. The code still names the problem.
      return {
        outcomes: unknownAll(
          call.ids,
          `UnexpectedResponse: HTTP ${verdict.res.status} without a job_id (${snippet(verdict.res.text) || 'empty body'}); the servers may be rebooting — check them in the console`,
        ),
      };
  }
}

// ---- reads: ListServersDetails and the job query --------------------------------------------------

type PageVerdict =
  | { kind: 'page'; list: ServerList; serverTime?: number }
  | { kind: 'error'; error: CloudError }
  | { kind: 'transport'; error: TransportError };

/** One page of ListServersDetails; a read changes nothing, so every unsettled answer may be asked again. */
async function pageVerdict(send: Send, message: Message): Promise<AttemptResult<PageVerdict>> {
  const sent = await send(message);
  if (sent.kind === 'transport') return resendVerdict(transportEvidence(sent.error, true), { kind: 'transport', error: sent.error });
  if (sent.res.status !== 200) return readErrorVerdict(sent.res);
  const parsed = ServerListSchema.safeParse(parseJsonOrUndefined(sent.res.text));
  if (parsed.success) {
    const serverTime = serverTimeOf(sent.res.headers);
    return { final: { kind: 'page', list: parsed.data, ...(serverTime === undefined ? {} : { serverTime }) } };
  }
  // An unreadable 2xx says nothing about the servers: an error (never "not found"), asked again while the policy allows.
  const error: CloudError = {
    code: 'UnexpectedResponse',
    message: `ListServersDetails answered HTTP ${sent.res.status} with an unrecognised body: ${snippet(sent.res.text) || '(empty)'}`,
    throttled: false,
    serverFault: true,
  };
  return resendVerdict(evidence('ambiguous', true), { kind: 'error', error });
}

function readFailure(verdict: Exclude<PageVerdict, { kind: 'page' }>): DescribeResult {
  if (verdict.kind === 'transport') return { kind: 'error', code: verdict.error.code, message: verdict.error.message, throttled: false };
  const { code, message, requestId, throttled } = verdict.error;
  return { kind: 'error', code, message: requestId === undefined ? message : `${message} (request ${requestId})`, throttled };
}

/**
 * ListServersDetails filtered by id. `server_id` takes a comma-separated list, exact match, and with it every other
 * filter is ignored; keep to 100 ids so the URI stays short (huaweicloud-sdk-java-v3
 * services/ecs/src/main/java/com/huaweicloud/sdk/ecs/v2/model/ListServersDetailsRequest.java, getServerId() javadoc).
 * The query goes sorted and RFC 3986-encoded (`,` as `%2C`), the same bytes on the wire as in the signature.
 */
async function describeServers(
  send: Send,
  call: DescribeCall,
  projectId: string,
  pageSize: number,
  retry: RetryPolicy,
  sleep: (ms: number) => Promise<void>,
): Promise<DescribeResult> {
  const path = `/v1/${rfc3986(projectId)}/cloudservers/detail`;
  const serverIds = call.ids.join(',');
  const byId = new Map<string, InstanceReading>();
  let serverTime: number | undefined;
  let marker: string | undefined;
  // UNCONFIRMED whether `limit` (default 25) still pages the answer when server_id is given: we set it and follow
  // `marker` (the last id of a full page, https://support.huaweicloud.com/api-ecs/zh-cn_topic_0094148850.html) while a
  // page comes back full and ids are still unanswered. If the cloud ignored marker along with the other filters it
  // would send the same page again, so a page that adds nothing new ends the loop, and so does a page count no
  // honest paging needs.
  const maxPages = Math.ceil(call.ids.length / pageSize) + 1;
  for (let page = 0; page < maxPages; page++) {
    const query: QueryPair[] = [['limit', String(pageSize)], ['server_id', serverIds], ...(marker === undefined ? [] : [['marker', marker] as const])];
    const verdict = await withRetries(() => pageVerdict(send, { method: 'GET', region: call.region, projectId, path, query }), retry, sleep);
    if (verdict.kind !== 'page') return readFailure(verdict);
    serverTime ??= verdict.serverTime;
    const { servers } = verdict.list;
    let fresh = 0;
    for (const entry of servers) {
      if (byId.has(entry.id)) continue;
      byId.set(entry.id, readingOf(entry));
      fresh += 1;
    }
    const unanswered = call.ids.some((id) => !byId.has(id));
    const last = servers.at(-1);
    if (servers.length < pageSize || !unanswered || fresh === 0 || last === undefined) break;
    marker = last.id;
  }
  // An id the cloud gave no entry at all is left out: unread, not "not found" (Huawei names unknown ids explicitly).
  const readings = call.ids.flatMap((id) => byId.get(id) ?? []);
  return serverTime === undefined ? { kind: 'read', readings } : { kind: 'read', readings, serverTime };
}

async function queryJob(send: Send, region: string, projectId: string, jobId: string): Promise<JobQuery> {
  const sent = await send({ method: 'GET', region, projectId, path: `/v1/${rfc3986(projectId)}/jobs/${rfc3986(jobId)}` });
  if (sent.kind === 'transport') {
    return mayResend(transportEvidence(sent.error, true)) ? { kind: 'retry', why: sent.error.message } : { kind: 'fatal', why: sent.error.message };
  }
  if (sent.res.status === 200) {
    const parsed = JobSchema.safeParse(parseJsonOrUndefined(sent.res.text));
    if (parsed.success) return { kind: 'job', job: parsed.data };
    return { kind: 'fatal', why: `UnexpectedResponse: job query answered HTTP 200 with ${snippet(sent.res.text) || 'an empty body'}` };
  }
  const error = classifyError(sent.res);
  const why = `${error.code}: ${error.message}`;
  const seen = errorEvidence(error, true);
  if (!seen || !mayResend(seen)) return { kind: 'fatal', why };
  return { kind: 'retry', why, ...(error.afterMs === undefined ? {} : { afterMs: error.afterMs }) };
}

// ---- the provider ---------------------------------------------------------------------------------

export function createHuaweiProvider(options: HuaweiClientOptions): Provider {
  const source = huaweiSource(options.credentials);
  const { projectId, projectIds } = options.credentials;
  const credentials: HuaweiCredentials = { source, ...(projectId === undefined ? {} : { projectId }), ...(projectIds === undefined ? {} : { projectIds }) };
  return guardProvider(huaweiInfo, huaweiCalls({ ...options, credentials }), {
    secrets: [],
    credentials: source,
    isTokenExpired: isHuaweiTokenExpired,
    ...(options.onCall ? { onCall: options.onCall } : {}),
  });
}

/** The client's own calls, before the guard wraps them (exported so tests can see what the client itself returns). */
export function huaweiCalls(options: HuaweiClientOptions): GuardedCalls {
  const sleep = options.sleep ?? realSleep;
  const describePageSize = Math.max(1, Math.min(1000, options.describePageSize ?? DESCRIBE_PAGE_SIZE));
  const follow: FollowOptions = {
    initialDelayMs: options.pollInitialDelayMs ?? 5_000,
    maxDelayMs: options.pollMaxDelayMs ?? 10_000,
    timeoutMs: options.pollTimeoutMs ?? 600_000,
    now: options.now ?? ((): Date => new Date()),
    sleep,
  };
  const source = huaweiSource(options.credentials);

  function sendFor(scope: CallScope): Send {
    // Credentials are asked for at every request, so a rotated key or token is used from the next request on.
    const signer = scope.track(
      perRequestSigner(source, ({ keyId, secret, token }) =>
        createHuaweiSigner({
          credentials: { accessKeyId: keyId, secretAccessKey: secret, ...(token === undefined ? {} : { securityToken: token }) },
          ...(options.now ? { now: options.now } : {}),
        }),
      ),
    );
    return sender(signer, options.endpoint, options.timeoutMs);
  }

  async function reboot(call: RebootCall, scope: CallScope): Promise<BatchResult> {
    const projectId = projectIdFor(options.credentials, call.region);
    if (!projectId) {
      return {
        outcomes: failAll(
          call.ids,
          'ProjectIdMissing',
          `no Huawei Cloud project id for region ${call.region}: set HUAWEICLOUD_SDK_PROJECT_ID (or a per-region project id); nothing sent`,
        ),
      };
    }
    return batchReboot(sendFor(scope), call, projectId, options.retry, sleep);
  }

  async function poll(call: PollCall, scope: CallScope): Promise<InstanceOutcome[]> {
    const { handle } = call;
    const projectId = projectIdFor(options.credentials, call.region);
    if (!projectId) {
      return unknownAll(handle.ids, `cannot follow Huawei job ${handle.jobId}: no project id for ${call.region} (HUAWEICLOUD_SDK_PROJECT_ID); check the job in the console`);
    }
    const send = sendFor(scope);
    return followJob(handle, () => queryJob(send, call.region, projectId, handle.jobId), call.onProgress, follow);
  }

  async function describe(call: DescribeCall, scope: CallScope): Promise<DescribeResult> {
    // The same project as the reboot call for the region, so a read sees the servers a reboot would name.
    const projectId = projectIdFor(options.credentials, call.region);
    if (!projectId) {
      return {
        kind: 'error',
        code: 'ProjectIdMissing',
        message: `no Huawei Cloud project id for region ${call.region}: set HUAWEICLOUD_SDK_PROJECT_ID (or a per-region project id); nothing sent`,
        throttled: false,
      };
    }
    return describeServers(sendFor(scope), call, projectId, describePageSize, options.retry, sleep);
  }

  return { reboot, poll, describe };
}
