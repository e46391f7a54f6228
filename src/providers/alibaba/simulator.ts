/**
 * A loopback stand-in for ECS `RebootInstances` and `DescribeInstances` (2014-05-26, RPC style, V3 signature).
 * It checks requests the way the POP gateway does (signature from the raw request, clock skew, nonce replay,
 * unknown keys), then RAM permission, and answers with ECS's JSON bodies, so the real client can be tested end to end.
 */
import { randomUUID } from 'node:crypto';
import { decodeRawQuery } from '../signing.js';
import {
  firstValue,
  parseQueryBoolean,
  retryAfterHeaders,
  SimulatedKeys,
  SimulatorServer,
  type FleetState,
  type TokenCheck,
  type SimulatedInstance,
  type SimulatorRequest,
  type SimulatorResponse,
} from '../simulator-kit.js';
import { parseAuthorization, SECURITY_TOKEN_HEADER, verify, type QueryPair } from './signer.js';

/**
 * What RAM lets the account's keys do.
 * - read: 'allowed'; 'empty-list', ECS's answer to a read without permission before 2025-12-20 ("an empty list is
 *   returned", https://help.aliyun.com/en/ecs/api-describeinstances), with Forbidden.RAM for its DryRun; 'forbidden',
 *   the answer since then, 403 Forbidden.RAM
 *   (https://www.alibabacloud.com/help/en/ecs/announcement-of-changes-to-the-authentication-mechanism-for-alibaba-cloud-ecs-query-type-apis).
 * - reboot: 'forbidden' answers RebootInstances, dry run or not, with 403 Forbidden.RAM.
 */
export interface SimulatedAccess {
  read: 'allowed' | 'empty-list' | 'forbidden';
  reboot: 'allowed' | 'forbidden';
}

export interface AlibabaSimulatorOptions {
  /** AccessKeyId → AccessKeySecret. */
  credentials: Record<string, string>;
  /** AccessKeyId → SecurityToken: these keys are STS keys and need their token on every request. */
  securityTokens?: Record<string, string>;
  rebootMs?: number;
  /** The simulated cloud's clock, for clock-skew tests. */
  now?: () => Date;
  /** RAM permissions of the account; everything allowed by default. */
  access?: Partial<SimulatedAccess>;
  /** Caps DescribeInstances' page size below MaxResults, to make ECS page an answer the client asked for in one. */
  describePageSize?: number;
}

/** Documented RebootInstances refusals that fleet state alone cannot express. */
export type BlockCode = 'InsufficientBalance' | 'InstanceNotReady';

export const MAX_INSTANCE_IDS = 100;
// Kept apart from the client's constants: the simulator models the cloud, not our client.
const REBOOT = 'RebootInstances';
const DESCRIBE = 'DescribeInstances';
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
  // RebootInstances' error table (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances):
  // 403 InvalidParameter.TooManyInstanceIds, the lock codes (message "%s" there; the texts are RebootInstance's,
  // https://www.alibabacloud.com/help/doc-detail/25502.htm), and 400 DRYRUN.SUCCESS for a passed AllTogether dry run.
  tooMany: { status: 403, code: 'InvalidParameter.TooManyInstanceIds', message: `Instance ids cannot be more than ${MAX_INSTANCE_IDS}.` },
  notFound: { status: 404, code: 'InvalidInstanceId.NotFound', message: 'The specified InstanceId does not exist.' },
  wrongState: { status: 403, code: 'IncorrectInstanceStatus', message: 'The current status of the resource does not support this operation.' },
  insufficientBalance: { status: 403, code: 'InsufficientBalance', message: 'Your account does not have enough balance.' },
  notReady: { status: 403, code: 'InstanceNotReady', message: 'The specified instance is not ready for use.' },
  lockedForSecurity: { status: 403, code: 'InstanceLockedForSecurity', message: 'The specified operation is denied as your instance is locked for security reasons.' },
  expiredOrInArrears: {
    status: 403,
    code: 'InstanceExpiredOrInArrears',
    message: 'The specified operation is denied as your prepay instance is expired (prepay mode) or in arrears (afterpay mode).',
  },
  rebootDryRunPassed: { status: 400, code: 'DRYRUN.SUCCESS', message: 'This request is a dryrun request with successful result.' },
  // DescribeInstances' DryRun passes with DryRunOperation (npm @alicloud/ecs20140526 src/models/DescribeInstancesRequest.ts
  // 106–117); the message is the one Alibaba's error tables give it (e.g. https://www.alibabacloud.com/help/en/vpc/developer-reference/api-vpcpeer-2022-01-01-errorcodes).
  dryRunPassed: { status: 400, code: 'DryRunOperation', message: 'Request validation has been passed with DryRun flag set.' },
  // https://help.aliyun.com/document_detail/160271.html; 403 per the 2025-12-20 ECS announcement (SimulatedAccess).
  forbidden: { status: 403, code: 'Forbidden.RAM', message: "User not authorized to operate on the specified resource, or this API doesn't support RAM." },
  // No documented code for a malformed InstanceIds JSON or NextToken; the names follow ECS's InvalidParameter family.
  badInstanceIds: { status: 400, code: 'InvalidParameter.InstanceIds', message: 'The specified parameter InstanceIds is not a JSON array of instance ids.' },
  badNextToken: { status: 400, code: 'InvalidParameter.NextToken', message: 'The specified parameter NextToken is not valid.' },
} as const satisfies Record<string, ApiError>;

