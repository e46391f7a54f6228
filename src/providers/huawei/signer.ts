/**
 * Huawei Cloud APIG AK/SK signing (SDK-HMAC-SHA256), as the API Request Signing Guide gives it
 * (https://support.huaweicloud.com/intl/en-us/devg-apisign/api-sign-algorithm-002.html to -005.html) and
 * huaweicloud/huaweicloud-sdk-nodejs-v3 core/auth/AKSKSigner.ts computes it. `createHuaweiSigner` is the request
 * signer the client uses; the functions below it also recompute a signature from a raw received request for the
 * simulator, so both sides share one definition of the canonical request.
 */
import {
  byCodeUnit,
  canonicalHeaderBlock,
  compactIso,
  hmacSha256Hex,
  hostHeader,
  rfc3986,
  sha256Hex,
  signedRequest,
  withSignerHeaders,
  type RequestSigner,
  type SignedRequest,
  type UnsignedRequest,
} from '../signing.js';

export const SDK_ALGORITHM = 'SDK-HMAC-SHA256';

/**
 * Where a temporary AK/SK's security token goes. The SDK adds it to the request's headers before signing, and it
 * signs every header (npm @huaweicloud/huaweicloud-sdk-core auth/BaseCredentials.js addAuthHeaders, then
 * auth/AKSKSigner.js sign over all headers), so it is signed.
 */
export const SECURITY_TOKEN_HEADER = 'x-security-token';

export interface HuaweiSignerConfig {
  /** securityToken: HUAWEICLOUD_SDK_SECURITY_TOKEN, a temporary AK/SK's token. */
  credentials: { accessKeyId: string; secretAccessKey: string; securityToken?: string };
  now?: () => Date;
}

/** Adds host, X-Sdk-Date and Authorization; every header sent is signed, as the Node SDK does. */
export function createHuaweiSigner(config: HuaweiSignerConfig): RequestSigner {
  const now = config.now ?? ((): Date => new Date());
  return {
    sign(request: UnsignedRequest, options?: { signingDate?: Date }): SignedRequest {
      const sdkDate = compactIso(options?.signingDate ?? now());
      const { accessKeyId, secretAccessKey, securityToken } = config.credentials;
      const headers = withSignerHeaders(request.headers, {
        host: hostHeader(new URL(request.origin)),
        'x-sdk-date': sdkDate,
        ...(securityToken === undefined ? {} : { [SECURITY_TOKEN_HEADER]: securityToken }),
      });
      const signed = signRequest({
        method: request.method,
        path: request.path,
        query: request.query,
        headers,
        body: request.body ?? '',
        sdkDate,
        accessKeyId,
        secretAccessKey,
      });
      const query = canonicalQueryString(request.query);
      // The canonical URI's extra trailing slash is for signing only: the URL keeps the path as given.
      return signedRequest(request, headers, query, signed);
    },
  };
}
export const EMPTY_BODY_SHA256 = sha256Hex('');
/** Both official SDKs hash this header's value instead of the body when it is present (e.g. UNSIGNED-PAYLOAD). */
export const CONTENT_SHA256_HEADER = 'x-sdk-content-sha256';

export interface CanonicalInput {
  method: string;
  /** The URL path as sent on the wire, without the extra signing slash. */
  path: string;
  /** Decoded query pairs in any order. */
  query: ReadonlyArray<readonly [string, string]>;
  /** Exactly the headers to sign; names in any case. */
  headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body bytes actually sent (or the x-sdk-content-sha256 value). */
  payloadHash: string;
}

export interface SignInput {
  method: string;
  path: string;
  query: ReadonlyArray<readonly [string, string]>;
  /** Exactly the headers to sign; must include X-Sdk-Date with the value of `sdkDate`. */
  headers: Readonly<Record<string, string>>;
  /** The exact body string that goes on the wire ('' for none). */
  body: string;
  /** YYYYMMDDTHHMMSSZ, the X-Sdk-Date value. */
  sdkDate: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SignedParts {
  canonicalRequest: string;
  stringToSign: string;
  signedHeaders: string;
  signature: string;
  authorization: string;
}

/**
 * Each segment is decoded and re-encoded, so a path that arrives percent-encoded on the wire and the
 * path the client meant give the same canonical form. The trailing slash is part of the canonical
 * form only: the URL itself is sent without it.
 */
export function canonicalUri(path: string): string {
  const encoded = path
    .split('/')
    .map((segment) => rfc3986(decodeURIComponent(segment)))
    .join('/');
  return encoded.endsWith('/') ? encoded : encoded + '/';
}

/** Sorted by name, then by value for a repeated name; both RFC 3986-encoded. */
export function canonicalQueryString(pairs: ReadonlyArray<readonly [string, string]>): string {
  return [...pairs]
    .sort(([ak, av], [bk, bv]) => byCodeUnit(ak, bk) || byCodeUnit(av, bv))
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .join('&');
}

/** Names lowercased and values trimmed, nothing else: both official SDKs canonicalise headers this way. */
function headerBlock(headers: Readonly<Record<string, string>>): { lines: string; signedHeaders: string } {
  return canonicalHeaderBlock(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value.trim()] as const));
}

