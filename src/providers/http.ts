/**
 * The one undici setup every provider client uses. It classifies transport failures by whether the
 * request can have reached the cloud, because that decides whether a retry may reboot twice.
 */
import { Agent, request } from 'undici';
import { reportToWatch } from './call-watch.js';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/**
 * - `not-sent`: the connection failed before the request was written; nothing reached the cloud.
 * - `ambiguous`: the request may have been received (timeout or reset after writing).
 */
export class TransportError extends Error {
  constructor(
    readonly phase: 'not-sent' | 'ambiguous',
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64, connectTimeout: 5_000 });

export async function sendHttp(req: HttpRequest): Promise<HttpResponse> {
  const started = performance.now();
  try {
    const res = await request(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      dispatcher: agent,
      // undici checks its own timeouts on a coarse (about 1 s) tick; the signal makes short ones exact.
      signal: AbortSignal.timeout(req.timeoutMs),
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
    });
    const text = await res.body.text();
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    reportToWatch((w) => w.http({ status: res.statusCode, ms: performance.now() - started }));
    return { status: res.statusCode, headers, text };
  } catch (err) {
    const failure = classifyTransportError(err);
    reportToWatch((w) => w.http({ failure: failure.code === 'TIMEOUT' || failure.code.endsWith('_TIMEOUT') ? 'timeout' : 'error', ms: performance.now() - started }));
    throw failure;
  }
}

export function classifyTransportError(err: unknown): TransportError {
  const code = errorCode(err);
  const phase = NOT_SENT_CODES.has(code) ? 'not-sent' : 'ambiguous';
  // Only the code and a fixed sentence: undici messages can echo request details.
  return new TransportError(phase, code, `network error ${code} (${phase === 'not-sent' ? 'request not sent' : 'request may have been received'})`);
}

function errorCode(err: unknown): string {
  // An aborted request may already have been written: the caller treats it as ambiguous.
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'TIMEOUT';
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return 'UNKNOWN';
}

/** Parses a Retry-After header (seconds or an HTTP date); undefined when absent or unusable. */
export function retryAfterMs(headers: Record<string, string>, now: number = Date.now()): number | undefined {
  const raw = headers['retry-after'];
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The server's clock from an answer's `Date` header (RFC 9110 §6.6.1), when it sent a readable one. */
export function serverTimeOf(headers: Record<string, string>): number | undefined {
  const raw = headers['date'];
  if (raw === undefined) return undefined;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : at;
}