/**
 * The gateway's answers about an STS token. InvalidSecurityToken.Expired / .MismatchWithAccessKey / .Malformed are the
 * POP gateway's common codes (https://api.aliyun.com/document/Ecs/2014-05-26/errorCode; statuses UNCONFIRMED, 400 like
 * the other signature errors). A temporary key sent without its token: UNCONFIRMED which code, MissingSecurityToken here.
 */
const TOKEN_ERRORS: Record<TokenCheck, ApiError | undefined> = {
  ok: undefined,
  unsigned: ERRORS.incompleteSignature,
  missing: { status: 400, code: 'MissingSecurityToken', message: 'SecurityToken is mandatory for this temporary access key.' },
  wrong: { status: 400, code: 'InvalidSecurityToken.MismatchWithAccessKey', message: 'Specified SecurityToken mismatch with the AccessKey.' },
  expired: { status: 400, code: 'InvalidSecurityToken.Expired', message: 'Specified SecurityToken is expired.' },
};

function invalidParameter(name: string): ApiError {
  return { status: 400, code: `Invalid${name}.ValueNotSupported`, message: `The specified parameter ${name} is not valid.` };
}

/** The fleet's lifecycle in ECS's words: a reboot shows Stopping, then Starting (RebootInstances / RebootInstance references). */
const STATUS: Record<FleetState, string> = { running: 'Running', stopping: 'Stopping', starting: 'Starting', stopped: 'Stopped' };

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
  /** The account's keys; tests rotate them and expire tokens between calls. */
  readonly accounts: SimulatedKeys;
  private readonly now: () => Date;
  /** `${accessKeyId} ${nonce}` → when it was first seen, kept for twice the skew window. */
  private readonly nonces = new Map<string, number>();
  private readonly blocked = new Map<string, BlockCode>();
  /** RAM permissions of the account; tests may change them between calls. */
  readonly access: SimulatedAccess;
  private readonly describePageSize: number;

  constructor(options: AlibabaSimulatorOptions) {
    super(options.rebootMs);
    this.accounts = new SimulatedKeys(options.credentials, options.securityTokens);
    this.now = options.now ?? (() => new Date());
    this.access = { read: 'allowed', reboot: 'allowed', ...options.access };
    this.describePageSize = options.describePageSize ?? MAX_PAGE_SIZE;
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

    // Faults stand for the gateway and the service as a whole, so reads meet them too.
    const throttle = this.faults.take('throttle');
    if (throttle) return errorResponse(ERRORS.throttled, requestId, region, retryAfterHeaders(throttle));
    const serverError = this.faults.take('server-error');
    if (serverError) return errorResponse(serverError.status === 503 ? ERRORS.unavailable : ERRORS.internal, requestId, region);

    const action = req.headers['x-acs-action'];
    if (action !== REBOOT && action !== DESCRIBE) return errorResponse(ERRORS.unknownAction, requestId, region);
    if (req.headers['x-acs-version'] !== VERSION) return errorResponse(ERRORS.badVersion, requestId, region);
    if (action === DESCRIBE) return this.describe(query, requestId);

    const params = readParams(query);
    if ('code' in params) return errorResponse(params, requestId, region);
    if (this.access.reboot === 'forbidden') return errorResponse(ERRORS.forbidden, requestId, params.region);
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
    const result = verify({ ...req, query }, (ak) => this.accounts.secretOf(ak));
    if (!result.ok) {
      if (result.reason === 'malformed') return ERRORS.incompleteSignature;
      if (result.reason === 'unknown-key') return ERRORS.unknownKey;
      if (result.reason === 'content-hash') return ERRORS.contentHash;
      return ERRORS.signatureMismatch;
    }
    // V3 signs every x-acs-* header the request carries, the token's included (signer.ts SECURITY_TOKEN_HEADER).
    const signedHeaders = parseAuthorization(req.headers['authorization'])?.signedHeaders ?? [];
    const token = req.headers[SECURITY_TOKEN_HEADER];
    if (token !== undefined && !signedHeaders.includes(SECURITY_TOKEN_HEADER)) return ERRORS.incompleteSignature;
    const tokenRefusal = TOKEN_ERRORS[this.accounts.checkToken(result.accessKeyId, token, undefined)];
    if (tokenRefusal) return tokenRefusal;
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
    // AllTogether: one refusal fails the whole call (the first failing instance's error) and nothing reboots.
    const instances: SimulatedInstance[] = [];
    for (const id of params.ids) {
      const found = this.check(params.region, id);
      if ('code' in found) return errorResponse(found, requestId, params.region);
      instances.push(found);
    }
    if (params.dryRun) return errorResponse(ERRORS.rebootDryRunPassed, requestId, params.region);
    for (const instance of instances) this.fleet.reboot(instance, params.force);
    return { status: 200, body: { RequestId: requestId } };
  }

  private rebootOne(params: RebootParams, id: string): InstanceAnswer {
    const instance = this.fleet.get(params.region, id);
    const status = instance ? STATUS[instance.state] : '';
    if (params.dryRun) {
      // With SuccessFirst a dry run answers DRYRUN.SUCCESS whatever the check finds (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-rebootinstances).
      return { InstanceId: id, Code: 'DRYRUN.SUCCESS', Message: ERRORS.rebootDryRunPassed.message, PreviousStatus: status, CurrentStatus: status };
    }
    const found = this.check(params.region, id);
    if ('code' in found) return { InstanceId: id, Code: found.code, Message: found.message, PreviousStatus: status, CurrentStatus: status };
    this.fleet.reboot(found, params.force);
    return { InstanceId: id, Code: '200', Message: 'success', PreviousStatus: status, CurrentStatus: STATUS[found.state] };
  }

  private check(region: string, id: string): SimulatedInstance | ApiError {
    const instance = this.fleet.get(region, id);
    if (!instance) return ERRORS.notFound;
    // "locked … all operations are prohibited" (RebootInstances reference): a security lock answers
    // InstanceLockedForSecurity (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-behavior-when-an-instance-is-locked-for-security-reasons);
    // the billing locks (financial, dedicatedhostfinancial, and the rest) InstanceExpiredOrInArrears, the table's other
    // lock code. UNCONFIRMED which code ECS gives for Recycling and refunded locks; this one is a guess.
    if (instance.lockReason !== undefined) return instance.lockReason === 'security' ? ERRORS.lockedForSecurity : ERRORS.expiredOrInArrears;
    const blocked = this.blocked.get(id);
    if (blocked === 'InsufficientBalance') return ERRORS.insufficientBalance;
    if (blocked === 'InstanceNotReady') return ERRORS.notReady;
    if (instance.state !== 'running') return ERRORS.wrongState;
    return instance;
  }

  /**
   * DescribeInstances: the region's instances filtered by InstanceIds (unknown ids left out, `[]` matching nothing),
   * in pages of MaxResults (10 when unset or below 10, 100 at most) chained by NextToken.
   */
  private describe(query: readonly QueryPair[], requestId: string): SimulatorResponse {
    const params = readDescribeParams(query);
    const region = firstValue(query, 'RegionId');
    if ('code' in params) return errorResponse(params, requestId, region);
    if (params.dryRun) return errorResponse(this.access.read === 'allowed' ? ERRORS.dryRunPassed : ERRORS.forbidden, requestId, params.region);
    if (this.access.read === 'forbidden') return errorResponse(ERRORS.forbidden, requestId, params.region);
    const visible = this.access.read === 'allowed' ? this.fleet.all().filter((i) => i.region === params.region) : [];
    const wanted = params.ids === undefined ? visible : visible.filter((i) => params.ids?.includes(i.id));
    const size = Math.min(params.maxResults, this.describePageSize);
    const page = wanted.slice(params.offset, params.offset + size);
    const next = params.offset + size < wanted.length ? nextTokenFor(params.offset + size) : '';
    return {
      status: 200,
      body: {
        RequestId: requestId,
        TotalCount: wanted.length,
        PageNumber: 1,
        PageSize: size,
        NextToken: next,
        Instances: { Instance: page.map((i) => instanceBody(i)) },
      },
    };
  }
}

