/**
 * A loopback stand-in for the Huawei Cloud API gateway in front of ECS: SDK-HMAC-SHA256 verified from
 * the raw request, batch reboot as an asynchronous job with one sub-job per server, the job query,
 * ListServersDetails filtered by id, and ShowServer. Error bodies use the two documented shapes: ECS's {"error":{"code","message"}}
 * (https://support.huaweicloud.com/api-ecs/ecs_07_0005.html) and the gateway's {"error_code","error_msg","request_id"}
 * (https://support.huaweicloud.com/en-us/devg-apisign/api-sign-errorcode.html).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parseJsonOrUndefined } from '../outcomes.js';
import { constantTimeEqual, decodeRawQuery, isoSeconds } from '../signing.js';
import {
  retryAfterHeaders,
  SimulatedKeys,
  SimulatorServer,
  type SimulatedInstance,
  type SimulatorRequest,
  type SimulatorResponse,
} from '../simulator-kit.js';
import { expectedSignature, parseAuthorization, parseSdkDate, SECURITY_TOKEN_HEADER } from './signer.js';

export interface HuaweiSimulatorOptions {
  /** Access key id → secret key. */
  credentials: Record<string, string>;
  /** AK → security token: these are temporary AK/SKs and need their X-Security-Token on every request. */
  securityTokens?: Record<string, string>;
  /** How long one server's reboot (and its sub-job) takes. */
  rebootMs?: number;
  /**
   * Sub-job i of n finishes at rebootMs + spread·i/n, so a poller sees progress rather than all-or-nothing.
   * Default rebootMs / 2.
   */
  subJobSpreadMs?: number;
  /** How long the sub-job of a server that never comes back stays RUNNING before it ends FAIL (default 10 × rebootMs). */
  stuckSubJobMs?: number;
}

/** A canned answer for the next matching request, after authentication: any documented error code. */
export interface ScriptedAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Which API it answers (default: any). */
  on?: 'action' | 'job' | 'server' | 'list';
  count?: number;
}

type JobState = 'INIT' | 'RUNNING' | 'SUCCESS' | 'FAIL';

interface SimSubJob {
  jobId: string;
  serverId: string;
  startAt: number;
  endAt: number;
  /** Decided when the job is created; applied when the sub-job ends. */
  failure?: { code: string; reason: string };
}

interface SimJob {
  jobId: string;
  projectId: string;
  createdAt: number;
  subJobs: SimSubJob[];
}

const MAX_SERVERS = 1000;
const SKEW_MS = 15 * 60_000;

const RebootBodySchema = z.object({
  reboot: z.object({
    type: z.enum(['SOFT', 'HARD']),
    servers: z.array(z.object({ id: z.string().min(1) })).min(1),
  }),
});

const ACTION_PATH = /^\/v1\/([^/]+)\/cloudservers\/action$/;
const JOB_PATH = /^\/v1\/([^/]+)\/jobs\/([^/]+)$/;
const LIST_PATH = /^\/v1\/([^/]+)\/cloudservers\/detail$/;
const SERVER_PATH = /^\/v1\/([^/]+)\/cloudservers\/([^/]+)$/;
/** ListServersDetails `limit`: 1..1000, 25 by default (huaweicloud-sdk-java-v3 …/ecs/v2/model/ListServersDetailsRequest.java, getLimit()). */
const DEFAULT_LIMIT = 25;
const MAX_LIMIT = 1000;

function hex32(): string {
  return randomBytes(16).toString('hex');
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : isoSeconds(new Date(ms));
}

function gatewayError(status: number, code: string, message: string, requestId: string): SimulatorResponse {
  return { status, body: { error_code: code, error_msg: message, request_id: requestId } };
}

function ecsError(status: number, code: string, message: string): SimulatorResponse {
  return { status, body: { error: { code, message } } };
}

/** Ecs.0002, ECS's "system exception", with whatever 5xx the fault asks for. */
function systemException(status: number): SimulatorResponse {
  return ecsError(status, 'Ecs.0002', 'A system exception occurred. Try again later or contact customer service.');
}

