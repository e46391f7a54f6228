/**
 * A loopback stand-in for the Volcengine OpenAPI gateway plus ECS `RebootInstances`: it verifies the
 * signature from the raw request as the gateway does, keeps instance state, honours ClientToken
 * (same token + same parameters → the first answer, nothing rebooted again) and injects faults.
 */
import { randomBytes } from 'node:crypto';
import { byCodeUnit, compactIso, decodeRawQuery } from '../signing.js';
import {
  firstValue,
  parseQueryBoolean,
  retryAfterHeaders,
  SimulatorServer,
  type SimulatorRequest,
  type SimulatorResponse,
} from '../simulator-kit.js';
import { DEFAULT_EXPIRES_SECONDS, verifyRequest, type QueryPair, type VerifyFailureCode } from './signer.js';

const SERVICE = 'ecs';
const ACTION = 'RebootInstances';
const VERSION = '2020-04-01';
const MAX_IDS = 100;

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
  // Not in the reference: the answer of a dry run that would pass (Volcengine's DryRun convention; UNCONFIRMED for ECS).
  DryRunOperation: { status: 400, message: 'Request validation has been passed with DryRun flag set.' },
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

interface Injected<C> {
  code: C;
  remaining: number;
}

export class VolcengineSimulator extends SimulatorServer {
  private readonly credentials: Record<string, string>;
  private readonly now: () => Date;
  private readonly tokens = new Map<string, Remembered>();
  private readonly requestErrors: Array<Injected<RequestErrorCode>> = [];
  private readonly instanceErrors: Array<Injected<InstanceErrorCode>> = [];
  private sequence = 0;

