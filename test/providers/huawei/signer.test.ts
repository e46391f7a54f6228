import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRawQuery as parseRawQuery, sha256Hex } from '../../../src/providers/signing.js';
import {
  canonicalQueryString,
  canonicalRequest,
  canonicalUri,
  createHuaweiSigner,
  expectedSignature,
  parseAuthorization,
  parseSdkDate,
  signRequest,
  stringToSign,
} from '../../../src/providers/huawei/signer.js';

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('V-HW-1: the signing guide example (api-sign-algorithm-002/003/004)', () => {
  const input = {
    method: 'GET',
    path: '/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs',
    query: [
      ['limit', '2'],
      ['marker', '13551d6b-755d-4757-b956-536f674975c0'],
    ] as const,
    headers: {
      'Content-Type': 'application/json',
      Host: 'service.region.example.com',
      'X-Sdk-Date': '20191115T033655Z',
    },
    body: '',
    sdkDate: '20191115T033655Z',
    // The AK only appears in the header, never in the signature; this is the guide's sample AK.
    accessKeyId: 'QTWAOYTTINDUT2QVKYUC',
    secretAccessKey: 'MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc',
  };

  it('builds the documented canonical request, its hash and string to sign', () => {
    const signed = signRequest(input);
    expect(signed.canonicalRequest).toBe(
      'GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\nlimit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n' +
        'content-type:application/json\nhost:service.region.example.com\nx-sdk-date:20191115T033655Z\n\n' +
        `content-type;host;x-sdk-date\n${EMPTY}`,
    );
    expect(sha256Hex(signed.canonicalRequest)).toBe('b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a');
    expect(signed.stringToSign).toBe(
      'SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a',
    );
  });

  it('gives the documented signature for the full SK', () => {
    const signed = signRequest(input);
    expect(signed.signature).toBe('7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe');
    expect(signed.authorization).toBe(
      'SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, ' +
        'Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe',
    );
  });
});

describe('V-HW-2/3: huaweicloud-sdk-go-v3 core/auth/signer/signer_test.go', () => {
  const common = {
    path: '/path',
    headers: { 'X-Sdk-Date': '20060102T150405Z' },
    sdkDate: '20060102T150405Z',
    accessKeyId: 'AccessKey',
    secretAccessKey: 'SecretKey',
  };

  it('V-HW-2: GET with limit=1, only x-sdk-date signed', () => {
    const signed = signRequest({ ...common, method: 'GET', query: [['limit', '1']], body: '' });
    expect(signed.authorization).toBe(
      'SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624',
    );
  });

  it('V-HW-3: POST whose body carries the trailing newline of json.Encoder; content-type not signed', () => {
    const body = '{"Name":"test","Id":1}\n';
    const signed = signRequest({ ...common, method: 'POST', query: [['key', 'value']], body });
    expect(signed.authorization).toBe(
      'SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59',
    );
    // The exact bytes matter: without the newline the vector does not hold.
    const trimmed = signRequest({ ...common, method: 'POST', query: [['key', 'value']], body: body.trimEnd() });
    expect(trimmed.signature).not.toBe(signed.signature);
  });

  it('canonical query test string', () => {
    const pairs: Array<[string, string]> = [
      ['limit', '1'],
      ['enable', 'true'],
      ['test', '一 (&=?!#%.*)'],
      ['path', '/tmp/123'],
      ['multi', '1'],
      ['multi', '2'],
      ['multi', '3'],
    ];
    expect(canonicalQueryString(pairs)).toBe(
      'enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29',
    );
    // Values of a repeated name are sorted too, whatever order they came in.
    expect(canonicalQueryString([['multi', '3'], ['multi', '1'], ['multi', '2']])).toBe('multi=1&multi=2&multi=3');
  });
});

const PROJECT = '0123456789abcdef0123456789abcdef';
const SERVER = '616fb98f-46ca-475e-917e-2563e5a8cd19';

function rebootRequest(host: string, ids: string[], force: boolean, sdkDate: string) {
  return {
    method: 'POST',
    path: `/v1/${PROJECT}/cloudservers/action`,
    query: [] as Array<[string, string]>,
    headers: {
      'content-type': 'application/json;charset=UTF-8',
      host,
      'x-project-id': PROJECT,
      'x-sdk-date': sdkDate,
    },
    body: JSON.stringify({ reboot: { type: force ? 'HARD' : 'SOFT', servers: ids.map((id) => ({ id })) } }),
    sdkDate,
    accessKeyId: 'TEST_AK',
    secretAccessKey: 'TEST_SK',
  };
}