export function signedHeaderList(headers: Readonly<Record<string, string>>): string {
  return headerBlock(headers).signedHeaders;
}

/** One `name:value\n` line per header; the block's own final newline leaves a blank line in the request. */
export function canonicalHeaders(headers: Readonly<Record<string, string>>): string {
  return headerBlock(headers).lines;
}

export function payloadHash(body: string, headers: Readonly<Record<string, string>>): string {
  const declared = Object.entries(headers).find(([name]) => name.toLowerCase() === CONTENT_SHA256_HEADER);
  return declared ? declared[1] : sha256Hex(body);
}

export function canonicalRequest(input: CanonicalInput): string {
  return [
    input.method.toUpperCase(),
    canonicalUri(input.path),
    canonicalQueryString(input.query),
    canonicalHeaders(input.headers),
    signedHeaderList(input.headers),
    input.payloadHash,
  ].join('\n');
}

export function stringToSign(sdkDate: string, canonical: string): string {
  return `${SDK_ALGORITHM}\n${sdkDate}\n${sha256Hex(canonical)}`;
}

/** No key derivation: the secret itself is the HMAC key. */
export function signatureOf(secretAccessKey: string, toSign: string): string {
  return hmacSha256Hex(secretAccessKey, toSign);
}

export function authorizationHeader(accessKeyId: string, signedHeaders: string, signature: string): string {
  return `${SDK_ALGORITHM} Access=${accessKeyId}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

export function signRequest(input: SignInput): SignedParts {
  const canonical = canonicalRequest({
    method: input.method,
    path: input.path,
    query: input.query,
    headers: input.headers,
    payloadHash: payloadHash(input.body, input.headers),
  });
  const toSign = stringToSign(input.sdkDate, canonical);
  const signature = signatureOf(input.secretAccessKey, toSign);
  const signedHeaders = signedHeaderList(input.headers);
  return {
    canonicalRequest: canonical,
    stringToSign: toSign,
    signedHeaders,
    signature,
    authorization: authorizationHeader(input.accessKeyId, signedHeaders, signature),
  };
}

// ---- verification (simulator side) ----------------------------------------------------------------

export interface ParsedAuthorization {
  accessKeyId: string;
  /** Lowercase names, in the order the client listed them. */
  signedHeaders: string[];
  signature: string;
}

const AUTHORIZATION = /^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)$/;

export function parseAuthorization(value: string | undefined): ParsedAuthorization | undefined {
  const match = value === undefined ? null : AUTHORIZATION.exec(value.trim());
  if (!match) return undefined;
  const [, accessKeyId = '', signedHeaders = '', signature = ''] = match;
  return { accessKeyId, signedHeaders: signedHeaders.toLowerCase().split(';'), signature: signature.toLowerCase() };
}

const SDK_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Parses YYYYMMDDTHHMMSSZ strictly; undefined for anything else. */
export function parseSdkDate(value: string | undefined): Date | undefined {
  const m = value === undefined ? null : SDK_DATE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return date.getUTCDate() === d && date.getUTCMonth() === mo - 1 ? date : undefined;
}

export interface RawRequest {
  method: string;
  /** Raw path and raw query string as received. */
  path: string;
  query: string;
  /** Lowercase header names, values as received. */
  headers: Readonly<Record<string, string>>;
  body: string;
}

/**
 * Recomputes the signature the client should have sent, from the raw request and the header names it
 * claims to have signed. Undefined when a named header is missing or the path or query cannot be decoded:
 * the gateway rejects those as a failed signature too.
 */
export function expectedSignature(
  req: RawRequest,
  auth: ParsedAuthorization,
  secretAccessKey: string,
  decodeQuery: (raw: string) => ReadonlyArray<readonly [string, string]> | undefined,
): string | undefined {
  const signed: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const value = req.headers[name];
    if (value === undefined) return undefined;
    signed[name] = value;
  }
  const sdkDate = req.headers['x-sdk-date'];
  if (sdkDate === undefined) return undefined;
  try {
    const query = decodeQuery(req.query);
    if (query === undefined) return undefined; // malformed percent-encoding
    const canonical = canonicalRequest({
      method: req.method,
      path: req.path,
      query,
      headers: signed,
      payloadHash: payloadHash(req.body, signed),
    });
    return signatureOf(secretAccessKey, stringToSign(sdkDate, canonical));
  } catch {
    return undefined; // malformed percent-encoding
  }
}