interface ServerState {
  status: string;
  vmState: string;
  taskState: string | null;
  powerState: number;
}

/**
 * The fleet's lifecycle in ECS terms (https://support.huaweicloud.com/intl/en-us/api-ecs/ecs_08_0002.html: REBOOT "The
 * ECS is being restarted", HARD_REBOOT "being forcibly restarted"). The task states are nova's
 * (openstack/nova nova/compute/task_states.py), which huaweicloud-sdk-nodejs-v3 services/bms/v1/model/ServerDetails.ts
 * repeats: rebooting while the guest goes down, reboot_started once it is coming up, with _hard forms for a forced
 * reboot. power_state is nova's 1 running, 4 shutdown.
 */
function serverStatus(instance: SimulatedInstance): ServerState {
  const hard = instance.lastForce === true;
  switch (instance.state) {
    case 'running':
      return { status: 'ACTIVE', vmState: 'active', taskState: null, powerState: 1 };
    case 'stopping':
      return { status: hard ? 'HARD_REBOOT' : 'REBOOT', vmState: 'active', taskState: hard ? 'rebooting_hard' : 'rebooting', powerState: 1 };
    case 'starting':
      return { status: hard ? 'HARD_REBOOT' : 'REBOOT', vmState: 'active', taskState: hard ? 'reboot_started_hard' : 'reboot_started', powerState: 1 };
    case 'stopped':
      return { status: 'SHUTOFF', vmState: 'stopped', taskState: null, powerState: 4 };
  }
}

/** launched_at is written without a zone and with microseconds: 2019-05-22T03:23:59.000000 (ecs_02_0104). */
function novaTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000');
}

/**
 * A fleet lock in Huawei's terms: "freeze" is the frozen-resource mark metadata.EcmResStatus = freeze, any other
 * reason shows as `locked: true` (huaweicloud-sdk-java-v3 …/ecs/v2/model/ServerDetail.java).
 */
function lockFields(instance: SimulatedInstance): { locked: boolean; metadata: Record<string, string> } {
  const frozen = instance.lockReason === 'freeze';
  return { locked: instance.lockReason !== undefined && !frozen, metadata: { EcmResStatus: frozen ? 'freeze' : 'normal' } };
}

/** The ServerDetail fields the simulator answers with besides id and fault (all null for an unknown id). */
const DETAIL_FIELDS = [
  'name',
  'status',
  'OS-EXT-STS:vm_state',
  'OS-EXT-STS:task_state',
  'OS-EXT-STS:power_state',
  'OS-EXT-AZ:availability_zone',
  'updated',
  'OS-SRV-USG:launched_at',
  'OS-SRV-USG:terminated_at',
  'locked',
  'metadata',
] as const;
type DetailKey = (typeof DETAIL_FIELDS)[number] | 'id' | 'fault';

/** One server as ShowServer and ListServersDetails answer it; the type keeps it in step with DETAIL_FIELDS. */
function serverDetail(instance: SimulatedInstance): Record<DetailKey, unknown> {
  const { status, vmState, taskState, powerState } = serverStatus(instance);
  return {
    id: instance.id,
    name: instance.name,
    status,
    'OS-EXT-STS:vm_state': vmState,
    'OS-EXT-STS:task_state': taskState,
    'OS-EXT-STS:power_state': powerState,
    'OS-EXT-AZ:availability_zone': `${instance.region}a`,
    updated: isoSeconds(new Date(instance.updatedAt)),
    'OS-SRV-USG:launched_at': novaTime(instance.startedAt),
    'OS-SRV-USG:terminated_at': null,
    ...lockFields(instance),
    fault: null,
  };
}

/**
 * An id the cloud does not know, as ListServersDetails answers it: "除了id和fault其它字段均为null" (every field but id
 * and fault null; huaweicloud-sdk-java-v3 …/ecs/v2/model/ListServersDetailsRequest.java, getServerId() javadoc). The
 * fault's own fields are UNCONFIRMED; nova's fault object {code, message, created} is used.
 */
