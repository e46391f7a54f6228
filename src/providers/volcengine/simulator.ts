/**
 * A loopback stand-in for the Volcengine OpenAPI gateway plus ECS `RebootInstances` and `DescribeInstances`: it
 * verifies the signature from the raw request as the gateway does, keeps instance state, honours ClientToken
 * (same token + same parameters → the first answer, nothing rebooted again), pages reads with NextToken and
 * injects faults (throttle, server-error, latency and drop-response meet both calls; act-then-* only the reboot).
 */
import { randomBytes } from 'node:crypto';
import { compactIso, decodeRawQuery } from '../signing.js';
import {
  firstValue,
  parseQueryBoolean,
  retryAfterHeaders,
  SimulatedKeys,
  SimulatorServer,
  type TokenCheck,
  type FleetState,
  type SimulatedInstance,
  type SimulatorRequest,
  type SimulatorResponse,
} from '../simulator-kit.js';
import { DEFAULT_EXPIRES_SECONDS, SECURITY_TOKEN_HEADER, verifyRequest, type QueryPair, type VerifyFailureCode } from './signer.js';

const SERVICE = 'ecs';
const REBOOT = 'RebootInstances';
const DESCRIBE = 'DescribeInstances';
const VERSION = '2020-04-01';
const MAX_IDS = 100;
/** DescribeInstances page size when MaxResults is absent, and its upper bound: both UNCONFIRMED (the vendor Terraform pages with 100). */
const MAX_RESULTS = 100;
/** Beijing time, the offset of the third-party capture's CreatedAt ("2024-03-11T14:01:05+08:00"). */
const OFFSET_MS = 8 * 3_600_000;

/**
 * The fleet's lifecycle under the cloud's status names (volcengine/mcp-server
 * server/mcp_server_ecs/src/mcp_server_ecs/tools/instance.py lists RUNNING, STOPPING, STOPPED, REBOOTING, STARTING, …).
 * Both halves of a reboot show REBOOTING: the instance was not stopped or started by an operator.
 */
const STATUS: Record<FleetState, string> = {
  running: 'RUNNING',
  stopping: 'REBOOTING',
  starting: 'REBOOTING',
  stopped: 'STOPPED',
};

interface ErrorSpec {
  status: number;
  codeN?: number;
  message: string;
}

/**
 * Gateway codes with their CodeN and HTTP status (https://www.volcengine.com/docs/6664/116016,
 * https://www.volcengine.com/docs/4640/65080, and BytePlus's "Common error codes"). The messages are this
 * simulator's wording: the tables give codes, not texts. InvalidTimestamp is 400 per BytePlus
 * (another page says 403). AccountFlowLimitExceeded/100027 is UNCONFIRMED: known only from third-party code.
 */
const GATEWAY_ERRORS: Record<VerifyFailureCode | 'ServiceNotFound' | 'InvalidActionOrVersion' | 'AccountFlowLimitExceeded', ErrorSpec> = {
  MissingAuthenticationToken: { status: 401, codeN: 100003, message: 'The request does not carry an Authorization header.' },
  MissingSignature: { status: 401, codeN: 100005, message: 'The request signature is missing or malformed.' },
  InvalidAccessKey: { status: 401, codeN: 100009, message: 'The AccessKeyId you provided does not exist in our records.' },
  InvalidTimestamp: { status: 400, codeN: 100006, message: 'The X-Date of the request is invalid or outside the allowed window.' },
  SignatureDoesNotMatch: {
    status: 401,
    codeN: 100010,
    message: 'The request signature we calculated does not match the signature you provided. Check your Secret Access Key and signing method.',
  },
  ServiceNotFound: { status: 404, codeN: 100007, message: 'The service named in the credential scope is not found.' },
  InvalidActionOrVersion: { status: 404, codeN: 100008, message: 'The requested Action or Version is invalid.' },
  AccountFlowLimitExceeded: { status: 429, codeN: 100027, message: 'You have exceeded the request rate limit of your account.' },
};

/**
 * The gateway's answers about a session token. SessionTokenInvalid (400, "The session-toke is invalid.") is in the
 * IAM error table (https://www.volcengine.com/docs/6257/64992, no CodeN given); UNCONFIRMED which code the ECS gateway
 * gives for an expired token: SessionTokenExpired here, by analogy with that table's AccessKeyIsExpire.
 */
