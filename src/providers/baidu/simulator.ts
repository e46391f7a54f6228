/**
 * A loopback stand-in for the BCC API: verifies bce-auth-v1 exactly as received, keeps instance
 * state, and answers with Baidu's error bodies `{requestId, code, message}`. It serves only the
 * documented calls the client uses: PUT /v2/instance/{id}?reboot, GET /v2/instance/{id} and
 * POST /v2/instance/listByInstanceId.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseJsonOrUndefined } from '../outcomes.js';
import { decodeRawPath, decodeRawQuery, isoSeconds } from '../signing.js';
import {
  retryAfterHeaders,
  SimulatedKeys,
  SimulatorServer,
  type TokenCheck,
  type FleetState,
  type SimulatedInstance,
  type SimulatorRequest,
  type SimulatorResponse,
} from '../simulator-kit.js';
import { bceSignatureMatches, parseBceAuthorization, SECURITY_TOKEN_HEADER, type BceRequest } from './signer.js';

export interface BaiduSimulatorOptions {
  /** accessKeyId → secretAccessKey. */
  credentials: Record<string, string>;
  /** AccessKeyId → session token: these keys are STS keys and need their x-bce-security-token on every request. */
  securityTokens?: Record<string, string>;
  rebootMs?: number;
  /** Access keys that authenticate but lack BCC permissions: answered 403 AccessDenied. */
  deniedAccessKeys?: readonly string[];
  /** The simulator's clock, for expiry checks. */
  now?: () => Date;
  /**
   * How listByInstanceId treats ids it does not know, UNCONFIRMED for the real BCC: 'omit' leaves them out of
   * the answer (default); 'refuse' answers 400 NoSuchObject for the whole call, as a BCC page words it for an
   * instance-id-list API ("instanceId i-aaaa,i-bbbb does not exist.", https://cloud.baidu.com/theme/others/1857566-69);
   * 'denied' refuses every batch read 403 AccessDenied, as for a key whose policy allows only the detail read.
   */
  batchRead?: 'omit' | 'refuse' | 'denied';
  /** Most instances listByInstanceId returns per page whatever maxKeys asks (default 1000), to exercise paging. */
  pageSize?: number;
}

/** How far a timestamp may run ahead of the server clock (common brief; BCE publishes no figure). */
const MAX_FUTURE_SKEW_MS = 15 * 60 * 1000;
const INSTANCE_PATH = /^\/v(\d+)\/instance\/([^/]+)$/;
const LIST_BY_ID = 'listByInstanceId';
/** listByInstanceId's maxKeys default and ceiling ("查询多个实例详情", https://cloud.baidu.com/doc/BCC/s/Kksyfijrw). */
const MAX_KEYS = 1000;

const BCC_STATUS: Record<FleetState, string> = {
  running: 'Running',
  // The reboot page (https://intl.cloud.baidu.com/doc/BCC/s/vjwvyoa62-en): "After the API is called successfully,
  // the instance is in the Starting status." BCC has no Rebooting, so both halves of the fleet's reboot read Starting.
  stopping: 'Starting',
  starting: 'Starting',
  stopped: 'Stopped',
};

const ListByIdBody = z.object({ instanceIds: z.array(z.string()) });

interface BaiduError {
  status: number;
  code: string;
  message: string;
}

/*
 * Statuses follow Baidu's common error table (BCC/s/Ojwvyo6nc, Reference/s/Bjz3uz3qj) where it was
 * captured: AccessDenied and InvalidAccessKeyId 403, InvalidHTTPAuthHeader, InvalidURI and
 * MalformedJSON 400, InvalidVersion 404, InternalError 500. The captured pages stop before
 * RequestExpired and SignatureDoesNotMatch: RequestExpired is answered 400 (it is a request
 * problem, and the Go SDK matches it by code, not status) and SignatureDoesNotMatch 403 (an
 * authentication failure like InvalidAccessKeyId). The client keys on codes, so either guess is harmless.
 */