describe('Appendix A: derived batch-reboot vector', () => {
  it('matches the hashed canonical request and Authorization', () => {
    const req = rebootRequest('ecs.cn-north-4.myhuaweicloud.com', [SERVER], false, '20240101T000000Z');
    expect(req.body).toBe('{"reboot":{"type":"SOFT","servers":[{"id":"616fb98f-46ca-475e-917e-2563e5a8cd19"}]}}');
    const signed = signRequest(req);
    expect(signed.canonicalRequest.split('\n')[1]).toBe(`/v1/${PROJECT}/cloudservers/action/`);
    expect(sha256Hex(signed.canonicalRequest)).toBe('87e5ff7fa5d5640b7ae0d69a8e004c2b151a4cba7c73a0a5f74ae615c3f31dd7');
    expect(signed.authorization).toBe(
      'SDK-HMAC-SHA256 Access=TEST_AK, SignedHeaders=content-type;host;x-project-id;x-sdk-date, ' +
        'Signature=1b92a7db10158978da376b08c0ff26f30540f891395eeaa36b84e7f018f1dc00',
    );
  });
});

// ---- the vendor SDK as an oracle -----------------------------------------------------------------

interface SdkRequest {
  endpoint: string;
  method: string;
  headers: Record<string, string>;
  data?: unknown;
  url?: string;
}
interface SdkSigner {
  sign(request: SdkRequest, credential: { getAk(): string; getSk(): string }): Record<string, string>;
}
interface SdkBasicCredentials {
  withAk(ak: string): SdkBasicCredentials;
  withSk(sk: string): SdkBasicCredentials;
  withProjectId(id: string): SdkBasicCredentials;
  processAuthRequest(client: unknown, request: SdkRequest): Promise<SdkRequest>;
}

const require = createRequire(import.meta.url);
const { AKSKSigner } = require('@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner') as { AKSKSigner: SdkSigner };
const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core') as { BasicCredentials: new () => SdkBasicCredentials };

/**
 * AKSKSigner.sign keeps a caller-given X-Sdk-Date, so it can be driven with a fixed date. It hashes
 * JSON.stringify(request.data), which for our body object is the exact string we send.
 */
function sdkAuthorization(host: string, ids: string[], force: boolean, sdkDate: string): string {
  const headers = AKSKSigner.sign(
    {
      endpoint: `http://${host}/v1/${PROJECT}/cloudservers/action`,
      method: 'POST',
      headers: {
        'Content-Type': 'application/json;charset=UTF-8',
        'X-Project-Id': PROJECT,
        'X-Sdk-Date': sdkDate,
        host,
      },
      data: { reboot: { type: force ? 'HARD' : 'SOFT', servers: ids.map((id) => ({ id })) } },
    },
    { getAk: () => 'TEST_AK', getSk: () => 'TEST_SK' },
  );
  return headers['Authorization'] ?? '';
}

