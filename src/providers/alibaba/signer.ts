/**
 * Alibaba Cloud V3 request signature (ACS3-HMAC-SHA256), as the vendor documents it
 * (https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature) and as
 * aliyun/darabonba-openapi-util ts/src/client.ts (getAuthorization) computes it.
 * `createAlibabaSigner` is the request signer the client uses; below it, pure functions of explicit inputs
 * (date, nonce, keys), so the same code re-derives signatures in the simulator and checks vendor vectors.
 */
import { randomBytes } from 'node:crypto';
import {
  byCodeUnit,
  canonicalHeaderBlock,
  constantTimeEqual,
  hmacSha256Hex,
  hostHeader,
  isoSeconds,
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

export const ALGORITHM = 'ACS3-HMAC-SHA256';
/** Where an STS key's token goes on V3-signed requests (signed, as every x-acs-* header). */
export const SECURITY_TOKEN_HEADER = 'x-acs-security-token';

export interface AlibabaSignerConfig {
  /**
   * securityToken: an STS key's token, sent as x-acs-security-token. Being an x-acs-* header it is signed like the
   * others, as the SDK does (darabonba-openapi ts/src/client.ts doRequest: `x-acs-security-token` is set from the
   * credential's token before getAuthorization signs every x-acs-* header).
   */
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
  now?: () => Date;
  /** x-acs-signature-nonce, unique per request: ECS refuses a repeated one (SignatureNonceUsed). */
  nonce?: () => string;
}

/**
 * Adds host, x-acs-date, x-acs-signature-nonce, x-acs-content-sha256 and Authorization. The URL carries
 * the canonical query string itself, so what ECS re-derives from the wire is what was signed.
 */
export function createAlibabaSigner(config: AlibabaSignerConfig): RequestSigner {
  const now = config.now ?? ((): Date => new Date());
  const nonce = config.nonce ?? ((): string => randomBytes(16).toString('hex'));
  return {
    sign(request: UnsignedRequest, options?: { signingDate?: Date }): SignedRequest {
      const hashedPayload = sha256Hex(request.body ?? '');
      const headers = withSignerHeaders(request.headers, {
        host: hostHeader(new URL(request.origin)),
        'x-acs-date': isoSeconds(options?.signingDate ?? now()),
        'x-acs-signature-nonce': nonce(),
        'x-acs-content-sha256': hashedPayload,
        ...(config.credentials.securityToken === undefined ? {} : { [SECURITY_TOKEN_HEADER]: config.credentials.securityToken }),
      });
      const { accessKeyId, accessKeySecret } = config.credentials;
      const signed = sign({ method: request.method, path: request.path, query: request.query, headers, hashedPayload, accessKeyId, accessKeySecret });
      const query = canonicalQueryString(request.query);
      return signedRequest(request, headers, query, signed);
    },
  };
}

export interface CanonicalInput {
  method: string;
  path: string;
  query: readonly QueryPair[];
  /** Any headers; only host, content-type and x-acs-* take part. Names may differ in case only. */
  headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the exact body bytes sent. */
  hashedPayload: string;
}

export interface SignInput extends CanonicalInput {
  accessKeyId: string;
  accessKeySecret: string;
}

export interface Signed {
  canonicalRequest: string;
  stringToSign: string;
  signedHeaders: string;
  signature: string;
  authorization: string;
}

/**
 * Sorted `name=value` pairs, both RFC 3986-encoded. The same string is the query we send, so what the
 * cloud re-derives from the wire always matches what we signed. Values break ties between equal names
 * only to make the order total.
 */
export function canonicalQueryString(pairs: readonly QueryPair[]): string {
  return pairs
    .map(([name, value]) => [rfc3986(name), rfc3986(value)] as const)
    .sort((a, b) => byCodeUnit(a[0], b[0]) || byCodeUnit(a[1], b[1]))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

function isSignable(lowerName: string): boolean {
  return lowerName === 'host' || lowerName === 'content-type' || lowerName.startsWith('x-acs-');
}

/** Signable headers by lowercase name; a name given in several cases keeps all its values, trimmed, sorted and comma-joined. */
function signableHeaders(headers: Readonly<Record<string, string>>): Map<string, string> {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!isSignable(lower)) continue;
    const values = grouped.get(lower) ?? [];
    values.push(value.trim());
    grouped.set(lower, values);
  }
  const joined = new Map<string, string>();
  for (const [name, values] of grouped) joined.set(name, values.sort(byCodeUnit).join(','));
  return joined;
}

/** CanonicalURI: Alibaba's SDK normalises these three spellings; a plain `/` passes through unchanged. */
function canonicalUri(path: string): string {
  return path.replace(/\+/g, '%20').replace(/\*/g, '%2A').replace(/%7E/g, '~');
}

