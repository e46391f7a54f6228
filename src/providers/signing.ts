/**
 * Primitives shared by the four signers, and by the simulators that verify their signatures. Each signer
 * composes them its own way; what every signer hands back is the one `RequestSigner` shape below.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from './http.js';

export type QueryPair = readonly [name: string, value: string];

/**
 * A request before signing. Modelled on aws-sdk-js-v3's HttpRequest as `SignatureV4.sign` takes it: the
 * caller says what to send, the signer adds what only it can (host, its date, body hash, nonce, Authorization).
 */
export interface UnsignedRequest {
  method: HttpRequest['method'];
  /** scheme://host[:port]; the signed host header is taken from it. */
  origin: string;
  /** The path exactly as it goes on the wire (percent-encoded where needed). */
  path: string;
  /** Decoded parameters; the signer writes them onto the URL in the very form it signed. */
  query: readonly QueryPair[];
  /** The API's own headers (content-type, x-acs-action, x-project-id…). A header the signer owns is replaced. */
  headers: Readonly<Record<string, string>>;
  /** The exact body text; undefined sends none. */
  body?: string;
}

/** The same request, signed: ready for `sendHttp`, plus the signature alone so reports can redact it. */
export interface SignedRequest extends UnsignedRequest {
  url: URL;
  headers: Record<string, string>;
  signature: string;
}

export interface RequestSigner {
  /** `signingDate` replaces the signer's clock, as in SignatureV4; vendor test vectors need a fixed one. */
  sign(request: UnsignedRequest, options?: { signingDate?: Date }): SignedRequest;
}

/** The caller's headers with every header the signer owns (matched case-insensitively) replaced by the signer's value. */
export function withSignerHeaders(callerHeaders: Readonly<Record<string, string>>, own: Readonly<Record<string, string>>): Record<string, string> {
  const owned = new Set(Object.keys(own).map((name) => name.toLowerCase()));
  const kept = Object.entries(callerHeaders).filter(([name]) => !owned.has(name.toLowerCase()));
  return { ...Object.fromEntries(kept), ...own };
}

/**
 * The signed request every signer returns: the URL carries exactly the query string that was signed
 * (URL/URLSearchParams would re-encode it), and the Authorization header is added.
 */
export function signedRequest(request: UnsignedRequest, headers: Record<string, string>, signedQuery: string, signed: { authorization: string; signature: string }): SignedRequest {
  return {
    ...request,
    url: new URL(`${request.origin}${request.path}${signedQuery === '' ? '' : `?${signedQuery}`}`),
    headers: { ...headers, authorization: signed.authorization },
    signature: signed.signature,
  };
}

/** RFC 3986 percent-encoding: keeps A-Z a-z 0-9 - _ . ~, uppercase %XX for every other UTF-8 byte. */
export function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmacSha256(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function hmacSha256Hex(key: string | Buffer, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

/** 2024-01-01T00:00:00Z (Alibaba x-acs-date, Baidu x-bce-date). */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** 20240101T000000Z (Volcengine X-Date, Huawei X-Sdk-Date). */
export function compactIso(date: Date): string {
  return isoSeconds(date).replace(/[-:]/g, '');
}

/** Compares strings by UTF-16 code unit, which equals byte order for the ASCII keys the clouds use. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The host header value for a URL: no default port, as the clouds canonicalise it. */
export function hostHeader(url: URL): string {
  return url.host;
}

/**
 * The canonical-headers part of ACS3-HMAC-SHA256, SDK-HMAC-SHA256 and Volcengine's HMAC-SHA256: one
 * `name:value\n` line per header, sorted by name (a stable sort keeps a repeated name's lines in the
 * order given), and the SignedHeaders list `a;b;c` in the same order. Each signer first puts names and
 * values in canonical form by its own cloud's rules; bce-auth-v1 builds its block another way.
 */
export function canonicalHeaderBlock(entries: Iterable<readonly [name: string, value: string]>): { lines: string; signedHeaders: string } {
  const sorted = [...entries].sort(([a], [b]) => byCodeUnit(a, b));
  return {
    lines: sorted.map(([name, value]) => `${name}:${value}\n`).join(''),
    signedHeaders: sorted.map(([name]) => name).join(';'),
  };
}

/** Constant-time comparison of a recomputed signature with a received one; false, not a throw, when the lengths differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A raw query string as it came on the wire → decoded pairs in wire order, without the `+`-as-space
 * rule (clouds send %20). A key without `=` has value ''. Undefined when a %-escape is malformed.
 */
export function decodeRawQuery(rawQuery: string): Array<[string, string]> | undefined {
  if (rawQuery === '') return [];
  try {
    return rawQuery.split('&').map((part): [string, string] => {
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      const value = eq === -1 ? '' : part.slice(eq + 1);
      return [decodeURIComponent(name), decodeURIComponent(value)];
    });
  } catch {
    return undefined;
  }
}

/** A raw URL path → the path with each segment decoded, slashes kept. Undefined when a %-escape is malformed. */
export function decodeRawPath(rawPath: string): string | undefined {
  try {
    return rawPath.split('/').map(decodeURIComponent).join('/');
  } catch {
    return undefined;
  }
}