const MAX_PAGE_SIZE = 100;

/** One instance as DescribeInstances shows it, trimmed to the documented fields a reader may look at. */
function instanceBody(instance: SimulatedInstance): Record<string, unknown> {
  return {
    InstanceId: instance.id,
    InstanceName: instance.name,
    HostName: `iZ${instance.id.slice(2)}Z`,
    Status: STATUS[instance.state],
    StartTime: minuteTime(instance.startedAt),
    CreationTime: minuteTime(instance.startedAt),
    ExpiredTime: '2099-12-31T15:59Z',
    StoppedMode: instance.state === 'stopped' ? 'KeepCharging' : 'Not-applicable',
    RegionId: instance.region,
    ZoneId: `${instance.region}-k`,
    InstanceType: 'ecs.g7.large',
    OSType: 'linux',
    OperationLocks: { LockReason: instance.lockReason === undefined ? [] : [{ LockReason: instance.lockReason, LockMsg: '' }] },
  };
}

/** StartTime's format: "yyyy-MM-ddTHH:mmZ", UTC, minute precision (DescribeInstancesResponseBodyInstancesInstance.ts). */
export function minuteTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 16)}Z`;
}

/** NextToken is opaque to callers; here it is the offset of the next page, so a forged one is refused. */
function nextTokenFor(offset: number): string {
  return `sim-${offset}`;
}

interface DescribeParams {
  region: string;
  ids?: string[];
  maxResults: number;
  offset: number;
  dryRun: boolean;
}

function readDescribeParams(query: readonly QueryPair[]): DescribeParams | ApiError {
  const region = firstValue(query, 'RegionId');
  if (region === undefined || region === '') return ERRORS.missingRegion;
  const dryRun = parseQueryBoolean(firstValue(query, 'DryRun'));
  if (dryRun === undefined) return invalidParameter('DryRun');
  const rawIds = firstValue(query, 'InstanceIds');
  let ids: string[] | undefined;
  if (rawIds !== undefined) {
    const parsed = parseIdArray(rawIds);
    if (!parsed) return ERRORS.badInstanceIds;
    if (parsed.length > MAX_INSTANCE_IDS) return ERRORS.tooMany;
    ids = parsed;
  }
  const rawMax = firstValue(query, 'MaxResults');
  const asked = rawMax === undefined ? 10 : Number(rawMax);
  if (!Number.isInteger(asked)) return invalidParameter('MaxResults');
  const maxResults = Math.min(MAX_PAGE_SIZE, Math.max(10, asked));
  const token = firstValue(query, 'NextToken');
  let offset = 0;
  if (token !== undefined && token !== '') {
    const m = /^sim-(\d+)$/.exec(token);
    if (!m) return ERRORS.badNextToken;
    offset = Number(m[1]);
  }
  return { region, ...(ids === undefined ? {} : { ids }), maxResults, offset, dryRun };
}

function parseIdArray(text: string): string[] | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((v): v is string => typeof v === 'string') ? value : undefined;
  } catch {
    return undefined;
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