const TOKEN_ERRORS: Record<TokenCheck, { code: string; spec: ErrorSpec } | undefined> = {
  ok: undefined,
  unsigned: { code: 'SignatureDoesNotMatch', spec: GATEWAY_ERRORS.SignatureDoesNotMatch },
  missing: { code: 'SessionTokenInvalid', spec: { status: 400, message: 'The session-token is invalid.' } },
  wrong: { code: 'SessionTokenInvalid', spec: { status: 400, message: 'The session-token is invalid.' } },
  expired: { code: 'SessionTokenExpired', spec: { status: 400, message: 'The session-token is expired.' } },
};

/** Request-level errors of RebootInstances, with the HTTP status and message of its reference (https://www.volcengine.com/docs/6396/101069). */
export const REQUEST_ERRORS = {
  InvalidArgument: { status: 400, message: 'The specified argument is invalid.' },
  'InvalidCount.Malformed': { status: 400, message: 'The specified count is malformed.' },
  IdempotentParameterMismatch: {
    status: 400,
    message:
      'The request uses the same client token as a previous, but non-identical request. Do not reuse a client token with different requests, unless the requests are identical.',
  },
  'InvalidClientToken.Malformed': { status: 400, message: 'The specified ClientToken is malformed.' },
  IdempotentProcessing: { status: 412, message: 'The request uses the same client token as a previous one that is still in process.' },
  InternalError: { status: 500, message: 'An internal error has occurred.' },
} as const satisfies Record<string, ErrorSpec>;
export type RequestErrorCode = keyof typeof REQUEST_ERRORS;

/** Per-instance errors of RebootInstances, with the messages of the same reference. */
export const INSTANCE_ERRORS = {
  'InvalidInstance.NotFound': 'The specified instance does not exist.',
  'MissingParameter.InstanceId': 'The required parameter InstanceId is not supplied.',
  InvalidInstanceStatus: 'The status of the specified instance does not support this request.',
  'OperationDenied.ResourceLocked': 'The specified operation is denied as your resource is locked for another operation.',
  'OperationDenied.ResourceCreatedByOtherService':
    'The specified operation is denied as your resource is created by other service. You can check system tags to find the service.',
  'OperationDenied.InstanceIsCreatingImage': 'The specified operation is denied as your instance is creating image.',
  FlowLimitExceeded: "You've reach the limit on request rate of resources.",
  InternalError: 'An internal error has occurred.',
  'Insufficient.Balance': 'The request is denied due to the lack of balance.',
} as const;
export type InstanceErrorCode = keyof typeof INSTANCE_ERRORS;

export interface VolcengineSimulatorOptions {
  /** accessKeyId → secretAccessKey */
  credentials: Record<string, string>;
  /** AccessKeyId → session token: these keys are STS keys and need their X-Security-Token on every request. */
  securityTokens?: Record<string, string>;
  rebootMs?: number;
  /** Server clock, for clock-skew tests. */
  now?: () => Date;
}

interface OperationDetail {
  InstanceId: string;
  Error?: { Code: string; Message: string };
}

interface Remembered {
  fingerprint: string;
  answer: SimulatorResponse;
}

interface Meta {
  action: string;
  version: string;
  region: string;
}

interface Injected<C> {
  code: C;
  remaining: number;
}

export class VolcengineSimulator extends SimulatorServer {
  /** The account's keys; tests rotate them and expire tokens between calls. */
  readonly accounts: SimulatedKeys;
  private readonly now: () => Date;
  private readonly tokens = new Map<string, Remembered>();
  private readonly requestErrors: Array<Injected<RequestErrorCode>> = [];
  private readonly instanceErrors: Array<Injected<InstanceErrorCode>> = [];
  private readonly createdAt = new WeakMap<SimulatedInstance, number>();
  private garbledReads = 0;
  private sequence = 0;
  /** The most instances one DescribeInstances page holds, whatever MaxResults asks: lower it to make the client page. */
  maxResultsCap = MAX_RESULTS;

  constructor(options: VolcengineSimulatorOptions) {
    super(options.rebootMs);
    this.accounts = new SimulatedKeys(options.credentials, options.securityTokens);
    this.now = options.now ?? (() => new Date());
  }

  /** The next `count` signed RebootInstances requests are answered with this request-level error. */
  failNextRequestsWith(code: RequestErrorCode, count: number): void {
    if (count > 0) this.requestErrors.push({ code, remaining: count });
  }

  /** The next `count` requests answer 412 IdempotentProcessing, as while a same-token request is in flight. */
  idempotentProcessingNext(count: number): void {
    this.failNextRequestsWith('IdempotentProcessing', count);
  }

