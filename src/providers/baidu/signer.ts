/**
 * bce-auth-v1, Baidu AI Cloud's request signature, as documented at https://cloud.baidu.com/doc/Reference/s/wjwvz1xt2
 * and implemented by baidubce/bce-sdk-go auth/signer.go and baidubce/bce-sdk-js src/auth.js. `createBaiduSigner` is
 * the request signer the client uses; below it, pure functions over explicit inputs, with which the simulator
 * verifies along the very same code path, so a wire-level disagreement shows up as a failing vector rather than a
 * silent double standard.
 */
import {
  byCodeUnit,
  constantTimeEqual,
  decodeRawPath,
  hmacSha256Hex,
  hostHeader,
  isoSeconds,
  rfc3986,
  signedRequest,
  withSignerHeaders,
  type QueryPair,
  type RequestSigner,
  type SignedRequest,
  type UnsignedRequest,
} from '../signing.js';

export const BCE_AUTH_VERSION = 'bce-auth-v1';
/** Both official SDKs default to 1800 s; the server honours whatever the auth string says. */
export const DEFAULT_EXPIRATION_SECONDS = 1800;

/**
 * Where an STS key's token goes. Both SDKs set it before signing and sign every x-bce-* header whatever list they
 * are given (npm @baiducloud/sdk src/bce_base_client.js sendRequest sets it, src/auth.js headersCanonicalization
 * takes /^x-bce-/; bce-sdk-go auth/signer.go likewise, but x-bce-request-id), so it is signed.
 */
export const SECURITY_TOKEN_HEADER = 'x-bce-security-token';

export interface BaiduSignerConfig {
  credentials: { accessKeyId: string; secretAccessKey: string; securityToken?: string };
  now?: () => Date;
  expirationSeconds?: number;
}

/**
 * Adds host, x-bce-date, content-length (for a body: bce-auth-v1 does not hash the body, so its length is what
 * ties it to the signature) and Authorization. Every header sent is named in the Authorization rather than left
 * to the server's default set.
 */
export function createBaiduSigner(config: BaiduSignerConfig): RequestSigner {
  const now = config.now ?? ((): Date => new Date());
  return {
    sign(request: UnsignedRequest, options?: { signingDate?: Date }): SignedRequest {
      const timestamp = isoSeconds(options?.signingDate ?? now());
      const own: Record<string, string> = { host: hostHeader(new URL(request.origin)), 'x-bce-date': timestamp };
      if (request.body !== undefined) own['content-length'] = String(Buffer.byteLength(request.body, 'utf8'));
      if (config.credentials.securityToken !== undefined) own[SECURITY_TOKEN_HEADER] = config.credentials.securityToken;
      const headers = withSignerHeaders(request.headers, own);
      const path = decodeRawPath(request.path);
      // Our own paths are well formed; a malformed one is a bug, and signing it anyway would only earn a refusal.
      if (path === undefined) throw new Error(`cannot sign a malformed path: ${request.path}`);
      const signed = signBceRequest(
        { method: request.method, path, query: request.query, headers },
        {
          accessKeyId: config.credentials.accessKeyId,
          secretAccessKey: config.credentials.secretAccessKey,
          timestamp,
          expirationSeconds: config.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS,
          signedHeaders: Object.keys(headers),
        },
      );
      const query = wireQuery(request.query);
      return signedRequest(request, headers, query, signed);
    },
  };
}

/**
 * The query as BCC's pages write it: a parameter without a value goes bare (`?reboot`, as in
 * PUT /v2/instance/{instanceId}?reboot), in the order given; the server canonicalises it to `reboot=` itself.
 */
function wireQuery(query: readonly QueryPair[]): string {
  return query.map(([name, value]) => (value === '' ? rfc3986(name) : `${rfc3986(name)}=${rfc3986(value)}`)).join('&');
}

/** What the server signs when the Authorization's signed-headers part is empty (doc, "生成认证字符串"). */
const DEFAULT_SIGNED_HEADERS = new Set(['host', 'content-length', 'content-type', 'content-md5']);
const BCE_HEADER_PREFIX = 'x-bce-';
/** The Go SDK never signs it: proxies may add or rewrite it. */
const UNSIGNED_BCE_HEADER = 'x-bce-request-id';

export interface BceRequest {
  method: string;
  /** The decoded path, e.g. /v2/instance/i-YufwpQAe. */
  path: string;
  /** Decoded query pairs; a key without value (`?reboot`) has value ''. */
  query: ReadonlyArray<readonly [string, string]>;
  /** Header names in any case; values as they go on the wire. */
  headers: Readonly<Record<string, string>>;
}

export interface BceSigningInput {
  accessKeyId: string;
  secretAccessKey: string;
  /** UTC, YYYY-MM-DDThh:mm:ssZ (isoSeconds). */
  timestamp: string;
  expirationSeconds: number;
  /**
   * Headers to sign, listed in the Authorization. When omitted the default set is signed and the
   * signed-headers part is left empty, the form of the official doc example (V-BCE-1).
   */
  signedHeaders?: readonly string[];
}

export function authStringPrefix(accessKeyId: string, timestamp: string, expirationSeconds: number): string {
  return `${BCE_AUTH_VERSION}/${accessKeyId}/${timestamp}/${expirationSeconds}`;
}

/** The hex text (not the raw bytes) is the key of the next HMAC: the doc and both SDKs agree. */
export function signingKey(secretAccessKey: string, prefix: string): string {
  return hmacSha256Hex(secretAccessKey, prefix);
}

/** UriEncodeExceptSlash: every segment RFC 3986-encoded, the separators kept. */
export function canonicalUri(path: string): string {
  const withSlash = path.startsWith('/') ? path : `/${path}`;
  return withSlash.split('/').map(rfc3986).join('/');
}

