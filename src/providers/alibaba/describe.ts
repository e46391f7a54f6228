/**
 * ECS `DescribeInstances` (2014-05-26): the read behind pre-flight, the read-only dry run and reboot verification.
 * Same RPC shape and signer as RebootInstances (wire.ts). A read changes nothing, so under the guard's resend rule an
 * ambiguous answer may be sent again within the retry policy; a read that fails is an error, never "not found".
 */
import { z } from 'zod';
import { resendVerdict, type CallScope } from '../guard.js';
import { retryAfterMs, serverTimeOf, TransportError, type HttpResponse } from '../http.js';
import { parseJsonOrUndefined } from '../outcomes.js';
import type { DescribeCall, DescribeResult, InstanceClock, InstancePhase, InstanceReading } from '../provider.js';
import { withRetries, type AttemptResult } from '../retry.js';
import type { RequestSigner } from '../signing.js';
import type { QueryPair } from './signer.js';
import { alibabaEndpoint, ErrorSchema, evidence, isAuthCode, isRegionId, isServerFaultCode, isThrottlingCode, requestRef, sendEcs, type ApiError, type EcsCallContext } from './wire.js';
import { plural } from '../../plural.js';

export const DESCRIBE_ACTION = 'DescribeInstances';

/**
 * MaxResults: at most 100, and below 10 it counts as 10 (npm @alicloud/ecs20140526 src/models/DescribeInstancesRequest.ts
 * 299–310). With at most 100 ids one page holds them all; the loop on NextToken is there in case ECS pages anyway.
 */
export const DESCRIBE_PAGE_SIZE = 100;

/** A NextToken chain longer than this (100 ids at ≥10 a page) means the paging does not end: an error, not a guess. */
const MAX_PAGES = 10;

/**
 * The InstanceIds value: JSON text, `["i-a","i-b"]` without spaces (DescribeInstancesRequest.ts 197–204, InstanceIds).
 * Built once per read and used for every page, so the canonical query and the wire (the signer writes one from the
 * other) carry the same percent-encoded `%5B%22…%22%2C…%5D`. Never `[]`: ECS takes an empty array as a filter that
 * matches nothing ("参数InstanceIds如果是一个空JSON数组，则视为该过滤器有效，且返回空",
 * https://help.aliyun.com/en/ecs/api-describeinstances), which would make every id look unknown.
 */
export function instanceIdsParam(ids: readonly string[]): string {
  if (ids.length === 0) throw new Error('DescribeInstances needs at least one instance id: InstanceIds=[] matches nothing');
  return JSON.stringify(ids);
}

/** The RPC parameters of one page, unsorted; the signer orders them. */
export function describeQueryPairs(region: string, instanceIds: string, nextToken?: string): QueryPair[] {
  return [
    ['RegionId', region],
    ['InstanceIds', instanceIds],
    ['MaxResults', String(DESCRIBE_PAGE_SIZE)],
    ...(nextToken === undefined ? [] : [['NextToken', nextToken] as const]),
  ];
}

/**
 * The permission probe: DescribeInstances with DryRun=true checks the AccessKey, RAM authorisation and the
 * parameters and answers the error code DryRunOperation when they pass, returning no data (DescribeInstancesRequest.ts
 * 106–117, DryRun).
 */
export function describeDryRunPairs(region: string, instanceIds: string): QueryPair[] {
  return [['RegionId', region], ['InstanceIds', instanceIds], ['DryRun', 'true']];
}

// Field names from npm @alicloud/ecs20140526 src/models/DescribeInstancesResponseBody.ts (names(), 920–1300);
// unknown fields are dropped. Only what the bot reads is required, so a new field never turns a read into an error.
const LockSchema = z.object({ LockReason: z.string().optional(), LockMsg: z.string().optional() });

const InstanceSchema = z.object({
  InstanceId: z.string().min(1),
  InstanceName: z.string().optional(),
  Status: z.string(),
  StartTime: z.string().optional(),
  OperationLocks: z.object({ LockReason: z.array(LockSchema).optional() }).optional(),
});

const PageSchema = z.object({
  RequestId: z.string().optional(),
  NextToken: z.string().optional(),
  Instances: z.object({ Instance: z.array(InstanceSchema) }),
});

type EcsInstance = z.infer<typeof InstanceSchema>;
type ReadError = Extract<DescribeResult, { kind: 'error' }>;
type Page = { kind: 'page'; instances: EcsInstance[]; nextToken: string; serverTime?: number };

function readError(code: string, message: string, throttled = false): ReadError {
  return { kind: 'error', code, message, throttled };
}

