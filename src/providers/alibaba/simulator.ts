/**
 * A loopback stand-in for ECS `RebootInstances` (2014-05-26, RPC style, V3 signature). It checks
 * requests the way the POP gateway does (signature from the raw request, clock skew, nonce replay,
 * unknown keys) and answers with ECS's JSON bodies, so the real client can be tested end to end.
 */
import { randomUUID } from 'node:crypto';
import { decodeRawQuery } from '../signing.js';
import {
  firstValue,
  parseQueryBoolean,
  retryAfterHeaders,
  SimulatorServer,
  type FleetState,
  type SimulatedInstance,
  type SimulatorRequest,
  type SimulatorResponse,
} from '../simulator-kit.js';
import { verify, type QueryPair } from './signer.js';

export interface AlibabaSimulatorOptions {
  /** AccessKeyId → AccessKeySecret. */
  credentials: Record<string, string>;
  rebootMs?: number;
  /** The simulated cloud's clock, for clock-skew tests. */
  now?: () => Date;
}

/** Documented RebootInstances refusals that fleet state alone cannot express. */
export type BlockCode = 'InsufficientBalance' | 'InstanceNotReady';

export const MAX_INSTANCE_IDS = 100;
// Kept apart from the client's constants: the simulator models the cloud, not our client.
const ACTION = 'RebootInstances';
const VERSION = '2014-05-26';
const MAX_SKEW_MS = 15 * 60 * 1000;
const ACS_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

interface ApiError {
  status: number;
  code: string;
  message: string;
}

/** Gateway and ECS errors, with the messages Alibaba returns for them. */
export const ERRORS = {
  incompleteSignature: { status: 400, code: 'IncompleteSignature', message: 'The request signature does not conform to Aliyun standards.' },
  signatureMismatch: { status: 400, code: 'SignatureDoesNotMatch', message: 'The request signature does not conform to Aliyun standards.' },
  contentHash: { status: 400, code: 'SignatureDoesNotMatch', message: 'The x-acs-content-sha256 header does not match the SHA-256 of the request body.' },
  unknownKey: { status: 404, code: 'InvalidAccessKeyId.NotFound', message: 'Specified access key is not found.' },
  dateFormat: { status: 400, code: 'InvalidTimeStamp.Format', message: 'Specified time stamp or date value is not well formatted.' },
  dateExpired: { status: 400, code: 'InvalidTimeStamp.Expired', message: 'Specified time stamp or date value is expired.' },
  nonceUsed: { status: 400, code: 'SignatureNonceUsed', message: 'Specified signature nonce was used already.' },
  throttled: { status: 400, code: 'Throttling.User', message: 'Request was denied due to user flow control.' },
  internal: { status: 500, code: 'InternalError', message: 'The request processing has failed due to some unknown error, exception or failure.' },
  unavailable: { status: 503, code: 'ServiceUnavailable', message: 'The request has failed due to a temporary failure of the server.' },
  unknownAction: { status: 404, code: 'InvalidAction.NotFound', message: 'Specified api is not found, please check your url and method.' },
  badVersion: { status: 400, code: 'InvalidVersion', message: 'Specified parameter Version is not valid.' },
  missingRegion: { status: 400, code: 'MissingRegionId', message: 'RegionId is mandatory for this action.' },
  missingInstance: { status: 400, code: 'MissingInstanceId', message: 'InstanceId is mandatory for this action.' },
  // No documented code for "more than 100 InstanceId.N"; this name follows ECS's InvalidParameter.* family.
  tooMany: { status: 400, code: 'InvalidParameter.InstanceIdCountExceeded', message: `The number of InstanceId.N parameters exceeds the limit of ${MAX_INSTANCE_IDS}.` },
  notFound: { status: 404, code: 'InvalidInstanceId.NotFound', message: 'The specified InstanceId does not exist.' },
  wrongState: { status: 403, code: 'IncorrectInstanceStatus', message: 'The current status of the resource does not support this operation.' },
  insufficientBalance: { status: 403, code: 'InsufficientBalance', message: 'Your account does not have enough balance.' },
  notReady: { status: 403, code: 'InstanceNotReady', message: 'The specified instance is not ready for use.' },
  dryRunPassed: { status: 400, code: 'DryRunOperation', message: 'Request validation has been passed with DryRun flag set.' },
} as const satisfies Record<string, ApiError>;