  /** The next `count` instance entries (in request order) fail with this per-instance code and are not rebooted. */
  failNextInstancesWith(code: InstanceErrorCode, count: number): void {
    if (count > 0) this.instanceErrors.push({ code, remaining: count });
  }

  /** The next `count` DescribeInstances answers are HTTP 200 with the body cut short, as a broken proxy might send. */
  garbleNextReads(count: number): void {
    this.garbledReads += Math.max(0, count);
  }

  protected handle(req: SimulatorRequest): SimulatorResponse {
    const pairs = decodeRawQuery(req.query) ?? [];
    const meta = { action: firstValue(pairs, 'Action') ?? '', version: firstValue(pairs, 'Version') ?? '', region: '' };

    const verified = verifyRequest(req, (ak) => this.accounts.secretOf(ak), this.now(), DEFAULT_EXPIRES_SECONDS);
    if (!verified.ok) return this.error(GATEWAY_ERRORS[verified.code], verified.code, { ...meta, region: verified.region ?? '' });
    meta.region = verified.region;
    // The SDK always signs X-Security-Token (signer.ts SECURITY_TOKEN_HEADER); an unsigned one could be swapped in transit.
    const tokenCheck = this.accounts.checkToken(verified.accessKeyId, req.headers[SECURITY_TOKEN_HEADER], verified.signedHeaders.includes(SECURITY_TOKEN_HEADER));
    const tokenError = TOKEN_ERRORS[tokenCheck];
    if (tokenError) return this.error(tokenError.spec, tokenError.code, meta);
    if (verified.service !== SERVICE) return this.error(GATEWAY_ERRORS.ServiceNotFound, 'ServiceNotFound', meta);
    if ((meta.action !== REBOOT && meta.action !== DESCRIBE) || meta.version !== VERSION) {
      return this.error(GATEWAY_ERRORS.InvalidActionOrVersion, 'InvalidActionOrVersion', meta);
    }

    const throttle = this.faults.take('throttle');
    if (throttle) return this.error(GATEWAY_ERRORS.AccountFlowLimitExceeded, 'AccountFlowLimitExceeded', meta, retryAfterHeaders(throttle));
    const serverError = this.faults.take('server-error');
    if (serverError) return this.error({ ...REQUEST_ERRORS.InternalError, status: serverError.status ?? 500 }, 'InternalError', meta);
    return meta.action === DESCRIBE ? this.describe(pairs, meta) : this.reboot(pairs, meta, verified.accessKeyId);
  }

  private reboot(pairs: readonly QueryPair[], meta: Meta, accessKeyId: string): SimulatorResponse {
    const injected = takeInjected(this.requestErrors);
    if (injected) return this.error(REQUEST_ERRORS[injected], injected, meta);

    const params = parseRebootParams(pairs);
    if ('error' in params) return this.error(REQUEST_ERRORS[params.error], params.error, meta);

    // The token is bound to what the call means (region, ids, ForceStop); parameters the API ignores change nothing.
    const tokenKey = params.clientToken === undefined ? undefined : `${accessKeyId}\u0000${params.clientToken}`;
    const fingerprint = JSON.stringify([meta.region, params.ids, params.force]);
    if (tokenKey !== undefined) {
      const remembered = this.tokens.get(tokenKey);
      if (remembered && remembered.fingerprint !== fingerprint) {
        return this.error(REQUEST_ERRORS.IdempotentParameterMismatch, 'IdempotentParameterMismatch', meta);
      }
      // A replay is handled like a first call, so an act-then-fail fault meets the resend as well.
      if (remembered) return this.afterAct(remembered.answer, meta);
    }

    const details = params.ids.map((id) => this.rebootOne(meta.region, id, params.force));
    const answer: SimulatorResponse = { status: 200, body: { ResponseMetadata: this.metadata(meta), Result: { OperationDetails: details } } };
    if (tokenKey !== undefined) this.tokens.set(tokenKey, { fingerprint, answer });
    return this.afterAct(answer, meta);
  }

