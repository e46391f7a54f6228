/**
 * Primitives shared by the four signers, and by the simulators that verify their signatures. Each signer
 * composes them its own way.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

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