export function canonicalRequest(input: CanonicalInput): { canonicalRequest: string; signedHeaders: string } {
  const { lines: canonicalHeaders, signedHeaders } = canonicalHeaderBlock(signableHeaders(input.headers));
  const request = [
    input.method,
    canonicalUri(input.path),
    canonicalQueryString(input.query),
    // Ends in "\n" already, hence the blank line before SignedHeaders that the algorithm requires.
    canonicalHeaders,
    signedHeaders,
    input.hashedPayload,
  ].join('\n');
  return { canonicalRequest: request, signedHeaders };
}

export function stringToSign(canonical: string): string {
  return `${ALGORITHM}\n${sha256Hex(canonical)}`;
}

export function authorizationHeader(accessKeyId: string, signedHeaders: string, signature: string): string {
  // No spaces after the commas: Alibaba's format, unlike Volcengine's and Huawei's.
  return `${ALGORITHM} Credential=${accessKeyId},SignedHeaders=${signedHeaders},Signature=${signature}`;
}

export function sign(input: SignInput): Signed {
  const { canonicalRequest: canonical, signedHeaders } = canonicalRequest(input);
  const toSign = stringToSign(canonical);
  const signature = hmacSha256Hex(input.accessKeySecret, toSign);
  return {
    canonicalRequest: canonical,
    stringToSign: toSign,
    signedHeaders,
    signature,
    authorization: authorizationHeader(input.accessKeyId, signedHeaders, signature),
  };
}

export interface ParsedAuthorization {
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

const AUTHORIZATION = /^ACS3-HMAC-SHA256 Credential=([^,\s]+),SignedHeaders=([^,\s]*),Signature=([0-9a-f]{64})$/;

export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  const match = header === undefined ? null : AUTHORIZATION.exec(header.trim());
  if (!match) return undefined;
  const [, accessKeyId = '', signed = '', signature = ''] = match;
  return { accessKeyId, signedHeaders: signed === '' ? [] : signed.split(';'), signature };
}

/** A request as it arrived: raw path and raw query string, lowercase header names, body text. */
export interface ReceivedRequest {
  method: string;
  path: string;
  query: readonly QueryPair[];
  headers: Readonly<Record<string, string>>;
  body: string;
}

/** Headers the cloud insists on seeing signed; without them a signature could be replayed with a new action or date. */
export const REQUIRED_SIGNED_HEADERS = [
  'host',
  'x-acs-action',
  'x-acs-content-sha256',
  'x-acs-date',
  'x-acs-signature-nonce',
  'x-acs-version',
] as const;

export type Verification =
  | { ok: true; accessKeyId: string }
  | { ok: false; reason: 'malformed'; detail: string }
  | { ok: false; reason: 'unknown-key'; accessKeyId: string }
  | { ok: false; reason: 'content-hash'; accessKeyId: string }
  | { ok: false; reason: 'mismatch'; accessKeyId: string };

/**
 * Re-derives the signature of a received request the way the cloud does: the canonical request is
 * rebuilt from the decoded query pairs, the headers the client listed in SignedHeaders (values as
 * received), and the hash of the body actually received — never from the client's claims alone.
 */
export function verify(req: ReceivedRequest, secretOf: (accessKeyId: string) => string | undefined): Verification {
  const auth = parseAuthorization(req.headers['authorization']);
  if (!auth) return { ok: false, reason: 'malformed', detail: 'missing or malformed Authorization header' };
  const missing = REQUIRED_SIGNED_HEADERS.filter((h) => !auth.signedHeaders.includes(h) || req.headers[h] === undefined);
  if (missing.length > 0) return { ok: false, reason: 'malformed', detail: `unsigned or absent headers: ${missing.join(', ')}` };
  const secret = secretOf(auth.accessKeyId);
  if (secret === undefined) return { ok: false, reason: 'unknown-key', accessKeyId: auth.accessKeyId };
  const bodyHash = sha256Hex(req.body);
  if (req.headers['x-acs-content-sha256'] !== bodyHash) return { ok: false, reason: 'content-hash', accessKeyId: auth.accessKeyId };
  const signedOnly: Record<string, string> = {};
  for (const name of auth.signedHeaders) signedOnly[name] = req.headers[name] ?? '';
  const expected = sign({
    method: req.method,
    path: req.path,
    query: req.query,
    headers: signedOnly,
    hashedPayload: bodyHash,
    accessKeyId: auth.accessKeyId,
    accessKeySecret: secret,
  });
  // SignedHeaders must name exactly the headers we rebuilt (a listed header that is not signable would be dropped).
  const sameList = expected.signedHeaders === auth.signedHeaders.join(';');
  const sameSignature = constantTimeEqual(expected.signature, auth.signature);
  return sameList && sameSignature ? { ok: true, accessKeyId: auth.accessKeyId } : { ok: false, reason: 'mismatch', accessKeyId: auth.accessKeyId };
}
