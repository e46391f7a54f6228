/** Signs and sends a raw request to a simulator, for gateway behaviour the client never triggers. */
import { request } from 'undici';
import { compactIso } from '../../../src/providers/signing.js';
import { EMPTY_BODY_SHA256, signRequest, type QueryPair } from '../../../src/providers/volcengine/signer.js';

export const AK = 'AKLTdGVzdC1hY2Nlc3Mta2V5';
export const SK = 'dGVzdC1zZWNyZXQta2V5LXZvbGNlbmdpbmU=';
export const REGION = 'cn-beijing';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { ResponseMetadata: Record<string, unknown>; Result?: Record<string, unknown> };
}

export async function rawCall(baseUrl: string, query: QueryPair[], opts: { service?: string; authorization?: string | null; region?: string } = {}): Promise<RawAnswer> {
  const base = new URL(baseUrl);
  const xDate = compactIso(new Date());
  const headers: Record<string, string> = { host: base.host, 'x-content-sha256': EMPTY_BODY_SHA256, 'x-date': xDate };
  const signed = signRequest(
    { method: 'GET', path: '/', query, headers, bodySha256: EMPTY_BODY_SHA256, xDate, region: opts.region ?? REGION, service: opts.service ?? 'ecs' },
    { accessKeyId: AK, secretAccessKey: SK },
  );
  if (opts.authorization !== null) headers['authorization'] = opts.authorization ?? signed.authorization;
  const res = await request(`${base.origin}/?${signed.canonicalQuery}`, { method: 'GET', headers });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as RawAnswer['body'] };
}
