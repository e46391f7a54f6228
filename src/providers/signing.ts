/** Primitives shared by the four signers. Each signer composes them its own way. */
import { createHash, createHmac } from 'node:crypto';

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
