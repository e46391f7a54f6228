import OpenApiUtilImport from '@alicloud/openapi-util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rebootQueryPairs } from '../../../src/providers/alibaba/client.js';
import { describeDryRunPairs, describeQueryPairs, instanceIdsParam } from '../../../src/providers/alibaba/describe.js';
import { permissionQueryPairs } from '../../../src/providers/alibaba/permission.js';
import {
  canonicalQueryString,
  canonicalRequest,
  createAlibabaSigner,
  parseAuthorization,
  sign,
  verify,
  type QueryPair,
  type SignInput,
} from '../../../src/providers/alibaba/signer.js';
import { decodeRawQuery, sha256Hex } from '../../../src/providers/signing.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The part of @alicloud/openapi-util we run as an oracle. */
interface SdkRequest {
  method: string;
  pathname: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}
interface OpenApiUtil {
  getAuthorization(request: SdkRequest, algorithm: string, payloadHash: string, accessKeyId: string, secret: string): string;
}
// The package is CommonJS with `exports.default = Client`: Node's ESM loader (and tsc's view of it)
// hands over module.exports, while vitest's interop unwraps `default` already. Accept both.
const loaded = OpenApiUtilImport as unknown as OpenApiUtil & { default?: OpenApiUtil };
const sdk: OpenApiUtil = typeof loaded.getAuthorization === 'function' ? loaded : (loaded.default as OpenApiUtil);

function sdkAuthorization(input: SignInput): string {
  return sdk.getAuthorization(
    { method: input.method, pathname: input.path, query: Object.fromEntries(input.query), headers: { ...input.headers } },
    'ACS3-HMAC-SHA256',
    input.hashedPayload,
    input.accessKeyId,
    input.accessKeySecret,
  );
}

