/**
 * Volcengine ECS `DescribeInstances` (2020-04-01): the one read behind pre-flight, dry runs and reboot verification.
 * `GET /?Action=DescribeInstances&Version=2020-04-01&InstanceIds.N=…&MaxResults=100[&NextToken=…]` with an empty body,
 * signed exactly like RebootInstances (volcengine/volcengine-go-sdk service/ecs/api_describe_instances.go:
 * `HTTPMethod: "GET", HTTPPath: "/"`; volcengine/volcengine-nodejs-sdk service/ecs/src/api.ts:
 * `metaPath = '/DescribeInstances/2020-04-01/ecs/get/text_plain/'`). A read changes nothing, so an answer that
 * settles nothing is simply asked again within the retry policy (guard.ts, mayResend with changesNothing).
 */
import { z } from 'zod';
import { resendVerdict, type CallScope, type ResendAnswer, type ResendEvidence } from '../guard.js';
import { retryAfterMs, serverTimeOf, TransportError, type HttpResponse } from '../http.js';
import { parseJsonOrUndefined } from '../outcomes.js';
import type { DescribeCall, DescribeResult, InstanceClock, InstancePhase, InstanceReading } from '../provider.js';
import { withRetries, type AttemptResult, type RetryPolicy } from '../retry.js';
import type { RequestSigner } from '../signing.js';
import { isSuccessStatus, isThrottleCode, metadataSchema, sendSigned, VERSION } from './wire.js';
import type { QueryPair } from './signer.js';
import { plural } from '../../plural.js';

const ACTION = 'DescribeInstances';
/**
 * Instances per page. The vendor Terraform pages with 100 (volcengine/terraform-provider-volcengine
 * volcengine/ecs/ecs_instance/service_volcengine_ecs_instance.go, ReadResources:
 * `WithNextTokenQuery(condition, "MaxResults", "NextToken", 100, …)`); UNCONFIRMED whether the API allows more.
 * With at most 100 ids a read (info.maxDescribe) is one page, unless the cloud caps pages lower.
 */
export const PAGE_SIZE = 100;
/** A NextToken chain longer than this (or one that repeats a token) is not an answer to trust. */
const MAX_PAGES = 100;

/** The query of one page: `InstanceIds.N` 1-based (volcengine-go-sdk api_describe_instances.go, InstanceIds; the vendor Terraform sends "InstanceIds.1"). */
export function describeQuery(ids: readonly string[], nextToken?: string): QueryPair[] {
  const pairs: QueryPair[] = [['Action', ACTION], ['Version', VERSION], ...ids.map((id, i): QueryPair => [`InstanceIds.${i + 1}`, id]), ['MaxResults', String(PAGE_SIZE)]];
  if (nextToken !== undefined) pairs.push(['NextToken', nextToken]);
  return pairs;
}

/** The fields read from `InstanceForDescribeInstancesOutput` (volcengine-go-sdk api_describe_instances.go); the rest are dropped. */
const instanceSchema = z.object({
  InstanceId: z.string(),
  InstanceName: z.string().nullish(),
  Status: z.string(),
  UpdatedAt: z.string().nullish(),
});
type WireInstance = z.infer<typeof instanceSchema>;

const describeSchema = z.object({
  ResponseMetadata: metadataSchema,
  Result: z
    .object({
      // An absent list is no instances, as the vendor Terraform reads it (service_volcengine_ecs_instance.go, ReadResources:
      // `if results == nil { results = []interface{}{} }`). An answer without Result at all is not read that way.
      Instances: z.array(instanceSchema).nullish(),
      NextToken: z.string().nullish(),
    })
    .nullish(),
});

interface Normalised {
  phase: InstancePhase;
  rebooting: boolean;
}

/**
 * The status values are CREATING, RUNNING, STOPPING, STOPPED, REBOOTING, STARTING, REBUILDING, RESIZING, ERROR and
 * DELETING, as the vendor's own ECS tool describes its Status parameter (volcengine/mcp-server
 * server/mcp_server_ecs/src/mcp_server_ecs/tools/instance.py: "…STOPPING：停止中，STOPPED：已停止，REBOOTING: 重启中，
 * STARTING：启动中，REBUILDING：重装中，RESIZING：更配中，ERROR：错误，DELETING：删除中"). The vendor Terraform waits for
 * RUNNING or STOPPED as settled states and treats ERROR as a failure (volcengine/terraform-provider-volcengine
 * volcengine/ecs/ecs_instance/service_volcengine_ecs_instance.go, RefreshResourceState: `failStates = append(failStates, "ERROR")`).
 */