function unknownServer(id: string): Record<DetailKey, unknown> {
  const nulls = Object.fromEntries(DETAIL_FIELDS.map((key) => [key, null])) as Record<(typeof DETAIL_FIELDS)[number], null>;
  return { ...nulls, id, fault: { code: 404, message: `Instance[${id}] could not be found.`, created: isoSeconds(new Date()) } };
}

export class HuaweiSimulator extends SimulatorServer {
  /** The account's keys; tests rotate them and expire tokens between calls. */
  readonly accounts: SimulatedKeys;
  private readonly rebootMs: number;
  private readonly spreadMs: number;
  /** How long a never-back server's sub-job runs before it fails; tests lengthen it past the bot's job timeout. */
  stuckSubJobMs: number;
  private readonly jobs = new Map<string, SimJob>();
  private readonly subJobFailures = new Map<string, { code: string; reason: string }>();
  private readonly scripted: ScriptedAnswer[] = [];

  constructor(options: HuaweiSimulatorOptions) {
    super(options.rebootMs ?? 200);
    this.accounts = new SimulatedKeys(options.credentials, options.securityTokens);
    this.rebootMs = options.rebootMs ?? 200;
    this.spreadMs = options.subJobSpreadMs ?? this.rebootMs / 2;
    this.stuckSubJobMs = options.stuckSubJobMs ?? this.rebootMs * 10;
  }

  /** The sub-job of `serverId` in the next batch reboot that names it fails with this code and reason. */
  failSubJob(serverId: string, code = 'Ecs.0000', reason = `Request error: reboot of server ${serverId} failed.`): void {
    this.subJobFailures.set(serverId, { code, reason });
  }

  /** Answers the next matching authenticated request with a canned response. */
  injectResponse(answer: ScriptedAnswer): void {
    this.scripted.push({ ...answer, count: answer.count ?? 1 });
  }

  /** Job ids in creation order: tests use them to check what a poller should have seen. */
  jobIds(): string[] {
    return [...this.jobs.keys()];
  }

  protected handle(req: SimulatorRequest): SimulatorResponse {
    const requestId = hex32();
    const answer = this.route(req, requestId);
    return { ...answer, headers: { 'x-request-id': requestId, ...answer.headers } };
  }

  private route(req: SimulatorRequest, requestId: string): SimulatorResponse {
    const denied = this.authenticate(req, requestId);
    if (denied) return denied;

    const throttle = this.faults.take('throttle');
    if (throttle) {
      const answer = gatewayError(
        429,
        'APIGW.0308',
        'The throttling threshold has been reached: policy user over ratelimit,limit:1000,time:1 minute',
        requestId,
      );
      const headers = retryAfterHeaders(throttle);
      return headers === undefined ? answer : { ...answer, headers };
    }
    const serverError = this.faults.take('server-error');
    if (serverError) return systemException(serverError.status ?? 500);

    const action = req.method === 'POST' ? ACTION_PATH.exec(req.path) : null;
    const job = req.method === 'GET' ? JOB_PATH.exec(req.path) : null;
    const list = req.method === 'GET' ? LIST_PATH.exec(req.path) : null;
    const server = req.method === 'GET' && !job && !list ? SERVER_PATH.exec(req.path) : null;
    const match = action ?? job ?? list ?? server;
    if (!match) {
      return gatewayError(404, 'APIGW.0101', 'The API does not exist or has not been published in the environment', requestId);
    }
    const projectId = decodeURIComponent(match[1] ?? '');
    const headerProject = req.headers['x-project-id'];
    if (headerProject !== undefined && headerProject !== projectId) {
      // Undocumented; a parameter error is the closest documented code.
      return ecsError(400, 'Ecs.0005', `Invalid parameter: project_id ${projectId} in the URI does not match X-Project-Id.`);
    }
    const scripted = this.takeScripted(action ? 'action' : job ? 'job' : list ? 'list' : 'server');
    if (scripted) return { status: scripted.status, body: scripted.body, ...(scripted.headers ? { headers: scripted.headers } : {}) };

    if (action) {
      const answer = this.batchReboot(projectId, req.body);
      // Only a batch that was carried out can be answered badly afterwards.
      return answer.status === 200 ? (this.faults.answerAfterAct(answer, (status) => systemException(status).body) ?? answer) : answer;
    }
    if (job) return this.showJob(projectId, decodeURIComponent(match[2] ?? ''));
    if (list) return this.listServers(req.query);
    return this.showServer(decodeURIComponent(match[2] ?? ''));
  }