describe('V-ALI-V3-1: official V3 doc example (RunInstances)', () => {
  const input: SignInput = {
    method: 'POST',
    path: '/',
    query: [
      ['ImageId', 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd'],
      ['RegionId', 'cn-shanghai'],
    ],
    headers: {
      host: 'ecs.cn-shanghai.aliyuncs.com',
      'x-acs-action': 'RunInstances',
      'x-acs-content-sha256': EMPTY_SHA256,
      'x-acs-date': '2023-10-26T10:22:32Z',
      'x-acs-signature-nonce': '3156853299f313e23d1673dc12e1703d',
      'x-acs-version': '2014-05-26',
    },
    hashedPayload: EMPTY_SHA256,
    accessKeyId: 'YourAccessKeyId',
    accessKeySecret: 'YourAccessKeySecret',
  };

  it('hashes the canonical request as published', () => {
    expect(sign(input).stringToSign).toBe('ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259');
  });

  it('produces the published Authorization', () => {
    expect(sign(input).authorization).toBe(
      'ACS3-HMAC-SHA256 Credential=YourAccessKeyId,' +
        'SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,' +
        'Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0',
    );
  });

  it('builds the canonical request line by line', () => {
    expect(sign(input).canonicalRequest).toBe(
      [
        'POST',
        '/',
        'ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai',
        'host:ecs.cn-shanghai.aliyuncs.com',
        'x-acs-action:RunInstances',
        `x-acs-content-sha256:${EMPTY_SHA256}`,
        'x-acs-date:2023-10-26T10:22:32Z',
        'x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d',
        'x-acs-version:2014-05-26',
        '',
        'host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version',
        EMPTY_SHA256,
      ].join('\n'),
    );
  });
});

describe('V-ALI-V3-2: darabonba-openapi-util unit test expectations', () => {
  // That SDK test leaves request.method and request.pathname unset, so its canonical request starts
  // with the literal "undefined\n\n" (JS string concatenation). Passing method 'undefined' and an
  // empty path reproduces the published values; real requests never look like this.
  const quirk = { method: 'undefined', path: '', accessKeyId: 'acesskey', accessKeySecret: 'secret' };
  const payload = '55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23';

  it('joins duplicate header values sorted and keeps empty query values as "name="', () => {
    const signed = sign({
      ...quirk,
      query: [
        ['test', 'ok'],
        ['empty', ''],
      ],
      headers: { 'x-acs-TEST': 'https', 'x-acs-test': 'http' },
      hashedPayload: payload,
    });
    expect(signed.canonicalRequest.startsWith('undefined\n\nempty=&test=ok\nx-acs-test:http,https\n\nx-acs-test\n')).toBe(true);
    expect(signed.authorization).toBe(
      'ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,Signature=0f2d549523cf082c83bb8135b5863614f7fe16ca7c2c7fc537e74d67374eeeac',
    );
  });

  it('signs a request with no query and no headers', () => {
    const signed = sign({ ...quirk, query: [], headers: {}, hashedPayload: payload });
    expect(signed.authorization).toBe(
      'ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=,Signature=608b887e491f3e88e85276b188a4d24e29230a559464685ccbf2dcc458e1fde8',
    );
  });
});

describe('Appendix A: derived RebootInstances vector', () => {
  const input: SignInput = {
    method: 'POST',
    path: '/',
    query: [
      ['RegionId', 'cn-hangzhou'],
      ['InstanceId.1', 'i-aaaaaaaaaaaaaaaaaaaa'],
      ['InstanceId.2', 'i-bbbbbbbbbbbbbbbbbbbb'],
      ['ForceReboot', 'false'],
      ['BatchOptimization', 'SuccessFirst'],
    ],
    headers: {
      host: 'ecs.cn-hangzhou.aliyuncs.com',
      'x-acs-action': 'RebootInstances',
      'x-acs-version': '2014-05-26',
      'x-acs-date': '2024-01-01T00:00:00Z',
      'x-acs-signature-nonce': '0123456789abcdef0123456789abcdef',
      'x-acs-content-sha256': EMPTY_SHA256,
    },
    hashedPayload: EMPTY_SHA256,
    accessKeyId: 'TEST_AK',
    accessKeySecret: 'TEST_SECRET',
  };

  it('matches the canonical query, hash and Authorization', () => {
    const signed = sign(input);
    expect(canonicalQueryString(input.query)).toBe(
      'BatchOptimization=SuccessFirst&ForceReboot=false&InstanceId.1=i-aaaaaaaaaaaaaaaaaaaa&InstanceId.2=i-bbbbbbbbbbbbbbbbbbbb&RegionId=cn-hangzhou',
    );
    expect(signed.stringToSign).toBe('ACS3-HMAC-SHA256\nffca581086886ee1f80330664c21c636c279941b6a52baa4752cb074dcd6d808');
    expect(signed.authorization).toBe(
      'ACS3-HMAC-SHA256 Credential=TEST_AK,' +
        'SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,' +
        'Signature=08cbe3d24f3136d861f7d12ba32ea8299f64bcb6d73c49ac36ef8852c5ddc699',
    );
  });

  it('agrees with the SDK on the same input', () => {
    expect(sdkAuthorization(input)).toBe(sign(input).authorization);
  });

  it('is exactly the request our real reboot builds (no DryRun parameter)', () => {
    const ours = rebootQueryPairs({ region: 'cn-hangzhou', force: false }, ['i-aaaaaaaaaaaaaaaaaaaa', 'i-bbbbbbbbbbbbbbbbbbbb']);
    expect(canonicalQueryString(ours)).toBe(canonicalQueryString(input.query));
    expect(sign({ ...input, query: ours }).authorization).toBe(sign(input).authorization);
  });
});

describe('cross-check with @alicloud/openapi-util getAuthorization', () => {
  // getAuthorization takes the date and nonce as ordinary headers, so it can be driven with fixed values.
  const rebootInput = (ids: string[], force: boolean): SignInput => ({
    method: 'POST',
    path: '/',
    query: rebootQueryPairs({ region: 'cn-shanghai', force }, ids),
    headers: {
      host: '127.0.0.1:40123',
      'x-acs-action': 'RebootInstances',
      'x-acs-version': '2014-05-26',
      'x-acs-date': '2025-03-04T05:06:07Z',
      'x-acs-signature-nonce': 'fedcba9876543210fedcba9876543210',
      'x-acs-content-sha256': EMPTY_SHA256,
    },
    hashedPayload: EMPTY_SHA256,
    accessKeyId: 'LTAI5tExampleKeyId',
    accessKeySecret: 'ExampleSecretValue0123456789abc',
  });

  it('reproduces the SDK Authorization byte for byte for our RebootInstances request', () => {
    const input = rebootInput(['i-bp1g6zv0ce8oghu7abcd', 'i-bp67acfmxazb4p0000', 'i-uf6f5trc95ug8t4xyz12'], true);
    const ours = sign(input).authorization;
    expect(ours).toMatch(/^ACS3-HMAC-SHA256 Credential=LTAI5tExampleKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=[0-9a-f]{64}$/);
    expect(sdkAuthorization(input)).toBe(ours);
  });

  it('reproduces the SDK for a full batch of 100 ids (InstanceId.10 sorts before InstanceId.2)', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `i-${String(i).padStart(20, '0')}`);
    const input = rebootInput(ids, false);
    expect(canonicalQueryString(input.query)).toMatch(/^BatchOptimization=SuccessFirst&ForceReboot=false&InstanceId\.1=i-0+&InstanceId\.10=/);
    expect(sdkAuthorization(input)).toBe(sign(input).authorization);
  });

  it('agrees with the SDK for arbitrary query values and header values', () => {
    const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9.]{0,12}$/);
    const value = fc.string({ unit: 'grapheme', maxLength: 24 });
    const headerName = fc.stringMatching(/^x-acs-[a-z]{1,10}$/);
    fc.assert(
      fc.property(fc.dictionary(name, value), fc.dictionary(headerName, fc.string({ maxLength: 24 })), fc.string({ maxLength: 20 }), (query, headers, secret) => {
        const input: SignInput = {
          method: 'POST',
          path: '/',
          query: Object.entries(query),
          headers: { host: 'ecs.cn-beijing.aliyuncs.com', ...headers },
          hashedPayload: EMPTY_SHA256,
          accessKeyId: 'AK',
          accessKeySecret: secret,
        };
        expect(sign(input).authorization).toBe(sdkAuthorization(input));
      }),
      { numRuns: 300 },
    );
  });
});