  constructor(options: VolcengineSimulatorOptions) {
    super(options.rebootMs);
    this.credentials = { ...options.credentials };
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

  protected handle(req: SimulatorRequest): SimulatorResponse {
    const pairs = decodeRawQuery(req.query) ?? [];
    const meta = { action: firstValue(pairs, 'Action') ?? '', version: firstValue(pairs, 'Version') ?? '', region: '' };

    const verified = verifyRequest(req, (ak) => this.credentials[ak], this.now(), DEFAULT_EXPIRES_SECONDS);
    if (!verified.ok) return this.error(GATEWAY_ERRORS[verified.code], verified.code, { ...meta, region: verified.region ?? '' });
    meta.region = verified.region;
    if (verified.service !== SERVICE) return this.error(GATEWAY_ERRORS.ServiceNotFound, 'ServiceNotFound', meta);
    if (meta.action !== ACTION || meta.version !== VERSION) return this.error(GATEWAY_ERRORS.InvalidActionOrVersion, 'InvalidActionOrVersion', meta);

    const throttle = this.faults.take('throttle');
    if (throttle) return this.error(GATEWAY_ERRORS.AccountFlowLimitExceeded, 'AccountFlowLimitExceeded', meta, retryAfterHeaders(throttle));
    const serverError = this.faults.take('server-error');
    if (serverError) return this.error({ ...REQUEST_ERRORS.InternalError, status: serverError.status ?? 500 }, 'InternalError', meta);
    const injected = takeInjected(this.requestErrors);
    if (injected) return this.error(REQUEST_ERRORS[injected], injected, meta);

    const params = parseRebootParams(pairs);
    if ('error' in params) return this.error(REQUEST_ERRORS[params.error], params.error, meta);

    const tokenKey = params.clientToken === undefined ? undefined : `${verified.accessKeyId}\u0000${params.clientToken}`;
    const fingerprint = `${meta.region}\u0000${JSON.stringify(pairs.filter(([name]) => name !== 'ClientToken').sort((a, b) => byCodeUnit(a[0], b[0])))}`;
    if (tokenKey !== undefined && !params.dryRun) {
      const remembered = this.tokens.get(tokenKey);
      if (remembered && remembered.fingerprint !== fingerprint) {
        return this.error(REQUEST_ERRORS.IdempotentParameterMismatch, 'IdempotentParameterMismatch', meta);
      }
      // A replay is handled like a first call, so an act-then-fail fault meets the resend as well.
      if (remembered) return this.afterAct(remembered.answer, meta);
    }

    const details = params.ids.map((id) => this.rebootOne(meta.region, id, params.force, params.dryRun));
    if (params.dryRun && details.every((d) => d.Error === undefined)) {
      return this.error(REQUEST_ERRORS.DryRunOperation, 'DryRunOperation', meta);
    }
    const answer: SimulatorResponse = { status: 200, body: { ResponseMetadata: this.metadata(meta), Result: { OperationDetails: details } } };
    if (tokenKey !== undefined && !params.dryRun) this.tokens.set(tokenKey, { fingerprint, answer });
    return params.dryRun ? answer : this.afterAct(answer, meta);
  }

  /** The token keeps the true answer; only the wire sees the bad one, so a resend with the token gets the truth. */
  private afterAct(answer: SimulatorResponse, meta: { action: string; version: string; region: string }): SimulatorResponse {
    const ownError = (status: number): unknown => this.error({ ...REQUEST_ERRORS.InternalError, status }, 'InternalError', meta).body;
    return this.faults.answerAfterAct(answer, ownError) ?? answer;
  }

  private rebootOne(region: string, id: string, force: boolean, dryRun: boolean): OperationDetail {
    const fail = (code: InstanceErrorCode): OperationDetail => ({ InstanceId: id, Error: { Code: code, Message: INSTANCE_ERRORS[code] } });
    if (id === '') return fail('MissingParameter.InstanceId');
    const injected = takeInjected(this.instanceErrors);
    if (injected) return fail(injected);
    const instance = this.fleet.get(region, id);
    if (!instance) return fail('InvalidInstance.NotFound');
    if (instance.state !== 'running') return fail('InvalidInstanceStatus');
    if (!dryRun) this.fleet.reboot(instance, force);
    return { InstanceId: id };
  }

  private metadata(meta: { action: string; version: string; region: string }): Record<string, string> {
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
    meta: { action: string; version: string; region: string },
    headers?: Record<string, string>,
  ): SimulatorResponse {
    const error = spec.codeN === undefined ? { Code: code, Message: spec.message } : { Code: code, CodeN: spec.codeN, Message: spec.message };
    return { status: spec.status, ...(headers ? { headers } : {}), body: { ResponseMetadata: { ...this.metadata(meta), Error: error } } };
  }
}

type RebootParams = { ids: string[]; force: boolean; dryRun: boolean; clientToken?: string } | { error: RequestErrorCode };

/**
 * Reads InstanceIds.N in N order. The reference names no code for "more than 100 ids" (UNCONFIRMED which one the
 * cloud sends); InvalidCount.Malformed ("the specified count is malformed") is the one that fits, and it also answers "no ids at all".
 */
function parseRebootParams(pairs: readonly QueryPair[]): RebootParams {
  const seen = new Set<string>();
  const indexed: Array<[number, string]> = [];
  for (const [name, value] of pairs) {
    if (seen.has(name)) return { error: 'InvalidArgument' };
    seen.add(name);
    const m = /^InstanceIds\.(\d+)$/.exec(name);
    if (m) {
      const n = Number(m[1]);
      if (n < 1 || m[1]?.startsWith('0')) return { error: 'InvalidArgument' };
      indexed.push([n, value]);
    }
  }
  if (indexed.length === 0 || indexed.length > MAX_IDS) return { error: 'InvalidCount.Malformed' };
  const force = parseQueryBoolean(firstValue(pairs, 'ForceStop'));
  const dryRun = parseQueryBoolean(firstValue(pairs, 'DryRun'));
  if (force === undefined || dryRun === undefined) return { error: 'InvalidArgument' };
  const token = firstValue(pairs, 'ClientToken');
  if (token !== undefined && token !== '' && (token.length > 64 || !/^[\x20-\x7e]+$/.test(token))) {
    return { error: 'InvalidClientToken.Malformed' };
  }
  return {
    ids: indexed.sort((a, b) => a[0] - b[0]).map(([, id]) => id),
    force,
    dryRun,
    ...(token ? { clientToken: token } : {}),
  };
}

function takeInjected<C>(queue: Array<Injected<C>>): C | undefined {
  const head = queue[0];
  if (!head) return undefined;
  head.remaining -= 1;
  if (head.remaining <= 0) queue.shift();
  return head.code;
}