function invalidParameter(name: string): ApiError {
  return { status: 400, code: `Invalid${name}.ValueNotSupported`, message: `The specified parameter ${name} is not valid.` };
}

const STATUS: Record<FleetState, string> = { running: 'Running', rebooting: 'Stopping', stopped: 'Stopped' };

interface InstanceAnswer {
  InstanceId: string;
  Code: string;
  Message: string;
  PreviousStatus: string;
  CurrentStatus: string;
}

interface RebootParams {
  region: string;
  ids: string[];
  force: boolean;
  dryRun: boolean;
  successFirst: boolean;
}

export class AlibabaSimulator extends SimulatorServer {
  private readonly credentials: Record<string, string>;
  private readonly now: () => Date;
  /** `${accessKeyId} ${nonce}` → when it was first seen, kept for twice the skew window. */
  private readonly nonces = new Map<string, number>();
  private readonly blocked = new Map<string, BlockCode>();

  constructor(options: AlibabaSimulatorOptions) {
    super(options.rebootMs);
    this.credentials = { ...options.credentials };
    this.now = options.now ?? (() => new Date());
  }

  /** Makes ECS refuse this instance with a documented code that fleet state cannot produce. */
  block(id: string, code: BlockCode): void {
    this.blocked.set(id, code);
  }

  unblock(id: string): void {
    this.blocked.delete(id);
  }

  override handle(req: SimulatorRequest): SimulatorResponse {
    const requestId = randomUUID().toUpperCase();
    const query = decodeRawQuery(req.query);
    if (!query) return errorResponse(ERRORS.incompleteSignature, requestId, undefined);
    const region = firstValue(query, 'RegionId');
    const refusal = this.authenticate(req, query);
    if (refusal) return errorResponse(refusal, requestId, region);

    const throttle = this.faults.take('throttle');
    if (throttle) return errorResponse(ERRORS.throttled, requestId, region, retryAfterHeaders(throttle));
    const serverError = this.faults.take('server-error');
    if (serverError) return errorResponse(serverError.status === 503 ? ERRORS.unavailable : ERRORS.internal, requestId, region);

    if (req.headers['x-acs-action'] !== ACTION) return errorResponse(ERRORS.unknownAction, requestId, region);
    if (req.headers['x-acs-version'] !== VERSION) return errorResponse(ERRORS.badVersion, requestId, region);
    const params = readParams(query);
    if ('code' in params) return errorResponse(params, requestId, region);
    const answer = this.reboot(params, requestId);
    if (params.dryRun || answer.status !== 200) return answer;
    // ECS's own 5xx bodies: InternalError is documented with 500 (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances),
    // ServiceUnavailable with 503 (https://www.alibabacloud.com/help/doc-detail/25693.htm).
    const ownError = (status: number): unknown =>
      errorResponse(status === 503 ? ERRORS.unavailable : { ...ERRORS.internal, status }, requestId, params.region).body;
    return this.faults.answerAfterAct(answer, ownError) ?? answer;
  }

  /** The gateway's checks, in its order: signature shape, key, body hash, signature, clock, replay. */
  private authenticate(req: SimulatorRequest, query: QueryPair[]): ApiError | undefined {
    const result = verify({ ...req, query }, (ak) => this.credentials[ak]);
    if (!result.ok) {
      if (result.reason === 'malformed') return ERRORS.incompleteSignature;
      if (result.reason === 'unknown-key') return ERRORS.unknownKey;
      if (result.reason === 'content-hash') return ERRORS.contentHash;
      return ERRORS.signatureMismatch;
    }
    const date = req.headers['x-acs-date'] ?? '';
    if (!ACS_DATE.test(date) || Number.isNaN(Date.parse(date))) return ERRORS.dateFormat;
    const nowMs = this.now().getTime();
    if (Math.abs(nowMs - Date.parse(date)) > MAX_SKEW_MS) return ERRORS.dateExpired;
    return this.useNonce(`${result.accessKeyId} ${req.headers['x-acs-signature-nonce'] ?? ''}`, nowMs);
  }

  private useNonce(key: string, nowMs: number): ApiError | undefined {
    for (const [seen, at] of this.nonces) if (nowMs - at > 2 * MAX_SKEW_MS) this.nonces.delete(seen);
    if (this.nonces.has(key)) return ERRORS.nonceUsed;
    this.nonces.set(key, nowMs);
    return undefined;
  }