const ERRORS = {
  missingAuth: {
    status: 400,
    code: 'InvalidHTTPAuthHeader',
    message: 'The HTTP authorization header is invalid. Consult the service documentation for details.',
  },
  unknownKey: {
    status: 403,
    code: 'InvalidAccessKeyId',
    message: 'The Access Key ID you provided does not exist in our records.',
  },
  badSignature: {
    status: 403,
    code: 'SignatureDoesNotMatch',
    message:
      'The request signature we calculated does not match the signature you provided. ' +
      'Check your Secret Access Key and signing method. Consult the service documentation for details.',
  },
  denied: { status: 403, code: 'AccessDenied', message: 'Access denied.' },
  badUri: { status: 400, code: 'InvalidURI', message: 'Could not parse the specified URI.' },
  badVersion: { status: 404, code: 'InvalidVersion', message: 'The API version specified was invalid.' },
  badJson: { status: 400, code: 'MalformedJSON', message: 'The JSON you provided was not well-formed.' },
  // This simulator's wording for a maxKeys or marker it cannot use; BCC documents neither refusal.
  badParameter: { status: 400, code: 'InvalidParameter', message: 'The parameter is invalid.' },
  // UNCONFIRMED: BCC's own not-found code is not on the reboot page or in the common table; NoSuchObject is the
  // code other BCE network/compute APIs return for a missing resource, so it is the most plausible stand-in.
  notFound: {
    status: 404,
    code: 'NoSuchObject',
    message: 'The specified object is not found or resource do not exist.',
  },
  notRunning: {
    status: 409,
    code: 'Instance.RebootInstanceOperationForbidden',
    message: 'Instance not running when rebooting.',
  },
} satisfies Record<string, BaiduError>;

/**
 * BCE's answers about a session token: UNCONFIRMED, no captured page gives the codes (the common table stops at
 * InvalidAccessKeyId/InvalidHTTPAuthHeader). InvalidSessionToken / SessionTokenExpired, 400 and 403, are this
 * simulator's names; the client's isBaiduTokenExpired must change with them.
 */
const TOKEN_ERRORS: Record<TokenCheck, BaiduError | undefined> = {
  ok: undefined,
  unsigned: ERRORS.badSignature,
  missing: { status: 400, code: 'InvalidSessionToken', message: 'The session token is missing for this temporary access key.' },
  wrong: { status: 400, code: 'InvalidSessionToken', message: 'The session token is invalid.' },
  expired: { status: 403, code: 'SessionTokenExpired', message: 'The session token has expired.' },
};

export class BaiduSimulator extends SimulatorServer {
  /** The account's keys; tests rotate them and expire tokens between calls. */
  readonly accounts: SimulatedKeys;
  private readonly denied: ReadonlySet<string>;
  private readonly now: () => Date;
  private readonly batchRead: NonNullable<BaiduSimulatorOptions['batchRead']>;
  private readonly pageSize: number;
  /** BCC statuses that replace what the fleet says, for states the shared fleet has no name for (Recycled, Error…). */
  private readonly statusOverrides = new Map<string, string>();
  /** createTime of each instance, fixed the first time the simulator shows it (a reboot moves startedAt, not this). */
  private readonly created = new WeakMap<SimulatedInstance, number>();

  constructor(options: BaiduSimulatorOptions) {
    super(options.rebootMs);
    this.accounts = new SimulatedKeys(options.credentials, options.securityTokens);
    this.denied = new Set(options.deniedAccessKeys ?? []);
    this.now = options.now ?? (() => new Date());
    this.batchRead = options.batchRead ?? 'omit';
    this.pageSize = options.pageSize ?? MAX_KEYS;
  }

  /**
   * Shows `status` (any BCC InstanceStatus, e.g. Recycled, Deleted, Scaling, Error) for this instance instead of
   * its fleet state; undefined goes back to the fleet state. Only Running may be rebooted.
   */
  setStatus(id: string, status: string | undefined): void {
    if (status === undefined) this.statusOverrides.delete(id);
    else this.statusOverrides.set(id, status);
  }