export function createDescribe(ctx: EcsCallContext): (call: DescribeCall, scope: CallScope) => Promise<DescribeResult> {
  return async function describe(call, scope) {
    if (!isRegionId(call.region)) return readError('InvalidRegion', `"${call.region}" is not a region id; nothing was sent`);
    const instanceIds = instanceIdsParam(call.ids);
    const signer = ctx.newSigner(scope);
    const origin = alibabaEndpoint(call.region, ctx.endpoint);
    const send = (query: readonly QueryPair[]): Promise<Page | ReadError> => withRetries((_n) => attempt(ctx, signer, origin, query), ctx.retry, ctx.sleep);

    const found = new Map<string, EcsInstance>();
    const tokens = new Set<string>();
    let serverTime: number | undefined;
    let nextToken: string | undefined;
    for (let pages = 0; ; pages++) {
      if (pages >= MAX_PAGES) return readError('UnexpectedResponse', `DescribeInstances was still paging after ${MAX_PAGES} pages for ${plural(call.ids.length, 'id')}`);
      const page = await send(describeQueryPairs(call.region, instanceIds, nextToken));
      if (page.kind === 'error') return page;
      serverTime = page.serverTime ?? serverTime;
      for (const instance of page.instances) if (!found.has(instance.InstanceId)) found.set(instance.InstanceId, instance);
      if (page.nextToken === '') break;
      if (tokens.has(page.nextToken)) return readError('UnexpectedResponse', 'DescribeInstances repeated a NextToken; the paging does not end');
      tokens.add(page.nextToken);
      nextToken = page.nextToken;
    }

    if (found.size === 0) {
      const proof = await proveUnknown(send, call.region, instanceIds, call.ids.length);
      if (proof) return proof;
    }
    // Ids ECS left out are unknown: its parameters are AND-ed filters and it has no instance-not-found error
    // (https://help.aliyun.com/en/ecs/api-describeinstances, 接口说明 and 错误码). UNCONFIRMED: whether a RAM policy
    // that allows some instances but not others also just leaves those out; only the all-missing case is probed.
    const readings = call.ids.map((id): InstanceReading => {
      const instance = found.get(id);
      return instance ? readingOf(instance) : { id, found: false };
    });
    return serverTime === undefined ? { kind: 'read', readings } : { kind: 'read', readings, serverTime };
  };
}

/**
 * "If a RAM user or role lacks permission, an empty list is returned" (https://help.aliyun.com/en/ecs/api-describeinstances),
 * so an answer naming none of the ids proves nothing by itself. DescribeInstances with DryRun=true tells the two apart:
 * DryRunOperation → authorised, the ids really are unknown (undefined: the caller reports them); a Forbidden… /
 * NoPermission… code → the error itself; anything else → an error too, never "not found" without proof.
 * Since 2025-12-20 ECS answers a read without permission with 403 Forbidden.RAM instead
 * (https://www.alibabacloud.com/help/en/ecs/announcement-of-changes-to-the-authentication-mechanism-for-alibaba-cloud-ecs-query-type-apis);
 * that answer is an error of the read itself and never reaches this probe.
 */
async function proveUnknown(
  send: (query: readonly QueryPair[]) => Promise<Page | ReadError>,
  region: string,
  instanceIds: string,
  count: number,
): Promise<ReadError | undefined> {
  const answer = await send(describeDryRunPairs(region, instanceIds));
  const none = `DescribeInstances returned none of the ${plural(count, 'instance')}`;
  if (answer.kind === 'page') {
    return readError('UnexpectedResponse', `${none}, and its DryRun permission check answered with data instead of DryRunOperation, so whether the ids are unknown or unreadable cannot be told`);
  }
  if (answer.code === 'DryRunOperation') return undefined;
  if (isAuthCode(answer.code)) {
    return readError(answer.code, `${answer.message} — ${none} because this AccessKey may not read them (RAM permission), not because they do not exist`);
  }
  return readError(answer.code, `${none}, and the DryRun permission check that would tell unknown ids from a missing permission failed: ${answer.message}`, answer.throttled);
}

async function attempt(ctx: EcsCallContext, signer: RequestSigner, origin: string, query: readonly QueryPair[]): Promise<AttemptResult<Page | ReadError>> {
  let res: HttpResponse;
  try {
    res = await sendEcs(signer, origin, DESCRIBE_ACTION, query, ctx.timeoutMs);
  } catch (err) {
    if (!(err instanceof TransportError)) throw err;
    return resendVerdict(evidence(err.phase, true), readError(err.code, err.message));
  }
  return interpret(res);
}

function interpret(res: HttpResponse): AttemptResult<Page | ReadError> {
  const json = parseJsonOrUndefined(res.text);
  if (res.status >= 200 && res.status < 300) {
    const page = PageSchema.safeParse(json);
    if (page.success) {
      const serverTime = serverTimeOf(res.headers);
      const answer: Page = { kind: 'page', instances: page.data.Instances.Instance, nextToken: page.data.NextToken ?? '' };
      return { final: serverTime === undefined ? answer : { ...answer, serverTime } };
    }
    const err = ErrorSchema.safeParse(json);
    if (err.success) return errorVerdict(err.data, res);
    // An unreadable 2xx is not an empty list: read again, and if it stays unreadable it is an error.
    return resendVerdict(evidence('ambiguous', true), readError('UnexpectedResponse', `HTTP ${res.status} with a body that is not a DescribeInstances answer`));
  }
  const err = ErrorSchema.safeParse(json);
  if (err.success) return errorVerdict(err.data, res);
  if (res.status === 429) return resendVerdict(evidence('throttled', true), readError('HTTP429', 'HTTP 429 without an ECS error body', true), retryAfterMs(res.headers));
  if (res.status >= 500) return resendVerdict(evidence('ambiguous', true), readError(`HTTP${res.status}`, `HTTP ${res.status} from a gateway without an ECS answer`));
  return { final: readError('UnexpectedResponse', `HTTP ${res.status} with a body ECS does not document`) };
}