describe('cross-check with @alicloud/openapi-util for the read and the permission check', () => {
  const headersFor = (action: string): Record<string, string> => ({
    host: 'ecs.cn-hangzhou.aliyuncs.com',
    'x-acs-action': action,
    'x-acs-version': '2014-05-26',
    'x-acs-date': '2025-06-07T08:09:10Z',
    'x-acs-signature-nonce': '0a1b2c3d4e5f60718293a4b5c6d7e8f9',
    'x-acs-content-sha256': EMPTY_SHA256,
  });
  const ids = ['i-bp1g6zv0ce8oghu7abcd', 'i-bp67acfmxazb4p0000', 'i-uf6f5trc95ug8t4xyz12'];
  const input = (action: string, query: QueryPair[]): SignInput => ({
    method: 'POST',
    path: '/',
    query,
    headers: headersFor(action),
    hashedPayload: EMPTY_SHA256,
    accessKeyId: 'LTAI5tExampleKeyId',
    accessKeySecret: 'ExampleSecretValue0123456789abc',
  });

  it('signs DescribeInstances with its JSON InstanceIds exactly as the SDK does', () => {
    const query = describeQueryPairs('cn-hangzhou', instanceIdsParam(ids));
    const describeInput = input('DescribeInstances', query);
    // The JSON text, percent-encoded once: the same bytes in the canonical query and on the wire.
    expect(canonicalQueryString(query)).toBe(
      'InstanceIds=%5B%22i-bp1g6zv0ce8oghu7abcd%22%2C%22i-bp67acfmxazb4p0000%22%2C%22i-uf6f5trc95ug8t4xyz12%22%5D&MaxResults=100&RegionId=cn-hangzhou',
    );
    expect(sdkAuthorization(describeInput)).toBe(sign(describeInput).authorization);
  });

  it('signs the next page (NextToken) and the DryRun probe as the SDK does', () => {
    const json = instanceIdsParam(ids);
    const page2 = input('DescribeInstances', describeQueryPairs('cn-hangzhou', json, 'e71d8a535bd9cc11+/=&x'));
    expect(sdkAuthorization(page2)).toBe(sign(page2).authorization);
    const probe = input('DescribeInstances', describeDryRunPairs('cn-hangzhou', json));
    expect(sdkAuthorization(probe)).toBe(sign(probe).authorization);
  });

  it('signs the RebootInstances permission dry run as the SDK does', () => {
    const query = permissionQueryPairs({ region: 'cn-hangzhou', force: true }, ids);
    expect(canonicalQueryString(query)).toBe(
      `DryRun=true&ForceReboot=true&InstanceId.1=${ids[0]}&InstanceId.2=${ids[1]}&InstanceId.3=${ids[2]}&RegionId=cn-hangzhou`,
    );
    const permissionInput = input('RebootInstances', query);
    expect(sdkAuthorization(permissionInput)).toBe(sign(permissionInput).authorization);
  });

  it('signs the request the client actually sends, as the simulator receives it from the wire', () => {
    const signer = createAlibabaSigner({ credentials: { accessKeyId: 'AK1', accessKeySecret: 'secret-one-0123456789' }, nonce: () => '0a1b2c3d4e5f60718293a4b5c6d7e8f9' });
    const signed = signer.sign(
      { method: 'POST', origin: 'http://127.0.0.1:9000', path: '/', query: describeQueryPairs('cn-hangzhou', instanceIdsParam(ids)), headers: { 'x-acs-action': 'DescribeInstances', 'x-acs-version': '2014-05-26' }, body: '' },
      { signingDate: new Date('2025-06-07T08:09:10Z') },
    );
    const wireQuery = decodeRawQuery(signed.url.search.slice(1)) ?? [];
    expect(Object.fromEntries(wireQuery)['InstanceIds']).toBe(JSON.stringify(ids));
    const sdk = sdkAuthorization({
      method: 'POST',
      path: signed.url.pathname,
      query: wireQuery,
      headers: Object.fromEntries(Object.entries(signed.headers).filter(([n]) => n !== 'authorization')),
      hashedPayload: EMPTY_SHA256,
      accessKeyId: 'AK1',
      accessKeySecret: 'secret-one-0123456789',
    });
    expect(signed.headers['authorization']).toBe(sdk);
  });

  it('never builds InstanceIds=[]', () => {
    expect(() => instanceIdsParam([])).toThrow(/at least one instance id/);
    expect(instanceIdsParam(['i-a'])).toBe('["i-a"]');
  });
});