  /**
   * DescribeInstances: the region's instances, those named by InstanceIds.N only when any are given; ids the cloud does
   * not know are left out without an error (volcengine/terraform-provider-volcengine
   * volcengine/ecs/ecs_instance/service_volcengine_ecs_instance.go, ReadResource, detects a missing instance by the empty result).
   */
  private describe(pairs: readonly QueryPair[], meta: Meta): SimulatorResponse {
    const params = parseDescribeParams(pairs);
    if ('error' in params) return this.error(DESCRIBE_ERRORS[params.error], params.error, meta);
    const wanted = params.ids === undefined ? undefined : new Set(params.ids);
    const matches = this.fleet.all().filter((i) => i.region === meta.region && (wanted === undefined || wanted.has(i.id)));
    const size = Math.min(params.maxResults, this.maxResultsCap);
    const page = matches.slice(params.offset, params.offset + size);
    const nextOffset = params.offset + size;
    const body = {
      ResponseMetadata: this.metadata(meta),
      Result: {
        Instances: page.map((i) => this.wireInstance(i)),
        NextToken: nextOffset < matches.length ? encodeNextToken(nextOffset) : '',
        TotalCount: matches.length,
      },
    };
    if (this.garbledReads > 0) {
      this.garbledReads -= 1;
      const text = JSON.stringify(body);
      return { status: 200, body: text.slice(0, Math.ceil(text.length / 2)) };
    }
    return { status: 200, body };
  }

  /** The fields of `InstanceForDescribeInstancesOutput` (volcengine/volcengine-go-sdk service/ecs/api_describe_instances.go) the bot may read. */
  private wireInstance(instance: SimulatedInstance): Record<string, string> {
    let created = this.createdAt.get(instance);
    if (created === undefined) {
      created = Math.min(instance.startedAt, instance.updatedAt) - 3_600_000;
      this.createdAt.set(instance, created);
    }
    return {
      InstanceId: instance.id,
      InstanceName: instance.name,
      // The capture's hostname is the id with iv- for i- (instance-state example "iv-ycc01lmwecgh9z3sqqfl").
      Hostname: `iv-${instance.id.replace(/^i-/, '')}`,
      Status: STATUS[instance.state],
      CreatedAt: beijingTime(created),
      UpdatedAt: beijingTime(instance.updatedAt),
      ZoneId: `${instance.region}-a`,
      ProjectName: 'default',
    };
  }

  /** The token keeps the true answer; only the wire sees the bad one, so a resend with the token gets the truth. */
  private afterAct(answer: SimulatorResponse, meta: Meta): SimulatorResponse {
    const ownError = (status: number): unknown => this.error({ ...REQUEST_ERRORS.InternalError, status }, 'InternalError', meta).body;
    return this.faults.answerAfterAct(answer, ownError) ?? answer;
  }

  private rebootOne(region: string, id: string, force: boolean): OperationDetail {
    const fail = (code: InstanceErrorCode): OperationDetail => ({ InstanceId: id, Error: { Code: code, Message: INSTANCE_ERRORS[code] } });
    if (id === '') return fail('MissingParameter.InstanceId');
    const injected = takeInjected(this.instanceErrors);
    if (injected) return fail(injected);
    const instance = this.fleet.get(region, id);
    if (!instance) return fail('InvalidInstance.NotFound');
    if (instance.state !== 'running') return fail('InvalidInstanceStatus');
    this.fleet.reboot(instance, force);
    return { InstanceId: id };
  }

  private metadata(meta: Meta): Record<string, string> {
    return { RequestId: this.requestId(), Action: meta.action, Version: meta.version, Service: SERVICE, Region: meta.region };
  }

  /** Shaped like the RequestId in the reference's example: a timestamp followed by hex. */
  private requestId(): string {
    this.sequence += 1;
    const stamp = compactIso(this.now()).replace(/\D/g, '');
    return `${stamp}${this.sequence.toString(16).padStart(4, '0')}${randomBytes(6).toString('hex').toUpperCase()}`;
  }

  private error(
    spec: ErrorSpec,
    code: string,
    meta: Meta,
    headers?: Record<string, string>,
  ): SimulatorResponse {
    const error = spec.codeN === undefined ? { Code: code, Message: spec.message } : { Code: code, CodeN: spec.codeN, Message: spec.message };
    return { status: spec.status, ...(headers ? { headers } : {}), body: { ResponseMetadata: { ...this.metadata(meta), Error: error } } };
  }
}

type RebootParams = { ids: string[]; force: boolean; clientToken?: string } | { error: RequestErrorCode };