  /** The gateway's checks, in its order: credentials present and known, date window, then the signature. */
  private authenticate(req: SimulatorRequest, requestId: string): SimulatorResponse | undefined {
    const auth = parseAuthorization(req.headers['authorization']);
    if (!auth) {
      return gatewayError(401, 'APIGW.0301', 'Incorrect IAM authentication information: Authorization header missing or malformed', requestId);
    }
    const secret = this.accounts.secretOf(auth.accessKeyId);
    if (secret === undefined) {
      // The real message for an unknown AK is not documented; APIGW.0301 is the gateway's IAM AK/SK failure.
      return gatewayError(401, 'APIGW.0301', 'Incorrect IAM authentication information: ak does not exist', requestId);
    }
    if (!auth.signedHeaders.includes('host') || !auth.signedHeaders.includes('x-sdk-date')) {
      return gatewayError(401, 'APIGW.0301', 'Incorrect IAM authentication information: host and x-sdk-date must be signed', requestId);
    }
    const date = parseSdkDate(req.headers['x-sdk-date']);
    if (!date || Math.abs(date.getTime() - Date.now()) > SKEW_MS) {
      return gatewayError(
        401,
        'APIGW.0303',
        'Incorrect app authentication information: X-Sdk-Date is missing or more than 15 minutes from the server time',
        requestId,
      );
    }
    const expected = expectedSignature(req, auth, secret, decodeRawQuery);
    if (expected === undefined || !constantTimeEqual(expected, auth.signature)) {
      return gatewayError(401, 'APIGW.0301', 'Incorrect IAM authentication information: verify aksk signature fail', requestId);
    }
    // The SDK signs every header, the token's included (signer.ts SECURITY_TOKEN_HEADER).
    const token = req.headers[SECURITY_TOKEN_HEADER];
    const tokenCheck = this.accounts.checkToken(auth.accessKeyId, token, auth.signedHeaders.includes(SECURITY_TOKEN_HEADER));
    // APIGW.0301 for every token problem ("An expired token is used", https://support.huaweicloud.com/intl/en-us/apig-faq/apig-faq-0003.html);
    // the messages are UNCONFIRMED, this simulator's wording.
    if (tokenCheck === 'missing') return gatewayError(401, 'APIGW.0301', 'Incorrect IAM authentication information: security token is required for a temporary AK', requestId);
    if (tokenCheck === 'unsigned') return gatewayError(401, 'APIGW.0301', 'Incorrect IAM authentication information: x-security-token must be signed', requestId);
    if (tokenCheck === 'wrong') return gatewayError(401, 'APIGW.0301', 'Incorrect IAM authentication information: verify security token fail', requestId);
    if (tokenCheck === 'expired') return gatewayError(401, 'APIGW.0301', 'Incorrect IAM authentication information: the security token has expired', requestId);
    return undefined;
  }

  private takeScripted(on: NonNullable<ScriptedAnswer['on']>): ScriptedAnswer | undefined {
    const index = this.scripted.findIndex((a) => a.on === undefined || a.on === on);
    const answer = this.scripted[index];
    if (!answer) return undefined;
    answer.count = (answer.count ?? 1) - 1;
    if (answer.count <= 0) this.scripted.splice(index, 1);
    return answer;
  }