describe('cross-check with @huaweicloud/huaweicloud-sdk-core AKSKSigner', () => {
  it('signs the batch-reboot request byte for byte like the SDK', () => {
    const host = 'ecs.cn-north-4.myhuaweicloud.com';
    const ours = signRequest(rebootRequest(host, [SERVER], false, '20240101T000000Z')).authorization;
    expect(ours).toBe(sdkAuthorization(host, [SERVER], false, '20240101T000000Z'));
  });

  it('agrees for any server list, reboot type, date and loopback host:port', () => {
    const uuid = fc.uuid().map((u) => u.toLowerCase());
    const date = fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
      .map((d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, ''));
    fc.assert(
      fc.property(fc.array(uuid, { minLength: 1, maxLength: 20 }), fc.boolean(), date, fc.integer({ min: 1, max: 65535 }), (ids, force, sdkDate, port) => {
        const host = `127.0.0.1:${port}`;
        expect(signRequest(rebootRequest(host, ids, force, sdkDate)).authorization).toBe(sdkAuthorization(host, ids, force, sdkDate));
      }),
      { numRuns: 200 },
    );
  });

  it('agrees with the SDK full pipeline (BasicCredentials adds X-Project-Id and, for this content type, UNSIGNED-PAYLOAD)', async () => {
    const request: SdkRequest = {
      endpoint: 'https://ecs.cn-north-4.myhuaweicloud.com',
      url: '/v1/{project_id}/cloudservers/action',
      method: 'POST',
      headers: { 'Content-Type': 'application/json;charset=UTF-8', 'X-Sdk-Date': '20240101T000000Z' },
      data: { reboot: { type: 'SOFT', servers: [{ id: SERVER }] } },
    };
    const credentials = new BasicCredentials().withAk('TEST_AK').withSk('TEST_SK').withProjectId(PROJECT);
    const signedBySdk = await credentials.processAuthRequest(null, request);
    // The SDK only hashes bodies whose content type is exactly application/json; it declares anything else
    // unsigned through X-Sdk-Content-Sha256, which our signer honours the same way.
    const ours = signRequest({
      ...rebootRequest('ecs.cn-north-4.myhuaweicloud.com', [SERVER], false, '20240101T000000Z'),
      headers: {
        'content-type': 'application/json;charset=UTF-8',
        host: 'ecs.cn-north-4.myhuaweicloud.com',
        'x-project-id': PROJECT,
        'x-sdk-content-sha256': 'UNSIGNED-PAYLOAD',
        'x-sdk-date': '20240101T000000Z',
      },
    });
    expect(signedBySdk.headers['Authorization']).toBe(ours.authorization);
    expect(signedBySdk.headers['X-Project-Id']).toBe(PROJECT);
  });
});