/**
 * Reads InstanceIds.N in N order, ForceStop and ClientToken: the parameters RebootInstances documents
 * (https://www.volcengine.com/docs/6396/101069; volcengine-go-sdk service/ecs/api_reboot_instances.go has only these).
 *
 * Any other parameter is ignored, DryRun included: the instances really reboot. That is the failure mode issue 8
 * describes: a "dry run" sent as RebootInstances&DryRun=true to a cloud that ignores a parameter it does not document
 * is a real reboot, which is why the client never sends DryRun and dry runs only read. (UNCONFIRMED whether the real
 * gateway ignores an unknown parameter or refuses it; a simulator that refused it would hide exactly this danger.)
 * The reference names no code for "more than 100 ids" (UNCONFIRMED which one the
 * cloud sends); InvalidCount.Malformed ("the specified count is malformed") is the one that fits, and it also answers "no ids at all".
 */
function parseRebootParams(pairs: readonly QueryPair[]): RebootParams {
  const ids = instanceIds(pairs);
  if (ids === 'bad') return { error: 'InvalidArgument' };
  if (ids.length === 0 || ids.length > MAX_IDS) return { error: 'InvalidCount.Malformed' };
  const force = parseQueryBoolean(firstValue(pairs, 'ForceStop'));
  if (force === undefined) return { error: 'InvalidArgument' };
  const token = firstValue(pairs, 'ClientToken');
  if (token !== undefined && token !== '' && (token.length > 64 || !/^[\x20-\x7e]+$/.test(token))) {
    return { error: 'InvalidClientToken.Malformed' };
  }
  return { ids, force, ...(token ? { clientToken: token } : {}) };
}

/** InstanceIds.N in N order (1-based, no leading zeros); 'bad' for a repeated name or a malformed index. */
function instanceIds(pairs: readonly QueryPair[]): string[] | 'bad' {
  const seen = new Set<string>();
  const indexed: Array<[number, string]> = [];
  for (const [name, value] of pairs) {
    if (seen.has(name)) return 'bad';
    seen.add(name);
    const m = /^InstanceIds\.(\d+)$/.exec(name);
    if (m) {
      const n = Number(m[1]);
      if (n < 1 || m[1]?.startsWith('0')) return 'bad';
      indexed.push([n, value]);
    }
  }
  return indexed.sort((a, b) => a[0] - b[0]).map(([, id]) => id);
}

/**
 * DescribeInstances refusals. The code is UNCONFIRMED: no ECS page names one for a malformed parameter of this call;
 * InvalidParameter (400) is the guess of the read notes for a malformed id list, used here for every bad parameter.
 */
const DESCRIBE_ERRORS = {
  InvalidParameter: { status: 400, message: 'The specified parameter is invalid.' },
} as const satisfies Record<string, ErrorSpec>;

type DescribeParams = { ids?: string[]; maxResults: number; offset: number } | { error: keyof typeof DESCRIBE_ERRORS };

/** InstanceIds.N (≤100; none means every instance of the region), MaxResults (1..100) and NextToken (this simulator's own). */
function parseDescribeParams(pairs: readonly QueryPair[]): DescribeParams {
  const ids = instanceIds(pairs);
  if (ids === 'bad' || ids.length > MAX_IDS) return { error: 'InvalidParameter' };
  const rawMax = firstValue(pairs, 'MaxResults');
  const maxResults = rawMax === undefined ? MAX_RESULTS : Number(rawMax);
  if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_RESULTS || (rawMax !== undefined && !/^\d+$/.test(rawMax))) {
    return { error: 'InvalidParameter' };
  }
  const rawToken = firstValue(pairs, 'NextToken');
  const offset = rawToken === undefined || rawToken === '' ? 0 : decodeNextToken(rawToken);
  if (offset === undefined) return { error: 'InvalidParameter' };
  return { ...(ids.length > 0 ? { ids } : {}), maxResults, offset };
}

/** An opaque-looking token for "continue at this offset". */
function encodeNextToken(offset: number): string {
  return Buffer.from(`offset:${offset}`, 'utf8').toString('base64url');
}

function decodeNextToken(token: string): number | undefined {
  const m = /^offset:(\d{1,9})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return m ? Number(m[1]) : undefined;
}

/** RFC 3339 in Beijing time with its offset, whole seconds: 2024-03-11T14:01:05+08:00, as the capture shows CreatedAt. */
function beijingTime(epochMs: number): string {
  return `${new Date(epochMs + OFFSET_MS).toISOString().slice(0, 19)}+08:00`;
}

function takeInjected<C>(queue: Array<Injected<C>>): C | undefined {
  const head = queue[0];
  if (!head) return undefined;
  head.remaining -= 1;
  if (head.remaining <= 0) queue.shift();
  return head.code;
}
