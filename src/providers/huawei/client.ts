/**
 * Huawei Cloud ECS batch reboot (POST /v1/{project_id}/cloudservers/action), an asynchronous API:
 * the POST answers with a job id and `poll` follows GET /v1/{project_id}/jobs/{job_id} until every
 * sub-job (one per server) has finished. providers.md §4.
 */
import { z } from 'zod';
import { TransportError, retryAfterMs, sendHttp, type HttpResponse } from '../http.js';
import type {
  AsyncJobHandle,
  BatchResult,
  ClientOptions,
  InstanceOutcome,
  PollCall,
  Provider,
  RebootCall,
} from '../provider.js';
import { failAll, failedOutcome, parseJsonOrUndefined, redactOutcome, unknownAll, unknownOutcome } from '../outcomes.js';
import { realSleep, retryVerdict, withRetries, type AttemptResult } from '../retry.js';
import { compactIso, hostHeader, rfc3986 } from '../signing.js';
import { huaweiInfo } from './info.js';
import { signRequest } from './signer.js';

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

const JSON_CONTENT_TYPE = 'application/json;charset=UTF-8';
const POLL_GROWTH = 1.5;

export function huaweiEndpoint(region: string, override?: string): string {
  if (override) return override.replace(/\/+$/, '');
  // The European sovereign region lives under its own top-level domain (providers.md §4.4).
  const domain = region === 'eu-west-101' ? 'myhuaweicloud.eu' : 'myhuaweicloud.com';
  return `https://ecs.${region}.${domain}`;
}

export function projectIdFor(credentials: HuaweiCredentials, region: string): string | undefined {
  return credentials.projectIds?.[region] || credentials.projectId || undefined;
}

// ---- response shapes ------------------------------------------------------------------------------

const JobCreatedSchema = z.object({ job_id: z.string().min(1) });

const text = z.string().nullish();

const SubJobSchema = z.object({
  status: z.string(),
  job_id: text,
  error_code: text,
  fail_reason: text,
  entities: z.object({ server_id: text }).nullish(),
});

const JobSchema = z.object({
  status: z.string(),
  job_id: text,
  error_code: text,
  fail_reason: text,
  entities: z
    .object({
      sub_jobs_total: z.number().nullish(),
      sub_jobs: z.array(SubJobSchema).nullish(),
      // A single-server job may name its server directly instead of listing sub-jobs.
      server_id: text,
    })
    .nullish(),
});
type Job = z.infer<typeof JobSchema>;
type SubJob = z.infer<typeof SubJobSchema>;

const ServerSchema = z.object({ server: z.object({ id: z.string(), status: z.string() }) });

/** ECS service errors: {"error":{"code","message"}} (providers.md §4.7). */
const EcsErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
/** API gateway errors: {"error_code","error_msg","request_id"}. */
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
  /** The gateway turned the request away for rate: nothing was done, so even the reboot POST may go again. */
  throttled: boolean;
  /** The cloud failed somewhere, perhaps after acting: only a read may be sent again. */
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

/** An error answer to a read (ShowServer, the job query): a read changes nothing, so a server fault may be asked again. */
function readErrorVerdict(res: HttpResponse): AttemptResult<{ kind: 'error'; error: CloudError }> {
  const error = classifyError(res);
  const verdict = { kind: 'error' as const, error };
  return error.throttled || error.serverFault ? retryVerdict(verdict, error.afterMs) : { final: verdict };
}

// ---- job mapping (pure) ---------------------------------------------------------------------------

const FINAL = new Set(['SUCCESS', 'FAIL']);

function subJobsOf(job: Job): SubJob[] {
  const listed = job.entities?.sub_jobs;
  if (listed && listed.length > 0) return listed;
  const serverId = job.entities?.server_id;
  if (!serverId) return [];
  return [{ status: job.status, error_code: job.error_code, fail_reason: job.fail_reason, entities: { server_id: serverId } }];
}

export function jobProgress(job: Job, expected: number): { done: number; total: number } {
  const subJobs = subJobsOf(job);
  return {
    done: subJobs.filter((s) => FINAL.has(s.status)).length,
    total: job.entities?.sub_jobs_total ?? (subJobs.length || expected),
  };
}

/** Final outcomes of the servers whose sub-job has finished; servers still running are left out. */
export function finishedOutcomes(job: Job, jobId: string): Map<string, InstanceOutcome> {
  const out = new Map<string, InstanceOutcome>();
  for (const sub of subJobsOf(job)) {
    const id = sub.entities?.server_id;
    if (!id) continue;
    if (sub.status === 'SUCCESS') {
      out.set(id, { id, status: 'succeeded', detail: `Huawei job ${jobId}: SUCCESS` });
    } else if (sub.status === 'FAIL') {
      // A sub-job may fail without a code; ours names the job so a human can find it.
      out.set(id, failedOutcome(id, sub.error_code ?? 'Ecs.SubJobFailed', sub.fail_reason ?? `sub-job of Huawei job ${jobId} failed without a reason`));
    }
  }
  return out;
}