const STATUSES: Readonly<Record<string, Normalised>> = {
  RUNNING: { phase: 'running', rebooting: false },
  STOPPED: { phase: 'stopped', rebooting: false },
  // A reboot is a stop and a start: REBOOTING (重启中) is the status of a reboot under way, and the stop and start
  // halves (STOPPING 停止中, STARTING 启动中) are what a reboot passes through too. Seen after an accepted reboot, each proves it.
  REBOOTING: { phase: 'transitioning', rebooting: true },
  STOPPING: { phase: 'transitioning', rebooting: true },
  STARTING: { phase: 'transitioning', rebooting: true },
  // Being created (创建中) or deleted (删除中): on its way to a settled state (RUNNING, or gone) by itself, no reboot in it.
  CREATING: { phase: 'transitioning', rebooting: false },
  DELETING: { phase: 'transitioning', rebooting: false },
  // Reinstalling (重装中) and changing the instance type (更配中) are operations on the instance, not a power transition;
  // the contract calls these `other` (provider.ts: "other: anything else (error, resizing, …)"). RebootInstances refuses
  // an instance that is not RUNNING with InvalidInstanceStatus (https://www.volcengine.com/docs/6396/101069).
  REBUILDING: { phase: 'other', rebooting: false },
  RESIZING: { phase: 'other', rebooting: false },
  ERROR: { phase: 'other', rebooting: false },
};

/** A status not in the list above is `other`: nothing is assumed about it, and rawStatus carries it verbatim. */
export function normaliseStatus(status: string): Normalised {
  return STATUSES[status.toUpperCase()] ?? { phase: 'other', rebooting: false };
}

/** RFC 3339 date-time with seconds and an offset or Z, e.g. 2024-03-11T14:01:05+08:00. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * `UpdatedAt`, the only per-instance time DescribeInstances has (no "last started" field exists). UNCONFIRMED that it is
 * RFC 3339 with an offset like `CreatedAt` ("2024-03-11T14:01:05+08:00" in a third-party capture, Guance "VolcEngine ECS"
 * integration doc): anything else gives no clock rather than a guessed instant. UNCONFIRMED too that a reboot moves it
 * (the status changes twice, so it most likely does): provesReboot follows the cloud's verification recipe, and a reboot
 * whose UpdatedAt does not move is still proven by a REBOOTING/STOPPING/STARTING reading. Parsed as an instant
 * (Date.parse honours the +08:00 offset), never compared as text; whole seconds.
 */
export function clockOf(raw: string | null | undefined): InstanceClock | undefined {
  if (raw === null || raw === undefined || !RFC3339.test(raw)) return undefined;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  return { field: 'UpdatedAt', raw, at, precisionMs: 1_000, provesReboot: true };
}

function readingOf(id: string, wire: WireInstance): InstanceReading {
  const { phase, rebooting } = normaliseStatus(wire.Status);
  const clock = clockOf(wire.UpdatedAt);
  return {
    id,
    found: true,
    name: wire.InstanceName ? wire.InstanceName : null,
    phase,
    rawStatus: wire.Status,
    rebooting,
    ...(clock ? { clock } : {}),
  };
}

type ReadError = Extract<DescribeResult, { kind: 'error' }>;
interface Page {
  kind: 'page';
  instances: WireInstance[];
  /** Absent or empty in the answer: the last page. */
  next?: string;
  serverTime?: number;
}

function readError(code: string, message: string, throttled: boolean): ReadError {
  return { kind: 'error', code, message, throttled };
}

/** A read changes nothing however often it is sent; it carries no ClientToken, so the token's promise is not needed. */
function evidence(answer: ResendAnswer): ResendEvidence {
  return { answer, changesNothing: true, resendSafe: false };
}

/**
 * One answer to one page, as a verdict under the resend rule. Errors can come with HTTP 200 in
 * `ResponseMetadata.Error` (volcengine/volcengine-nodejs-sdk packages/sdk-core/test/error-parsing.test.ts), so the body
 * decides first. A read is never "empty" because it failed: every unreadable answer ends as an error.
 */