describe('verification helpers used by the simulator', () => {
  const req = rebootRequest('127.0.0.1:8080', [SERVER], true, '20240101T000000Z');
  const signed = signRequest(req);
  const raw = {
    method: 'POST',
    path: req.path,
    query: '',
    headers: { ...req.headers, authorization: signed.authorization, 'content-length': String(req.body.length) },
    body: req.body,
  };

  it('parses the Authorization header', () => {
    expect(parseAuthorization(signed.authorization)).toEqual({
      accessKeyId: 'TEST_AK',
      signedHeaders: ['content-type', 'host', 'x-project-id', 'x-sdk-date'],
      signature: signed.signature,
    });
    expect(parseAuthorization('HMAC-SHA256 Credential=x')).toBeUndefined();
    expect(parseAuthorization(undefined)).toBeUndefined();
  });

  it('recomputes the signature from the raw request, and only from the signed headers', () => {
    const auth = parseAuthorization(signed.authorization)!;
    expect(expectedSignature(raw, auth, 'TEST_SK', parseRawQuery)).toBe(signed.signature);
    expect(expectedSignature({ ...raw, headers: { ...raw.headers, 'user-agent': 'x' } }, auth, 'TEST_SK', parseRawQuery)).toBe(signed.signature);
    expect(expectedSignature({ ...raw, body: raw.body.replace('HARD', 'SOFT') }, auth, 'TEST_SK', parseRawQuery)).not.toBe(signed.signature);
    expect(expectedSignature({ ...raw, headers: { ...raw.headers, host: '127.0.0.1:8081' } }, auth, 'TEST_SK', parseRawQuery)).not.toBe(signed.signature);
    const { 'x-project-id': _dropped, ...withoutProject } = raw.headers;
    expect(expectedSignature({ ...raw, headers: withoutProject }, auth, 'TEST_SK', parseRawQuery)).toBeUndefined();
  });

  it('canonicalises a percent-encoded wire path like the intended path', () => {
    expect(canonicalUri('/v1/p/cloudservers/a%20b')).toBe('/v1/p/cloudservers/a%20b/');
    expect(canonicalUri('/v1/p/')).toBe('/v1/p/');
    expect(
      canonicalRequest({ method: 'get', path: '/x', query: [], headers: { Host: 'h ' }, payloadHash: EMPTY }),
    ).toBe(`GET\n/x/\n\nhost:h\n\nhost\n${EMPTY}`);
    expect(stringToSign('20240101T000000Z', '')).toBe(`SDK-HMAC-SHA256\n20240101T000000Z\n${EMPTY}`);
  });

  it('parses X-Sdk-Date strictly', () => {
    expect(parseSdkDate('20240101T000000Z')?.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(parseSdkDate('2024-01-01T00:00:00Z')).toBeUndefined();
    expect(parseSdkDate('20240230T000000Z')).toBeUndefined();
    expect(parseSdkDate(undefined)).toBeUndefined();
  });
});

describe('createHuaweiSigner: the request signer the client uses (one shape for every cloud)', () => {
  it('reproduces V-HW-1 from the request alone: host and X-Sdk-Date are its own', () => {
    const signer = createHuaweiSigner({ credentials: { accessKeyId: 'QTWAOYTTINDUT2QVKYUC', secretAccessKey: 'MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc' } });
    const signed = signer.sign(
      {
        method: 'GET',
        origin: 'https://service.region.example.com',
        path: '/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs',
        query: [
          ['marker', '13551d6b-755d-4757-b956-536f674975c0'],
          ['limit', '2'],
        ],
        headers: { 'Content-Type': 'application/json' },
      },
      { signingDate: new Date('2019-11-15T03:36:55Z') },
    );
    expect(signed.signature).toBe('7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe');
    expect(signed.headers).toEqual({
      'Content-Type': 'application/json',
      host: 'service.region.example.com',
      'x-sdk-date': '20191115T033655Z',
      authorization:
        'SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, ' +
        'Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe',
    });
    // The trailing slash of the canonical URI is not sent.
    expect(signed.url.href).toBe(
      'https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0',
    );
  });

  it('signs the batch reboot like Appendix A and like the SDK, and the simulator recomputes the same signature', () => {
    const host = 'ecs.cn-north-4.myhuaweicloud.com';
    const body = JSON.stringify({ reboot: { type: 'SOFT', servers: [{ id: SERVER }] } });
    const signer = createHuaweiSigner({ credentials: { accessKeyId: 'TEST_AK', secretAccessKey: 'TEST_SK' }, now: () => new Date('2024-01-01T00:00:00Z') });
    const signed = signer.sign({
      method: 'POST',
      origin: `https://${host}`,
      path: `/v1/${PROJECT}/cloudservers/action`,
      query: [],
      headers: { 'content-type': 'application/json;charset=UTF-8', 'x-project-id': PROJECT },
      body,
    });
    expect(signed.headers['authorization']).toBe(
      'SDK-HMAC-SHA256 Access=TEST_AK, SignedHeaders=content-type;host;x-project-id;x-sdk-date, ' +
        'Signature=1b92a7db10158978da376b08c0ff26f30540f891395eeaa36b84e7f018f1dc00',
    );
    expect(signed.headers['authorization']).toBe(sdkAuthorization(host, [SERVER], false, '20240101T000000Z'));
    expect(signed.url.href).toBe(`https://${host}/v1/${PROJECT}/cloudservers/action`);
    const raw = { method: 'POST', path: signed.url.pathname, query: '', headers: signed.headers, body };
    const auth = parseAuthorization(signed.headers['authorization'])!;
    expect(expectedSignature(raw, auth, 'TEST_SK', parseRawQuery)).toBe(signed.signature);
  });
});

describe('cross-check of the describe request (ListServersDetails filtered by id) with the SDK AKSKSigner', () => {
  /** The request exactly as the client builds it: GET, no content-type, X-Project-Id, limit and server_id, no body. */
  function oursFor(host: string, ids: string[], sdkDate: string, marker?: string) {
    const signer = createHuaweiSigner({ credentials: { accessKeyId: 'TEST_AK', secretAccessKey: 'TEST_SK' } });
    return signer.sign(
      {
        method: 'GET',
        origin: `https://${host}`,
        path: `/v1/${PROJECT}/cloudservers/detail`,
        query: [['limit', '100'], ['server_id', ids.join(',')], ...(marker === undefined ? [] : [['marker', marker] as const])],
        headers: { 'x-project-id': PROJECT },
      },
      { signingDate: parseSdkDate(sdkDate)! },
    );
  }

  /** The SDK signs queryParams (sorted, each value RFC 3986-encoded) and hashes no body when `data` is absent. */
  function sdkFor(host: string, ids: string[], sdkDate: string, marker?: string): string {
    const request: SdkRequest & { queryParams: Record<string, string> } = {
      endpoint: `https://${host}/v1/${PROJECT}/cloudservers/detail`,
      method: 'GET',
      headers: { 'X-Project-Id': PROJECT, 'X-Sdk-Date': sdkDate, host },
      queryParams: { limit: '100', server_id: ids.join(','), ...(marker === undefined ? {} : { marker }) },
    };
    return AKSKSigner.sign(request, { getAk: () => 'TEST_AK', getSk: () => 'TEST_SK' })['Authorization'] ?? '';
  }

  it('signs byte for byte like the SDK, with `,` as %2C in the signed and the sent query alike', () => {
    const host = 'ecs.cn-north-4.myhuaweicloud.com';
    const ids = [SERVER, '726fb98f-46ca-475e-917e-2563e5a8cd20'];
    const signed = oursFor(host, ids, '20240101T000000Z');
    expect(signed.headers['authorization']).toBe(sdkFor(host, ids, '20240101T000000Z'));
    expect(signed.headers['authorization']).toMatch(/^SDK-HMAC-SHA256 Access=TEST_AK, SignedHeaders=host;x-project-id;x-sdk-date, Signature=[0-9a-f]{64}$/);
    expect(signed.url.search).toBe(`?limit=100&server_id=${ids.join('%2C')}`);
    expect(signed.body).toBeUndefined();
    // And the simulator, reading the raw request, recomputes the same signature.
    const raw = { method: 'GET', path: signed.url.pathname, query: signed.url.search.slice(1), headers: signed.headers, body: '' };
    expect(expectedSignature(raw, parseAuthorization(signed.headers['authorization'])!, 'TEST_SK', parseRawQuery)).toBe(signed.signature);
  });

  it('agrees for any id list, marker, date and loopback host:port', () => {
    const uuid = fc.uuid().map((u) => u.toLowerCase());
    const date = fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
      .map((d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, ''));
    fc.assert(
      fc.property(fc.array(uuid, { minLength: 1, maxLength: 100 }), fc.option(uuid, { nil: undefined }), date, fc.integer({ min: 1, max: 65535 }), (ids, marker, sdkDate, port) => {
        const host = `127.0.0.1:${port}`;
        expect(oursFor(host, ids, sdkDate, marker).headers['authorization']).toBe(sdkFor(host, ids, sdkDate, marker));
      }),
      { numRuns: 200 },
    );
  });
});

describe('a temporary AK/SK: X-Security-Token, signed as the SDK signs every header', () => {
  it('sends the token, signs it, and matches AKSKSigner given the header BaseCredentials adds', () => {
    const token = 'gQpjbi1ub3J0aC00jFsZXhhbXBsZS1zZWN1cml0eS10b2tlbg';
    const host = 'ecs.cn-north-4.myhuaweicloud.com';
    const body = JSON.stringify({ reboot: { type: 'SOFT', servers: [{ id: SERVER }] } });
    const signed = createHuaweiSigner({ credentials: { accessKeyId: 'TEST_AK', secretAccessKey: 'TEST_SK', securityToken: token } }).sign(
      {
        method: 'POST',
        origin: `https://${host}`,
        path: `/v1/${PROJECT}/cloudservers/action`,
        query: [],
        headers: { 'content-type': 'application/json;charset=UTF-8', 'x-project-id': PROJECT },
        body,
      },
      { signingDate: new Date('2024-01-01T00:00:00Z') },
    );
    expect(signed.headers['x-security-token']).toBe(token);
    expect(signed.headers['authorization']).toContain('SignedHeaders=content-type;host;x-project-id;x-sdk-date;x-security-token,');
    // BaseCredentials.addAuthHeaders puts X-Security-Token among the headers before AKSKSigner.sign signs them all.
    const sdk = AKSKSigner.sign(
      {
        endpoint: `https://${host}/v1/${PROJECT}/cloudservers/action`,
        method: 'POST',
        headers: { 'Content-Type': 'application/json;charset=UTF-8', 'X-Project-Id': PROJECT, 'X-Sdk-Date': '20240101T000000Z', 'X-Security-Token': token, host },
        data: JSON.parse(body) as unknown,
      },
      { getAk: () => 'TEST_AK', getSk: () => 'TEST_SK' },
    );
    expect(signed.headers['authorization']).toBe(sdk['Authorization']);
  });
});