function withRest(ids: readonly string[], done: Map<string, InstanceOutcome>, reason: (id: string) => string): InstanceOutcome[] {
  return ids.map((id) => done.get(id) ?? unknownOutcome(id, reason(id)));
}

// ---- the provider ---------------------------------------------------------------------------------

type Sent = { kind: 'http'; res: HttpResponse } | { kind: 'transport'; error: TransportError };

type PostVerdict =
  | { kind: 'accepted'; jobId: string }
  | { kind: 'error'; error: CloudError }
  | { kind: 'server-fault'; status: number; error: CloudError }
  | { kind: 'transport'; error: TransportError }
  | { kind: 'no-job-id'; res: HttpResponse };

type CheckVerdict = { kind: 'server'; status: string } | { kind: 'error'; error: CloudError } | { kind: 'transport'; error: TransportError };

type PollVerdict =
  | { kind: 'job'; job: Job }
  | { kind: 'retry'; why: string; afterMs?: number }
  | { kind: 'fatal'; why: string };

export function createHuaweiProvider(options: HuaweiClientOptions): Provider {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? realSleep;
  const pollInitialDelayMs = options.pollInitialDelayMs ?? 5_000;
  const pollMaxDelayMs = options.pollMaxDelayMs ?? 10_000;
  const pollTimeoutMs = options.pollTimeoutMs ?? 600_000;
  const dryRunConcurrency = Math.max(1, options.dryRunConcurrency ?? 4);

  async function send(method: 'GET' | 'POST', region: string, projectId: string, path: string, body = ''): Promise<Sent> {
    const url = new URL(huaweiEndpoint(region, options.endpoint) + path);
    const sdkDate = compactIso(now());
    const headers: Record<string, string> = { host: hostHeader(url), 'x-project-id': projectId, 'x-sdk-date': sdkDate };
    if (method === 'POST') headers['content-type'] = JSON_CONTENT_TYPE;
    const { authorization } = signRequest({
      method,
      path: url.pathname,
      query: [],
      headers,
      body,
      sdkDate,
      accessKeyId: options.credentials.accessKeyId,
      secretAccessKey: options.credentials.secretAccessKey,
    });
    try {
      const res = await sendHttp({
        method,
        url,
        headers: { ...headers, authorization },
        ...(method === 'POST' ? { body } : {}),
        timeoutMs: options.timeoutMs,
      });
      return { kind: 'http', res };
    } catch (err) {
      if (err instanceof TransportError) return { kind: 'transport', error: err };
      throw err;
    }
  }

  async function batchReboot(call: RebootCall, projectId: string): Promise<BatchResult> {
    // Built once and sent as is: the signature covers these exact bytes.
    const body = JSON.stringify({ reboot: { type: call.force ? 'HARD' : 'SOFT', servers: call.ids.map((id) => ({ id })) } });
    const path = `/v1/${rfc3986(projectId)}/cloudservers/action`;
    const verdict = await withRetries<PostVerdict>(
      async (): Promise<AttemptResult<PostVerdict>> => {
        const sent = await send('POST', call.region, projectId, path, body);
        if (sent.kind === 'transport') {
          const v: PostVerdict = { kind: 'transport', error: sent.error };
          // Batch reboot has no idempotency token: only a request that never left may go again.
          return sent.error.phase === 'not-sent' ? { retry: v } : { final: v };
        }
        if (sent.res.status >= 200 && sent.res.status < 300) {
          const parsed = JobCreatedSchema.safeParse(parseJsonOrUndefined(sent.res.text));
          return { final: parsed.success ? { kind: 'accepted', jobId: parsed.data.job_id } : { kind: 'no-job-id', res: sent.res } };
        }
        const error = classifyError(sent.res);
        // The POST has no idempotency token (huaweicloud-sdk-nodejs-v3 services/ecs/v2/model/BatchRebootSeversOption.ts
        // carries only servers and type), so only an answer proving nothing was done may be sent again: throttling.
        if (error.throttled) return retryVerdict({ kind: 'error', error }, error.afterMs);
        if (error.serverFault) return { final: { kind: 'server-fault', status: sent.res.status, error } };
        return { final: { kind: 'error', error } };
      },
      options.retry,
      sleep,
    );
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

  async function checkServer(region: string, projectId: string, id: string): Promise<InstanceOutcome> {
    const path = `/v1/${rfc3986(projectId)}/cloudservers/${rfc3986(id)}`;
    const verdict = await withRetries<CheckVerdict>(
      async (): Promise<AttemptResult<CheckVerdict>> => {
        const sent = await send('GET', region, projectId, path);
        // A read changes nothing, so even an ambiguous failure may be retried.
        if (sent.kind === 'transport') return { retry: { kind: 'transport', error: sent.error } };
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
      },
      options.retry,
      sleep,
    );
    if (verdict.kind === 'transport') return failedOutcome(id, verdict.error.code, verdict.error.message);
    if (verdict.kind === 'error') return failedOutcome(id, verdict.error.code, verdict.error.message, verdict.error.requestId);
    if (verdict.status === 'ACTIVE') return { id, status: 'checked', detail: 'would reboot (ACTIVE)' };
    // Huawei has no dry run: this code is reboot-bot's own, from a ShowServer pre-check.
    return failedOutcome(id, 'Ecs.NotActive', `server status is ${verdict.status}; a reboot needs ACTIVE (reboot-bot dry-run check, not a cloud error)`);
  }

  async function dryRun(call: RebootCall, projectId: string): Promise<BatchResult> {
    const outcomes: InstanceOutcome[] = new Array<InstanceOutcome>(call.ids.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < call.ids.length) {
        const index = next++;
        outcomes[index] = await checkServer(call.region, projectId, call.ids[index]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(dryRunConcurrency, call.ids.length) }, worker));
    return { outcomes };
  }

  async function queryJob(region: string, projectId: string, jobId: string): Promise<PollVerdict> {
    const sent = await send('GET', region, projectId, `/v1/${rfc3986(projectId)}/jobs/${rfc3986(jobId)}`);
    if (sent.kind === 'transport') return { kind: 'retry', why: sent.error.message };
    if (sent.res.status === 200) {
      const parsed = JobSchema.safeParse(parseJsonOrUndefined(sent.res.text));
      if (parsed.success) return { kind: 'job', job: parsed.data };
      return { kind: 'fatal', why: `UnexpectedResponse: job query answered HTTP 200 with ${snippet(sent.res.text) || 'an empty body'}` };
    }
    const error = classifyError(sent.res);
    const why = `${error.code}: ${error.message}`;
    // A read changes nothing: a server fault is asked again like throttling.
    const again = error.throttled || error.serverFault;
    return again ? { kind: 'retry', why, ...(error.afterMs === undefined ? {} : { afterMs: error.afterMs }) } : { kind: 'fatal', why };
  }

  async function poll(call: PollCall): Promise<InstanceOutcome[]> {
    const { handle } = call;
    const projectId = projectIdFor(options.credentials, call.region);
    if (!projectId) {
      return unknownAll(handle.ids, `cannot follow Huawei job ${handle.jobId}: no project id for ${call.region} (HUAWEICLOUD_SDK_PROJECT_ID); check the job in the console`);
    }
    return followJob(call, handle, projectId);
  }

  async function followJob(call: PollCall, handle: AsyncJobHandle, projectId: string): Promise<InstanceOutcome[]> {
    const deadline = now().getTime() + pollTimeoutMs;
    let delay = pollInitialDelayMs;
    let wait = delay;
    let lastDone = -1;
    let finished = new Map<string, InstanceOutcome>();
    let lastState = 'not yet queried';
    for (;;) {
      const remaining = deadline - now().getTime();
      if (remaining <= 0) {
        return withRest(handle.ids, finished, () =>
          `Huawei job ${handle.jobId} had not finished for this server after ${Math.round(pollTimeoutMs / 1000)} s (${lastState}); check the job in the console`,
        );
      }
      await sleep(Math.min(wait, remaining));
      const verdict = await queryJob(call.region, projectId, handle.jobId);
      delay = Math.min(pollMaxDelayMs, delay * POLL_GROWTH);
      wait = delay;
      if (verdict.kind === 'retry') {
        lastState = `last query failed: ${verdict.why}`;
        wait = Math.max(delay, verdict.afterMs ?? 0);
        continue;
      }
      if (verdict.kind === 'fatal') {
        return withRest(handle.ids, finished, () =>
          `could not follow Huawei job ${handle.jobId} (${verdict.why}); the reboot was accepted — check the job in the console`,
        );
      }
      const { job } = verdict;
      lastState = `job ${job.status}`;
      finished = finishedOutcomes(job, handle.jobId);
      const { done, total } = jobProgress(job, handle.ids.length);
      if (done !== lastDone) {
        lastDone = done;
        call.onProgress?.(done, total);
      }
      if (FINAL.has(job.status)) {
        const cause = [job.error_code, job.fail_reason].filter(Boolean).join(' ');
        const jobFailure = cause ? ` (job: ${cause})` : '';
        return withRest(handle.ids, finished, () =>
          `Huawei job ${handle.jobId} ended ${job.status} without a sub-job for this server${jobFailure}; check it in the console`,
        );
      }
    }
  }

  async function reboot(call: RebootCall): Promise<BatchResult> {
    if (call.ids.length === 0) return { outcomes: [] };
    if (call.ids.length > huaweiInfo.maxBatch) {
      return {
        outcomes: failAll(call.ids, 'BatchTooLarge', `batch reboot takes at most ${huaweiInfo.maxBatch} servers per call; got ${call.ids.length} (nothing sent)`),
      };
    }
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
    return call.dryRun ? dryRun(call, projectId) : batchReboot(call, projectId);
  }

  // Cloud messages reach Slack: make sure the secret key can never ride along in one.
  const hidden = [options.credentials.secretAccessKey];
  return {
    info: huaweiInfo,
    reboot: async (call) => {
      const result = await reboot(call);
      return { ...result, outcomes: result.outcomes.map((o) => redactOutcome(o, hidden)) };
    },
    poll: async (call) => (await poll(call)).map((o) => redactOutcome(o, hidden)),
  };
}
