/**
 * Would a real RebootInstances be authorised? ECS checks the request without acting when DryRun=true
 * (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances, DryRun).
 * Sent in the default BatchOptimization=AllTogether: with SuccessFirst "only DRYRUN.SUCCESS is returned regardless of
 * whether the request passes the dry run" (same page), which would make every check pass.
 */
import { resendVerdict, type CallScope } from '../guard.js';
import { retryAfterMs, TransportError, type HttpResponse } from '../http.js';
import { parseJsonOrUndefined } from '../outcomes.js';
import type { PermissionCall, PermissionCheck } from '../provider.js';
import { withRetries, type AttemptResult } from '../retry.js';
import type { RequestSigner } from '../signing.js';
import type { QueryPair } from './signer.js';
import { alibabaEndpoint, ErrorSchema, evidence, isAuthCode, isRegionId, isServerFaultCode, isThrottlingCode, requestRef, sendEcs, type EcsCallContext } from './wire.js';

const ACTION = 'RebootInstances';

/** The dry run's parameters, unsorted: the real call's ids and ForceReboot, DryRun=true, and no BatchOptimization. */
export function permissionQueryPairs(call: Pick<PermissionCall, 'region' | 'force'>, ids: readonly string[]): QueryPair[] {
  return [
    ['RegionId', call.region],
    ...ids.map((id, i): QueryPair => [`InstanceId.${i + 1}`, id]),
    ['ForceReboot', String(call.force)],
    ['DryRun', 'true'],
  ];
}

/**
 * Refusals about the instances, not the caller. In AllTogether mode the whole dry run carries the first failing
 * instance's error; these are the instance-state codes of RebootInstances' error table (same page as above:
 * IncorrectInstanceStatus, InstanceLockedForSecurity, InstanceExpiredOrInArrears, InsufficientBalance, InstanceNotReady,
 * InvalidInstanceId.NotFound, InvalidInstanceIds.NotFound, InvalidInstance.NotFoundSystemDisk, InvalidOperation.Conflict).
 */
const INSTANCE_STATE_CODES = new Set([
  'IncorrectInstanceStatus',
  'InstanceLockedForSecurity',
  'InstanceExpiredOrInArrears',
  'InsufficientBalance',
  'InstanceNotReady',
  'InvalidInstanceId.NotFound',
  'InvalidInstanceIds.NotFound',
  'InvalidInstance.NotFoundSystemDisk',
  'InvalidOperation.Conflict',
]);

export function createCheckPermission(ctx: EcsCallContext): (call: PermissionCall, scope: CallScope) => Promise<PermissionCheck> {
  return async function checkPermission(call, scope) {
    if (!isRegionId(call.region)) return { kind: 'unclear', reason: `"${call.region}" is not a region id; nothing was sent` };
    if (call.ids.length === 0) return { kind: 'unclear', reason: 'no instance ids to check; nothing was sent' };
    const signer = ctx.newSigner(scope);
    const origin = alibabaEndpoint(call.region, ctx.endpoint);
    const query = permissionQueryPairs(call, call.ids);
    return withRetries((_n) => attempt(ctx, signer, origin, query), ctx.retry, ctx.sleep);
  };
}

async function attempt(ctx: EcsCallContext, signer: RequestSigner, origin: string, query: readonly QueryPair[]): Promise<AttemptResult<PermissionCheck>> {
  let res: HttpResponse;
  try {
    res = await sendEcs(signer, origin, ACTION, query, ctx.timeoutMs);
  } catch (err) {
    if (!(err instanceof TransportError)) throw err;
    // A dry run reboots nothing, so even a request that may have arrived can be sent again (guard.ts, changesNothing).
    return resendVerdict(evidence(err.phase, true), { kind: 'unclear', reason: `the dry run got no answer (${err.message})` });
  }
  return interpret(res);
}

function interpret(res: HttpResponse): AttemptResult<PermissionCheck> {
  const parsed = ErrorSchema.safeParse(parseJsonOrUndefined(res.text));
  if (!parsed.success) {
    if (res.status >= 200 && res.status < 300) {
      // A dry run always answers with an error code; a 2xx is what a real call gets. Never resent.
      return { final: { kind: 'unclear', reason: `ECS answered the dry run with HTTP ${res.status}, as it answers a real call; check the instances in the console` } };
    }
    if (res.status === 429) return resendVerdict(evidence('throttled', true), { kind: 'unclear', reason: 'the dry run was throttled (HTTP 429)' }, retryAfterMs(res.headers));
    const unclear: PermissionCheck = { kind: 'unclear', reason: `the dry run got HTTP ${res.status} without an ECS answer it documents` };
    return res.status >= 500 ? resendVerdict(evidence('ambiguous', true), unclear) : { final: unclear };
  }
  const { Code: code } = parsed.data;
  const message = `${parsed.data.Message ?? `HTTP ${res.status}`}${requestRef(parsed.data.RequestId)}`;
  // DRYRUN.SUCCESS (400, "This request is a dryrun request with successful result") is the documented pass of
  // RebootInstances; DryRunOperation is DescribeInstances' and RebootInstance's, accepted should ECS answer it here.
  if (code === 'DRYRUN.SUCCESS' || code === 'DryRunOperation') {
    return { final: { kind: 'allowed', detail: `ECS dry run passed (${code}): RAM allows RebootInstances on these instances and each would reboot now` } };
  }
  if (res.status === 429 || isThrottlingCode(code)) {
    return resendVerdict(evidence('throttled', true), { kind: 'unclear', reason: `the dry run was throttled: ${code} (${message})` }, retryAfterMs(res.headers));
  }
  if (res.status >= 500 || isServerFaultCode(code)) {
    return resendVerdict(evidence('ambiguous', true), { kind: 'unclear', reason: `the dry run failed on ECS's side: HTTP ${res.status} ${code} (${message})` });
  }
  if (isAuthCode(code)) return { final: { kind: 'denied', code, message } };
  if (INSTANCE_STATE_CODES.has(code)) {
    // UNCONFIRMED: that ECS checks RAM authorisation before the instances' state, so that reaching a state refusal
    // means the permission passed. DescribeInstances' DryRun lists AccessKey and RAM checks first (npm
    // @alicloud/ecs20140526 src/models/DescribeInstancesRequest.ts 106–117); RebootInstances' DryRun names only
    // "parameter values, request syntax, and instance status" and no order is documented.
    return { final: { kind: 'allowed', detail: `RAM permission passed but ECS would refuse: ${code} (${message})` } };
  }
  return { final: { kind: 'unclear', reason: `the dry run answered HTTP ${res.status} ${code} (${message}), which says neither yes nor no` } };
}