export function interpretDescribe(status: number, headers: Record<string, string>, text: string): AttemptResult<Page | ReadError> {
  const afterMs = retryAfterMs(headers);
  // An answer that says nothing readable: 429 was turned away for rate; a 2xx or 5xx is asked again (it changes nothing).
  const unreadable = (message: string, requestId?: string): AttemptResult<Page | ReadError> => {
    const ref = requestId ? ` (RequestId ${requestId})` : '';
    const failure = readError('UnexpectedResponse', `${message}${ref}`, status === 429);
    if (status === 429) return resendVerdict(evidence('throttled'), failure, afterMs);
    if (status >= 500 || isSuccessStatus(status)) return resendVerdict(evidence('ambiguous'), failure, afterMs);
    return { final: failure };
  };
  const parsed = describeSchema.safeParse(parseJsonOrUndefined(text));
  if (!parsed.success) return unreadable(`HTTP ${status} answer that is not a DescribeInstances response`);
  const { ResponseMetadata: meta, Result: result } = parsed.data;
  const ref = meta.RequestId ? ` (RequestId ${meta.RequestId})` : '';
  if (meta.Error) {
    const { Code: code } = meta.Error;
    const message = `${meta.Error.Message ?? code}${ref}`;
    // Throttling: 429, AccountFlowLimitExceeded (UNCONFIRMED, third-party only) or FlowLimitExceeded (wire.ts).
    if (status === 429 || isThrottleCode(code)) return resendVerdict(evidence('throttled'), readError(code, message, true), afterMs);
    // InternalError and any 5xx: asked again, a read cannot act twice.
    if (status >= 500 || code === 'InternalError') return resendVerdict(evidence('ambiguous'), readError(code, message, false), afterMs);
    // A refused signature or key (gateway codes, https://www.volcengine.com/docs/6664/116016), no permission, a bad
    // parameter: the same request would be refused the same way.
    return { final: readError(code, message, false) };
  }
  if (!isSuccessStatus(status) || !result) return unreadable(`HTTP ${status} answer without an error or a Result`, meta.RequestId);
  const serverTime = serverTimeOf(headers);
  return {
    final: {
      kind: 'page',
      instances: result.Instances ?? [],
      ...(result.NextToken ? { next: result.NextToken } : {}),
      ...(serverTime === undefined ? {} : { serverTime }),
    },
  };
}

export interface DescribeContext {
  signerFor(region: string): RequestSigner;
  origin(region: string): string;
  timeoutMs: number;
  retry: RetryPolicy;
  sleep: (ms: number) => Promise<void>;
}

export function createDescribe(ctx: DescribeContext): (call: DescribeCall, scope: CallScope) => Promise<DescribeResult> {
  async function page(signer: RequestSigner, origin: string, query: QueryPair[]): Promise<Page | ReadError> {
    const attempt = async (): Promise<AttemptResult<Page | ReadError>> => {
      let answer: HttpResponse;
      try {
        answer = await sendSigned(signer, origin, query, ctx.timeoutMs);
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        return resendVerdict(evidence(err.phase === 'not-sent' ? 'not-sent' : 'ambiguous'), readError(err.code, err.message, false));
      }
      return interpretDescribe(answer.status, answer.headers, answer.text);
    };
    return withRetries(attempt, ctx.retry, ctx.sleep);
  }

  return async (call, scope) => {
    const signer = scope.track(ctx.signerFor(call.region));
    const origin = ctx.origin(call.region);
    const seen = new Map<string, WireInstance>();
    const tokens = new Set<string>();
    let serverTime: number | undefined;
    let next: string | undefined;
    for (let pages = 1; ; pages++) {
      const answer = await page(signer, origin, describeQuery(call.ids, next));
      if (answer.kind === 'error') return answer;
      for (const instance of answer.instances) if (!seen.has(instance.InstanceId)) seen.set(instance.InstanceId, instance);
      // The first page's clock: every reading, of any page, was taken at or after it.
      serverTime ??= answer.serverTime;
      if (answer.next === undefined) break;
      if (tokens.has(answer.next) || pages >= MAX_PAGES) {
        return readError('UnexpectedResponse', `DescribeInstances paging did not end after ${plural(pages, 'page')} (NextToken repeated or too many pages)`, false);
      }
      tokens.add(answer.next);
      next = answer.next;
    }
    // Unknown ids are left out of the answer, not reported (the vendor Terraform finds a missing instance only by an
    // empty result: service_volcengine_ecs_instance.go, ReadResource, `if len(data) == 0 { … not exist }`).
    const readings = call.ids.map((id): InstanceReading => {
      const wire = seen.get(id);
      return wire ? readingOf(id, wire) : { id, found: false };
    });
    return serverTime === undefined ? { kind: 'read', readings } : { kind: 'read', readings, serverTime };
  };
}
