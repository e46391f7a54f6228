/**
 * A loopback stand-in for the BCC API: verifies bce-auth-v1 exactly as received, keeps instance
 * state, and answers with Baidu's error bodies `{requestId, code, message}`. It serves only the two
 * documented calls the client uses, PUT /v2/instance/{id}?reboot and GET /v2/instance/{id}.
 */
import { randomUUID } from 'node:crypto';
import { parseJsonOrUndefined } from '../outcomes.js';
import { decodeRawPath, decodeRawQuery } from '../signing.js';
import {
  retryAfterHeaders,
  SimulatorServer,
  type FleetState,
  type SimulatedInstance,
  type SimulatorRequest,
  type SimulatorResponse,
} from '../simulator-kit.js';
import { bceSignatureMatches, parseBceAuthorization, type BceRequest } from './signer.js';

export interface BaiduSimulatorOptions {
  /** accessKeyId → secretAccessKey. */
  credentials: Record<string, string>;
  rebootMs?: number;
  /** Access keys that authenticate but lack BCC permissions: answered 403 AccessDenied. */
  deniedAccessKeys?: readonly string[];
  /** The simulator's clock, for expiry checks. */
  now?: () => Date;
}

/** How far a timestamp may run ahead of the server clock (common brief; BCE publishes no figure). */
const MAX_FUTURE_SKEW_MS = 15 * 60 * 1000;
const INSTANCE_PATH = /^\/v(\d+)\/instance\/([^/]+)$/;

const BCC_STATUS: Record<FleetState, string> = {
  running: 'Running',
  // The reboot page (https://intl.cloud.baidu.com/doc/BCC/s/vjwvyoa62-en): "After the API is called successfully, the instance is in the Starting status."
  rebooting: 'Starting',
  stopped: 'Stopped',
};

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

export class BaiduSimulator extends SimulatorServer {
  private readonly credentials: ReadonlyMap<string, string>;
  private readonly denied: ReadonlySet<string>;
  private readonly now: () => Date;

  constructor(options: BaiduSimulatorOptions) {
    super(options.rebootMs);
    this.credentials = new Map(Object.entries(options.credentials));
    this.denied = new Set(options.deniedAccessKeys ?? []);
    this.now = options.now ?? (() => new Date());
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
    const instance = this.fleet.findById(route.id);
    if (route.action === 'describe') {
      return instance ? ok(requestId, { instance: describe(instance) }) : errorResponse(ERRORS.notFound, requestId);
    }
    const forceStop = parseForceStop(req.body);
    if (forceStop === undefined) return errorResponse(ERRORS.badJson, requestId);
    if (!instance) return errorResponse(ERRORS.notFound, requestId);
    if (instance.state !== 'running') return errorResponse(ERRORS.notRunning, requestId);
    this.fleet.reboot(instance, forceStop);
    const answer = ok(requestId, '');
    return this.faults.answerAfterAct(answer, (status) => errorResponse(serverFailure(status), requestId).body) ?? answer;
  }

  private authenticate(req: SimulatorRequest, bce: BceRequest): BaiduError | undefined {
    const header = req.headers.authorization;
    const auth = header === undefined ? undefined : parseBceAuthorization(header);
    if (!auth) return ERRORS.missingAuth;
    const secret = this.credentials.get(auth.accessKeyId);
    if (secret === undefined) return ERRORS.unknownKey;
    const nowMs = this.now().getTime();
    if (nowMs > auth.timestampMs + auth.expirationSeconds * 1000 || auth.timestampMs > nowMs + MAX_FUTURE_SKEW_MS) {
      return { status: 400, code: 'RequestExpired', message: `Request has expired. Timestamp date is ${auth.timestamp}.` };
    }
    if (!bceSignatureMatches(bce, auth, secret)) return ERRORS.badSignature;
    if (this.denied.has(auth.accessKeyId)) return ERRORS.denied;
    return undefined;
  }
}

type Route = { action: 'reboot' | 'describe'; id: string };

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

function describe(instance: SimulatedInstance): Record<string, unknown> {
  return {
    id: instance.id,
    name: `instance-${instance.id.slice(2)}`,
    status: BCC_STATUS[instance.state],
    zoneName: `cn-${instance.region}-a`,
  };
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
