/**
 * A loopback stand-in for the Huawei Cloud API gateway in front of ECS: SDK-HMAC-SHA256 verified from
 * the raw request, batch reboot as an asynchronous job with one sub-job per server, the job query,
 * and ShowServer for dry runs. Error bodies use the two documented shapes: ECS's {"error":{"code","message"}}
 * (https://support.huaweicloud.com/api-ecs/ecs_07_0005.html) and the gateway's {"error_code","error_msg","request_id"}
 * (https://support.huaweicloud.com/en-us/devg-apisign/api-sign-errorcode.html).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parseJsonOrUndefined } from '../outcomes.js';
import { constantTimeEqual, decodeRawQuery, isoSeconds } from '../signing.js';
import {
  retryAfterHeaders,
  SimulatorServer,
  type SimulatedInstance,
  type SimulatorRequest,
  type SimulatorResponse,
} from '../simulator-kit.js';
import { expectedSignature, parseAuthorization, parseSdkDate } from './signer.js';

export interface HuaweiSimulatorOptions {
  /** Access key id → secret key. */
  credentials: Record<string, string>;
  /** How long one server's reboot (and its sub-job) takes. */
  rebootMs?: number;
  /**
   * Sub-job i of n finishes at rebootMs + spread·i/n, so a poller sees progress rather than all-or-nothing.
   * Default rebootMs / 2.
   */
  subJobSpreadMs?: number;
}

/** A canned answer for the next matching request, after authentication: any documented error code. */
export interface ScriptedAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Which API it answers (default: any). */
  on?: 'action' | 'job' | 'server';
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
const SERVER_PATH = /^\/v1\/([^/]+)\/cloudservers\/([^/]+)$/;

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

/** ECS status as ShowServer reports it (https://support.huaweicloud.com/intl/en-us/api-ecs/ecs_08_0002.html). */
function serverStatus(instance: SimulatedInstance): { status: string; vmState: string; taskState: string | null } {
  switch (instance.state) {
    case 'running':
      return { status: 'ACTIVE', vmState: 'active', taskState: null };
    case 'rebooting':
      return instance.lastForce
        ? { status: 'HARD_REBOOT', vmState: 'active', taskState: 'rebooting_hard' }
        : { status: 'REBOOT', vmState: 'active', taskState: 'rebooting' };
    case 'stopped':
      return { status: 'SHUTOFF', vmState: 'stopped', taskState: null };
  }
}

export class HuaweiSimulator extends SimulatorServer {
  private readonly credentials: Record<string, string>;
  private readonly rebootMs: number;
  private readonly spreadMs: number;
  private readonly jobs = new Map<string, SimJob>();
  private readonly subJobFailures = new Map<string, { code: string; reason: string }>();
  private readonly scripted: ScriptedAnswer[] = [];

  constructor(options: HuaweiSimulatorOptions) {
    super(options.rebootMs ?? 200);
    this.credentials = { ...options.credentials };
    this.rebootMs = options.rebootMs ?? 200;
    this.spreadMs = options.subJobSpreadMs ?? this.rebootMs / 2;
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
    const server = req.method === 'GET' && !job ? SERVER_PATH.exec(req.path) : null;
    const match = action ?? job ?? server;
    if (!match) {
      return gatewayError(404, 'APIGW.0101', 'The API does not exist or has not been published in the environment', requestId);
    }
    const projectId = decodeURIComponent(match[1] ?? '');
    const headerProject = req.headers['x-project-id'];
    if (headerProject !== undefined && headerProject !== projectId) {
      // Undocumented; a parameter error is the closest documented code.
      return ecsError(400, 'Ecs.0005', `Invalid parameter: project_id ${projectId} in the URI does not match X-Project-Id.`);
    }
    const scripted = this.takeScripted(action ? 'action' : job ? 'job' : 'server');
    if (scripted) return { status: scripted.status, body: scripted.body, ...(scripted.headers ? { headers: scripted.headers } : {}) };

    if (action) {
      const answer = this.batchReboot(projectId, req.body);
      // Only a batch that was carried out can be answered badly afterwards.
      return answer.status === 200 ? (this.faults.answerAfterAct(answer, (status) => systemException(status).body) ?? answer) : answer;
    }
    if (job) return this.showJob(projectId, decodeURIComponent(match[2] ?? ''));
    return this.showServer(decodeURIComponent(match[2] ?? ''));
  }

  /** The gateway's checks, in its order: credentials present and known, date window, then the signature. */
  private authenticate(req: SimulatorRequest, requestId: string): SimulatorResponse | undefined {
    const auth = parseAuthorization(req.headers['authorization']);
    if (!auth) {
      return gatewayError(401, 'APIGW.0301', 'Incorrect IAM authentication information: Authorization header missing or malformed', requestId);
    }
    const secret = Object.hasOwn(this.credentials, auth.accessKeyId) ? this.credentials[auth.accessKeyId] : undefined;
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
    const { status, vmState, taskState } = serverStatus(instance);
    return {
      status: 200,
      body: {
        server: {
          id: instance.id,
          name: `ecs-${instance.id.slice(0, 8)}`,
          status,
          'OS-EXT-STS:vm_state': vmState,
          'OS-EXT-STS:task_state': taskState,
          'OS-EXT-AZ:availability_zone': `${instance.region}a`,
        },
      },
    };
  }
}
