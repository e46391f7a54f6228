/**
 * Huawei Cloud ECS batch reboot, the transport half: signing, sending and reading the cloud's answers.
 * POST /v1/{project_id}/cloudservers/action (BatchRebootServers, https://support.huaweicloud.com/api-ecs/ecs_02_0302.html)
 * answers with a job id; job-follower.ts follows the job, asking this file for each job query. Dry runs read
 * each server with ShowServer (GET /v1/{project_id}/cloudservers/{server_id}).
 */
import { z } from 'zod';
import { guardProvider, mayResend, resendVerdict, type CallScope, type ResendAnswer, type ResendEvidence } from '../guard.js';
import { TransportError, retryAfterMs, sendHttp, type HttpResponse } from '../http.js';
import { failAll, failedOutcome, parseJsonOrUndefined, unknownAll } from '../outcomes.js';
import type { BatchResult, ClientOptions, InstanceOutcome, PollCall, Provider, RebootCall } from '../provider.js';
import { realSleep, withRetries, type AttemptResult, type RetryPolicy } from '../retry.js';
import { rfc3986, type RequestSigner } from '../signing.js';
import { huaweiInfo } from './info.js';
import { followJob, JobSchema, type FollowOptions, type JobQuery } from './job-follower.js';
import { createHuaweiSigner } from './signer.js';