describe('canonical pieces', () => {
  it('encodes RFC 3986 style: %20 for space, %2A for *, ~ kept, names encoded too', () => {
    expect(canonicalQueryString([['a b', "x y*~!'()/"]])).toBe('a%20b=x%20y%2A~%21%27%28%29%2F');
  });

  it('ignores headers outside host, content-type and x-acs-*', () => {
    const { signedHeaders } = canonicalRequest({
      method: 'POST',
      path: '/',
      query: [],
      headers: { Host: 'h', 'Content-Type': 'application/json', 'user-agent': 'u', 'content-length': '0', 'X-Acs-Date': 'd' },
      hashedPayload: EMPTY_SHA256,
    });
    expect(signedHeaders).toBe('content-type;host;x-acs-date');
  });

  it('parses an Authorization header and refuses malformed ones', () => {
    expect(parseAuthorization('ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=' + 'a'.repeat(64))).toEqual({
      accessKeyId: 'AK',
      signedHeaders: ['host', 'x-acs-date'],
      signature: 'a'.repeat(64),
    });
    expect(parseAuthorization('ACS3-HMAC-SHA256 Credential=AK, SignedHeaders=host, Signature=' + 'a'.repeat(64))).toBeUndefined();
    expect(parseAuthorization(undefined)).toBeUndefined();
  });
});