  private reboot(params: RebootParams, requestId: string): SimulatorResponse {
    if (params.successFirst) {
      const answers = params.ids.map((id) => this.rebootOne(params, id));
      return { status: 200, body: { RequestId: requestId, InstanceResponses: { InstanceResponse: answers } } };
    }
    // AllTogether: one refusal fails the whole call and nothing reboots.
    const instances: SimulatedInstance[] = [];
    for (const id of params.ids) {
      const found = this.check(params.region, id);
      if ('code' in found) return errorResponse(found, requestId, params.region);
      instances.push(found);
    }
    if (params.dryRun) return errorResponse(ERRORS.dryRunPassed, requestId, params.region);
    for (const instance of instances) this.fleet.reboot(instance, params.force);
    return { status: 200, body: { RequestId: requestId } };
  }

  private rebootOne(params: RebootParams, id: string): InstanceAnswer {
    const instance = this.fleet.get(params.region, id);
    const status = instance ? STATUS[instance.state] : '';
    if (params.dryRun) {
      // With SuccessFirst a dry run answers DRYRUN.SUCCESS whatever the check finds (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances).
      return { InstanceId: id, Code: 'DRYRUN.SUCCESS', Message: ERRORS.dryRunPassed.message, PreviousStatus: status, CurrentStatus: status };
    }
    const found = this.check(params.region, id);
    if ('code' in found) return { InstanceId: id, Code: found.code, Message: found.message, PreviousStatus: status, CurrentStatus: status };
    this.fleet.reboot(found, params.force);
    return { InstanceId: id, Code: '200', Message: 'success', PreviousStatus: status, CurrentStatus: STATUS[found.state] };
  }

  private check(region: string, id: string): SimulatedInstance | ApiError {
    const instance = this.fleet.get(region, id);
    if (!instance) return ERRORS.notFound;
    const blocked = this.blocked.get(id);
    if (blocked === 'InsufficientBalance') return ERRORS.insufficientBalance;
    if (blocked === 'InstanceNotReady') return ERRORS.notReady;
    if (instance.state !== 'running') return ERRORS.wrongState;
    return instance;
  }
}

const INSTANCE_PARAM = /^InstanceId\.(\d+)$/;

function readParams(query: readonly QueryPair[]): RebootParams | ApiError {
  const region = firstValue(query, 'RegionId');
  if (region === undefined || region === '') return ERRORS.missingRegion;
  const numbered = query
    .map(([name, value]) => ({ n: Number(INSTANCE_PARAM.exec(name)?.[1] ?? NaN), value }))
    .filter(({ n }) => !Number.isNaN(n));
  if (numbered.length > MAX_INSTANCE_IDS || numbered.some(({ n }) => n > MAX_INSTANCE_IDS)) return ERRORS.tooMany;
  if (numbered.some(({ n }) => n < 1)) return invalidParameter('InstanceId');
  if (numbered.length === 0) return ERRORS.missingInstance;
  const ids = numbered.sort((a, b) => a.n - b.n).map(({ value }) => value);
  const force = parseQueryBoolean(firstValue(query, 'ForceReboot'));
  const dryRun = parseQueryBoolean(firstValue(query, 'DryRun'));
  const mode = firstValue(query, 'BatchOptimization') ?? 'AllTogether';
  if (force === undefined) return invalidParameter('ForceReboot');
  if (dryRun === undefined) return invalidParameter('DryRun');
  if (mode !== 'AllTogether' && mode !== 'SuccessFirst') return invalidParameter('BatchOptimization');
  return { region, ids, force, dryRun, successFirst: mode === 'SuccessFirst' };
}

function errorResponse(error: ApiError, requestId: string, region: string | undefined, headers?: Record<string, string>): SimulatorResponse {
  const response: SimulatorResponse = {
    status: error.status,
    body: {
      RequestId: requestId,
      HostId: region ? `ecs.${region}.aliyuncs.com` : 'ecs.aliyuncs.com',
      Code: error.code,
      Message: error.message,
      Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(error.code)}&product=Ecs&requestId=${requestId}`,
    },
  };
  if (headers) response.headers = headers;
  return response;
}