  /** One request as the cloud sees it: authenticate, then faults, then the API itself. */
  override handle(req: SimulatorRequest): SimulatorResponse {
    const requestId = randomUUID();
    const bce = decodeRequest(req);
    if (!bce) return errorResponse(ERRORS.badUri, requestId);
    const authError = this.authenticate(req, bce);
    if (authError) return errorResponse(authError, requestId);

    const throttle = this.faults.take('throttle');
    if (throttle) {
      // BCC documents no throttling code; RequestLimitExceeded is an assumption, the client keys on the 429.
      const error = { status: 429, code: 'RequestLimitExceeded', message: 'Request rate exceeds the limit.' };
      return errorResponse(error, requestId, retryAfterHeaders(throttle));
    }
    const serverError = this.faults.take('server-error');
    if (serverError) return errorResponse(serverFailure(serverError.status ?? 500), requestId);

    const route = routeOf(bce);
    if ('status' in route) return errorResponse(route, requestId);
    if (route.action === 'list') return this.listByInstanceId(bce, req.body, requestId);
    const instance = this.fleet.findById(route.id);
    if (route.action === 'describe') {
      return instance ? ok(requestId, { instance: this.model(instance) }) : errorResponse(ERRORS.notFound, requestId);
    }
    const forceStop = parseForceStop(req.body);
    if (forceStop === undefined) return errorResponse(ERRORS.badJson, requestId);
    if (!instance) return errorResponse(ERRORS.notFound, requestId);
    if (this.statusOf(instance) !== 'Running') return errorResponse(ERRORS.notRunning, requestId);
    this.fleet.reboot(instance, forceStop);
    const answer = ok(requestId, '');
    return this.faults.answerAfterAct(answer, (status) => errorResponse(serverFailure(status), requestId).body) ?? answer;
  }

  /**
   * POST /v2/instance/listByInstanceId?maxKeys=…&marker=… with {"instanceIds":[…]}: the known instances in the
   * order asked, a page at a time; nextMarker is the id the next page starts with, absent on the last page.
   */
  private listByInstanceId(bce: BceRequest, body: string, requestId: string): SimulatorResponse {
    if (this.batchRead === 'denied') return errorResponse(ERRORS.denied, requestId);
    const parsed = ListByIdBody.safeParse(parseJsonOrUndefined(body));
    if (!parsed.success) return errorResponse(ERRORS.badJson, requestId);
    const maxKeysText = bce.query.find(([name]) => name === 'maxKeys')?.[1];
    const maxKeys = maxKeysText === undefined ? MAX_KEYS : Number(maxKeysText);
    if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > MAX_KEYS) return errorResponse(ERRORS.badParameter, requestId);
    const ids = [...new Set(parsed.data.instanceIds)];
    const known = ids.map((id) => this.fleet.findById(id)).filter((i): i is SimulatedInstance => i !== undefined);
    const unknown = ids.filter((id) => !this.fleet.findById(id));
    if (this.batchRead === 'refuse' && unknown.length > 0) {
      return errorResponse({ status: 400, code: 'NoSuchObject', message: `instanceId ${unknown.join(',')} does not exist.` }, requestId);
    }
    const marker = bce.query.find(([name]) => name === 'marker')?.[1];
    const start = marker === undefined || marker === '' ? 0 : known.findIndex((i) => i.id === marker);
    if (start === -1) return errorResponse(ERRORS.badParameter, requestId);
    const size = Math.min(maxKeys, this.pageSize);
    const page = known.slice(start, start + size);
    const next = known[start + size];
    return ok(requestId, {
      marker: marker ?? '',
      isTruncated: next !== undefined,
      ...(next ? { nextMarker: next.id } : {}),
      maxKeys,
      instances: page.map((i) => this.model(i)),
    });
  }

  private statusOf(instance: SimulatedInstance): string {
    return this.statusOverrides.get(instance.id) ?? BCC_STATUS[instance.state];
  }

  /** InstanceModel (bce-sdk-go services/bcc/api/model.go), the fields of the doc example; no start or update time exists. */
  private model(instance: SimulatedInstance): Record<string, unknown> {
    let created = this.created.get(instance);
    if (created === undefined) {
      created = instance.startedAt;
      this.created.set(instance, created);
    }
    return {
      id: instance.id,
      name: instance.name,
      hostname: instance.name,
      status: this.statusOf(instance),
      repairStatus: 'normal',
      paymentTiming: 'Postpaid',
      // UTC to the second, as in the doc example (https://cloud.baidu.com/doc/BCC/s/sjwvyoeqr): 2023-06-13T08:07:52Z.
      createTime: isoSeconds(new Date(created)),
      zoneName: `cn-${instance.region}-a`,
    };
  }

  private authenticate(req: SimulatorRequest, bce: BceRequest): BaiduError | undefined {
    const header = req.headers.authorization;
    const auth = header === undefined ? undefined : parseBceAuthorization(header);
    if (!auth) return ERRORS.missingAuth;
    const secret = this.accounts.secretOf(auth.accessKeyId);
    if (secret === undefined) return ERRORS.unknownKey;
    const nowMs = this.now().getTime();
    if (nowMs > auth.timestampMs + auth.expirationSeconds * 1000 || auth.timestampMs > nowMs + MAX_FUTURE_SKEW_MS) {
      return { status: 400, code: 'RequestExpired', message: `Request has expired. Timestamp date is ${auth.timestamp}.` };
    }
    if (!bceSignatureMatches(bce, auth, secret)) return ERRORS.badSignature;
    // Both SDKs sign it (signer.ts SECURITY_TOKEN_HEADER); UNCONFIRMED that BCE refuses it unsigned, this simulator does.
    // An empty signed-headers part means the default set, which takes every x-bce-* header (signer.ts defaultHeaderNames).
    const signed = auth.signedHeaders.length === 0 || auth.signedHeaders.includes(SECURITY_TOKEN_HEADER);
    const tokenError = TOKEN_ERRORS[this.accounts.checkToken(auth.accessKeyId, req.headers[SECURITY_TOKEN_HEADER], signed)];
    if (tokenError) return tokenError;
    if (this.denied.has(auth.accessKeyId)) return ERRORS.denied;
    return undefined;
  }
}