function errorVerdict(err: ApiError, res: HttpResponse): AttemptResult<Page | ReadError> {
  const message = `${err.Message ?? `HTTP ${res.status}`}${requestRef(err.RequestId)}`;
  if (res.status === 429 || isThrottlingCode(err.Code)) {
    return resendVerdict(evidence('throttled', true), readError(err.Code, message, true), retryAfterMs(res.headers));
  }
  if (res.status >= 500 || isServerFaultCode(err.Code)) return resendVerdict(evidence('ambiguous', true), readError(err.Code, message));
  // A 4xx (a refused signature or permission, DryRunOperation to the probe) says the same whenever it is asked again.
  return { final: readError(err.Code, message) };
}

// ---- normalisation -----------------------------------------------------------------------------------

/**
 * Status values: Pending, Running, Starting, Stopping, Stopped (npm @alicloud/ecs20140526
 * src/models/DescribeInstancesRequest.ts 400–412, Status; the response field is documented only as "the status").
 * A reboot goes Stopping → Starting → Running (RebootInstances reference: "the ECS instances enter the Stopping state and
 * then the Running state", https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances;
 * RebootInstance: "the status of the instance changes to Starting", https://www.alibabacloud.com/help/doc-detail/25502.htm),
 * so both prove a reboot when seen after one was accepted. Pending is an instance being created: not a reboot.
 */
const PHASES: Readonly<Record<string, { phase: InstancePhase; rebooting: boolean }>> = {
  Running: { phase: 'running', rebooting: false },
  Stopped: { phase: 'stopped', rebooting: false },
  Stopping: { phase: 'transitioning', rebooting: true },
  Starting: { phase: 'transitioning', rebooting: true },
  Pending: { phase: 'transitioning', rebooting: false },
};

export function readingOf(instance: EcsInstance): InstanceReading {
  const rawStatus = instance.Status;
  const known = Object.hasOwn(PHASES, rawStatus) ? PHASES[rawStatus] : undefined;
  const lockReason = lockReasonOf(instance);
  const clock = startTimeClock(instance.StartTime);
  const name = instance.InstanceName === undefined || instance.InstanceName === '' ? null : instance.InstanceName;
  return {
    id: instance.InstanceId,
    found: true,
    name,
    // A lock outranks the status: a locked instance "cannot be operated" whatever its status
    // (OperationLocks.LockReason ∈ financial, security, Recycling, dedicatedhostfinancial, refunded:
    // aliyun/alibabacloud-typescript-sdk ecs-20140526/src/models/DescribeInstancesResponseBodyInstancesInstance.ts;
    // "all operations are prohibited": https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances).
    phase: lockReason === undefined ? (known?.phase ?? 'other') : 'locked',
    rawStatus,
    rebooting: known?.rebooting ?? false,
    ...(lockReason === undefined ? {} : { lockReason }),
    ...(clock ? { clock } : {}),
  };
}

/** Every LockReason of a non-empty OperationLocks.LockReason[], comma-joined; "unspecified" when an entry names none. */
function lockReasonOf(instance: EcsInstance): string | undefined {
  const locks = instance.OperationLocks?.LockReason ?? [];
  if (locks.length === 0) return undefined;
  const reasons = locks.map((l) => l.LockReason ?? '').filter((r) => r !== '');
  return reasons.length === 0 ? 'unspecified' : [...new Set(reasons)].join(', ');
}

const START_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?Z$/;

/**
 * StartTime: "the time when the instance was last started … yyyy-MM-ddTHH:mmZ … UTC", minute precision
 * (DescribeInstancesResponseBodyInstancesInstance.ts above). Seconds are accepted too, should ECS ever send them.
 * UNCONFIRMED whether RebootInstances moves StartTime (an older Chinese doc calls it the spot-bidding start time;
 * real captures show it later than CreationTime): provesReboot follows the verification recipe, which counts
 * StartTime moving past the reboot call, and should be checked once against a real instance.
 */
export function startTimeClock(raw: string | undefined): InstanceClock | undefined {
  const m = raw === undefined ? null : START_TIME.exec(raw);
  if (!m || raw === undefined) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number | undefined];
  const at = Date.UTC(y, mo - 1, d, h, mi, Number.isNaN(s) || s === undefined ? 0 : s);
  if (Number.isNaN(at) || new Date(at).getUTCMonth() !== mo - 1 || new Date(at).getUTCDate() !== d) return undefined;
  return { field: 'StartTime', raw, at, precisionMs: m[6] === undefined ? 60_000 : 1_000, provesReboot: true };
}