  private batchReboot(projectId: string, rawBody: string): SimulatorResponse {
    const json = parseJsonOrUndefined(rawBody);
    if (json === undefined) return ecsError(400, 'Ecs.0005', 'request body is illegal.');
    const parsed = RebootBodySchema.safeParse(json);
    if (!parsed.success) return ecsError(400, 'Ecs.0005', 'Invalid parameter values: expected {"reboot":{"type":"SOFT"|"HARD","servers":[{"id"}]}}.');
    const { type, servers } = parsed.data.reboot;
    if (servers.length > MAX_SERVERS) {
      return ecsError(400, 'Ecs.0005', `Invalid parameter values: a maximum of ${MAX_SERVERS} servers can be restarted at a time.`);
    }
    const createdAt = Date.now();
    const job: SimJob = {
      jobId: hex32(),
      projectId,
      createdAt,
      subJobs: servers.map(({ id }, i) => {
        const startAt = createdAt + (this.spreadMs * i) / servers.length;
        const failure = this.decideFailure(id, type === 'HARD');
        if (!failure && this.fleet.findById(id)?.neverComesBack) {
          return { jobId: hex32(), serverId: id, startAt, endAt: startAt + this.stuckSubJobMs, failure: neverBackFailure(id) };
        }
        return { jobId: hex32(), serverId: id, startAt, endAt: startAt + this.rebootMs, ...(failure ? { failure } : {}) };
      }),
    };
    this.jobs.set(job.jobId, job);
    return { status: 200, body: { job_id: job.jobId } };
  }

  /**
   * Decides a server's sub-job when the job is created, and starts the reboots that will succeed, so a
   * test sees rebootCount move as soon as the POST is answered. An unknown or non-ACTIVE server fails
   * its own sub-job rather than the whole call: the job API reports errors per sub-job, and one bad id
   * must not stop the reboot of 999 good ones. The codes are those ECS uses for the same conditions:
   * Ecs.0114 (ShowServer's "could not be found") and Ecs.0100 ("status does not meet requirements").
   */
  private decideFailure(serverId: string, force: boolean): { code: string; reason: string } | undefined {
    const injected = this.subJobFailures.get(serverId);
    if (injected) {
      this.subJobFailures.delete(serverId);
      return injected;
    }
    const instance = this.fleet.findById(serverId);
    if (!instance) return { code: 'Ecs.0114', reason: `Instance[${serverId}] could not be found.` };
    if (instance.state !== 'running') {
      return { code: 'Ecs.0100', reason: `The ECS status does not meet requirements: server ${serverId} is ${serverStatus(instance).status}.` };
    }
    if (instance.lockReason !== undefined) {
      // A locked or frozen server cannot be operated (ServerDetail.java); the code ECS gives is UNCONFIRMED, so the
      // status-requirement code stands in.
      return { code: 'Ecs.0100', reason: `The ECS status does not meet requirements: server ${serverId} is ${instance.lockReason === 'freeze' ? 'frozen' : 'locked'}.` };
    }
    this.fleet.reboot(instance, force);
    return undefined;
  }

  private showJob(projectId: string, jobId: string): SimulatorResponse {
    const job = this.jobs.get(jobId);
    // Jobs are scoped to their project; the real not-found code for jobs is undocumented.
    if (!job || job.projectId !== projectId) return ecsError(404, 'Ecs.0005', `Invalid parameter: job ${jobId} does not exist.`);
    const now = Date.now();
    const subJobs = job.subJobs.map((sub) => {
      const status: JobState = now < sub.startAt ? 'INIT' : now < sub.endAt ? 'RUNNING' : sub.failure ? 'FAIL' : 'SUCCESS';
      const ended = status === 'SUCCESS' || status === 'FAIL';
      return {
        status,
        entities: { server_id: sub.serverId },
        job_id: sub.jobId,
        job_type: 'rebootServer',
        begin_time: iso(sub.startAt),
        end_time: ended ? iso(sub.endAt) : null,
        error_code: status === 'FAIL' ? sub.failure?.code ?? null : null,
        fail_reason: status === 'FAIL' ? sub.failure?.reason ?? null : null,
      };
    });
    const allDone = subJobs.every((s) => s.status === 'SUCCESS' || s.status === 'FAIL');
    const firstFailure = subJobs.find((s) => s.status === 'FAIL');
    const status: JobState = allDone
      ? firstFailure ? 'FAIL' : 'SUCCESS'
      : subJobs.some((s) => s.status !== 'INIT') ? 'RUNNING' : 'INIT';
    return {
      status: 200,
      body: {
        status,
        entities: { sub_jobs_total: subJobs.length, sub_jobs: subJobs },
        job_id: job.jobId,
        job_type: 'batchRebootServers',
        begin_time: iso(job.createdAt),
        end_time: allDone ? iso(Math.max(...job.subJobs.map((s) => s.endAt))) : null,
        error_code: status === 'FAIL' ? firstFailure?.error_code ?? null : null,
        fail_reason: status === 'FAIL' ? firstFailure?.fail_reason ?? null : null,
      },
    };
  }