type Route = { action: 'reboot' | 'describe'; id: string } | { action: 'list' };

/** Decodes the raw path and query once; the signature is recomputed from these same values. */
function decodeRequest(req: SimulatorRequest): BceRequest | undefined {
  const path = decodeRawPath(req.path);
  const query = decodeRawQuery(req.query);
  if (path === undefined || query === undefined) return undefined;
  return { method: req.method, path, query, headers: req.headers };
}

function routeOf(bce: BceRequest): Route | BaiduError {
  const match = INSTANCE_PATH.exec(bce.path);
  if (!match) return ERRORS.badUri;
  if (match[1] !== '2') return ERRORS.badVersion;
  const id = match[2] ?? '';
  // The SDK-only batch endpoint is not served: the client must use the documented per-instance call.
  if (id === 'batchAction') return ERRORS.badUri;
  const keys = bce.query.map(([name]) => name);
  if (id === LIST_BY_ID) {
    return bce.method === 'POST' && keys.every((k) => k === 'maxKeys' || k === 'marker') ? { action: 'list' } : ERRORS.badUri;
  }
  if (bce.method === 'PUT' && keys.length === 1 && keys[0] === 'reboot') return { action: 'reboot', id };
  // The Go SDK adds ?isDeploySet=false to the detail read; accept it so either client works.
  if (bce.method === 'GET' && keys.every((k) => k === 'isDeploySet')) return { action: 'describe', id };
  return ERRORS.badUri;
}

/** The body must be a JSON object with a boolean forceStop. */
function parseForceStop(body: string): boolean | undefined {
  const parsed = parseJsonOrUndefined(body);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const forceStop = (parsed as { forceStop?: unknown }).forceStop;
  return typeof forceStop === 'boolean' ? forceStop : undefined;
}

/** BCC's 5xx bodies: InternalError from the common error table, ServiceUnavailable for 503 (this simulator's wording). */
function serverFailure(status: number): BaiduError {
  return status === 503
    ? { status, code: 'ServiceUnavailable', message: 'Service is temporarily unavailable. Please try again.' }
    : { status, code: 'InternalError', message: 'We encountered an internal error. Please try again.' };
}

function ok(requestId: string, body: unknown): SimulatorResponse {
  return { status: 200, headers: { 'x-bce-request-id': requestId }, body };
}

function errorResponse(error: BaiduError, requestId: string, headers?: Record<string, string>): SimulatorResponse {
  return {
    status: error.status,
    headers: { 'x-bce-request-id': requestId, ...headers },
    body: { requestId, code: error.code, message: error.message },
  };
}