describe('verify (what the simulator runs on a received request)', () => {
  const secrets: Record<string, string> = { AK1: 'secret-one-0123456789' };
  const headers = {
    host: '127.0.0.1:9000',
    'x-acs-action': 'RebootInstances',
    'x-acs-version': '2014-05-26',
    'x-acs-date': '2024-01-01T00:00:00Z',
    'x-acs-signature-nonce': '00112233445566778899aabbccddeeff',
    'x-acs-content-sha256': EMPTY_SHA256,
  };
  const query: QueryPair[] = rebootQueryPairs({ region: 'cn-hangzhou', force: false }, ['i-aaaaaaaaaaaaaaaaaaaa']);
  const signed = sign({ method: 'POST', path: '/', query, headers, hashedPayload: EMPTY_SHA256, accessKeyId: 'AK1', accessKeySecret: 'secret-one-0123456789' });
  const received = { method: 'POST', path: '/', query, headers: { ...headers, authorization: signed.authorization, 'user-agent': 'undici' }, body: '' };
  const lookup = (ak: string): string | undefined => secrets[ak];

  it('accepts the request as signed, in any query order', () => {
    expect(verify(received, lookup)).toEqual({ ok: true, accessKeyId: 'AK1' });
    expect(verify({ ...received, query: [...query].reverse() }, lookup)).toEqual({ ok: true, accessKeyId: 'AK1' });
  });

  it('rejects a changed parameter, method, header or secret', () => {
    expect(verify({ ...received, query: [...query, ['DryRun', 'true']] }, lookup)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(verify({ ...received, method: 'GET' }, lookup)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(verify({ ...received, headers: { ...received.headers, host: '127.0.0.1:9001' } }, lookup)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(verify(received, () => 'another-secret')).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('rejects a body that does not match x-acs-content-sha256', () => {
    expect(verify({ ...received, body: 'x' }, lookup)).toMatchObject({ ok: false, reason: 'content-hash' });
    expect(sha256Hex('')).toBe(EMPTY_SHA256);
  });

  it('reports an unknown key and a missing or incomplete signature', () => {
    expect(verify(received, () => undefined)).toEqual({ ok: false, reason: 'unknown-key', accessKeyId: 'AK1' });
    const { authorization: _a, ...unsigned } = received.headers;
    expect(verify({ ...received, headers: unsigned }, lookup)).toMatchObject({ ok: false, reason: 'malformed' });
    const partial = sign({
      method: 'POST',
      path: '/',
      query,
      headers: { host: headers.host, 'x-acs-date': headers['x-acs-date'] },
      hashedPayload: EMPTY_SHA256,
      accessKeyId: 'AK1',
      accessKeySecret: 'secret-one-0123456789',
    });
    expect(verify({ ...received, headers: { ...received.headers, authorization: partial.authorization } }, lookup)).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });
});

describe('createAlibabaSigner: the request signer the client uses (one shape for every cloud)', () => {
  const V3_1_AUTHORIZATION =
    'ACS3-HMAC-SHA256 Credential=YourAccessKeyId,' +
    'SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,' +
    'Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0';
  const signer = createAlibabaSigner({
    credentials: { accessKeyId: 'YourAccessKeyId', accessKeySecret: 'YourAccessKeySecret' },
    nonce: () => '3156853299f313e23d1673dc12e1703d',
  });
  const request = {
    method: 'POST' as const,
    origin: 'https://ecs.cn-shanghai.aliyuncs.com',
    path: '/',
    query: [
      ['RegionId', 'cn-shanghai'],
      ['ImageId', 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd'],
    ] as QueryPair[],
    headers: { 'x-acs-action': 'RunInstances', 'x-acs-version': '2014-05-26' },
    body: '',
  };
  const signingDate = new Date('2023-10-26T10:22:32Z');

  it('reproduces V-ALI-V3-1 from the request alone: host, date, nonce and body hash are its own', () => {
    const signed = signer.sign(request, { signingDate });
    expect(signed.headers).toEqual({
      host: 'ecs.cn-shanghai.aliyuncs.com',
      'x-acs-action': 'RunInstances',
      'x-acs-version': '2014-05-26',
      'x-acs-date': '2023-10-26T10:22:32Z',
      'x-acs-signature-nonce': '3156853299f313e23d1673dc12e1703d',
      'x-acs-content-sha256': EMPTY_SHA256,
      authorization: V3_1_AUTHORIZATION,
    });
    expect(signed.signature).toBe('06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0');
    // The wire query is the sorted canonical one, whatever order the caller gave.
    expect(signed.url.href).toBe('https://ecs.cn-shanghai.aliyuncs.com/?ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai');
    expect(signed).toMatchObject({ method: 'POST', body: '' });
  });

  it('replaces a header it owns when the caller sets it in another case, instead of signing both', () => {
    const signed = signer.sign({ ...request, headers: { ...request.headers, Host: 'evil.example', 'X-Acs-Date': 'yesterday' } }, { signingDate });
    expect(signed.headers['authorization']).toBe(V3_1_AUTHORIZATION);
    expect(Object.keys(signed.headers)).not.toContain('Host');
    expect(Object.keys(signed.headers)).not.toContain('X-Acs-Date');
  });

  it('signs each request with a fresh nonce and its clock, and the simulator verifies what it sends', () => {
    const live = createAlibabaSigner({ credentials: { accessKeyId: 'AK1', accessKeySecret: 'secret-one-0123456789' }, now: () => signingDate });
    const first = live.sign({ ...request, origin: 'http://127.0.0.1:9000' });
    const second = live.sign({ ...request, origin: 'http://127.0.0.1:9000' });
    expect(first.headers['x-acs-signature-nonce']).toMatch(/^[0-9a-f]{32}$/);
    expect(second.headers['x-acs-signature-nonce']).not.toBe(first.headers['x-acs-signature-nonce']);
    expect(first.headers['x-acs-date']).toBe('2023-10-26T10:22:32Z');
    expect(first.headers['host']).toBe('127.0.0.1:9000');
    const received = { method: 'POST', path: first.url.pathname, query: decodeRawQuery(first.url.search.slice(1)) ?? [], headers: first.headers, body: '' };
    expect(verify(received, (ak) => (ak === 'AK1' ? 'secret-one-0123456789' : undefined))).toEqual({ ok: true, accessKeyId: 'AK1' });
    expect(verify({ ...received, body: 'x' }, () => 'secret-one-0123456789')).toMatchObject({ ok: false });
  });
});

describe('an STS key: x-acs-security-token, signed like every x-acs-* header', () => {
  const token = 'CAIS+gF1q6Ft5B2yfSjIr5bSEsKCx7kVhfGpRm7WkUUbSudHjJ7YlDz2IHxMdHRjAeEZsvQ3mmhZ7/gZlqp6U4cdd8u8fIcQdp1r';
  const signer = createAlibabaSigner({
    credentials: { accessKeyId: 'STS.NUxxxExample', accessKeySecret: 'ExampleSecretValue0123456789abc', securityToken: token },
    nonce: () => 'fedcba9876543210fedcba9876543210',
  });

  it('sends the token in x-acs-security-token, lists it in SignedHeaders, and matches the SDK byte for byte', () => {
    const signed = signer.sign(
      { method: 'POST', origin: 'https://ecs.cn-shanghai.aliyuncs.com', path: '/', query: rebootQueryPairs({ region: 'cn-shanghai', force: false }, ['i-bp1g6zv0ce8oghu7abcd']), headers: { 'x-acs-action': 'RebootInstances', 'x-acs-version': '2014-05-26' }, body: '' },
      { signingDate: new Date('2025-03-04T05:06:07Z') },
    );
    expect(signed.headers['x-acs-security-token']).toBe(token);
    expect(signed.headers['authorization']).toContain(',SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,');
    const { authorization, ...sent } = signed.headers;
    const input: SignInput = {
      method: 'POST',
      path: '/',
      query: signed.query,
      headers: sent,
      hashedPayload: EMPTY_SHA256,
      accessKeyId: 'STS.NUxxxExample',
      accessKeySecret: 'ExampleSecretValue0123456789abc',
    };
    expect(authorization).toBe(sdkAuthorization(input));
  });

  it('the simulator check accepts it, and refuses the same request with the token changed in transit', () => {
    const signed = signer.sign({ method: 'POST', origin: 'http://127.0.0.1:40123', path: '/', query: [['RegionId', 'cn-hangzhou']], headers: { 'x-acs-action': 'DescribeInstances', 'x-acs-version': '2014-05-26' }, body: '' });
    const received = { method: 'POST', path: '/', query: decodeRawQuery(signed.url.search.slice(1))!, headers: signed.headers, body: '' };
    const secretOf = (ak: string): string | undefined => (ak === 'STS.NUxxxExample' ? 'ExampleSecretValue0123456789abc' : undefined);
    expect(verify(received, secretOf)).toEqual({ ok: true, accessKeyId: 'STS.NUxxxExample' });
    expect(verify({ ...received, headers: { ...received.headers, 'x-acs-security-token': 'swapped' } }, secretOf)).toMatchObject({ ok: false, reason: 'mismatch' });
  });
});
