/**
 * Volcengine OpenAPI signature (HMAC-SHA256) as documented at https://www.volcengine.com/docs/6369/67269
 * (worked example: https://www.volcengine.com/docs/6369/67270) and implemented by volcengine/volcengine-nodejs-sdk
 * packages/sdk-core/src/utils/signer.ts. `createVolcengineSigner` is the request signer the client uses; below it,
 * pure functions of explicit inputs, with which the simulator verifies a raw received request.
 */
import {
  canonicalHeaderBlock,
  compactIso,
  constantTimeEqual,
  decodeRawPath,
  decodeRawQuery,
  hmacSha256,
  hmacSha256Hex,
  hostHeader,
  rfc3986,
  sha256Hex,
  signedRequest,
  withSignerHeaders,
  type QueryPair,
  type RequestSigner,
  type SignedRequest,
  type UnsignedRequest,
} from '../signing.js';

export type { QueryPair } from '../signing.js';

export const ALGORITHM = 'HMAC-SHA256';
/**
 * Where an STS key's token goes. The SDK sets it among the headers before computing SignedHeaders, so it is signed
 * (npm @volcengine/openapi lib/base/sign.js: addHeaders sets X-Security-Token from credentials.sessionToken; only
 * authorization, content-type, content-length, user-agent, presigned-expires and expect are left unsigned).
 */
export const SECURITY_TOKEN_HEADER = 'x-security-token';
export const EMPTY_BODY_SHA256 = sha256Hex('');
/** The gateway's default X-Expires: how far X-Date may be from the server clock. */
export const DEFAULT_EXPIRES_SECONDS = 900;

export interface VolcengineSignerConfig {
  credentials: SigningKeys;
  /** Region and service of the credential scope; the host does not carry them (open.volcengineapi.com serves every region). */
  region: string;
  service: string;
  now?: () => Date;
}

/** Adds host, X-Date, X-Content-Sha256 and Authorization; the URL carries the canonical query string that was signed. */
export function createVolcengineSigner(config: VolcengineSignerConfig): RequestSigner {
  const now = config.now ?? ((): Date => new Date());
  return {
    sign(request: UnsignedRequest, options?: { signingDate?: Date }): SignedRequest {
      const xDate = compactIso(options?.signingDate ?? now());
      const bodySha256 = sha256Hex(request.body ?? '');
      const headers = withSignerHeaders(request.headers, {
        host: hostHeader(new URL(request.origin)),
        'x-date': xDate,
        'x-content-sha256': bodySha256,
        ...(config.credentials.securityToken === undefined ? {} : { [SECURITY_TOKEN_HEADER]: config.credentials.securityToken }),
      });
      const path = decodeRawPath(request.path);
      // Our own paths are well formed; a malformed one is a bug, and signing it anyway would only earn a refusal.
      if (path === undefined) throw new Error(`cannot sign a malformed path: ${request.path}`);
      const parts = signRequest(
        { method: request.method, path, query: request.query, headers, bodySha256, xDate, region: config.region, service: config.service },
        config.credentials,
      );
      return signedRequest(request, headers, parts.canonicalQuery, parts);
    },
  };
}

export interface SigningKeys {
  accessKeyId: string;
  secretAccessKey: string;
  /** VOLCENGINE_SESSION_TOKEN: an STS key's token, sent (and signed) as X-Security-Token. */
  securityToken?: string;
}

export interface SigningInput {
  method: string;
  /** Decoded path; every segment is RFC 3986-encoded for the canonical URI. */
  path: string;
  query: readonly QueryPair[];
  /** Exactly the headers to sign (any case); all of them go into SignedHeaders. */
  headers: Readonly<Record<string, string>>;
  /** hex SHA-256 of the exact body bytes. */
  bodySha256: string;
  /** X-Date, e.g. 20240101T000000Z. */
  xDate: string;
  region: string;
  service: string;
}

export interface SignatureParts {
  canonicalQuery: string;
  canonicalRequest: string;
  hashedCanonicalRequest: string;
  credentialScope: string;
  stringToSign: string;
  signedHeaders: string;
  signature: string;
  authorization: string;
}