  private showServer(serverId: string): SimulatorResponse {
    // Requests carry no region when the endpoint is overridden, so the whole fleet is one account.
    const instance = this.fleet.findById(serverId);
    if (!instance) return ecsError(404, 'Ecs.0114', `Instance[${serverId}] could not be found.`);
    return { status: 200, body: { server: serverDetail(instance) } };
  }

  /**
   * ListServersDetails. With server_id (comma-separated, exact match) the other filters are ignored and an unknown id
   * comes back as an entry of nulls with a fault (ListServersDetailsRequest.java, getServerId()); without it, the whole
   * fleet. Entries come in the order the ids were named (the real order is UNCONFIRMED); `limit` pages them and
   * `marker` resumes after the entry with that id (https://support.huaweicloud.com/api-ecs/zh-cn_topic_0094148850.html).
   */
  private listServers(rawQuery: string): SimulatorResponse {
    const query = decodeRawQuery(rawQuery) ?? [];
    const param = (name: string): string | undefined => query.find(([key]) => key === name)?.[1];
    const limitText = param('limit');
    const limit = limitText === undefined ? DEFAULT_LIMIT : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      return ecsError(400, 'Ecs.0005', `Invalid parameter values: limit must be an integer from 1 to ${MAX_LIMIT}.`);
    }
    const serverIds = param('server_id');
    const entries =
      serverIds === undefined
        ? this.fleet.all().map(serverDetail)
        : [...new Set(serverIds.split(',').filter((id) => id !== ''))].map((id) => {
            const instance = this.fleet.findById(id);
            return instance ? serverDetail(instance) : unknownServer(id);
          });
    const marker = param('marker');
    let from = 0;
    if (marker !== undefined) {
      const at = entries.findIndex((entry) => entry['id'] === marker);
      // Nova answers an unknown marker with 400 "marker not found"; the ECS code for it is UNCONFIRMED.
      if (at === -1) return ecsError(400, 'Ecs.0005', `Invalid parameter values: marker ${marker} not found.`);
      from = at + 1;
    }
    return { status: 200, body: { count: entries.length, servers: entries.slice(from, from + limit) } };
  }
}

/**
 * The sub-job of a server that never comes back. UNCONFIRMED how ECS ends it: the job follows nova's reboot task, which
 * waits for the guest to report running and, if it never does, errors the task after its timeout. So the sub-job
 * stays RUNNING for a while and then ends FAIL (Ecs.0000, "request error", the generic code of
 * https://support.huaweicloud.com/intl/en-us/api-ecs/ecs_07_0002.html), rather than SUCCESS for a reboot that did
 * not finish, and rather than RUNNING for ever (jobs end; they are kept one day after SUCCESS or FAIL). The server
 * itself stays in REBOOT either way, which is what the read shows.
 */
function neverBackFailure(serverId: string): { code: string; reason: string } {
  return { code: 'Ecs.0000', reason: `Request error: server ${serverId} did not become ACTIVE again after the reboot.` };
}