/** Sorts the encoded `k=v` strings, not the keys: `text10=…` sorts before `text1=…` because '0' < '='. */
export function canonicalQueryString(query: ReadonlyArray<readonly [string, string]>): string {
  return query
    .filter(([name]) => name.toLowerCase() !== 'authorization')
    .map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`)
    .sort(byCodeUnit)
    .join('&');
}

/** Names of the default set present in `headers`: host, content-length/-type/-md5 and x-bce-*. */
export function defaultHeaderNames(headers: Readonly<Record<string, string>>): string[] {
  return Object.keys(headers)
    .map((name) => name.toLowerCase())
    .filter(
      (name) =>
        DEFAULT_SIGNED_HEADERS.has(name) || (name.startsWith(BCE_HEADER_PREFIX) && name !== UNSIGNED_BCE_HEADER),
    );
}

export interface CanonicalHeaders {
  /** `name:value` lines, sorted, joined by \n, no trailing newline. */
  text: string;
  /** The lowercase names actually signed, sorted. */
  names: string[];
}

/**
 * Canonical headers over `names` (lowercased). Headers absent or blank after trimming are skipped,
 * as both SDKs do, so `names` in the result may be shorter than the request.
 */
export function canonicalHeaders(headers: Readonly<Record<string, string>>, names: readonly string[]): CanonicalHeaders {
  const byName = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) byName.set(name.toLowerCase(), value);
  const wanted = [...new Set(names.map((n) => n.toLowerCase()))];
  const lines: string[] = [];
  const signed: string[] = [];
  for (const name of wanted) {
    const value = byName.get(name)?.trim();
    if (value === undefined || value === '') continue;
    lines.push(`${rfc3986(name)}:${rfc3986(value)}`);
    signed.push(name);
  }
  return { text: lines.sort(byCodeUnit).join('\n'), names: signed.sort(byCodeUnit) };
}

/** No payload hash and no signed-headers line: the body is not covered by bce-auth-v1. */
export function canonicalRequest(req: BceRequest, headerText: string): string {
  return [req.method.toUpperCase(), canonicalUri(req.path), canonicalQueryString(req.query), headerText].join('\n');
}

export interface BceSignature {
  canonicalRequest: string;
  signingKey: string;
  signature: string;
  /** Names written into the Authorization ('' for the implicit default set). */
  signedHeadersPart: string;
  authorization: string;
}

export function signBceRequest(req: BceRequest, input: BceSigningInput): BceSignature {
  const prefix = authStringPrefix(input.accessKeyId, input.timestamp, input.expirationSeconds);
  const key = signingKey(input.secretAccessKey, prefix);
  const explicit = input.signedHeaders !== undefined;
  const headers = canonicalHeaders(req.headers, input.signedHeaders ?? defaultHeaderNames(req.headers));
  const canonical = canonicalRequest(req, headers.text);
  const signature = hmacSha256Hex(key, canonical);
  const signedHeadersPart = explicit ? headers.names.join(';') : '';
  return {
    canonicalRequest: canonical,
    signingKey: key,
    signature,
    signedHeadersPart,
    authorization: `${prefix}/${signedHeadersPart}/${signature}`,
  };
}

export interface ParsedBceAuthorization {
  accessKeyId: string;
  timestamp: string;
  /** Milliseconds since the epoch of `timestamp`. */
  timestampMs: number;
  expirationSeconds: number;
  /** Empty when the client relied on the default set. */
  signedHeaders: string[];
  signature: string;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
// Upper-case hex parses but then fails the comparison, so it reads as a mismatch, not a format error.
const SIGNATURE = /^[0-9a-fA-F]{64}$/;
const EXPIRATION = /^[1-9]\d{0,9}$/;

/** Splits `bce-auth-v1/{ak}/{timestamp}/{expiration}/{signedHeaders}/{signature}`; undefined if malformed. */
export function parseBceAuthorization(header: string): ParsedBceAuthorization | undefined {
  const parts = header.trim().split('/');
  if (parts.length !== 6) return undefined;
  const [version, accessKeyId, timestamp, expiration, signed, signature] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (version !== BCE_AUTH_VERSION || accessKeyId === '') return undefined;
  if (!TIMESTAMP.test(timestamp) || !EXPIRATION.test(expiration) || !SIGNATURE.test(signature)) return undefined;
  const timestampMs = Date.parse(timestamp);
  if (Number.isNaN(timestampMs)) return undefined;
  const signedHeaders = signed === '' ? [] : signed.split(';');
  if (signedHeaders.some((name) => name === '' || name !== name.toLowerCase())) return undefined;
  return { accessKeyId, timestamp, timestampMs, expirationSeconds: Number(expiration), signedHeaders, signature };
}

/**
 * Recomputes the signature of a received request the way the server does: from the headers the
 * Authorization names, or the default set when it names none. False also when a named header is
 * missing, since the sender cannot have signed a header it did not send.
 */
export function bceSignatureMatches(
  req: BceRequest,
  auth: ParsedBceAuthorization,
  secretAccessKey: string,
): boolean {
  const implicit = auth.signedHeaders.length === 0;
  const headers = canonicalHeaders(req.headers, implicit ? defaultHeaderNames(req.headers) : auth.signedHeaders);
  if (!implicit && headers.names.length !== new Set(auth.signedHeaders).size) return false;
  const key = signingKey(secretAccessKey, authStringPrefix(auth.accessKeyId, auth.timestamp, auth.expirationSeconds));
  return constantTimeEqual(hmacSha256Hex(key, canonicalRequest(req, headers.text)), auth.signature);
}