export interface HuaweiCredentials {
  accessKeyId: string;
  secretAccessKey: string;
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
  /** Parallel ShowServer calls in a dry run (default 4), well under the gateway's per-API limit. */
  dryRunConcurrency?: number;
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

export function projectIdFor(credentials: HuaweiCredentials, region: string): string | undefined {
  return credentials.projectIds?.[region] || credentials.projectId || undefined;
}

// ---- response shapes ------------------------------------------------------------------------------

const JobCreatedSchema = z.object({ job_id: z.string().min(1) });

const ServerSchema = z.object({ server: z.object({ id: z.string(), status: z.string() }) });

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

/** An error answer to a read (ShowServer): a read changes nothing, so the rule lets a server fault be asked again. */
function readErrorVerdict(res: HttpResponse): AttemptResult<{ kind: 'error'; error: CloudError }> {
  const error = classifyError(res);
  const verdict = { kind: 'error' as const, error };
  const seen = errorEvidence(error, true);
  return seen ? resendVerdict(seen, verdict, error.afterMs) : { final: verdict };
}

// ---- sending --------------------------------------------------------------------------------------

type Sent = { kind: 'http'; res: HttpResponse } | { kind: 'transport'; error: TransportError };
type Send = (method: 'GET' | 'POST', region: string, projectId: string, path: string, body?: string) => Promise<Sent>;

/** Signs each request afresh (a new X-Sdk-Date) with every header it sends, X-Project-Id included as the Node SDK does. */
function sender(signer: RequestSigner, endpoint: string | undefined, timeoutMs: number): Send {
  return async (method, region, projectId, path, body) => {
    const url = new URL(huaweiEndpoint(region, endpoint) + path);
    const headers: Record<string, string> = { 'x-project-id': projectId };
    if (method === 'POST') headers['content-type'] = JSON_CONTENT_TYPE;
    const signed = signer.sign({ method, origin: url.origin, path: url.pathname, query: [], headers, ...(body === undefined ? {} : { body }) });
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
  | { kind: 'accepted'; jobId: string }
  | { kind: 'error'; error: CloudError }
  | { kind: 'server-fault'; status: number; error: CloudError }
  | { kind: 'transport'; error: TransportError }
  | { kind: 'no-job-id'; res: HttpResponse };

/**
 * The POST has no idempotency token (huaweicloud-sdk-nodejs-v3 services/ecs/v2/model/BatchRebootSeversOption.ts carries
 * only servers and type), so under the resend rule it goes again only after throttling or a connection that never sent it.
 */
async function postVerdict(send: Send, region: string, projectId: string, path: string, body: string): Promise<AttemptResult<PostVerdict>> {
  const sent = await send('POST', region, projectId, path, body);
  if (sent.kind === 'transport') return resendVerdict(transportEvidence(sent.error, false), { kind: 'transport', error: sent.error });
  if (sent.res.status >= 200 && sent.res.status < 300) {
    const parsed = JobCreatedSchema.safeParse(parseJsonOrUndefined(sent.res.text));
    if (parsed.success) return { final: { kind: 'accepted', jobId: parsed.data.job_id } };
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
      return { outcomes: [], pending: { jobId: verdict.jobId, ids: [...call.ids] } };
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

// ---- reads: the dry run's ShowServer and the job query --------------------------------------------

type CheckVerdict = { kind: 'server'; status: string } | { kind: 'error'; error: CloudError } | { kind: 'transport'; error: TransportError };

async function checkVerdict(send: Send, region: string, projectId: string, id: string): Promise<AttemptResult<CheckVerdict>> {
  const sent = await send('GET', region, projectId, `/v1/${rfc3986(projectId)}/cloudservers/${rfc3986(id)}`);
  if (sent.kind === 'transport') return resendVerdict(transportEvidence(sent.error, true), { kind: 'transport', error: sent.error });
  if (sent.res.status === 200) {
    const parsed = ServerSchema.safeParse(parseJsonOrUndefined(sent.res.text));
    if (parsed.success) return { final: { kind: 'server', status: parsed.data.server.status } };
    const error: CloudError = {
      code: 'UnexpectedResponse',
      message: `ShowServer answered HTTP 200 with an unrecognised body: ${snippet(sent.res.text)}`,
      throttled: false,
      serverFault: false,
    };
    return { final: { kind: 'error', error } };
  }
  return readErrorVerdict(sent.res);
}

async function checkServer(send: Send, region: string, projectId: string, id: string, retry: RetryPolicy, sleep: (ms: number) => Promise<void>): Promise<InstanceOutcome> {
  const verdict = await withRetries(() => checkVerdict(send, region, projectId, id), retry, sleep);
  if (verdict.kind === 'transport') return failedOutcome(id, verdict.error.code, verdict.error.message);
  if (verdict.kind === 'error') return failedOutcome(id, verdict.error.code, verdict.error.message, verdict.error.requestId);
  if (verdict.status === 'ACTIVE') return { id, status: 'checked', detail: 'would reboot (ACTIVE)' };
  // Huawei has no dry run: this code is reboot-bot's own, from a ShowServer pre-check.
  return failedOutcome(id, 'Ecs.NotActive', `server status is ${verdict.status}; a reboot needs ACTIVE (reboot-bot dry-run check, not a cloud error)`);
}

async function queryJob(send: Send, region: string, projectId: string, jobId: string): Promise<JobQuery> {
  const sent = await send('GET', region, projectId, `/v1/${rfc3986(projectId)}/jobs/${rfc3986(jobId)}`);
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
  const sleep = options.sleep ?? realSleep;
  const dryRunConcurrency = Math.max(1, options.dryRunConcurrency ?? 4);
  const follow: FollowOptions = {
    initialDelayMs: options.pollInitialDelayMs ?? 5_000,
    maxDelayMs: options.pollMaxDelayMs ?? 10_000,
    timeoutMs: options.pollTimeoutMs ?? 600_000,
    now: options.now ?? ((): Date => new Date()),
    sleep,
  };
  const { accessKeyId, secretAccessKey } = options.credentials;

  function sendFor(scope: CallScope): Send {
    const signer = scope.track(createHuaweiSigner({ credentials: { accessKeyId, secretAccessKey }, ...(options.now ? { now: options.now } : {}) }));
    return sender(signer, options.endpoint, options.timeoutMs);
  }

  async function dryRun(send: Send, call: RebootCall, projectId: string): Promise<BatchResult> {
    const outcomes: InstanceOutcome[] = new Array<InstanceOutcome>(call.ids.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < call.ids.length) {
        const index = next++;
        outcomes[index] = await checkServer(send, call.region, projectId, call.ids[index]!, options.retry, sleep);
      }
    };
    await Promise.all(Array.from({ length: Math.min(dryRunConcurrency, call.ids.length) }, worker));
    return { outcomes };
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
    const send = sendFor(scope);
    return call.dryRun ? dryRun(send, call, projectId) : batchReboot(send, call, projectId, options.retry, sleep);
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

  return guardProvider(huaweiInfo, { reboot, poll }, { secrets: [secretAccessKey], ...(options.onCall ? { onCall: options.onCall } : {}) });
}