/** Sorted by name in UTF-8 byte order; a stable sort keeps repeated names in their given order, as the doc says. */
export function canonicalQueryString(pairs: readonly QueryPair[]): string {
  return [...pairs]
    .sort((a, b) => Buffer.compare(Buffer.from(a[0], 'utf8'), Buffer.from(b[0], 'utf8')))
    .map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`)
    .join('&');
}

export function canonicalUri(decodedPath: string): string {
  if (decodedPath === '' || decodedPath === '/') return '/';
  return decodedPath.split('/').map(rfc3986).join('/');
}

/** Values are trimmed and inner whitespace runs collapse to one space, as the gateway canonicalises them. */
export function canonicalHeaderValue(value: string): string {
  return value.replace(/\s+/g, ' ').trim();
}

function canonicalHeaders(headers: Readonly<Record<string, string>>): { lines: string; signedHeaders: string } {
  return canonicalHeaderBlock(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), canonicalHeaderValue(value)] as const));
}

export function credentialScope(xDate: string, region: string, service: string): string {
  return `${xDate.slice(0, 8)}/${region}/${service}/request`;
}

/** No "AWS4"-style prefix, and the SK is used as its UTF-8 text even though it looks like base64. */
export function signingKey(secretAccessKey: string, shortDate: string, region: string, service: string): Buffer {
  const kDate = hmacSha256(Buffer.from(secretAccessKey, 'utf8'), shortDate);
  const kRegion = hmacSha256(kDate, region);
  const kService = hmacSha256(kRegion, service);
  return hmacSha256(kService, 'request');
}

export function signRequest(input: SigningInput, keys: SigningKeys): SignatureParts {
  const canonicalQuery = canonicalQueryString(input.query);
  const headers = canonicalHeaders(input.headers);
  // The header block ends with '\n' and the join adds another: the blank line is part of the format.
  const canonicalRequest = [
    input.method.toUpperCase(),
    canonicalUri(input.path),
    canonicalQuery,
    headers.lines,
    headers.signedHeaders,
    input.bodySha256,
  ].join('\n');
  const hashedCanonicalRequest = sha256Hex(canonicalRequest);
  const scope = credentialScope(input.xDate, input.region, input.service);
  const stringToSign = [ALGORITHM, input.xDate, scope, hashedCanonicalRequest].join('\n');
  const key = signingKey(keys.secretAccessKey, input.xDate.slice(0, 8), input.region, input.service);
  const signature = hmacSha256Hex(key, stringToSign);
  return {
    canonicalQuery,
    canonicalRequest,
    hashedCanonicalRequest,
    credentialScope: scope,
    stringToSign,
    signedHeaders: headers.signedHeaders,
    signature,
    authorization: `${ALGORITHM} Credential=${keys.accessKeyId}/${scope}, SignedHeaders=${headers.signedHeaders}, Signature=${signature}`,
  };
}

/** 20240101T000000Z → Date; undefined when malformed. */
export function parseXDate(xDate: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(xDate);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) || date.getUTCDate() !== d ? undefined : date;
}

export interface ParsedAuthorization {
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** Reads `HMAC-SHA256 Credential=AK/date/region/service/request, SignedHeaders=a;b, Signature=hex`. */
export function parseAuthorization(header: string): ParsedAuthorization | undefined {
  const trimmed = header.trim();
  if (!trimmed.startsWith(`${ALGORITHM} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential')?.split('/');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || credential.length !== 5 || credential[4] !== 'request') return undefined;
  if (!signedHeaders || signature === undefined) return undefined;
  const [accessKeyId, shortDate, region, service] = credential as [string, string, string, string, string];
  if (!accessKeyId || !/^\d{8}$/.test(shortDate) || !region || !service) return undefined;
  return { accessKeyId, shortDate, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

/** A request as it arrived: raw path and raw query (no re-encoding), lower-case header names, body text. */
export interface ReceivedRequest {
  method: string;
  path: string;
  query: string;
  headers: Readonly<Record<string, string>>;
  body: string;
}

export type VerifyFailureCode =
  | 'MissingAuthenticationToken'
  | 'MissingSignature'
  | 'InvalidAccessKey'
  | 'InvalidTimestamp'
  | 'SignatureDoesNotMatch';

export type VerifyResult =
  | { ok: true; accessKeyId: string; region: string; service: string; signedHeaders: readonly string[] }
  /** `region` is what the credential scope named, when it could be read (error bodies echo it). */
  | { ok: false; code: VerifyFailureCode; region?: string };

/**
 * Re-signs a received request the way the gateway does: from the raw query, the headers the client
 * named in SignedHeaders (as received, host included with its port), the real body hash and the
 * credential scope the client claimed. `now` is the server clock; the check is pure.
 */
export function verifyRequest(
  req: ReceivedRequest,
  lookupSecret: (accessKeyId: string) => string | undefined,
  now: Date,
  expiresSeconds = DEFAULT_EXPIRES_SECONDS,
): VerifyResult {
  const header = req.headers['authorization'];
  if (header === undefined || header.trim() === '') return { ok: false, code: 'MissingAuthenticationToken' };
  const auth = parseAuthorization(header);
  if (!auth) return { ok: false, code: 'MissingSignature' };
  const region = auth.region;
  const secret = lookupSecret(auth.accessKeyId);
  if (secret === undefined) return { ok: false, code: 'InvalidAccessKey', region };

  const xDate = req.headers['x-date'];
  const when = xDate === undefined ? undefined : parseXDate(xDate);
  if (xDate === undefined || !when) return { ok: false, code: 'InvalidTimestamp', region };
  if (Math.abs(now.getTime() - when.getTime()) > expiresSeconds * 1000) return { ok: false, code: 'InvalidTimestamp', region };

  const signed = auth.signedHeaders;
  // The doc requires host and x-date to be signed; a scope date other than X-Date's cannot verify either.
  if (!signed.includes('host') || !signed.includes('x-date') || auth.shortDate !== xDate.slice(0, 8)) {
    return { ok: false, code: 'SignatureDoesNotMatch', region };
  }
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = req.headers[name];
    if (value === undefined) return { ok: false, code: 'SignatureDoesNotMatch', region };
    headers[name] = value;
  }
  const query = decodeRawQuery(req.query);
  const path = decodeRawPath(req.path);
  if (!query || path === undefined) return { ok: false, code: 'SignatureDoesNotMatch', region };

  const expected = signRequest(
    {
      method: req.method,
      path,
      query,
      headers,
      bodySha256: sha256Hex(Buffer.from(req.body, 'utf8')),
      xDate,
      region,
      service: auth.service,
    },
    { accessKeyId: auth.accessKeyId, secretAccessKey: secret },
  );
  if (!constantTimeEqual(expected.signature, auth.signature)) return { ok: false, code: 'SignatureDoesNotMatch', region };
  return { ok: true, accessKeyId: auth.accessKeyId, region, service: auth.service, signedHeaders: signed };
}
